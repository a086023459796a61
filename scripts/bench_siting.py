"""Benchmark the siting models against spopt (default solver, CBC via pulp) on the demo.

Usage::

    python scripts/bench_siting.py [--p 10] [--minutes 5] [--spacing 150] [--repeat 3]

The instance: demo population cells (elderly as demand) and candidate sites on the demo
road network (one node per ``--spacing`` m square), coverage = a walk of at most
``--minutes`` at 1.0 m/s. On the demo's sparse network the 15-minute instance is the one
where plain greedy is not optimal (it falls 0.7 % short; at 5, 8 and 10 minutes greedy is
optimal), so it is the default headline; a 5-minute instance is run too. Both sides get the same coverage; both timings include
building the model (spopt: ``MCLP.from_cost_matrix`` on the dense cost matrix + ``solve``;
circles: ``mclp_exact`` from the sparse matrix, row merging included). The travel-time
matrix itself is computed once and reported separately. Times are the best of ``--repeat``.

The last line sums the run up as key=value pairs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from circles.pipeline import analyse
from circles.siting import candidate_nodes, mclp_exact, mclp_greedy, mclp_lp_bound, _objective
from circles.study import load_study
from circles.travel import TravelNetwork

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def instance(minutes: float, spacing: float):
    study = load_study(ROOT / "data/demo/study.toml")
    study.siting.n_sites = 0
    res = analyse(study)
    net = TravelNetwork(res.nodes, res.edges, walk_speed_mps=1.0)
    cands = candidate_nodes(res.nodes, spacing_m=spacing, area=res.area)
    t0 = time.perf_counter()
    csnap = net.snap_points(cands, max_offroad_m=1)
    psnap = net.snap_points(res.points, max_offroad_m=500)
    A = (net.times_to_points(csnap, psnap, cutoff_s=minutes * 60) > 0).tocsr()
    t_matrix = time.perf_counter() - t0
    reach = np.asarray(A.sum(axis=0)).ravel() > 0
    w = res.points["elderly"].to_numpy()
    return A[:, reach], w[reach], t_matrix, len(res.points)


def run(minutes, p, spacing, repeat):
    import pulp
    from spopt.locate import MCLP

    A, w, t_matrix, n_points = instance(minutes, spacing)
    c0 = np.zeros(A.shape[1], dtype=bool)
    print(f"\n== {minutes:g}-minute walk, p = {p}: {A.shape[1]:,} coverable demand cells (of {n_points:,}), "
          f"{A.shape[0]} candidates; matrix {t_matrix:.3f} s (computed once, not in the timings)")
    t_ours, ours = best_of(lambda: mclp_exact(A, w, p, c0), repeat)

    def spopt_run():
        cost = np.where(A.toarray().T, 1.0, 1e6)
        m = MCLP.from_cost_matrix(cost, w, service_radius=10.0, p_facilities=p)
        return m.solve(pulp.PULP_CBC_CMD(msg=False))

    t_spopt, m = best_of(spopt_run, repeat)
    theirs = float(pulp.value(m.problem.objective))
    t_plain, (plain, _) = best_of(lambda: mclp_greedy(A, w, p, c0, swaps=False), repeat)
    t_heur, (heur, _) = best_of(lambda: mclp_greedy(A, w, p, c0), repeat)
    lp = mclp_lp_bound(A, w, p, c0)
    opt = ours["objective"]
    plain_obj, heur_obj = _objective(A, w, c0, plain), _objective(A, w, c0, heur)
    print(f"circles HiGHS: {t_ours:.3f} s, objective {opt:,.1f}, MIP gap {ours['mip_gap']:.2e}, "
          f"{ours['n_rows_merged']:,} demand rows merged")
    print(f"spopt + CBC:   {t_spopt:.3f} s, objective {theirs:,.1f}  -> speedup x{t_spopt / t_ours:.1f}")
    print(f"plain greedy:  {1000 * t_plain:.1f} ms, objective {plain_obj:,.1f}, gap to optimum {(opt - plain_obj) / opt:.2%}")
    print(f"greedy + swap: {1000 * t_heur:.1f} ms, objective {heur_obj:,.1f}, gap to optimum {(opt - heur_obj) / opt:.2%}, "
          f"gap to LP bound {(lp - heur_obj) / lp:.2%}")
    return {"speedup_vs_spopt": t_spopt / t_ours, "objective_gap": (theirs - opt) / theirs,
            "greedy_gap": (opt - heur_obj) / opt, "plain_greedy_gap": (opt - plain_obj) / opt,
            "ours_s": t_ours, "spopt_s": t_spopt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--spacing", type=float, default=150.0)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    other = run(5.0, a.p, a.spacing, a.repeat)
    hard = run(a.minutes, a.p, a.spacing, a.repeat)
    print(f"\n5 min: speedup x{other['speedup_vs_spopt']:.1f}, plain greedy gap {other['plain_greedy_gap']:.2%}")
    print(" ".join([f"speedup_vs_spopt={hard['speedup_vs_spopt']:.1f}", f"objective_gap={hard['objective_gap']:.2e}",
                    f"greedy_gap={hard['greedy_gap']:.4f}", f"plain_greedy_gap={hard['plain_greedy_gap']:.4f}",
                    f"ours_s={hard['ours_s']:.3f}", f"spopt_s={hard['spopt_s']:.3f}", f"minutes={a.minutes:g}",
                    f"p={a.p}"]))


if __name__ == "__main__":
    main()
