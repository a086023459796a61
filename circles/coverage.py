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
  located inside the unit to the people living in it.
- ``sfca_beds_per_1000_elderly`` / ``sfca_slots_per_1000_total`` (2SFCA, Luo & Wang 2003)
  and the ``e2sfca_*`` forms (Gaussian distance decay): capacity a resident can reach per
  1,000 people, computed per population point and averaged per unit weighted by the
  demand population. See :func:`two_step_fca`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from circles.io.facilities import KINDS

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


def kinds_serving(group: str) -> list[str]:
    """Facility kinds (vocabulary keys) that serve ``group``."""
    return [k for k, v in KINDS.items() if v.serves == group]


def add_any_times(points: pd.DataFrame) -> pd.DataFrame:
    """Add ``time_s_<group>_any``: the time to the nearest facility of any kind serving the group."""
    out = points.copy()
    for group in GROUPS:
        cols = [f"time_s_{k}" for k in kinds_serving(group) if f"time_s_{k}" in out]
        out[f"time_s_{group}_any"] = out[cols].min(axis=1) if cols else np.inf
    return out


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    mask = weights > 0
    if not mask.any():
        return np.nan
    v, w = values[mask], weights[mask]
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, q * cum[-1], side="left").clip(max=len(v) - 1)])


def summarise(points: pd.DataFrame, thresholds_min, kinds: list[str]) -> dict:
    """All coverage figures for one set of population points (one unit, district or the study)."""
    row: dict = {
        "pop_total": float(points["total"].sum()),
        "pop_elderly": float(points["elderly"].sum()),
        "pop_infants": float(points["infants"].sum()),
        "n_cells": int(len(points)),
    }
    tmax = max(thresholds_min)
    for group in GROUPS:
        w = points[group].to_numpy(dtype=float)
        pop = w.sum()
        group_kinds = ["any"] + [k for k in kinds_serving(group) if k in kinds]
        for kind in group_kinds:
            t = points[f"time_s_{group}_any" if kind == "any" else f"time_s_{kind}"].to_numpy(dtype=float)
            for m in thresholds_min:
                covered = w[t <= m * 60.0].sum()
                row[col("cov", group, kind, m)] = covered / pop if pop > 0 else np.nan
        t = points[f"time_s_{group}_any"].to_numpy(dtype=float) / 60.0
        reach = np.isfinite(t)
        row[col("time", group) + "_mean_min"] = float(np.average(t[reach], weights=w[reach])) if w[reach].sum() > 0 else np.nan
        row[col("time", group) + "_median_min"] = _weighted_quantile(t, w, 0.5)
        row[col("time", group) + "_p90_min"] = _weighted_quantile(t, w, 0.9)
        row[col("beyond", group, None, tmax)] = float(w[t > tmax].sum())
        row[col("unreached", group)] = float(w[~reach].sum())
    return row


def aggregate(points: pd.DataFrame, by: str | None, thresholds_min, kinds: list[str]) -> pd.DataFrame:
    """:func:`summarise` per value of column ``by`` (``None``: one row for all points)."""
    if by is None:
        return pd.DataFrame([summarise(points, thresholds_min, kinds)])
    rows = {key: summarise(grp, thresholds_min, kinds) for key, grp in points.groupby(by, sort=True)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    return out


def capacity_inside(facilities: pd.DataFrame, by: str) -> pd.DataFrame:
    """Beds (elderly kinds) and slots (infant kinds) of the facilities inside each unit."""
    fac = facilities.copy()
    fac["_beds"] = np.where(fac["serves"] == "elderly", fac["capacity"].fillna(0), 0.0)
    fac["_slots"] = np.where(fac["serves"] == "infants", fac["capacity"].fillna(0), 0.0)
    g = fac.groupby(by)[["_beds", "_slots"]].sum()
    return g.rename(columns={"_beds": "beds_inside", "_slots": "slots_inside"})


def add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Plain ratios from ``beds_inside``/``slots_inside`` and the unit's population (NaN where no people)."""
    t = table.copy()
    t["beds_per_1000_elderly"] = np.where(t["pop_elderly"] > 0, 1000 * t["beds_inside"] / t["pop_elderly"].where(t["pop_elderly"] > 0), np.nan)
    t["slots_per_1000_total"] = np.where(t["pop_total"] > 0, 1000 * t["slots_inside"] / t["pop_total"].where(t["pop_total"] > 0), np.nan)
    return t


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
    df = pd.DataFrame({"k": keys.to_numpy(), "vw": values * weights, "w": weights})
    g = df.groupby("k")[["vw", "w"]].sum()
    return (g["vw"] / g["w"].where(g["w"] > 0)).rename(None)
