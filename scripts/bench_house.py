"""Stage CPU times of this tree against a baseline tree, same study, same machine, one run.

    python scripts/bench_house.py --baseline /tmp/circles-before [--study data/demo/study.toml] [--repeat 3]

The baseline is a checkout of the code before issue 20 (``git archive 62e596e | tar -x -C DIR``).
Each repeat analyses the study with each tree, alternating, in fresh processes (``analyse``
only: nothing written), twice per process, and keeps the second (the first run's one-time
costs, lazy imports and caches, land in whichever stage comes first and would blur the
stages); the figure per stage is the smallest CPU time over the repeats (``summary["timings_cpu_s"]``, this process's CPU seconds, honest on shared cores).
The last line prints ``siting+whatif+isochrones`` for both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("load", "travel", "coverage", "siting", "whatif", "isochrones")
CODE = ("import json, sys; from circles.pipeline import analyse; from circles.study import load_study; "
        "analyse(load_study(sys.argv[1])); "  # warm-up: first-call costs (lazy imports, caches) land in any stage
        "res = analyse(load_study(sys.argv[1])); print(json.dumps(res.summary['timings_cpu_s']))")


def cpu_times(tree: Path, study: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CODE, str(study)], env=env, cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, required=True, help="a checkout of the code before (its root folder)")
    p.add_argument("--study", type=Path, default=ROOT / "data" / "demo" / "study.toml")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    study = a.study.resolve()
    best = {"before": {}, "after": {}}
    for _ in range(a.repeat):
        for name, tree in (("before", a.baseline.resolve()), ("after", ROOT)):
            for k, v in cpu_times(tree, study).items():
                best[name][k] = min(v, best[name].get(k, float("inf")))
    for s in STAGES:
        b, n = best["before"].get(s, float("nan")), best["after"].get(s, float("nan"))
        print(f"{s:<11} before {b:7.3f} s  after {n:7.3f} s  ratio {n / b if b else float('nan'):.2f}")
    b = sum(best["before"][s] for s in ("siting", "whatif", "isochrones"))
    n = sum(best["after"][s] for s in ("siting", "whatif", "isochrones"))
    print(f"{study.parent.name}: siting+whatif+isochrones CPU before {b:.3f} s, after {n:.3f} s, ratio {n / b:.2f} "
          f"(min of {a.repeat})")


if __name__ == "__main__":
    main()
