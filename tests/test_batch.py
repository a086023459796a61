"""Batch runs on Dask: an area cut out of the demo gives the same per-unit results as one run."""

from __future__ import annotations


import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from circles.batch import run_batch
from conftest import DEMO

STRIPS = [(114.2396, 114.2626), (114.2626, 114.2856), (114.2856, 114.3096)]


def _batch_file(tmp, name, boxes, extra=""):
    areas = gpd.GeoDataFrame({"name": [f"strip{i + 1}" for i in range(len(boxes))]},
                             geometry=[shapely.box(a, 30.5604, b, 30.6204) for a, b in boxes], crs=4326)
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
    whole = _batch_file(tmp, "whole", [(114.2396, 114.3096)])
    b = run_batch(split, n_workers=2)
    w = run_batch(whole, n_workers=1)
    return b, w, split


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
