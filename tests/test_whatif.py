"""The what-if engine (circles/whatif.py + assets/whatif.js) against independent recomputation."""

from __future__ import annotations

import base64
import json
import shutil
import struct

import numpy as np
import pytest

from circles import display, whatif


def test_suggested_sites_give_the_pipelines_after_state(demo_run):
    """Choosing every suggested site from the payload alone reproduces the pipeline's after-state
    (a full re-score with the sites added as facilities: coverage, 2SFCA, targets)."""
    res, _ = demo_run
    p = res.whatif
    got = whatif.evaluate(p, whatif.chosen_suggested(p))
    pts = res.points
    for g in ("elderly", "infants"):  # the unrounded after-state, not summary.json's 4 decimals
        t, w = pts[f"time_s_{g}_any_after"].to_numpy(), pts[g].to_numpy()
        for m in res.summary["thresholds_min"]:
            assert got["coverage"][g][f"{m:g}min"] == pytest.approx(w[t <= m * 60].sum() / w.sum(), abs=1e-6), (g, m)
    for r in res.summary["targets_after"]:  # summary.json holds 4 decimals: equal once rounded alike
        assert round(got["indicators"][r["indicator"]], 4) == pytest.approx(r["measured"], abs=1e-12), r["indicator"]


def test_payload_arrays_read_back_as_written(demo_run):
    """The one codec of the payload's arrays (display.encode_array / decode_array): bytes packed by
    hand with ``struct`` (little-endian) read back as their values, and the run's payload read back
    as the pipeline's own columns."""
    for code, fmt, values in (("u2", "H", (0, 300, 65535)), ("i4", "i", (-7, 0, 2**31 - 1)),
                              ("f4", "f", (0.5, -1.25, 1e6))):
        text = base64.b64encode(struct.pack(f"<3{fmt}", *values)).decode()
        assert display.decode_array(text, code).tolist() == list(values), code
        assert display.encode_array(np.array(values), code) == text, code
    res, _ = demo_run
    p = res.whatif
    for g, w in whatif.weights(p).items():
        assert np.array_equal(w, res.points[g].to_numpy(dtype=np.float32).astype(float)), g
    unit = display.decode_array(p["point_unit"], "i4")
    ids = np.array(p["units"]["id"], dtype=object)
    assert (ids[unit] == res.points["unit_id"].astype(str).to_numpy()).all()
    ptr, idx = (display.decode_array(p["matrix"][k], "i4") for k in ("ptr", "idx"))
    assert len(ptr) == len(p["candidates"]["lon"]) + 1 and ptr[-1] == len(idx) == \
        len(display.decode_array(p["matrix"]["t"], "u2"))


def test_any_chosen_grid_sites_match_a_fresh_network_search(demo_run):
    """Three candidate-grid sites built as nurseries: coverage equals nearest-time search from scratch."""
    res, _ = demo_run
    p = res.whatif
    grid = [i for i, s in enumerate(p["candidates"]["suggested"]) if not s and p["candidates"]["snapped"][i]]
    chosen = [grid[0], grid[len(grid) // 2], grid[-1]]
    got = whatif.evaluate(p, [(i, "nursery") for i in chosen])
    cands = whatif.candidate_sites(res.study, res.net, res.nodes, res.area, res.sites)
    snap = res.net.snap_points(cands.iloc[chosen], max_offroad_m=res.study.travel.max_offroad_m)
    t_new = res.net.nearest_times(snap, res.point_snap)
    pts = res.points
    t_inf = np.minimum.reduce([pts[f"time_s_{k}"].to_numpy() for k in ("nursery", "kindergarten")] + [t_new])
    w = pts["infants"].to_numpy()
    for m in res.summary["thresholds_min"]:
        expect = w[t_inf <= m * 60].sum() / w.sum()
        assert got["coverage"]["infants"][f"{m:g}min"] == pytest.approx(expect, abs=1e-9)
    # the elderly are untouched by nurseries
    t, w = pts["time_s_elderly_any"].to_numpy(), pts["elderly"].to_numpy()
    for m in res.summary["thresholds_min"]:
        assert got["coverage"]["elderly"][f"{m:g}min"] == pytest.approx(w[t <= m * 60].sum() / w.sum(), abs=1e-6)


def test_whatif_js_equals_the_python_twin(demo_run, whatif_page):
    """whatif.js in headless Chromium (not node: issue 24) on the written whatif.json."""
    res, folder = demo_run
    p = json.loads((folder / "whatif.json").read_text(encoding="utf-8"))
    chosen = [[i, k] for i, (k, s) in enumerate(zip(p["candidates"]["kind"], p["candidates"]["suggested"])) if s]
    out = whatif_page.evaluate(p, {"all": chosen})["all"]["study"]
    twin = whatif.evaluate(p, [tuple(c) for c in chosen])
    for g in ("elderly", "infants"):
        assert out["coverage"][g] == pytest.approx(twin["coverage"][g], abs=1e-12)
    for k, v in twin["indicators"].items():
        assert out["indicators"][k]["measured"] == pytest.approx(v, rel=1e-6)
    after = {r["indicator"]: r for r in res.summary["targets_after"]}
    for k, r in after.items():
        assert out["indicators"][k]["status"] == r["status"] and out["indicators"][k]["gap"] == r["gap"]


def test_community_indicators_follow_the_sites_built(tmp_path):
    """The plans' literal community counts (communities with a day-care centre ...): choosing the
    suggested sites in the page's engine gives the pipeline's after-state."""
    from circles.pipeline import analyse
    from circles.study import load_study
    from conftest import TESTDATA

    res = analyse(load_study(TESTDATA / "community" / "study.toml"))
    p = res.whatif
    assert set(p["community"]) >= {"comm_cov_daycare"}
    got = whatif.evaluate(p, whatif.chosen_suggested(p))
    after = {r["indicator"]: r for r in res.summary["targets_after"]}
    metric = {i["id"]: i for i in p["indicators"]}
    checked = 0
    for ind_id, value in got["indicators"].items():
        if metric[ind_id]["metric"] in p["community"] or metric[ind_id]["metric"].startswith("cov_"):
            assert round(value, 4) == pytest.approx(after[ind_id]["measured"], abs=1e-12), ind_id
            checked += 1
    assert checked >= 2
    # an indicator measured on a subset of units (a where filter) is left to the pipeline
    assert all(i not in got["indicators"] for i, m in metric.items() if m["where"])


def test_whatif_js_community_counts_and_gaps(whatif_page):
    """whatif.js on the community study: every indicator it recomputes has the after-state's status and gap."""
    from circles.pipeline import analyse
    from circles.study import load_study
    from conftest import TESTDATA

    res = analyse(load_study(TESTDATA / "community" / "study.toml"))
    chosen = [list(c) for c in whatif.chosen_suggested(res.whatif)]
    r = whatif_page.evaluate(json.loads(json.dumps(res.whatif)), {"all": chosen})["all"]
    inds, units_fail = r["study"]["indicators"], r["units_fail"]
    after = {r["indicator"]: r for r in res.summary["targets_after"]}
    done = {k: v for k, v in inds.items() if v is not None and v["status"] != "not assessable"}  # NA: nothing recomputed
    assert {"daycare_coverage", "childcare_coverage", "beds_per_1000_elderly", "slots_per_1000_total"} <= set(done)
    for k, v in done.items():
        assert round(v["measured"], 4) == pytest.approx(after[k]["measured"], abs=1e-12), k
        assert (v["status"], v["gap"]) == (after[k]["status"], after[k]["gap"]), k
        assert units_fail[k] == res.summary["units_fail_after"].get(k, 0), k


def test_whatif_js_keeps_not_assessable_until_a_site_of_the_kind_is_built(tmp_path, whatif_page):
    """The community study without its nursing homes: beds per 1,000 elderly is not assessable
    (no nursing home in any gazetteer). The page's engine says so with no site chosen and with
    only day-care centres chosen; with the suggested nursing homes built it gives the pipeline's
    after-state (a full re-score with the sites as facilities). A where-filtered indicator with no
    matching unit stays not assessable whatever is built."""
    import csv

    from circles.panels import planner_data
    from circles.pipeline import analyse
    from circles.study import load_study
    from conftest import TESTDATA

    d = tmp_path / "study"
    shutil.copytree(TESTDATA / "community", d)
    with (d / "facilities.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f) if r[2] != "养老院"]
    with (d / "facilities.csv").open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    toml = (d / "study.toml").read_text(encoding="utf-8")
    (d / "study.toml").write_text(toml.replace('kinds = ["daycare"]', 'kinds = ["daycare", "nursing_home"]'),
                                  encoding="utf-8")
    res = analyse(load_study(d / "study.toml"))
    now = {r["indicator"]: r for r in res.summary["targets"]["study"]}
    after = {r["indicator"]: r for r in res.summary["targets_after"]}
    assert now["beds_per_1000_elderly"]["status"] == "not assessable"
    assert after["beds_per_1000_elderly"]["status"] == "fail"  # the suggested nursing homes make it assessable
    p = planner_data(res.summary, res.summary["targets"]["preset_data"], "en", res.whatif)["whatif"]
    assert set(p["not_assessable"]) == {k for k, r in now.items() if r["status"] == "not assessable"}
    c = p["candidates"]
    suggested = [[i, k] for i, (k, s) in enumerate(zip(c["kind"], c["suggested"])) if s]
    cases = {"none": [], "daycare": [x for x in suggested if x[1] == "daycare"], "all": suggested}
    assert cases["daycare"] and len(cases["all"]) > len(cases["daycare"])
    got = whatif_page.evaluate(json.loads(json.dumps(p)), cases)
    out = {k: [r["study"]["indicators"], r["units_fail"], [u["indicators"]["beds_per_1000_elderly"]["status"]
                                                            for u in r["units"]]] for k, r in got.items()}
    for case in ("none", "daycare"):
        inds, fails, unit_status = out[case]
        assert (inds["beds_per_1000_elderly"]["status"], inds["beds_per_1000_elderly"]["gap"]) == ("not assessable", 0)
        assert fails["beds_per_1000_elderly"] == 0 and set(unit_status) == {"not assessable"}
    inds, fails, unit_status = out["all"]
    b = inds["beds_per_1000_elderly"]
    assert round(b["measured"], 4) == pytest.approx(after["beds_per_1000_elderly"]["measured"], abs=1e-12)
    assert (b["status"], b["gap"]) == (after["beds_per_1000_elderly"]["status"], after["beds_per_1000_elderly"]["gap"])
    assert fails["beds_per_1000_elderly"] == res.summary["units_fail_after"].get("beds_per_1000_elderly", 0)
    for case in cases:
        assert out[case][0]["elderly_circle_township"]["status"] == "not assessable"
        assert after["elderly_circle_township"]["status"] == "not assessable"
