"""The summary stage: ``summary.json`` from the stage results (the one dict a run hands on)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from circles import coverage as cov
from circles import rules
from circles.credits import study_credits
from circles.equity import equity_summary
from circles.i18n import t
from circles.methods import method_params
from circles.results import Inputs, Isochrones, Scores, Siting, Travel
from circles.stages.score import capacity_summary, community_summary
from circles.study import Study
from circles.summary import build_summary, composition_summary, rnd, slope_summary, target_rows

log = logging.getLogger(__name__)


def summarise(study: Study, inputs: Inputs, travel: Travel, scores: Scores, siting: Siting, isos: Isochrones,
              points, units, preset: dict, timings: dict, cpu: dict) -> dict:
    """Every study-level figure of the run (written as ``summary.json``, shown in the report's panel)."""
    thresholds = list(inputs.thresholds_min)
    summary = build_summary(study, inputs.crs, inputs.net_report, travel.facilities, inputs.file_counts,
                            inputs.rejects, points, inputs.points_outside, inputs.estimated, units, scores.districts,
                            scores.overall, scores.overall_results, scores.unit_results, preset, siting.info,
                            thresholds, list(travel.kinds), limit_min=inputs.limit_s / 60.0)
    summary["population"]["rules"] = inputs.pop_rules
    summary["capacity"].update(capacity_summary(scores.overall, travel.facilities))
    summary["targets"]["not_assessable"] = scores.not_assessable
    summary["targets"]["not_assessable_codes"] = scores.not_assessable_codes  # what the page acts on
    summary["targets"]["catchment_min"] = scores.catchment_min
    summary["targets"]["scored"] = {r.indicator: r.scored for r in scores.overall_results.itertuples()}
    summary["targets"]["profile_wanted"] = preset["preset"].get("profile")
    summary["composition"] = composition_summary(scores.overall, inputs.optional_missing)
    if study.units.are_communities:
        summary["communities"] = community_summary(scores.overall, preset, set(travel.kinds))
    a = siting.after_scores
    if a is not None:
        summary["targets_after"] = target_rows(a.overall_results)
        summary["coverage_after"] = a.coverage_after
        summary["units_fail_after"] = a.units_fail_after
    summary["travel"] = travel_summary(study, points, travel, inputs.limit_s)
    if travel.slope is not None:  # [network] dem on the walk profile (issue 23)
        summary["slope"] = slope_summary(study.network.dem.name, travel.slope, units, scores.overall,
                                         max(thresholds))
        if travel.slope_warning:
            summary.setdefault("warnings", []).append(travel.slope_warning)
    summary.update(equity_summary(points, units, summary, study, limit_min=inputs.limit_s / 60.0))
    summary["credits"] = study_credits(study)
    summary["methods"] = method_params(study, inputs.estimated, limit_min=inputs.limit_s / 60.0)
    if travel.slope is not None:
        summary["methods"]["slope_covered_share"] = travel.slope.covered_share
    summary["timings_s"] = timings
    summary["timings_cpu_s"] = cpu
    summary["isochrones_per_facility"] = {"drawn": bool(len(isos.per_facility)), "limit_facilities": rules.PER_FACILITY_MAX,
                                          "on_demand": "circles.isochrones.facility_isochrones(res, ids)"}
    summary["coordinate_fit"] = inputs.coord_fit
    summary.setdefault("warnings", []).extend(f["message"] for f in inputs.coord_fit if f["message"])
    if inputs.no_unit_warning:
        summary["warnings"].append(inputs.no_unit_warning)
    summary["warnings"].extend(inputs.unit_warnings)
    summary["warnings"].extend(r["message"] for r in inputs.repairs if r["message"])  # per repaired unit, totals
    summary["units_repaired"] = [{k: rnd(v, 6) if isinstance(v, float) else v for k, v in r.items() if k != "message"}
                                 for r in inputs.repairs]  # NaN (no location from GEOS) as null
    kg = uncounted_kindergarten_places(travel.facilities)
    if kg:  # a rule that leaves numbers out says so (issue 22): warning, methods line, popup
        summary["methods"]["kindergarten_places"] = kg
        summary["warnings"].append(t("warn.kg_places", "en", **kg))
        log.warning(summary["warnings"][-1])
    return summary


def uncounted_kindergarten_places(facilities) -> dict | None:
    """Kindergartens' 托位数 (``slots`` column) that are not counted as under-3 slots.

    The rule (:mod:`circles.kinds`): a kindergarten counts for the under-3s only through its
    托班 places (``nursery_class_slots``); the plans' 托位 are places for children under 3, and
    a kindergarten's own places are for ages 3-6. ``{"places": n, "kindergartens": k}`` over the
    kept kindergartens with a positive ``slots`` cell; None when there are none.
    """
    if facilities is None or "slots" not in facilities or "kind" not in facilities:
        return None
    places = pd.to_numeric(facilities.loc[facilities["kind"] == "kindergarten", "slots"], errors="coerce")
    places = places[places > 0]
    if places.empty:
        return None
    return {"places": int(round(float(places.sum()))), "kindergartens": int(len(places))}


def travel_summary(study: Study, points, travel: Travel, limit_s: float) -> dict:
    """The travel rules of the run and the people they touch (summary.json ``travel``)."""
    psnap, fsnap, tmax_s = travel.point_snap, travel.facility_snap, travel.tmax_s
    w = points["total"].to_numpy(float)
    long_leg = psnap.snapped & (psnap.offroad_s > rules.LONG_OFFROAD_SHARE * tmax_s)
    beyond = {g: rnd(float(points.loc[~np.isfinite(points[f"time_s_{g}_any"]), g].sum()), 1) for g in cov.GROUPS}
    return {
        "search_limit_min": rnd(limit_s / 60.0, 3),
        "search_limit_rule": "times are exact up to the search limit (travel.max_time_min, default twice the "
                             "longest threshold) and 'beyond' past it, in single runs, batches and siting alike",
        "beyond_limit_or_unreachable": beyond,
        "offroad_rule": f"straight line from the cell centre to the nearest main-network road, walked at "
                        f"{study.travel.walk_speed_mps:g} m/s, no detour factor, up to {study.travel.max_offroad_m:g} m",
        "long_offroad_share_of_threshold": rnd(rules.LONG_OFFROAD_SHARE, 4),
        "long_offroad_cells": int(long_leg.sum()),
        "long_offroad_people": rnd(float(w[long_leg].sum()), 1),
        "nearer_fragment_cells": int(psnap.nearer_fragment.sum()),
        "nearer_fragment_people": rnd(float(w[psnap.nearer_fragment].sum()), 1),
        "nearer_fragment_facilities": int(fsnap.nearer_fragment.sum()),
        "direction": "home -> facility (drive: one-way streets in the direction of travel)",
    }
