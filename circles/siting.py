"""Where to build: location models over the travel-time matrix (where a site is chosen).

The models work on plain arrays (spopt style); :func:`solve` runs one of them (:data:`MODELS`)
on a :class:`SitingProblem`, whose matrices the siting stage (:mod:`circles.stages.siting`)
builds. Notation: ``A`` is a boolean candidate-by-demand matrix (candidate j covers demand
point i when the walk is within the threshold), ``w`` the people at each demand point,
``covered0`` the points already covered by existing facilities, which stay open and are never
moved.

- **MCLP** (maximal covering, Church & ReVelle 1974): ``n`` new sites covering the most
  people not yet covered. :func:`mclp_greedy` (greedy, then 1-for-1 swaps until none
  improves) and :func:`mclp_exact` (greedy as the incumbent, a Lagrangian bound
  (:func:`mclp_lagrangian`) that proves it optimal or excludes the candidates that cannot
  beat it, then HiGHS's MIP on the rest under a time limit, reporting its proven gap; rows
  with identical candidate sets merged).
- **LSCP** (set covering, Toregas et al. 1971): :func:`lscp_exact`, the fewest new sites
  so that everyone a candidate can reach is covered.
- **p-median** (Hakimi 1965): :func:`pmedian_exact`, ``n`` new sites minimising the total
  person-seconds to the nearest open facility (existing ones included).
- **Capacitated covering**: :func:`capacitated_exact`, ``n`` new sites of ``capacity``
  slots each; demand is people x take-up rate; existing facilities keep their capacity;
  maximises the demand served within the threshold (fractional allocation).
- **Joint 一老一小**: MCLP on the elderly and infant columns side by side, each person
  weighted by ``1 / group total`` so the objective is the sum of the two coverage shares
  gained: a site near both groups wins.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from circles.errors import SitingError
from circles.i18n import site_label
from circles.io.vector import read_vector

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- candidates
def read_exclusion(path, crs):
    """The union of the ``siting.exclude`` polygons (where nothing may be built) in ``crs``, or None."""
    if path is None:
        return None

    return shapely.union_all(read_vector(path, "siting.exclude").to_crs(crs).geometry.values)


def read_candidates(path, crs, *, name_column: str, exclude=None) -> gpd.GeoDataFrame:
    """Candidate sites from a file (points or polygons -> a point inside each), outside ``exclude``.

    Columns ``name`` (from ``name_column`` when the file has it, else empty) and ``geometry``.
    """
    c = read_vector(path, "siting.candidates").to_crs(crs)
    c["geometry"] = c.geometry.representative_point()
    c["name"] = c[name_column].astype(str) if name_column in c else ""
    if exclude is not None:
        c = c[~shapely.intersects(exclude, c.geometry.values)]
    return c[["name", "geometry"]].reset_index(drop=True)


def candidate_nodes(nodes: gpd.GeoDataFrame, *, spacing_m: float, area=None, exclude=None) -> gpd.GeoDataFrame:
    """Road nodes thinned to about one per ``spacing_m`` square (the node nearest the square's centre).

    Nodes outside ``area`` or inside ``exclude`` (a shapely geometry: parks, water,
    protected land) are not candidates.
    """
    keep = np.ones(len(nodes), dtype=bool)
    if area is not None:
        keep &= shapely.covers(area, nodes.geometry.values)
    if exclude is not None:
        keep &= ~shapely.intersects(exclude, nodes.geometry.values)
    pts = nodes[keep]
    if pts.empty:
        return gpd.GeoDataFrame({"node": [], "name": [], "generated": []}, geometry=[], crs=nodes.crs)
    xy = shapely.get_coordinates(pts.geometry.values)
    cell = np.floor(xy / spacing_m).astype(np.int64)
    d = np.hypot(*(xy - (cell + 0.5) * spacing_m).T)
    df = pd.DataFrame({"cx": cell[:, 0], "cy": cell[:, 1], "d": d, "node": pts.index.to_numpy()})
    chosen = df.sort_values("d").drop_duplicates(["cx", "cy"]).sort_values("node")["node"].to_numpy()
    out = gpd.GeoDataFrame({"node": chosen, "name": [f"路网节点 {c}" for c in chosen], "generated": True},
                           geometry=nodes.geometry.loc[chosen].values, crs=nodes.crs)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- helpers
def _row_counts(A: sp.csr_matrix, rows) -> np.ndarray:
    """Per column of the CSR matrix ``A``, how many of ``rows`` have an entry there (ints).

    Read straight from ``A.indptr``/``A.indices`` (the rows' index ranges, one ``np.bincount``):
    ``A[rows].sum(axis=0)`` builds a new sparse matrix per call (~80 us of scipy overhead on a
    300 x 1,300 instance, against ~8 us), and the MCLP solvers call this once per greedy step,
    swap and subgradient iteration. ``A`` must be CSR without stored zeros (a stored zero would
    count): every entry point makes it so (:func:`_coverage_csr`, :class:`SitingProblem`)."""
    if A.format != "csr":  # a CSC matrix's indptr is per column: its counts would be silently wrong
        raise TypeError(f"_row_counts needs a CSR matrix, not {A.format}")
    ip, ix = A.indptr, A.indices
    parts = [ix[ip[j]:ip[j + 1]] for j in rows]
    return np.bincount(np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp), minlength=A.shape[1])


def _coverage_csr(A, *, as_bool: bool = True) -> sp.csr_matrix:
    """``A`` as a CSR matrix (boolean unless ``as_bool=False``) without stored zeros: a stored zero is
    no coverage (scipy keeps one through ``astype(bool)``; :func:`_row_counts` reads the structure).
    ``A`` itself when it is so already (no solver changes its matrix): given a boolean CSR matrix, as the
    pipeline does, the exact solve's entry points (:class:`SitingProblem`, :func:`mclp_exact`,
    :func:`mclp_greedy`) do not each copy it."""
    if (sp.issparse(A) and A.format == "csr" and (A.dtype == bool or not as_bool) and A.has_canonical_format
            and np.count_nonzero(A.data) == A.nnz):
        return A
    A = sp.csr_matrix(A, copy=True)
    A.sum_duplicates()  # a pair given twice is one coverage (the row counts read the structure)
    A = A.astype(bool) if as_bool else A
    A.eliminate_zeros()
    return A


def _covered_by(A: sp.csr_matrix, chosen) -> np.ndarray:
    return _row_counts(A, chosen) > 0


def _objective(A: sp.csr_matrix, w: np.ndarray, covered0: np.ndarray, chosen) -> float:
    return float(w[covered0 | _covered_by(A, chosen)].sum())


def _marginal_gains(A, w, covered0, chosen) -> list[float]:
    cov = covered0.copy()
    out = []
    for j in chosen:
        row = _row_counts(A, [j]) > 0
        out.append(float(w[row & ~cov].sum()))
        cov |= row
    return out


def _quiet_highs():
    """A Highs instance that prints nothing (its constructor writes a banner to C stdout)."""
    import highspy

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
    # HiGHS's own thread count (its default). One thread saved ~20 % of the MIPs' CPU on the batch's two
    # workers (idle worker threads spin), but HiGHS keeps one thread pool per process, started by the
    # first run: once highspy has run with the default count in this process (pulp's HiGHS, the
    # caller's own model), every run asking for one thread fails, so the count is left alone
    return h


def _solve(cost, lower, upper, M: sp.csr_matrix, row_lower, row_upper, integer, *, maximise: bool,
           time_limit_s: float = 30.0, start=None, relax: bool = False) -> dict:
    """Solve ``opt cost.x s.t. row_lower <= M x <= row_upper, lower <= x <= upper`` with HiGHS."""
    import highspy

    M = sp.csr_matrix(M)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = M.shape[1], M.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = M.indptr
    lp.a_matrix_.index_ = M.indices
    lp.a_matrix_.value_ = M.data
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = M.shape
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    h = _quiet_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(np.asarray(start, dtype=float))
        h.setSolution(sol)
    if h.run() == highspy.HighsStatus.kError:
        raise SitingError(f"the HiGHS solver stopped with an error ({h.modelStatusToString(h.getModelStatus())}) on a "
                          f"{M.shape[0]:,} x {M.shape[1]:,} model; if highspy runs elsewhere in this process with "
                          "another `threads` option, run circles in its own process")
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    x = np.asarray(h.getSolution().col_value) if info.primal_solution_status else None
    return {"x": x, "objective": float(info.objective_function_value), "status": status,
            "mip_gap": 0.0 if relax else float(info.mip_gap)}


def _merge_columns(A: sp.csc_matrix, w: np.ndarray):
    """Merge demand columns with identical candidate sets: ``(A_merged, w_merged, group_of_column)``."""
    A = sp.csc_matrix(A)
    keys = pd.Series([A.indices[A.indptr[i]:A.indptr[i + 1]].tobytes() for i in range(A.shape[1])])
    codes, _ = pd.factorize(keys)
    wg = np.bincount(codes, weights=w, minlength=codes.max() + 1 if len(codes) else 0)
    first = np.unique(codes, return_index=True)[1]
    return A[:, first], wg, codes


# --------------------------------------------------------------------------- MCLP
def mclp_greedy(A: sp.csr_matrix, w: np.ndarray, n: int, covered0: np.ndarray, *, swaps: bool = True):
    """Greedy MCLP with 1-for-1 swap improvement.

    Returns ``(chosen, gains)``: candidate indices in the order added and each one's
    marginal gain (people newly covered) in that order.
    """
    A = _coverage_csr(A)
    uncovered = ~covered0.copy()
    chosen: list[int] = []
    for _ in range(min(n, A.shape[0])):
        gains = A @ (w * uncovered)
        gains[chosen] = -1
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        uncovered &= ~(_row_counts(A, [best]) > 0)
    if swaps and chosen:
        best_obj = _objective(A, w, covered0, chosen)
        improved = True
        while improved:
            improved = False
            for pos in range(len(chosen)):
                rest = chosen[:pos] + chosen[pos + 1:]
                base = covered0 | _covered_by(A, rest)
                gains = A @ (w * ~base)
                gains[rest] = -1
                cand = int(np.argmax(gains))
                obj = float(w[base].sum() + gains[cand])
                if obj > best_obj + 1e-9 and cand != chosen[pos]:
                    chosen[pos] = cand
                    best_obj = obj
                    improved = True
    return chosen, _marginal_gains(A, w, covered0, chosen)


def _demand_groups(A, w, covered0):
    """The MCLP's demand groups: ``(G, w_g, todo)``, the columns of ``A`` still uncovered, reached by a
    candidate and with people (``todo``), those with identical candidate sets merged (``G``, ``w_g``).

    Computed once per instance by :func:`_solve_mclp` and passed to :func:`mclp_exact` and
    :func:`mclp_lagrangian` (``groups=``), which otherwise compute it themselves."""
    A = _coverage_csr(A).tocsc()  # a stored zero is no coverage
    todo = np.flatnonzero(~covered0 & (np.diff(A.indptr) > 0) & (w > 0))
    G, wg, _ = _merge_columns(A[:, todo], w[todo])
    return G, wg, todo


def _mclp_model(A, w, n, covered0, groups=None):
    G, wg, todo = _demand_groups(A, w, covered0) if groups is None else groups
    m, nc = len(wg), A.shape[0]
    Gc = sp.csc_matrix(G)
    rows = [np.repeat(np.arange(m), np.diff(Gc.indptr)), np.arange(m), np.full(nc, m)]
    cols = [Gc.indices, nc + np.arange(m), np.arange(nc)]
    vals = [-np.ones(Gc.nnz), np.ones(m), np.ones(nc)]
    M = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m + 1, nc + m))
    return G, wg, M, todo


def mclp_lp_bound(A: sp.csr_matrix, w: np.ndarray, n: int, covered0: np.ndarray, *,
                  time_limit_s: float = 300.0) -> float | None:
    """Upper bound on the MCLP objective (people covered, existing included) from the LP relaxation.

    ``None`` when HiGHS stops before the LP is optimal (time limit): a non-optimal LP value is no bound.
    """
    base = float(w[covered0].sum())
    G, wg, M, todo = _mclp_model(A, w, n, covered0)
    if len(wg) == 0:
        return base
    nc = A.shape[0]
    res = _solve(np.r_[np.zeros(nc), wg], np.zeros(nc + len(wg)), np.ones(nc + len(wg)), M,
                 np.full(len(wg) + 1, -np.inf), np.r_[np.zeros(len(wg)), float(n)], [True] * nc + [False] * len(wg),
                 maximise=True, relax=True, time_limit_s=time_limit_s)
    return base + res["objective"] if res["status"] == "Optimal" else None


@dataclass(frozen=True)
class LagrangianBound:
    """The Lagrangian bound of an MCLP instance (see :func:`mclp_lagrangian`).

    ``bound``: an upper bound on the people covered (existing coverage included) by any ``n`` sites;
    ``forced``: per candidate, an upper bound on the people covered by any ``n`` sites that include it
    (a candidate whose ``forced`` is below an incumbent's objective is in no better solution);
    ``iterations`` and ``seconds`` of the subgradient search; ``dropped``: candidates the search
    dropped as it went (their ``forced`` is below the incumbent).
    """

    bound: float
    forced: np.ndarray
    iterations: int
    seconds: float
    dropped: int = 0


#: greedy+swap is reported optimal when its objective is within this share of the people gained
#: of the best bound (LP or Lagrangian; see :func:`_solve_mclp`)
LP_PROOF_TOL = 1e-7

#: subgradient search of :func:`mclp_lagrangian`: at most this many iterations / CPU seconds of this
#: process (CPU, not wall time, so a loaded machine does not weaken the bound); the step is halved
#: after this many iterations without a better bound
LAGRANGE_MAX_ITER = 600
LAGRANGE_MAX_S = 5.0
LAGRANGE_STALL = 20
#: every this many iterations :func:`mclp_lagrangian` drops the candidates its bound already excludes
#: (when at least this share of those left would go): later iterations cost less
LAGRANGE_PRUNE_EVERY = 10
LAGRANGE_PRUNE_SHARE = 0.05


def _lagrange_prune(G, wg, lam, act, n, base, cut, forced, best, best_c, best_lam, top):
    """Drop from the subgradient search of :func:`mclp_lagrangian` the candidates whose forced bound
    (at the best multipliers so far) is below ``cut``, and the demand groups no candidate left
    reaches; write the dropped candidates' bounds into ``forced``.

    Exact: a dropped candidate is in no solution better than the incumbent (its bound says so), so
    every better solution uses only the candidates left, and the Lagrangian of that smaller problem
    bounds it; a group no candidate left reaches is covered by none of them (``z_g = 0``). Dropped
    candidates are outside the top n (their ``c`` is below the n-th largest), so the best bound
    only loses the dropped groups' ``w_g - lam_g`` (it can only get tighter).
    Rebuilds ``G`` only when at least :data:`LAGRANGE_PRUNE_SHARE` of the candidates go.
    """
    m = len(act)
    if best_c is None or m <= n:
        return G, wg, lam, act, best, best_c, best_lam, top
    cn = np.partition(best_c, m - n)[m - n]
    f = base + best + np.minimum(best_c - cn, 0.0)
    drop = f < cut
    if drop.sum() < LAGRANGE_PRUNE_SHARE * m:
        return G, wg, lam, act, best, best_c, best_lam, top
    forced[act[drop]] = f[drop]
    keep = np.flatnonzero(~drop)
    G = G[keep]
    cols = np.flatnonzero(np.diff(G.tocsc().indptr) > 0)
    G = sp.csr_matrix(G[:, cols])
    wg, lam, best_lam, best_c = wg[cols], lam[cols], best_lam[cols], best_c[keep]
    k = min(n, len(keep))
    best = float((wg - best_lam).sum() + np.partition(best_c, len(keep) - k)[len(keep) - k:].sum())
    c = G @ lam
    top = np.argpartition(-c, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    return G, wg, lam, act[keep], best, best_c, best_lam, top


def mclp_lagrangian(A: sp.csr_matrix, w: np.ndarray, n: int, covered0: np.ndarray, incumbent: float, *,
                    tol: float = 1e-7, max_iter: int = LAGRANGE_MAX_ITER,
                    max_s: float = LAGRANGE_MAX_S, groups=None) -> LagrangianBound:
    """Upper bound on the MCLP objective by Lagrangian relaxation of the coverage constraints.

    With multipliers ``0 <= lam_g <= w_g`` on ``z_g <= sum_{j covers g} y_j`` (demand groups g
    still uncovered, identical candidate sets merged), the relaxed problem splits:

        L(lam) = base + sum_g (w_g - lam_g) + (sum of the n largest c_j),  c_j = sum_{g covered by j} lam_g

    and every ``L(lam)`` bounds every solution from above (Fisher 1981; the MCLP's Lagrangian dual
    equals its LP bound, as the subproblem has integral solutions). ``lam`` is improved by
    subgradient steps (Polyak's step towards ``incumbent``, halved after :data:`LAGRANGE_STALL`
    iterations without progress) until the bound is within ``tol`` of the people gained by the
    incumbent, or :data:`LAGRANGE_MAX_ITER` iterations / :data:`LAGRANGE_MAX_S` seconds. The same
    ``lam`` bounds every solution that includes candidate j by ``L - c_(n) + c_j`` (j outside the top
    n), which :func:`mclp_exact` uses to drop candidates before the MIP (exact: no dropped candidate
    is in any solution better than the incumbent).

    The search drops those candidates as it goes (every :data:`LAGRANGE_PRUNE_EVERY` iterations,
    :func:`_lagrange_prune`), with the demand groups only they reached: on the whole-city benchmark
    32,021 daycare candidates fall to 90 after ~250 iterations, and the later iterations cost
    ~1 % of the first. ``incumbent`` must therefore be the objective of some ``n`` sites (greedy's,
    say): a target above the optimum could drop the optimum's candidates. A dropped candidate's
    ``forced`` is its bound when it was dropped. ``groups``: the instance's merged demand groups
    (:func:`_demand_groups`), when the caller already has them.

    Costs one sparse matrix-vector product per iteration: ~0.1 s on the demo (770 candidates).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    base = float(w[covered0].sum())
    nc = A.shape[0]
    G, wg, todo = _demand_groups(A, w, covered0) if groups is None else groups
    if len(todo) == 0 or n <= 0:
        return LagrangianBound(base, np.full(nc, base), 0, time.perf_counter() - t0)
    G = sp.csr_matrix(G).astype(np.float64)
    if n >= nc:  # every candidate fits: the bound is everyone coverable
        b = base + float(wg.sum())
        return LagrangianBound(b, np.full(nc, b), 0, time.perf_counter() - t0)
    deg = np.asarray(G.sum(axis=0)).ravel()
    lam = np.minimum(wg, wg * n / np.maximum(deg, 1.0))
    lower = incumbent - base
    cut = incumbent - tol * max(lower, 1.0)  # a candidate whose forced bound is below this is dropped
    forced = np.full(nc, -np.inf)  # filled as candidates are dropped, and at the end for the rest
    act = np.arange(nc)  # candidates still in the search (rows of G)
    best, best_c, best_lam, mu, stall, done = np.inf, None, None, 2.0, 0, 0
    while done < max_iter:
        done += 1
        c = G @ lam
        top = np.argpartition(-c, n - 1)[:n]
        value = float((wg - lam).sum() + c[top].sum())
        if value < best - 1e-12 * abs(value):
            best, best_c, best_lam, stall = value, c, lam, 0
        else:
            stall += 1
            if stall >= LAGRANGE_STALL:
                mu, stall = mu / 2, 0
        if best - lower <= tol * max(lower, 1.0) or mu < 1e-5 or time.process_time() - c0 > max_s:
            break
        if done % LAGRANGE_PRUNE_EVERY == 0:
            G, wg, lam, act, best, best_c, best_lam, top = _lagrange_prune(G, wg, lam, act, n, base, cut, forced,
                                                                           best, best_c, best_lam, top)
            if len(act) <= n:  # every candidate left fits: the bound is everyone they reach
                best, best_c = float(wg.sum()), np.full(len(act), float(wg.sum()))
                break
        s = _row_counts(G, top) - 1.0  # dL/dlam_g = (times g is covered by the top n) - 1
        norm = float(np.einsum("i,i", s, s))  # not BLAS: its idle threads spin and count as CPU time
        if norm == 0.0:  # the top n cover every group exactly once: L equals a feasible objective
            break
        lam = np.clip(lam - mu * max(value - lower, 1e-9 * max(lower, 1.0)) / norm * s, 0.0, wg)
    if len(act) > n:
        cn = np.partition(best_c, len(act) - n)[len(act) - n]  # the n-th largest c
        forced[act] = base + best + np.minimum(best_c - cn, 0.0)  # j in the top n: L itself
    else:
        forced[act] = base + best
    return LagrangianBound(base + best, forced, done, time.perf_counter() - t0, dropped=nc - len(act))


def mclp_exact(A: sp.csr_matrix, w: np.ndarray, n: int, covered0: np.ndarray, *,
               time_limit_s: float = 30.0, warm_start=None, groups=None) -> dict:
    """Solve the MCLP exactly: greedy + swaps, a Lagrangian bound, then HiGHS's MIP on what is left.

    max sum_g w_g z_g  s.t.  z_g <= sum_{j covers g} y_j,  sum_j y_j <= n,  y binary, 0 <= z <= 1,
    over the demand groups g still uncovered (points with identical candidate sets merged).

    1. The incumbent is ``warm_start`` (or greedy + 1-for-1 swaps).
    2. :func:`mclp_lagrangian` bounds every solution; if the incumbent reaches the bound (to 1e-7 of
       the people gained) it is optimal and no MIP runs.
    3. Otherwise every candidate whose Lagrangian bound with it forced in is below the incumbent is
       dropped (it is in no better solution), and the MIP runs on the rest, warm-started with the
       incumbent. On the demo at 15 minutes this leaves ~260 of 770 candidates.

    Returns a dict: ``chosen`` (candidate indices), ``objective`` (people covered including those
    covered before), ``mip_gap``, ``status``, ``n_rows_merged``, ``bound`` (the Lagrangian bound),
    ``n_candidates_mip`` (candidates left for the MIP; 0 when the bound proved the incumbent).
    """
    A = _coverage_csr(A, as_bool=False)
    base = float(w[covered0].sum())
    inc = list(warm_start) if warm_start is not None and len(warm_start) else mclp_greedy(A, w, n, covered0)[0]
    inc_obj = _objective(A, w, covered0, inc)
    lag = mclp_lagrangian(A, w, n, covered0, inc_obj, groups=groups)
    gained = max(lag.bound - base, 0.0)
    gap = (lag.bound - inc_obj) / gained if gained > 0 else 0.0
    out = {"chosen": [int(j) for j in inc], "objective": inc_obj, "mip_gap": max(gap, 0.0), "bound": lag.bound,
           "status": "Optimal", "n_rows_merged": 0, "n_candidates_mip": 0}
    if n == 0 or gap <= LP_PROOF_TOL:
        if n and not inc:
            out["status"] = "nothing to cover"
        return out
    keep = np.union1d(np.flatnonzero(lag.forced >= inc_obj - LP_PROOF_TOL * max(gained, 1.0)), inc).astype(int)
    sub = A[keep]
    G, wg, M, todo = _mclp_model(sub, w, n, covered0)
    m, k = len(wg), len(keep)
    pos = {int(j): i for i, j in enumerate(keep)}
    y = np.zeros(k)
    y[[pos[int(j)] for j in inc]] = 1
    start = np.r_[y, np.minimum(1.0, np.asarray(sp.csc_matrix(G).T @ y).ravel())]
    res = _solve(np.r_[np.zeros(k), wg], np.zeros(k + m), np.ones(k + m), M, np.full(m + 1, -np.inf),
                 np.r_[np.zeros(m), float(n)], [True] * k + [False] * m, maximise=True,
                 time_limit_s=time_limit_s, start=start)
    chosen = inc if res["x"] is None else [int(keep[i]) for i in np.flatnonzero(res["x"][:k] > 0.5)]
    obj = _objective(A, w, covered0, chosen)
    if obj < inc_obj - 1e-9:  # a MIP stopped early with a worse point: keep the incumbent
        chosen, obj = inc, inc_obj
    # the proven gap: the MIP's own, or the Lagrangian bound's when that is tighter (a MIP stopped by
    # its time limit before its root bound settled reports a meaningless gap)
    lag_gap = max((lag.bound - obj) / gained, 0.0) if gained > 0 else 0.0
    mip_gap = lag_gap if res["mip_gap"] is None or not np.isfinite(res["mip_gap"]) else min(res["mip_gap"], lag_gap)
    out.update({"chosen": [int(j) for j in chosen], "objective": obj, "mip_gap": mip_gap,
                "status": res["status"], "n_rows_merged": int(len(todo) - m), "n_candidates_mip": int(k)})
    return out


def lscp_exact(A: sp.csr_matrix, covered0: np.ndarray, *, time_limit_s: float = 30.0) -> dict:
    """Fewest new sites so that every demand point a candidate can reach is covered.

    Points no candidate reaches (and points already covered) need no site; their count is
    returned as ``n_uncoverable``.
    """
    A = _coverage_csr(A).tocsc()  # a stored zero is no coverage
    reach = np.diff(A.indptr) > 0
    todo = np.flatnonzero(~covered0 & reach)
    n_uncoverable = int((~covered0 & ~reach).sum())
    if len(todo) == 0:
        return {"chosen": [], "n_sites": 0, "status": "nothing to cover", "mip_gap": 0.0, "n_uncoverable": n_uncoverable}
    G, _, _ = _merge_columns(A[:, todo], np.ones(len(todo)))
    nc, m = A.shape[0], G.shape[1]
    M = sp.csr_matrix(sp.csc_matrix(G).T.astype(float))  # m rows: sum_j a_gj y_j >= 1
    res = _solve(np.ones(nc), np.zeros(nc), np.ones(nc), M, np.ones(m), np.full(m, np.inf), [True] * nc,
                 maximise=False, time_limit_s=time_limit_s)
    chosen = [] if res["x"] is None else [int(j) for j in np.flatnonzero(res["x"] > 0.5)]
    return {"chosen": chosen, "n_sites": len(chosen), "status": res["status"], "mip_gap": res["mip_gap"],
            "n_uncoverable": n_uncoverable}


# --------------------------------------------------------------------------- p-median
def pmedian_exact(T: sp.csr_matrix, w: np.ndarray, n: int, existing_s: np.ndarray, *,
                  penalty_s: float | None = None, time_limit_s: float = 60.0) -> dict:
    """``n`` new sites minimising total person-seconds to the nearest open facility.

    ``T`` is the sparse candidate-by-demand time matrix (entries within the threshold);
    ``existing_s`` each point's time to the nearest existing facility (``inf`` if none).
    A point served by no open facility costs ``penalty_s`` per person (default: twice the
    longest time in ``T``), so leaving people out is never free. Points no candidate reaches
    cannot be improved and are left out of the model.
    """
    T = sp.csc_matrix(T)
    nc, npnt = T.shape
    if penalty_s is None:
        penalty_s = 2.0 * float(T.data.max()) if T.nnz else 1.0
    fallback = np.where(np.isfinite(existing_s), np.minimum(existing_s, penalty_s), penalty_s)
    has_cand = np.diff(T.indptr) > 0
    todo = np.flatnonzero((w > 0) & has_cand)
    # variables: y_j (nc), x_ij for each stored pair of todo columns, x_i0 for todo with an existing facility
    Tt = T[:, todo].tocoo()
    npair = Tt.nnz
    e_idx = np.arange(len(todo))  # every point may fall back to its existing facility or the penalty
    n_e = len(e_idx)
    nvar = nc + npair + n_e
    # assignment rows: sum_j x_ij + x_i0 = 1 ... but only if the point can be served by a candidate: it can (has_cand)
    r_assign = np.r_[Tt.col, e_idx]
    c_assign = np.r_[nc + np.arange(npair), nc + npair + np.arange(n_e)]
    # linking rows: x_ij - y_j <= 0
    r_link = np.r_[np.arange(npair), np.arange(npair)] + len(todo)
    c_link = np.r_[nc + np.arange(npair), Tt.row]
    v_link = np.r_[np.ones(npair), -np.ones(npair)]
    r_card = np.full(nc, len(todo) + npair)
    M = sp.csr_matrix((np.r_[np.ones(len(r_assign)), v_link, np.ones(nc)],
                       (np.r_[r_assign, r_link, r_card], np.r_[c_assign, c_link, np.arange(nc)])),
                      shape=(len(todo) + npair + 1, nvar))
    cost = np.r_[np.zeros(nc), w[todo][Tt.col] * Tt.data, w[todo][e_idx] * fallback[todo][e_idx]]
    lower = np.zeros(nvar)
    upper = np.ones(nvar)
    rl = np.r_[np.ones(len(todo)), np.full(npair, -np.inf), float(n)]
    ru = np.r_[np.ones(len(todo)), np.zeros(npair), float(n)]
    res = _solve(cost, lower, upper, M, rl, ru, [True] * nc + [False] * (npair + n_e), maximise=False,
                 time_limit_s=time_limit_s)
    chosen = [] if res["x"] is None else [int(j) for j in np.flatnonzero(res["x"][:nc] > 0.5)]
    # total person-seconds over every point with a finite time after building
    best = existing_s.copy()
    if chosen:
        sub = T[:, :].tocsr()[chosen].tocsc()
        for i in np.flatnonzero(np.diff(sub.indptr) > 0):
            best[i] = min(best[i], sub.data[sub.indptr[i]:sub.indptr[i + 1]].min())
    fin = np.isfinite(best)
    return {"chosen": chosen, "status": res["status"], "mip_gap": res["mip_gap"],
            "person_s_before": float((w * np.where(np.isfinite(existing_s), existing_s, 0)).sum()),
            "person_s_after": float((w[fin] * best[fin]).sum()), "n_served_after": float(w[fin].sum()),
            "n_served_before": float(w[np.isfinite(existing_s)].sum())}


# --------------------------------------------------------------------------- capacitated
def capacitated_exact(A_new: sp.csr_matrix, A_old: sp.csr_matrix, demand: np.ndarray, capacity: float,
                      old_capacity: np.ndarray, n: int, *, time_limit_s: float = 60.0) -> dict:
    """``n`` new sites of ``capacity`` each, maximising demand served within the threshold.

    ``A_new``/``A_old``: candidate/existing-facility by demand coverage; ``demand`` people
    needing a place at each point (e.g. infants x take-up rate); ``old_capacity`` of the
    existing facilities (kept open). Allocation is fractional (a family goes to one place,
    but points are cells of many families). Returns ``chosen``, ``served_before``
    (existing capacity alone), ``served_after``.
    """
    A_new = _coverage_csr(A_new)
    A_old = _coverage_csr(A_old)
    nc, no = A_new.shape[0], A_old.shape[0]
    A_all = sp.vstack([A_new, A_old]).tocsc()
    keep = np.flatnonzero((demand > 0) & (np.diff(A_all.indptr) > 0))
    G, dg, _ = _merge_columns(A_all[:, keep], demand[keep])
    F = nc + no
    Gc = G.tocoo()  # facility x group pairs
    npair = Gc.nnz
    m = len(dg)
    # variables: y_j (nc), s_fg served demand of group g by facility f (npair), continuous
    # rows: for each group sum_f s_fg <= d_g ; for each facility sum_g s_fg - C_f y_f <= 0 (existing: <= C_f)
    r1 = Gc.col
    c1 = nc + np.arange(npair)
    r2 = m + Gc.row
    c2 = nc + np.arange(npair)
    r3 = m + np.arange(nc)
    c3 = np.arange(nc)
    M = sp.csr_matrix((np.r_[np.ones(npair), np.ones(npair), -np.full(nc, float(capacity)), np.ones(nc)],
                       (np.r_[r1, r2, r3, np.full(nc, m + F)], np.r_[c1, c2, c3, np.arange(nc)])),
                      shape=(m + F + 1, nc + npair))
    ub_fac = np.r_[np.zeros(nc), np.nan_to_num(np.asarray(old_capacity, dtype=float))]
    rl = np.full(m + F + 1, -np.inf)
    ru = np.r_[dg, ub_fac, float(n)]
    cost = np.r_[np.zeros(nc), np.ones(npair)]

    def served(open_new) -> float:
        rub = ru.copy()
        y = np.zeros(nc)
        y[list(open_new)] = 1
        res = _solve(cost, np.r_[y, np.zeros(npair)], np.r_[y, np.full(npair, np.inf)], M, rl, rub,
                     [False] * (nc + npair), maximise=True, relax=True)
        return res["objective"]

    res = _solve(cost, np.zeros(nc + npair), np.r_[np.ones(nc), np.full(npair, np.inf)], M, rl, ru,
                 [True] * nc + [False] * npair, maximise=True, time_limit_s=time_limit_s)
    chosen = [] if res["x"] is None else [int(j) for j in np.flatnonzero(res["x"][:nc] > 0.5)]
    return {"chosen": chosen, "status": res["status"], "mip_gap": res["mip_gap"],
            "served_before": served([]), "served_after": served(chosen), "demand_total": float(demand.sum())}


# --------------------------------------------------------------------------- model registry
@dataclass
class SitingProblem:
    """One siting instance, shared by every model (what :data:`MODELS` solve).

    ``A`` candidate-by-demand coverage within the threshold; ``T`` the same pairs' times
    (s); ``T_full`` untruncated candidate-by-demand times (p-median only); ``w`` people per
    demand point; ``covered0`` points already covered; ``existing_s`` time to the nearest
    existing facility; ``A_old``/``old_capacity`` existing facilities (capacitated only).
    """

    A: sp.csr_matrix
    w: np.ndarray
    covered0: np.ndarray
    n_sites: int
    method: str = "exact"
    T_full: sp.csr_matrix | None = None
    existing_s: np.ndarray | None = None
    A_old: sp.csr_matrix | None = None
    old_capacity: np.ndarray | None = None
    site_capacity: float = 0.0
    take_up_rate: float = 1.0
    time_limit_s: float = 30.0

    def __post_init__(self):
        self.A = _coverage_csr(self.A, as_bool=False)  # the solvers read rows of a CSR structure



#: an MCLP whose model (after merging identical demand rows) has more non-zeros than this is "large": its
#: MIP (on the candidates the Lagrangian bound leaves) gets :data:`LARGE_MIP_LIMIT_S` instead of the
#: study's time limit (Wuhan core: 0.1 M; a 200k-node grid city: 0.6-0.8 M)
EXACT_MAX_NNZ = 400_000

#: seconds HiGHS's MIP may spend on a large instance (after the Lagrangian reduction); its proven gap is
#: reported (``mip_gap``) when it stops there
LARGE_MIP_LIMIT_S = 20.0


def _solve_mclp(p: SitingProblem) -> tuple[list[int], dict]:
    """Greedy+swap first; then, for ``method = "exact"``, :func:`mclp_exact`:

    - the Lagrangian bound (:func:`mclp_lagrangian`, a sparse product per iteration) proves greedy
      optimal when it reaches the bound (to :data:`LP_PROOF_TOL` of the people gained): no MIP;
    - otherwise the candidates that cannot be in a better solution are dropped and HiGHS's MIP runs on
      the rest, warm-started with greedy, within ``time_limit_s`` (or :data:`LARGE_MIP_LIMIT_S` for a
      large instance, over :data:`EXACT_MAX_NNZ` model non-zeros); ``mip_gap`` is its proven gap.

    ``method = "greedy"`` keeps greedy+swap and reports its gap to the Lagrangian bound.
    """
    chosen, _ = mclp_greedy(p.A, p.w, p.n_sites, p.covered0)
    info = {"method": "greedy+swap", "greedy_objective": _objective(p.A, p.w, p.covered0, chosen)}
    upper = float(p.w[p.covered0 | (np.asarray(p.A.sum(axis=0)).ravel() > 0)].sum())
    base = float(p.w[p.covered0].sum())
    if not (chosen and info["greedy_objective"] < upper - 1e-6):
        info["mip_gap"] = 0.0
        return chosen, info
    if p.method != "exact":
        lag = mclp_lagrangian(p.A, p.w, p.n_sites, p.covered0, info["greedy_objective"])  # incumbent: greedy's
        gained = lag.bound - base
        info.update({"bound": lag.bound, "bound_kind": "Lagrangian",
                     "mip_gap": (lag.bound - info["greedy_objective"]) / gained if gained > 0 else 0.0})
        return chosen, info
    groups = _demand_groups(p.A, p.w, p.covered0)
    large = groups[0].nnz + len(groups[1]) + p.A.shape[0] > EXACT_MAX_NNZ  # the MIP's non-zeros (_mclp_model)
    budget = LARGE_MIP_LIMIT_S if large else p.time_limit_s
    res = mclp_exact(p.A, p.w, p.n_sites, p.covered0, time_limit_s=budget, warm_start=chosen, groups=groups)
    info.update({"bound": res["bound"], "bound_kind": "Lagrangian", "mip_gap": res["mip_gap"],
                 "status": res["status"], "time_budget_s": budget,
                 "n_candidates_mip": res["n_candidates_mip"], "n_rows_merged": res["n_rows_merged"]})
    if res["n_candidates_mip"] == 0:
        info["method"] = "greedy+swap (optimal: equals the Lagrangian bound)"
    elif res["objective"] >= info["greedy_objective"] - 1e-9:
        chosen = res["chosen"]
        info["method"] = (f"HiGHS MIP on {res['n_candidates_mip']:,} of {p.A.shape[0]:,} candidates "
                          "(the rest excluded by the Lagrangian bound)")
    if res["mip_gap"] is not None and res["mip_gap"] > 1e-3:
        info["message"] = (f"siting: stopped after {budget:g} s within {res['mip_gap']:.2%} of the best bound "
                           "on people covered")
        log.info(info["message"])
    return chosen, info


def _solve_lscp(p: SitingProblem) -> tuple[list[int], dict]:
    # demand is people: points with nobody (weight 0) need no site
    res = lscp_exact(p.A, p.covered0 | ~(p.w > 0), time_limit_s=p.time_limit_s)
    chosen = res.pop("chosen")
    res["message"] = (f"LSCP chooses the fewest sites that cover every person a candidate can reach "
                      f"({len(chosen)} sites); siting.n_sites (--n) = {p.n_sites} is ignored")
    res["method"] = "HiGHS MIP"
    return chosen, res


def _solve_pmedian(p: SitingProblem) -> tuple[list[int], dict]:
    T = p.T_full if p.T_full is not None else p.A
    res = pmedian_exact(T, p.w, p.n_sites, p.existing_s, time_limit_s=p.time_limit_s)
    res["method"] = "HiGHS MIP (untruncated times)"
    return res.pop("chosen"), res


def _solve_capacitated(p: SitingProblem) -> tuple[list[int], dict]:
    res = capacitated_exact(p.A, p.A_old, p.w * p.take_up_rate, p.site_capacity, p.old_capacity, p.n_sites,
                            time_limit_s=p.time_limit_s)
    res["method"] = "HiGHS MIP"
    return res.pop("chosen"), res


@dataclass(frozen=True)
class Model:
    """One location model: its key, what it optimises, and the function solving a :class:`SitingProblem`."""

    key: str
    objective: str
    solve: object


#: Every siting model, in one place (as spopt has a class per model). ``joint`` is MCLP on the
#: elderly and infant columns side by side with weights 1/group total (see the module docstring).
MODELS: dict[str, Model] = {m.key: m for m in [
    Model("mclp", "most people newly covered by n new sites (Church & ReVelle 1974)", _solve_mclp),
    Model("lscp", "fewest new sites covering every person a candidate can reach (Toregas et al. 1971)", _solve_lscp),
    Model("pmedian", "least total person-seconds to the nearest open facility (Hakimi 1965)", _solve_pmedian),
    Model("capacitated", "most demand served within the threshold by capacity (n sites of a given size)",
          _solve_capacitated),
    Model("joint", "sum of elderly and infant coverage shares gained (MCLP, weights 1/group total)", _solve_mclp),
]}


def solve(model: str, problem: SitingProblem) -> tuple[list[int], dict]:
    """Solve ``problem`` with the registered ``model``: ``(chosen candidate indices, info)``."""
    if model not in MODELS:
        raise SitingError(f"siting model {model!r} unknown; use one of {', '.join(MODELS)}")
    chosen, info = MODELS[model].solve(problem)
    info.setdefault("mip_gap", None)
    return [int(j) for j in chosen], {"model": model, "objective_meaning": MODELS[model].objective, **info}


# --------------------------------------------------------------------------- naming sites
def site_name_parts(sites: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, *,
                    max_road_m: float = 300.0) -> tuple[list[str], list[str]]:
    """Where each site is, as data in no language: ``(near_road, in_unit)``, the nearest named road
    within ``max_road_m`` ("" if none) and the unit (community) holding the site ("" if none).

    Edges need a ``name`` column; units ``unit_name`` (and optionally ``parent``). The words
    around them ("旁", "near") are the page's (:func:`circles.i18n.site_label`).
    """
    names = edges["name"].fillna("").astype(str).str.strip() if "name" in edges else pd.Series("", index=edges.index)
    named = edges[names.to_numpy() != ""]
    road = [""] * len(sites)
    if len(named):
        tree = shapely.STRtree(named.geometry.values)
        idx, dist = tree.query_nearest(sites.geometry.values, return_distance=True, all_matches=False)
        for (i, j), d in zip(idx.T, dist):
            if d <= max_road_m:
                road[i] = str(named["name"].iloc[j])
    unit = [""] * len(sites)
    if units is not None and len(units):
        a, b = shapely.STRtree(units.geometry.values).query(sites.geometry.values, predicate="intersects")
        for i, j in zip(a, b):
            if not unit[i]:
                r = units.iloc[j]
                parent = str(r.get("parent", "") or "")
                unit[i] = f"{parent} {r['unit_name']}".strip() if parent and parent not in str(r["unit_name"]) \
                    else str(r["unit_name"])
    return road, unit


def site_names(sites: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, *,
               language: str = "zh", max_road_m: float = 300.0) -> list[str]:
    """Name each site by where it is, in ``language``: ``"和平大道 旁 · 江汉区 C03"`` /
    ``"near 和平大道 · 江汉区 C03"`` (:func:`site_name_parts` and the catalogue's words); a site with
    no named road within ``max_road_m`` is named by its unit only."""
    road, unit = site_name_parts(sites, edges, units, max_road_m=max_road_m)
    nodes = sites["node"].tolist() if "node" in sites else [None] * len(sites)
    return [site_label(road[i], unit[i], language, node=nodes[i], index=i + 1) for i in range(len(sites))]
