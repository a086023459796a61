"""Batch runs on Dask: an area cut out of the demo gives the same per-unit results as one run."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from circles.batch import load_batch, merge_outputs, run_batch, split_areas
from circles.errors import InputFileError, StudyError
from conftest import DEMO

# three strips that cut the demo's area (data/demo/area.geojson) exactly
W, E, S, N = 114.239582890627659, 114.309582890347102, 30.560416746389951, 30.620416746150681
STRIPS = [(W, W + (E - W) / 3), (W + (E - W) / 3, W + 2 * (E - W) / 3), (W + 2 * (E - W) / 3, E)]


def _batch_file(tmp, name, boxes, extra=""):
    areas = gpd.GeoDataFrame({"name": [f"strip{i + 1}" for i in range(len(boxes))]},
                             geometry=[shapely.box(a, S, b, N) for a, b in boxes], crs=4326)
    areas.to_file(tmp / f"{name}.geojson", driver="GeoJSON")
    study = (DEMO / "study.toml").read_text(encoding="utf-8")
    body = study.split("[network]", 1)[1]
    body = "[network]" + body
    for section in ("network", "facilities", "population", "units", "travel", "targets", "siting"):
        body = body.replace(f"[[{section}]]", f"[[defaults.{section}]]").replace(f"[{section}]", f"[defaults.{section}]")
    # paths in the demo study are relative to data/demo
    for rel in ("roads.osm.pbf", "facilities_illustrative.csv", "facilities_osm_real.csv", '"pop"', "districts.geojson"):
        body = body.replace(rel, rel.replace(rel.strip('"'), str(DEMO / rel.strip('"'))))
    text = f'[batch]\nname = "{name}"\nareas = "{name}.geojson"\narea_name_column = "name"\noutput_dir = "out"\n' \
           f'\n[defaults.study]\ntitle = "batch"\n\n{body}\n{extra}'
    (tmp / f"{name}.toml").write_text(text, encoding="utf-8")
    return tmp / f"{name}.toml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("batch")
    split = _batch_file(tmp, "split", STRIPS)
    whole = _batch_file(tmp, "whole", [(W, E)])
    b = run_batch(split, n_workers=2)
    w = run_batch(whole, n_workers=1)
    return b, w, split


def test_merge_writes_no_gdal_warning(runs):
    """The merged GeoPackage's temporary file ends in .gpkg (GDAL warned "extension should be 'gpkg'")."""
    import warnings

    b, _, split = runs
    tasks = split_areas(load_batch(split), b["out"] / "work")
    before = len(gpd.read_file(b["merged"], layer="units"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged = merge_outputs(b["out"], tasks)
    assert [str(w.message) for w in caught if "gpkg" in str(w.message).lower()] == []
    assert len(gpd.read_file(merged, layer="units")) == before
    assert not list(b["out"].glob(".merged*"))


def test_batch_units_equal_single_run(runs):
    b, w, _ = runs
    assert set(b["table"]["status"]) == {"done"} and len(b["table"]) == 3
    bu = gpd.read_file(b["merged"], layer="units").set_index("unit_id").sort_index()
    wu = gpd.read_file(w["merged"], layer="units").set_index("unit_id").sort_index()
    assert list(bu.index) == list(wu.index) and len(bu) == 49
    assert bu["pop_total"].sum() == pytest.approx(wu["pop_total"].sum(), rel=1e-12)
    cols = [c for c in wu.columns if c.startswith(("cov_", "time_", "beyond_", "unreached_", "sfca_", "e2sfca_"))
            and not c.endswith("_after")]
    assert len(cols) > 30
    for c in cols:
        a, e = bu[c].to_numpy(float), wu[c].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(e)), c
        ok = ~np.isnan(a)
        assert np.allclose(a[ok], e[ok], rtol=1e-9, atol=1e-9), (c, np.max(np.abs(a[ok] - e[ok])))


def test_batch_point_times_exactly_equal(runs):
    b, w, _ = runs
    def keyed(g):  # raster row/col are window-relative, so key cells by their centre
        return g.assign(x=g.geometry.x.round(2), y=g.geometry.y.round(2)).set_index(["x", "y"]).sort_index()

    parts = [gpd.read_file(f, layer="population_points") for f in sorted((b["out"] / "areas").glob("*/coverage.gpkg"))]
    bp = keyed(pd.concat(parts))
    wp = keyed(gpd.read_file(next((w["out"] / "areas").glob("*/coverage.gpkg")), layer="population_points"))
    assert bp.index.equals(wp.index)
    # the same times, to floating-point rounding (the sub-networks number nodes differently,
    # so sums are added in another order: differences are ~1e-9 s)
    for c in [c for c in wp.columns if c.startswith("time_s_") and not c.endswith("_after")]:
        a, e = bp[c].to_numpy(float), wp[c].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(e)), c
        if np.isnan(e).all():  # a kind with no serving facility (e.g. kindergartens without 托班)
            continue
        assert np.nanmax(np.abs(a - e)) < 1e-6, c


def test_rerun_skips_finished_areas_and_reports_failures(runs, tmp_path):
    b, _, split = runs
    again = run_batch(split, n_workers=1)
    assert set(again["table"]["status"]) == {"skipped (unchanged)"}
    # an area whose inputs are broken fails alone, with its error; the other area runs
    bad = _batch_file(tmp_path, "bad", STRIPS[:2], extra='\n[overrides.strip2.network]\npath = "no_such_roads.geojson"\n')
    res = run_batch(bad, n_workers=1)
    status = res["table"].set_index("area")["status"]
    assert status["strip1"] == "done" and status["strip2"] == "failed"
    assert "no_such_roads.geojson" in res["table"].set_index("area").loc["strip2", "error"]
    assert (res["out"] / "index.html").exists() and (res["out"] / "batch_summary.csv").exists()
    index = (b["out"] / "index.html").read_text(encoding="utf-8")
    assert "areas/strip1/report.html" in index


STAT_PREFIXES = ("cov_", "time_", "beyond_", "unreached_", "sfca_", "e2sfca_")


def _assert_same_units(a: pd.DataFrame, e: pd.DataFrame, tol: float = 1e-9) -> int:
    """Every coverage share and time statistic of the units of ``a`` equal in ``e`` (NaN and inf alike)."""
    cols = [c for c in e.columns if c.startswith(STAT_PREFIXES) and not c.endswith("_after")]
    assert len(cols) > 30
    for c in cols:
        x, y = a[c].to_numpy(float), e.loc[a.index, c].to_numpy(float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), c
        assert np.array_equal(np.isinf(x), np.isinf(y)), c
        ok = np.isfinite(x)
        assert np.allclose(x[ok], y[ok], rtol=tol, atol=tol), (c, np.max(np.abs(x[ok] - y[ok])))
    return len(cols)


def test_batch_equals_circles_run_per_unit(runs, demo_run):
    """A three-area batch gives, unit by unit, the figures of one `circles run` of the demo."""
    b, _, _ = runs
    res, folder = demo_run
    bu = gpd.read_file(b["merged"], layer="units").set_index("unit_id").sort_index()
    ru = gpd.read_file(folder / "coverage.gpkg", layer="units").set_index("unit_id").sort_index()
    assert list(bu.index) == list(ru.index) and len(bu) == 49
    _assert_same_units(bu, ru)


def test_unit_cut_out_alone_equals_whole_run(demo_run, tmp_path):
    """Unit E05 as the whole study area: every share and time statistic equals E05 in the demo run."""
    import copy

    from circles.pipeline import analyse

    res, _ = demo_run
    units = res.units.set_index("unit_id")
    one = gpd.GeoDataFrame({"unit_id": ["E05"], "unit_name": ["E05"]}, geometry=[units.loc["E05", "geometry"]],
                           crs=res.crs)
    one.to_file(tmp_path / "e05.geojson", driver="GeoJSON")
    one.to_crs(4326).to_file(tmp_path / "e05_area.geojson", driver="GeoJSON")
    study = copy.deepcopy(res.study)
    study.area = tmp_path / "e05_area.geojson"
    study.crs = str(res.crs)
    study.units.path, study.units.code_column, study.units.name_column = tmp_path / "e05.geojson", "unit_id", "unit_name"
    study.siting.n_sites = 0
    alone = analyse(study)
    au = alone.units.set_index("unit_id")
    assert list(au.index) == ["E05"] and au.loc["E05", "pop_total"] == pytest.approx(units.loc["E05", "pop_total"])
    _assert_same_units(au, units)
    # and the time of every person in E05
    keyed = lambda p: p.assign(x=p.geometry.x.round(2), y=p.geometry.y.round(2)).set_index(["x", "y"]).sort_index()
    pa = keyed(alone.points)
    pw = keyed(res.points[res.points["unit_id"] == "E05"])
    assert pa.index.equals(pw.index)
    for c in [c for c in pw.columns if c.startswith("time_s_") and not c.endswith("_after")]:
        x, y = pa[c].to_numpy(float), pw[c].to_numpy(float)
        assert np.array_equal(np.isinf(x), np.isinf(y)) and np.allclose(x[np.isfinite(x)], y[np.isfinite(y)], atol=1e-9), c


# --- speed (issue 21): one OSM parse per worker, largest area first, light per-area output ---------


def test_kept_osm_parse_gives_the_same_network_as_reading_the_file():
    """With keep_parsed_osm on, two clips of the demo PBF come from one parse; the oracle is the
    uncached read (pyosmium filtering by box while it reads): the same ways, nodes, edges and counts."""
    from circles.io import network as nw

    crs = "EPSG:32650"
    area = gpd.GeoSeries([shapely.box(W, S, E, N)], crs=4326).to_crs(crs).iloc[0]
    x0, _, _, y1 = area.bounds
    clips = [area.buffer(-2500), shapely.box(x0, y1 - 2000, x0 + 2000, y1)]  # the centre, the north-west corner
    try:
        for clip in clips:
            nw.keep_parsed_osm(False)
            n0, e0 = nw.load_network(DEMO / "roads.osm.pbf", crs=crs, clip_to=clip)
            nw.keep_parsed_osm(True)
            n1, e1 = nw.load_network(DEMO / "roads.osm.pbf", crs=crs, clip_to=clip)
            assert len(nw._PARSED_OSM) == 1  # the same file parsed once, kept
            assert e1.attrs["read"] == e0.attrs["read"] and e0.attrs["read"]["ways_outside_bbox"] > 0
            pd.testing.assert_frame_equal(n1.drop(columns="geometry"), n0.drop(columns="geometry"))
            cols = [c for c in e0.columns if c != "geometry"]
            pd.testing.assert_frame_equal(e1[cols], e0[cols])
            assert shapely.equals_exact(e1.geometry.values, e0.geometry.values, tolerance=0).all()
    finally:
        nw.keep_parsed_osm(False)
    assert nw._PARSED_OSM is None


def test_split_largest_first_and_gaps_go_to_the_nearest_area(tmp_path, caplog):
    """Two strips with a 1.2 km gap between them, the demo area as the whole study area: every
    grid unit of the area is in one area (the gap's units went to the nearest strip, with a
    warning counting them), and the larger strip comes first."""
    import logging

    from circles.io.units import grid_units

    gap = 1200 / 96_000  # ~1.2 km of longitude at 30.6 N: wider than a grid unit
    mid = W + (E - W) * 0.3
    f = _batch_file(tmp_path, "gap", [(W, mid - gap / 2), (mid + gap / 2, E)])
    text = f.read_text(encoding="utf-8")
    text = text.replace('title = "batch"', f'title = "batch"\narea = "{(DEMO / "area.geojson").as_posix()}"')
    f.write_text(text, encoding="utf-8")
    b = load_batch(f)
    with caplog.at_level(logging.WARNING, logger="circles.batch"):
        tasks = split_areas(b, tmp_path / "work")
    assert [t["area"] for t in tasks] == ["strip2", "strip1"]  # strip2 is 70 % of the width
    assert tasks[0]["size_m2"] > tasks[1]["size_m2"]
    # oracle: the grid over the demo area, and which unit centres fall in the gap, by shapely
    crs = tasks[0]["study"]["study"]["crs"]
    area = gpd.read_file(DEMO / "area.geojson").to_crs(crs).geometry.iloc[0]
    grid = grid_units(area, crs=crs, cell_size_m=1000.0)
    strips = gpd.read_file(tmp_path / "gap.geojson").to_crs(crs)
    in_gap = ~shapely.covers(shapely.union_all(strips.geometry.values),
                             grid.geometry.representative_point().values)
    assert in_gap.sum() > 0
    got = pd.concat([gpd.read_file(t["study"]["units"]["path"]) for t in tasks])
    assert sorted(got["unit_id"]) == sorted(grid["unit_id"])
    msg = [r.getMessage() for r in caplog.records if "in no area polygon" in r.getMessage()]
    assert len(msg) == 1 and msg[0].startswith(f"batch: {int(in_gap.sum())} of {len(grid)} units")


def test_batch_report_must_be_true_or_false(tmp_path):
    f = _batch_file(tmp_path, "bad", STRIPS[:1])
    f.write_text(f.read_text(encoding="utf-8").replace('output_dir = "out"\n', 'output_dir = "out"\nreport = "no"\n'),
                 encoding="utf-8")
    with pytest.raises(Exception, match=r"batch.report must be true or false .*'no'"):
        load_batch(f)


def test_batch_areas_missing_or_unreadable_one_line(tmp_path):
    """A missing or unreadable areas file is one StudyError naming the batch file and the areas file by its
    full path (it was pyogrio's DataSourceError: "internal error" at the command line)."""
    (tmp_path / "b.toml").write_text('[batch]\nname = "x"\nareas = "nope.geojson"\n', encoding="utf-8")
    with pytest.raises(StudyError, match=re.escape(f"b.toml: batch.areas: {tmp_path / 'nope.geojson'} not found")):
        load_batch(tmp_path / "b.toml")
    (tmp_path / "bad.geojson").write_text("not json", encoding="utf-8")
    (tmp_path / "c.toml").write_text('[batch]\nname = "x"\nareas = ["bad.geojson"]\n', encoding="utf-8")
    with pytest.raises(StudyError, match=re.escape(f"c.toml: batch.areas: cannot read {tmp_path / 'bad.geojson'}")):
        load_batch(tmp_path / "c.toml")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # the case: a file written without one
def test_batch_areas_without_crs_one_line(tmp_path):
    """An areas file without a coordinate reference system, as the areas file or in a list of files: one
    StudyError naming the batch file and the areas file (the list raised pandas' "Cannot transform naive
    geometries", the single file "the areas have no CRS" without naming it)."""
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)]).to_file(tmp_path / "nocrs.gpkg", driver="GPKG")
    assert gpd.read_file(tmp_path / "nocrs.gpkg").crs is None
    for name, areas in (("list", '["nocrs.gpkg"]'), ("one", '"nocrs.gpkg"')):
        (tmp_path / f"{name}.toml").write_text(f'[batch]\nname = "x"\nareas = {areas}\n', encoding="utf-8")
        with pytest.raises(StudyError, match=re.escape(f"{name}.toml: batch.areas: {tmp_path / 'nocrs.gpkg'} has no "
                                                       "coordinate reference system; add one")) as err:
            load_batch(tmp_path / f"{name}.toml")
        assert "\n" not in str(err.value)

def test_batch_units_are_refused_per_area_and_communities_checked(tmp_path):
    """The units are made once for the whole batch: an area's own [overrides.<area>.units] would be lost,
    so it is refused; ``[defaults.units] communities`` must be a flag; each message names the batch file."""
    f = _batch_file(tmp_path, "bad", STRIPS[:2], extra='\n[overrides.strip2.units]\ngrid_size_m = 500\n')
    with pytest.raises(StudyError, match=r"bad.toml: \[overrides.strip2.units\].*\[defaults.units\]"):
        load_batch(f)
    f = _batch_file(tmp_path, "bad2", STRIPS[:2])
    f.write_text(f.read_text(encoding="utf-8").replace("[defaults.units]\n", '[defaults.units]\ncommunities = "yes"\n'),
                 encoding="utf-8")
    with pytest.raises(StudyError, match=r"bad2.toml: defaults.units.communities = 'yes': must be true or false"):
        load_batch(f)


def test_light_batch_writes_tables_only_and_equals_circles_run(demo_run, tmp_path):
    """``report = false``: no page, figures, isochrones or xlsx per area, the same per-unit figures
    as one `circles run` of the demo, and the index links each area's summary.json."""
    f = _batch_file(tmp_path, "light", STRIPS)
    f.write_text(f.read_text(encoding="utf-8").replace('output_dir = "out"\n', 'output_dir = "out"\nreport = false\n'),
                 encoding="utf-8")
    b = run_batch(f, n_workers=2)
    assert set(b["table"]["status"]) == {"done"} and len(b["table"]) == 3
    assert set(b["phases"]) - {"read_s"} == {"split_s", "cluster_start_s", "areas_s", "cluster_close_s", "merge_s"}
    res, run_folder = demo_run
    # the demo's units are a grid: an area's grid cells, written to a file for it, are still not communities
    # (the plans' share-of-communities indicators are scored as in the one run, with no communities section)
    one = res.summary
    assert "communities" not in one
    for folder in (b["out"] / "areas").iterdir():
        names = {p.name for p in folder.iterdir()}
        assert {"coverage.gpkg", "units.csv", "summary.json", "targets.csv"} <= names
        assert not names & {"report.html", "units.xlsx"} and not any(n.endswith(".png") for n in names)
        layers = set(gpd.list_layers(folder / "coverage.gpkg")["name"])
        assert "units" in layers and "population_points" in layers
        assert not layers & {"isochrones", "water", "outlines", "network_edges"}  # drawn for the page only
        s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert "communities" not in s
        assert s["targets"]["scored"] == one["targets"]["scored"]
    bu = gpd.read_file(b["merged"], layer="units").set_index("unit_id").sort_index()
    ru = gpd.read_file(run_folder / "coverage.gpkg", layer="units").set_index("unit_id").sort_index()
    assert list(bu.index) == list(ru.index)
    _assert_same_units(bu, ru)
    index = (b["out"] / "index.html").read_text(encoding="utf-8")
    assert "areas/strip1/summary.json" in index and "report.html" not in index


def test_kind_beyond_an_area_reach_is_assessed_as_in_one_run(tmp_path):
    """The demo's gazetteer with one nursing home only (NU006, in the west): strip3's facility
    reach (1.8 km) holds none. The kinds come from every row read, so strip3's units show 0 %
    nursing-home coverage as one run of the whole does (they were empty, "not assessable", when
    the kinds came from the facilities within reach), and the rows outside strip3's reach are
    counted in its summary.json, not listed as "check the coordinate system" rejects."""
    src = pd.read_csv(DEMO / "facilities_illustrative.csv", encoding="utf-8-sig", dtype=str)
    nursing = src["类型"] == "养老院"
    assert nursing.sum() > 1
    one = src[~nursing | (src["编号"] == "NU006")]
    one.to_csv(tmp_path / "one_nursing_home.csv", index=False, encoding="utf-8-sig")

    def with_gazetteer(f):
        f.write_text(f.read_text(encoding="utf-8").replace(str(DEMO / "facilities_illustrative.csv"),
                                                           (tmp_path / "one_nursing_home.csv").as_posix()),
                     encoding="utf-8")
        return f

    split = with_gazetteer(_batch_file(tmp_path, "split", STRIPS))
    whole = with_gazetteer(_batch_file(tmp_path, "whole", [(W, E)]))
    whole.write_text(whole.read_text(encoding="utf-8").replace('output_dir = "out"\n',
                                                               'output_dir = "out"\nreport = false\n'), encoding="utf-8")
    b = run_batch(split, n_workers=2)  # full reports: strip3 draws isochrones for a kind with no facility in reach
    w = run_batch(whole, n_workers=1)
    assert set(b["table"]["status"]) == {"done"}, b["table"].get("error")
    area3 = b["out"] / "areas" / "strip3"
    fac3 = gpd.read_file(area3 / "coverage.gpkg", layer="facilities")
    assert "nursing_home" not in set(fac3["kind"])  # the case: none within strip3's reach
    bu = gpd.read_file(b["merged"], layer="units").set_index("unit_id").sort_index()
    wu = gpd.read_file(w["merged"], layer="units").set_index("unit_id").sort_index()
    assert list(bu.index) == list(wu.index)
    _assert_same_units(bu, wu)
    mine = gpd.read_file(area3 / "coverage.gpkg", layer="units")["unit_id"]
    for t in (5, 10, 15):
        col = f"cov_elderly_nursing_home_{t}min"
        assert (bu.loc[mine, col] == 0.0).all() and (wu.loc[mine, col] == 0.0).all(), col
    # rejects: strip3 lists only the file's own faults; the rows beyond its reach are counted
    rej = pd.read_csv(area3 / "rejects.csv", encoding="utf-8-sig")
    assert not rej["reason"].str.contains("outside the study area").any()
    files = {f["file"]: f for f in json.loads((area3 / "summary.json").read_text(encoding="utf-8"))["facilities"]["files"]}
    f3 = files["one_nursing_home.csv"]
    assert f3["outside_area"] > 0 and f3["read"] == len(one) == f3["kept"] + f3["rejected"] + f3["outside_area"]
    # oracle for the count: the file's rows that pass the row checks (not a fault in strip3's rejects;
    # duplicates are judged after the cut), converted from GCJ-02 by hand-built points, beyond 1.8 km
    from circles.chinacoords import to_wgs84

    faulty = set(rej.loc[(rej["file"] == "one_nursing_home.csv") & ~rej["reason"].str.startswith("duplicate"), "row"])
    ok = one.reset_index(drop=True).assign(row=lambda d: d.index + 2)
    ok = ok[~ok["row"].isin(faulty)]
    lon, lat = to_wgs84(ok["经度"].astype(float).to_numpy(), ok["纬度"].astype(float).to_numpy(), "gcj02")
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(fac3.crs)
    area = gpd.read_file(b["out"] / "work" / "strip3_area.geojson").to_crs(fac3.crs).geometry.iloc[0]
    assert f3["outside_area"] == int((~shapely.covers(area.buffer(1800.0), pts.values)).sum())


def test_kept_population_window_gives_the_same_cells_as_reading_the_files(monkeypatch):
    """keep_population_window (the batch driver reads the rasters once before forking): a read inside
    the kept window is cut from it without opening a band file, a read reaching outside it opens the
    files; both give the cells, transform and people of a plain read (the oracle: no window kept)."""
    import rasterio

    from circles.io import population as po

    pattern = "pop_{age}_{sex}_wuhan_hankou.tif"
    kept_box = (W + 0.01, S + 0.01, E - 0.01, N - 0.01)
    inside = (W + 0.015, S + 0.012, E - 0.03, N - 0.02)  # an area's read within the kept box
    across = (W, S + 0.012, W + 0.03, N - 0.02)  # reaching past the kept box's west edge
    plain = {b: po.read_population_grid(DEMO / "pop", pattern=pattern, bounds_wgs84=b) for b in (inside, across)}
    opened = []
    real_open = rasterio.open
    monkeypatch.setattr(po.rasterio, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    try:
        n = po.keep_population_window(po.band_files(DEMO / "pop", pattern), kept_box)
        assert n == len(po.band_files(DEMO / "pop", pattern)) > 0
        for b, expect_open in ((inside, False), (across, True)):
            opened.clear()
            got = po.read_population_grid(DEMO / "pop", pattern=pattern, bounds_wgs84=b)
            assert bool(opened) == expect_open
            assert got.transform == plain[b].transform and got.crs == plain[b].crs
            for group in ("total", "elderly", "infants"):
                assert np.array_equal(getattr(got, group), getattr(plain[b], group)), group
            assert got.total.sum() > 0
        # kept_people (the batch's order): the kept bands' people in cells whose centre lies in a polygon;
        # oracle: every band file read whole with rasterio, cell centres tested with shapely
        poly = shapely.box(W + 0.02, S + 0.015, W + 0.045, N - 0.02).union(shapely.box(W + 0.03, S + 0.01, E - 0.02, S + 0.02))
        expect = 0.0
        for f in po.band_files(DEMO / "pop", pattern):
            with real_open(f) as src:
                v = src.read(1, masked=True).astype("float64").filled(0.0)
                rows, cols = np.indices(v.shape)
                xs, ys = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel())
                expect += v.ravel()[shapely.contains_xy(poly, np.asarray(xs), np.asarray(ys))].sum()
        assert expect > 0 and po.kept_people(poly) == pytest.approx(expect, rel=1e-12)
        # a window set larger than KEEP_MAX_BYTES is not kept (the areas read the files)
        monkeypatch.setattr(po, "KEEP_MAX_BYTES", 1000)
        assert po.keep_population_window(po.band_files(DEMO / "pop", pattern), kept_box) == 0
        assert po._KEPT_BANDS == {}
    finally:
        po.keep_population_window((), None)
    assert po.kept_people(shapely.box(W, S, E, N)) == 0.0  # nothing kept: no estimate
    assert po._KEPT_BANDS == {}


def test_read_before_fork_reads_the_people_when_the_osm_file_is_bad(tmp_path):
    """An OSM file that cannot be parsed before forking is left to the areas (each reports it), but the
    population cells are still read and every area's polygon kept for the most-people-first order (the
    parse and the area reads shared one ``try``: the order stopped silently). Oracle for the polygons:
    each area's file as split_areas wrote it, read with geopandas."""
    from circles.batch import _most_people_first, _read_before_fork
    from circles.io import network as nw
    from circles.io import population as po

    tasks = split_areas(load_batch(_batch_file(tmp_path, "split", STRIPS)), tmp_path / "work")
    (tmp_path / "bad.osm.pbf").write_bytes(b"not a PBF file")
    for t in tasks:
        t["study"]["network"]["path"] = str(tmp_path / "bad.osm.pbf")
    try:
        with pytest.raises(InputFileError):  # the case: the parse before forking fails
            nw.parse_osm_now(tmp_path / "bad.osm.pbf")
        _, areas = _read_before_fork(tasks, tmp_path / "out")
        assert set(areas) == {t["safe"] for t in tasks}
        for t in tasks:
            drawn = gpd.read_file(t["study"]["study"]["area"]).geometry.iloc[0]
            assert areas[t["safe"]].equals(drawn), t["area"]
        people = {t["area"]: po.kept_people(areas[t["safe"]]) for t in tasks}
        assert min(people.values()) > 0
        assert [t["area"] for t in _most_people_first(tasks, areas)] == sorted(people, key=lambda a: -people[a])
    finally:
        po.keep_population_window((), None)
        nw.keep_parsed_osm(False)

def test_units_file_is_read_once_when_it_makes_the_study_area(monkeypatch):
    """A study without study.area (tests/data/community_polygons.toml: the area is the union of its
    three communities) reads its units file once: the study area and the units share the read. The
    oracle for the units: load_units with the area clip, as the load stage did before."""
    from pathlib import Path

    from circles.io.units import load_units
    from circles.stages.load import load_inputs
    from circles.study import load_study

    study = load_study(Path(__file__).parent / "data" / "community_polygons.toml")
    assert study.area is None and study.units.path is not None
    reads = []
    real = gpd.read_file
    monkeypatch.setattr(gpd, "read_file", lambda p, *a, **k: reads.append(Path(p).name) or real(p, *a, **k))
    inputs = load_inputs(study)
    assert reads.count(Path(study.units.path).name) == 1
    monkeypatch.setattr(gpd, "read_file", real)
    expect = load_units(study.units.path, crs=inputs.crs, area=inputs.area, name_column=study.units.name_column,
                        code_column=study.units.code_column, invalid=study.units.invalid)
    got = inputs.units
    assert list(got["unit_id"]) == list(expect["unit_id"]) and len(got) == 3
    assert shapely.equals_exact(got.geometry.values, expect.geometry.values, tolerance=0).all()
    assert got.attrs["outside_area"] == expect.attrs["outside_area"]


def test_units_file_parents_and_attributes_reach_each_area(tmp_path):
    """A batch whose ``[defaults.units]`` file has no street column but ``parents`` polygons, and an
    ``area_type`` column (the fuzhou preset's old/new-area ``where`` filters): every unit of every area
    has the parent, the attribute and the figures of one `circles run` of the same study. (The areas'
    units had parent "" and no attributes: the street indicator read "needs_streets" and the old/new-area
    ones "no_attribute".) The units are the demo's grid cells as a file; the strips are the parents."""
    from circles.io.units import grid_units
    from circles.pipeline import run
    from circles.study import study_from_dict, tomllib

    crs = "EPSG:32650"
    grid = grid_units(gpd.read_file(DEMO / "area.geojson").to_crs(crs).geometry.iloc[0], crs=crs, cell_size_m=1000.0)
    cells = gpd.GeoDataFrame({"code": grid["unit_id"], "name": "cell " + grid["unit_id"],
                              "area_type": ["old" if i % 2 else "new" for i in range(len(grid))]},
                             geometry=grid.geometry.values, crs=crs).to_crs(4326)
    cells.to_file(tmp_path / "cells.geojson", driver="GeoJSON")
    f = _batch_file(tmp_path, "strips", STRIPS)  # also writes the strips, named strip1-3, to strips.geojson
    f.write_text(f.read_text(encoding="utf-8")
                 .replace("grid_size_m = 1000", 'path = "cells.geojson"')
                 .replace(str(DEMO / "districts.geojson"), "strips.geojson")
                 .replace('preset = "national"', 'preset = "fuzhou"')
                 .replace('output_dir = "out"\n', 'output_dir = "out"\nreport = false\n'), encoding="utf-8")
    b = run_batch(f, n_workers=2)
    assert set(b["table"]["status"]) == {"done"}, b["table"].get("error")
    # the oracle: one run of the demo study with the same units, parents and preset
    raw = tomllib.loads((DEMO / "study.toml").read_text(encoding="utf-8"))
    raw["units"] = {"path": str(tmp_path / "cells.geojson"), "parents": str(tmp_path / "strips.geojson"),
                    "parent_name_column": "name"}
    raw["targets"]["preset"] = "fuzhou"
    res, folder = run(study_from_dict(raw, base=DEMO), folder=tmp_path / "one", report=False)
    bu = gpd.read_file(b["merged"], layer="units").set_index("unit_id").sort_index()
    ru = gpd.read_file(folder / "coverage.gpkg", layer="units").set_index("unit_id").sort_index()
    assert list(bu.index) == list(ru.index) and len(bu) == 49
    assert set(ru["parent"]) == {"strip1", "strip2", "strip3"}
    assert bu["parent"].equals(ru["parent"])
    # the attribute as the input file holds it, read with geopandas
    assert "attr_area_type" in bu and bu["attr_area_type"].equals(cells.set_index("code")["area_type"].loc[bu.index])
    # every column before siting: parent, street and community counts, each indicator's status and gap
    cols = [c for c in ru.columns if c != "geometry" and not c.endswith("_after")]
    assert {"parent", "status_street_centre_coverage", "status_slots_per_1000_old_areas"} <= set(cols)
    pd.testing.assert_frame_equal(bu[cols], ru[cols], check_exact=False, rtol=1e-9, atol=1e-9)
    one = res.summary["targets"]["not_assessable_codes"]
    assert not {c["code"] for c in one.values()} & {"needs_streets", "no_attribute"}
    for area in (b["out"] / "areas").iterdir():
        s = json.loads((area / "summary.json").read_text(encoding="utf-8"))
        assert s["targets"]["not_assessable_codes"] == one, area.name


def test_units_file_column_named_like_a_batch_column_is_refused(tmp_path):
    """A units file whose code column is ``code`` and which also has a ``unit_id`` column: the batch writes
    each area's units with their code as ``unit_id``, so that column would be lost; one line naming the file."""
    from circles.io.units import grid_units

    crs = "EPSG:32650"
    grid = grid_units(gpd.read_file(DEMO / "area.geojson").to_crs(crs).geometry.iloc[0], crs=crs, cell_size_m=1000.0)
    gpd.GeoDataFrame({"code": grid["unit_id"], "unit_id": "x"}, geometry=grid.geometry.values, crs=crs) \
        .to_file(tmp_path / "cells.geojson", driver="GeoJSON")
    f = _batch_file(tmp_path, "strips", STRIPS)
    f.write_text(f.read_text(encoding="utf-8").replace("grid_size_m = 1000", 'path = "cells.geojson"'), encoding="utf-8")
    with pytest.raises(StudyError, match=re.escape(f"{tmp_path / 'cells.geojson'}: column 'unit_id' is neither")) as err:
        split_areas(load_batch(f), tmp_path / "work")
    assert "\n" not in str(err.value)
