"""Suspicious input: a gazetteer declared in the wrong coordinate system is named, with the better fit.

Oracles: the file names of tests/data/real_points_{wgs84,gcj02,bd09}.csv say which system
each file is truly in (the same 50 real points, shifted by the published formulas; 48 are
nodes of the Wuhan road sample, so under the right system they lie on the road); the demo
gazetteer is GCJ-02 by construction (scripts/build_demo.py draws it in WGS84 on populated
cells and shifts it with wgs84_to_gcj02).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from circles.checks import coordinate_fit, nearest_neighbour_median_m
from circles.io.facilities import load_facilities
from circles.io.network import load_network
from conftest import DEMO, METRIC, MUST_SHOW, TESTDATA


@pytest.fixture(scope="module")
def demo_edges():
    _, edges = load_network(DEMO / "roads_osm_sample.geojson", crs=METRIC, node_crossings=True, join_tolerance_m=20)
    return edges


@pytest.mark.parametrize("truth", ["wgs84", "gcj02", "bd09"])
@pytest.mark.parametrize("declared", ["wgs84", "gcj02", "bd09"])
def test_road_fit_names_the_true_system(demo_edges, truth, declared):
    fac, _ = load_facilities(TESTDATA / f"real_points_{truth}.csv", crs=METRIC, coords=declared)
    xmin, ymin, xmax, ymax = demo_edges.total_bounds
    fac = fac[fac.geometry.x.between(xmin, xmax) & fac.geometry.y.between(ymin, ymax)]
    fit = coordinate_fit(fac, declared, demo_edges, source=f"real_points_{truth}.csv")
    # road nodes read in the right system are on the road; the others a shift (>= 100 m) away
    assert fit["median_m"][truth] < 1.0
    assert min(v for k, v in fit["median_m"].items() if k != truth) > 60
    if declared == truth:
        assert fit["better"] is None and fit["message"] is None
    else:
        assert fit["better"] == truth
        assert f'coords = "{truth}"' in fit["message"] and f"real_points_{truth}.csv" in fit["message"]


def test_demo_misdeclared_as_wgs84_warns_gcj02(tmp_path, caplog):
    """The real demo, its GCJ-02 gazetteer declared as WGS84: a warning naming gcj02 (log and summary.json)."""
    from circles.pipeline import run
    from circles.study import load_study

    study = load_study(DEMO / "study.toml")
    study.facilities[0].coords = "wgs84"
    study.siting.n_sites = 0
    with caplog.at_level("WARNING", logger="circles"):
        res, folder = run(study, folder=tmp_path / "wrong")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    fit = summary["coordinate_fit"][0]
    assert fit["declared"] == "wgs84" and fit["better"] == "gcj02"
    # one coordinate warning (the demo's kindergarten places are warned about too: tests/test_leadership.py)
    coord = [w for w in summary["warnings"] if "coords" in w]
    assert len(coord) == 1 and 'coords = "gcj02"' in coord[0]
    MUST_SHOW.append(f"demo gazetteer declared wgs84, warned: {coord[0]}")
    assert any('coords = "gcj02"' in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    # the facilities were drawn on populated cells, then moved to the nearest road node (a few metres,
    # rarely onto an empty riverside cell): read as GCJ-02 almost none is on an empty cell
    assert fit["unpopulated_share"]["gcj02"] <= 0.05 and fit["unpopulated_share"]["wgs84"] >= 0.10
    print("\ndemo gazetteer medians to the nearest road (m):", fit["median_m"],
          "share on unpopulated cells:", fit["unpopulated_share"])


def test_demo_declared_right_does_not_warn(demo_run):
    res, folder = demo_run
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["coordinate_fit"][0]["declared"] == "gcj02"
    assert summary["coordinate_fit"][0]["better"] is None
    assert [w for w in summary.get("warnings", []) if "coords" in w] == []


def test_nearest_neighbour_median_equals_geos_exclusive_search():
    """The cell size of the population fit: scipy's k-d tree against GEOS' nearest search (exclusive)."""
    rng = np.random.default_rng(7)
    gx, gy = np.meshgrid(np.arange(40) * 92.5, np.arange(30) * 81.0)
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    xy = xy[rng.random(len(xy)) < 0.7]
    xy = np.vstack([xy, xy[: len(xy) * 3 // 5], rng.random((50, 2)) * 3000])  # most points repeated: a
    # search that found a point's own copy would give a median of 0
    pts = shapely.points(xy)
    _, d = shapely.STRtree(pts).query_nearest(pts, return_distance=True, exclusive=True, all_matches=False)
    assert nearest_neighbour_median_m(xy) == pytest.approx(float(np.median(d)), abs=1e-9)
    assert np.isnan(nearest_neighbour_median_m(xy[:1]))
