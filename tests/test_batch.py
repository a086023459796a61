"""Batch runs on Dask: an area cut out of the demo gives the same per-unit results as one run."""

from __future__ import annotations


import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from circles.batch import load_batch, merge_outputs, run_batch, split_areas
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
