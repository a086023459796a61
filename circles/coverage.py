"""Coverage and capacity: where every share and ratio in the outputs is computed.

Inputs are plain: population points (``total``, ``elderly``, ``infants``, ``unit_id``,
``parent``) and, per facility kind, each point's network time to the nearest facility of
that kind (``time_s_<kind>``; ``inf`` when none is reachable).

Definitions (all hand-checkable):

- ``cov_<group>_<kind>_<T>min`` = people of the group whose time to the nearest ``kind``
  is at most T minutes / people of the group. ``kind = "any"`` means any facility that
  serves the group (elderly: day-care, nursing home, comprehensive centre, meal point;
  infants: nursery, kindergarten). A unit with nobody of the group gets NaN ("no
  population"), never 0 % or 100 %.
- ``time_<group>_{mean,median,p90}_min``: population-weighted statistics of the time to
  the nearest ``any`` facility; the mean is over people who can reach one at all
  (``unreached_<group>`` counts the others); median and p90 may be ``inf``.
- ``beyond_<group>_<Tmax>min``: people farther than the longest threshold.
- ``beds_per_1000_elderly`` and ``slots_per_1000_total``: plain ratios of the capacity
  located inside the unit (for the study: inside the study area; facilities in the halo
  serve 2SFCA and travel only) to the people living in it. Beds are institutional beds
  only ("养老床位 per 1,000 elderly (GB 50437): beds in 养老院 and 老年养护院, the
  institutions; day-care places are counted separately"): ``daycare_places_inside`` holds
  day-care and comprehensive-centre places. Slots are places for children under 3
  ("每千人口拥有3岁以下婴幼儿托位数 ... 幼儿园学位 are not 托位; a kindergarten's 托班 are").
  Facilities whose capacity cell is missing are counted in ``n_beds_unknown`` /
  ``n_slots_unknown`` / ``n_daycare_places_unknown`` (flagged, never silently 0).
- ``affordable_share_slots`` (普惠), ``public_share_slots`` (公办) and ``nursing_share_beds``
  (护理型): the plans' composition shares of the capacity inside, over the facilities whose part
  cell is known (``n_affordable_unknown`` ... count the others; see :data:`COMPOSITION`);
  ``n_meal_points_inside``: the 助餐点 inside.
- ``sfca_beds_per_1000_elderly`` / ``sfca_slots_per_1000_total`` (2SFCA, Luo & Wang 2003)
  and the ``e2sfca_*`` forms (Gaussian distance decay): capacity a resident can reach per
  1,000 people, computed per population point and averaged per unit weighted by the
  demand population. See :func:`two_step_fca`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from circles.kinds import KINDS, kinds_serving  # noqa: F401  (kinds_serving re-exported)

GROUPS = ("elderly", "infants")
GROUP_POP = {"elderly": "elderly", "infants": "infants", "total": "total"}


def col(metric: str, group: str | None = None, kind: str | None = None, minutes: float | None = None) -> str:
    """The one place output column names are made: ``col("cov", "elderly", "any", 15) == "cov_elderly_any_15min"``."""
    parts = [metric]
    if group:
        parts.append(group)
    if kind:
        parts.append(kind)
    name = "_".join(parts)
    if minutes is not None:
        name += f"_{minutes:g}min"
    return name


def any_times(times) -> dict[str, np.ndarray]:
    """``time_s_<group>_any`` per group: the time to the nearest facility of any kind serving the
    group, from the ``time_s_<kind>`` columns of ``times`` (a frame or a mapping of arrays;
    missing values skipped, as :meth:`pandas.DataFrame.min` does; inf without any kind)."""
    n = len(times) if isinstance(times, pd.DataFrame) else len(next(iter(times.values()), ()))
    out = {}
    for group in GROUPS:
        cols = [np.asarray(times[f"time_s_{k}"], dtype=float) for k in kinds_serving(group) if f"time_s_{k}" in times]
        out[f"time_s_{group}_any"] = np.fmin.reduce(cols) if cols else np.full(n, np.inf)
    return out


def add_any_times(points: pd.DataFrame) -> pd.DataFrame:
    """``points`` with ``time_s_<group>_any`` added (:func:`any_times`), a new frame."""
    return points.assign(**any_times(points))


def _columns(points: pd.DataFrame, kinds: list[str]) -> dict:
    """The columns :func:`aggregate` reads, as float arrays."""
    names = ["total", *GROUPS] + [f"time_s_{g}_any" for g in GROUPS] + \
        [f"time_s_{k}" for g in GROUPS for k in kinds_serving(g) if k in kinds]
    return {c: points[c].to_numpy(dtype=float) for c in dict.fromkeys(names)}


def aggregate(points: pd.DataFrame, by: str, thresholds_min, kinds: list[str]) -> pd.DataFrame:
    """All coverage figures (the module docstring's definitions) per value of column ``by`` (keys
    sorted, rows with no key left out; a constant column gives one row for all points).

    One stable sort by key, then every figure of every group at once (``np.add.reduceat`` over the
    sorted arrays, weighted quantiles by one cumulative sum per group: :func:`_weighted_quantiles_by`),
    without a Python loop over units (a whole city has thousands: 2.6 s -> 0.1 s per call on the
    whole-city benchmark). The one implementation: ``tests/oracle.py`` ``unit_summary`` computes a
    unit's figures the plain way, and ``tests/test_coverage.py`` compares them.
    """
    codes, keys = pd.factorize(points[by], sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    order = order[bounds[0]:]  # rows with no key (code -1) sort first: left out
    starts = bounds[:-1] - bounds[0]
    cols = {c: v[order] for c, v in _columns(points, kinds).items()}
    if not len(keys):  # no point has a key: no rows (as before)
        return pd.DataFrame(index=pd.Index([], name=by))

    def total(x):
        return np.add.reduceat(x, starts)

    out: dict = {"pop_total": total(cols["total"]), "pop_elderly": total(cols["elderly"]),
                 "pop_infants": total(cols["infants"]), "n_cells": np.diff(bounds)}
    unit = np.repeat(np.arange(len(keys)), np.diff(bounds))
    tmax = max(thresholds_min)
    for group in GROUPS:
        w = cols[group]
        pop = total(w)
        some = pop > 0
        for kind in ["any"] + [k for k in kinds_serving(group) if k in kinds]:
            t = cols[f"time_s_{group}_any" if kind == "any" else f"time_s_{kind}"]
            for m in thresholds_min:
                covered = total(np.where(t <= m * 60.0, w, 0.0))
                out[col("cov", group, kind, m)] = np.divide(covered, pop, out=np.full(len(pop), np.nan), where=some)
        t = cols[f"time_s_{group}_any"] / 60.0
        reach = np.isfinite(t)
        wr = total(np.where(reach, w, 0.0))
        tw = total(np.where(reach, t, 0.0) * w)  # (inf x 0 would warn)
        out[col("time", group) + "_mean_min"] = np.divide(tw, wr, out=np.full(len(wr), np.nan), where=wr > 0)
        out[col("time", group) + "_median_min"], out[col("time", group) + "_p90_min"] = \
            _weighted_quantiles_by(unit, len(keys), t, w, (0.5, 0.9))
        out[col("beyond", group, None, tmax)] = total(np.where(t > tmax, w, 0.0))
        out[col("unreached", group)] = total(np.where(reach, 0.0, w))
    return pd.DataFrame(out, index=pd.Index(keys, name=by))


def _weighted_quantiles_by(unit: np.ndarray, n_units: int, values: np.ndarray, weights: np.ndarray, qs) -> list:
    """The weighted quantile of each unit (``unit``: ascending unit number of each row): the first
    value, in ascending order, whose cumulative weight reaches ``q`` x the unit's total, for each
    ``q`` in ``qs``, in one pass: rows with weight sorted by (unit, value) stably, cumulative sums
    taken per unit from the unit's first row (as ``np.cumsum`` on the unit alone), then the first
    row reaching ``q`` x the unit's total. NaN for a unit with no weight."""
    keep = weights > 0
    u, v, w = unit[keep], values[keep], weights[keep]
    order = np.lexsort((v, u))  # stable: ties keep their order, as the per-unit stable argsort
    u, v, w = u[order], v[order], w[order]
    count = np.bincount(u, minlength=n_units)
    first = np.cumsum(count) - count
    pos = np.arange(len(u)) - first[u]  # position inside the unit
    out = [np.full(n_units, np.nan) for _ in qs]
    # a unit's cumulative sum from its own first row (not a difference of one long cumsum): units of
    # similar size side by side in a padded block, summed along the rows (sequential, like np.cumsum)
    size = np.maximum(count, 1)
    band = np.ceil(np.log2(size)).astype(np.int64)
    for b in np.unique(band[count > 0]):
        units = np.flatnonzero((band == b) & (count > 0))
        width = int(count[units].max())
        block = np.zeros((len(units), width))
        row_of = np.full(n_units, -1)
        row_of[units] = np.arange(len(units))
        sel = row_of[u] >= 0
        block[row_of[u[sel]], pos[sel]] = w[sel]
        cum = np.cumsum(block, axis=1)
        last = cum[np.arange(len(units)), count[units] - 1]
        cum[np.arange(width)[None, :] >= count[units][:, None]] = np.inf
        for q, res in zip(qs, out):
            idx = np.minimum((cum < (q * last)[:, None]).sum(axis=1), count[units] - 1)
            res[units] = v[first[units] + idx]
    return out


def _nan0(x: np.ndarray) -> np.ndarray:
    """Missing (NaN) as 0, every other value as it is (``np.nan_to_num`` would also cap inf)."""
    return np.where(np.isnan(x), 0.0, x)


def capacity_inside(facilities: pd.DataFrame, by: str) -> pd.DataFrame:
    """Institutional beds, day-care places and under-3 slots of the facilities in each ``by`` group.

    Also counts the facilities of each measure whose capacity is unknown (``n_<measure>_unknown``),
    and the composition parts (:func:`_composition`). One row per ``by`` value (sorted; a missing
    value is left out, as ``DataFrame.groupby``), counts as integers. Summed with ``np.bincount``
    over the facility columns as arrays (a score runs this three times or more per call: the pandas
    form cost ~10 ms per call in column copies and a groupby, most of a batch area's scoring).
    """
    cap = facilities["capacity"].to_numpy(dtype=float)
    serves = facilities["serves"].to_numpy(dtype=object)
    status = facilities["capacity_status"].to_numpy(dtype=object) if "capacity_status" in facilities else \
        np.where(np.isnan(cap), "unknown", "known")
    known = status == "known"
    counts = facilities["counts_as"].to_numpy(dtype=object) if "counts_as" in facilities else \
        np.where(serves == "elderly", "beds", "slots")
    cols: dict[str, np.ndarray] = {}
    unknown: dict[str, np.ndarray] = {}
    for measure in ("beds", "daycare_places", "slots"):
        this = (counts == measure) & (serves != "")
        if measure == "slots":
            this &= serves == "infants"
        cols[f"{measure}_inside"] = np.where(this & known, _nan0(cap), 0.0)
        unknown[f"n_{measure}_unknown"] = ((counts == measure) & (status == "unknown")).astype(np.int64)
    cols.update(unknown)
    cols.update(_composition(facilities, known, _nan0(cap), serves, counts))
    codes, keys = pd.factorize(facilities[by], sort=True)
    ok = codes >= 0
    out = {}
    for name, v in cols.items():
        total = np.bincount(codes[ok], weights=v[ok], minlength=len(keys))
        out[name] = total.astype(np.int64 if v.dtype.kind == "i" else float)  # (empty: bincount gives ints)
    return pd.DataFrame(out, index=pd.Index(keys, name=by))


#: The plans' composition shares: share column -> (numerator column, base column, unknown-count column).
#: Each is counted over the facilities whose whole (slots or beds) is known *and* whose part cell is
#: known; a facility with an empty part cell (or from a gazetteer with no such column) is counted in
#: the unknown column, never as 0 (see :func:`capacity_inside`).
COMPOSITION = {
    "affordable_share_slots": ("affordable_slots_inside", "slots_affordable_known", "n_affordable_unknown"),
    "public_share_slots": ("public_slots_inside", "slots_ownership_known", "n_ownership_unknown"),
    "nursing_share_beds": ("nursing_beds_inside", "beds_nursing_known", "n_nursing_unknown"),
}


def _composition(fac: pd.DataFrame, known: np.ndarray, cap: np.ndarray, serves: np.ndarray,
                 counts: np.ndarray) -> dict[str, np.ndarray]:
    """The composition parts, bases and unknown counts of each facility, as arrays (in the order of
    :data:`COMPOSITION`, then ``n_meal_points_inside``); ``known``, ``cap`` (missing as 0), ``serves``
    and ``counts`` (``counts_as``) as :func:`capacity_inside` read them, so both count the same whole:

    - 普惠 share of nursery slots: ``affordable_slots`` (普惠托位数) over the 托位 of the under-3
      facilities (``counts_as == "slots"``) whose 托位 and 普惠托位数 are both known;
    - public share of nursery slots: 托位 of ``ownership == "public"`` (公办) facilities over the
      托位 of those whose ownership is stated (``""`` is unknown);
    - 护理型床位占比: ``nursing_beds`` (护理型床位数) over the institutional beds
      (``counts_as == "beds"``) of the homes whose beds and 护理型床位数 are both known;
    - ``n_meal_points``: 助餐点 (``kind == "meal_point"``), counted (they carry no capacity).
    """
    n = len(fac)
    slots = known & (counts == "slots") & (serves == "infants")
    beds = known & (counts == "beds") & (serves == "elderly")
    part = {k: fac[c].to_numpy(dtype=float) if c in fac else np.full(n, np.nan)
            for k, c in (("affordable", "affordable_slots"), ("nursing", "nursing_beds"))}
    owner = fac["ownership"].fillna("").astype(str).to_numpy(dtype=object) if "ownership" in fac else \
        np.full(n, "", dtype=object)
    have = {"affordable": slots & ~np.isnan(part["affordable"]), "ownership": slots & (owner != ""),
            "nursing": beds & ~np.isnan(part["nursing"])}
    return {
        "affordable_slots_inside": np.where(have["affordable"], _nan0(part["affordable"]), 0.0),
        "slots_affordable_known": np.where(have["affordable"], cap, 0.0),
        "n_affordable_unknown": (slots & ~have["affordable"]).astype(np.int64),
        "public_slots_inside": np.where(have["ownership"] & (owner == "public"), cap, 0.0),
        "slots_ownership_known": np.where(have["ownership"], cap, 0.0),
        "n_ownership_unknown": (slots & ~have["ownership"]).astype(np.int64),
        "nursing_beds_inside": np.where(have["nursing"], _nan0(part["nursing"]), 0.0),
        "beds_nursing_known": np.where(have["nursing"], cap, 0.0),
        "n_nursing_unknown": (beds & ~have["nursing"]).astype(np.int64),
        "n_meal_points_inside": (fac["kind"].to_numpy(dtype=object) == "meal_point").astype(np.int64),
    }


def add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Plain ratios from ``beds_inside``/``slots_inside`` and the unit's population (NaN where no people).

    The ratios are computed as arrays and added in one concatenation (a column set one at a time
    on a wide units table copies its blocks each time)."""
    def ratio(num: str, den: str, scale: float = 1.0) -> np.ndarray:
        d = table[den].to_numpy(dtype=float)
        return np.divide(scale * table[num].to_numpy(dtype=float), d, out=np.full(len(d), np.nan), where=d > 0)

    new = {"beds_per_1000_elderly": ratio("beds_inside", "pop_elderly", 1000),
           "slots_per_1000_total": ratio("slots_inside", "pop_total", 1000)}
    for share, (part, base, _) in COMPOSITION.items():
        if base in table:
            new[share] = ratio(part, base)
    if "daycare_places_inside" in table:
        new["daycare_places_per_1000_elderly"] = ratio("daycare_places_inside", "pop_elderly", 1000)
    t = table.copy()
    for c in [c for c in new if c in t]:  # already there: replaced where it stands
        t[c] = new.pop(c)
    return pd.concat([t, pd.DataFrame(new, index=t.index)], axis=1) if new else t


# --------------------------------------------------------------------------- community indicators
#: The plans' literal community indicators: (column, facility kinds that count, level).
#: "社区日间照料机构覆盖率: the number of communities (社区) that have a day-care facility
#: (日间照料中心 / 托老所) divided by the number of communities"; "社区托育服务覆盖率: the
#: communities that have a childcare service point (托育机构 or a nursery class) divided by the
#: number of communities"; "街道/乡镇综合养老服务中心覆盖率: the streets or townships that have a
#: comprehensive elderly-service centre divided by all streets or townships".
COMMUNITY_INDICATORS = {
    "comm_cov_daycare": (("daycare",), "unit_id"),
    "comm_cov_childcare": (("nursery", "kindergarten"), "unit_id"),
    "street_cov_elderly_centre": (("elderly_centre",), "parent"),
}


def community_table(units: pd.DataFrame, facilities: pd.DataFrame, by: str) -> pd.DataFrame:
    """The plans' literal indicators per ``by`` group of communities (units).

    ``units`` has ``unit_id``, ``parent`` (street) and ``by``; ``facilities`` has ``unit_id``,
    ``kind`` and ``serves`` (a kindergarten without 托班 has ``serves == ""`` and does not count).
    Returns ``n_communities``, ``n_streets`` and, per :data:`COMMUNITY_INDICATORS`, the share of
    communities (or streets) in the group with at least one such facility, and the count with one
    (``n_with_<indicator>``). A group's streets are the distinct ``parent`` values of its
    communities (communities with no street are left out of the street figure).

    Computed on arrays (the groups and streets factorised once; a score calls this three times or
    more); the counts are integers, except ``n_streets`` and the street counts when some group has
    no street (then floats, as a pandas reindex makes them).
    """
    fac = pd.DataFrame(facilities)
    fac = fac[(fac["unit_id"] != "") & (fac["serves"] != "")]
    codes, keys = pd.factorize(units[by], sort=True)
    n_groups = len(keys)
    parent = units["parent"].fillna("").to_numpy(dtype=object)
    pcodes, streets = pd.factorize(parent)
    n_comm = np.bincount(codes[codes >= 0], minlength=n_groups)
    # each (group, street) pair once: a group's streets (communities with no street left out)
    keep = (parent != "") & (codes >= 0)
    pair = np.unique(codes[keep].astype(np.int64) * max(len(streets), 1) + pcodes[keep])
    pair_group, pair_street = np.divmod(pair, max(len(streets), 1))
    n_streets = np.bincount(pair_group, minlength=n_groups)
    every = bool((n_streets > 0).all())  # else pandas' reindex made the street counts floats
    out = pd.DataFrame({"n_communities": n_comm, "n_streets": n_streets if every else n_streets.astype(float)},
                       index=pd.Index(keys, name=by))
    for name, (kinds, level) in COMMUNITY_INDICATORS.items():
        has = units["unit_id"].isin(set(fac.loc[fac["kind"].isin(kinds), "unit_id"])).to_numpy()
        if level == "unit_id":
            n_with = np.bincount(codes[codes >= 0], weights=has[codes >= 0], minlength=n_groups).astype(np.int64)
            share = n_with / n_comm
        else:
            street_has = np.zeros(len(streets), dtype=bool)
            street_has[pcodes[has]] = True  # a street has one when one of its communities has
            n_with = np.bincount(pair_group, weights=street_has[pair_street], minlength=n_groups)
            n_with = n_with.astype(np.int64 if every else float)  # (no pair: bincount gives ints)
            share = np.divide(n_with, n_streets, out=np.full(n_groups, np.nan), where=n_streets > 0)
        out[f"n_with_{name}"] = n_with
        out[name] = share
    return out


def where_mask(units: pd.DataFrame, where: dict) -> np.ndarray:
    """The units an indicator's ``where`` filter keeps (a boolean per row of ``units``): the unit's
    ``attr_<column>`` as text, stripped, among the filter's ``values`` (as text). The one filter of
    the scoring (:func:`circles.stages.score.score_tables`) and of the page's recomputed figures
    (:mod:`circles.panels`)."""
    return units[f"attr_{where['column']}"].astype(str).str.strip().isin([str(v) for v in where["values"]]).to_numpy()


# --------------------------------------------------------------------------- 2SFCA
def gaussian_weight(time_s: np.ndarray, catchment_s: float) -> np.ndarray:
    """Gaussian distance decay of Dai (2010), 1 at t = 0 falling to 0 at the catchment edge."""
    g = np.exp(-0.5 * (np.asarray(time_s) / catchment_s) ** 2)
    edge = np.exp(-0.5)
    return (g - edge) / (1.0 - edge)


def two_step_fca(times: sp.csr_matrix, supply: np.ndarray, demand: np.ndarray, *,
                 catchment_s: float, decay: str = "none") -> np.ndarray:
    """Two-step floating catchment accessibility per demand point.

    Parameters
    ----------
    times
        Sparse facility-by-point matrix of travel times (s); a stored entry means the pair
        is within reach (see :meth:`circles.travel.TravelNetwork.times_to_points`).
    supply
        Capacity per facility (beds or slots); NaN counts as 0.
    demand
        People per point (the group the capacity serves).
    catchment_s
        Entries with a time above this are ignored.
    decay
        ``"none"`` (classic 2SFCA, weight 1 inside the catchment) or ``"gaussian"`` (E2SFCA).

    Returns
    -------
    numpy.ndarray
        Capacity reachable per person at each point (multiply by 1,000 for "per 1,000").
        Step 1: ``R_j = S_j / sum_k w(t_kj) P_k``; step 2: ``A_i = sum_j w(t_ij) R_j``.
    """
    m = times.tocoo()
    keep = m.data <= catchment_s
    r, c, t = m.row[keep], m.col[keep], m.data[keep]
    w = np.ones_like(t) if decay == "none" else gaussian_weight(t, catchment_s)
    if decay not in ("none", "gaussian"):
        raise ValueError(f"decay must be 'none' or 'gaussian', got {decay!r}")
    W = sp.csr_matrix((w, (r, c)), shape=times.shape)
    supply = np.nan_to_num(np.asarray(supply, dtype=float))
    demand = np.asarray(demand, dtype=float)
    reached = W @ demand
    ratio = np.divide(supply, reached, out=np.zeros_like(supply), where=reached > 0)
    return W.T @ ratio


def weighted_mean_by(values: np.ndarray, weights: np.ndarray, keys: pd.Series) -> pd.Series:
    """Weighted mean of ``values`` per key (NaN where the key has no weight)."""
    return weighted_means_by({"x": (values, weights)}, keys)["x"].rename(None)


def weighted_means_by(columns: dict[str, tuple[np.ndarray, np.ndarray]], keys: pd.Series) -> pd.DataFrame:
    """:func:`weighted_mean_by` of several ``name -> (values, weights)`` at once: one groupby over
    the keys instead of one per column (the same per-column sums, so the same figures)."""
    data = {"k": keys.to_numpy()}
    for i, (values, weights) in enumerate(columns.values()):
        data[f"vw{i}"], data[f"w{i}"] = values * weights, weights
    g = pd.DataFrame(data).groupby("k").sum()
    out = {name: g[f"vw{i}"] / g[f"w{i}"].where(g[f"w{i}"] > 0) for i, name in enumerate(columns)}
    return pd.DataFrame(out, index=g.index)


def flat_shares(points: pd.DataFrame, flat: pd.DataFrame, by: dict[str, np.ndarray], minutes: float,
                kinds) -> dict[str, pd.DataFrame]:
    """Flat-ground shares beside the sloped ones, per value of each key of ``by`` (issue 23: ``[network] dem``).

    ``points`` carry the sloped times (``time_s_<kind>``, ``time_s_<group>_any``); ``flat``
    holds the same columns on flat ground, row for row; ``by`` maps a level's name (``unit_id``,
    ``parent``, ...) to its key per point. The people within reach are counted once, then
    summed per level. Per value of a level's key:
    ``cov_<group>_<kind>_<T>min_flat`` (people of the group within T minutes on flat ground /
    people of the group, NaN with nobody), ``lost_to_slope_<group>_<T>min`` (people within T
    minutes of a service of the group on flat ground but not with slope) and
    ``gained_by_slope_<group>_<T>min`` (the reverse: downhill walking is up to 1.19x faster).
    """
    cols: dict[str, np.ndarray] = {}
    pop: dict[str, np.ndarray] = {}
    tmax = minutes * 60.0
    for group in GROUPS:
        w = points[group].to_numpy(dtype=float)
        pop[group] = w
        for kind in ["any"] + [k for k in kinds_serving(group) if k in kinds]:
            name = f"time_s_{group}_any" if kind == "any" else f"time_s_{kind}"
            cols[col("cov", group, kind, minutes) + "_flat"] = w * (flat[name].to_numpy(dtype=float) <= tmax)
        tf = flat[f"time_s_{group}_any"].to_numpy(dtype=float) <= tmax
        ts = points[f"time_s_{group}_any"].to_numpy(dtype=float) <= tmax
        cols[col("lost_to_slope", group, None, minutes)] = w * (tf & ~ts)
        cols[col("gained_by_slope", group, None, minutes)] = w * (ts & ~tf)
    within, people_all = pd.DataFrame(cols), pd.DataFrame(pop)
    out = {}
    for level, keys in by.items():
        sums = within.groupby(np.asarray(keys), sort=True).sum()
        people = people_all.groupby(np.asarray(keys), sort=True).sum()
        for c in sums.columns:
            if c.startswith("cov_"):
                g = c.split("_")[1]
                sums[c] = np.where(people[g] > 0, sums[c] / people[g].where(people[g] > 0, 1.0), np.nan)
        sums.index.name = level
        out[level] = sums
    return out
