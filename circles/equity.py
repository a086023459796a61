"""Who is left behind: coverage by unit decile, the units furthest behind, and walking-speed sensitivity.

- :func:`by_decile`: units ranked by their coverage share (lowest first) and cut into ten
  groups of (nearly) equal unit count; each decile's share is pooled over its people
  (people covered / people), so a decile of small units does not weigh like a dense one.
- :func:`furthest_behind`: units ranked by the people they would gain if they only reached
  the study's own share (``(study share - unit share) x unit people``), the people a fair
  share would add; ties by people beyond the threshold.
- :func:`slope_losers` (a run with ``[network] dem``): the units where most people lose their
  longest-threshold circle to slope (within it on flat ground, not with slope).
- :func:`speed_band`: coverage at other walking speeds. On the walk profile every leg of
  a trip (off-road leg and road pieces) is walked at the one speed (``circles/travel.py``:
  ``offroad_s = offroad_m / walk_speed_mps``, ``edge_time_s = length_m / walk_speed_mps``),
  so a time at speed v is the time at the study's speed x ``v0 / v``, exactly. The snapping
  limit is a distance (``max_offroad_m``), so the same cells are joined at every speed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from circles import coverage as cov
from circles.io.units import display_names
from circles.rules import SPEEDS_MPS


def by_decile(units: pd.DataFrame, group: str, minutes: float) -> list[dict]:
    """Pooled coverage of each tenth of the units, lowest coverage first."""
    share = cov.col("cov", group, "any", minutes)
    u = units[units[f"pop_{group}"] > 0].sort_values([share, f"pop_{group}"], kind="stable")
    if u.empty:
        return []
    bins = np.array_split(np.arange(len(u)), min(10, len(u)))
    out = []
    for d, rows in enumerate(bins, start=1):
        part = u.iloc[rows]
        pop = part[f"pop_{group}"].to_numpy(float)
        covered = (part[share].to_numpy(float) * pop).sum()
        out.append({"decile": d, "units": int(len(part)), "people": round(float(pop.sum()), 1),
                    "share": round(float(covered / pop.sum()), 4)})
    return out


def furthest_behind(units: pd.DataFrame, group: str, minutes: float, study_share: float, n: int = 5) -> list[dict]:
    """The ``n`` units whose people are furthest behind the study's own coverage share."""
    share = cov.col("cov", group, "any", minutes)
    beyond = cov.col("beyond", group, None, minutes)  # present for the longest threshold
    u = units[units[f"pop_{group}"] > 0].copy()
    u["_short"] = (study_share - u[share]).clip(lower=0) * u[f"pop_{group}"]
    u = u[u["_short"] > 0].sort_values(["_short", share], ascending=[False, True]).head(n)
    names = display_names(u)
    return [{"unit_id": str(r["unit_id"]), "name": names.loc[i], "share": round(float(r[share]), 4),
             "people": round(float(r[f"pop_{group}"]), 0), "shortfall_people": round(float(r["_short"]), 0),
             "beyond": round(float(r[beyond]), 0) if beyond in r else None}
            for i, r in u.iterrows()]


def slope_losers(units: pd.DataFrame, group: str, minutes: float, n: int = 5) -> list[dict]:
    """The ``n`` units where most people of ``group`` lose their ``minutes`` circle to slope (a DEM run).

    Ranked by people lost (``lost_to_slope_<group>_<T>min``, :func:`circles.coverage.flat_shares`),
    ties by the fall in share; units that lose nobody are left out.
    """
    lost = cov.col("lost_to_slope", group, None, minutes)
    share = cov.col("cov", group, "any", minutes)
    if lost not in units:
        return []
    u = units[units[lost] > 0].copy()
    u["_fall"] = u[share + "_flat"] - u[share]
    u = u.sort_values([lost, "_fall"], ascending=[False, False], kind="stable").head(n)
    names = display_names(u)
    return [{"unit_id": str(r["unit_id"]), "name": names.loc[i], "share": round(float(r[share]), 4),
             "share_flat": round(float(r[share + "_flat"]), 4), "lost_people": round(float(r[lost]), 0)}
            for i, r in u.iterrows()]


def speed_band(points: pd.DataFrame, walk_speed_mps: float, thresholds_min, speeds=SPEEDS_MPS,
               limit_min: float | None = None) -> dict:
    """Study coverage of each group at each threshold for each walking speed (walk profile only).

    With a search limit (times past it are unknown), a figure that would need a time past it
    at the study's speed is ``None`` rather than an underestimate.
    """
    out = {}
    for v in speeds:
        row = {}
        for g in cov.GROUPS:
            w = points[g].to_numpy(float)
            t = points[f"time_s_{g}_any"].to_numpy(float) * walk_speed_mps / v
            row[g] = {f"{m:g}min": (round(float(w[t <= m * 60.0].sum() / w.sum()), 4)
                                    if w.sum() and (limit_min is None or m * v / walk_speed_mps <= limit_min + 1e-9)
                                    else None)
                      for m in thresholds_min}
        out[f"{v:g}"] = row
    return out


def equity_summary(points: pd.DataFrame, units: pd.DataFrame, summary: dict, study, *, limit_min: float) -> dict:
    """What the report's equity view and speed band show (kept in ``summary.json``).

    ``limit_min``: the run's search limit in minutes (times past it are unknown).
    """
    tmax = max(summary["thresholds_min"])
    out = {"minutes": tmax, "deciles": {}, "behind": {}}
    for g in cov.GROUPS:
        out["deciles"][g] = by_decile(units, g, tmax)
        out["behind"][g] = furthest_behind(units, g, tmax, summary["coverage"][g][f"{tmax:g}min"] or 0.0)
    if cov.col("lost_to_slope", "elderly", None, tmax) in units:  # a run with a DEM: who loses to slope
        out["slope"] = {g: slope_losers(units, g, tmax) for g in cov.GROUPS}
    band = None
    if study.network.profile == "walk":
        band = speed_band(points, study.travel.walk_speed_mps, summary["thresholds_min"], limit_min=limit_min)
    return {"equity": out, "speed_band": band}
