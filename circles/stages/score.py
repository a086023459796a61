"""The score stage: coverage, capacity, 2SFCA and plan targets per unit, district and study (-> :class:`Scores`).

:func:`score_tables` is the one scoring routine, used before siting (:func:`score`) and again
with the suggested sites built (:mod:`circles.stages.siting`), so before and after are
scored by the same code.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from circles import coverage as cov
from circles import i18n
from circles import targets as tg
from circles.results import Inputs, Scores, Travel
from circles.study import Study
from circles.summary import rnd

log = logging.getLogger(__name__)


def load_preset(study: Study) -> dict:
    """The study's plan preset, parsed once per run (a warning when it measures by another profile)."""
    preset = tg.load_preset(study.targets.preset)
    want = preset["preset"].get("profile")
    if want and want != study.network.profile:
        log.warning("preset %s measures by %s (network.profile = %r) but this study uses %r",
                    preset["preset"].get("key", "?"), "road" if want == "drive" else "walking", want,
                    study.network.profile)
    return preset


def score(study: Study, inputs: Inputs, travel: Travel, preset: dict) -> Scores:
    """Score the study's people against the facilities as they are (with a DEM: the ``_flat`` shares beside)."""
    scores = score_tables(travel.points, travel.facilities, travel.catchment, inputs.units,
                          list(inputs.thresholds_min), list(travel.kinds), preset, study.language, travel.tmax_s,
                          travel.demand, communities=study.units.are_communities,
                          **composition_options(study, inputs))
    if travel.flat_times is None:
        return scores
    return with_flat_shares(scores, travel, max(inputs.thresholds_min))


def with_flat_shares(scores: Scores, travel: Travel, minutes: float) -> Scores:
    """``scores`` with the flat-ground shares and the people slope moves across ``minutes`` (units, districts, study)."""
    pts = scores.points
    levels = cov.flat_shares(pts, travel.flat_times, {"unit_id": pts["unit_id"].to_numpy(),
                                                      "parent": pts["parent"].replace("", "(none)").to_numpy(),
                                                      "all": np.full(len(pts), "study")}, minutes, list(travel.kinds))
    by_unit = levels["unit_id"]
    units = scores.units.merge(by_unit, left_on="unit_id", right_index=True, how="left")
    moved = [c for c in by_unit.columns if not c.startswith("cov_")]
    units[moved] = units[moved].fillna(0.0)
    districts = scores.districts.join(levels["parent"], how="left")
    overall = scores.overall.join(levels["all"], how="left")
    return dataclasses.replace(scores, units=units, districts=districts, overall=overall)


def composition_options(study: Study, inputs: Inputs) -> dict:
    """The keywords of :func:`score_tables` for the composition and total indicators.

    ``missing_fields``: the optional gazetteer fields (普惠托位数, 护理型床位数, 性质) that *no*
    gazetteer of the study has a column for (their indicators are not assessable; a field
    missing from some files only is assessable on the others, whose facilities count as
    unknown); ``city``: ``(whole_city, city_population)`` of ``[targets]``.
    """
    n_files = len(inputs.file_counts)
    missing = {f for f, files in inputs.optional_missing.items() if n_files and len(set(files)) >= n_files}
    return {"missing_fields": missing, "city": (study.targets.whole_city, study.targets.city_population)}


def score_tables(points, facilities, catch, units_geo, thresholds, kinds, preset, language, tmax_s, demand, *,
                 communities: bool = False, missing_fields: set | frozenset = frozenset(),
                 city: tuple = (False, None)) -> Scores:
    """Coverage, capacity and targets per unit, district and study (the same code before and after siting).

    Study-level plain ratios and counts use the facilities inside the study area only
    (``in_area``); the halo's facilities serve 2SFCA and travel times. With community
    polygons (``communities``), the plans' literal indicators (share of communities with a
    day-care centre / a childcare point, share of streets with a comprehensive centre) are
    added per unit, street (``parent``) and study.

    Composition shares (普惠, 公办, 护理型) are scored per unit and for the study; a city-wide total
    (``total = true``: 托位数, 养老床位, 助餐点) for the study only, against
    :func:`circles.targets.city_target` (``city`` = ``(whole_city, city_population)``); a field in
    ``missing_fields`` makes its indicators not assessable ("the gazetteer has no 普惠托位数 column").
    """
    points = points.copy()
    catchment_s = min(tmax_s, 60.0 * float(preset.get("preset", {}).get("catchment_min", 15)))
    add_access(points, facilities, catch, catchment_s, demand)
    inside = facilities[facilities["in_area"]] if "in_area" in facilities else facilities
    unit_table = coverage_table(points, inside, thresholds, kinds, "unit_id")
    base_cols = ["unit_id", "unit_name", "parent"] + [c for c in units_geo.columns if c.startswith("attr_")]
    units = units_geo[base_cols + ["geometry"]].merge(unit_table, left_on="unit_id", right_index=True, how="left")
    for c in ("pop_total", "pop_elderly", "pop_infants", "n_cells", "beds_inside", "daycare_places_inside",
              "slots_inside", "n_beds_unknown", "n_daycare_places_unknown", "n_slots_unknown"):
        units[c] = units[c].fillna(0)
    parent_of = units.set_index("unit_id")["parent"]
    districts = coverage_table(points.assign(parent=points["parent"].replace("", "(none)")),
                                inside.assign(parent=inside["unit_id"].map(parent_of).fillna("").replace("", "(none)")),
                                thresholds, kinds, "parent")
    overall = coverage_table(points.assign(all="study"), inside.assign(all="study"), thresholds, kinds, "all")
    if communities:
        u = units[["unit_id", "parent"]].assign(all="study")
        u["parent"] = u["parent"].fillna("")
        units = units.merge(cov.community_table(u, inside, "unit_id"), left_on="unit_id", right_index=True,
                            how="left")
        districts = districts.join(cov.community_table(u.assign(parent=u["parent"].replace("", "(none)")),
                                                       inside, "parent"), how="left")
        overall = overall.join(cov.community_table(u, inside, "all"), how="left")
    codes = not_assessable_codes(preset, facilities, units, communities, missing_fields)  # once: codes and their words
    reasons = {k: tg.reason_text(c, language) for k, c in codes.items()}
    unit_results, overall_results = [], []
    for ind in preset["indicators"]:
        ind, scored = scored_form(ind, communities)
        if ind["id"] in reasons and scored.startswith("walk"):  # judged again in its walking-time form
            walk = not_assessable_codes({"indicators": [ind]}, facilities, units, communities, missing_fields)
            codes = {k: c for k, c in codes.items() if k != ind["id"]} | walk
            reasons = {k: r for k, r in reasons.items() if k != ind["id"]} | {
                k: tg.reason_text(c, language) for k, c in walk.items()}
        one = {"preset": preset.get("preset", {}), "indicators": [ind]}
        where = ind.get("where")
        table_u, table_o = units.set_index("unit_id"), overall
        if where is not None and ind["id"] not in reasons:
            sel = cov.where_mask(units, where)
            if not sel.any():
                values = ", ".join(map(str, where["values"]))
                reasons = {**reasons, ind["id"]: i18n.t("na.no_unit_value", language, column=where["column"],
                                                        values=values)}
                codes = {**codes, ind["id"]: {"indicator": ind["id"], "code": "no_unit_value", "kinds": [],
                                              "names": [], "column": where["column"]}}
                sel = np.ones(len(units), dtype=bool)  # evaluated as not assessable below
            table_u = table_u[sel]
            ids = set(units.loc[sel, "unit_id"])
            table_o = coverage_table(points[points["unit_id"].isin(ids)].assign(all="study"),
                                      inside[inside["unit_id"].isin(ids)].assign(all="study"), thresholds, kinds, "all")
            if communities:
                u = units.loc[sel, ["unit_id", "parent"]].assign(all="study")
                table_o = table_o.join(cov.community_table(u, inside, "all"), how="left")
        totals = {}
        if ind.get("total") and ind["id"] not in reasons:
            target, note = tg.city_target(ind, float(table_o["pop_total"].iloc[0]), whole_city=bool(city[0]),
                                          city_population=city[1], language=language)
            totals = {"unit": {**reasons, ind["id"]: i18n.t("na.total_study_only", language)},
                      "study": reasons if target is not None else {**reasons, ind["id"]: note}, "note": note}
            if target is None:  # not comparable: as a code too (no site makes it comparable)
                codes = {**codes, ind["id"]: {"indicator": ind["id"], "code": "not_comparable", "kinds": [],
                                              "names": [], "column": None}}
            if target is not None:
                one = {**one, "indicators": [{**ind, "value": target}]}
        for table, out in ((table_u, unit_results), (table_o, overall_results)):
            level = "unit" if out is unit_results else "study"
            r = tg.evaluate(table, one, language=language, not_assessable=totals.get(level, reasons))
            if totals:  # a total: the plan's figure, how the study was compared, and the count even if not comparable
                r["plan_value"], r["comparison"] = float(ind["value"]), totals["note"] if level == "study" else ""
                if level == "study":
                    r["measured"] = table[ind["metric"]].to_numpy(dtype=float)
            r["scored"] = scored
            pair = ind.get("pair")
            if pair and pair["metric"] in table and pair["metric"] != ind["metric"]:
                r["pair_metric"] = pair["metric"]
                r["pair_measured"] = table[pair["metric"]].to_numpy(dtype=float)
            out.append(r)
    unit_results = pd.concat(unit_results, ignore_index=True)
    overall_results = pd.concat(overall_results, ignore_index=True)
    units = units.merge(tg.wide(unit_results, "unit_id"), left_on="unit_id", right_index=True, how="left")
    return Scores(points=points, units=units, districts=districts, overall=overall, unit_results=unit_results,
                  overall_results=overall_results, not_assessable=reasons, catchment_min=catchment_s / 60.0,
                  not_assessable_codes=codes)


def add_access(points, facilities, catch, catchment_s, demand) -> None:
    """2SFCA and E2SFCA (Gaussian) per point: beds per 1,000 elderly and slots per 1,000 residents.

    ``catch`` is facilities by ``demand`` points: the study's points first (in order), then
    the halo's, whose people count in step 1 but are not scored. Supply is what the plans
    count: institutional beds (``counts_as == "beds"``) and under-3 places (``"slots"`` of
    facilities serving infants); unknown capacity adds nothing (and is counted elsewhere).
    """
    counts = facilities["counts_as"].to_numpy() if "counts_as" in facilities else \
        np.where(facilities["serves"] == "elderly", "beds", "slots")
    serves = facilities["serves"].to_numpy()
    capacity = np.nan_to_num(facilities["capacity"].to_numpy(dtype=float))
    n = len(points)
    for cap, group in (("beds", "elderly"), ("slots", "total")):
        ok = (counts == cap) & (serves == ("elderly" if cap == "beds" else "infants"))
        supply = np.where(ok, capacity, 0.0)
        for decay, prefix in (("none", "sfca"), ("gaussian", "e2sfca")):
            a = cov.two_step_fca(catch, supply, demand[group].to_numpy(dtype=float), catchment_s=catchment_s, decay=decay)
            points[f"{prefix}_{cap}_per_1000_{group}"] = 1000.0 * a[:n]


def coverage_table(points, facilities, thresholds, kinds, by) -> pd.DataFrame:
    table = cov.aggregate(points, by, thresholds, kinds)
    table = table.join(cov.capacity_inside(facilities, by), how="left")
    zero = [c for c in table.columns if c.endswith(("_inside", "_unknown", "_known"))]
    table[zero] = table[zero].fillna(0)
    table = cov.add_ratios(table)
    pairs = (("sfca_beds_per_1000_elderly", "elderly"), ("e2sfca_beds_per_1000_elderly", "elderly"),
             ("sfca_slots_per_1000_total", "total"), ("e2sfca_slots_per_1000_total", "total"))
    means = cov.weighted_means_by({name: (points[name].to_numpy(), points[weight].to_numpy(dtype=float))
                                   for name, weight in pairs}, points[by])
    for name in means.columns:
        table[name] = means[name]
    return table


def scored_form(ind: dict, communities: bool) -> tuple[dict, str]:
    """The indicator as scored on this study, and which form that is.

    A preset scores a community indicator literally (share of communities with one, as the plan
    words it) when community polygons are given; without them, an indicator with a ``pair``
    (the walk-based share of people) scores that instead, and says so.
    """
    literal = ind["metric"] in cov.COMMUNITY_INDICATORS
    pair = ind.get("pair")
    if literal and not communities and pair:
        return ({**ind, "metric": pair["metric"], "group": pair["group"], "gap": pair["gap"]},
                "walk (no community polygons: the plan's count of communities cannot be made)")
    if literal:  # without polygons and without a pair it is not assessable (not_assessable says why)
        return ind, ("literal (share of communities / streets with one)" if communities
                     else "not assessable (no community polygons)")
    if ind.get("total"):
        return ind, "total (city-wide; study level only)"
    if ind["metric"] in tg.NEEDS_FIELD:
        return ind, "share of capacity (facilities whose part is known)"
    return ind, ind.get("scores", "walk" if ind["metric"].startswith("cov_") else "ratio")


def not_assessable(preset, facilities, units, communities, language: str = "en",
                   missing_fields=frozenset()) -> dict:
    """Indicator id -> why it cannot be measured on this study (kind absent, no communities, no streets, no
    attribute, or a composition column (普惠托位数, 护理型床位数, 性质) in none of the gazetteers: ``missing_fields``)."""
    return {k: tg.reason_text(c, language) for k, c in not_assessable_codes(preset, facilities, units,
                                                                             communities, missing_fields).items()}


def not_assessable_codes(preset, facilities, units, communities, missing_fields=frozenset()) -> dict:
    """Indicator id -> :func:`circles.targets.not_assessable_code` (the reason as a code, for the page)."""
    streets = "parent" in units and bool((units["parent"].fillna("").astype(str) != "").any())
    codes = {ind["id"]: tg.not_assessable_code(ind, facilities, units.columns, communities, missing_fields,
                                               streets=streets)
             for ind in preset["indicators"]}
    return {k: c for k, c in codes.items() if c is not None}


def capacity_summary(overall, facilities) -> dict:
    """Study-level capacity as the plans count it (inside the study area), with unknowns flagged."""
    o = overall.iloc[0]
    out = {"daycare_places_total": rnd(o.get("daycare_places_inside"), 0),
           "daycare_places_per_1000_elderly": rnd(o.get("daycare_places_per_1000_elderly"), 2),
           "beds_counted": "institutional beds only (养老院/老年养护院, GB 50437); day-care places separate",
           "slots_counted": "places for children under 3 (托育机构 托位 and kindergartens' 托班 only)",
           "facilities_in_area": int(facilities["in_area"].sum()) if "in_area" in facilities else None,
           "facilities_in_halo": int((~facilities["in_area"]).sum()) if "in_area" in facilities else None}
    for m in ("beds", "daycare_places", "slots"):
        out[f"{m}_unknown_facilities"] = int(o.get(f"n_{m}_unknown", 0) or 0)
    return out


def community_summary(overall, preset, kinds_present) -> dict:
    """The plans' literal community indicators beside the walk-based ones, and which one the preset scores.

    An indicator whose facility kinds are in no gazetteer (``kinds_present``: the kinds serving
    someone) is ``"status": "not assessable"`` with ``share`` None, never 0 % (README, "What each
    indicator counts")."""
    o = overall.iloc[0]
    scored = {i["metric"]: i.get("scores", "walk") for i in preset["indicators"]}
    out = {"n_communities": int(o.get("n_communities", 0)), "n_streets": int(o.get("n_streets", 0) or 0)}
    for name, (kinds, _) in cov.COMMUNITY_INDICATORS.items():
        known = any(k in kinds_present for k in kinds)
        out[name] = {"share": rnd(o.get(name)) if known else None, "with": int(o.get(f"n_with_{name}", 0) or 0),
                     "status": "assessed" if known else "not assessable", "scored_by_preset": name in scored}
    return out
