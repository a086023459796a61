"""City-scale benchmark: ``circles run`` on the Wuhan core (or a generated grid city), end to end.

Usage::

    python scripts/bench_city.py [--data PATH] [--work DIR] [--screenshot PNG]
    python scripts/bench_city.py --synthetic [--nodes 200000] [--facilities 3000]
    python scripts/bench_city.py --growth            # three synthetic sizes: how cost grows
    python scripts/bench_city.py --dem geographic    # Wuhan core: the travel stage with a generated DEM vs flat
    python scripts/bench_city.py --city              # whole-city size: 409,600 cells, 12 M people, 4,000 facilities

``--data`` (default ``../shared/data/wuhan-core`` next to the project) holds the complete
2017 Wuhan OSM extract (``wuhan_osm_2017.osm.pbf``), the WorldPop 20+ age/sex rasters of
114.15-114.45 E, 30.45-30.70 N (``pop/``) and the 2017 OSM childcare points
(``osm_2017_care_pois.csv``). The data are read from there, never copied into the project.

What it does:

1. Writes a study (``study.toml``) for the raster window into ``--work`` (default: a
   temporary folder): network = the PBF, population = the rasters, 1 km grid units,
   two siting kinds.
2. Generates the facility list itself, seeded (``--seed``): ``--facilities`` (1,500)
   facilities placed on road nodes of the PBF inside the window, drawn with probability
   proportional to the population of the raster cell under the node. Every generated row
   says 示意数据 (illustrative) and the study marks the file ``illustrative = true``. The
   real OSM kindergartens inside the window go in a second file, marked real
   (``illustrative = false``).
3. Runs ``circles run`` in a subprocess and measures its peak memory
   (``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest resident set of the child).
4. Opens the report in headless Debian Chromium (``/usr/bin/chromium`` + chromedriver,
   every host unresolvable and a dead proxy, as tests/test_report_browser.py does) and
   times the first render: from ``driver.get`` until the page has loaded, Leaflet's
   layer control is built and two animation frames have been painted.

Prints the stage times, then a last line with ``total_s= cpu_s= peak_mb= report_mb= render_s=
nodes= edges= facilities= people=`` (``total_s`` is the child's wall time, ``cpu_s`` its CPU
time (user + system: the figure to compare when other jobs share the cores; the load
average is printed too), ``nodes`` the network's nodes as the run reports them,
``people`` the study's population).

``--synthetic`` builds a square street-grid city instead (60 m blocks, ``--nodes``
nodes, a population of about 10,000 people per km² peaking in the centre, written as
WorldPop-style age/sex rasters in EPSG:32650), with ``--facilities`` (default 3,000)
facilities on nodes. ``--dem geographic|projected`` (Wuhan core, issue 23) runs the study
``--repeat`` times more each, alternately without and with a generated DEM
(``bench_travel.write_dem``: 40 m sine hills, 1 arc-second pixels in EPSG:4326 or 30 m pixels in
EPSG:32650) and adds ``slope_travel_stage_vs_flat_cpu`` to the last line: the pipeline's travel
stage CPU with the DEM over the flat one (``summary.json`` ``timings_cpu_s``, best of each).
``--growth`` runs the synthetic city at 50k, 100k and 200k nodes
(facilities and people scale with the area) and prints one line per size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from bench_travel import write_dem  # the generated DEM bench_travel times (scripts/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (114.15, 30.45, 114.45, 30.70)  # the wuhan-core rasters (lon/lat)

#: kind label, share of the facilities, capacity column, capacity range
MIX = [
    ("社区日间照料中心", 0.30, "床位数", (10, 40)),
    ("养老院", 0.12, "床位数", (60, 300)),
    ("街道综合养老服务中心", 0.05, "床位数", (30, 80)),
    ("社区助餐点", 0.13, "床位数", (0, 0)),
    ("托育机构", 0.20, "托位数", (30, 150)),
    ("幼儿园", 0.20, "托位数", (60, 300)),
]
HEADER = ["编号", "名称", "类型", "经度", "纬度", "床位数", "托位数", "备注"]


def default_data() -> Path:
    for base in (ROOT.parent, ROOT.parents[1], Path("/work")):
        p = base / "shared" / "data" / "wuhan-core"
        if p.exists():
            return p
    return ROOT.parent / "shared" / "data" / "wuhan-core"


# --------------------------------------------------------------------------- facilities
def write_facilities(path: Path, lon: np.ndarray, lat: np.ndarray, rng, *, prefix: str = "") -> int:
    """Illustrative gazetteer rows at the given points, kinds by :data:`MIX` (seeded)."""
    n = len(lon)
    shares = np.array([m[1] for m in MIX])
    kinds = rng.choice(len(MIX), size=n, p=shares / shares.sum())
    rows = []
    for i in range(n):
        label, _, cap_col, (lo, hi) = MIX[kinds[i]]
        cap = int(round(rng.integers(lo, hi + 1) / 5) * 5) if hi else ""
        rows.append({"编号": f"{prefix}G{i + 1:05d}", "名称": f"{label}（示意{i + 1}号）", "类型": label,
                     "经度": f"{lon[i]:.7f}", "纬度": f"{lat[i]:.7f}",
                     "床位数": cap if cap_col == "床位数" else "", "托位数": cap if cap_col == "托位数" else "",
                     "备注": "示意数据 illustrative: generated by scripts/bench_city.py on a road node, not a real facility"})
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return n


def road_nodes_in_window(pbf: Path, window) -> np.ndarray:
    """(lon, lat) of the nodes of highway ways inside ``window``, read with pyosmium."""
    import osmium

    x0, y0, x1, y1 = window
    pts = []
    for way in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY).with_locations():
        if not way.is_way() or "highway" not in way.tags or way.tags.get("highway") in ("motorway", "motorway_link", "trunk"):
            continue
        for nd in way.nodes:
            loc = nd.location
            if loc.valid() and x0 < loc.lon < x1 and y0 < loc.lat < y1:
                pts.append((loc.lon, loc.lat))
    return np.unique(np.array(pts), axis=0)


def population_at(pop_folder: Path, pattern: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    from circles.io.population import read_population_grid

    g = read_population_grid(pop_folder, pattern=pattern)
    inv = ~g.transform
    c, r = inv * (lon, lat)
    r, c = np.floor(r).astype(int), np.floor(c).astype(int)
    h, w = g.total.shape
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    out = np.zeros(len(lon))
    out[ok] = np.nan_to_num(g.total[r[ok], c[ok]])
    return out


def study_toml(name: str, network: Path, pop: Path, pattern: str, area: Path, fac_files: list[tuple[Path, bool, str]],
               parents: Path | None) -> str:
    facs = "\n".join(f'[[facilities]]\npath = "{p.as_posix()}"\ncoords = "{c}"\nillustrative = {str(ill).lower()}\n'
                     for p, ill, c in fac_files)
    par = f'parents = "{parents.as_posix()}"\nparent_name_column = "name"\n' if parents else ""
    return f"""[study]
name = "{name}"
title = "{name} (benchmark: illustrative facilities)"
crs = "auto"
area = "{area.as_posix()}"
language = "zh"

[network]
path = "{network.as_posix()}"
profile = "walk"

{facs}
[population]
folder = "{pop.as_posix()}"
pattern = "{pattern}"

[units]
grid_size_m = 1000
{par}
[travel]
walk_speed_mps = 1.0
thresholds_min = [5, 10, 15]
max_offroad_m = 500

[siting]
kinds = ["daycare", "nursery"]
n_sites = 10
threshold_min = 15
candidate_spacing_m = 250
method = "exact"
"""


def slope_stage(study: Path, work: Path, kind: str, repeat: int) -> dict:
    """The pipeline's travel stage CPU with and without a generated DEM, runs taking turns (issue 23)."""
    text = study.read_text(encoding="utf-8")
    # bench_travel's generated hills (the same DEM it times) over the window and 0.1 degree around it
    # (~10 km: every road the run reads, area + reach, is on the DEM), corners given in UTM 50N
    pad = 0.1
    corners = gpd.GeoSeries(gpd.points_from_xy([WINDOW[0] - pad, WINDOW[2] + pad], [WINDOW[1] - pad, WINDOW[3] + pad]),
                            crs=4326)
    dem = write_dem(corners.to_crs(32650), work, "EPSG:4326" if kind == "geographic" else "EPSG:32650")
    sloped = work / "study_dem.toml"
    sloped.write_text(text.replace('profile = "walk"\n', f'profile = "walk"\ndem = "{dem.as_posix()}"\n', 1),
                      encoding="utf-8")
    best = {"flat": [], "dem": []}
    for _ in range(repeat):
        for label, st in (("flat", study), ("dem", sloped)):
            out = work / f"out_{label}"
            run_circles(st, out)
            cpu = json.loads((out / "summary.json").read_text(encoding="utf-8"))["timings_cpu_s"]
            best[label].append(cpu["travel"])
    flat, dem_s = min(best["flat"]), min(best["dem"])
    print(f"[slope] travel stage CPU (s), best of {repeat}: flat {flat:.3f}, with a {kind} DEM {dem_s:.3f} "
          f"(runs: flat {best['flat']}, DEM {best['dem']})", flush=True)
    return {"flat_s": flat, "dem_s": dem_s, "ratio": dem_s / flat}


def write_box(path: Path, window) -> None:
    x0, y0, x1, y1 = window
    gj = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "window"}, "geometry": {
        "type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}}]}
    path.write_text(json.dumps(gj), encoding="utf-8")


def prepare_wuhan(data: Path, work: Path, n_fac: int, seed: int) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    pbf = data / "wuhan_osm_2017.osm.pbf"
    pattern = "pop_{age}_{sex}_wuhan_core.tif"
    t0 = time.perf_counter()
    nodes = road_nodes_in_window(pbf, WINDOW)
    w = population_at(data / "pop", pattern, nodes[:, 0], nodes[:, 1])
    pick = rng.choice(len(nodes), size=n_fac, replace=False, p=w / w.sum())
    write_facilities(work / "facilities_illustrative.csv", nodes[pick, 0], nodes[pick, 1], rng)
    files = [(work / "facilities_illustrative.csv", True, "wgs84")]
    pois = data / "osm_2017_care_pois.csv"
    n_real = 0
    if pois.exists():
        rows = []
        with open(pois, encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                lon, lat = float(r["lon"]), float(r["lat"])
                if WINDOW[0] < lon < WINDOW[2] and WINDOW[1] < lat < WINDOW[3]:
                    rows.append({"编号": f"OSM{r['osm_type'][0]}{r['osm_id']}", "名称": r["name"], "类型": "幼儿园",
                                 "经度": r["lon"], "纬度": r["lat"], "床位数": "", "托位数": "",
                                 "备注": f"real: OpenStreetMap 2017 {r['osm_type']}/{r['osm_id']} ({r['tags']}), ODbL"})
        if rows:
            with open(work / "facilities_osm_real.csv", "w", encoding="utf-8-sig", newline="") as fh:
                wr = csv.DictWriter(fh, fieldnames=HEADER, lineterminator="\n")
                wr.writeheader()
                wr.writerows(rows)
            files.append((work / "facilities_osm_real.csv", False, "wgs84"))
            n_real = len(rows)
    write_box(work / "area.geojson", WINDOW)
    parents = None
    for cand in (data.parent / "boundaries" / "districts_wuhan_and_seed_plans.geojson",):
        if cand.exists():
            parents = cand
    (work / "study.toml").write_text(study_toml("wuhan-core-bench", pbf, data / "pop", pattern, work / "area.geojson",
                                                files, parents), encoding="utf-8")
    return work / "study.toml", {"setup_s": time.perf_counter() - t0, "road_nodes_in_window": len(nodes),
                                 "real_facilities": n_real}


def prepare_synthetic(work: Path, n_nodes: int, n_fac: int, seed: int, block_m: float = 60.0,
                      cells: int | None = None, people: float | None = None) -> tuple[Path, dict]:
    """A square street grid (``side x side`` nodes, ``block_m`` apart) in UTM 50N near Wuhan.

    With ``cells`` the grid's extent is set so the population raster has at least that many
    100 m cells (every one populated) and the blocks are ``extent / side`` wide; ``people`` sets
    the total (default ~10,000 people per km2)."""
    import geopandas as gpd
    import rasterio
    import shapely
    from pyproj import Transformer
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    side = int(round(np.sqrt(n_nodes)))
    if cells:
        block_m = float(np.ceil(np.sqrt(cells)) * 100.0 / side)
    x0, y0 = 230000.0, 3370000.0  # UTM 50N, south-west of central Wuhan
    xs = x0 + np.arange(side) * block_m
    ys = y0 + np.arange(side) * block_m
    # one line per grid row and column (like OSM ways spanning many nodes); the loader nodes them
    rows = [shapely.LineString(np.c_[xs, np.full(side, y)]) for y in ys]
    cols = [shapely.LineString(np.c_[np.full(side, x), ys]) for x in xs]
    lines = gpd.GeoDataFrame({"highway": ["residential"] * (2 * side), "name": [""] * (2 * side)},
                             geometry=rows + cols, crs=32650)
    lines.to_file(work / "roads.gpkg", driver="GPKG")
    extent = side * block_m
    # population: 100 m cells, ~10,000 people/km2 on average, denser in the centre
    px = 100.0
    n = int(np.ceil(extent / px))
    cx = (np.arange(n) + 0.5) / n - 0.5
    d2 = cx[None, :] ** 2 + cx[:, None] ** 2
    dens = np.exp(-d2 / 0.08)
    dens *= rng.uniform(0.6, 1.4, dens.shape)
    dens *= (people or 10000 * (extent / 1000) ** 2) / dens.sum()
    (work / "pop").mkdir(exist_ok=True)
    tr = from_origin(x0 - block_m / 2, y0 + extent - block_m / 2, px, px)
    # WorldPop-like age structure of the 20+ population (shares of the total, Wuhan-like)
    bands = {20: .07, 25: .09, 30: .10, 35: .07, 40: .07, 45: .09, 50: .10, 55: .07, 60: .055, 65: .04, 70: .03,
             75: .02, 80: .02}
    for age, share in bands.items():
        for sex in "fm":
            with rasterio.open(work / "pop" / f"pop_{age}_{sex}_synthetic.tif", "w", driver="GTiff", height=n, width=n,
                               count=1, dtype="float32", crs="EPSG:32650", transform=tr, nodata=-3.4e38) as dst:
                dst.write((dens * share / 2).astype("float32"), 1)
    # facilities on nodes, weighted by the population of their cell
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    c = np.clip(((gx - tr.c) / px).astype(int), 0, n - 1)
    r = np.clip(((tr.f - gy) / px).astype(int), 0, n - 1)
    wgt = dens[r, c]
    pick = rng.choice(len(gx), size=n_fac, replace=False, p=wgt / wgt.sum())
    lon, lat = Transformer.from_crs(32650, 4326, always_xy=True).transform(gx[pick], gy[pick])
    write_facilities(work / "facilities_illustrative.csv", np.asarray(lon), np.asarray(lat), rng)
    bx = [x0 - block_m / 2, y0 - block_m / 2, x0 + extent - block_m / 2, y0 + extent - block_m / 2]
    box = gpd.GeoDataFrame(geometry=[shapely.box(*bx)], crs=32650).to_crs(4326)
    box.to_file(work / "area.geojson", driver="GeoJSON")
    (work / "study.toml").write_text(
        study_toml(f"synthetic-{side * side}", work / "roads.gpkg", work / "pop", "pop_{age}_{sex}_synthetic.tif",
                   work / "area.geojson", [(work / "facilities_illustrative.csv", True, "wgs84")], None),
        encoding="utf-8")
    return work / "study.toml", {"setup_s": time.perf_counter() - t0, "grid_side": side,
                                 "people_generated": float(dens.sum() / (1 - 0.17) * 0 + dens.sum())}


# --------------------------------------------------------------------------- run + render
def run_circles(study: Path, out: Path) -> dict:
    exe = Path(sys.executable).with_name("circles")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from circles.cli import app; app()"]
    cmd += ["run", str(study), "--out", str(out)]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = r0.ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    total = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = r1.ru_maxrss
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"circles run failed (exit {proc.returncode})")
    m = re.search(r"stages: (.*?) total=", proc.stderr)
    stages = dict((k, float(v.rstrip("s"))) for k, v in (kv.split("=") for kv in m.group(1).split())) if m else {}
    if peak_kb < before:
        peak_kb = before
    return {"total_s": total, "cpu_s": cpu, "peak_mb": peak_kb / 1024.0, "stages": stages, "log": proc.stderr}


def render(report: Path, *, screenshot: Path | None = None, width: int = 1400, height: int = 900,
           timeout_s: float = 600.0) -> float | None:
    """Seconds from ``driver.get`` to the first painted frame of the report (None without a browser)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import screenshot_report as shot

    if not shot.browser_available():
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shot.CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                f"--window-size={width},{height}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shot.CHROMEDRIVER), options=opts)
    driver.command_executor._client_config.timeout = timeout_s + 60  # a 30 MB page can block a call for minutes
    driver.set_page_load_timeout(timeout_s)
    driver.set_script_timeout(timeout_s)
    from selenium.common.exceptions import TimeoutException

    try:
        driver.get("about:blank")
        t0 = time.perf_counter()
        try:
            driver.get(report.resolve().as_uri())
        except TimeoutException:
            print(f"render: no first frame within {timeout_s:.0f} s", flush=True)
            return float("inf")
        end = time.time() + timeout_s
        while time.time() < end:
            # a city-scale page inflates its gzip'd data blobs after load: wait until the layers are
            # drawn from them and the planner panel is ready (so the time counts the page usable)
            if driver.execute_script("return document.readyState === 'complete' && "
                                     "document.querySelectorAll('.leaflet-control-layers-overlays label').length"
                                     " && (!document.querySelector('#circles-data[data-encoding]')"
                                     "     || window.circlesReportDrawn === true)"
                                     " && (!document.getElementById('circles-planner-data')"
                                     "     || !!(window.circlesPlanner && window.circlesPlanner.ready))"):
                break
            time.sleep(0.05)
        driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")
        elapsed = time.perf_counter() - t0
        if screenshot:
            time.sleep(1.0)
            driver.save_screenshot(str(screenshot))
        return elapsed
    finally:
        driver.quit()


def one(study: Path, work: Path, info: dict, args, label: str) -> dict:
    out = work / "out"
    r = run_circles(study, out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    report_mb = (out / "report.html").stat().st_size / 1e6
    cpu_stages = summary.get("timings_cpu_s", {})
    if cpu_stages:
        r["stages_cpu"] = {**cpu_stages, "report+startup": r["cpu_s"] - sum(cpu_stages.values())}
        print(f"[{label}] CPU per stage (s): " + " ".join(f"{k}={v:.2f}" for k, v in r["stages_cpu"].items()),
              flush=True)
    print(f"[{label}] setup {info['setup_s']:.1f} s (not counted); circles run {r['total_s']:.1f} s "
          f"({r['cpu_s']:.1f} s CPU, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores), "
          f"peak {r['peak_mb']:.0f} MB, report {report_mb:.2f} MB; stages (s): "
          + " ".join(f"{k}={v:.2f}" for k, v in r["stages"].items()), flush=True)
    render_s = None if args.no_render else render(out / "report.html", screenshot=args.screenshot,
                                                  timeout_s=args.render_timeout)
    net = summary.get("network", {})
    nodes = net.get("nodes", net.get("n_nodes"))
    people = summary.get("population", {}).get("total")
    n_fac = sum(f["kept"] for f in summary["facilities"]["files"])
    return {"total_s": r["total_s"], "cpu_s": r["cpu_s"], "peak_mb": r["peak_mb"], "report_mb": report_mb,
            "render_s": render_s,
            "nodes": nodes, "edges": net.get("edges", net.get("n_edges")), "facilities": n_fac, "people": people,
            "stages": r["stages"], "stages_cpu": r.get("stages_cpu", {}), "out": out}


def line(res: dict) -> str:
    rs = "n/a" if res["render_s"] is None else f"{res['render_s']:.2f}"
    ppl = res["people"]
    return (f"total_s={res['total_s']:.1f} cpu_s={res['cpu_s']:.1f} peak_mb={res['peak_mb']:.0f} "
            f"report_mb={res['report_mb']:.2f} "
            f"render_s={rs} nodes={res['nodes']} edges={res['edges']} facilities={res['facilities']} "
            f"people={'n/a' if ppl is None else f'{ppl:.0f}'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="the wuhan-core folder (default ../shared/data/wuhan-core)")
    p.add_argument("--work", type=Path, default=None, help="folder for the study and outputs (default: a temp folder)")
    p.add_argument("--facilities", type=int, default=None, help="generated facilities (1500; synthetic 3000)")
    p.add_argument("--seed", type=int, default=20211)
    p.add_argument("--synthetic", action="store_true", help="a generated grid city instead of the Wuhan core")
    p.add_argument("--nodes", type=int, default=200_000, help="synthetic: network nodes (a square grid)")
    p.add_argument("--city", action="store_true",
                   help="synthetic whole-city size: 409,600 populated 100 m cells, 12 M people, 4,000 facilities, "
                        "32,400 road nodes (a 64 km square; implies --synthetic)")
    p.add_argument("--cells", type=int, default=None, help="synthetic: at least this many populated 100 m cells")
    p.add_argument("--people", type=float, default=None, help="synthetic: total people (default ~10,000 per km2)")
    p.add_argument("--growth", action="store_true", help="synthetic at 50k, 100k, 200k nodes: how cost grows")
    p.add_argument("--dem", choices=("geographic", "projected"), default=None,
                   help="Wuhan core: also time the travel stage with a generated DEM against the flat one")
    p.add_argument("--repeat", type=int, default=2, help="--dem: runs of each, taking turns (best counts)")
    p.add_argument("--screenshot", type=Path, default=None, help="save a screenshot of the rendered report")
    p.add_argument("--no-render", action="store_true", help="skip the browser")
    p.add_argument("--render-timeout", type=float, default=600.0, help="seconds to wait for the first frame")
    p.add_argument("--render-only", type=Path, default=None, metavar="HTML",
                   help="only time the first render of an existing report (and --screenshot it)")
    args = p.parse_args()
    if args.render_only:
        print(f"render_s={render(args.render_only, screenshot=args.screenshot, timeout_s=args.render_timeout):.2f}")
        return
    tmp = tempfile.TemporaryDirectory(prefix="bench_city_") if args.work is None else None
    work = Path(tmp.name) if tmp else args.work
    work.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, work folder {work}", flush=True)
    if args.growth:
        rows = []
        for n in (50_000, 100_000, 200_000):
            w = work / f"grid{n}"
            w.mkdir(exist_ok=True)
            n_fac = args.facilities or int(round(3000 * n / 200_000))
            study, info = prepare_synthetic(w, n, n_fac, args.seed)
            res = one(study, w, info, args, f"synthetic {n}")
            rows.append(res)
            print(line(res), flush=True)
        print("growth (synthetic grid, facilities and people scale with area):")
        cols = list(rows[0]["stages_cpu"] or rows[0]["stages"])
        print(f"{'nodes':>8} {'edges':>8} {'fac':>5} {'people':>9} {'total_s':>8} {'cpu_s':>7} {'peak_mb':>8} "
              + " ".join(f"{k:>10}" for k in cols) + "   (stage columns: CPU s)")
        for r in rows:
            st = r["stages_cpu"] or r["stages"]
            print(f"{r['nodes']:>8} {r['edges']:>8} {r['facilities']:>5} {r['people']:>9.0f} {r['total_s']:>8.1f} "
                  f"{r['cpu_s']:>7.1f} {r['peak_mb']:>8.0f} " + " ".join(f"{st.get(k, float('nan')):>10.2f}" for k in cols))
        print(line(rows[-1]))
        return
    if args.city:
        args.synthetic, args.nodes = True, 32_400
        args.cells, args.people = args.cells or 409_600, args.people or 12e6
        args.facilities = args.facilities or 4000
    if args.synthetic:
        study, info = prepare_synthetic(work, args.nodes, args.facilities or 3000, args.seed, cells=args.cells,
                                        people=args.people)
        res = one(study, work, info, args, f"synthetic {args.nodes}" + (" whole city" if args.city else ""))
    else:
        data = args.data or default_data()
        if not (data / "wuhan_osm_2017.osm.pbf").exists():
            raise SystemExit(f"{data}: no wuhan_osm_2017.osm.pbf here; pass --data PATH/TO/shared/data/wuhan-core")
        study, info = prepare_wuhan(data, work, args.facilities or 1500, args.seed)
        print(f"wuhan core: {info['road_nodes_in_window']} road nodes in the window, "
              f"{info['real_facilities']} real OSM kindergartens added (marked real)", flush=True)
        res = one(study, work, info, args, "wuhan core")
        if args.dem:
            sl = slope_stage(study, work, args.dem, args.repeat)
            print(line(res) + f" slope_travel_stage_vs_flat_cpu={sl['ratio']:.2f} dem={args.dem}", flush=True)
            return
    print(line(res), flush=True)


if __name__ == "__main__":
    main()
