"""Rebuild ``tests/data/`` (small real-looking inputs for the loader tests) from the shared real data.

Usage::

    python scripts/build_test_data.py --shared PATH/TO/shared/data

Everything here is cut from real data (see data/README.md for sources and licences) or is a
deliberately broken copy of it:

- ``beijing_cau.osm.bz2`` (the OSM XML export, bz2-compressed, content unchanged) and
  ``beijing_cau.osm.pbf`` (the same data converted with pyosmium), for the network loaders;
- ``centrelines.gpkg``: 40 Wuhan OSM roads as a bureau's centreline layer with Chinese
  attribute names (道路名称, 道路等级), four of them cut 3 m short of the junction at their first end;
- ``real_points_wgs84.csv``: the two real Beijing kindergartens and 48 Wuhan road vertices,
  and their GCJ-02 (``real_points_gcj02.csv``) and BD-09 (``real_points_bd09.csv``) copies;
- ``gazetteer_gbk.csv``: a GBK-encoded gazetteer with Chinese headers, one row per class of
  bad input (see ``BAD_ROWS``) plus good rows; ``gazetteer.xlsx`` and ``gazetteer.geojson``
  hold the good rows in the other formats; ``gazetteer_utf16.csv`` is the same table in
  UTF-16 (an encoding the loader must refuse with a clear message);
- ``units_invalid.geojson``: three community-like polygons, one self-intersecting (a bow-tie);
- ``pop_empty.tif``: a raster of nodata only; ``pop_nocrs/pop_60_f_x.tif``: a band with no CRS.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import shapely.ops
from rasterio.transform import from_origin

from circles.chinacoords import wgs84_to_bd09, wgs84_to_gcj02

OUT = Path(__file__).resolve().parents[1] / "tests" / "data"

# (name, kind, lon, lat, beds, slots, what the row tests)
GOOD_ROWS = [
    ("江汉区民意街社区日间照料中心", "社区日间照料中心", 114.2701, 30.5853, "30", "", "good"),
    ("江岸区百步亭养老院", "养老院", 114.2982, 30.6101, "120张", "", "capacity with unit parsed"),
    ("硚口区宝丰街综合养老服务中心", "综合养老服务中心", 114.2555, 30.5803, "60", "", "good"),
    ("江汉区北湖助餐点", "助餐点", 114.2802, 30.5901, "", "", "good, no capacity"),
    ("江岸区育才托育中心", "托育机构", 114.2903, 30.6002, "", "150", "good"),
    ("江汉区唐家墩幼儿园", "幼儿园", 114.2651, 30.6051, "", "45", "good"),
    ("Wansongyuan Nursery", "nursery", 114.2751, 30.5951, "", "80", "English kind"),
]
BAD_ROWS = [
    ("缺坐标养老院", "养老院", "", "", "50", "", "missing coordinate"),
    ("坐标写错日照中心", "日间照料中心", "114.2x", "30.59", "20", "", "coordinate is not a number"),
    ("坐标颠倒托育园", "托育机构", 30.5902, 114.2702, "", "60", "longitude and latitude look swapped"),
    ("北京某养老院", "养老院", 116.35, 40.00, "80", "", "outside the study area"),
    ("床位写错护理院", "护理院", 114.2851, 30.5952, "约一百", "", "beds is not a number"),
    ("社区卫生服务站", "社区卫生服务站", 114.2805, 30.5855, "", "", "unknown facility kind"),
    ("江汉区民意街社区日间照料中心", "社区日间照料中心", 114.27011, 30.58531, "30", "", "duplicate"),
]
HEADER = ["名称", "类型", "经度", "纬度", "床位数", "托位数", "备注"]


def osm_files(shared: Path) -> None:
    src = shared / "beijing-cau" / "map.osm"
    (OUT / "beijing_cau.osm").unlink(missing_ok=True)  # 2 MB: tests decompress the .bz2 copy instead
    (OUT / "beijing_cau.osm.bz2").write_bytes(bz2.compress(src.read_bytes(), 9))
    import osmium

    pbf = OUT / "beijing_cau.osm.pbf"
    pbf.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)


def kindergartens(shared: Path) -> list[tuple[str, float, float]]:
    root = ET.parse(shared / "beijing-cau" / "map.osm").getroot()
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    out = []
    for el in list(root.iter("node")) + list(root.iter("way")):
        tags = {t.get("k"): t.get("v") for t in el.iter("tag")}
        if tags.get("amenity") == "kindergarten":
            if el.tag == "node":
                lon, lat = float(el.get("lon")), float(el.get("lat"))
            else:
                pts = np.array([nodes[nd.get("ref")] for nd in el.iter("nd") if nd.get("ref") in nodes])
                lon, lat = pts.mean(axis=0)
            out.append((tags.get("name", "kindergarten"), lon, lat))
    return out


def real_points(shared: Path) -> None:
    rows = [(name, "幼儿园", lon, lat) for name, lon, lat in kindergartens(shared)]
    roads = gpd.read_file(shared / "wuhan" / "roads_hankou_window.geojson")
    xy = shapely.get_coordinates(roads.geometry.values)
    pick = np.random.default_rng(3).choice(len(xy), 48, replace=False)
    rows += [(f"武汉道路节点{i + 1}", "养老院", *xy[j]) for i, j in enumerate(pick)]
    df = pd.DataFrame(rows, columns=["名称", "类型", "经度", "纬度"])
    df.to_csv(OUT / "real_points_wgs84.csv", index=False, float_format="%.8f")
    for name, fn in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        lon, lat = fn(df["经度"].to_numpy(), df["纬度"].to_numpy())
        df.assign(经度=lon, 纬度=lat).to_csv(OUT / f"real_points_{name}.csv", index=False, float_format="%.8f")


def gazetteers() -> None:
    rows = [dict(zip(HEADER, r)) for r in GOOD_ROWS + BAD_ROWS]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    (OUT / "gazetteer_gbk.csv").write_bytes(buf.getvalue().encode("gbk"))
    (OUT / "gazetteer_utf16.csv").write_bytes(buf.getvalue().encode("utf-16"))
    good = pd.DataFrame([dict(zip(HEADER, r)) for r in GOOD_ROWS])
    good.to_excel(OUT / "gazetteer.xlsx", index=False)
    gdf = gpd.GeoDataFrame(good.drop(columns=["经度", "纬度"]).rename(columns={"名称": "name", "类型": "kind"}),
                           geometry=gpd.points_from_xy(good["经度"], good["纬度"]), crs=4326)
    gdf.to_file(OUT / "gazetteer.geojson", driver="GeoJSON")


def centrelines(shared: Path) -> None:
    roads = gpd.read_file(shared / "wuhan" / "roads_hankou_window.geojson").to_crs(32650)
    roads = roads[roads["highway"].isin(["primary", "secondary", "tertiary"])].head(40).reset_index(drop=True)
    geoms = list(roads.geometry)
    # cut 3 m off the first end of four lines whose first end meets another line: a junction
    # the survey stopped short of
    others = shapely.union_all(geoms)
    meets = [i for i, g in enumerate(geoms)
             if shapely.get_point(g, 0).buffer(0.01).intersection(others).length > 0.02 and g.length > 50]
    for i in meets[:8:2]:
        g = geoms[i]
        geoms[i] = shapely.ops.substring(g, 3.0, g.length)
    out = gpd.GeoDataFrame({"道路名称": roads["name"], "道路等级": roads["highway"]}, geometry=geoms, crs=32650)
    out.to_file(OUT / "centrelines.gpkg", driver="GPKG")


def units_and_rasters() -> None:
    polys = [
        shapely.box(114.26, 30.58, 114.27, 30.59),
        shapely.box(114.27, 30.58, 114.28, 30.59),
        shapely.Polygon([(114.28, 30.58), (114.29, 30.59), (114.29, 30.58), (114.28, 30.59)]),  # bow-tie
    ]
    gpd.GeoDataFrame({"社区名称": ["民意社区", "新华社区", "北湖社区"], "code": ["420103001", "420103002", "420103003"]},
                     geometry=polys, crs=4326).to_file(OUT / "units_invalid.geojson", driver="GeoJSON")
    prof = dict(driver="GTiff", width=4, height=3, count=1, dtype="float32", nodata=-3.4e38,
                transform=from_origin(114.26, 30.59, 0.000833333, 0.000833333))
    with rasterio.open(OUT / "pop_empty.tif", "w", crs="EPSG:4326", **prof) as dst:
        dst.write(np.full((1, 3, 4), -3.4e38, dtype="float32"))
    (OUT / "pop_nocrs").mkdir(exist_ok=True)
    with rasterio.open(OUT / "pop_nocrs" / "pop_60_f_x.tif", "w", **prof) as dst:
        dst.write(np.ones((1, 3, 4), dtype="float32"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, required=True)
    a = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    osm_files(a.shared)
    real_points(a.shared)
    gazetteers()
    centrelines(a.shared)
    units_and_rasters()
    for f in sorted(OUT.rglob("*")):
        if f.is_file():
            print(f"{f.relative_to(OUT)}: {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
