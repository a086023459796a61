"""Many study areas in parallel on Dask distributed: ``circles batch BATCH.toml``.

A batch file holds a ``[batch]`` table and, under ``[defaults]``, an ordinary study (the
sections of :mod:`circles.study`) shared by every area::

    [batch]
    name = "wuhan-districts"
    areas = "districts.geojson"     # one area per polygon ...
    area_name_column = "name"
    # areas = ["a.geojson", "b.geojson"]   # ... or a list of polygon files, one area each
    output_dir = "../maps"          # batch results go to <output_dir>/<name>/
    report = true                   # false: per area the tables, layers and summary.json only

    [defaults.network]
    path = "roads.osm.pbf"
    ...

    [overrides."甘孜县".network]    # per-area changes, e.g. a rural county reached by road
    profile = "drive"

How an area is cut, so that its per-unit results equal those of one run over the union:

1. Units are made once for the whole study area (``[defaults.study] area`` when given,
   else the union of the areas: a grid, or the ``[defaults.units]`` file), in its metric
   CRS, and each unit goes to the area holding its representative point (one in no area
   polygon, in a gap between districts, goes to the nearest area, with a warning
   counting them); an area's study area is the union of its units. Every person of the
   study area is in exactly one area, as in one ``circles run`` of it. An area's units reach
   it as a file, but they are communities (the plans' share-of-communities indicators) only
   when the batch's units file is: grid cells are not (``[units] communities``). Units are
   made once, so ``[overrides.<area>.units]`` is refused.
2. Each area run loads a halo around its area (see :func:`circles.pipeline.analyse`):
   facilities and roads as far as a trip within the search limit reaches, people within
   twice that. Travel times are exact up to the search limit (``travel.max_time_min``,
   default twice the longest threshold) and "beyond" past it, in batch and single runs alike.
3. Siting runs per area (new sites are suggested for each area's own gaps).

The batch ``name`` and every area name become folder names (``<output_dir>/<name>/areas/<area>/``):
the batch name must be a plain folder name, an area without a name is refused, and other
characters of an area name become ``_``; as for a single run (:mod:`circles.outputs`), only
folders circles wrote are ever replaced.

Each area runs in a Dask task, the most people first (local workers: from the population cells
read before forking, :func:`_most_people_first`; else largest first, by the area of its units),
so the last areas to finish are cheap and the workers end together; each worker parses an OSM network file
once and cuts every later area's roads from it (:func:`circles.io.network.keep_parsed_osm`:
the same ways and counts as reading the file again). Local workers are forked after the batch
process has read the inputs every area shares (the OSM parse and the population cells over
every area's read: :func:`_read_before_fork`), so they share that one read. In a worker,
gazetteer rows outside an area's facility reach are counted, not listed as that area's rejects
(``Study.facility_rows_outside = "count"``), and the kinds an area assesses are those of
every gazetteer row read, so they do not depend on where the area was cut. With ``report = false`` an area
writes ``coverage.gpkg`` (without the isochrone, water, outline and road layers drawn for the
page), the CSV tables, ``summary.json`` and ``whatif.json``, but no ``report.html``, PNG
figures or ``units.xlsx``: the report and its drawings were most of an
area's fixed cost, and the index page then links each area's ``summary.json``. Every
number of the tables is the same either way. Finished areas are skipped on a rerun unless the content
hash of their inputs (the study settings and the bytes of every input file) changed; a
failing area is reported with its error and the others go on; outputs are written
atomically and merged into one GeoPackage, one table and an index page.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import multiprocessing
import os
import time
import traceback
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from circles.crs import utm_crs_for
from circles.errors import CrsError, InputFileError, StudyError
from circles.io.network import keep_parsed_osm, parse_osm_now
from circles.io.population import band_files, keep_population_window, kept_people
from circles.io.units import assign_parents, grid_units, load_units
from circles.io.vector import read_vector
from circles.outputs import atomic_write_text, check_folder_name, check_output_folder, write_marker
from circles.pipeline import run
from circles.stages.load import population_box, study_area
from circles.study import UnitOptions, study_from_dict, tomllib

log = logging.getLogger(__name__)


def load_batch(path: str | Path) -> dict:
    """Read a batch file: ``{"name", "areas" (GeoDataFrame in WGS84), "defaults" (raw study dict), "base", "out"}``."""
    path = Path(path)
    if not path.exists():
        raise StudyError(f"{path}: batch file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{path}: not valid TOML ({exc})") from exc
    unknown = set(raw) - {"batch", "defaults", "overrides"}
    if unknown:
        raise StudyError(f"{path}: unknown section(s) {sorted(unknown)}; a batch file has [batch], [defaults.*] "
                         "and [overrides.<area>.*]")
    b = raw.get("batch", {})
    known = {"name", "areas", "area_name_column", "output_dir", "report"}
    if set(b) - known:
        raise StudyError(f"{path}: unknown key(s) {sorted(set(b) - known)} in [batch]; known: {sorted(known)}")
    if "name" not in b or "areas" not in b:
        raise StudyError(f"{path}: [batch] needs `name` and `areas`")
    check_folder_name(b["name"], f"{path}: batch.name")
    if not isinstance(b.get("report", True), bool):
        raise StudyError(f"{path}: batch.report must be true or false (without quotes), not {b['report']!r}")
    if not isinstance(b.get("output_dir", "maps"), str) or not isinstance(b.get("area_name_column", "name"), str):
        raise StudyError(f"{path}: batch.output_dir and batch.area_name_column must be text in quotes")
    if not (isinstance(b["areas"], str) or (isinstance(b["areas"], list) and b["areas"]
                                            and all(isinstance(a, str) for a in b["areas"]))):
        raise StudyError(f'{path}: batch.areas must be a polygon file ("districts.geojson") or a list of files')
    base = path.parent

    def read_areas(name: str) -> gpd.GeoDataFrame:
        f = (base / name).resolve()
        if not f.is_file():
            raise StudyError(f"{path}: batch.areas: {f} not found; give a polygon file of the areas (.geojson, "
                             ".gpkg or .shp) beside the batch file or as a path from it")
        try:
            return read_vector(f, "batch.areas")
        except CrsError:  # read_vector's fix (`crs = ...` for the input) is no batch key
            raise StudyError(f"{path}: batch.areas: {f} has no coordinate reference system; add one to the file "
                             "(a .prj beside a .shp, or save it again with its CRS, e.g. from QGIS)") from None
        except InputFileError as exc:  # pyogrio's DataSourceError and kin: one line, naming the file
            raise StudyError(f"{path}: batch.areas: cannot read {f} ({exc.__cause__ or exc}); give a polygon file "
                             "(.geojson, .gpkg or .shp)") from None

    if isinstance(b["areas"], str):
        gdf = read_areas(b["areas"])
        col = b.get("area_name_column", "name")
        if col not in gdf:
            raise StudyError(f"{path}: area_name_column {col!r} not in {b['areas']}; columns are {list(gdf.columns)}")
        areas = gpd.GeoDataFrame({"area": gdf[col].astype(str)}, geometry=gdf.geometry.values, crs=gdf.crs)
    else:
        parts = []
        for f in b["areas"]:
            g = read_areas(f)
            parts.append(gpd.GeoDataFrame({"area": [Path(f).stem]}, geometry=[shapely.union_all(g.to_crs(4326).geometry.values)],
                                          crs=4326))
        areas = pd.concat(parts, ignore_index=True)
    blank = areas["area"].str.strip().isin(["", "nan", "None"])
    if blank.any():
        raise StudyError(f"{path}: area #{int(blank.to_numpy().argmax()) + 1} has no name; fill in the "
                         f"{b.get('area_name_column', 'name')!r} column (area names become folder names)")
    if areas["area"].duplicated().any():
        raise StudyError(f"{path}: area names must be unique; {areas['area'][areas['area'].duplicated()].iloc[0]!r} repeats")
    defaults = raw.get("defaults", {})
    defaults.setdefault("study", {})
    overrides = raw.get("overrides", {})
    stray = set(overrides) - set(areas["area"])
    if stray:
        raise StudyError(f"{path}: [overrides] names areas that do not exist: {sorted(stray)}")
    with_units = sorted(a for a, o in overrides.items() if isinstance(o, dict) and "units" in o)
    if with_units:  # the units are made once for the whole batch (split_areas): an area's own would be lost
        raise StudyError(f"{path}: [overrides.{with_units[0]}.units]: the units are made once for the whole "
                         "batch and shared out to the areas; set them under [defaults.units]")
    communities = defaults.get("units", {}).get("communities")
    if communities is not None and not isinstance(communities, bool):
        raise StudyError(f"{path}: defaults.units.communities = {communities!r}: must be true or false (no quotes)")
    return {"name": b["name"], "areas": areas.to_crs(4326), "defaults": defaults, "overrides": overrides, "base": base,
            "out": (base / b.get("output_dir", "maps")).resolve() / b["name"], "report": b.get("report", True)}


def split_areas(batch: dict, work: Path) -> list[dict]:
    """Make the union's units, give each to an area, and write one study dict per area.

    Returns ``[{"area": name, "safe": folder name, "study": raw study dict (absolute paths),
    "size_m2": area of its units, "report": batch.report}]``, largest area first (ties
    in the areas file's order).
    """
    base = batch["base"]
    defaults = copy.deepcopy(batch["defaults"])
    union_wgs = shapely.union_all(batch["areas"].geometry.values)
    if defaults["study"].get("area"):  # the whole study area: units cover it, gaps between area polygons too
        union_wgs = shapely.union_all(read_vector(base / defaults["study"]["area"], "defaults.study.area")
                                      .to_crs(4326).geometry.values)
    c = union_wgs.centroid
    crs = defaults["study"].get("crs", "auto")
    crs = utm_crs_for(c.x, c.y).to_string() if crs == "auto" else crs
    union = gpd.GeoSeries([union_wgs], crs=4326).to_crs(crs).iloc[0]
    u = defaults.get("units", {})
    parents = read_vector(base / u["parents"], "defaults.units.parents") if u.get("parents") else None
    if u.get("path"):
        units = load_units(base / u["path"], crs=crs, area=union, name_column=u.get("name_column"),
                           code_column=u.get("code_column"), invalid=u.get("invalid", "repair"))
        if parents is not None:  # as one run does (circles.stages.load._units): the street holding most of each unit
            units["parent"] = assign_parents(units, parents, u.get("parent_name_column", "name"),
                                             fill=units["parent"]).to_numpy()
    else:
        units = grid_units(union, crs=crs, cell_size_m=u.get("grid_size_m", 1000.0), parents=parents,
                           parent_name_column=u.get("parent_name_column", "name"))
    # the units file's other columns (attr_<column>, for presets' `where` filters) go to each area's file
    # under their own names: the area's load_units reads them back as attr_<column>
    attrs = {c: c[len("attr_"):] for c in units.columns if c.startswith("attr_")}
    clash = sorted(a for a in attrs.values() if a.lower() in ("unit_id", "unit_name", "parent", "geometry"))
    if clash:
        raise StudyError(f"{base / u['path']}: column {clash[0]!r} is neither units.code_column nor units.name_column, "
                         "but a batch writes each area's units with unit_id, unit_name and parent columns; rename "
                         "it in the file or name it as defaults.units.code_column / name_column")
    areas = batch["areas"].to_crs(crs)
    rep = units.geometry.representative_point()
    owner = gpd.sjoin(gpd.GeoDataFrame(geometry=rep, crs=crs), areas, predicate="within", how="left")
    owner = owner[~owner.index.duplicated()]["area"].reindex(units.index)
    stray = owner.isna().to_numpy()
    if stray.any():  # a representative point in no area polygon (a gap or sliver between districts)
        near = gpd.sjoin_nearest(gpd.GeoDataFrame(geometry=rep[stray], crs=crs), areas[["area", "geometry"]],
                                 how="left", distance_col="gap_m")
        near = near[~near.index.duplicated()]
        owner[stray] = near["area"].reindex(units.index[stray]).to_numpy()
        log.warning("batch: %d of %d units (%s) have their representative point in no area polygon (at most "
                    "%.0f m away); each went to the nearest area, so its people are counted once",
                    int(stray.sum()), len(units), ", ".join(map(str, units.loc[stray, "unit_id"][:5])),
                    float(near["gap_m"].max()))
    units["area"] = owner.to_numpy()
    # the area's units come from a file, but they are communities only when the batch's were (a grid is not)
    communities = UnitOptions(path=u.get("path") or None, communities=u.get("communities")).are_communities
    work.mkdir(parents=True, exist_ok=True)
    out, used = [], set()
    for name in areas["area"]:
        mine = units[units["area"] == name]
        if mine.empty:
            log.warning("batch area %s holds no unit; skipped", name)
            continue
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        if safe in used:  # "a/b" and "a_b" must not share a folder
            safe = f"{safe}_{len(used)}"
        used.add(safe)
        check_folder_name(safe, f"batch area {name!r}")
        ufile = work / f"{safe}_units.geojson"  # GeoJSON: the same units give the same bytes (hash)
        afile = work / f"{safe}_area.geojson"
        mine[["unit_id", "unit_name", "parent", *attrs, "geometry"]].rename(columns=attrs) \
            .to_file(ufile, driver="GeoJSON")
        gpd.GeoDataFrame({"area": [name]}, geometry=[shapely.union_all(mine.geometry.values)], crs=crs) \
            .to_crs(4326).to_file(afile, driver="GeoJSON")
        study = _absolute(_merge(copy.deepcopy(defaults), batch.get("overrides", {}).get(name, {})), base)
        study["study"].update({"name": safe, "title": f"{defaults['study'].get('title', '')} {name}".strip(),
                               "crs": crs, "area": str(afile)})
        study["units"] = {"path": str(ufile), "code_column": "unit_id", "name_column": "unit_name",
                          "communities": communities}
        travel = study.setdefault("travel", {})
        travel.setdefault("max_time_min", None)  # the search limit of `circles run` (rules.search_limit_s)
        out.append({"area": name, "safe": safe, "study": study, "size_m2": float(mine.geometry.area.sum()),
                    "report": batch.get("report", True)})
    return sorted(out, key=lambda t: -t["size_m2"])  # stable: equal sizes keep the file's order


def _merge(base: dict, extra: dict) -> dict:
    """``base`` with the tables of ``extra`` merged in, key by key."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


_PATH_KEYS = {"path", "folder", "parents", "area", "output_dir", "total_file", "candidates", "exclude", "dem"}


def _absolute(raw: dict, base: Path) -> dict:
    for key, value in list(raw.items()):
        if isinstance(value, dict):
            raw[key] = _absolute(value, base)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            raw[key] = [_absolute(v, base) for v in value]
        elif key in _PATH_KEYS and isinstance(value, str):
            raw[key] = str((base / value).resolve())
        elif key == "preset" and isinstance(value, str) and value.endswith(".toml"):  # a custom preset file
            raw[key] = str((base / value).resolve())
    return raw


def input_hash(study_raw: dict) -> str:
    """Content hash of an area's inputs: its settings and the bytes of every file it reads."""
    h = hashlib.sha256(json.dumps(study_raw, sort_keys=True, default=str).encode())
    for f in sorted(_files(study_raw)):
        p = Path(f)
        paths = sorted(p.rglob("*")) if p.is_dir() else [p]
        for q in paths:
            if q.is_file():
                h.update(q.name.encode())
                h.update(_file_digest(q))
    return h.hexdigest()


def _file_digest(path: Path) -> bytes:
    d = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            d.update(chunk)
    return d.digest()


def _files(raw) -> list[str]:
    out = []
    if isinstance(raw, dict):
        for k, v in raw.items():
            if k in _PATH_KEYS and isinstance(v, str) and k != "output_dir":
                out.append(v)
            else:
                out.extend(_files(v))
    elif isinstance(raw, list):
        for v in raw:
            out.extend(_files(v))
    return out


def run_area(task: dict, out_dir: str) -> dict:
    """Run one area (inside a Dask worker): skip if done with the same inputs, never raise."""
    t0, c0 = time.perf_counter(), time.process_time()
    folder = Path(out_dir) / "areas" / task["safe"]
    done = folder / "done.json"
    keep_parsed_osm()  # this worker parses each OSM file once for all its areas
    report = task.get("report", True)
    digest = input_hash({**task["study"], "_batch_report": report})  # a rerun with the other report choice runs
    if done.exists() and json.loads(done.read_text()).get("input_hash") == digest:
        return {"area": task["area"], "status": "skipped (unchanged)", "seconds": 0.0, "folder": str(folder)}
    try:
        # gazetteer rows in other areas' reach are not this area's rejects: counted
        study = study_from_dict(task["study"], base=Path(out_dir), facility_rows_outside="count")
        res, _ = run(study, folder=folder, report=report)
        atomic_write_text(done, json.dumps({"input_hash": digest, "finished": time.time()}))
        s = res.summary
        tm = max(s["thresholds_min"])
        return {"area": task["area"], "status": "done", "seconds": round(time.perf_counter() - t0, 2),
                "cpu_s": round(time.process_time() - c0, 2), "folder": str(folder), "people": s["population"]["in_study_area_total"],
                "elderly": s["population"]["elderly"], "units": s["units"],
                f"elderly_{tm:g}min": s["coverage"]["elderly"][f"{tm:g}min"],
                f"infants_{tm:g}min": s["coverage"]["infants"][f"{tm:g}min"]}
    except Exception as exc:  # reported per area; the batch goes on
        return {"area": task["area"], "status": "failed", "seconds": round(time.perf_counter() - t0, 2),
                "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=3)}


def run_batch(path: str | Path, *, scheduler: str | None = None, n_workers: int = 2,
              progress=None) -> dict:
    """Run every area of a batch file on Dask and merge the results; returns the batch summary."""
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    batch = load_batch(path)
    out = check_output_folder(batch["out"], "batch output folder")
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, name=out.name, command="batch")
    t0 = time.perf_counter()
    tasks = split_areas(batch, out / "work")
    phases = {"split_s": time.perf_counter() - t0}  # wall seconds of each phase (bench_batch prints them)
    t1 = time.perf_counter()
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        # local workers are forked from this process, which has imported circles already (spawned
        # workers import it again: ~1.5 s CPU each); spawn where there is no fork (Windows)
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        if method == "fork":
            phases["read_s"], areas = _read_before_fork(tasks, out)
            tasks = _most_people_first(tasks, areas)
            t1 = time.perf_counter()
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.WARNING)
        client = Client(cluster)
    phases["cluster_start_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    try:
        # most people (or largest) first: tasks come sorted so, and a higher priority runs earlier
        futures = [client.submit(run_area, t, str(out), key=f"area-{t['safe']}", pure=False, priority=len(tasks) - i)
                   for i, t in enumerate(tasks)]
        results = []
        for fut in as_completed(futures):
            r = fut.result()
            results.append(r)
            if progress:
                progress(r)
        phases["areas_s"] = time.perf_counter() - t1
    finally:
        t1 = time.perf_counter()
        client.close()
        if cluster is not None:
            cluster.close()
        if "read_s" in phases:  # the driver's copies of the shared inputs are no longer needed
            keep_parsed_osm(False)
            keep_population_window((), None)
        phases["cluster_close_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    table = pd.DataFrame(results).sort_values("area").reset_index(drop=True)
    merged = merge_outputs(out, [t for t in tasks if t["area"] in set(table.loc[table["status"] != "failed", "area"])])
    table_out = table.drop(columns=["traceback"], errors="ignore")
    table_out.to_csv(out / "batch_summary.csv.tmp", index=False, encoding="utf-8-sig")
    (out / "batch_summary.csv.tmp").replace(out / "batch_summary.csv")
    atomic_write_text(out / "index.html", _index_html(batch["name"], table_out,
                                                      page="report.html" if batch["report"] else "summary.json"))
    phases["merge_s"] = time.perf_counter() - t1
    log.info("batch phases (wall s): %s", " ".join(f"{k}={v:.2f}" for k, v in phases.items()))
    return {"table": table, "merged": merged, "seconds": time.perf_counter() - t0, "out": out,
            "phases": {k: round(v, 3) for k, v in phases.items()}}


def _read_before_fork(tasks: list[dict], out: Path) -> tuple[float, dict]:
    """Read the inputs every area shares once in this process, before the local workers are forked
    from it, so that they share one read instead of each reading the files again:

    - the OSM network file, parsed (:func:`circles.io.network.parse_osm_now`; ~1 s CPU per
      worker on the Wuhan core), when every area reads the same file;
    - the population rasters' cells over every area's read (area plus twice the halo:
      :func:`circles.stages.load.population_box`, the box :func:`circles.stages.load.load_inputs`
      reads; :func:`circles.io.population.keep_population_window`), when every area reads the same bands.

    Only when some area is not finished yet. A file that fails here is left to the areas,
    which read it again and each report the error; the OSM parse and the population are tried apart.
    Returns the wall seconds spent and each area's polygon in WGS84 (task ``safe`` -> geometry, as
    :func:`circles.stages.load.study_area` reads it; for :func:`_most_people_first`, so only when the
    population cells were read).
    """
    t0 = time.perf_counter()
    areas: dict = {}
    if all((out / "areas" / t["safe"] / "done.json").exists() for t in tasks):
        return 0.0, areas
    try:  # apart from the population: a bad OSM file must not cost the areas their shared cells and order
        paths = {t["study"].get("network", {}).get("path") for t in tasks}
        if len(paths) == 1 and None not in paths:
            parse_osm_now(next(iter(paths)))
    except Exception as exc:  # the areas read the file again and each reports the error
        log.debug("batch: parsing the OSM file before forking failed (%s); each area reads it", exc)
    try:
        studies = [study_from_dict(t["study"], base=out) for t in tasks]
        pops = {(str(s.population.folder), s.population.pattern, str(s.population.total_file)) for s in studies}
        if len(pops) == 1:
            boxes = []
            for t, st in zip(tasks, studies):  # each area's polygon (WGS84) and the box load_inputs reads
                wgs, _ = study_area(st)
                areas[t["safe"]] = wgs
                boxes.append(population_box(st, gpd.GeoSeries([wgs], crs=4326).to_crs(st.crs).iloc[0], st.crs))
            po = studies[0].population
            bands = band_files(po.folder, po.pattern) if po.folder is not None else []
            bands += [Path(po.total_file)] if po.total_file is not None else []
            b = np.array(boxes)
            keep_population_window(bands, (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()))
    except Exception as exc:  # the areas read the files again and each reports the error
        log.debug("batch: reading the population before forking failed (%s); each area reads it", exc)
    return time.perf_counter() - t0, areas


def _most_people_first(tasks: list[dict], areas: dict) -> list[dict]:
    """The tasks by the people of their area (``areas``: task ``safe`` -> polygon in WGS84, as
    :func:`_read_before_fork` read them), most first (from the population cells read before forking,
    :func:`circles.io.population.kept_people`), then by size; as given when nothing was kept.

    An area's cost follows its people more than its size: on the Wuhan core, 江汉区 (30 km², 0.63 M
    people) took 1.9 s CPU like 汉阳区 (100 km², 0.84 M), while 黄陂区 (42 km², 0.06 M) took 1.0 s. By
    size, 江汉区 ran last and the two workers ended ~0.9 s apart; by people, ~0.2 s apart.
    """
    people = []
    for t in tasks:
        try:
            people.append(kept_people(areas[t["safe"]]))
        except Exception:  # only an order: an area not read here fails in its own task
            people.append(0.0)
    if not any(people):
        return tasks
    return [t for _, t in sorted(zip(people, tasks), key=lambda pt: (-pt[0], -pt[1]["size_m2"]))]


def merge_outputs(out: Path, tasks: list[dict]) -> Path | None:
    """One GeoPackage with every area's units, facilities (deduplicated) and suggested sites."""
    layers = {"units": [], "suggested_sites": [], "facilities": []}
    for t in tasks:
        gpkg = out / "areas" / t["safe"] / "coverage.gpkg"
        if not gpkg.exists():
            continue
        have = set(gpd.list_layers(gpkg)["name"])
        for layer in layers:
            if layer in have:
                g = gpd.read_file(gpkg, layer=layer)
                g["area"] = t["area"]
                layers[layer].append(g)
    if not layers["units"]:
        return None
    final = out / "merged.gpkg"
    tmp = out / f".merged.partial-{os.getpid()}.gpkg"  # .gpkg: GDAL warns on any other extension
    tmp.unlink(missing_ok=True)
    try:
        for layer, parts in layers.items():
            if parts:
                g = pd.concat(parts, ignore_index=True)
                if layer == "facilities":
                    g = g.drop_duplicates("facility_id")
                gpd.GeoDataFrame(g, geometry="geometry", crs=parts[0].crs).to_file(tmp, layer=layer, driver="GPKG")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _index_html(name: str, table: pd.DataFrame, page: str = "report.html") -> str:
    """The batch's index page. Area names, the batch name and every cell are data: they are
    escaped as HTML text (and the link's folder part is percent-encoded as a URL path segment),
    so a name such as ``<script>`` or ``javascript:`` shows as text and links stay under ``areas/``."""
    import html
    from urllib.parse import quote

    def text(v) -> str:
        return html.escape("" if v is None or (not isinstance(v, (list, tuple, dict)) and pd.isna(v)) else str(v))

    rows = []
    for _, r in table.iterrows():
        href = f"areas/{quote(Path(str(r['folder'])).name, safe='')}/{page}"
        link = (f"<a href=\"{html.escape(href)}\">{text(r['area'])}</a>"
                if r.get("status") != "failed" else text(r["area"]))
        cells = "".join(f"<td>{text(v)}</td>" for k, v in r.items() if k not in ("area", "folder"))
        rows.append(f"<tr><td>{link}</td>{cells}</tr>")
    head = "".join(f"<th>{text(c)}</th>" for c in table.columns if c not in ("area", "folder"))
    return (f"<!doctype html><meta charset='utf-8'><title>{text(name)}</title>"
            f"<style>body{{font:14px sans-serif}}td,th{{border-bottom:1px solid #ddd;padding:3px 6px}}</style>"
            f"<h1>{text(name)}</h1><table><tr><th>area</th>{head}</tr>{''.join(rows)}</table>")
