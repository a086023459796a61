"""Duplicate rows of a gazetteer: the linear search gives what a brute-force pairwise check gives.

The oracle is the rule written in :func:`circles.io.facilities.duplicate_of`, applied by
brute force: walk the rows in file order, compare each with every kept row (shapely's
``dwithin`` on points projected by pyproj here, not by the loader), and call it a duplicate
of the earliest kept row of the same kind and name within the tolerance.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from circles.io.facilities import duplicate_of, load_facilities
from conftest import METRIC, MUST_SHOW

TOL_M = 10.0


def _brute_force(kinds, names, points, tol_m):
    kept: list[int] = []
    dup_of = {}
    for j in range(len(points)):
        for i in kept:  # kept rows in file order: the first match is the earliest
            if kinds[i] == kinds[j] and names[i] == names[j] and shapely.dwithin(points[i], points[j], tol_m):
                dup_of[j] = i
                break
        else:
            kept.append(j)
    return kept, dup_of


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicates_equal_a_brute_force_pairwise_check(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = 400
    # a 100 m x 100 m patch: many rows within 10 m of one another; a third are exact repeats
    lon0, lat0 = 114.27, 30.59
    lon = lon0 + rng.uniform(0, 100, n) / 96_000
    lat = lat0 + rng.uniform(0, 100, n) / 111_000
    again = rng.random(n) < 0.33
    src = rng.integers(0, n, n)
    lon = np.where(again & (src < np.arange(n)), lon[src], lon)
    lat = np.where(again & (src < np.arange(n)), lat[src], lat)
    kinds = rng.choice(["养老院", "托育机构"], n)
    names = rng.choice(["甲", "乙", "丙"], n)
    same = again & (src < np.arange(n))
    kinds = np.where(same, kinds[src], kinds)
    names = np.where(same, names[src], names)
    df = pd.DataFrame({"名称": names, "类型": kinds, "经度": [f"{v:.7f}" for v in lon], "纬度": [f"{v:.7f}" for v in lat]})
    df.to_csv(tmp_path / "g.csv", index=False)
    fac, rej = load_facilities(tmp_path / "g.csv", crs=METRIC, duplicate_tolerance_m=TOL_M)

    x, y = Transformer.from_crs(4326, METRIC, always_xy=True).transform(df["经度"].astype(float), df["纬度"].astype(float))
    kept, dup_of = _brute_force(df["类型"].to_numpy(), df["名称"].to_numpy(), shapely.points(x, y), TOL_M)
    assert 50 < len(dup_of) < n - 20  # the case is not trivial either way
    assert sorted(fac["source_row"]) == [i + 2 for i in kept]
    got = {int(r): int(re.match(r"duplicate of row (\d+)", s).group(1)) for r, s in zip(rej["row"], rej["reason"])}
    assert got == {j + 2: i + 2 for j, i in dup_of.items()}
    assert set(rej["column"]) == {"名称"} and list(rej["value"]) == [names[r - 2] for r in rej["row"]]
    MUST_SHOW.append(f"gazetteer duplicates, seed {seed}: {n} rows, {len(dup_of)} duplicates, each naming the "
                     "row it repeats, equal to the brute-force pairwise check")


def test_no_chains_and_earliest_original_by_hand():
    # A at 0, B at 8 m (dup of A), C at 16 m: 16 m from A, and B is not kept -> C kept.
    # D at 4 m: within 10 m of A (4 m) and of C (12 m, no): dup of A. E at 12 m: A 12 m (no),
    # C 4 m -> dup of C (row 2). F at 0 m but another name: kept. G at 0 m exactly: dup of A.
    x = np.array([0.0, 8.0, 16.0, 4.0, 12.0, 0.0, 0.0])
    name = np.array(["a", "a", "a", "a", "a", "b", "a"], dtype=object)
    kind = np.array(["nursery"] * 7, dtype=object)
    got = duplicate_of(kind, name, x, np.zeros(7), 10.0)
    assert got.tolist() == [-1, 0, -1, 0, 2, -1, 0]
    # the boundary: exactly 10 m is within (dwithin is <=)
    assert duplicate_of(kind[:2], name[:2], np.array([0.0, 10.0]), np.zeros(2), 10.0).tolist() == [-1, 0]
    # tolerance 0: only the very same point
    assert duplicate_of(kind, name, x, np.zeros(7), 0.0).tolist() == [-1, -1, -1, -1, -1, -1, 0]
