"""Walking-speed band, equity deciles and credits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circles import equity
from circles.credits import default_credit, study_credits
from circles.travel import TravelNetwork, subset


def test_times_scale_as_one_over_speed_including_the_offroad_leg(demo_run):
    """The band rescales times by v0/v: check it against a network built at 0.8 m/s."""
    res, _ = demo_run
    fac = res.facilities
    slow = TravelNetwork(res.nodes, res.edges, walk_speed_mps=0.8, profile="walk")
    fast = TravelNetwork(res.nodes, res.edges, walk_speed_mps=1.0, profile="walk")
    pts = res.points.iloc[::7]
    t = {}
    for name, net in (("slow", slow), ("fast", fast)):
        fs = net.snap_points(fac, max_offroad_m=500)
        ps = net.snap_points(pts, max_offroad_m=500)
        assert ps.offroad_m[np.isfinite(ps.offroad_m)].max() > 50  # off-road legs are in play
        t[name] = net.nearest_times(subset(fs, np.arange(len(fac))), ps)
    ok = np.isfinite(t["fast"])
    assert np.array_equal(ok, np.isfinite(t["slow"]))
    assert np.allclose(t["slow"][ok], t["fast"][ok] / 0.8, rtol=1e-9)
    band = res.summary["speed_band"]
    w = res.points["elderly"].to_numpy()
    t_any = res.points["time_s_elderly_any"].to_numpy()
    assert band["0.8"]["elderly"]["15min"] == pytest.approx(w[t_any / 0.8 <= 900].sum() / w.sum(), abs=6e-5)
    assert band["1"]["elderly"] == res.summary["coverage"]["elderly"]


def test_deciles_pool_people_and_behind_ranks_by_shortfall():
    units = pd.DataFrame({"unit_id": list("ABCDEFGHIJKL"), "unit_name": list("ABCDEFGHIJKL"), "parent": "",
                          "pop_elderly": [100.0] * 10 + [300.0, 0.0],
                          "cov_elderly_any_15min": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.05, np.nan],
                          "beyond_elderly_15min": [100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 285, 0]})
    d = equity.by_decile(units, "elderly", 15)
    assert len(d) == 10 and d[0]["units"] == 2 and d[0]["people"] == 400.0
    assert d[0]["share"] == pytest.approx((0 * 100 + 0.05 * 300) / 400)  # pooled, not averaged
    assert d[-1]["share"] == pytest.approx(0.9)
    behind = equity.furthest_behind(units, "elderly", 15, study_share=0.5, n=2)
    # shortfalls: K (0.45 x 300 = 135) before A (0.5 x 100 = 50)
    assert [b["unit_id"] for b in behind] == ["K", "A"] and behind[0]["shortfall_people"] == 135


def test_credits_come_from_the_study_or_the_files_read(demo_run):
    from pathlib import Path

    assert default_credit("network", Path("roads.osm.pbf"))[1] == "ODbL 1.0"
    assert default_credit("population", Path("worldpop"), "chn_{sex}_{age}_2020.tif")[1] == "CC BY 4.0"
    assert default_credit("population", Path("census"), "pop_{age}_{sex}.tif") == (None, None)
    assert default_credit("network", Path("道路中心线.gpkg")) == (None, None)
    res, _ = demo_run
    credits = {c["role"]: c for c in study_credits(res.study)}
    assert credits["population"]["licence"] == "CC BY 4.0" and credits["population"]["stated"]
    assert credits["parents"]["licence"] == "MIT"
