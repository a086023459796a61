"""A study with ``profile = "drive"`` end to end (travel, isochrones, siting) against a networkx
DiGraph the test builds from the same OSM file with the one-way rules applied by hand.

The demo's roads hold 576 ``oneway=yes`` ways, 5 ``oneway=-1`` ways and a roundabout, so the demo
with ``profile = "drive"`` exercises every one-way rule. A trip runs from home to facility
(README "Direction"), on the road at its class speed and off the road at walking speed.
"""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import oracle
from conftest import DEMO

CRS = "EPSG:32650"


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    from circles.pipeline import run
    from circles.study import load_study

    d = tmp_path_factory.mktemp("drive") / "study"
    shutil.copytree(DEMO, d)
    toml = (d / "study.toml").read_text(encoding="utf-8")
    assert 'profile = "walk"' in toml
    (d / "study.toml").write_text(toml.replace('profile = "walk"', 'profile = "drive"')
                                  .replace("n_sites = 5", "n_sites = 3"), encoding="utf-8")
    res, folder = run(load_study(d / "study.toml"), folder=d.parent / "out")
    ways = oracle.osm_drive_ways(DEMO / "roads.osm.pbf", CRS)
    seg = oracle.DriveSegments(ways, walk_speed_mps=1.0)
    pts = gpd.read_file(folder / "coverage.gpkg", layer="population_points")
    homes = seg.snap(np.c_[pts.geometry.x, pts.geometry.y], 500)
    fac = gpd.read_file(folder / "coverage.gpkg", layer="facilities")
    a = oracle.read_gazetteer(DEMO / "facilities_illustrative.csv", "gcj02", CRS)
    b = oracle.read_gazetteer(DEMO / "facilities_osm_real.csv", "wgs84", CRS)
    a["source_file"], b["source_file"] = "facilities_illustrative.csv", "facilities_osm_real.csv"
    a["source_row"], b["source_row"] = a.index + 2, b.index + 2
    fac = fac[["source_file", "source_row", "kind"]].merge(pd.concat([a, b]), on=["source_file", "source_row"],
                                                           suffixes=("", "_oracle"))
    fsnap = seg.snap(np.c_[fac["x"], fac["y"]], 500)
    return dict(res=res, folder=folder, seg=seg, ways=ways, pts=pts, homes=homes, fac=fac, fsnap=fsnap)


def test_one_way_rules_are_in_the_file(drive):
    """The oracle's graph really is directed: one-way, reversed (-1) and roundabout ways are there."""
    ways = drive["ways"]
    assert sum(one for _, one, _ in ways) > 500
    seg = drive["seg"]
    assert seg.graph.number_of_edges() < 2 * len(seg.a)  # some segments run one way only


KINDS = ("daycare", "nursing_home", "meal_point", "elderly_centre", "nursery")


def _junction_homes(drive) -> np.ndarray:
    """Homes whose nearest road point is a junction at the end of a one-way segment (see the xfail below)."""
    h, seg = drive["homes"], drive["seg"]
    i = h["seg"].clip(lower=0).to_numpy()
    at_end = (h["along_m"].to_numpy() <= 1e-9) | (h["along_m"].to_numpy() >= seg.length[i] - 1e-9)
    return at_end & seg.one[i] & (h["seg"].to_numpy() >= 0)


def test_drive_times_equal_a_directed_networkx_search(drive):
    """Per cell and kind: home -> nearest facility on the DiGraph (one-way streets followed, class
    speeds, off-road legs walked), to 1e-6 s; and not the same as ignoring one-way rules.
    Homes snapped exactly onto a junction at a one-way segment's end are left to the xfail below."""
    pts, seg, fac, fsnap, homes = drive["pts"], drive["seg"], drive["fac"], drive["fsnap"], drive["homes"]
    keep = ~_junction_homes(drive)
    checked = differs = 0
    for kind in KINDS:
        m = (fac["kind"] == kind).to_numpy()
        ours = seg.times_to(fsnap[m], homes, cutoff_s=1800)[keep]
        got = pts[f"time_s_{kind}"].to_numpy()[keep]
        assert np.array_equal(np.isfinite(ours), np.isfinite(got)), kind
        fin = np.isfinite(ours)
        assert np.max(np.abs(ours[fin] - got[fin])) < 1e-6, kind
        checked += int(fin.sum())
        # the same search with every street two-way gives other times: the rules matter here
        two = oracle.DriveSegments([(w, False, k) for w, _, k in drive["ways"]], walk_speed_mps=1.0)
        t2 = two.times_to(fsnap[m], homes, cutoff_s=1800)[keep]
        differs += int((np.abs(t2[fin] - ours[fin]) > 1e-3).sum())
    assert checked > 10000 and differs > 100


def test_drive_times_of_homes_at_one_way_junctions(drive):
    """Homes whose nearest road point is a junction where a one-way street starts (or ends): at the
    junction a home may take any road leaving it, not only the edge it was snapped to (3 cells of the
    demo were up to 116 s too long before the fix)."""
    pts, seg, fac, fsnap, homes = drive["pts"], drive["seg"], drive["fac"], drive["fsnap"], drive["homes"]
    j = _junction_homes(drive)
    assert j.sum() > 0
    for kind in KINDS:
        m = (fac["kind"] == kind).to_numpy()
        ours = seg.times_to(fsnap[m], homes, cutoff_s=1800)[j]
        got = pts[f"time_s_{kind}"].to_numpy()[j]
        fin = np.isfinite(ours)
        assert np.array_equal(fin, np.isfinite(got)) and np.max(np.abs(ours[fin] - got[fin])) < 1e-6, kind


def test_drive_isochrones_hold_the_roads_reached(drive):
    """Every road node from which the oracle reaches a nursery within 4 min 50 s (home -> facility,
    one-way streets followed) lies in the 5-minute nursery isochrone (to 1 m); most nodes more than
    6 min 40 s away lie outside it. (With the direction reversed, 26 reached nodes fall outside.)"""
    iso = gpd.read_file(drive["folder"] / "coverage.gpkg", layer="isochrones")
    row = iso[(iso["kind"] == "nursery") & (iso["minutes"] == 5)]
    assert len(row) == 1
    m = (drive["fac"]["kind"] == "nursery").to_numpy()
    nt = drive["seg"].node_times(drive["fsnap"][m])
    t = np.array(list(nt.values()))
    xy = np.array([drive["seg"].xy[n] for n in nt])
    inside = shapely.dwithin(row.geometry.iloc[0], shapely.points(xy), 1.0)
    assert (t <= 290).sum() > 1000
    assert inside[t <= 290].all()
    assert inside[t > 400].mean() < 0.25


def test_drive_siting_objective_and_after_state(drive):
    """The suggested sites on the drive network: people newly covered within the siting threshold,
    recomputed on the oracle's DiGraph, equal the run's covered_before / covered_after (1e-9 relative)."""
    res, seg, homes = drive["res"], drive["seg"], drive["homes"]
    sites = gpd.read_file(drive["folder"] / "coverage.gpkg", layer="suggested_sites")
    pts = drive["pts"]
    for kind, info in res.summary["siting"].items():
        chosen = sites[sites["kind"] == kind]
        assert len(chosen) == info["n_sites"]
        snap = seg.snap(np.c_[chosen.geometry.x, chosen.geometry.y], 500)
        t_new = seg.times_to(snap, homes, cutoff_s=1800)
        m = (drive["fac"]["kind"] == kind).to_numpy()
        t_old = seg.times_to(drive["fsnap"][m], homes, cutoff_s=1800)
        w = pts[info["group"]].to_numpy()
        thr = info["threshold_min"] * 60
        before = w[t_old <= thr].sum()
        after = w[np.minimum(t_old, t_new) <= thr].sum()
        # the junction homes of the xfail above may differ; everything else must agree exactly
        t_run = pts[f"time_s_{kind}"].fillna(np.inf).to_numpy()
        odd = _junction_homes(drive) & (np.abs(np.where(np.isfinite(t_old), t_old, 1e9) -
                                               np.where(np.isfinite(t_run), t_run, 1e9)) > 1e-6)
        slack = w[odd].sum() + 1e-6
        assert abs(info["covered_before"] - before) <= slack
        assert abs(info["covered_after"] - after) <= slack
        assert after - before > 10 * slack
