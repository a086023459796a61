"""Rebuild the embedded demo study ``data/demo/`` (Hankou core, Wuhan) from the shared real data.

Usage::

    python scripts/build_demo.py --shared PATH/TO/shared/data [--out data/demo] [--seed 20211]

What it copies (real data, unchanged): the 26 WorldPop age/sex rasters of the 6.7 km x
6.65 km Hankou window, the window polygon, the Wuhan districts that meet the window
(clipped to it), and the OpenStreetMap roads of the window: ``roads.osm.pbf`` holds every
highway way of the complete 2017 Wuhan extract (``wuhan-core/wuhan_osm_2017.osm.pbf``)
with a node inside the window, whole (not cut), with all its tags, and exactly the nodes
those ways use (written with pyosmium; real OSM node ids, so the network's junctions are
OSM's own: no crossing or gap-joining rules are needed). The two real OSM kindergartens
inside the window (``wuhan-core/osm_2017_care_pois.csv``) go to
``facilities_osm_real.csv``, marked real.

How it fills the remaining holes of the real data (each rule is also stated in
``data/README.md`` and labelled in the report):

(a) Roads as OSM held them in 2017: complete as a record, thinner than today's OSM in the
    side streets. Homes reach the road by the off-road walking leg (``max_offroad_m = 500``).
(b) No age band under 20: not changed here. The study file sets the population rules
    ``child_woman_ratio = 0.15`` (infants aged 0-3 per woman aged 20-39) and
    ``under20_share = 0.17`` (to estimate the total population).
(c) No real facility gazetteer (beyond two kindergartens): this script generates an **illustrative** one,
    ``facilities_illustrative.csv``, by the seeded rule below. Every row says 示意数据
    (illustrative) in its 备注 column. Coordinates are written in GCJ-02, as a gazetteer
    scraped from a Chinese web map would be, so the demo exercises the GCJ-02 inverse.

Rule (c): for each kind, ``count = round(group population / people per facility)``;
sites are drawn without replacement from populated raster cells with probability
proportional to the group's population in the cell (elderly for elderly kinds, infants
for nurseries and kindergartens), then moved by a uniform random offset of up to 35 m
inside the cell and put on the road network: on the nearest node of a walkable way of
``roads.osm.pbf``; capacities are uniform random integers in a range, rounded to 5. The
people-per-facility figures are set deliberately below what the plans ask, so the demo
has gaps to find and close. Three extra rows show the rejects table at work: one with no
coordinates, one of an unknown kind (a clinic), one duplicate.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
from scipy.spatial import cKDTree

from circles.chinacoords import wgs84_to_gcj02
from circles.io.population import read_population_grid

#: kind -> (Chinese kind label, population group, people per facility, capacity column, capacity range)
RULES = {
    "daycare": ("社区日间照料中心", "elderly", 9000, "床位数", (10, 40)),
    "nursing_home": ("养老院", "elderly", 16000, "床位数", (60, 300)),
    "elderly_centre": ("街道综合养老服务中心", "elderly", 40000, "床位数", (30, 80)),
    "meal_point": ("社区助餐点", "elderly", 12000, "床位数", (0, 0)),
    "nursery": ("托育机构", "infants", 1100, "托位数", (30, 150)),
    "kindergarten": ("幼儿园", "infants", 1000, "托位数", (15, 60)),
}
HEADER = ["编号", "名称", "类型", "经度", "纬度", "地址", "床位数", "托位数", "备注"]
#: highway values not walked (the loader's walk profile drops them too): no facility goes there
NOT_WALKED = {"motorway", "motorway_link", "trunk", "construction", "proposed"}


def build(shared: Path, out: Path, seed: int) -> None:
    wuhan = shared / "wuhan"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pop").mkdir(exist_ok=True)
    for tif in sorted((wuhan / "pop").glob("pop_*_wuhan_hankou.tif")):
        shutil.copy2(tif, out / "pop" / tif.name)
    window = gpd.read_file(wuhan / "demo_window.geojson")
    window.to_file(out / "area.geojson", driver="GeoJSON")
    walk_nodes = clip_osm(shared / "wuhan-core" / "wuhan_osm_2017.osm.pbf", window.to_crs(4326).total_bounds,
                          out / "roads.osm.pbf")
    districts = gpd.read_file(shared / "boundaries" / "districts_wuhan_and_seed_plans.geojson")
    districts = districts[districts["city"] == "武汉市"]
    clipped = gpd.clip(districts.to_crs(4326), window.to_crs(4326))
    clipped = clipped[~clipped.geometry.is_empty][["name", "adcode", "geometry"]]
    clipped.to_file(out / "districts.geojson", driver="GeoJSON")
    write_gazetteer(out, clipped, seed, walk_nodes)
    write_real_kindergartens(shared / "wuhan-core" / "osm_2017_care_pois.csv", window.to_crs(4326).total_bounds, out)


def clip_osm(pbf: Path, bounds, out_path: Path) -> np.ndarray:
    """Write the highway ways with a node inside ``bounds`` (whole) and their nodes to ``out_path``.

    Returns the (lon, lat) of the nodes of walkable ways (for placing facilities).
    """
    import osmium

    x0, y0, x1, y1 = bounds
    ways, nodes, walk = set(), set(), {}
    for o in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY).with_locations():
        if not o.is_way() or "highway" not in o.tags:
            continue
        locs = [(n.ref, n.location) for n in o.nodes]
        if any(loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1 for _, loc in locs):
            ways.add(o.id)
            nodes.update(ref for ref, _ in locs)
            if o.tags.get("highway") not in NOT_WALKED and o.tags.get("foot") != "no" and o.tags.get("access") not in (
                    "private", "no"):
                walk.update({ref: (loc.lon, loc.lat) for ref, loc in locs
                             if loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1})
    if out_path.exists():
        out_path.unlink()
    writer = osmium.SimpleWriter(str(out_path))
    try:
        for o in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
            if o.is_node() and o.id in nodes:
                writer.add_node(o)
            elif o.is_way() and o.id in ways:
                writer.add_way(o)
    finally:
        writer.close()
    print(f"wrote {len(ways)} highway ways and {len(nodes)} nodes to {out_path} ({out_path.stat().st_size:,} bytes)")
    return np.array(sorted(walk.values()))


def write_real_kindergartens(pois_csv: Path, bounds, out: Path) -> None:
    """The real OSM childcare points inside the window, as a gazetteer marked real (WGS84)."""
    x0, y0, x1, y1 = bounds
    rows = []
    with open(pois_csv, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            lon, lat = float(r["lon"]), float(r["lat"])
            if x0 <= lon <= x1 and y0 <= lat <= y1:
                rows.append({"编号": f"OSM-{r['osm_type']}-{r['osm_id']}", "名称": r["name"], "类型": "幼儿园",
                             "经度": r["lon"], "纬度": r["lat"], "地址": "", "床位数": "", "托位数": "",
                             "备注": f"real: OpenStreetMap 2017, {r['osm_type']}/{r['osm_id']} ({r['tags']}); "
                                     "capacity unknown"})
    _write_gazetteer_csv(out / "facilities_osm_real.csv", rows)
    print(f"wrote {len(rows)} real OSM kindergartens to {out / 'facilities_osm_real.csv'}")


def write_gazetteer(out: Path, districts: gpd.GeoDataFrame, seed: int, road_nodes: np.ndarray) -> None:
    rng = np.random.default_rng(seed)
    grid = read_population_grid(out / "pop", pattern="pop_{age}_{sex}_wuhan_hankou.tif")
    a = grid.transform
    rows = []
    for key, (label, group, per_facility, cap_col, (lo, hi)) in RULES.items():
        weight = getattr(grid, group).ravel()
        count = max(1, int(round(weight.sum() / per_facility)))
        cells = rng.choice(weight.size, size=count, replace=False, p=weight / weight.sum())
        r, c = np.unravel_index(cells, weight.shape if weight.ndim == 2 else getattr(grid, group).shape)
        lon = a.c + (c + 0.5) * a.a + rng.uniform(-35, 35, count) / 96000.0
        lat = a.f + (r + 0.5) * a.e + rng.uniform(-35, 35, count) / 111000.0
        # on the road: the nearest node of a walkable way (metres: lon scaled by cos(latitude))
        k = np.cos(np.radians(30.59))
        _, near = cKDTree(np.c_[road_nodes[:, 0] * k, road_nodes[:, 1]]).query(np.c_[lon * k, lat])
        lon, lat = road_nodes[near, 0], road_nodes[near, 1]
        glon, glat = wgs84_to_gcj02(lon, lat)
        pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326)
        where = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), districts, how="left", predicate="within")
        where = where[~where.index.duplicated()]["name"].fillna("武汉市")
        for i in range(count):
            cap = int(round(rng.integers(lo, hi + 1) / 5) * 5) if hi else ""
            if cap != "" and i % 7 == 3 and cap_col == "床位数":
                cap = f"{cap}张"  # as typed in real spreadsheets; the loader parses it
            district = where.iloc[i]
            rows.append({
                "编号": f"{key[:2].upper()}{i + 1:03d}",
                "名称": f"{district}{label}（示意{i + 1}号）",
                "类型": label,
                "经度": f"{glon[i]:.6f}",
                "纬度": f"{glat[i]:.6f}",
                "地址": f"武汉市{district}（示意地址）",
                "床位数": cap if cap_col == "床位数" else "",
                "托位数": cap if cap_col == "托位数" else "",
                "备注": "示意数据 illustrative: generated by scripts/build_demo.py, not a real facility",
            })
    dup = dict(rows[0])
    rows.append(dup | {"编号": "XX001"})
    rows.append({**rows[1], "编号": "XX002", "名称": "示意缺坐标养老院", "经度": "", "纬度": ""})
    rows.append({**rows[2], "编号": "XX003", "名称": "示意社区卫生服务站", "类型": "社区卫生服务站"})
    _write_gazetteer_csv(out / "facilities_illustrative.csv", rows)
    print(f"wrote {len(rows)} gazetteer rows to {out / 'facilities_illustrative.csv'}")


def _write_gazetteer_csv(path: Path, rows: list[dict]) -> None:
    """A gazetteer as a Chinese-header CSV, UTF-8 with BOM (as bureaus export them from Excel)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8-sig")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, required=True,
                   help="the shared data folder (holds wuhan/, wuhan-core/ and boundaries/)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "demo")
    p.add_argument("--seed", type=int, default=20211, help="random seed of the illustrative gazetteer")
    args = p.parse_args()
    build(args.shared, args.out, args.seed)


if __name__ == "__main__":
    main()
