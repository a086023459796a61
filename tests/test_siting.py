"""Siting models: optimal on brute-forced tiny instances, equal to spopt on a real one, clear on bad requests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from circles.errors import SitingError
from circles.siting import (SitingProblem, capacitated_exact, lscp_exact, mclp_exact, mclp_greedy, mclp_lagrangian,
                            mclp_lp_bound, pmedian_exact, solve)


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


@pytest.mark.parametrize("seed", range(8))
def test_lagrangian_bounds_hold_against_brute_force(seed):
    """The Lagrangian bound is above the best of every n-subset (brute force), never below the LP's bound
    by more than the subgradient's tolerance allows, and each candidate's forced-in bound is above the
    best n-subset that contains it: dropping a candidate whose forced bound is below the incumbent is exact."""
    A, w, c0 = _instance(seed, nc=9, nd=40, density=0.3)
    for n in (1, 2, 3):
        combos = list(itertools.combinations(range(A.shape[0]), n))
        value = {combo: w[_covered(A, combo, c0)].sum() for combo in combos}
        brute = max(value.values())
        greedy, _ = mclp_greedy(A, w, n, c0)
        lag = mclp_lagrangian(A, w, n, c0, w[_covered(A, greedy, c0)].sum())
        assert lag.bound >= brute - 1e-9
        assert lag.bound >= mclp_lp_bound(A, w, n, c0) - 1e-6  # the Lagrangian dual equals the LP bound at best
        for j in range(A.shape[0]):
            best_with_j = max(v for combo, v in value.items() if j in combo)
            assert lag.forced[j] >= best_with_j - 1e-9, (j, lag.forced[j], best_with_j)
        assert max(lag.forced) == pytest.approx(lag.bound)


@pytest.mark.parametrize("seed", range(6))
def test_solve_matches_brute_force_with_nested_and_repeated_candidates(seed):
    # nested coverage sets on purpose: candidate 8 covers a subset of candidate 0's points, 9 repeats 1
    A, w, c0 = _instance(seed, nc=10, density=0.3)
    A = A.tolil()
    A[8] = A[0].multiply(sp.csr_matrix(np.random.default_rng(seed).random((1, A.shape[1])) < 0.5))
    A[9] = A[1]
    A = sp.csr_matrix(A)
    for n in (1, 2, 3):
        combos = itertools.combinations(range(A.shape[0]), n)
        brute = max(w[_covered(A, combo, c0)].sum() for combo in combos)
        chosen, info = solve("mclp", SitingProblem(A, w, c0, n))
        assert len(chosen) <= n and w[_covered(A, chosen, c0)].sum() == pytest.approx(brute), info
        assert info["mip_gap"] <= 1e-6


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


def _served_by_max_flow(A_new, A_old, demand, capacity, old_capacity, open_new) -> float:
    """Demand served within reach by open facilities: a max flow computed by networkx (separate code)."""
    import networkx as nx

    G = nx.DiGraph()
    fac = [(f"new{j}", A_new[j], capacity) for j in open_new] + \
          [(f"old{j}", A_old[j], c) for j, c in enumerate(old_capacity)]
    for name, row, cap in fac:
        G.add_edge("s", name, capacity=float(cap))
        for i in np.flatnonzero(row.toarray().ravel()):
            G.add_edge(name, f"d{i}")  # no capacity attribute: unbounded
    for i, d in enumerate(demand):
        G.add_edge(f"d{i}", "t", capacity=float(d))
    if "s" not in G:
        return 0.0
    return float(nx.maximum_flow_value(G, "s", "t"))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_capacitated_equals_brute_force_by_max_flow(seed):
    rng = np.random.default_rng(seed)
    A_new = sp.csr_matrix(rng.random((5, 12)) < 0.4)
    A_old = sp.csr_matrix(rng.random((2, 12)) < 0.3)
    demand = rng.uniform(5, 40, 12)
    old_cap = np.array([30.0, 20.0])
    res = capacitated_exact(A_new, A_old, demand, 60.0, old_cap, 2)
    flows = {combo: _served_by_max_flow(A_new, A_old, demand, 60.0, old_cap, combo)
             for combo in itertools.combinations(range(5), 2)}
    best = max(flows.values())
    # the chosen pair is optimal when evaluated by the independent max flow, and the model's own
    # served figures equal the max flow of the same facilities
    assert _served_by_max_flow(A_new, A_old, demand, 60.0, old_cap, res["chosen"]) == pytest.approx(best)
    assert res["served_after"] == pytest.approx(best)
    assert res["served_before"] == pytest.approx(_served_by_max_flow(A_new, A_old, demand, 60.0, old_cap, []))


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


# --------------------------------------------------------------------------- registry, LSCP, p-median
def test_model_registry_is_the_one_list_of_models():
    from circles.siting import MODELS, SitingProblem, solve
    from circles.study import SitingOptions

    assert set(MODELS) == {"mclp", "lscp", "pmedian", "capacitated", "joint"}
    assert SitingOptions().model in MODELS and all(m.objective for m in MODELS.values())
    with pytest.raises(SitingError, match="unknown"):
        solve("maxcover", SitingProblem(sp.csr_matrix((1, 1)), np.ones(1), np.zeros(1, bool), 1))


def test_lscp_covers_people_and_says_n_is_ignored():
    from circles.siting import SitingProblem, solve

    # points 0 and 1 hold people; point 2 holds nobody and only candidate 2 reaches it
    A = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=bool))
    w = np.array([5.0, 7.0, 0.0])
    chosen, info = solve("lscp", SitingProblem(A, w, np.zeros(3, bool), 5))
    assert chosen == [3]  # by hand: candidate 3 covers both people points; point 2 is not demand
    assert "ignored" in info["message"] and "5" in info["message"]


def test_pmedian_uses_untruncated_times():
    from circles.siting import SitingProblem, solve

    # two candidates, two points (weights 1 and 10). Within 500 s only point 0 is reachable;
    # untruncated: cand 0 costs 100 + 10 x 1000 = 10,100 person-s, cand 1 50 + 10 x 2000 = 20,050
    T_full = sp.csr_matrix(np.array([[100.0, 1000.0], [50.0, 2000.0]]))
    T_trunc = sp.csr_matrix(np.array([[100.0, 0.0], [50.0, 0.0]]))
    w = np.array([1.0, 10.0])
    p = SitingProblem((T_trunc > 0).tocsr(), w, np.zeros(2, bool), 1, existing_s=np.full(2, np.inf))
    p.T_full = T_full
    chosen, _ = solve("pmedian", p)
    assert chosen == [0]
    p.T_full = T_trunc  # what the truncated matrix would pick
    assert solve("pmedian", p)[0] == [1]


def test_site_names_from_road_and_community():
    import geopandas as gpd
    import shapely

    from circles.siting import site_name_parts, site_names

    edges = gpd.GeoDataFrame({"name": ["和平大道", ""]},
                             geometry=[shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 5), (100, 5)])],
                             crs="EPSG:32650")
    units = gpd.GeoDataFrame({"unit_name": ["甲社区"], "parent": ["乙街道"]},
                             geometry=[shapely.box(-50, -50, 150, 50)], crs="EPSG:32650")
    sites = gpd.GeoDataFrame({"node": [1, 2]}, geometry=[shapely.Point(50, 8), shapely.Point(5000, 0)],
                             crs="EPSG:32650")
    assert site_names(sites, edges, units) == ["和平大道 旁 · 乙街道 甲社区", "路网节点 2"]
    # the words are the language's, the parts are data in no language (the English page words them)
    assert site_names(sites, edges, units, language="en") == ["near 和平大道 · 乙街道 甲社区", "road node 2"]
    assert site_name_parts(sites, edges, units) == (["和平大道", ""], ["乙街道 甲社区", ""])


def test_joint_gain_in_people_of_each_group_with_explicit_weights():
    from pathlib import Path

    from circles.pipeline import analyse
    from circles.study import load_study

    study = load_study(Path(__file__).resolve().parent / "data" / "community" / "study.toml")
    study.siting.model, study.siting.kinds, study.siting.n_sites = "joint", ["daycare", "nursery"], 2
    res = analyse(study)
    info = res.summary["siting"]["joint"]
    pe, pi = res.points["elderly"].sum(), res.points["infants"].sum()
    assert info["weights"] == {"elderly": pytest.approx(1 / pe), "infants": pytest.approx(1 / pi)}
    for g, kind in (("elderly", "daycare"), ("infants", "nursery")):
        assert info[f"gain_{g}"] == pytest.approx(info[f"covered_after_{g}"] - info[f"covered_before_{g}"])
        u = res.units
        share = (u[f"cov_{g}_{kind}_15min_after"] * u[f"pop_{g}"]).sum() / u[f"pop_{g}"].sum()
        assert info[f"share_after_{g}"] == pytest.approx(share, abs=1e-9)  # the same after-state
    # each site appears once per group, its gain in people of that group
    assert set(res.sites["group"]) == {"elderly", "infants"}
    for g in ("elderly", "infants"):
        assert res.sites.loc[res.sites["group"] == g, "gain"].sum() == pytest.approx(info[f"gain_{g}"])


@pytest.mark.parametrize("seed", range(4))
def test_lagrangian_drops_candidates_as_it_goes_and_stays_a_bound(seed):
    """On an instance big enough for the search to drop candidates on the way (30 candidates, sparse
    coverage), every bound still holds against brute force over all pairs and triples: the bound
    itself, each candidate's forced-in bound (dropped ones included), and the exact solve."""
    A, w, c0 = _instance(100 + seed, nc=30, nd=120, density=0.06)
    for n in (2, 3):
        combos = list(itertools.combinations(range(A.shape[0]), n))
        value = {combo: w[_covered(A, combo, c0)].sum() for combo in combos}
        brute = max(value.values())
        greedy, _ = mclp_greedy(A, w, n, c0)
        lag = mclp_lagrangian(A, w, n, c0, w[_covered(A, greedy, c0)].sum())
        assert lag.dropped > 0  # the path under test ran
        assert lag.bound >= brute - 1e-9
        for j in range(A.shape[0]):
            assert lag.forced[j] >= max(v for combo, v in value.items() if j in combo) - 1e-9
        assert mclp_exact(A, w, n, c0)["objective"] == pytest.approx(brute)


def _greedy_dense(D, w, n, c0):
    """Greedy with 1-for-1 swaps, written out on a dense 0/1 matrix ``D`` (candidates x demand): n times,
    add the candidate that covers the most people not yet covered (the lowest index on a tie; stop when
    none adds anyone); then, until a whole pass changes nothing, at each position in turn take the best
    candidate for that position given the others (the lowest index on a tie) if it covers more people."""
    D = np.asarray(D, dtype=bool)

    def value(chosen):
        return float(w[c0 | D[list(chosen)].any(axis=0)].sum()) if chosen else float(w[c0].sum())

    chosen: list[int] = []
    for _ in range(min(n, len(D))):
        gains = [value(chosen + [j]) - value(chosen) if j not in chosen else -1.0 for j in range(len(D))]
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
    improved = bool(chosen)
    while improved:
        improved = False
        for pos in range(len(chosen)):
            rest = chosen[:pos] + chosen[pos + 1:]
            vals = [value(rest + [j]) if j not in rest else -np.inf for j in range(len(D))]
            cand = int(np.argmax(vals))
            if vals[cand] > value(chosen) + 1e-9 and cand != chosen[pos]:
                chosen[pos] = cand
                improved = True
    return chosen


@pytest.mark.parametrize("seed", range(3))
def test_solvers_read_csc_and_stored_zeros_as_coverage(seed):
    """The solvers read a matrix's rows from its CSR structure: a CSC matrix, or one with stored zeros
    (no coverage, e.g. ``times <= limit`` kept as explicit False), gives the brute force's answer (exact)
    and the greedy written out here on the dense 0/1 matrix (greedy).

    Three demand columns are added to the random instance: ``nd`` (more people than all the rest,
    covered by no candidate), ``nd + 1`` (covered by candidate ``f`` only) and ``nd + 2`` (by ``k``
    only), so ``f`` is the first pick and ``{f, k}`` the best pair. A stored zero on candidate ``i``
    against ``nd``, read as coverage, would make ``i`` greedy's first pick and part of the exact optimum
    and lift the LP and Lagrangian bounds above ``nd``'s people; one on ``f`` against ``nd + 2`` would,
    once ``f`` is picked, take ``k`` out of greedy's second pick and of the exact pair. Every answer
    would be worse, in every seed (checked below on the dense matrix)."""
    A, w, c0 = _instance(seed, nc=8, density=0.3)
    nc, nd = A.shape
    f, k, i = 0, 1, 2
    extra = np.zeros((nc, 3), dtype=bool)
    extra[f, 1] = extra[k, 2] = True
    A = sp.hstack([A, sp.csr_matrix(extra)], format="csr")
    total = w.sum()
    w, c0 = np.r_[w, 100 * total, 20 * total, 10 * total], np.r_[c0, False, False, False]
    dense = A.toarray()

    def value(chosen):
        return w[_covered(A, chosen, c0)].sum()

    combos = {n: list(itertools.combinations(range(nc), n)) for n in (1, 2)}
    brute = {n: max(value(c) for c in combos[n]) for n in (1, 2)}
    greedy_ref = {n: value(_greedy_dense(dense, w, n, c0)) for n in (1, 2)}
    wrong_i, wrong_f = dense.copy(), dense.copy()  # each stored zero read as coverage
    wrong_i[i, nd] = wrong_f[f, nd + 2] = True
    for n in (1, 2):
        assert max(value(c) for c in combos[n] if i in c) < brute[n]  # i is in no optimal set
        assert _greedy_dense(dense, w, n, c0)[0] == f != i
        assert greedy_ref[n] == pytest.approx(value(mclp_greedy(A, w, n, c0)[0]))
        g_wrong = _greedy_dense(wrong_i, w, n, c0)
        assert g_wrong[0] == i and value(g_wrong) < greedy_ref[n]
    assert _greedy_dense(dense, w, 2, c0) == [f, k] and value((f, k)) == brute[2]
    assert value(_greedy_dense(wrong_f, w, 2, c0)) < greedy_ref[2]
    c = A.tocoo()
    zero = sp.csr_matrix((np.r_[c.data, False, False], (np.r_[c.row, i, f], np.r_[c.col, nd, nd + 2])),
                         shape=A.shape)
    assert zero.nnz == A.nnz + 2 and zero.tocsc().nnz == A.nnz + 2  # the stored zeros, kept in CSC too
    assert (zero != A).nnz == 0  # the same coverage
    for n in (1, 2):
        for M in (A.tocsc(), zero, zero.tocsc()):
            for method in ("exact", "greedy"):
                chosen, info = solve("mclp", SitingProblem(M, w, c0, n, method=method))
                got = value(chosen)
                if method == "exact":
                    assert got == pytest.approx(brute[n])
                else:
                    assert got <= brute[n] + 1e-9 and got == pytest.approx(greedy_ref[n])
                assert info["greedy_objective"] == pytest.approx(greedy_ref[n])
            assert value(mclp_greedy(M, w, n, c0)[0]) == pytest.approx(greedy_ref[n])
            # the bounds read the matrix themselves (no SitingProblem): counting column nd's people (more
            # than everyone else) they would be above w[nd]; without, the LP's is at most everyone, the
            # Lagrangian's at most (1 + n) x everyone
            assert brute[n] - 1e-6 <= mclp_lp_bound(M, w, n, c0) < w[nd]
            assert brute[n] - 1e-9 <= mclp_lagrangian(M, w, n, c0, greedy_ref[n]).bound < w[nd]
