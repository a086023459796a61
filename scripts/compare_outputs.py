"""Compare two run folders' numbers: ``python scripts/compare_outputs.py BEFORE AFTER``.

Compares ``units.csv``, ``districts.csv``, ``targets.csv`` (every column, unrounded, numbers
at 1e-9 relative, text exactly) and every number, string and list in ``summary.json``
(timings and paths ignored). Prints one line per file: ``equal`` or the differing columns
or keys. Exit status 1 when anything differs. Folders may be nested (a bench work folder:
the first ``summary.json`` found below it is used).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

RTOL = 1e-9
#: summary.json keys that are not results: run times, and paths that differ between folders
IGNORED = ("timings_s", "timings_cpu_s")


def run_folder(folder: Path) -> Path:
    """The folder holding ``summary.json`` (``folder`` itself or the first one below it)."""
    if (folder / "summary.json").exists():
        return folder
    found = sorted(folder.rglob("summary.json"))
    if not found:
        sys.exit(f"{folder}: no summary.json in or below it")
    return found[0].parent


def _close(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=0.0) or a == b


def _looks_like_path(x) -> bool:
    return isinstance(x, str) and ("/" in x or "\\" in x) and Path(x).suffix != ""


def compare_json(a, b, key: str = "") -> list[str]:
    """Keys whose values differ (recursive; timings and path strings ignored)."""
    if key.split(".")[-1] in IGNORED:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{key}.{k}".lstrip(".") + " (only in one)" for k in set(a) ^ set(b) if k not in IGNORED]
        for k in sorted(set(a) & set(b)):
            out += compare_json(a[k], b[k], f"{key}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{key.lstrip('.')} (length {len(a)} vs {len(b)})"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += compare_json(x, y, f"{key}[{i}]")
        return out
    if _looks_like_path(a) and _looks_like_path(b):
        return []
    return [] if _close(a, b) else [key.lstrip(".")]


def compare_csv(a: Path, b: Path) -> list[str]:
    """Columns that differ (names, then values: numbers at RTOL, everything else exactly)."""
    x = pd.read_csv(a, encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    y = pd.read_csv(b, encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    out = [f"{c} (only in one)" for c in sorted(set(x.columns) ^ set(y.columns))]
    if len(x) != len(y):
        return out + [f"rows {len(x)} vs {len(y)}"]
    for c in [c for c in x.columns if c in y.columns]:
        u, v = x[c], y[c]
        if pd.api.types.is_numeric_dtype(u) and pd.api.types.is_numeric_dtype(v):
            uu, vv = u.to_numpy(float), v.to_numpy(float)
            same = np.isclose(uu, vv, rtol=RTOL, atol=0.0, equal_nan=True) | (uu == vv)
        else:
            same = (u.fillna("<NA>").astype(str) == v.fillna("<NA>").astype(str)).to_numpy()
        if not same.all():
            out.append(f"{c} ({int((~same).sum())} rows)")
    return out


def main(before: str, after: str) -> int:
    a, b = run_folder(Path(before)), run_folder(Path(after))
    bad = 0
    for name in ("units.csv", "districts.csv", "targets.csv"):
        diff = compare_csv(a / name, b / name)
        bad += bool(diff)
        print(f"{name}: " + ("equal" if not diff else "differs: " + ", ".join(diff)))
    diff = compare_json(json.loads((a / "summary.json").read_text(encoding="utf-8")),
                        json.loads((b / "summary.json").read_text(encoding="utf-8")))
    bad += bool(diff)
    print("summary.json: " + ("equal" if not diff else "differs: " + ", ".join(diff[:30])
                              + (f" (+{len(diff) - 30} more)" if len(diff) > 30 else "")))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
