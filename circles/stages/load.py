"""The load stage: study area, metric CRS, population, roads, facilities and units (-> :class:`Inputs`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from rasterio.transform import xy

from circles import rules
from circles.checks import check_gazetteers
from circles.crs import utm_crs_for
from circles.errors import InputFileError, NetworkError
from circles.i18n import t
from circles.io.facilities import load_facilities, missing_optional_columns
from circles.io.network import connectivity_report, load_network
from circles.io.population import load_population, read_population_grid
from circles.io.units import assign_parents, assign_points, clip_units, grid_units, load_units
from circles.io.vector import read_vector
from circles.kinds import in_order
from circles.results import Inputs
from circles.study import Study

log = logging.getLogger(__name__)


def study_area(study: Study, units: gpd.GeoDataFrame | None = None) -> tuple[object, object]:
    """The study area polygon in WGS84 and its centre (None, None: the rasters' extent).

    Without ``study.area``, a study whose units come from a file (``units.path``) is the
    union of its units: people in no unit are not counted in the study's figures. ``units``:
    that file as :func:`units_file` read it (read here when not given).
    """
    if study.area is None and study.units.path is not None:
        units = (units if units is not None else units_file(study)).to_crs(4326)
        geom = shapely.union_all(units.geometry.values)
        log.info("study area: the union of the %d units of %s (no study.area given)", len(units),
                 Path(study.units.path).name)
        return geom, geom.centroid
    if study.area is None:
        return None, None
    area = read_vector(study.area, "study.area").to_crs(4326)
    geom = shapely.union_all(area.geometry.values)
    return geom, geom.centroid


def units_file(study: Study) -> gpd.GeoDataFrame | None:
    """The units file of a study without ``study.area`` (its area is their union), read once, unclipped.

    Read in the UTM zone of the file's extent (so a repair's areas are logged in m², not
    degrees, before the study's CRS is known); :func:`_units` clips it to the area, and reads
    the file again only if the study's CRS differs (a ``study.crs`` given, or the union's
    centre in another zone): the same units as before this read was shared.
    None when the study has ``study.area`` or no units file.
    """
    if study.area is not None or study.units.path is None:
        return None
    return load_units(study.units.path, crs=None, name_column=study.units.name_column,
                      code_column=study.units.code_column, invalid=study.units.invalid)


def population_rules(study: Study) -> dict:
    """The population section's rules as keyword arguments of the population loaders."""
    po = study.population
    return dict(pattern=po.pattern, elderly_min_age=po.elderly_min_age, child_woman_ratio=po.child_woman_ratio,
                under20_share=po.under20_share, total_file=po.total_file, elderly_share=po.elderly_share,
                infant_share=po.infant_share)


def metric_crs(study: Study, centre) -> object:
    """``study.crs``, or with ``"auto"`` the UTM zone of the area's centre (no area: the rasters' centre)."""
    if study.crs != "auto":
        return study.crs
    if centre is None:
        g = read_population_grid(study.population.folder, **population_rules(study))
        h, w = g.total.shape
        x, y = xy(g.transform, h / 2, w / 2)
        lon, lat = Transformer.from_crs(g.crs, 4326, always_xy=True).transform(x, y)
        return utm_crs_for(lon, lat)
    return utm_crs_for(centre.x, centre.y)


def load_inputs(study: Study, *, tick: Callable[[float], None] = lambda f: None) -> Inputs:
    """Read every input of ``study`` in its metric CRS, as far as the search limit reaches.

    Halo (:func:`circles.rules.halo_m`): people within 2h of the area are read as demand on
    shared facilities, facilities within h (or a trip within the search limit) serve the
    area, roads within the reach (:func:`circles.rules.reach_m`) carry every path that
    matters; so results inside the area do not depend on where it was cut.
    """
    thresholds = tuple(float(t) for t in study.travel.thresholds_min)
    read_units = units_file(study)  # None unless the study area is the union of the units
    area_wgs, centre = study_area(study, read_units)
    pop_rules = population_rules(study)
    crs = metric_crs(study, centre)
    tr, nw = study.travel, study.network
    sloped = nw.dem is not None  # walking downhill on a DEM is faster than on flat ground: a wider halo
    halo_m = study_halo_m(study)
    limit_s = rules.search_limit_s(study)  # evaluated once per run; later stages read inputs.limit_s
    reach_m = rules.reach_m(limit_s, thresholds, nw.profile, tr.walk_speed_mps, sloped)
    area_metric = None if area_wgs is None else gpd.GeoSeries([area_wgs], crs=4326).to_crs(crs).iloc[0]
    bounds = None if area_metric is None else population_box(study, area_metric, crs)
    points, estimated, pop_rules_used = load_population(study.population.folder, crs=crs, bounds_wgs84=bounds,
                                                        **pop_rules)
    tick(0.2)
    area = area_metric if area_metric is not None else shapely.union_all(points.buffer(50).geometry.values).envelope
    inside = shapely.covers(_prepared(area), points.geometry.values)
    near = shapely.intersects(_prepared(area.buffer(2 * halo_m)), points.geometry.values)
    halo_points = points[~inside & near].copy()
    points_outside = points[~inside]
    points = points[inside].copy()
    log.info("population in the study area: %d populated cells, %.0f people, %.0f aged 60+, %.0f aged 0-3",
             len(points), points["total"].sum(), points["elderly"].sum(), points["infants"].sum())
    log.info("population read outside the study area: %.0f people (%.0f of them within %.0f m, counted as "
             "demand on shared facilities only)", points_outside["total"].sum(), halo_points["total"].sum(),
             2 * halo_m)
    nodes, edges = load_network(nw.path, crs=crs, profile=nw.profile, road_class_column=nw.road_class_column,
                                name_column=nw.name_column, oneway_column=nw.oneway_column,
                                node_crossings=nw.node_crossings,
                                join_tolerance_m=nw.join_tolerance_m, source_crs=nw.source_crs,
                                clip_to=area.buffer(reach_m + tr.max_offroad_m))
    if not shapely.intersects(_prepared(area.buffer(tr.max_offroad_m)), edges.geometry.values).any():
        raise NetworkError(f"{nw.path}: no road lies in or near the study area; check the file and its CRS")
    net_report = connectivity_report(nodes, edges)
    tick(0.8)
    fac_reach_m = rules.facility_reach_m(limit_s, thresholds, nw.profile, tr.walk_speed_mps, sloped)
    facilities, rejects, fac_counts, fac_parts, kinds_read = _facilities(study, crs, area, fac_reach_m)
    coord_fit = check_gazetteers(list(zip(study.facilities, fac_parts)), edges,  # misdeclared coords?
                                 pd.concat([points, points_outside])[["geometry"]])
    units = _units(study, area, crs, read_units)
    if study.units.path is not None:  # whether the plans' share-of-communities indicators count these polygons
        log.info("units %s: %d polygons, %s", Path(study.units.path).name, len(units),
                 "read as communities (the plans' community indicators count them)" if study.units.are_communities
                 else "not communities ([units] communities = false: the plans' community indicators are scored "
                      "by their walking-time form where the plan gives one, else not assessable)")
    points["unit_id"] = assign_points(points, units).to_numpy()
    no_unit = people_in_no_unit(study, points)
    repaired = repair_warnings(study, units, points, points_outside, no_unit_said=bool(no_unit))
    points["parent"] = points["unit_id"].map(units.set_index("unit_id")["parent"]).fillna("")
    facilities["unit_id"] = assign_points(facilities, units).to_numpy()
    facilities["in_area"] = shapely.covers(area, facilities.geometry.values)  # study totals count these only
    return Inputs(crs=crs, area=area, points=points, halo_points=halo_points, points_outside=points_outside,
                  nodes=nodes, edges=edges, facilities=facilities, rejects=rejects, units=units,
                  net_report=net_report, file_counts=fac_counts, coord_fit=coord_fit, estimated=estimated,
                  pop_rules=pop_rules_used, no_unit_warning=no_unit, repairs=repaired,
                  unit_warnings=_unit_warnings(study, units), thresholds_min=thresholds, limit_s=limit_s,
                  kinds_read=kinds_read,
                  optional_missing=missing_optional_columns(fac_parts))  # read before concat drops the attrs


def population_box(study: Study, area_metric, crs) -> np.ndarray:
    """The WGS84 box ``(x0, y0, x1, y1)`` of the population cells a run of ``study`` reads: its area
    (``area_metric``, in ``crs``) and twice the halo (:func:`circles.rules.halo_m`) around it. The one
    formula of :func:`load_inputs` and of the batch's shared read before forking
    (:func:`circles.batch._read_before_fork`)."""
    return gpd.GeoSeries([area_metric.buffer(2 * study_halo_m(study))], crs=crs).to_crs(4326).total_bounds


def study_halo_m(study: Study) -> float:
    """:func:`circles.rules.halo_m` of ``study``: its thresholds, profile and walking speed, wider on a DEM
    (walking downhill is faster than on flat ground)."""
    tr, nw = study.travel, study.network
    return rules.halo_m(tuple(float(t) for t in tr.thresholds_min), nw.profile, tr.walk_speed_mps, nw.dem is not None)


def _prepared(geom):
    """``geom`` prepared (in place) for testing many points or lines against it: the same answers,
    faster (GEOS indexes the polygon once instead of per test; a district's read holds ~65,000 cells)."""
    shapely.prepare(geom)
    return geom


def _facilities(study: Study, crs, area,
                reach_m: float) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[dict], list, tuple[str, ...]]:
    """Every gazetteer read within the reach (``area`` and ``reach_m`` around it); one clear error when no row
    survives.

    Also returns the kinds the gazetteers hold (a serving row anywhere in a file, inside
    the reach or not: ``attrs["kinds_read"]`` of :func:`circles.io.facilities.load_facilities`).
    A file's count gets ``outside_area`` when a batch area left rows outside its reach out
    of the rejects (``Study.facility_rows_outside = "count"``).
    """
    fac_parts, rej_parts, fac_counts = [], [], []
    reach = area.buffer(reach_m)
    for src in study.facilities:
        f, r = load_facilities(src.path, crs=crs, coords=src.coords, kind=src.kind, columns=src.columns,
                               encoding=src.encoding, sheet=src.sheet, area=reach, reach_m=reach_m,
                               outside=study.facility_rows_outside)
        f["illustrative"] = bool(src.illustrative)
        fac_parts.append(f)
        rej_parts.append(r)
        n_out = int(f.attrs.get("outside_area", 0))
        fac_counts.append({"file": Path(src.path).name, "read": int(len(f) + len(r)) + n_out, "kept": int(len(f)),
                           "rejected": int(len(r)), **({"outside_area": n_out} if n_out else {})})
    facilities = gpd.GeoDataFrame(pd.concat(fac_parts, ignore_index=True), geometry="geometry", crs=crs)
    rejects = pd.concat(rej_parts, ignore_index=True)
    if facilities.empty:
        raise InputFileError(no_facility_message(fac_counts, rejects))
    kinds_read = in_order(k for f in fac_parts for k in f.attrs.get("kinds_read", ()))
    return facilities, rejects, fac_counts, fac_parts, kinds_read


def _units(study: Study, area, crs, read: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The study's units: its polygons (with their street as parent), or a grid over the area.

    ``read``: the units file as :func:`units_file` read it, clipped here when it is in ``crs``.
    """
    if study.units.path is not None:
        if read is not None and CRS(read.crs) == CRS(crs):
            units = clip_units(read, area, path=study.units.path)
        else:  # the repairs said once: by units_file's read when there was one
            units = load_units(study.units.path, crs=crs, area=area, name_column=study.units.name_column,
                               code_column=study.units.code_column, invalid=study.units.invalid,
                               quiet=read is not None)
        if study.units.parents is not None:  # street polygons: each community's street is the one holding most of it
            units["parent"] = assign_parents(units, read_vector(study.units.parents, "units.parents"),
                                             study.units.parent_name_column, fill=units["parent"]).to_numpy()
        return units
    parents = read_vector(study.units.parents, "units.parents") if study.units.parents else None
    return grid_units(area, crs=crs, cell_size_m=study.units.grid_size_m, parents=parents,
                      parent_name_column=study.units.parent_name_column)


def _unit_warnings(study: Study, units) -> tuple[str, ...]:
    """summary.json ``warnings`` about the units: those of the units file left out because they lie outside
    the study area, and ``communities = true`` on grid cells (no units file: the key has no effect)."""
    out = []
    if study.units.communities and study.units.path is None:
        out.append("[units] communities = true has no effect without units.path: grid cells are not communities, "
                   "so the plans' community indicators are not counted over them; give a file of community "
                   "polygons as units.path, or remove the key")
        log.warning(out[-1])
    outside = units.attrs.get("outside_area") or []
    if outside:
        names = ", ".join(f"{u} {n}".strip() for u, n in outside[:10]) + (" ..." if len(outside) > 10 else "")
        out.append(t("warn.units_outside", study.language, n=len(outside), names=names))
    return tuple(out)


def people_in_no_unit(study: Study, points) -> str:
    """A warning when units come from a file and more than 10 % of the area's people lie in no unit ("" if not);
    fewer are said in the log with their count (a cell centre on the area's edge can fall just outside every
    unit once both are projected)."""
    if study.units.path is None:
        return ""
    total = float(points["total"].sum())
    out = float(points.loc[points["unit_id"] == "", "total"].sum())
    if total <= 0 or out <= 0:
        return ""
    if out / total <= rules.NO_UNIT_WARN_SHARE:  # said with its count, not as a warning
        log.info("units %s: %.0f of the study area's %.0f people (%.1f%%) lie in no unit: they count in the "
                 "study's figures but in no unit's (summary.json population.outside_units_total)",
                 Path(study.units.path).name, out, total, 100 * out / total)
        return ""
    msg = (f"{out / total:.0%} of the study area's people ({out:,.0f} of {total:,.0f}) lie in no unit of "
           f"{Path(study.units.path).name}: they count in the study's figures but in no unit's; check that the "
           "units cover study.area, or leave study.area out (the study area is then the union of the units)")
    log.warning(msg)
    return msg


def repair_warnings(study: Study, units, points, points_outside, *, no_unit_said: bool = False) -> tuple[dict, ...]:
    """One record per unit whose invalid outline was repaired (``units.attrs["repairs"]``), with the people now
    outside every unit; each record's ``message`` is the line for the log and ``summary.json`` ``warnings``.

    ``make_valid`` keeps every lobe of a bow-tie but leaves out a region the outline circles twice
    (:func:`circles.io.units.repair_units`); the people counted for a unit are those of every
    population cell read (inside or outside the study area) whose centre lies in that left-out part
    (``dropped``) and in no unit. Without ``study.area`` the study area is the union of the repaired
    units, so those people are outside the study area as well. A bow-tie drawn for a square (two
    corners swapped) loses no area to the repair but the two triangles its outline never enclosed:
    ``people_in_hull_no_unit`` counts the people in the outline's convex hull who are in no unit
    (and not in the left-out part), a hint at what the outline was meant to hold. A last record
    (``unit_id`` None) gives the totals: people of the study area in no unit, and the left-out
    parts' people; its ``message`` is "" when both are 0, and leaves out the first when
    :func:`people_in_no_unit` already warned (``no_unit_said``), so no figure is said twice.
    """
    reps = units.attrs.get("repairs", [])
    if not reps:
        return ()
    lang = study.language
    cells = pd.concat([points[["total", "geometry"]].assign(in_area=True),
                       points_outside[["total", "geometry"]].assign(in_area=False)], ignore_index=True)
    in_unit = np.zeros(len(cells), bool)
    in_unit[: len(points)] = (points["unit_id"] != "").to_numpy()
    if len(points_outside):  # cells outside the area may still lie in a unit (a unit larger than study.area)
        in_unit[len(points):] = shapely.intersects(shapely.union_all(units.geometry.values),
                                                   points_outside.geometry.values)
    xy = cells.geometry.values
    out, counted = [], np.zeros(len(cells), bool)
    for r in reps:
        left = shapely.covers(r["dropped"], xy) & ~in_unit if not r["dropped"].is_empty else np.zeros(len(cells), bool)
        people = float(cells.loc[left, "total"].sum())
        counted |= left
        geom = units.loc[units["unit_id"] == r["unit_id"], "geometry"]
        near = shapely.covers(shapely.convex_hull(geom.iloc[0]), xy) & ~in_unit if len(geom) else left
        hull = float(cells.loc[near & ~left, "total"].sum())
        before = t("warn.area_unmeasurable", lang) if r["area_before_m2"] is None else f"{r['area_before_m2']:,.0f} m²"
        msg = t("warn.unit_repaired", lang, unit=r["unit_id"], name=r["unit_name"], reason=r["reason"],
                lon=f"{r['lon']:.6f}", lat=f"{r['lat']:.6f}", before=before, after=f"{r['area_after_m2']:,.0f}",
                dropped=f"{r['dropped_area_m2']:,.0f}", people=f"{people:,.0f}", hull=f"{hull:,.0f}")
        log.warning(msg)
        out.append({**{k: v for k, v in r.items() if k != "dropped"}, "people_left_out": people,
                    "people_in_hull_no_unit": hull, "message": msg})
    inside = float(points.loc[points["unit_id"] == "", "total"].sum())
    dropped = float(cells.loc[counted, "total"].sum())
    dropped_in_area = float(cells.loc[counted & cells["in_area"].to_numpy(), "total"].sum())
    where = t("warn.dropped_inside_area" if study.area is not None else "warn.dropped_outside_area", lang)
    if not no_unit_said and (inside > 0 or dropped > 0):
        msg = t("warn.no_unit_total", lang, n=len(reps), inside=f"{inside:,.0f}", dropped=f"{dropped:,.0f}", where=where)
    elif dropped > 0:
        msg = t("warn.repair_left_out", lang, n=len(reps), dropped=f"{dropped:,.0f}", where=where)
    else:
        msg = ""  # nobody in no unit, nobody left out: the unit lines said so
    if msg:
        log.warning(msg)
    out.append({"unit_id": None, "people_in_no_unit": inside, "people_left_out": dropped,
                "people_left_out_in_area": dropped_in_area, "message": msg})
    return tuple(out)


def no_facility_message(counts: list[dict], rejects: pd.DataFrame) -> str:
    """One line when every gazetteer row was rejected (no rejects.csv is written then): counts and the top reason."""
    read = ", ".join(f"{c['file']} {c['read']} rows read, {c['rejected']} rejected" for c in counts)
    msg = f"no facility survived loading ({read})"
    if len(rejects):
        (file, reason), n = next(iter(rejects.groupby(["file", "reason"]).size().sort_values(
            ascending=False, kind="stable").items()))
        msg += f"; most common reason ({n} rows of {file}): {reason}"
    return msg + "; check `coords` and the kind column"
