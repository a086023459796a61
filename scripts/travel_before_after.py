"""Figures for the travel-rules before/after table (issue 13): the demo and the Beijing OSM clip.

Usage (run once on each code version, e.g. a `git archive` of main and this branch)::

    PYTHONPATH=<code root> python scripts/travel_before_after.py <code root>

Demo: network nodes/edges/length, people with no path to any elderly service (searched without
limit), elderly and infant 15-minute coverage, unit E05 median. Beijing clip (no population raster,
no elderly service): a 50 m grid of homes over the file bounds, the two real OSM kindergartens, homes
with no path and the share within 15 minutes at 1 m/s.
"""
import bz2, json, sys, time, xml.etree.ElementTree as ET
from pathlib import Path
import numpy as np, geopandas as gpd, shapely
import circles
from circles.study import load_study
from circles.pipeline import analyse
from circles.io.network import load_network, connectivity_report
from circles.travel import TravelNetwork

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
print("code:", circles.__file__)
out = {}
# --- demo
t0 = time.perf_counter()
res = analyse(load_study(ROOT / "data/demo/study.toml"))
s = res.summary
p = res.points
from circles.io.facilities import KINDS
fac = res.facilities
eld = np.flatnonzero(fac["kind"].map(lambda k: KINDS[k].serves == "elderly").to_numpy())
fs = res.net.snap_points(fac.iloc[eld], max_offroad_m=res.study.travel.max_offroad_m)
t_nolimit = res.net.nearest_times(fs, res.point_snap)
unr = ~np.isfinite(t_nolimit)
el_unreached = float(p.loc[unr, "elderly"].sum())
tot_unreached = float(p.loc[unr, "total"].sum())
u = res.units.set_index("unit_id")
out["demo"] = {"nodes": s["network"]["n_nodes"], "edges": s["network"]["n_edges"], "length_km": s["network"]["length_km"],
               "people_unreachable_elderly_service": round(tot_unreached), "elderly_unreachable": round(el_unreached),
               "elderly_cov_15": s["coverage"]["elderly"]["15min"], "infants_cov_15": s["coverage"]["infants"]["15min"],
               "E05_elderly_median_min": float(u.loc["E05", "time_elderly_median_min"]) if "E05" in u.index else None,
               "run_s": round(time.perf_counter() - t0, 1), "travel": s.get("travel")}
print(json.dumps(out["demo"]))
# --- Beijing clip: walk network, 50 m grid of homes in the file's bounds, the two real kindergartens
osm = ROOT / "tests/data/beijing_cau.osm.bz2"
crs = "EPSG:32650"
nodes, edges = load_network(osm, crs=crs)
rep = connectivity_report(nodes, edges)
root = ET.fromstring(bz2.decompress(osm.read_bytes()))
b = root.find("bounds").attrib
nd = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
kg = []
for el in root:
    tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
    if tags.get("amenity") == "kindergarten":
        if el.tag == "node":
            kg.append(shapely.Point(nd[el.get("id")]))
        else:
            kg.append(shapely.MultiPoint([nd[r.get("ref")] for r in el.findall("nd")]).centroid)
kg = gpd.GeoDataFrame(geometry=kg, crs=4326).to_crs(crs)
box = gpd.GeoSeries([shapely.box(float(b["minlon"]), float(b["minlat"]), float(b["maxlon"]), float(b["maxlat"]))], crs=4326).to_crs(crs).iloc[0]
x0, y0, x1, y1 = box.bounds
xs, ys = np.meshgrid(np.arange(x0 + 25, x1, 50), np.arange(y0 + 25, y1, 50))
homes = gpd.GeoDataFrame(geometry=shapely.points(xs.ravel(), ys.ravel()), crs=crs)
homes = homes[shapely.covers(box, homes.geometry.values)].reset_index(drop=True)
net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
hs = net.snap_points(homes, max_offroad_m=500)
fs = net.snap_points(kg, max_offroad_m=500)
t = net.nearest_times(fs, hs)
out["beijing"] = {"nodes": rep["n_nodes"], "edges": rep["n_edges"], "length_km": rep["length_km"], "pieces": rep["n_pieces"],
                  "homes": len(homes), "homes_unreachable": int((~np.isfinite(t)).sum()),
                  "homes_15min_kindergarten": round(float((t <= 900).mean()), 4),
                  "median_min": round(float(np.median(t)) / 60, 3)}
print(json.dumps(out["beijing"]))
