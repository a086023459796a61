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
from circles import targets as tg
from circles.crs import utm_crs_for
from circles.errors import InputFileError, NetworkError, StudyError
from circles.io.facilities import KINDS, load_facilities
from circles.io.network import connectivity_report, load_network
from circles.io.population import load_population
from circles.io.units import assign_points, grid_units, load_units
from circles.io.vector import read_vector
from circles.isochrones import PER_FACILITY_MAX, isochrone_polygons, isochrones_per_source
from circles.outputs import atomic_folder
from circles.siting import candidate_nodes, suggest_sites
from circles.study import Study
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
    """The study area polygon in WGS84 and the metric CRS."""
    if study.area is None:
        return None, None
    area = read_vector(study.area, "study.area").to_crs(4326)
    geom = shapely.union_all(area.geometry.values)
    return geom, geom.centroid


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
        area_metric = None if area_wgs is None else gpd.GeoSeries([area_wgs], crs=4326).to_crs(crs).iloc[0]
        bounds = None if area_metric is None else gpd.GeoSeries([area_metric.buffer(2 * halo_m)], crs=crs) \
            .to_crs(4326).total_bounds
        points, estimated = load_population(po.folder, crs=crs, bounds_wgs84=bounds, **pop_rules)
        stage.tick(0.2)
        area = area_metric if area_metric is not None else shapely.union_all(points.buffer(50).geometry.values).envelope
        inside = shapely.covers(area, points.geometry.values)
        near = shapely.intersects(area.buffer(2 * halo_m), points.geometry.values)
        halo_points = points[~inside & near].copy()
        points_outside = points[~inside]
        points = points[inside].copy()
        nw = study.network
        nodes, edges = load_network(nw.path, crs=crs, profile=nw.profile, road_class_column=nw.road_class_column,
                                    name_column=nw.name_column, oneway_column=nw.oneway_column,
                                    node_crossings=nw.node_crossings,
                                    join_tolerance_m=nw.join_tolerance_m, source_crs=nw.source_crs,
                                    clip_to=area.buffer(2 * halo_m + study.travel.max_offroad_m))
        if not shapely.intersects(area.buffer(study.travel.max_offroad_m), edges.geometry.values).any():
            raise NetworkError(f"{nw.path}: no road lies in or near the study area; check the file and its CRS")
        net_report = connectivity_report(nodes, edges)
        stage.tick(0.8)
        fac_parts, rej_parts, fac_counts = [], [], []
        halo = area.buffer(halo_m)
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
            raise InputFileError("no facility survived loading: see rejects.csv; check `coords` and the kind column")
        if study.units.path is not None:
            units = load_units(study.units.path, crs=crs, area=area, name_column=study.units.name_column,
                               code_column=study.units.code_column)
        else:
            parents = read_vector(study.units.parents, "units.parents") if study.units.parents else None
            units = grid_units(area, crs=crs, cell_size_m=study.units.grid_size_m, parents=parents,
                               parent_name_column=study.units.parent_name_column)
        points["unit_id"] = assign_points(points, units).to_numpy()
        points["parent"] = points["unit_id"].map(units.set_index("unit_id")["parent"]).fillna("")
        facilities["unit_id"] = assign_points(facilities, units).to_numpy()

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
        kinds = [k for k in KINDS if (facilities["kind"] == k).any()]
        cutoff = np.inf if study.travel.max_time_min is None else study.travel.max_time_min * 60.0
        for k in KINDS:
            idx = np.flatnonzero((facilities["kind"] == k).to_numpy())
            points[f"time_s_{k}"] = net.nearest_times(subset(fsnap, idx), psnap, cutoff_s=cutoff) if len(idx) else np.inf
            stage.tick(0.1 + 0.4 * (list(KINDS).index(k) + 1) / len(KINDS))
        points = gpd.GeoDataFrame(cov.add_any_times(points), geometry="geometry", crs=crs)
        catch = net.times_to_points(fsnap, dsnap, cutoff_s=tmax_s)

    with stage("coverage"):
        preset = tg.load_preset(study.targets.preset)
        scored = _score(points, facilities, catch, units, thresholds, kinds, preset, study.language, tmax_s, demand)
        points, units = scored["points"], scored["units"]

    with stage("siting"):
        sites, siting_info = _siting(study, net, nodes, area, points, psnap, facilities, units, kinds)
        stage.tick(0.7)
        after = None
        if len(sites):
            after = _after_sites(study, net, points, psnap, facilities, catch, sites, units, thresholds, kinds,
                                 preset, tmax_s, demand, dsnap, cutoff)
            units = units.merge(after["units_after"], left_on="unit_id", right_index=True, how="left")

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
    if after is not None:
        summary["targets_after"] = target_rows(after["overall_results"])
        summary["coverage_after"] = after["coverage_after"]
        summary["units_fail_after"] = after["units_fail_after"]
    summary["timings_s"] = stage.timings
    summary["timings_cpu_s"] = stage.cpu
    summary["isochrones_per_facility"] = {"drawn": bool(len(iso_each)), "limit_facilities": PER_FACILITY_MAX,
                                          "on_demand": "circles.isochrones.facility_isochrones(res, ids)"}
    return Results(study=study, crs=crs, area=area, nodes=nodes, edges=edges, facilities=facilities, rejects=rejects,
                   points=points, units=units, districts=scored["districts"], overall=scored["overall"],
                   target_results=scored["unit_results"], preset=preset, sites=sites, isochrones=isochrones,
                   isochrones_per_facility=iso_each, summary=summary, timings_s=stage.timings,
                   net=net, point_snap=psnap)


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
    kinds = [k for k in KINDS if (res.facilities["kind"] == k).any()]
    return _siting(study, res.net, res.nodes, res.area, res.points, res.point_snap, res.facilities, res.units, kinds)


def _score(points, facilities, catch, units_geo, thresholds, kinds, preset, language, tmax_s, demand) -> dict:
    """Coverage, capacity and targets per unit, district and study (the same code before and after siting)."""
    points = points.copy()
    _add_access(points, facilities, catch, tmax_s, demand)
    unit_table = _coverage_table(points, facilities, thresholds, kinds, "unit_id")
    units = units_geo[["unit_id", "unit_name", "parent", "geometry"]].merge(unit_table, left_on="unit_id",
                                                                            right_index=True, how="left")
    for c in ("pop_total", "pop_elderly", "pop_infants", "n_cells", "beds_inside", "slots_inside"):
        units[c] = units[c].fillna(0)
    parent_of = units.set_index("unit_id")["parent"]
    districts = _coverage_table(points.assign(parent=points["parent"].replace("", "(none)")),
                                facilities.assign(parent=facilities["unit_id"].map(parent_of).fillna("(none)")),
                                thresholds, kinds, "parent")
    overall = _coverage_table(points.assign(all="study"), facilities.assign(all="study"), thresholds, kinds, "all")
    unit_results = tg.evaluate(units.set_index("unit_id"), preset, language=language)
    units = units.merge(tg.wide(unit_results, "unit_id"), left_on="unit_id", right_index=True, how="left")
    overall_results = tg.evaluate(overall, preset, language=language)
    return {"points": points, "units": units, "districts": districts, "overall": overall,
            "unit_results": unit_results, "overall_results": overall_results}


def _after_sites(study, net, points, psnap, facilities, catch, sites, units, thresholds, kinds, preset, tmax_s,
                 demand, dsnap, cutoff) -> dict:
    """Score again with the suggested sites built (existing facilities unchanged)."""
    new = gpd.GeoDataFrame({
        "facility_id": [f"NEW-{k}-{r}" for k, r in zip(sites["kind"], sites["rank"])],
        "name": [f"建议新建{z} #{r}" for z, r in zip(sites["kind_zh"], sites["rank"])],
        "kind": sites["kind"].to_numpy(), "serves": sites["group"].replace({"both": "elderly"}).to_numpy(),
        "capacity": sites["capacity"].to_numpy(dtype=float), "address": "", "note": "suggested",
        "unit_id": assign_points(sites, units).to_numpy(),
    }, geometry=sites.geometry.values, crs=net.crs)
    fac_after = pd.concat([facilities, new], ignore_index=True)
    fac_after = gpd.GeoDataFrame(fac_after, geometry="geometry", crs=net.crs)
    nsnap = net.snap_points(new, max_offroad_m=study.travel.max_offroad_m)
    pts = points.copy()
    for k in new["kind"].unique():
        idx = np.flatnonzero((new["kind"] == k).to_numpy())
        pts[f"time_s_{k}"] = np.minimum(pts[f"time_s_{k}"].to_numpy(),
                                        net.nearest_times(subset(nsnap, idx), psnap, cutoff_s=cutoff))
    pts = gpd.GeoDataFrame(cov.add_any_times(pts), geometry="geometry", crs=net.crs)
    catch_after = sp.vstack([catch, net.times_to_points(nsnap, dsnap, cutoff_s=tmax_s)]).tocsr()
    kinds_after = [k for k in KINDS if (fac_after["kind"] == k).any()]
    scored = _score(pts, fac_after, catch_after, units, thresholds, kinds_after, preset, study.language, tmax_s, demand)
    for g in cov.GROUPS:
        points[f"time_s_{g}_any_after"] = pts[f"time_s_{g}_any"].to_numpy()
    ua = scored["units"].set_index("unit_id")
    keep = [c for c in ua.columns if c.startswith(("cov_", "sfca_", "e2sfca_", "status_"))] + ["n_fail"]
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
    the halo's, whose people count in step 1 but are not scored.
    """
    serves = facilities["serves"].to_numpy()
    capacity = facilities["capacity"].to_numpy(dtype=float)
    n = len(points)
    for cap, group in (("beds", "elderly"), ("slots", "total")):
        supply = np.where(serves == ("elderly" if cap == "beds" else "infants"), capacity, 0.0)
        for decay, prefix in (("none", "sfca"), ("gaussian", "e2sfca")):
            a = cov.two_step_fca(catch, supply, demand[group].to_numpy(dtype=float), catchment_s=catchment_s, decay=decay)
            points[f"{prefix}_{cap}_per_1000_{group}"] = 1000.0 * a[:n]


def _coverage_table(points, facilities, thresholds, kinds, by) -> pd.DataFrame:
    table = cov.aggregate(points, by, thresholds, kinds)
    table = table.join(cov.capacity_inside(facilities, by), how="left").fillna({"beds_inside": 0, "slots_inside": 0})
    table = cov.add_ratios(table)
    for name, weight in (("sfca_beds_per_1000_elderly", "elderly"), ("e2sfca_beds_per_1000_elderly", "elderly"),
                         ("sfca_slots_per_1000_total", "total"), ("e2sfca_slots_per_1000_total", "total")):
        table[name] = cov.weighted_mean_by(points[name].to_numpy(), points[weight].to_numpy(dtype=float), points[by])
    return table


def _siting(study, net, nodes, area, points, psnap, facilities, units, kinds):
    """Suggest sites for each requested kind (or jointly), with before/after coverage."""
    from circles.siting import capacitated_exact, lscp_exact, pmedian_exact

    s = study.siting
    empty = gpd.GeoDataFrame({"kind": [], "rank": [], "gain": []}, geometry=[], crs=net.crs)
    if s.n_sites == 0 or not s.kinds:
        return empty, {}
    for kind in s.kinds:
        if kind not in KINDS:
            raise StudyError(f"siting.kinds: {kind!r} is not a facility kind; use one of {sorted(KINDS)}")
    threshold_s = s.threshold_min * 60.0
    exclude = None
    if s.exclude is not None:
        ex = read_vector(s.exclude, "siting.exclude")
        exclude = shapely.union_all(ex.to_crs(net.crs).geometry.values)

    def candidates_for(kind):
        if s.candidates is not None:
            c = read_vector(s.candidates, "siting.candidates").to_crs(net.crs)
            c["geometry"] = c.geometry.representative_point()
            name_col = s.candidate_name_column if s.candidate_name_column in c else None
            c["name"] = c[name_col].astype(str) if name_col else [f"候选 {i + 1}" for i in range(len(c))]
            if exclude is not None:
                c = c[~shapely.intersects(exclude, c.geometry.values)]
            return c[["name", "geometry"]].reset_index(drop=True)
        # generated: thinned road nodes in units where this kind does not cover everyone
        col = cov.col("cov", KINDS[kind].serves, kind, s.threshold_min)
        served = units[col] if col in units else pd.Series(0.0, index=units.index)
        under = units[served.fillna(1.0) < 1.0 - 1e-9]
        zone = shapely.union_all(under.geometry.values) if len(under) else area
        return candidate_nodes(nodes, spacing_m=s.candidate_spacing_m, area=zone, exclude=exclude)

    def label_sites(sites, kind, group, size):
        sites["kind"] = kind
        sites["kind_zh"] = KINDS[kind].zh
        sites["capacity"] = size
        sites["group"] = group
        return sites

    info_all, sites_all = {}, []
    if s.model == "joint":
        if len(s.kinds) != 2 or {KINDS[k].serves for k in s.kinds} != {"elderly", "infants"}:
            raise StudyError("siting.model = 'joint' needs siting.kinds = [an elderly kind, an infant kind]")
        ke = next(k for k in s.kinds if KINDS[k].serves == "elderly")
        ki = next(k for k in s.kinds if KINDS[k].serves == "infants")
        we, wi = points["elderly"].to_numpy(float), points["infants"].to_numpy(float)
        w = np.r_[we / max(we.sum(), 1e-9), wi / max(wi.sum(), 1e-9)]  # shares gained, summed
        cov0 = np.r_[points[f"time_s_{ke}"].to_numpy() <= threshold_s, points[f"time_s_{ki}"].to_numpy() <= threshold_s]
        cands = candidate_nodes(nodes, spacing_m=s.candidate_spacing_m, area=area, exclude=exclude) \
            if s.candidates is None else candidates_for(ke)
        sites, info, _ = suggest_sites(net, [psnap, psnap], w, cov0, cands, n_sites=s.n_sites,
                                       threshold_s=threshold_s, method=s.method)
        info.update({"kind": f"{ke}+{ki}", "group": "both", "n_sites": int(len(sites)), "model": "joint",
                     "threshold_min": s.threshold_min,
                     "objective_meaning": "sum of elderly and infant coverage shares"})
        new_snap = net.snap_points(sites, max_offroad_m=500.0)
        t_new = net.nearest_times(new_snap, psnap, cutoff_s=threshold_s)
        for k, wk in ((ke, we), (ki, wi)):
            t_old = points[f"time_s_{k}"].to_numpy()
            info[f"share_before_{KINDS[k].serves}"] = float(wk[t_old <= threshold_s].sum() / max(wk.sum(), 1e-9))
            info[f"share_after_{KINDS[k].serves}"] = float(wk[np.minimum(t_old, t_new) <= threshold_s].sum()
                                                          / max(wk.sum(), 1e-9))
        both = [label_sites(sites.copy(), ke, "elderly", s.beds), label_sites(sites.copy(), ki, "infants", s.slots)]
        info_all["joint"] = info
        sites_all.extend(both)
        return gpd.GeoDataFrame(pd.concat(sites_all, ignore_index=True), geometry="geometry", crs=net.crs), info_all
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
        if s.model == "mclp":
            sites, info, _ = suggest_sites(net, psnap, w, covered0, cands, n_sites=s.n_sites,
                                           threshold_s=threshold_s, method=s.method)
        else:
            csnap = net.snap_points(cands, max_offroad_m=500.0)
            T = net.times_to_points(csnap, psnap, cutoff_s=threshold_s)
            A = (T > 0).astype(bool).tocsr()
            if s.model == "lscp":
                res = lscp_exact(A, covered0)
            elif s.model == "pmedian":
                res = pmedian_exact(T, w, s.n_sites, np.where(np.isfinite(t_old), t_old, np.inf))
            else:  # capacitated
                same = np.flatnonzero((facilities["kind"] == kind).to_numpy())
                fsnap = net.snap_points(facilities.iloc[same], max_offroad_m=study.travel.max_offroad_m)
                A_old = (net.times_to_points(fsnap, psnap, cutoff_s=threshold_s) > 0).astype(bool)
                res = capacitated_exact(A, A_old, w * s.take_up_rate, size,
                                        facilities.iloc[same]["capacity"].to_numpy(float), s.n_sites)
            chosen = res.pop("chosen")
            gains = [float(w[np.asarray(A[j].todense()).ravel() & ~covered0].sum()) for j in chosen]
            order = np.argsort(gains, kind="stable")[::-1]
            sites = cands.iloc[[chosen[i] for i in order]].copy().reset_index(drop=True)
            sites["rank"] = np.arange(1, len(sites) + 1)
            sites["gain"] = [gains[i] for i in order]
            info = {"model": s.model, "n_candidates": int(len(cands)), "method": "HiGHS MIP", **res}
        sites = label_sites(sites, kind, group, size)
        new_snap = net.snap_points(sites, max_offroad_m=500.0)
        after = np.minimum(t_old, net.nearest_times(new_snap, psnap, cutoff_s=threshold_s)) if len(sites) else t_old
        before_u = cov.weighted_mean_by(covered0.astype(float), w, points["unit_id"])
        after_u = cov.weighted_mean_by((after <= threshold_s).astype(float), w, points["unit_id"])
        change = (after_u - before_u).sort_values(ascending=False)
        improved = change[change > 1e-9]
        info.update({"units_improved": int(len(improved)),
                     "unit_changes": [{"unit_id": u, "before": rnd(before_u[u]), "after": rnd(after_u[u])}
                                      for u in improved.index[:10]]})
        info.update({"kind": kind, "group": group, "n_sites": int(len(sites)), "threshold_min": s.threshold_min,
                     "site_capacity": size, "covered_before": float(w[covered0].sum()),
                     "covered_after": float(w[after <= threshold_s].sum()), "group_total": float(w.sum()),
                     "share_before": float(w[covered0].sum() / w.sum()) if w.sum() else None,
                     "share_after": float(w[after <= threshold_s].sum() / w.sum()) if w.sum() else None,
                     "capacity_added": int(size * len(sites))})
        info_all[kind] = info
        sites_all.append(sites)
    if not sites_all:
        return empty, info_all
    return gpd.GeoDataFrame(pd.concat(sites_all, ignore_index=True), geometry="geometry", crs=net.crs), info_all


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
    with atomic_folder(final) as tmp:
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
        pd.DataFrame(units.drop(columns="geometry")).to_csv(tmp / "units.csv", index=False, encoding="utf-8-sig")
        res.districts.to_csv(tmp / "districts.csv", encoding="utf-8-sig")
        res.target_results.to_csv(tmp / "targets.csv", index=False, encoding="utf-8-sig")
        res.rejects.to_csv(tmp / "rejects.csv", index=False, encoding="utf-8-sig")
        lang = res.study.language
        with pd.ExcelWriter(tmp / "units.xlsx") as xl:
            table = pd.DataFrame(units.drop(columns="geometry"))
            labelled(table, lang).to_excel(xl, sheet_name="units", index=False)
            labelled(res.districts.reset_index(), lang).to_excel(xl, sheet_name="districts", index=False)
            labelled(res.overall.reset_index(drop=True), lang).to_excel(xl, sheet_name="study", index=False)
            res.target_results.to_excel(xl, sheet_name="targets", index=False)
            res.rejects.to_excel(xl, sheet_name="rejects", index=False)
        (tmp / "summary.json").write_text(json.dumps(res.summary, ensure_ascii=False, indent=2, default=_json_default),
                                          encoding="utf-8")
        if report:
            write_report(report_data(res), tmp)
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
    res = analyse(study, progress=progress)
    t0 = time.perf_counter()
    if progress:
        progress("report")
    out = write_outputs(res, folder)
    res.timings_s["report"] = round(time.perf_counter() - t0, 3)
    if _takes_fraction(progress):
        progress("report", 1.0)
    return res, out
