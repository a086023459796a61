"""Walking uphill through the whole pipeline (issue 23) on the generated ramp study ``tests/data/slope``.

The study (written by ``scripts/build_slope_study.py``): one 3 km road along ``y = Y0`` from
``X0`` east, on a DEM rising 10 % to the east; one day-care centre 20 m south of ``X0 + 1500``;
30 cells of 100 people (20 elderly) whose centres are 50 m north of the road. By hand, from
Tobler's formula: a home ``d`` metres west of a site walks uphill (g = +0.1), at
``exp(-3.5 x 0.15) / exp(-0.175) = exp(-0.35)`` of the flat speed; a home east of it walks
downhill (g = -0.1), at ``exp(-3.5 x 0.05) / exp(-0.175) = 1`` x the flat speed. Off-road legs
are flat. The flat-ground oracle is the same study run with its DEM removed.
"""

from __future__ import annotations

import copy
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from typer.testing import CliRunner

from circles.cli import app
from circles.isochrones import reachable_lines
from circles.methods import method_lines
from circles.pipeline import analyse
from circles.stages.travel import slope_times
from circles.study import load_study
from circles.travel import subset
from conftest import ROOT

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)

STUDY = Path(__file__).resolve().parent / "data" / "slope" / "study.toml"
X0, Y0 = 240_000.0, 3_386_000.0
UP = math.exp(0.35)  # time factor walking up a 10 % grade (Tobler, scaled to the flat speed)
DOWN = 1.0  # walking down a 10 % grade: exactly the flat speed
T15 = 900.0


def hand_time(x_home: np.ndarray, x_site: float, site_offroad_m: float, limit_s: float) -> np.ndarray:
    """Home (cell centre 50 m north of the road) -> site on the ramp, by hand."""
    d = np.abs(x_home - x_site)
    t = 50.0 + np.where(x_home < x_site, UP, DOWN) * d + site_offroad_m
    return np.where(t <= limit_s, t, np.inf)


@pytest.fixture(scope="module")
def runs():
    study = load_study(STUDY)
    flat_study = copy.deepcopy(study)
    flat_study.network.dem = None
    return analyse(study), analyse(flat_study)


def test_ramp_times_by_hand(runs):
    res, _ = runs
    p = res.points
    x = p.geometry.x.to_numpy() - X0
    assert np.allclose(p.geometry.y.to_numpy() - Y0, 50.0) and np.allclose(p["offroad_m"], 50.0)
    f = res.facilities
    xf, f_off = float(f.geometry.x.iloc[0]) - X0, float(abs(f.geometry.y.iloc[0] - Y0))
    assert xf == pytest.approx(1500.0, abs=1e-3) and f_off == pytest.approx(20.0, abs=1e-3)
    want = hand_time(x, xf, f_off, res.travel.limit_s)
    got = p["time_s_daycare"].to_numpy()
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    assert np.allclose(got[np.isfinite(want)], want[np.isfinite(want)], atol=1e-6)
    # the cell 550 m west: 50 + 550 e^0.35 + 20 = 850.5 s; 650 m west: 992.4 s (lost); 650 m east: 720 s
    assert got[np.isclose(x, 950)][0] == pytest.approx(70 + 550 * UP, abs=1e-3) and 70 + 550 * UP < T15
    assert got[np.isclose(x, 850)][0] > T15 and 70 + 650 < T15


def test_shares_and_people_lost_by_hand(runs):
    res, _ = runs
    p, u = res.points, res.units.set_index("unit_id")
    x, xf = p.geometry.x.to_numpy() - X0, float(res.facilities.geometry.x.iloc[0]) - X0
    f_off = float(abs(res.facilities.geometry.y.iloc[0] - Y0))
    sloped = hand_time(x, xf, f_off, np.inf) <= T15
    flat = 50.0 + np.abs(x - xf) + f_off <= T15
    w = p["elderly"].to_numpy()
    for unit, rows in p.groupby("unit_id").indices.items():
        assert u.loc[unit, "cov_elderly_any_15min"] == pytest.approx(w[rows][sloped[rows]].sum() / w[rows].sum())
        assert u.loc[unit, "cov_elderly_any_15min_flat"] == pytest.approx(w[rows][flat[rows]].sum() / w[rows].sum())
        assert u.loc[unit, "lost_to_slope_elderly_15min"] == pytest.approx(w[rows][flat[rows] & ~sloped[rows]].sum())
        assert u.loc[unit, "gained_by_slope_elderly_15min"] == 0.0  # downhill at 10 % is the flat speed
    lost = w[flat & ~sloped].sum()
    assert lost == 40.0  # two cells (650 and 750 m west) of 20 elderly
    s = res.summary["slope"]
    assert s["total"]["elderly"]["lost_people"] == lost
    assert s["total"]["elderly"]["share"] == pytest.approx(w[sloped].sum() / w.sum(), abs=1e-4)
    assert s["total"]["elderly"]["share_flat"] == pytest.approx(w[flat].sum() / w.sum(), abs=1e-4)
    assert {r["unit_id"]: r["elderly"]["lost_people"] for r in s["units"]} == \
        {k: float(u.loc[k, "lost_to_slope_elderly_15min"]) for k in u.index}
    assert s["dem"] == "dem.tif" and s["road_length_covered_share"] == 1.0 and s["edges_outside_dem"] == 0
    losers = res.summary["equity"]["slope"]["elderly"]
    assert [r["unit_id"] for r in losers] == [k for k in u.index if u.loc[k, "lost_to_slope_elderly_15min"] > 0]
    assert losers[0]["lost_people"] == lost


def test_flat_shares_equal_a_run_without_the_dem(runs):
    res, flat = runs
    assert flat.travel.slope is None and "slope" not in flat.summary
    assert not any(c.endswith("_flat") for c in flat.units.columns)
    cols = [c for c in res.units.columns if c.startswith("cov_") and c.endswith("_flat")]
    assert cols
    a = res.units.set_index("unit_id")
    b = flat.units.set_index("unit_id")
    for c in cols:
        assert np.allclose(a[c].to_numpy(float), b.loc[a.index, c[: -len("_flat")]].to_numpy(float), equal_nan=True), c
    o = res.scores.overall.iloc[0]
    assert o["cov_elderly_any_15min_flat"] == pytest.approx(flat.scores.overall.iloc[0]["cov_elderly_any_15min"])
    # the flat times themselves, within the longest threshold
    ft, fl = res.travel.flat_times["time_s_daycare"].to_numpy(), flat.points["time_s_daycare"].to_numpy()
    within = fl <= T15
    assert np.array_equal(ft <= T15, within) and np.allclose(ft[within], fl[within], atol=1e-9)
    # and slope made a difference here
    assert a["cov_elderly_any_15min"].sum() < b["cov_elderly_any_15min"].sum()


def test_siting_after_state_use_sloped_times(runs):
    res, _ = runs
    ct = res.siting.candidates
    assert ct is not None and res.travel.net.slope is not None
    x = res.points.geometry.x.to_numpy() - X0
    geoms = [g for t in ct.sets.values() for g in t.geometry] + list(ct.grid.geometry)
    checked = 0
    for g in geoms:
        row = ct.rows([g])[0]
        if not ct.snap.snapped[row] or not (X0 <= g.x <= X0 + 3000):
            continue
        want = hand_time(x, g.x - X0, abs(g.y - Y0), ct.cutoff_s)
        got = ct.to_points(np.array([row]), ct.cutoff_s).toarray()[0]
        got = np.where(got > 0, got, np.inf)
        assert np.array_equal(np.isfinite(got), np.isfinite(want))
        assert np.allclose(got[np.isfinite(want)], want[np.isfinite(want)], atol=1e-6)
        checked += 1
    assert checked >= 3
    # after-state: the nearest of the centre and the suggested site, by hand, with slope
    site = res.sites.geometry.iloc[0]
    t_after = np.minimum(hand_time(x, 1500.0, 20.0, np.inf), hand_time(x, site.x - X0, abs(site.y - Y0), np.inf))
    w, p = res.points["elderly"].to_numpy(), res.points
    for unit, rows in p.groupby("unit_id").indices.items():
        want = w[rows][t_after[rows] <= T15].sum() / w[rows].sum()
        assert res.units.set_index("unit_id").loc[unit, "cov_elderly_any_15min_after"] == pytest.approx(want, abs=1e-3)


def test_isochrone_reach_is_directed(runs):
    res, _ = runs
    net, fsnap = res.travel.net, res.travel.facility_snap
    node_time = net.node_times(fsnap)[0]
    pieces = reachable_lines(net, node_time, fsnap, T15)
    x0, _, x1, _ = shapely.union_all(pieces).bounds
    f_off = float(abs(res.facilities.geometry.y.iloc[0] - Y0))
    # uphill toward the site from the west: (900 - 20) / e^0.35 m; downhill from the east: 880 m
    assert x0 - X0 == pytest.approx(1500 - (T15 - f_off) / UP, abs=1e-3)
    assert x1 - X0 == pytest.approx(1500 + (T15 - f_off) / DOWN, abs=1e-3)
    assert len(res.isochrones) and subset(fsnap, np.array([0])).snapped.all()


def test_methods_credits_and_labels_in_both_languages(runs):
    res, _ = runs
    p = res.summary["methods"]
    en, zh = method_lines(p, "en"), method_lines(p, "zh")
    assert any("Tobler" in s and "dem.tif" in s and "0.2 m/s" in s and "0.0%" in s for s in en)
    assert any("Tobler" in s and "dem.tif" in s and "坡度" in s for s in zh)
    dem = [c for c in res.summary["credits"] if c["role"] == "dem"]
    assert dem and dem[0]["file"] == "dem.tif" and dem[0]["stated"] and dem[0]["licence"] == "CC0"


def test_dem_partly_outside_warns_with_counts(tmp_path):
    """A DEM that stops at X0 + 2100: the third road piece (1 km of 3) has no elevation and stays flat."""
    study = load_study(STUDY)
    with rasterio.open(study.network.dem) as src:
        z, prof = src.read(1), src.profile
        keep = int((X0 + 2100 - src.transform.c) // src.transform.a)
    prof.update(width=keep)
    cut = tmp_path / "dem_west.tif"
    with rasterio.open(cut, "w", **prof) as dst:
        dst.write(z[:, :keep], 1)
    study.network.dem = cut
    res = analyse(study)
    s = res.summary["slope"]
    assert s["edges_outside_dem"] == 1 and s["road_length_covered_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert any("1 road edges (33.3% of the road length read: the study area and its halo) are outside the DEM" in w for w in res.summary["warnings"])
    # east of the site the ramp is off the DEM now: flat, i.e. unchanged (downhill was the flat speed anyway)
    x = res.points.geometry.x.to_numpy() - X0
    want = hand_time(x, 1500.0, float(abs(res.facilities.geometry.y.iloc[0] - Y0)), res.travel.limit_s)
    assert np.allclose(res.points["time_s_daycare"].to_numpy()[np.isfinite(want)], want[np.isfinite(want)], atol=1e-6)


def test_drive_profile_ignores_the_dem(runs):
    res, _ = runs
    study = copy.deepcopy(res.study)
    study.network.profile = "drive"
    assert slope_times(study, res.inputs) == (None, "")


@pytest.mark.skipif(not shot.browser_available(), reason="needs Debian chromium + chromium-driver (.ci/run installs them)")
def test_page_lists_units_that_lose_most_and_states_the_rule(tmp_path):
    """The written page (headless Chromium): the equity panel's slope list and the methods line, as text."""
    out = tmp_path / "ramp"
    r = CliRunner().invoke(app, ["run", str(STUDY), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    driver = shot.open_page(out / "report.html")
    try:
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        items = driver.execute_script(
            "return [...document.querySelectorAll('li.equity-slope-unit')].map(x => x.textContent)")
        methods = driver.execute_script("return document.body.textContent")
    finally:
        driver.quit()
    # by hand: unit A01 (x 0-1000 m) has 10 cells of 20 elderly; on flat ground the cells 650, 750 and 550 m
    # west of the centre (x = 850, 750, 950) are within 15 min, with slope only the last: 30 % -> 10 %, 40 lose it
    assert items == ["A01: flat 30.0% -> with slope 10.0%, 40 people lose it"]
    assert "Tobler" in methods and "dem.tif" in methods
