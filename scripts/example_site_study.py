"""A site-selection study from Python: coverage gained by 1..10 new nurseries at two walking speeds.

Usage::

    python scripts/example_site_study.py [--study data/demo/study.toml] [--out maps/site-study]

Writes ``coverage_vs_n.csv`` and ``coverage_vs_n.png`` (share of infants within 15 minutes of
a nursery against the number of new 150-slot nurseries, for carers walking at 1.0 and 0.8 m/s).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from circles.pipeline import analyse, suggest  # noqa: E402
from circles.study import load_study  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, default=ROOT / "data" / "demo" / "study.toml")
    ap.add_argument("--out", type=Path, default=ROOT / "maps" / "site-study")
    a = ap.parse_args()
    rows = []
    for speed in (1.0, 0.8):
        study = load_study(a.study)
        study.travel.walk_speed_mps = speed
        study.siting.n_sites = 0
        res = analyse(study)  # loads, computes times and scores once per speed
        for n in range(1, 11):
            sites, info = suggest(res, "nursery", n_sites=n, slots=150, threshold_min=15)
            i = info["nursery"]
            rows.append({"walk_speed_mps": speed, "n_new": n, "share_before": i["share_before"],
                         "share_after": i["share_after"], "infants_gained": i["covered_after"] - i["covered_before"],
                         "slots_added": i["capacity_added"], "method": i["method"], "mip_gap": i["mip_gap"]})
            print(f"{speed} m/s, {n:2d} new: {i['share_before']:.1%} -> {i['share_after']:.1%} ({i['method']})")
    table = pd.DataFrame(rows)
    a.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out / "coverage_vs_n.csv", index=False)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    for speed, g in table.groupby("walk_speed_mps"):
        ax.plot(g["n_new"], g["share_after"], marker="o", label=f"{speed:g} m/s")
        ax.axhline(g["share_before"].iloc[0], ls=":", lw=0.8, color=ax.lines[-1].get_color())
    ax.set_xlabel("new 150-slot nurseries")
    ax.set_ylabel("infants within 15 min of a nursery")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(title="carer walking speed")
    fig.tight_layout()
    fig.savefig(a.out / "coverage_vs_n.png")
    print(f"wrote {a.out / 'coverage_vs_n.csv'} and coverage_vs_n.png")


if __name__ == "__main__":
    main()
