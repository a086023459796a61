"""The page's what-if (whatif.js in headless Chromium) on random sets of candidate sites, grid
candidates included, against the Python evaluation and a fresh re-score.

The fresh re-score is the real pipeline (``analyse``) on a copy of the demo whose gazetteer holds
the chosen sites as facilities (their exact projected positions, the what-if's capacities), so
the reference shares no code with the page: coverage shares agree to 1e-6 (the page stores
float32 weights and times rounded up to whole seconds; the measured difference is ~1e-7), and
every target's status and gap agree exactly.
"""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from circles import whatif
from circles.pipeline import analyse
from circles.study import load_study
from conftest import DEMO

ZH = {"daycare": "社区日间照料中心", "nursery": "托育机构", "nursing_home": "养老院"}


def _subsets(p: dict, n_sets: int, seed: int = 24) -> list[list[tuple[int, str]]]:
    """Random sets of 1-6 snapped candidates, each with at least one grid (not suggested) candidate,
    each site built as a random kind the what-if offers."""
    rng = np.random.default_rng(seed)
    c = p["candidates"]
    grid = [i for i, (s, ok) in enumerate(zip(c["suggested"], c["snapped"])) if not s and ok]
    sugg = [i for i, s in enumerate(c["suggested"]) if s]
    kinds = sorted(p["kinds"])
    out = []
    for _ in range(n_sets):
        k = int(rng.integers(1, 6))
        picks = list(rng.choice(grid, size=k, replace=False)) + list(rng.choice(sugg, size=int(rng.integers(0, 3)),
                                                                                replace=False))
        out.append([(int(i), str(rng.choice(kinds))) for i in picks])
    return out


def _rescore(tmp_path, res, cands, chosen, p):
    d = tmp_path / "study"
    shutil.copytree(DEMO, d)
    with (d / "chosen.csv").open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["编号", "名称", "类型", "x", "y", "床位数", "托位数"])
        for j, (i, kind) in enumerate(chosen):
            g = cands.geometry.iloc[i]
            cap = p["candidates"]["capacity"][i] if p["candidates"]["kind"][i] == kind and \
                p["candidates"]["capacity"][i] else p["kinds"][kind]["capacity"]
            slots = cap if p["kinds"][kind]["counts_as"] == "slots" else ""
            beds = "" if slots else cap
            w.writerow([f"NEW{j}", f"new site {j}", ZH[kind], repr(g.x), repr(g.y), beds, slots])
    toml = (d / "study.toml").read_text(encoding="utf-8")
    toml = toml.replace("[population]", '[[facilities]]\npath = "chosen.csv"\ncoords = "EPSG:32650"\n'
                        'illustrative = true\n\n[population]', 1)
    (d / "study.toml").write_text(toml, encoding="utf-8")
    study = load_study(d / "study.toml")
    study.siting.n_sites = 0
    return analyse(study)


def test_whatif_in_chromium_equals_python_and_a_fresh_rescore(demo_run, whatif_page, tmp_path):
    res, folder = demo_run
    p = res.whatif
    cands = whatif.candidate_sites(res.study, res.net, res.nodes, res.area, res.sites)
    assert len(cands) == len(p["candidates"]["kind"])
    sets = _subsets(p, 3)
    js = whatif_page.evaluate(p, {str(k): s for k, s in enumerate(sets)})
    grid_seen = changed = 0
    for k, chosen in enumerate(sets):
        got = js[str(k)]["study"]
        twin = whatif.evaluate(p, chosen)
        for g in ("elderly", "infants"):
            assert got["coverage"][g] == pytest.approx(twin["coverage"][g], abs=1e-12)
        for ind, v in twin["indicators"].items():
            assert got["indicators"][ind]["measured"] == pytest.approx(v, rel=1e-9, abs=1e-12), ind
        fresh = _rescore(tmp_path / str(k), res, cands, chosen, p)
        assert len(fresh.facilities) == len(res.facilities) + len(chosen)  # every chosen site was read
        pts = fresh.points
        for g in ("elderly", "infants"):
            t = pts[f"time_s_{g}_any"].to_numpy()
            wg = pts[g].to_numpy()
            for m in res.summary["thresholds_min"]:
                share = wg[t <= m * 60].sum() / wg.sum()
                assert got["coverage"][g][f"{m:g}min"] == pytest.approx(share, abs=1e-6), (k, g, m)
        for r in fresh.summary["targets"]["study"]:
            page = got["indicators"].get(r["indicator"])
            if page is None:  # a where-filtered indicator: left to the pipeline
                continue
            assert (page["status"], page["gap"]) == (r["status"], r["gap"]), (k, r["indicator"])
            if r["measured"] is not None:
                assert round(page["measured"], 4) == pytest.approx(r["measured"], abs=1e-12), (k, r["indicator"])
        changed += got["coverage"] != {g: dict(v) for g, v in res.summary["coverage"].items()}
        grid_seen += sum(not p["candidates"]["suggested"][i] for i, _ in chosen)
    assert grid_seen >= 3 and changed >= 2
