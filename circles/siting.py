"""Where to build: new sites that cover the most uncovered people (maximal covering, MCLP).

The model works on plain arrays (spopt style): a boolean candidate-by-demand coverage
matrix ``A`` (candidate j covers demand point i if the walk is within the threshold),
demand weights ``w`` (elderly or infants per point), and ``covered0`` (points already
covered by existing facilities, which stay open). Gains count only people not yet
covered.

- :func:`mclp_greedy`: add the site with the largest marginal gain, N times, then try
  1-for-1 swaps while any improves the objective (fast, for what-ifs).
- :func:`mclp_exact`: the MCLP integer programme solved by HiGHS (highspy) under a time
  limit, reporting the MIP gap; demand points with identical candidate sets are merged
  first, and the model is skipped when greedy already reaches the LP-free upper bound
  (every coverable person covered).

:func:`suggest_sites` is the GeoDataFrame adapter the pipeline calls.
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from circles.errors import SitingError

log = logging.getLogger(__name__)


def candidate_nodes(nodes: gpd.GeoDataFrame, *, spacing_m: float, area=None) -> gpd.GeoDataFrame:
    """Road nodes thinned to about one per ``spacing_m`` square (the node nearest the square's centre)."""
    pts = nodes if area is None else nodes[shapely.covers(area, nodes.geometry.values)]
    if pts.empty:
        return gpd.GeoDataFrame({"node": []}, geometry=[], crs=nodes.crs)
    xy = shapely.get_coordinates(pts.geometry.values)
    cell = np.floor(xy / spacing_m).astype(np.int64)
    centre = (cell + 0.5) * spacing_m
    d = np.hypot(*(xy - centre).T)
    df = pd.DataFrame({"cx": cell[:, 0], "cy": cell[:, 1], "d": d, "node": pts.index.to_numpy()})
    chosen = df.sort_values("d").drop_duplicates(["cx", "cy"]).sort_values("node")["node"].to_numpy()
    out = gpd.GeoDataFrame({"node": chosen}, geometry=nodes.geometry.loc[chosen].values, crs=nodes.crs)
    return out.reset_index(drop=True)


def _objective(A: sp.csr_matrix, w: np.ndarray, covered0: np.ndarray, chosen) -> float:
    cov = covered0.copy()
    if len(chosen):
        cov |= np.asarray(A[list(chosen)].sum(axis=0)).ravel() > 0
    return float(w[cov].sum())


def mclp_greedy(A: sp.csr_matrix, w: np.ndarray, n: int, covered0: np.ndarray, *, swaps: bool = True):
    """Greedy MCLP with 1-for-1 swap improvement.

    Returns ``(chosen, gains)``: candidate indices in the order added and each one's
    marginal gain (people newly covered) at the time it was added (recomputed after swaps).
    """
    A = A.tocsr().astype(bool)
    uncovered = ~covered0.copy()
    chosen: list[int] = []
    for _ in range(min(n, A.shape[0])):
        gains = A @ (w * uncovered)
        gains[chosen] = -1
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        uncovered &= ~(A[best].toarray().ravel())
    if swaps and chosen:
        best_obj = _objective(A, w, covered0, chosen)
        improved = True
        while improved:
            improved = False
            for pos in range(len(chosen)):
                rest = chosen[:pos] + chosen[pos + 1:]
                base = covered0 | (np.asarray(A[rest].sum(axis=0)).ravel() > 0 if rest else covered0)
                gains = A @ (w * ~base)
                gains[rest] = -1
                cand = int(np.argmax(gains))
                obj = float(w[base].sum() + gains[cand])
                if obj > best_obj + 1e-9 and cand != chosen[pos]:
                    chosen[pos] = cand
                    best_obj = obj
                    improved = True
    return chosen, _marginal_gains(A, w, covered0, chosen)


def _marginal_gains(A, w, covered0, chosen) -> list[float]:
    cov = covered0.copy()
    out = []
    for j in chosen:
        row = A[j].toarray().ravel().astype(bool)
        out.append(float(w[row & ~cov].sum()))
        cov |= row
    return out


def _quiet_highs(highspy):
    """A Highs instance that prints nothing (its constructor writes a banner to C stdout)."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def mclp_exact(A: sp.csr_matrix, w: np.ndarray, n: int, covered0: np.ndarray, *,
               time_limit_s: float = 30.0, warm_start=None) -> dict:
    """Solve the MCLP exactly with HiGHS.

    max sum_g w_g z_g  s.t.  z_g <= sum_{j covers g} y_j,  sum_j y_j <= n,  y binary, 0 <= z <= 1,
    over the demand groups g still uncovered (points with identical candidate sets merged).

    Returns a dict: ``chosen`` (candidate indices), ``objective`` (people covered
    including those covered before), ``mip_gap``, ``status``, ``n_rows_merged``.
    """
    import highspy

    A = A.tocsc().astype(bool)
    todo = np.flatnonzero(~covered0 & (np.diff(A.indptr) > 0) & (w > 0))
    base = float(w[covered0].sum())
    if len(todo) == 0 or n == 0:
        return {"chosen": [], "objective": base, "mip_gap": 0.0, "status": "nothing to cover", "n_rows_merged": 0}
    sub = A[:, todo]
    # merge demand points with identical candidate sets
    keys = [sub.indices[sub.indptr[i]:sub.indptr[i + 1]].tobytes() for i in range(len(todo))]
    codes, first = pd.factorize(pd.Series(keys))
    wg = np.bincount(codes, weights=w[todo])
    group_cols = sub[:, np.unique(codes, return_index=True)[1]]
    m, nc = len(wg), A.shape[0]
    # variables: y_0..y_{nc-1}, z_0..z_{m-1}; rows: m coverage rows + 1 cardinality row
    gc = group_cols.tocsc()
    rows = [np.repeat(np.arange(m), np.diff(gc.indptr)), np.arange(m), np.full(nc, m)]
    cols = [gc.indices, nc + np.arange(m), np.arange(nc)]
    vals = [-np.ones(gc.nnz), np.ones(m), np.ones(nc)]
    M = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m + 1, nc + m))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = nc + m, m + 1
    lp.col_cost_ = np.r_[np.zeros(nc), wg]
    lp.col_lower_ = np.zeros(nc + m)
    lp.col_upper_ = np.ones(nc + m)
    lp.row_lower_ = np.full(m + 1, -highspy.kHighsInf)
    lp.row_upper_ = np.r_[np.zeros(m), float(n)]
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = M.indptr
    lp.a_matrix_.index_ = M.indices
    lp.a_matrix_.value_ = M.data
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = m + 1, nc + m
    lp.integrality_ = [highspy.HighsVarType.kInteger] * nc + [highspy.HighsVarType.kContinuous] * m
    h = _quiet_highs(highspy)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.passModel(lp)
    if warm_start is not None and len(warm_start):
        sol = highspy.HighsSolution()
        y = np.zeros(nc)
        y[list(warm_start)] = 1
        zc = np.minimum(1.0, np.asarray(group_cols.T @ y).ravel())
        sol.col_value = list(np.r_[y, zc])
        h.setSolution(sol)
    h.run()
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value)
    chosen = [int(j) for j in np.flatnonzero(x[:nc] > 0.5)]
    return {
        "chosen": chosen,
        "objective": _objective(A.tocsr(), w, covered0, chosen),
        "mip_gap": float(info.mip_gap),
        "status": h.modelStatusToString(h.getModelStatus()),
        "n_rows_merged": int(len(todo) - m),
    }


def suggest_sites(
    net,
    demand_snap,
    weights: np.ndarray,
    covered0: np.ndarray,
    candidates: gpd.GeoDataFrame,
    *,
    n_sites: int,
    threshold_s: float,
    method: str = "exact",
    time_limit_s: float = 30.0,
) -> tuple[gpd.GeoDataFrame, dict, sp.csr_matrix]:
    """Rank ``n_sites`` new sites among ``candidates`` for the most newly covered people.

    Returns ``(sites, info, A)``: the chosen sites (``rank``, ``gain`` = people newly
    covered, in the order of decreasing gain), a dict with objective, gap and timings,
    and the coverage matrix used (for before/after tables).
    """
    if len(candidates) == 0:
        raise SitingError("no candidate sites: the study area has no road nodes to build on")
    if n_sites <= 0:
        raise SitingError("siting asks for 0 new sites; set siting.n_sites to 1 or more")
    t0 = time.perf_counter()
    cand_snap = net.snap_points(candidates, max_offroad_m=1.0)
    A = net.times_to_points(cand_snap, demand_snap, cutoff_s=threshold_s)
    A = (A > 0).astype(bool).tocsr()
    t_matrix = time.perf_counter() - t0
    coverable = np.asarray(A.sum(axis=0)).ravel() > 0
    upper = float(weights[covered0 | coverable].sum())
    t1 = time.perf_counter()
    chosen, _ = mclp_greedy(A, weights, n_sites, covered0)
    greedy_obj = _objective(A, weights, covered0, chosen)
    t_greedy = time.perf_counter() - t1
    info = {"n_candidates": int(len(candidates)), "upper_bound": upper, "greedy_objective": greedy_obj,
            "matrix_s": round(t_matrix, 3), "greedy_s": round(t_greedy, 3), "method": "greedy+swap",
            "mip_gap": None}
    if not chosen:
        info["message"] = "all reachable demand is already covered: no new site adds anyone"
    elif method == "exact" and greedy_obj < upper - 1e-6:
        t2 = time.perf_counter()
        res = mclp_exact(A, weights, n_sites, covered0, time_limit_s=time_limit_s, warm_start=chosen)
        info.update({"exact_s": round(time.perf_counter() - t2, 3), "mip_gap": res["mip_gap"],
                     "status": res["status"], "n_rows_merged": res["n_rows_merged"]})
        if res["objective"] >= greedy_obj - 1e-9:
            chosen = res["chosen"]
            info["method"] = "HiGHS MIP"
    elif method == "exact":
        info["mip_gap"] = 0.0
        info["method"] = "greedy+swap (reaches the upper bound: optimal)"
    gains = _marginal_gains(A, weights, covered0, chosen)
    order = np.argsort(gains)[::-1]
    chosen = [chosen[i] for i in order]
    gains = [gains[i] for i in order]
    sites = candidates.iloc[chosen].copy().reset_index(drop=True)
    sites["rank"] = np.arange(1, len(sites) + 1)
    sites["gain"] = gains
    sites["candidate"] = chosen
    info["objective"] = _objective(A, weights, covered0, chosen)
    info["before"] = float(weights[covered0].sum())
    return sites, info, A
