"""``run(study)``: the stages in order, each a plain call into its own module.

load (circles.io) -> travel (circles.travel) -> coverage (circles.coverage) ->
targets (circles.targets) -> siting (circles.siting) -> isochrones -> outputs/report.

:func:`analyse` computes everything and returns a :class:`Results`; :func:`write_outputs`
writes it to ``maps/<study-name>/`` atomically; :func:`run` does both.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from circles import coverage as cov
from circles import i18n
from circles import targets as tg
from circles.checks import check_gazetteers
from circles.crs import utm_crs_for
from circles.errors import InputFileError, NetworkError, StudyError
from circles.io.facilities import KINDS, load_facilities
from circles.kinds import counts_as, kinds_present
from circles.io.network import connectivity_report, load_network
from circles.io.population import load_population
from circles.io.units import assign_parents, assign_points, grid_units, load_units
from circles.io.vector import read_vector
from circles.isochrones import PER_FACILITY_MAX, isochrone_polygons, isochrones_per_source
from circles.outputs import atomic_folder, check_output_folder
from circles.siting import candidate_nodes, read_candidates, read_exclusion
from circles.study import Study, check_study
from circles.summary import build_summary, rnd, target_rows
from circles.travel import TravelNetwork, subset

log = logging.getLogger(__name__)


@dataclass
class Results:
    """Everything a run computed (tables in the study's metric CRS)."""

    study: Study
    crs: object
    area: object
    nodes: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    rejects: pd.DataFrame
    points: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    districts: pd.DataFrame
    overall: pd.DataFrame
    target_results: pd.DataFrame
    preset: dict
    sites: gpd.GeoDataFrame
    isochrones: gpd.GeoDataFrame
    isochrones_per_facility: gpd.GeoDataFrame
    summary: dict
    timings_s: dict = field(default_factory=dict)
    net: TravelNetwork | None = None  # kept for what-if siting (see suggest)
    point_snap: object = None
    whatif: dict = field(default_factory=dict)  # the page's what-if payload (circles/whatif.py)


class _Stages:
    """Times each stage and reports progress.

    ``progress`` is called as ``progress(stage)`` when a stage starts; if it also takes a
    second argument it is called as ``progress(stage, fraction)`` from long loops inside
    the stage (0 < fraction < 1) and with ``1.0`` when the stage ends (the CLI draws rich
    progress bars from these calls).
    """

    def __init__(self, progress: Callable[..., None] | None):
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # CPU seconds of this process per stage (honest when cores are shared)
        self.progress = progress
        self.current: str | None = None
        self._fractions = _takes_fraction(progress)

    @contextmanager
    def __call__(self, name: str):
        self.current = name
        if self.progress:
            self.progress(name)
        t0, c0 = time.perf_counter(), time.process_time()
        yield self
        self.timings[name] = round(time.perf_counter() - t0, 3)
        self.cpu[name] = round(time.process_time() - c0, 3)
        self.tick(1.0)
        log.info("stage %s: %.2f s", name, self.timings[name])

    def tick(self, fraction: float) -> None:
        """Report how much of the current stage is done (no-op for one-argument callbacks)."""
        if self._fractions and self.current is not None:
            self.progress(self.current, float(min(max(fraction, 0.0), 1.0)))


def _takes_fraction(fn) -> bool:
    if fn is None:
        return False
    import inspect

    try:
        inspect.signature(fn).bind("stage", 0.5)
    except (TypeError, ValueError):
        return False
    return True


def _study_area(study: Study) -> tuple[object, object]:
    """The study area polygon in WGS84 and its centre (None, None: the rasters' extent).

    Without ``study.area``, a study whose units come from a file (``units.path``) is the
    union of its units: people in no unit are not counted in the study's figures.
    """
    if study.area is None and study.units.path is not None:
        units = load_units(study.units.path, crs=4326, name_column=study.units.name_column,
                           code_column=study.units.code_column)
        geom = shapely.union_all(units.geometry.values)
        log.info("study area: the union of the %d units of %s (no study.area given)", len(units),
                 Path(study.units.path).name)
        return geom, geom.centroid
    if study.area is None:
        return None, None
    area = read_vector(study.area, "study.area").to_crs(4326)
    geom = shapely.union_all(area.geometry.values)
    return geom, geom.centroid


#: Share of the longest threshold above which an off-road leg is counted as long (summary.json).
LONG_OFFROAD_SHARE = 1 / 3


def search_limit_s(study: Study) -> float:
    """The one search limit (seconds) of a study, in single runs, batches and siting alike.

    ``travel.max_time_min`` when given, else twice the longest threshold; never shorter than
    the longest threshold or the siting threshold (those must be exact). Times up to the
    limit are exact and do not depend on where the study area is cut (roads are read to
    the limit's reach, facilities too); a time past it is "beyond" (``inf``), and a median
    or p90 that falls past it is reported as "> limit", never as a number.
    """
    tmax = max(float(t) for t in study.travel.thresholds_min)
    limit = study.travel.max_time_min if study.travel.max_time_min is not None else 2 * tmax
    floor = [tmax] + ([float(study.siting.threshold_min)] if study.siting.n_sites and study.siting.kinds else [])
    return float(max([float(limit)] + floor)) * 60.0


def analyse(study: Study, *, progress: Callable[[str], None] | None = None) -> Results:
    """Run every stage on ``study`` and return the results (nothing written)."""
    stage = _Stages(progress)
    thresholds = [float(t) for t in study.travel.thresholds_min]
    tmax_s = max(thresholds) * 60.0
    with stage("load"):
        area_wgs, centre = _study_area(study)
        po = study.population
        pop_rules = dict(pattern=po.pattern, elderly_min_age=po.elderly_min_age,
                         child_woman_ratio=po.child_woman_ratio, under20_share=po.under20_share,
                         total_file=po.total_file, elderly_share=po.elderly_share, infant_share=po.infant_share)
        if study.crs == "auto":
            if centre is None:
                # no study area: the UTM zone of the population rasters' centre
                from pyproj import Transformer
                from rasterio.transform import xy

                from circles.io.population import read_population_grid
                g = read_population_grid(study.population.folder, **pop_rules)
                h, w = g.total.shape
                x, y = xy(g.transform, h / 2, w / 2)
                lon, lat = Transformer.from_crs(g.crs, 4326, always_xy=True).transform(x, y)
                crs = utm_crs_for(lon, lat)
            else:
                crs = utm_crs_for(centre.x, centre.y)
        else:
            crs = study.crs
        # halo: people within 2h of the area use the same facilities (2SFCA step 1), facilities
        # within h serve the area, roads within 2h carry every path that matters (h = the
        # longest threshold at the fastest speed): results inside the area do not depend on
        # where it was cut (see circles/batch.py)
        max_speed = study.travel.walk_speed_mps if study.network.profile == "walk" else max(
            study.travel.walk_speed_mps, 120 / 3.6)
        halo_m = tmax_s * max_speed
        # one search limit in every mode (single run, batch, siting): times are exact up to it
        # and "beyond" past it; facilities and roads are read as far as a trip within it reaches
        limit_s = search_limit_s(study)
        reach_m = max(limit_s * max_speed, 2 * halo_m)
        area_metric = None if area_wgs is None else gpd.GeoSeries([area_wgs], crs=4326).to_crs(crs).iloc[0]
        bounds = None if area_metric is None else gpd.GeoSeries([area_metric.buffer(2 * halo_m)], crs=crs) \
            .to_crs(4326).total_bounds
        points, estimated, pop_rules_used = load_population(po.folder, crs=crs, bounds_wgs84=bounds, **pop_rules)
        stage.tick(0.2)
        area = area_metric if area_metric is not None else shapely.union_all(points.buffer(50).geometry.values).envelope
        inside = shapely.covers(area, points.geometry.values)
        near = shapely.intersects(area.buffer(2 * halo_m), points.geometry.values)
        halo_points = points[~inside & near].copy()
        points_outside = points[~inside]
        points = points[inside].copy()
        log.info("population in the study area: %d populated cells, %.0f people, %.0f aged 60+, %.0f aged 0-3",
                 len(points), points["total"].sum(), points["elderly"].sum(), points["infants"].sum())
        log.info("population read outside the study area: %.0f people (%.0f of them within %.0f m, counted as "
                 "demand on shared facilities only)", points_outside["total"].sum(), halo_points["total"].sum(),
                 2 * halo_m)
        nw = study.network
        nodes, edges = load_network(nw.path, crs=crs, profile=nw.profile, road_class_column=nw.road_class_column,
                                    name_column=nw.name_column, oneway_column=nw.oneway_column,
                                    node_crossings=nw.node_crossings,
                                    join_tolerance_m=nw.join_tolerance_m, source_crs=nw.source_crs,
                                    clip_to=area.buffer(reach_m + study.travel.max_offroad_m))
        if not shapely.intersects(area.buffer(study.travel.max_offroad_m), edges.geometry.values).any():
            raise NetworkError(f"{nw.path}: no road lies in or near the study area; check the file and its CRS")
        net_report = connectivity_report(nodes, edges)
        stage.tick(0.8)
        fac_parts, rej_parts, fac_counts = [], [], []
        halo = area.buffer(max(halo_m, limit_s * max_speed))
        for src in study.facilities:
            f, r = load_facilities(src.path, crs=crs, coords=src.coords, kind=src.kind, columns=src.columns,
                                   encoding=src.encoding, sheet=src.sheet, area=halo)
            f["illustrative"] = bool(src.illustrative)
            fac_parts.append(f)
            rej_parts.append(r)
            fac_counts.append({"file": Path(src.path).name, "read": int(len(f) + len(r)), "kept": int(len(f)),
                               "rejected": int(len(r))})
        facilities = pd.concat(fac_parts, ignore_index=True)
        facilities = gpd.GeoDataFrame(facilities, geometry="geometry", crs=crs)
        rejects = pd.concat(rej_parts, ignore_index=True)
        if facilities.empty:
            raise InputFileError(_no_facility_message(fac_counts, rejects))
        coord_fit = check_gazetteers(list(zip(study.facilities, fac_parts)), edges,  # misdeclared coords?
                                     pd.concat([points, points_outside])[["geometry"]])
        if study.units.path is not None:
            units = load_units(study.units.path, crs=crs, area=area, name_column=study.units.name_column,
                               code_column=study.units.code_column)
            if study.units.parents is not None:  # street polygons: each community's street is the one holding most of it
                units["parent"] = assign_parents(units, read_vector(study.units.parents, "units.parents"),
                                                 study.units.parent_name_column, fill=units["parent"]).to_numpy()
        else:
            parents = read_vector(study.units.parents, "units.parents") if study.units.parents else None
            units = grid_units(area, crs=crs, cell_size_m=study.units.grid_size_m, parents=parents,
                               parent_name_column=study.units.parent_name_column)
        points["unit_id"] = assign_points(points, units).to_numpy()
        no_unit = _people_in_no_unit(study, points)
        points["parent"] = points["unit_id"].map(units.set_index("unit_id")["parent"]).fillna("")
        facilities["unit_id"] = assign_points(facilities, units).to_numpy()
        facilities["in_area"] = shapely.covers(area, facilities.geometry.values)  # study totals count these only

    with stage("travel"):
        net = TravelNetwork(nodes, edges, walk_speed_mps=study.travel.walk_speed_mps, profile=nw.profile)
        # demand points: the study's people first, then the halo's (they compete for the same places)
        demand = pd.concat([points[["total", "elderly", "infants", "geometry"]],
                            halo_points[["total", "elderly", "infants", "geometry"]]], ignore_index=True)
        demand = gpd.GeoDataFrame(demand, geometry="geometry", crs=crs)
        dsnap = net.snap_points(demand, max_offroad_m=study.travel.max_offroad_m)
        psnap = subset(dsnap, np.arange(len(points)))
        fsnap = net.snap_points(facilities, max_offroad_m=study.travel.max_offroad_m)
        stage.tick(0.1)
        points["offroad_m"] = psnap.offroad_m
        points["snapped"] = psnap.snapped
        facilities["offroad_m"] = fsnap.offroad_m
        facilities["snapped"] = fsnap.snapped
        kinds = kinds_present(facilities)
        cutoff = limit_s
        for k in KINDS:
            idx = np.flatnonzero(((facilities["kind"] == k) & (facilities["serves"] != "")).to_numpy())
            points[f"time_s_{k}"] = net.nearest_times(subset(fsnap, idx), psnap, cutoff_s=cutoff) if len(idx) else np.inf
            stage.tick(0.1 + 0.4 * (list(KINDS).index(k) + 1) / len(KINDS))
        points = gpd.GeoDataFrame(cov.add_any_times(points), geometry="geometry", crs=crs)
        catch = net.times_to_points(fsnap, dsnap, cutoff_s=tmax_s)

    with stage("coverage"):
        preset = tg.load_preset(study.targets.preset)
        want = preset["preset"].get("profile")
        if want and want != nw.profile:
            log.warning("preset %s measures by %s (network.profile = %r) but this study uses %r",
                        preset["preset"].get("key", "?"), "road" if want == "drive" else "walking", want, nw.profile)
        scored = _score(points, facilities, catch, units, thresholds, kinds, preset, study.language, tmax_s, demand,
                        communities=study.units.path is not None)
        points, units = scored["points"], scored["units"]

    with stage("siting"):
        sites, siting_info, after_state = _siting(study, net, nodes, area, points, psnap, facilities, units, kinds,
                                                  edges=edges)
        stage.tick(0.7)
        after = None
        if after_state is not None:
            after = _after_sites(study, net, points, facilities, catch, after_state, units, thresholds, kinds,
                                 preset, tmax_s, demand, dsnap)
            units = units.merge(after["units_after"], left_on="unit_id", right_index=True, how="left")

    with stage("whatif"):  # the page's what-if: candidate-to-cell times and what a new site adds
        from circles.whatif import whatif_data

        whatif = whatif_data(study, net, nodes, area, points, units, scored["overall"], facilities, sites, preset,
                             dsnap, demand, thresholds)

    with stage("isochrones"):
        iso = []
        for k in kinds:
            idx = np.flatnonzero((facilities["kind"] == k).to_numpy())
            iso.append(isochrone_polygons(net, subset(fsnap, idx), [t * 60 for t in thresholds],
                                          label={"kind": k, "kind_zh": KINDS[k].zh, "serves": KINDS[k].serves}))
            stage.tick(0.8 * len(iso) / len(kinds))
        isochrones = pd.concat(iso, ignore_index=True) if iso else gpd.GeoDataFrame(geometry=[], crs=crs)
        isochrones = gpd.GeoDataFrame(isochrones, geometry="geometry", crs=crs)
        # per facility only while cheap; otherwise on demand (circles.isochrones.facility_isochrones)
        if len(facilities) <= PER_FACILITY_MAX:
            labels = facilities[["facility_id", "name", "kind"]].to_dict("records")
            iso_each = isochrones_per_source(net, fsnap, tmax_s, labels=labels)
        else:
            iso_each = gpd.GeoDataFrame(geometry=[], crs=crs)
            log.info("isochrones per facility skipped: %d facilities > %d (use facility_isochrones on demand)",
                     len(facilities), PER_FACILITY_MAX)

    summary = build_summary(study, crs, net_report, facilities, fac_counts, rejects, points, points_outside, estimated, units,
                       scored["districts"], scored["overall"], scored["overall_results"], scored["unit_results"],
                       preset, siting_info, thresholds, kinds)
    summary["population"]["rules"] = pop_rules_used
    summary["capacity"].update(_capacity_summary(scored["overall"], facilities))
    summary["targets"]["not_assessable"] = scored["not_assessable"]
    summary["targets"]["catchment_min"] = scored["catchment_min"]
    summary["targets"]["scored"] = {r.indicator: r.scored for r in scored["overall_results"].itertuples()}
    summary["targets"]["profile_wanted"] = preset["preset"].get("profile")
    if study.units.path is not None:
        summary["communities"] = _community_summary(scored["overall"], preset)
    if after is not None:
        summary["targets_after"] = target_rows(after["overall_results"])
        summary["coverage_after"] = after["coverage_after"]
        summary["units_fail_after"] = after["units_fail_after"]
    summary["travel"] = _travel_summary(study, points, psnap, fsnap, limit_s, tmax_s)
    from circles.credits import study_credits
    from circles.equity import equity_summary
    from circles.methods import method_params

    summary.update(equity_summary(points, units, summary, study))
    summary["credits"] = study_credits(study)
    summary["methods"] = method_params(study, estimated)
    summary["timings_s"] = stage.timings
    summary["timings_cpu_s"] = stage.cpu
    summary["isochrones_per_facility"] = {"drawn": bool(len(iso_each)), "limit_facilities": PER_FACILITY_MAX,
                                          "on_demand": "circles.isochrones.facility_isochrones(res, ids)"}
    summary["coordinate_fit"] = coord_fit
    summary.setdefault("warnings", []).extend(f["message"] for f in coord_fit if f["message"])
    if no_unit:
        summary["warnings"].append(no_unit)
    return Results(study=study, crs=crs, area=area, nodes=nodes, edges=edges, facilities=facilities, rejects=rejects,
                   points=points, units=units, districts=scored["districts"], overall=scored["overall"],
                   target_results=scored["unit_results"], preset=preset, sites=sites, isochrones=isochrones,
                   isochrones_per_facility=iso_each, summary=summary, timings_s=stage.timings,
                   net=net, point_snap=psnap, whatif=whatif)


def _travel_summary(study, points, psnap, fsnap, limit_s, tmax_s) -> dict:
    """The travel rules of the run and the people they touch (summary.json ``travel``)."""
    w = points["total"].to_numpy(float)
    long_leg = psnap.snapped & (psnap.offroad_s > LONG_OFFROAD_SHARE * tmax_s)
    beyond = {g: rnd(float(points.loc[~np.isfinite(points[f"time_s_{g}_any"]), g].sum()), 1) for g in cov.GROUPS}
    return {
        "search_limit_min": rnd(limit_s / 60.0, 3),
        "search_limit_rule": "times are exact up to the search limit (travel.max_time_min, default twice the "
                             "longest threshold) and 'beyond' past it, in single runs, batches and siting alike",
        "beyond_limit_or_unreachable": beyond,
        "offroad_rule": f"straight line from the cell centre to the nearest main-network road, walked at "
                        f"{study.travel.walk_speed_mps:g} m/s, no detour factor, up to {study.travel.max_offroad_m:g} m",
        "long_offroad_share_of_threshold": rnd(LONG_OFFROAD_SHARE, 4),
        "long_offroad_cells": int(long_leg.sum()),
        "long_offroad_people": rnd(float(w[long_leg].sum()), 1),
        "nearer_fragment_cells": int(psnap.nearer_fragment.sum()),
        "nearer_fragment_people": rnd(float(w[psnap.nearer_fragment].sum()), 1),
        "nearer_fragment_facilities": int(fsnap.nearer_fragment.sum()),
        "direction": "home -> facility (drive: one-way streets in the direction of travel)",
    }


def suggest(res: Results, kind: str | list[str], *, n_sites: int, **siting) -> tuple[gpd.GeoDataFrame, dict]:
    """What-if siting on an analysed study, without rerunning it.

    ``siting`` overrides keys of the study's ``[siting]`` section (``threshold_min``,
    ``model``, ``method``, ``slots`` ...). Returns the ranked sites and the info per kind.

    Example
    -------
    >>> res = analyse(load_study("data/demo/study.toml"))           # doctest: +SKIP
    >>> sites, info = suggest(res, "nursery", n_sites=3, slots=150)  # doctest: +SKIP
    """
    import copy

    study = copy.deepcopy(res.study)
    study.siting.kinds = [kind] if isinstance(kind, str) else list(kind)
    study.siting.n_sites = n_sites
    for key, value in siting.items():
        if not hasattr(study.siting, key):
            raise StudyError(f"suggest(): unknown siting option {key!r}")
        setattr(study.siting, key, value)
    check_study(study, "suggest()")  # the same rules as the study file (n_sites >= 0, a known model ...)
    kinds = kinds_present(res.facilities)
    sites, info, _ = _siting(study, res.net, res.nodes, res.area, res.points, res.point_snap, res.facilities,
                             res.units, kinds, edges=res.edges)
    return sites, info


def _score(points, facilities, catch, units_geo, thresholds, kinds, preset, language, tmax_s, demand, *,
           communities: bool = False) -> dict:
    """Coverage, capacity and targets per unit, district and study (the same code before and after siting).

    Study-level plain ratios and counts use the facilities inside the study area only
    (``in_area``); the halo's facilities serve 2SFCA and travel times. With community
    polygons (``communities``), the plans' literal indicators (share of communities with a
    day-care centre / a childcare point, share of streets with a comprehensive centre) are
    added per unit, street (``parent``) and study.
    """
    points = points.copy()
    catchment_s = min(tmax_s, 60.0 * float(preset.get("preset", {}).get("catchment_min", 15)))
    _add_access(points, facilities, catch, catchment_s, demand)
    inside = facilities[facilities["in_area"]] if "in_area" in facilities else facilities
    unit_table = _coverage_table(points, inside, thresholds, kinds, "unit_id")
    base_cols = ["unit_id", "unit_name", "parent"] + [c for c in units_geo.columns if c.startswith("attr_")]
    units = units_geo[base_cols + ["geometry"]].merge(unit_table, left_on="unit_id", right_index=True, how="left")
    for c in ("pop_total", "pop_elderly", "pop_infants", "n_cells", "beds_inside", "daycare_places_inside",
              "slots_inside", "n_beds_unknown", "n_daycare_places_unknown", "n_slots_unknown"):
        units[c] = units[c].fillna(0)
    parent_of = units.set_index("unit_id")["parent"]
    districts = _coverage_table(points.assign(parent=points["parent"].replace("", "(none)")),
                                inside.assign(parent=inside["unit_id"].map(parent_of).fillna("(none)")),
                                thresholds, kinds, "parent")
    overall = _coverage_table(points.assign(all="study"), inside.assign(all="study"), thresholds, kinds, "all")
    if communities:
        u = units[["unit_id", "parent"]].assign(all="study")
        u["parent"] = u["parent"].fillna("")
        units = units.merge(cov.community_table(u, inside, "unit_id"), left_on="unit_id", right_index=True,
                            how="left")
        districts = districts.join(cov.community_table(u.assign(parent=u["parent"].replace("", "(none)")),
                                                       inside, "parent"), how="left")
        overall = overall.join(cov.community_table(u, inside, "all"), how="left")
    reasons = _not_assessable(preset, facilities, units, communities, language)
    unit_results, overall_results = [], []
    for ind in preset["indicators"]:
        ind, scored = _scored_form(ind, communities)
        if ind["id"] in reasons and scored.startswith("walk"):
            reasons = {**reasons}
            reasons.pop(ind["id"])
            reasons.update(_not_assessable({"indicators": [ind]}, facilities, units, communities, language))
        one = {"preset": preset.get("preset", {}), "indicators": [ind]}
        where = ind.get("where")
        table_u, table_o = units.set_index("unit_id"), overall
        if where is not None and ind["id"] not in reasons:
            sel = units[f"attr_{where['column']}"].astype(str).str.strip().isin([str(v) for v in where["values"]])
            if not sel.any():
                values = ", ".join(map(str, where["values"]))
                reasons = {**reasons, ind["id"]: i18n.t("na.no_unit_value", language, column=where["column"],
                                                        values=values)}
                sel = pd.Series(True, index=units.index)  # evaluated as not assessable below
            table_u = table_u[sel.to_numpy()]
            ids = set(units.loc[sel, "unit_id"])
            table_o = _coverage_table(points[points["unit_id"].isin(ids)].assign(all="study"),
                                      inside[inside["unit_id"].isin(ids)].assign(all="study"), thresholds, kinds, "all")
            if communities:
                u = units.loc[sel, ["unit_id", "parent"]].assign(all="study")
                table_o = table_o.join(cov.community_table(u, inside, "all"), how="left")
        for table, out in ((table_u, unit_results), (table_o, overall_results)):
            r = tg.evaluate(table, one, language=language, not_assessable=reasons)
            r["scored"] = scored
            pair = ind.get("pair")
            if pair and pair["metric"] in table and pair["metric"] != ind["metric"]:
                r["pair_metric"] = pair["metric"]
                r["pair_measured"] = table[pair["metric"]].to_numpy(dtype=float)
            out.append(r)
    unit_results = pd.concat(unit_results, ignore_index=True)
    overall_results = pd.concat(overall_results, ignore_index=True)
    units = units.merge(tg.wide(unit_results, "unit_id"), left_on="unit_id", right_index=True, how="left")
    return {"points": points, "units": units, "districts": districts, "overall": overall,
            "unit_results": unit_results, "overall_results": overall_results, "not_assessable": reasons,
            "catchment_min": catchment_s / 60.0}


def _capacity_summary(overall, facilities) -> dict:
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


#: Share of the study's people in no unit above which a study with its own units is warned.
NO_UNIT_WARN_SHARE = 0.10


def _people_in_no_unit(study, points) -> str:
    """A warning when units come from a file and more than 10 % of the area's people lie in no unit ("" if not)."""
    if study.units.path is None:
        return ""
    total = float(points["total"].sum())
    out = float(points.loc[points["unit_id"] == "", "total"].sum())
    if total <= 0 or out / total <= NO_UNIT_WARN_SHARE:
        return ""
    msg = (f"{out / total:.0%} of the study area's people ({out:,.0f} of {total:,.0f}) lie in no unit of "
           f"{Path(study.units.path).name}: they count in the study's figures but in no unit's; check that the "
           "units cover study.area, or leave study.area out (the study area is then the union of the units)")
    log.warning(msg)
    return msg


def _no_facility_message(counts: list[dict], rejects: pd.DataFrame) -> str:
    """One line when every gazetteer row was rejected (no rejects.csv is written then): counts and the top reason."""
    read = ", ".join(f"{c['file']} {c['read']} rows read, {c['rejected']} rejected" for c in counts)
    msg = f"no facility survived loading ({read})"
    if len(rejects):
        (file, reason), n = next(iter(rejects.groupby(["file", "reason"]).size().sort_values(
            ascending=False, kind="stable").items()))
        msg += f"; most common reason ({n} rows of {file}): {reason}"
    return msg + "; check `coords` and the kind column"


def _community_summary(overall, preset) -> dict:
    """The plans' literal community indicators beside the walk-based ones, and which one the preset scores."""
    o = overall.iloc[0]
    scored = {i["metric"]: i.get("scores", "walk") for i in preset["indicators"]}
    out = {"n_communities": int(o.get("n_communities", 0)), "n_streets": int(o.get("n_streets", 0) or 0)}
    for name in cov.COMMUNITY_INDICATORS:
        out[name] = {"share": rnd(o.get(name)), "with": int(o.get(f"n_with_{name}", 0) or 0),
                     "scored_by_preset": name in scored}
    return out


def _scored_form(ind: dict, communities: bool) -> tuple[dict, str]:
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
    if literal:
        return ind, "literal (share of communities / streets with one)"
    return ind, ind.get("scores", "walk" if ind["metric"].startswith("cov_") else "ratio")


def _not_assessable(preset, facilities, units, communities, language: str = "en") -> dict:
    """Indicator id -> why it cannot be measured on this study (kind absent, no communities, no attribute)."""
    from circles.coverage import COMMUNITY_INDICATORS

    present = set(facilities.loc[facilities["serves"] != "", "kind"])
    out = {}
    for ind in preset["indicators"]:
        need = tg.needed_kinds(ind["metric"])
        where = ind.get("where")
        if need is not None and not present.intersection(need):
            # kindergartens listing no 托班 places serve no under-3s: say so, not "no kindergarten"
            kg = "kindergarten" in need and (facilities["kind"] == "kindergarten").any()
            others = [k for k in need if not (kg and k == "kindergarten")]
            names = "/".join(f"{i18n.kind_name(k, language)} ({k})" for k in others)
            key = ("na.no_nursery_class_nor" if others else "na.no_nursery_class") if kg else "na.no_kind"
            out[ind["id"]] = i18n.t(key, language, names=names)
        elif ind["metric"] in COMMUNITY_INDICATORS and not communities:
            out[ind["id"]] = i18n.t("na.needs_polygons", language)
        elif where is not None and f"attr_{where['column']}" not in units:
            out[ind["id"]] = i18n.t("na.no_attribute", language, column=where["column"])
    return out


def _after_sites(study, net, points, facilities, catch, after, units, thresholds, kinds, preset, tmax_s,
                 demand, dsnap) -> dict:
    """Score again with the suggested sites built (existing facilities unchanged), from the one after-state."""
    new = after["new"]
    fac_after = gpd.GeoDataFrame(pd.concat([facilities, new], ignore_index=True), geometry="geometry", crs=net.crs)
    pts = points.copy()
    for k, t in after["times"].items():
        pts[f"time_s_{k}"] = t
    pts = gpd.GeoDataFrame(cov.add_any_times(pts), geometry="geometry", crs=net.crs)
    catch_after = sp.vstack([catch, net.times_to_points(after["nsnap"], dsnap, cutoff_s=tmax_s)]).tocsr()
    kinds_after = kinds_present(fac_after)
    scored = _score(pts, fac_after, catch_after, units, thresholds, kinds_after, preset, study.language, tmax_s, demand,
                    communities=study.units.path is not None)
    for g in cov.GROUPS:
        points[f"time_s_{g}_any_after"] = pts[f"time_s_{g}_any"].to_numpy()
    ua = scored["units"].set_index("unit_id")
    keep = [c for c in ua.columns if c.startswith(("cov_", "sfca_", "e2sfca_", "status_", "comm_cov_"))] + ["n_fail"]
    units_after = ua[keep].add_suffix("_after")
    o = scored["overall"].iloc[0]
    status = scored["unit_results"]
    return {"units_after": units_after, "overall_results": scored["overall_results"],
            "coverage_after": {g: {f"{t:g}min": rnd(o[cov.col("cov", g, "any", t)]) for t in thresholds}
                               for g in cov.GROUPS},
            "units_fail_after": status[status["status"] == "fail"].groupby("indicator").size().astype(int).to_dict()}


def _add_access(points, facilities, catch, catchment_s, demand) -> None:
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


def _coverage_table(points, facilities, thresholds, kinds, by) -> pd.DataFrame:
    table = cov.aggregate(points, by, thresholds, kinds)
    table = table.join(cov.capacity_inside(facilities, by), how="left")
    zero = [c for c in table.columns if c.endswith("_inside") or c.endswith("_unknown")]
    table[zero] = table[zero].fillna(0)
    table = cov.add_ratios(table)
    for name, weight in (("sfca_beds_per_1000_elderly", "elderly"), ("e2sfca_beds_per_1000_elderly", "elderly"),
                         ("sfca_slots_per_1000_total", "total"), ("e2sfca_slots_per_1000_total", "total")):
        table[name] = cov.weighted_mean_by(points[name].to_numpy(), points[weight].to_numpy(dtype=float), points[by])
    return table


def _siting(study, net, nodes, area, points, psnap, facilities, units, kinds, edges=None):
    """Suggest sites for each requested kind (or jointly); returns ``(sites, info, after_state)``.

    The model is solved by :func:`circles.siting.solve` (one registry of models). New sites
    are snapped to the network with the same rule as every facility (``travel.max_offroad_m``),
    once, in :func:`_after_state`: the siting table's gains, the before/after shares in ``info``
    and the report's after columns all come from that one after-state.
    """
    from circles.i18n import site_label
    from circles.siting import SitingProblem, site_name_parts, solve

    s = study.siting
    empty = gpd.GeoDataFrame({"kind": [], "rank": [], "gain": []}, geometry=[], crs=net.crs)
    if s.n_sites == 0 or not s.kinds:
        return empty, {}, None
    for kind in s.kinds:
        if kind not in KINDS:
            raise StudyError(f"siting.kinds: {kind!r} is not a facility kind; use one of {sorted(KINDS)}")
    threshold_s = s.threshold_min * 60.0
    off = study.travel.max_offroad_m
    exclude = read_exclusion(s.exclude, net.crs)

    def candidates_for(kind):
        if s.candidates is not None:
            return read_candidates(s.candidates, net.crs, name_column=s.candidate_name_column, exclude=exclude)
        if kind is None:
            return candidate_nodes(nodes, spacing_m=s.candidate_spacing_m, area=area, exclude=exclude)
        # generated: thinned road nodes in units where this kind does not cover everyone
        col = cov.col("cov", KINDS[kind].serves, kind, s.threshold_min)
        served = units[col] if col in units else pd.Series(0.0, index=units.index)
        under = units[served.fillna(1.0) < 1.0 - 1e-9]
        zone = shapely.union_all(under.geometry.values) if len(under) else area
        return candidate_nodes(nodes, spacing_m=s.candidate_spacing_m, area=zone, exclude=exclude)

    def coverage(cands):
        csnap = net.snap_points(cands, max_offroad_m=off)
        T = net.times_to_points(csnap, psnap, cutoff_s=threshold_s).tocsr()
        return csnap, T, (T > 0).astype(bool).tocsr()

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
        cov0 = np.r_[points[f"time_s_{ke}"].to_numpy() <= threshold_s, points[f"time_s_{ki}"].to_numpy() <= threshold_s]
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
            t_old = points[f"time_s_{kind}"].to_numpy()
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
                cutoff = search_limit_s(study)
                problem.T_full = net.times_to_points(csnap, psnap, cutoff_s=cutoff).tocsr()
            if s.model == "capacitated":
                same = np.flatnonzero(((facilities["kind"] == kind) & (facilities["serves"] != "")).to_numpy())
                fsnap = net.snap_points(facilities.iloc[same], max_offroad_m=off)
                problem.A_old = (net.times_to_points(fsnap, psnap, cutoff_s=threshold_s) > 0).astype(bool)
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
    after = _after_state(study, net, points, psnap, facilities, sites, units, threshold_s)
    sites = after["sites"]
    for key, info in info_all.items():
        if key == "joint":
            for k in s.kinds:
                g = KINDS[k].serves
                wk = points[g].to_numpy(float)
                b, a = points[f"time_s_{k}"].to_numpy() <= threshold_s, after["times"][k] <= threshold_s
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
        before = points[f"time_s_{kind}"].to_numpy() <= threshold_s
        now = after["times"].get(kind, points[f"time_s_{kind}"].to_numpy()) <= threshold_s
        before_u = cov.weighted_mean_by(before.astype(float), w, points["unit_id"])
        after_u = cov.weighted_mean_by(now.astype(float), w, points["unit_id"])
        change = (after_u - before_u).sort_values(ascending=False)
        improved = change[change > 1e-9]
        n_k = int((sites["kind"] == kind).sum())
        info.update({"n_sites": n_k, "covered_before": float(w[before].sum()), "covered_after": float(w[now].sum()),
                     "group_total": float(w.sum()),
                     "share_before": float(w[before].sum() / w.sum()) if w.sum() else None,
                     "share_after": float(w[now].sum() / w.sum()) if w.sum() else None,
                     "capacity_added": int(info.get("site_capacity", 0) * n_k),
                     "units_improved": int(len(improved)),
                     "unit_changes": [{"unit_id": u, "before": rnd(before_u[u]), "after": rnd(after_u[u])}
                                      for u in improved.index[:10]]})
    return sites, info_all, after


def _after_state(study, net, points, psnap, facilities, sites, units, threshold_s) -> dict:
    """The one after-state: suggested sites built as facilities, snapped once, times recomputed.

    Returns ``new`` (the sites as facility rows), ``nsnap``, ``times`` (kind -> each study point's
    time to the nearest facility of that kind, existing or new) and ``sites`` ranked by
    marginal gain (people of the site's group newly within ``threshold_s``, in rank order).
    """
    off = study.travel.max_offroad_m
    new = gpd.GeoDataFrame({
        "facility_id": [f"NEW-{k}-{i + 1}" for i, k in enumerate(sites["kind"])],
        "name": sites["name"].astype(str).to_numpy() if "name" in sites else "",
        "kind": sites["kind"].to_numpy(), "serves": sites["group"].to_numpy(),
        "capacity": sites["capacity"].to_numpy(dtype=float),
        "counts_as": [counts_as(k) for k in sites["kind"]],
        "capacity_status": "known", "address": "", "note": "suggested",
        "unit_id": assign_points(sites, units).to_numpy(), "in_area": True,
    }, geometry=sites.geometry.values, crs=net.crs)
    nsnap = net.snap_points(new, max_offroad_m=off)
    cutoff = search_limit_s(study)  # the one search limit, as for the times before
    T = net.times_to_points(nsnap, psnap, cutoff_s=threshold_s).tocsr()
    times, ranked = {}, []
    for k in new["kind"].unique():
        idx = np.flatnonzero((new["kind"] == k).to_numpy())
        times[k] = np.minimum(points[f"time_s_{k}"].to_numpy(), net.nearest_times(subset(nsnap, idx), psnap, cutoff_s=cutoff))
        w = points[KINDS[k].serves].to_numpy(float)
        covered = points[f"time_s_{k}"].to_numpy() <= threshold_s
        rows = {int(j): (T[j].toarray().ravel() > 0) for j in idx}
        order, gains = [], []
        while rows:  # rank by marginal gain: the site adding the most people next
            j, g = max(((j, float(w[r & ~covered].sum())) for j, r in rows.items()), key=lambda x: (x[1], -x[0]))
            order.append(j)
            gains.append(g)
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
    sites = sites.drop(columns="_new").reset_index(drop=True)
    return {"new": new, "nsnap": nsnap, "times": times, "sites": sites, "threshold_s": threshold_s}


# --------------------------------------------------------------------------- outputs
def write_outputs(res: Results, folder: Path | None = None, *, report: bool = True) -> Path:
    """Write every output of a run into ``folder`` (default ``maps/<study-name>/``) atomically.

    Tables: ``coverage.gpkg`` (layers), ``units.csv``/``districts.csv``/``targets.csv``/
    ``rejects.csv`` (machine column names, UTF-8 with BOM so Excel shows Chinese), and
    ``units.xlsx`` with one sheet per level and human labels in the study's language.
    """
    from circles.labels import labelled
    from circles.report import report_data, write_report

    final = Path(folder) if folder else res.study.out_folder
    with atomic_folder(final, study=res.study.name) as tmp:
        gpkg = tmp / "coverage.gpkg"
        units = _for_file(res.units)
        units.to_file(gpkg, layer="units", driver="GPKG")
        _for_file(res.facilities).to_file(gpkg, layer="facilities", driver="GPKG")
        if len(res.isochrones):
            _for_file(res.isochrones).to_file(gpkg, layer="isochrones", driver="GPKG")
        if len(res.isochrones_per_facility):
            _for_file(res.isochrones_per_facility).to_file(gpkg, layer="isochrones_per_facility", driver="GPKG")
        _for_file(res.points).to_file(gpkg, layer="population_points", driver="GPKG")
        if len(res.sites):
            _for_file(res.sites).to_file(gpkg, layer="suggested_sites", driver="GPKG")
        _for_file(res.edges).to_file(gpkg, layer="network_edges", driver="GPKG")
        from circles.context import nodata_polygons, outlines

        water = nodata_polygons(res.study, res.area, res.crs)  # map context that needs no internet
        if len(water):
            water.to_file(gpkg, layer="water", driver="GPKG")
        lines = outlines(res.units, res.study, res.area)
        if len(lines):
            lines.to_file(gpkg, layer="outlines", driver="GPKG")
        pd.DataFrame(units.drop(columns="geometry")).to_csv(tmp / "units.csv", index=False, encoding="utf-8-sig")
        _for_file(res.districts).to_csv(tmp / "districts.csv", encoding="utf-8-sig")  # beyond the limit: empty, as units.csv
        res.target_results.to_csv(tmp / "targets.csv", index=False, encoding="utf-8-sig")
        res.rejects.to_csv(tmp / "rejects.csv", index=False, encoding="utf-8-sig")
        lang = res.study.language
        with pd.ExcelWriter(tmp / "units.xlsx", engine="xlsxwriter") as xl:  # ~1.6x openpyxl's writer
            table = pd.DataFrame(units.drop(columns="geometry"))
            labelled(table, lang).to_excel(xl, sheet_name="units", index=False)
            labelled(_for_file(res.districts).reset_index(), lang).to_excel(xl, sheet_name="districts", index=False)
            labelled(res.overall.reset_index(drop=True), lang).to_excel(xl, sheet_name="study", index=False)
            res.target_results.to_excel(xl, sheet_name="targets", index=False)
            res.rejects.to_excel(xl, sheet_name="rejects", index=False)
        if res.whatif:
            (tmp / "whatif.json").write_text(json.dumps(res.whatif, separators=(",", ":")), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(res.summary, ensure_ascii=False, indent=2, default=_json_default),
                                          encoding="utf-8")
        if report:
            write_report(report_data(res, water=water, outlines=lines), tmp)
    return final


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return str(x)


def _for_file(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Infinite times become NaN (GeoPackage and CSV readers expect finite numbers or empty)."""
    out = gdf.copy()
    for c in out.columns:
        if c != "geometry" and pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].replace([np.inf, -np.inf], np.nan)
    return out


def run(study: Study, *, progress: Callable[[str], None] | None = None, folder: Path | None = None) -> tuple[Results, Path]:
    """Analyse ``study`` and write its outputs; returns the results and the output folder."""
    check_output_folder(Path(folder) if folder else study.out_folder)  # refuse a bad folder before computing
    res = analyse(study, progress=progress)
    t0 = time.perf_counter()
    if progress:
        progress("report")
    out = write_outputs(res, folder)
    res.timings_s["report"] = round(time.perf_counter() - t0, 3)
    if _takes_fraction(progress):
        progress("report", 1.0)
    return res, out
