"""The travel stage: snap people and facilities once, times to the nearest facility of each kind (-> :class:`Travel`)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from circles import coverage as cov
from circles.io.dem import edge_slope_times
from circles.kinds import KINDS, in_order, kinds_present
from circles.results import Inputs, Travel
from circles.study import Study
from circles.travel import Snap, TravelNetwork, subset

log = logging.getLogger(__name__)


def serving(facilities: pd.DataFrame, kind: str) -> np.ndarray:
    """Row positions of the facilities of ``kind`` that serve someone (a kindergarten without 托班 serves no under-3)."""
    # on the columns' numpy arrays: the same test as the Series comparison, a fifth of its time
    return np.flatnonzero((facilities["kind"].to_numpy() == kind) & (facilities["serves"].to_numpy() != ""))


def nearest_by_kind(net: TravelNetwork, facilities: pd.DataFrame, fsnap: Snap, psnap: Snap, cutoff_s: float,
                    kinds=None, *, tick: Callable[[float], None] = lambda f: None) -> dict[str, np.ndarray]:
    """Kind -> each point's time to the nearest serving facility of that kind, exact up to ``cutoff_s`` (else inf).

    Every kind in one search call (:meth:`TravelNetwork.nearest_times_by_group`)."""
    kinds = list(KINDS) if kinds is None else list(kinds)
    # each facility's kind as its group (-1: a kind not asked for, or a facility serving no one: serving())
    group = pd.Index(kinds).get_indexer(facilities["kind"].to_numpy())
    group[facilities["serves"].to_numpy() == ""] = -1
    t = net.nearest_times_by_group(fsnap, group, len(kinds), psnap, cutoff_s=cutoff_s)
    tick(1.0)  # (one search call for every kind: one tick; it takes a few hundredths of a second on a city)
    return dict(zip(kinds, t))


def travel(study: Study, inputs: Inputs, *, tick: Callable[[float], None] = lambda f: None) -> Travel:
    """Build the network, snap the demand (study then halo) and the facilities once, and search.

    Per-kind times stop at the run's one search limit (``inputs.limit_s``); the facility ->
    people catchment matrix stops at the longest threshold (2SFCA). Later stages reuse the
    snaps and these times: nothing here is searched again downstream.
    """
    crs, points, facilities = inputs.crs, inputs.points.copy(), inputs.facilities.copy()
    off = study.travel.max_offroad_m
    # the roads' vertices, read once: the DEM's sampling and the snapping index read them (the drive profile
    # holds its edges reversed and reads its own)
    vertices = shapely.get_coordinates(inputs.edges.geometry.values, return_index=True) \
        if study.network.profile == "walk" else None
    slope, warning = slope_times(study, inputs, vertices)
    net = TravelNetwork(inputs.nodes, inputs.edges, walk_speed_mps=study.travel.walk_speed_mps,
                        profile=study.network.profile, slope=slope, vertices=vertices)
    cols = ["total", "elderly", "infants", "geometry"]
    demand = gpd.GeoDataFrame(pd.concat([points[cols], inputs.halo_points[cols]], ignore_index=True),
                              geometry="geometry", crs=crs)
    dsnap = net.snap_points(demand, max_offroad_m=off)
    psnap = subset(dsnap, np.arange(len(points)))
    fsnap = net.snap_points(facilities, max_offroad_m=off)
    tick(0.1)
    points["offroad_m"] = psnap.offroad_m
    points["snapped"] = psnap.snapped
    facilities["offroad_m"] = fsnap.offroad_m
    facilities["snapped"] = fsnap.snapped
    times = {f"time_s_{k}": t for k, t in nearest_by_kind(net, facilities, fsnap, psnap, inputs.limit_s,
                                                          tick=lambda f: tick(0.1 + 0.4 * f)).items()}
    for name, t in (times | cov.any_times(times)).items():  # points is our copy: the columns added in place
        points[name] = t
    tmax_s = max(inputs.thresholds_min) * 60.0
    catch = net.times_to_points(fsnap, dsnap, cutoff_s=tmax_s)
    flat = None
    if slope is not None:  # the same trips on flat ground, up to the longest threshold (the ``_flat`` shares)
        flat_net = net.flat_twin()  # the flat network from the sloped one's arrays (no rebuild)
        ft = nearest_by_kind(flat_net, facilities, on_network(flat_net, fsnap), on_network(flat_net, psnap), tmax_s)
        ft = {f"time_s_{k}": t for k, t in ft.items()}
        flat = pd.DataFrame(ft | cov.any_times(ft))
    return Travel(net=net, demand=demand, demand_snap=dsnap, point_snap=psnap, facility_snap=fsnap, points=points,
                  facilities=facilities, kinds=assessed_kinds(inputs, facilities), catchment=catch,
                  limit_s=inputs.limit_s, tmax_s=tmax_s, slope=slope, flat_times=flat, slope_warning=warning)


def assessed_kinds(inputs: Inputs, facilities: pd.DataFrame) -> tuple[str, ...]:
    """The kinds assessed (vocabulary order): those the gazetteers hold anywhere (``inputs.kinds_read``), also
    when none lies within this area's facility reach (its times are then "beyond", its coverage 0, as in one run
    of a larger area that holds one), and any loaded facility's kind."""
    return in_order([*kinds_present(facilities), *inputs.kinds_read])


def slope_times(study: Study, inputs: Inputs, vertices=None):
    """``(SlopeTimes or None, warning)``: the DEM's sloped edge times on the walk profile (issue 23).
    ``vertices``: the road edges' ``shapely.get_coordinates(..., return_index=True)`` if read.

    The drive profile ignores the DEM. Road edges outside the DEM or on nodata keep the flat
    speed; the warning (also logged) counts them with their share of road length ("" if none).
    """
    if study.network.dem is None or study.network.profile != "walk":
        return None, ""
    slope = edge_slope_times(inputs.edges, study.network.dem, study.travel.walk_speed_mps, vertices=vertices)
    warning = ""
    if slope.n_outside:
        warning = (f"{slope.n_outside} road edges ({1 - slope.covered_share:.1%} of the road length read: the study area and its halo) are outside the DEM "
                   f"{study.network.dem.name} or on nodata: flat walking speed there")
        log.warning(warning)
    return slope, warning


def on_network(flat: TravelNetwork, s: Snap) -> Snap:
    """The snap ``s`` (same edges and positions) timed on the flat network ``flat``.

    The partial-edge times are what :meth:`TravelNetwork.snap_points` gives on flat ground
    (``frac x edge_time_s`` and the rest); the snapping itself is not done twice. Tests
    check the flat shares against a run of the same study without the DEM.
    """
    e = np.where(s.snapped, s.edge, 0)
    t = flat.edge_time_s[e]
    frac = np.clip(s.along_m / flat.length_m[e], 0.0, 1.0) if len(e) else np.zeros(0)
    return dataclasses.replace(s, to_u_s=frac * t, to_v_s=(1.0 - frac) * t, from_u_s=None, from_v_s=None)
