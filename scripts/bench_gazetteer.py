"""Benchmark: a 200,000-row gazetteer read, checked and de-duplicated (issue 19).

Builds the big files from the demo gazetteer ``data/demo/facilities_illustrative.csv``
(76 rows, 3 of them bad) repeated:

- ``dups``: the list repeated as it is: every copy after the first is an exact duplicate
  (the case that took 13.8 GB at 100,000 rows before);
- ``nodups``: each copy moved by a whole number of 0.002 degree steps (about 200 m), so no row
  repeats another but every name recurs at thousands of points (the hardest case for the
  near-duplicate walk).

Each run is ``load_facilities`` in a fresh subprocess; time is the call alone, peak memory
the child's maximum resident set (imports included). The baseline is the loader as it was
before the fix (``git show 62e596e:circles/io/facilities.py``), run on the same files at a
size it can finish (20,000 rows); the last line is the 200,000-row result.

Usage: ``python scripts/bench_gazetteer.py [--rows 200000] [--old-rows 5000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "facilities_illustrative.csv"
OLD_COMMIT = "62e596e"

CHILD = r"""
import json, resource, sys, time, importlib.util
spec = importlib.util.spec_from_file_location("loader", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
t = time.perf_counter()
fac, rej = mod.load_facilities(sys.argv[2], crs="EPSG:32650", coords="gcj02")
dt = time.perf_counter() - t
dups = int(rej["reason"].str.startswith("duplicate of row").sum())
print(json.dumps({"rows": int(sys.argv[3]), "kept": len(fac), "rejected": len(rej), "duplicates": dups,
                  "time_s": dt, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build(rows: int, dups: bool, folder: Path) -> Path:
    base = pd.read_csv(DEMO, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    copies = -(-rows // len(base))
    parts = []
    for k in range(copies):
        part = base.copy()
        if not dups and k:
            lon = pd.to_numeric(part["经度"], errors="coerce") + 0.002 * (k % 60)
            lat = pd.to_numeric(part["纬度"], errors="coerce") + 0.002 * (k // 60)
            part["经度"] = lon.map(lambda v: "" if pd.isna(v) else f"{v:.6f}").where(part["经度"] != "", "")
            part["纬度"] = lat.map(lambda v: "" if pd.isna(v) else f"{v:.6f}").where(part["纬度"] != "", "")
        parts.append(part)
    out = pd.concat(parts, ignore_index=True).iloc[:rows]
    path = folder / f"gazetteer_{rows}_{'dups' if dups else 'nodups'}.csv"
    out.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def run(loader: Path, path: Path, rows: int) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(loader), str(path), str(rows)], capture_output=True,
                       text=True, cwd=ROOT, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def line(tag: str, m: dict) -> str:
    return (f"{tag} rows={m['rows']} kept={m['kept']} duplicates={m['duplicates']} rejected={m['rejected']} "
            f"time_s={m['time_s']:.2f} peak_mb={m['peak_mb']:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--old-rows", type=int, default=20_000)
    args = ap.parse_args()
    new = ROOT / "circles" / "io" / "facilities.py"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "facilities_old.py"
        old.write_text(subprocess.run(["git", "show", f"{OLD_COMMIT}:circles/io/facilities.py"], cwd=ROOT,
                                      capture_output=True, text=True, check=True).stdout, encoding="utf-8")
        small = build(args.old_rows, True, tmp)
        m_old, m_new = run(old, small, args.old_rows), run(new, small, args.old_rows)
        assert (m_old["kept"], m_old["rejected"]) == (m_new["kept"], m_new["rejected"]), (m_old, m_new)
        print(line("old", m_old))
        print(line("new", m_new))
        print(f"old/new at {args.old_rows} rows (same kept and rejected): time x{m_old['time_s'] / m_new['time_s']:.1f}, "
              f"peak memory x{m_old['peak_mb'] / m_new['peak_mb']:.1f}")
        results = []
        for dups in (False, True):
            m = run(new, build(args.rows, dups, tmp), args.rows)
            results.append(m)
            print(line("new " + ("dups" if dups else "nodups"), m))
    print(line("rows", results[-1]).removeprefix("rows "))


if __name__ == "__main__":
    main()
