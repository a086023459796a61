"""The house of issue 20: typed stage results, one candidate matrix, the one search limit, suggest's baseline.

Each number is checked against an independent computation: a fresh run, a fresh search
of the travel engine, or the rule written out by hand.
"""

from __future__ import annotations

import copy
import dataclasses
import gc

import numpy as np
import pytest

from circles import rules
from circles.pipeline import _results_frozen, analyse, suggest
from circles.results import CandidateTimes, Inputs, Isochrones, Scores, Siting, Travel, WhatIf
from circles.study import load_study
from circles.travel import subset

from conftest import DEMO


@pytest.fixture(scope="module")
def demo_default():
    """The demo as `circles score` analyses it: no siting, so the default 30-minute search limit."""
    study = load_study(DEMO / "study.toml")
    study.siting.n_sites = 0
    return analyse(study)


def test_search_limit_rule_by_hand():
    # twice the longest threshold, never below the longest threshold or the siting threshold
    assert rules.search_limit([5, 10, 15]) == 30 * 60.0
    assert rules.search_limit([5, 10, 15], max_time_min=12) == 15 * 60.0
    assert rules.search_limit([5, 10, 15], siting_threshold_min=45) == 45 * 60.0
    assert rules.search_limit([5, 10, 15], max_time_min=50, siting_threshold_min=45) == 50 * 60.0


def test_suggest_past_the_runs_search_limit_matches_a_fresh_run(demo_default):
    """Issue 20's defect: times reused from a 30-minute search counted people at 30-45 min as uncovered."""
    res = demo_default
    assert res.travel.limit_s == 30 * 60.0
    _, info = suggest(res, "nursery", n_sites=2, threshold_min=45)
    fresh_study = copy.deepcopy(res.study)
    fresh_study.siting.kinds, fresh_study.siting.n_sites, fresh_study.siting.threshold_min = ["nursery"], 2, 45
    fresh = analyse(fresh_study)
    assert fresh.travel.limit_s == 45 * 60.0  # the oracle run searched to the siting threshold
    want = fresh.summary["siting"]["nursery"]
    assert info["nursery"]["share_before"] == pytest.approx(want["share_before"], rel=1e-12)
    assert info["nursery"]["share_after"] == pytest.approx(want["share_after"], rel=1e-12)
    # and by hand from the fresh run's own times: infants within 45 minutes of a nursery now
    t = fresh.points["time_s_nursery"].to_numpy()
    w = fresh.points["infants"].to_numpy(float)
    assert info["nursery"]["share_before"] == pytest.approx(w[t <= 45 * 60].sum() / w.sum(), rel=1e-12)
    # the defect's number is what the old limit gives: some people lie between 30 and 45 minutes
    t_old = res.points["time_s_nursery"].to_numpy()
    assert w[t_old <= 45 * 60].sum() < w[t <= 45 * 60].sum()


def test_candidate_times_equal_a_fresh_search(demo_run):
    """Every consumer's view of the one candidate matrix equals the engine searched afresh for it."""
    res, _ = demo_run
    ct = res.siting.candidates
    assert isinstance(ct, CandidateTimes)
    s = res.study.siting
    assert ct.cutoff_s == max(s.threshold_min, max(res.study.travel.thresholds_min)) * 60.0
    net, tr = res.net, res.travel
    kind = s.kinds[0]
    cands = ct.sets[kind]
    fresh_snap = net.snap_points(cands, max_offroad_m=res.study.travel.max_offroad_m)
    want = net.times_to_points(fresh_snap, tr.point_snap, cutoff_s=s.threshold_min * 60.0).tocsr()
    got = ct.to_points(ct.rows(cands.geometry.values), s.threshold_min * 60.0)
    assert got.shape == want.shape and got.nnz == want.nnz > 0
    assert abs(got - want).max() <= 1e-9 * want.max()
    # the after-state's sites are rows of the matrix, snapped as a fresh snap would
    rows = res.siting.after.rows
    again = net.snap_points(res.siting.after.new, max_offroad_m=res.study.travel.max_offroad_m)
    assert np.array_equal(subset(ct.snap, rows).edge, again.edge)
    assert np.allclose(subset(ct.snap, rows).offroad_m, again.offroad_m, rtol=0, atol=1e-9)
    # the catchment view used to score after siting: every demand point, cut at the longest threshold
    tmax = tr.tmax_s
    want_d = net.times_to_points(again, tr.demand_snap, cutoff_s=tmax).tocsr()
    got_d = ct.to_demand(rows, tmax)
    assert got_d.nnz == want_d.nnz and abs(got_d - want_d).max() <= 1e-9 * tmax
    with pytest.raises(ValueError, match="cut at"):
        ct.to_demand(rows, ct.cutoff_s + 60)


def test_run_result_is_typed_stage_results(demo_run):
    res, _ = demo_run
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.units = None
    for name, cls in (("inputs", Inputs), ("travel", Travel), ("scores", Scores), ("siting", Siting),
                      ("whatif_result", WhatIf), ("isos", Isochrones)):
        part = getattr(res, name)
        assert isinstance(part, cls)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(part, dataclasses.fields(part)[0].name, None)
    # the one search limit, evaluated once, is what the summary reports
    assert res.summary["travel"]["search_limit_min"] == pytest.approx(rules.search_limit_s(res.study) / 60.0)
    assert res.inputs.limit_s == res.travel.limit_s == rules.search_limit_s(res.study)
    # the public attributes read through to the stage results
    assert res.net is res.travel.net and res.sites is res.siting.sites and res.whatif is res.whatif_result.payload
    assert res.facilities is res.travel.facilities and res.point_snap is res.travel.point_snap


def test_analyse_alone_feeds_a_full_report(demo_default, tmp_path):
    """The map layers (water, outlines) are made from the run result: no write_outputs needed."""
    from circles.report import report_data, write_report

    data = report_data(demo_default)
    assert data.water is not None and data.outlines is not None
    out = write_report(data, tmp_path)
    assert out.exists() and out.stat().st_size > 10_000


@pytest.mark.usefixtures("demo_run")
def test_a_run_leaves_the_collector_unfrozen_and_a_callers_freeze_alone():
    """analyse freezes what each stage leaves (gc.freeze) and unfreezes at the end, also on an error;
    a caller that froze objects itself keeps its freeze (README: the garbage-collector freeze)."""
    assert gc.get_freeze_count() == 0  # the demo run (a fixture) is over: nothing left frozen
    with pytest.raises(RuntimeError, match="a stage failed"):
        with _results_frozen() as owner:
            assert owner
            gc.freeze()
            assert gc.get_freeze_count() > 0
            raise RuntimeError("a stage failed")
    assert gc.get_freeze_count() == 0
    gc.freeze()  # the caller's own freeze
    frozen = gc.get_freeze_count()
    try:
        with _results_frozen() as owner:
            assert not owner
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
