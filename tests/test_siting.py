"""Siting models: optimal on brute-forced tiny instances, equal to spopt on a real one, clear on bad requests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from circles.errors import SitingError
from circles.siting import (capacitated_exact, lscp_exact, mclp_exact, mclp_greedy, mclp_lp_bound, pmedian_exact,
                            suggest_sites)


def _instance(seed, nc=8, nd=30, density=0.25):
    rng = np.random.default_rng(seed)
    A = sp.csr_matrix(rng.random((nc, nd)) < density)
    w = rng.integers(1, 50, nd).astype(float)
    covered0 = rng.random(nd) < 0.2
    return A, w, covered0


def _covered(A, chosen, covered0):
    c = covered0.copy()
    for j in chosen:
        c |= A[j].toarray().ravel()
    return c


@pytest.mark.parametrize("seed", range(6))
def test_mclp_exact_equals_brute_force_and_greedy_is_bounded(seed):
    A, w, c0 = _instance(seed)
    for n in (1, 2, 3):
        brute = max(w[_covered(A, combo, c0)].sum() for combo in itertools.combinations(range(A.shape[0]), n))
        ex = mclp_exact(A, w, n, c0)
        assert ex["objective"] == pytest.approx(brute) and ex["mip_gap"] <= 1e-6
        greedy, gains = mclp_greedy(A, w, n, c0)
        g_obj = w[_covered(A, greedy, c0)].sum()
        assert g_obj <= brute + 1e-9 and sum(gains) == pytest.approx(g_obj - w[c0].sum())
        assert mclp_lp_bound(A, w, n, c0) >= brute - 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_lscp_equals_brute_force(seed):
    A, w, c0 = _instance(seed, density=0.3)
    need = ~c0 & (np.asarray(A.sum(axis=0)).ravel() > 0)
    best = next(k for k in range(A.shape[0] + 1) for combo in itertools.combinations(range(A.shape[0]), k)
                if _covered(A, combo, np.zeros_like(c0))[need].all())
    res = lscp_exact(A, c0)
    assert res["n_sites"] == best
    assert _covered(A, res["chosen"], c0)[need].all()


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    T = sp.csr_matrix(np.where(rng.random((6, 15)) < 0.4, rng.uniform(10, 600, (6, 15)), 0.0))
    w = rng.uniform(1, 10, 15)
    existing = np.where(rng.random(15) < 0.5, rng.uniform(100, 900, 15), np.inf)
    penalty = 2 * T.data.max()
    dense = np.where(T.toarray() > 0, T.toarray(), np.inf)
    todo = (np.isfinite(dense).any(axis=0))

    def cost(combo):
        best = np.minimum(existing, dense[list(combo)].min(axis=0))
        return (w * np.where(np.isfinite(best), np.minimum(best, penalty), penalty))[todo].sum()

    brute = min(cost(c) for c in itertools.combinations(range(6), 2))
    res = pmedian_exact(T, w, 2, existing)
    assert cost(res["chosen"]) == pytest.approx(brute)


def test_capacitated_picks_best_combination():
    rng = np.random.default_rng(3)
    A_new = sp.csr_matrix(rng.random((5, 12)) < 0.4)
    A_old = sp.csr_matrix(rng.random((2, 12)) < 0.3)
    demand = rng.uniform(5, 40, 12)
    res = capacitated_exact(A_new, A_old, demand, 60.0, np.array([30.0, 20.0]), 2)
    served = {}
    for combo in itertools.combinations(range(5), 2):
        r = capacitated_exact(A_new[list(combo)], A_old, demand, 60.0, np.array([30.0, 20.0]), 2)
        served[combo] = r["served_after"]
    assert res["served_after"] == pytest.approx(max(served.values()))
    assert res["served_before"] <= res["served_after"] <= demand.sum()
    # each new place serves at most its capacity
    assert res["served_after"] - res["served_before"] <= 2 * 60.0 + 1e-6


def test_spopt_agrees_on_a_real_instance(demo_run):
    spopt_locate = pytest.importorskip("spopt.locate")
    import pulp

    from circles.siting import candidate_nodes
    from circles.travel import TravelNetwork

    res, _ = demo_run
    net = TravelNetwork(res.nodes, res.edges, walk_speed_mps=1.0)
    cands = candidate_nodes(res.nodes, spacing_m=400, area=res.area)
    csnap = net.snap_points(cands, max_offroad_m=1)
    psnap = net.snap_points(res.points, max_offroad_m=500)
    T = net.times_to_points(csnap, psnap, cutoff_s=300.0)  # 5 minutes: a hard instance
    A = (T > 0).tocsr()
    reach = np.asarray(A.sum(axis=0)).ravel() > 0
    w = res.points["elderly"].to_numpy()[reach]
    A = A[:, reach]
    cost = np.where(A.toarray().T, 1.0, 1e6)  # demand x candidates, as spopt wants
    ours = mclp_exact(A, w, 5, np.zeros(len(w), bool))
    m = spopt_locate.MCLP.from_cost_matrix(cost, w, service_radius=10.0, p_facilities=5)
    m = m.solve(pulp.PULP_CBC_CMD(msg=False))
    theirs = float(pulp.value(m.problem.objective))  # weighted demand covered
    assert ours["objective"] == pytest.approx(theirs, rel=1e-9)
    open_sites = [j for j in range(A.shape[0]) if m.fac_vars[j].value() > 0.5]
    assert w[_covered(A, open_sites, np.zeros(len(w), bool))].sum() == pytest.approx(theirs)
    l_ours = lscp_exact(A, np.zeros(len(w), bool))
    lm = spopt_locate.LSCP.from_cost_matrix(cost, service_radius=10.0).solve(pulp.PULP_CBC_CMD(msg=False))
    assert l_ours["n_sites"] == int(round(pulp.value(lm.problem.objective)))


def test_bad_requests_get_messages(demo_run):
    from circles.travel import TravelNetwork

    res, _ = demo_run
    net = TravelNetwork(res.nodes, res.edges, walk_speed_mps=1.0)
    psnap = net.snap_points(res.points, max_offroad_m=500)
    w = res.points["elderly"].to_numpy()
    none_covered = np.zeros(len(w), bool)
    with pytest.raises(SitingError, match="no candidate sites"):
        suggest_sites(net, psnap, w, none_covered, res.nodes.iloc[0:0], n_sites=3, threshold_s=900)
    with pytest.raises(SitingError, match="0 new sites"):
        suggest_sites(net, psnap, w, none_covered, res.nodes.iloc[:5], n_sites=0, threshold_s=900)
    # three nodes in the middle of the study area, so they reach someone (nodes at the edge may not)
    few = res.nodes.iloc[np.argsort(res.nodes.distance(res.area.centroid).to_numpy())[:3]].copy()
    sites, info, _ = suggest_sites(net, psnap, w, none_covered, few, n_sites=10, threshold_s=900)
    assert "only 3 candidates" in info["message"] and len(sites) <= 3
    everyone = np.ones(len(w), bool)
    sites, info, _ = suggest_sites(net, psnap, w, everyone, res.nodes.iloc[:20], n_sites=2, threshold_s=900)
    assert len(sites) == 0 and "already covered" in info["message"]


def test_candidates_from_file_with_exclusions(demo_run, tmp_path):
    import geopandas as gpd
    import shapely

    from circles.pipeline import suggest

    res, _ = demo_run
    lots = res.nodes.iloc[::20].copy().to_crs(4326)
    lots["name"] = [f"空地{i}" for i in range(len(lots))]
    lots.to_file(tmp_path / "lots.geojson", driver="GeoJSON")
    # exclude the eastern half: no site may be suggested there
    minx, miny, maxx, maxy = lots.total_bounds
    park = gpd.GeoDataFrame(geometry=[shapely.box((minx + maxx) / 2, miny - 1, maxx + 1, maxy + 1)], crs=4326)
    park.to_file(tmp_path / "park.geojson", driver="GeoJSON")
    sites, info = suggest(res, "nursery", n_sites=3, candidates=tmp_path / "lots.geojson",
                          exclude=tmp_path / "park.geojson")
    assert len(sites) == 3 and set(sites["name"]) <= set(lots["name"])
    assert (sites.to_crs(4326).geometry.x < (minx + maxx) / 2).all()
    assert info["nursery"]["n_candidates"] < len(lots)
