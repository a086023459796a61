"""Build ``tests/data/community/``: a small study with community polygons and a total raster.

Usage::

    python scripts/build_community_study.py   # reads data/demo, writes tests/data/community

What is real and what is made up (also in ``tests/data/community/README.md``):

- ``pop/``: the demo's real WorldPop 20+ age/sex bands (CC BY 4.0), clipped on whole pixels
  to a 24 x 24-pixel window (about 2 km x 2.2 km) of Hankou.
- ``pop_total.tif``: a **derived** total raster on the same grid: the bands' 20+ sum divided by
  (1 - 0.231), China's 2020-census share aged 0-19. It stands in for a bureau's own total
  raster so that a study can give bands and a total together.
- ``roads.geojson``: the demo's real OSM road sample (ODbL) clipped to the window plus 600 m.
- ``communities.geojson``: 12 **generated** community polygons (Voronoi cells of a seeded
  grid, clipped to the window) with a street (``parent``: 2 streets), ``urban_rural``
  (urban / rural) and ``area_type`` (old / new) attribute. Not real boundaries.
- ``facilities.csv``: the demo's illustrative facilities inside the window (generated,
  labelled illustrative) plus hand-written rows for the capacity rules: a kindergarten with
  a 托班 column, one without 托班 places, a 儿童福利院, a nursing home with no bed count, a
  "120张" cell and a "约一百" cell.
"""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
OUT = ROOT / "tests" / "data" / "community"
COL0, ROW0, SIZE = 30, 24, 24  # pixel window inside the demo rasters


def rasters() -> tuple[object, tuple]:
    (OUT / "pop").mkdir(parents=True, exist_ok=True)
    total = None
    for path in sorted((DEMO / "pop").glob("pop_*_*_wuhan_hankou.tif")):
        with rasterio.open(path) as src:
            w = Window(COL0, ROW0, SIZE, SIZE)
            arr = src.read(1, window=w)
            prof = src.profile | {"width": SIZE, "height": SIZE, "transform": src.window_transform(w)}
            bounds = rasterio.windows.bounds(w, src.transform)
        with rasterio.open(OUT / "pop" / path.name.replace("wuhan_hankou", "c"), "w", **prof) as dst:
            dst.write(arr, 1)
        valid = np.where(arr > -1e30, arr, 0.0).astype("float64")
        total = valid if total is None else total + valid
    nodata = prof["nodata"]
    out = np.where(total > 0, total / (1 - 0.231), nodata).astype("float32")
    with rasterio.open(OUT / "pop_total.tif", "w", **prof) as dst:
        dst.write(out, 1)
    return prof, bounds


def main() -> None:
    prof, (x0, y0, x1, y1) = rasters()
    area = shapely.box(x0, y0, x1, y1)
    gpd.GeoDataFrame({"name": ["community test window"]}, geometry=[area], crs=4326).to_file(
        OUT / "area.geojson", driver="GeoJSON")
    metric = "EPSG:32650"
    area_m = gpd.GeoSeries([area], crs=4326).to_crs(metric).iloc[0]
    roads = gpd.read_file(DEMO / "roads_osm_sample.geojson").to_crs(metric)
    roads = roads[roads.intersects(area_m.buffer(600))].copy()
    roads["geometry"] = roads.geometry.intersection(area_m.buffer(600))
    roads = roads[~roads.geometry.is_empty].explode(index_parts=False)
    roads.to_crs(4326).to_file(OUT / "roads.geojson", driver="GeoJSON")
    rng = np.random.default_rng(14)
    bx0, by0, bx1, by1 = area_m.bounds
    gx, gy = np.meshgrid(np.linspace(bx0, bx1, 5)[:-1] + (bx1 - bx0) / 8, np.linspace(by0, by1, 4)[:-1] + (by1 - by0) / 6)
    seeds = np.c_[gx.ravel(), gy.ravel()] + rng.normal(0, 120, (12, 2))
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=area_m.buffer(1000))
    polys = [c.intersection(area_m) for c in shapely.get_parts(cells)]
    # order the cells as their seeds (voronoi_polygons does not keep the input order)
    order = [int(np.argmin([p.distance(shapely.Point(s)) for p in polys])) for s in seeds]
    polys = [polys[i] for i in order]
    comm = gpd.GeoDataFrame({
        "code": [f"C{i + 1:02d}" for i in range(12)],
        "name": [f"试验{i + 1}社区" for i in range(12)],
        "parent": ["西街道" if s[0] < (bx0 + bx1) / 2 else "东街道" for s in seeds],
        "urban_rural": ["rural" if i in (0, 4, 8) else "urban" for i in range(12)],
        "area_type": ["new" if i >= 8 else "old" for i in range(12)],
    }, geometry=polys, crs=metric)
    comm.to_crs(4326).to_file(OUT / "communities.geojson", driver="GeoJSON")
    fac = pd.read_csv(DEMO / "facilities_illustrative.csv", dtype=str, encoding="utf-8-sig")
    from circles.chinacoords import to_wgs84

    lon, lat = to_wgs84(fac["经度"].astype(float).to_numpy(), fac["纬度"].astype(float).to_numpy(), "gcj02")
    inside = shapely.covers(area, shapely.points(lon, lat))
    fac = fac[inside].copy()
    fac["经度"], fac["纬度"] = lon[inside].round(6), lat[inside].round(6)
    fac["托班托位数"] = ""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    extra = [
        ("T01", "试验幼儿园（有托班）", "幼儿园", cx + 0.002, cy + 0.001, "", "", "20"),
        ("T02", "试验幼儿园（无托班）", "幼儿园", cx - 0.003, cy - 0.002, "", "", "0"),
        ("T03", "试验儿童福利院", "儿童福利院", cx + 0.001, cy - 0.003, "80", "", ""),
        ("T04", "试验养老院（床位未知）", "养老院", cx - 0.001, cy + 0.003, "", "", ""),
        ("T05", "试验养老院（120张）", "养老院", cx + 0.004, cy - 0.001, "120张", "", ""),
        ("T06", "试验托育中心（约一百）", "托育机构", cx - 0.004, cy + 0.002, "", "约一百", ""),
    ]
    rows = [{"编号": i, "名称": n, "类型": k, "经度": round(x, 6), "纬度": round(y, 6), "地址": "", "床位数": b,
             "托位数": s, "托班托位数": t, "备注": "hand-written test row"} for i, n, k, x, y, b, s, t in extra]
    fac = pd.concat([fac, pd.DataFrame(rows)], ignore_index=True)
    fac.to_csv(OUT / "facilities.csv", index=False, encoding="utf-8", quoting=csv.QUOTE_MINIMAL)
    print(f"wrote {OUT}: {len(fac)} facilities, {len(comm)} communities, roads {len(roads)}")


if __name__ == "__main__":
    main()
