"""The study-level figures of a run (``summary.json``) and the worst units with the reason why.

Every number here is read off the coverage tables (:mod:`circles.coverage`) and target
results (:mod:`circles.targets`); nothing is computed that a planner could not check
against ``units.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from circles import coverage as cov
from circles import i18n
from circles.io.facilities import OPTIONAL_FIELDS
from circles.display import fixed
from circles.kinds import KINDS
from circles.targets import NEEDS_FIELD


def rnd(x, nd=4):
    """A JSON-friendly number: rounded, and None for NaN or infinity."""
    if x is None:
        return None
    x = float(x)
    if not np.isfinite(x):
        return None
    return float(fixed(x, nd))  # the one rounding rule (circles/display.py), as the page's JS


def target_rows(results: pd.DataFrame) -> list[dict]:
    """Study-level target results as JSON rows (one per indicator)."""
    out = []
    for r in results.to_dict("records"):
        row = {"indicator": r["indicator"], "measured": rnd(r["measured"]), "target": r["target"],
               "status": r["status"], "gap": r["gap"], "gap_text": r["gap_text"]}
        if "scored" in r:  # which form the preset scores, and the other form beside it
            row["scored"] = r["scored"]
        if isinstance(r.get("pair_metric"), str):
            row["pair_metric"], row["pair_measured"] = r["pair_metric"], rnd(r.get("pair_measured"))
        if isinstance(r.get("comparison"), str):  # a city-wide total: the plan's figure and how it was compared
            row["plan_value"], row["comparison"] = r["plan_value"], r["comparison"]
        out.append(row)
    return out


def composition_summary(overall: pd.DataFrame, optional_missing: dict) -> dict:
    """The plans' composition and size figures for the study (``summary.json`` ``composition``).

    Each share (普惠 and 公办 shares of nursery slots, 护理型 share of beds) with its part, its
    base (capacity whose part cell is known) and the facilities whose part is unknown (counted in
    neither); ``files_without_column`` names the gazetteers with no such column (every file: the
    indicator is not assessable). Totals: slots, beds and 助餐点 inside the study area.
    """
    o = overall.iloc[0]
    out = {}
    for share, (part, base, unknown) in cov.COMPOSITION.items():
        f = NEEDS_FIELD[share]
        out[share] = {"share": rnd(o.get(share)), "part": rnd(o.get(part), 0), "base": rnd(o.get(base), 0),
                      "unknown_facilities": int(o.get(unknown, 0) or 0), "column": OPTIONAL_FIELDS[f],
                      "files_without_column": list(optional_missing.get(f, []))}
    out["totals"] = {"slots": rnd(o.get("slots_inside"), 0), "beds": rnd(o.get("beds_inside"), 0),
                     "meal_points": int(o.get("n_meal_points_inside", 0) or 0)}
    return out


def build_summary(study, crs, net_report, facilities, fac_counts, rejects, points, points_outside, estimated, units,
                  districts, overall, overall_results, unit_results, preset, siting_info, thresholds, kinds, *,
                  limit_min: float) -> dict:
    """The dictionary written to ``summary.json`` (and shown in the report's panel).

    ``limit_min`` is the run's search limit (minutes, :func:`circles.rules.search_limit_s`,
    evaluated once by the load stage): times past it are "beyond".
    """
    o = overall.iloc[0]
    tmax = max(thresholds)
    coverage = {g: {f"{t:g}min": rnd(o[cov.col("cov", g, "any", t)]) for t in thresholds} for g in cov.GROUPS}
    by_kind = {k: {f"{t:g}min": rnd(o[cov.col("cov", KINDS[k].serves, k, t)]) for t in thresholds} for k in kinds}
    status = unit_results[unit_results["status"] != "no population"]
    fail_counts = status.groupby("indicator")["status"].apply(lambda s: int((s == "fail").sum())).to_dict()
    pass_counts = status.groupby("indicator")["status"].apply(lambda s: int((s == "pass").sum())).to_dict()
    worst = _worst_units(units, tmax, study.language, limit_min=limit_min)
    snapped = points["snapped"].to_numpy()
    return {
        "study": study.name,
        "title": study.title,
        "crs": str(crs),
        "walk_speed_mps": study.travel.walk_speed_mps,
        "thresholds_min": thresholds,
        "network": net_report,
        "facilities": {"files": fac_counts,
                       "by_kind": {k: int(v) for k, v in facilities["kind"].value_counts().items()},
                       "rejected": int(len(rejects))},
        "population": {
            "total": rnd(points["total"].sum(), 1),
            "elderly": rnd(points["elderly"].sum(), 1),
            "infants": rnd(points["infants"].sum(), 1),
            "in_study_area_total": rnd(points["total"].sum(), 1),
            "read_outside_area_total": rnd(points_outside["total"].sum(), 1),
            "outside_units_total": rnd(points.loc[points["unit_id"] == "", "total"].sum(), 1),
            "cells": int(len(points)),
            "beyond_offroad_cells": int((~snapped).sum()),
            "beyond_offroad_people": rnd(points.loc[~snapped, "total"].sum(), 1),
            "max_offroad_m": study.travel.max_offroad_m,
            "estimated": estimated,
        },
        "coverage": coverage,
        "coverage_by_kind": by_kind,
        "capacity": {
            "beds_per_1000_elderly": rnd(o["beds_per_1000_elderly"], 2),
            "slots_per_1000_total": rnd(o["slots_per_1000_total"], 2),
            "sfca_beds_per_1000_elderly": rnd(o["sfca_beds_per_1000_elderly"], 2),
            "e2sfca_beds_per_1000_elderly": rnd(o["e2sfca_beds_per_1000_elderly"], 2),
            "sfca_slots_per_1000_total": rnd(o["sfca_slots_per_1000_total"], 2),
            "e2sfca_slots_per_1000_total": rnd(o["e2sfca_slots_per_1000_total"], 2),
            "beds_total": rnd(o["beds_inside"], 0),
            "slots_total": rnd(o["slots_inside"], 0),
        },
        "targets": {
            "preset": preset["preset"].get("key", study.targets.preset),
            "title": preset["preset"].get(f"title_{study.language}", ""),
            "study": target_rows(overall_results),
            "units_pass": pass_counts,
            "units_fail": fail_counts,
            "preset_data": preset,
        },
        "language": study.language,
        "basemap": study.report.basemap,
        "worst_units": worst,
        "units": int(len(units)),
        "districts": {str(k): {"elderly_15min": rnd(r[cov.col("cov", "elderly", "any", tmax)]),
                               "infants_15min": rnd(r[cov.col("cov", "infants", "any", tmax)]),
                               "pop_total": rnd(r["pop_total"], 0)} for k, r in districts.iterrows()},
        "siting": siting_info,
        "illustrative_facilities": bool(any(s.illustrative for s in study.facilities)),
    }


def _worst_units(units: pd.DataFrame, tmax: float, language: str, n: int = 3,
                 limit_min: float = 30.0) -> list[dict]:
    """The ``n`` units leaving the most elderly + infants beyond the longest threshold, and why.

    Ranked by people left out rather than by share, so a sliver of a unit with 70 residents
    does not outrank a dense neighbourhood; the shares are reported beside it.
    """
    ce, ci = cov.col("cov", "elderly", "any", tmax), cov.col("cov", "infants", "any", tmax)
    be, bi = cov.col("beyond", "elderly", None, tmax), cov.col("beyond", "infants", None, tmax)
    u = units[units["pop_total"] > 0].copy()
    u["_left_out"] = u[be].fillna(0) + u[bi].fillna(0)
    out = []
    for _, r in u.sort_values(["_left_out", "pop_total"], ascending=[False, False]).head(n).iterrows():
        why = i18n.worst_why(r, tmax, language, limit_min)
        out.append({"unit_id": r["unit_id"], "parent": r["parent"], "pop_total": rnd(r["pop_total"], 0),
                    "pop_elderly": rnd(r["pop_elderly"], 0), "pop_infants": rnd(r["pop_infants"], 0),
                    "elderly_left_out": rnd(r[be], 0), "infants_left_out": rnd(r[bi], 0),
                    "elderly_15min": rnd(r[ce]), "infants_15min": rnd(r[ci]), "why": why})
    return out


def slope_summary(dem_file: str, slope, units: pd.DataFrame, overall: pd.DataFrame, minutes: float) -> dict:
    """``summary.json["slope"]`` (issue 23): the DEM, its rule, its road cover and who slope moves.

    ``slope`` is the run's :class:`circles.io.dem.SlopeTimes`; ``units`` / ``overall`` the
    scored tables with the ``_flat`` shares (:func:`circles.coverage.flat_shares`). People
    *lose* their ``minutes`` circle when a service of their group is within it on flat ground
    but not with slope; they *gain* it the other way round (downhill is up to 1.19x faster).
    """
    def moved(r, g: str) -> dict:  # one group's shares and the people slope moves, in a unit or the study
        share = cov.col("cov", g, "any", minutes)
        return {"share": rnd(r[share]), "share_flat": rnd(r[share + "_flat"]),
                "lost_people": rnd(r[cov.col("lost_to_slope", g, None, minutes)], 1),
                "gained_people": rnd(r[cov.col("gained_by_slope", g, None, minutes)], 1)}

    o = overall.iloc[0]
    return {"dem": dem_file, "rule": slope.rule, "step_m": rnd(slope.step_m, 3),
            "road_length_covered_share": rnd(slope.covered_share), "edges_outside_dem": int(slope.n_outside),
            "offroad": "off-road legs (home to road) are walked at the flat speed", "minutes": minutes,
            "total": {g: moved(o, g) for g in cov.GROUPS},
            "units": [{"unit_id": str(r["unit_id"]), **{g: moved(r, g) for g in cov.GROUPS}}
                      for _, r in units.iterrows()]}
