"""The siting stage: suggested sites, their one after-state, and the study scored again (-> :class:`Siting`).

The models live in :mod:`circles.siting` (one registry, :func:`circles.siting.solve`); this
stage builds their matrices from the travel stage's snaps and times. New sites are snapped
to the network with the same rule as every facility (``travel.max_offroad_m``), once, in
:func:`after_state`: the siting table's gains, the before/after shares in ``info`` and the
report's after columns all come from that one after-state.

Times before siting are exact up to the search limit of the siting study. When that limit
is longer than the travel stage's (``suggest(res, kind, threshold_min=45)`` on a run
analysed with the default 30-minute limit), :func:`times_before` searches the siting kinds
again from the travel stage's facility snap up to the new limit; otherwise the travel
stage's times are used as they are. (Reusing times cut at the old limit counted people
between the two limits as uncovered.)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from circles import coverage as cov
from circles import rules
from circles.errors import StudyError
from circles import i18n
from circles.i18n import site_label
from circles.kinds import KINDS, counts_as, in_order, kinds_present
from circles.io.units import assign_points
from circles.results import AfterScores, AfterState, CandidateTimes, Inputs, Scores, Siting, Travel
from circles.siting import SitingProblem, site_name_parts, solve
from circles.stages.candidates import candidate_times
from circles.stages.score import composition_options, score_tables
from circles.stages.travel import nearest_by_kind, serving
from circles.study import Study
from circles.summary import rnd
from circles.travel import subset


def times_before(study: Study, travel: Travel) -> tuple[dict[str, np.ndarray], float]:
    """Each kind's times to the nearest existing facility, exact up to the siting study's search limit.

    Returns the times (kind -> array over the study's points) and that limit (seconds).
    The travel stage's times are reused when its limit is at least as long; otherwise the
    siting kinds are searched again, from the travel stage's facility snap, to the new limit.
    """
    limit_s = rules.search_limit_s(study)
    times = {k: travel.points[f"time_s_{k}"].to_numpy() for k in KINDS}
    if limit_s <= travel.limit_s:
        return times, travel.limit_s
    kinds = [k for k in study.siting.kinds if k in KINDS]
    times.update(nearest_by_kind(travel.net, travel.facilities, travel.facility_snap, travel.point_snap, limit_s, kinds))
    return times, limit_s


def siting(study: Study, inputs: Inputs, travel: Travel, scores: Scores, preset: dict) -> Siting:
    """Suggest sites (``[siting]`` of ``study``), build them once, and score the study again with them."""
    check_sizing(study, preset)
    before, limit_s = times_before(study, travel)
    ct = candidate_times(study, inputs, travel, scores.units)
    sites, info, after = choose_sites(study, inputs, travel, scores.units, scores.points, before, limit_s, ct)
    sites = floor_per_slot(study, preset, sites)
    after_scores = None if after is None else score_after(study, inputs, travel, scores, after, ct, preset)
    return Siting(sites=sites, info=info, candidates=ct, after=after, after_scores=after_scores)


def check_sizing(study: Study, preset: dict) -> None:
    """Refuse, in one line, new nurseries smaller than the preset's ``[preset] min_nursery_slots``.

    甘孜 [002]: "a prefecture nursery centre has >= 150 slots"; a suggestion of a smaller nursery
    would not be one the plan allows, so ``[siting] slots`` below it is a :class:`StudyError`.
    """
    p, s = preset.get("preset", {}), study.siting
    least = p.get("min_nursery_slots")
    if least is None or s.n_sites == 0 or not any(KINDS[k].capacity == "slots" for k in s.kinds if k in KINDS):
        return
    if s.slots < least:
        raise StudyError(i18n.t("siting.too_small", "en", preset=p.get("key", "the preset"), min=f"{least:g}",
                           source=p.get("sizing_source", "[preset] min_nursery_slots"), slots=s.slots))


def floor_per_slot(study: Study, preset: dict, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Floor area per slot beside each suggested nursery, where the study gives the floor area.

    The floor area is ``[siting] floor_m2`` (one planned size for every new nursery: the siting
    models place sites of one size, ``[siting] slots``). Columns ``floor_m2``, ``floor_m2_per_slot``
    and, with the preset's ``min_floor_m2_per_slot`` (甘孜: >= 15 m² per slot), ``floor_check``
    (in the run's language). Sites of other kinds, or a study with no floor area, get none.
    """
    if not len(sites) or study.siting.floor_m2 is None:
        return sites
    sites = sites.copy()
    nursery = np.array([KINDS[k].capacity == "slots" for k in sites["kind"]])
    per = np.where(nursery, float(study.siting.floor_m2) / sites["capacity"].astype(float).clip(lower=1), np.nan)
    sites["floor_m2"] = np.where(nursery, float(study.siting.floor_m2), np.nan)
    sites["floor_m2_per_slot"] = per
    least = preset.get("preset", {}).get("min_floor_m2_per_slot")
    if least is not None:
        sites["floor_check"] = [
            "" if not np.isfinite(x) else i18n.t("siting.floor_ok" if x >= least else "siting.floor_short", study.language,
                                            per=f"{x:.1f}", min=f"{least:g}") for x in per]
    return sites


def choose_sites(study: Study, inputs: Inputs, travel: Travel, units: gpd.GeoDataFrame, points: gpd.GeoDataFrame,
                 before: dict[str, np.ndarray], limit_s: float,
                 ct: CandidateTimes | None) -> tuple[gpd.GeoDataFrame, dict, AfterState | None]:
    """Suggest sites for each requested kind (or jointly); returns ``(sites, info, after_state)``.

    ``before`` holds each kind's times to the nearest existing facility, exact up to
    ``limit_s`` (the search limit of ``study``, see :func:`times_before`). ``ct`` holds
    every candidate's snap and times (:func:`circles.stages.candidates.candidate_times`,
    built for this ``study``): the models, the after-state and its scores read rows of it.

    The model is solved by :func:`circles.siting.solve` (one registry of models). New sites
    are candidates, snapped once with the same rule as every facility
    (``travel.max_offroad_m``): the siting table's gains, the before/after shares in
    ``info`` and the report's after columns all come from the one after-state.
    """
    net, edges, facilities = travel.net, inputs.edges, travel.facilities
    psnap = travel.point_snap
    s = study.siting
    empty = gpd.GeoDataFrame({"kind": [], "rank": [], "gain": []}, geometry=[], crs=net.crs)
    if s.n_sites == 0 or not s.kinds:
        return empty, {}, None
    for kind in s.kinds:
        if kind not in KINDS:
            raise StudyError(f"siting.kinds: {kind!r} is not a facility kind; use one of {sorted(KINDS)}")
    threshold_s = s.threshold_min * 60.0

    def candidates_for(kind):
        return ct.sets["joint" if kind is None else kind]

    def coverage(cands):
        rows = ct.rows(cands.geometry.values)
        T = ct.to_points(rows, threshold_s)
        return subset(ct.snap, rows), T, (T > 0).astype(bool).tocsr()

    def label_sites(sites, kind, group, size):
        sites = sites.copy()
        sites["kind"] = kind
        sites["kind_zh"] = KINDS[kind].zh
        sites["capacity"] = size
        sites["group"] = group
        return sites

    def named(cands):
        missing = cands["name"].fillna("").astype(str).str.strip() == "" if "name" in cands else None
        if missing is not None and "generated" in cands:
            missing = missing | cands["generated"].fillna(False).astype(bool)
        if edges is not None and (missing is None or missing.any()):
            # where the site is, as data (the page words it in its own language, i18n.site_label);
            # None on a site named by the candidates file; ``name`` in the run's language, for files
            road, unit = site_name_parts(cands, edges, units)
            nodes_ = cands["node"].tolist() if "node" in cands else [None] * len(cands)
            auto = [site_label(r, u, study.language, node=nd, index=i + 1)
                    for i, (r, u, nd) in enumerate(zip(road, unit, nodes_))]
            cands = cands.copy()
            keep = np.zeros(len(cands), bool) if missing is None else ~missing.to_numpy()
            cands["name"] = auto if missing is None else np.where(missing, auto, cands["name"])
            cands["near_road"] = [None if k else r for k, r in zip(keep, road)]
            cands["in_unit"] = [None if k else u for k, u in zip(keep, unit)]
        return cands

    info_all, parts = {}, []
    if s.model == "joint":
        if len(s.kinds) != 2 or {KINDS[k].serves for k in s.kinds} != {"elderly", "infants"}:
            raise StudyError("siting.model = 'joint' needs siting.kinds = [an elderly kind, an infant kind]")
        ke = next(k for k in s.kinds if KINDS[k].serves == "elderly")
        ki = next(k for k in s.kinds if KINDS[k].serves == "infants")
        we, wi = points["elderly"].to_numpy(float), points["infants"].to_numpy(float)
        weights = {"elderly": 1.0 / max(we.sum(), 1e-9), "infants": 1.0 / max(wi.sum(), 1e-9)}
        w = np.r_[we * weights["elderly"], wi * weights["infants"]]  # shares gained, summed
        cov0 = np.r_[before[ke] <= threshold_s, before[ki] <= threshold_s]
        cands = candidates_for(None)
        if len(cands) == 0:
            raise StudyError("siting: no candidate site in the study area")
        _, _, A1 = coverage(cands)
        chosen, info = solve("joint", SitingProblem(sp.hstack([A1, A1]).tocsr(), w, cov0, s.n_sites, method=s.method))
        sites = named(cands.iloc[chosen]).reset_index(drop=True)
        info.update({"kind": f"{ke}+{ki}", "group": "both", "n_sites": int(len(sites)), "threshold_min": s.threshold_min,
                     "n_candidates": int(len(cands)), "weights": weights,
                     "objective_meaning": f"sum of coverage shares gained: each elderly person weighs "
                                          f"{weights['elderly']:.3g}, each infant {weights['infants']:.3g}"})
        info_all["joint"] = info
        parts = [label_sites(sites, ke, "elderly", s.beds), label_sites(sites, ki, "infants", s.slots)]
    else:
        for kind in s.kinds:
            group = KINDS[kind].serves
            size = s.slots if KINDS[kind].capacity == "slots" else s.beds
            w = points[group].to_numpy(dtype=float)
            t_old = before[kind]
            covered0 = t_old <= threshold_s
            cands = candidates_for(kind)
            if len(cands) == 0:
                info_all[kind] = {"kind": kind, "group": group, "n_sites": 0, "model": s.model,
                                  "message": "every unit is already fully covered: no candidate site generated"}
                continue
            csnap, T, A = coverage(cands)
            problem = SitingProblem(A, w, covered0, s.n_sites, method=s.method, existing_s=t_old,
                                    site_capacity=size, take_up_rate=s.take_up_rate)
            if s.model == "pmedian":  # untruncated times (bounded only by the search limit)
                problem.T_full = net.times_to_points(csnap, psnap, cutoff_s=limit_s).tocsr()
            if s.model == "capacitated":  # the travel stage's facility snap, not a second one
                same = serving(facilities, kind)
                problem.A_old = (net.times_to_points(subset(travel.facility_snap, same), psnap,
                                                     cutoff_s=threshold_s) > 0).astype(bool)
                problem.old_capacity = facilities.iloc[same]["capacity"].to_numpy(float)
            chosen, info = solve(s.model, problem)
            info.update({"n_candidates": int(len(cands)), "candidates_far_from_road": int((~csnap.snapped).sum()),
                         "kind": kind, "group": group, "threshold_min": s.threshold_min, "site_capacity": size})
            info_all[kind] = info
            parts.append(label_sites(named(cands.iloc[chosen]).reset_index(drop=True), kind, group, size))
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty, info_all, None
    sites = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=net.crs)
    after, sites = after_state(study, travel, points, before, sites, units, threshold_s, limit_s, ct)
    for key, info in info_all.items():
        if key == "joint":
            for k in s.kinds:
                g = KINDS[k].serves
                wk = points[g].to_numpy(float)
                b, a = before[k] <= threshold_s, after.times[k] <= threshold_s
                info.update({f"share_before_{g}": float(wk[b].sum() / max(wk.sum(), 1e-9)),
                             f"share_after_{g}": float(wk[a].sum() / max(wk.sum(), 1e-9)),
                             f"covered_before_{g}": float(wk[b].sum()), f"covered_after_{g}": float(wk[a].sum()),
                             f"gain_{g}": float(wk[a & ~b].sum())})
            info["n_sites"] = int((sites["kind"] == s.kinds[0]).sum())
            continue
        if info.get("n_sites") == 0 and "message" in info:
            continue
        kind, group = key, KINDS[key].serves
        w = points[group].to_numpy(dtype=float)
        was = before[kind] <= threshold_s
        now = after.times.get(kind, before[kind]) <= threshold_s
        before_u = cov.weighted_mean_by(was.astype(float), w, points["unit_id"])
        after_u = cov.weighted_mean_by(now.astype(float), w, points["unit_id"])
        change = (after_u - before_u).sort_values(ascending=False)
        improved = change[change > 1e-9]
        n_k = int((sites["kind"] == kind).sum())
        info.update({"n_sites": n_k, "covered_before": float(w[was].sum()), "covered_after": float(w[now].sum()),
                     "group_total": float(w.sum()),
                     "share_before": float(w[was].sum() / w.sum()) if w.sum() else None,
                     "share_after": float(w[now].sum() / w.sum()) if w.sum() else None,
                     "capacity_added": int(info.get("site_capacity", 0) * n_k),
                     "units_improved": int(len(improved)),
                     "unit_changes": [{"unit_id": u, "before": rnd(before_u[u]), "after": rnd(after_u[u])}
                                      for u in improved.index[:10]]})
    return sites, info_all, after


def after_state(study: Study, travel: Travel, points: gpd.GeoDataFrame, before: dict[str, np.ndarray],
                sites: gpd.GeoDataFrame, units: gpd.GeoDataFrame, threshold_s: float, limit_s: float,
                ct: CandidateTimes) -> tuple[AfterState, gpd.GeoDataFrame]:
    """The one after-state: suggested sites built as facilities, snapped once, times recomputed.

    Returns the :class:`AfterState` (the sites as facility rows, their snap, and kind -> each
    study point's time to the nearest facility of that kind, existing or new) and the sites
    ranked by marginal gain (people of the site's group newly within ``threshold_s``, in
    rank order).
    """
    net, psnap = travel.net, travel.point_snap
    new = gpd.GeoDataFrame({
        "facility_id": [f"NEW-{k}-{i + 1}" for i, k in enumerate(sites["kind"])],
        "name": sites["name"].astype(str).to_numpy() if "name" in sites else "",
        "kind": sites["kind"].to_numpy(), "serves": sites["group"].to_numpy(),
        "capacity": sites["capacity"].to_numpy(dtype=float),
        "counts_as": [counts_as(k) for k in sites["kind"]],
        "capacity_status": "known", "address": "", "note": "suggested",
        # composition of new capacity: [siting] new_sites_affordable (default true: 普惠 and 公办 slots, 护理型 beds)
        **new_site_composition(sites, study.siting.new_sites_affordable),
        "unit_id": assign_points(sites, units).to_numpy(), "in_area": True,
    }, geometry=sites.geometry.values, crs=net.crs)
    crows = ct.rows(new.geometry.values)  # the sites are candidates: their snap and times are rows of ct
    nsnap = subset(ct.snap, crows)
    T = ct.to_points(crows, threshold_s)
    times, ranked = {}, []
    new_kinds = list(new["kind"].unique())
    kind_of = new["kind"].to_numpy()
    # every kind's nearest new site in one search call (a virtual source per kind)
    near = net.nearest_times_by_group(nsnap, pd.Index(new_kinds).get_indexer(kind_of), len(new_kinds), psnap,
                                      cutoff_s=limit_s)
    for g, k in enumerate(new_kinds):
        idx = np.flatnonzero(kind_of == k)
        times[k] = np.minimum(before[k], near[g])
        w = points[KINDS[k].serves].to_numpy(float)
        covered = before[k] <= threshold_s
        rows = {int(j): (T[j].toarray().ravel() > 0) for j in idx}
        order, gains = [], []
        while rows:  # rank by marginal gain: the site adding the most people next
            j, gain = max(((j, float(w[r & ~covered].sum())) for j, r in rows.items()), key=lambda x: (x[1], -x[0]))
            order.append(j)
            gains.append(gain)
            covered |= rows.pop(j)
        part = sites.iloc[order].copy()
        part["rank"] = np.arange(1, len(order) + 1)
        part["gain"] = gains
        part["_new"] = order
        ranked.append(part)
    sites = gpd.GeoDataFrame(pd.concat(ranked), geometry="geometry", crs=net.crs)
    new = new.iloc[sites["_new"].to_numpy()].reset_index(drop=True)
    new["facility_id"] = [f"NEW-{k}-{r}" for k, r in zip(sites["kind"], sites["rank"])]
    nsnap = subset(nsnap, sites["_new"].to_numpy())
    crows = crows[sites["_new"].to_numpy()]
    sites = sites.drop(columns="_new").reset_index(drop=True)
    return AfterState(new=new, new_snap=nsnap, rows=crows, times=times, threshold_s=threshold_s), sites


def new_site_composition(sites: gpd.GeoDataFrame, affordable: bool) -> dict:
    """``affordable_slots``, ``nursing_beds`` and ``ownership`` of new sites (unknown when not ``affordable``)."""
    cap = sites["capacity"].to_numpy(dtype=float)
    counts = np.array([counts_as(k) for k in sites["kind"]], dtype=object)
    if not affordable:
        return {"affordable_slots": np.nan, "nursing_beds": np.nan, "ownership": ""}
    return {"affordable_slots": np.where(counts == "slots", cap, np.nan),
            "nursing_beds": np.where(counts == "beds", cap, np.nan),
            "ownership": np.where(counts == "slots", "public", "")}


def score_after(study: Study, inputs: Inputs, travel: Travel, scores: Scores, after: AfterState, ct: CandidateTimes,
                preset: dict) -> AfterScores:
    """Score again with the suggested sites built (existing facilities unchanged), from the one after-state."""
    net, points, facilities, units = travel.net, scores.points, travel.facilities, scores.units
    thresholds, tmax_s = list(inputs.thresholds_min), travel.tmax_s
    new = after.new
    fac_after = gpd.GeoDataFrame(pd.concat([facilities, new], ignore_index=True), geometry="geometry", crs=net.crs)
    pts = points.copy()  # one copy, the after-state's times written into it
    for k, t in after.times.items():
        pts[f"time_s_{k}"] = t
    for name, t in cov.any_times(pts).items():
        pts[name] = t
    catch_after = sp.vstack([travel.catchment, ct.to_demand(after.rows, tmax_s)]).tocsr()
    kinds_after = list(in_order([*travel.kinds, *kinds_present(fac_after)]))  # as before, plus the new sites' kinds
    scored = score_tables(pts, fac_after, catch_after, units, thresholds, kinds_after, preset, study.language, tmax_s,
                          travel.demand, communities=study.units.are_communities,
                          **composition_options(study, inputs))
    ua = scored.units.set_index("unit_id")
    keep = [c for c in ua.columns if c.startswith(("cov_", "sfca_", "e2sfca_", "status_", "comm_cov_"))] + ["n_fail"]
    units_after = ua[keep].add_suffix("_after")
    o = scored.overall.iloc[0]
    status = scored.unit_results
    return AfterScores(
        units_after=units_after, overall_results=scored.overall_results,
        coverage_after={g: {f"{t:g}min": rnd(o[cov.col("cov", g, "any", t)]) for t in thresholds} for g in cov.GROUPS},
        units_fail_after=status[status["status"] == "fail"].groupby("indicator").size().astype(int).to_dict(),
        any_after={g: pts[f"time_s_{g}_any"].to_numpy() for g in cov.GROUPS})
