"""Benchmark batch runs on Dask: one run vs the same area split in strips, with 1 and 2 workers.

Usage::

    python scripts/bench_batch.py [--strips 3] [--work /tmp/circles-bench-batch]

In one run, on the demo (Hankou, 790,160 people on 44.7 km2):

- ``single``: the whole window as one area (a one-area batch run in-process, no Dask);
- ``batch1`` / ``batch2``: the window cut in ``--strips`` vertical strips, on a Dask
  LocalCluster with 1 and 2 worker processes (cluster start-up included, reported too);
- ``halo_exact``: every per-unit coverage, time and 2SFCA figure of the batch equals the
  single run's (to 1e-9);
- cost against area size: single runs on windows of 1/4, 1/2 and all of the demo, per
  100,000 people, and a projection to a 10-million-person province;
- ``peak_mb``: the largest resident set of the driver and of any worker process.

The last line sums the run up as key=value pairs.

``--wuhan`` instead: the Wuhan core of ``scripts/bench_city.py`` (its study, written into
``--work``) as one ``circles run`` and as ``circles batch`` by district (the districts of
``shared/data/boundaries`` cut to the core's window, 11 areas), both as subprocesses of the
command line, with ``--workers`` (2). The batch is light (``[batch] report = false``) unless
``--report``. ``equal_units``: every per-unit coverage, time and 2SFCA figure of the batch's
``merged.gpkg`` equals the single run's ``coverage.gpkg`` (to 1e-9; units and their ids
equal). CPU seconds (user + system of the command and every worker it forked) are printed
beside wall seconds, with the load average, since other jobs share the cores. Last line:
``single_s= batch_s= ratio= workers= areas= equal_units= single_cpu_s= batch_cpu_s= cpu_ratio= areas_cpu_s= load=``
(``areas_cpu_s``: the CPU seconds of the area tasks alone, from ``batch_summary.csv`` ``cpu_s``; the rest of
``batch_cpu_s`` is start-up, the split, the shared read before forking, Dask and the merge). A line before
it sums the areas' stage CPU seconds (each ``summary.json`` ``timings_cpu_s``) and what is outside the stages.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

WINDOW = (114.2396, 30.5604, 114.3096, 30.6204)


def _maxrss_mb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def batch_file(work: Path, name: str, boxes) -> Path:
    from test_batch import _batch_file  # the same batch file the tests use

    work.mkdir(parents=True, exist_ok=True)
    return _batch_file(work, name, boxes)


def _command(args: list[str]) -> tuple[float, float, str]:
    """Run ``circles ARGS``; wall and CPU seconds (the command and its reaped children), stderr."""
    import os
    import subprocess

    exe = Path(sys.executable).with_name("circles")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from circles.cli import app; app()"]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd + args, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"circles {args[0]} failed (exit {p.returncode})")
    return wall, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), p.stdout + p.stderr


def units_equal(merged: Path, single: Path) -> tuple[bool, int, int]:
    """Per-unit figures of a batch's merged.gpkg against a single run's coverage.gpkg (1e-9, NaN/inf alike)."""
    import geopandas as gpd

    bu = gpd.read_file(merged, layer="units").set_index("unit_id").sort_index()
    wu = gpd.read_file(single, layer="units").set_index("unit_id").sort_index()
    cols = [c for c in wu.columns if c.startswith(("cov_", "time_", "beyond_", "unreached_", "sfca_", "e2sfca_"))
            and not c.endswith("_after")]
    same = list(bu.index) == list(wu.index) and bool(cols)
    for c in cols if same else []:
        a, e = bu[c].to_numpy(float), wu[c].to_numpy(float)
        same &= bool(np.array_equal(np.isnan(a), np.isnan(e)) and np.array_equal(np.isinf(a), np.isinf(e)))
        ok = np.isfinite(a) & np.isfinite(e)
        same &= bool(np.allclose(a[ok], e[ok], rtol=1e-9, atol=1e-9))
    return same, len(cols), len(wu)


def wuhan_batch_file(work: Path, study: Path, *, report: bool) -> tuple[Path, int]:
    """A batch file for the Wuhan core study by district (districts cut to the study's window)."""
    import re

    import geopandas as gpd

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_city import default_data

    window = gpd.read_file(work / "area.geojson").to_crs(4326).geometry.iloc[0]
    d = gpd.read_file(default_data().parent / "boundaries" / "districts_wuhan_and_seed_plans.geojson").to_crs(4326)
    d = d[d.intersects(window)].copy()
    d["geometry"] = d.geometry.intersection(window)
    d[["name", "geometry"]].to_file(work / "districts_in_window.geojson", driver="GeoJSON")
    body = "[network]" + study.read_text(encoding="utf-8").split("[network]", 1)[1]
    body = re.sub(r"^\[\[(\w+)\]\]", r"[[defaults.\1]]", body, flags=re.M)
    body = re.sub(r"^\[(\w+)\]", r"[defaults.\1]", body, flags=re.M)
    f = work / "batch.toml"
    f.write_text(f'[batch]\nname = "wuhan-core-districts"\nareas = "districts_in_window.geojson"\n'
                 f'area_name_column = "name"\noutput_dir = "batch_out"\nreport = {str(report).lower()}\n\n'
                 f'[defaults.study]\ntitle = "wuhan core by district"\nlanguage = "zh"\n'
                 f'area = "{(work / "area.geojson").as_posix()}"  # the single run\'s area: gaps between districts\n\n{body}', encoding="utf-8")
    return f, len(d)


def wuhan(a) -> None:
    """``--wuhan``: one ``circles run`` of the Wuhan core against ``circles batch`` of it by district."""
    import os

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_city import default_data, prepare_wuhan

    a.work.mkdir(parents=True, exist_ok=True)
    study, _ = prepare_wuhan(default_data(), a.work, 1500, 20211)  # bench_city's defaults
    bfile, n_areas = wuhan_batch_file(a.work, study, report=a.report)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    single_s, single_cpu, _ = _command(["run", str(study), "--out", str(a.work / "single")])
    print(f"single: circles run {single_s:.2f} s wall, {single_cpu:.2f} s CPU (load {os.getloadavg()[0]:.2f})",
          flush=True)
    batch_s, batch_cpu, log = _command(["batch", str(bfile), "--workers", str(a.workers)])
    print(log.strip().splitlines()[-1])
    print(f"batch: circles batch {batch_s:.2f} s wall, {batch_cpu:.2f} s CPU, {a.workers} workers, {n_areas} areas, "
          f"report={'full' if a.report else 'light'} (load {os.getloadavg()[0]:.2f})", flush=True)
    out = a.work / "batch_out" / "wuhan-core-districts"
    import pandas as pd

    table = pd.read_csv(out / "batch_summary.csv", encoding="utf-8-sig")
    print("area wall / CPU s (slowest first): " + ", ".join(
        f"{r.area} {r.seconds:.2f}/{r.cpu_s:.2f}" for r in table.sort_values("seconds", ascending=False).itertuples()))
    stages: dict[str, float] = {}  # each area's summary.json timings_cpu_s, summed over the areas
    for f in sorted((out / "areas").glob("*/summary.json")):
        for k, v in json.loads(f.read_text(encoding="utf-8")).get("timings_cpu_s", {}).items():
            stages[k] = stages.get(k, 0.0) + float(v)
    print("area stage CPU s, summed over the areas: " + " ".join(f"{k}={v:.2f}" for k, v in stages.items())
          + f" (outside the stages: {table['cpu_s'].sum() - sum(stages.values()):.2f})")
    same, n_cols, n_units = units_equal(out / "merged.gpkg", a.work / "single" / "coverage.gpkg")
    print(f"per-unit figures equal over {n_cols} columns x {n_units} units: {same}")
    print(" ".join([f"single_s={single_s:.2f}", f"batch_s={batch_s:.2f}", f"ratio={batch_s / single_s:.2f}",
                    f"workers={a.workers}", f"areas={n_areas}", f"equal_units={'true' if same else 'false'}",
                    f"single_cpu_s={single_cpu:.2f}", f"batch_cpu_s={batch_cpu:.2f}",
                    f"cpu_ratio={batch_cpu / single_cpu:.2f}", f"areas_cpu_s={table['cpu_s'].sum():.2f}",
                    f"load={os.getloadavg()[0]:.2f}"]))


def main() -> None:
    import geopandas as gpd

    from circles.batch import load_batch, run_area, run_batch, split_areas

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strips", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/circles-bench-batch"))
    ap.add_argument("--wuhan", action="store_true", help="the Wuhan core: circles run vs circles batch by district")
    ap.add_argument("--workers", type=int, default=2, help="--wuhan: batch workers")
    ap.add_argument("--report", action="store_true", help="--wuhan: full per-area reports (default: report = false)")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    if a.wuhan:
        wuhan(a)
        return
    x0, y0, x1, y1 = WINDOW
    edges = np.linspace(x0, x1, a.strips + 1)
    strips = list(zip(edges[:-1], edges[1:]))

    # single run of the whole window, in-process
    whole = batch_file(a.work, "whole", [(x0, x1)])
    b = load_batch(whole)
    task = split_areas(b, b["out"] / "work")[0]
    run_area(task, str(b["out"]))  # warm-up (imports, font cache), then time a fresh run
    (b["out"] / "areas" / task["safe"] / "done.json").unlink()
    t = time.perf_counter()
    r = run_area(task, str(b["out"]))
    single_s = time.perf_counter() - t
    people = r["people"]
    print(f"single: {single_s:.2f} s for {people:,.0f} people, {r['units']} units")

    timings = {}
    for workers in (1, 2):
        f = batch_file(a.work / f"w{workers}", "split", strips)
        t = time.perf_counter()
        out = run_batch(f, n_workers=workers)
        timings[workers] = time.perf_counter() - t
        per_area = out["table"]["seconds"].to_numpy()
        print(f"batch with {workers} worker(s): {timings[workers]:.2f} s wall, {len(per_area)} areas, "
              f"area task times {', '.join(f'{s:.2f}' for s in per_area)} s")
    # cluster start-up alone
    from dask.distributed import Client, LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, Client(c):
        pass
    startup_s = time.perf_counter() - t
    print(f"LocalCluster(2) start + stop: {startup_s:.2f} s (included in the batch times)")

    # halo exactness: per-unit figures of the 2-worker batch vs the single run
    bu = gpd.read_file(a.work / "w2" / "out" / "split" / "merged.gpkg", layer="units").set_index("unit_id").sort_index()
    wu = gpd.read_file(Path(r["folder"]) / "coverage.gpkg", layer="units").set_index("unit_id").sort_index()
    cols = [c for c in wu.columns if c.startswith(("cov_", "time_", "beyond_", "sfca_", "e2sfca_")) and "_after" not in c]
    exact = list(bu.index) == list(wu.index) and all(
        np.allclose(bu[c].to_numpy(float), wu[c].to_numpy(float), rtol=1e-9, atol=1e-9, equal_nan=True) for c in cols)
    print(f"halo exact over {len(cols)} per-unit columns x {len(wu)} units: {exact}")

    # cost against area size (single runs)
    sizes = []
    for frac in (0.25, 0.5, 1.0):
        w = (x1 - x0) * np.sqrt(frac)
        h = (y1 - y0) * np.sqrt(frac)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        f = batch_file(a.work / f"size{frac}", "size", [(cx - w / 2, cx + w / 2)])
        text = f.read_text(encoding="utf-8")
        gpd.GeoDataFrame({"name": ["strip1"]}, geometry=[__import__("shapely").box(cx - w / 2, cy - h / 2, cx + w / 2,
                                                                                cy + h / 2)], crs=4326) \
            .to_file(a.work / f"size{frac}" / "size.geojson", driver="GeoJSON")
        f.write_text(text, encoding="utf-8")
        bb = load_batch(f)
        tk = split_areas(bb, bb["out"] / "work")[0]
        t = time.perf_counter()
        rr = run_area(tk, str(bb["out"]))
        s = time.perf_counter() - t
        sizes.append((frac, rr["people"], s))
        print(f"area {frac:.0%} of the demo: {rr['people']:,.0f} people, {s:.2f} s, "
              f"{100_000 * s / rr['people']:.3f} s per 100,000 people")
    per_person = np.polyfit([p for _, p, _ in sizes], [s for _, _, s in sizes], 1)
    province = 10_000_000
    n_areas = province / people
    proj_1 = n_areas * single_s
    print(f"fit: time = {per_person[1]:.2f} s + {1e5 * per_person[0]:.3f} s per 100,000 people; a 10-million-person "
          f"province in demo-sized areas ({n_areas:.0f} areas): about {proj_1 / 60:.1f} min on 1 worker, "
          f"{proj_1 / 60 / 2:.1f} min on 2, {proj_1 / 60 / 16:.1f} min on 16 (areas are independent)")
    peak = max(_maxrss_mb(resource.RUSAGE_SELF), _maxrss_mb(resource.RUSAGE_CHILDREN))
    print(" ".join([f"halo_exact={'true' if exact else 'false'}", f"single_s={single_s:.2f}",
                    f"batch1_s={timings[1]:.2f}", f"batch2_s={timings[2]:.2f}", f"peak_mb={peak:.0f}",
                    f"cluster_startup_s={startup_s:.2f}", f"people={people:.0f}",
                    f"province_10m_min_2workers={proj_1 / 60 / 2:.1f}"]))


if __name__ == "__main__":
    main()
