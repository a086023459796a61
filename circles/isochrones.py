"""Isochrone polygons (display only; coverage numbers never come from these shapes).

An isochrone is the union of the network reachable within T, including the reachable
part of partially reached edges, buffered by ``buffer_m`` to read as an area on a map.
No convex hulls: a river or a missing road shows as a gap.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring


def reachable_lines(net, node_time: np.ndarray, sources, threshold_s: float) -> list:
    """Pieces of edges reachable within ``threshold_s`` given per-node times from ``sources``."""
    t_u = node_time[net.u]
    t_v = node_time[net.v]
    et = net.edge_time_s
    L = net.length_m
    reach_u = np.clip((threshold_s - t_u) / et, 0.0, 1.0) * L  # metres from u
    reach_v = np.clip((threshold_s - t_v) / et, 0.0, 1.0) * L  # metres from v
    geoms = net.edges.geometry.values
    pieces = []
    whole = reach_u + reach_v >= L
    pieces.extend(geoms[whole])
    for i in np.flatnonzero(~whole & ((reach_u > 0) | (reach_v > 0))):
        if reach_u[i] > 0:
            pieces.append(substring(geoms[i], 0.0, reach_u[i]))
        if reach_v[i] > 0:
            pieces.append(substring(geoms[i], L[i] - reach_v[i], L[i]))
    # each source's own edge: it can walk both ways from where it meets the road
    ok = np.flatnonzero(sources.snapped & (sources.offroad_s <= threshold_s))
    for k in ok:
        e = sources.edge[k]
        r = (threshold_s - sources.offroad_s[k]) / et[e] * L[e]
        a = sources.along_m[k]
        pieces.append(substring(geoms[e], max(0.0, a - r), min(L[e], a + r)))
    return [p for p in pieces if p is not None and not p.is_empty and p.length > 0]


def isochrone_polygons(net, sources, thresholds_s, *, buffer_m: float = 60.0, label: dict | None = None) -> gpd.GeoDataFrame:
    """One (multi)polygon per threshold: what the sources reach together within each time."""
    node_time = net.node_times(sources, cutoff_s=max(thresholds_s))[0]
    rows = []
    for t in sorted(thresholds_s, reverse=True):
        lines = reachable_lines(net, node_time, sources, t)
        geom = shapely.union_all(shapely.buffer(np.array(lines, dtype=object), buffer_m, quad_segs=4)) if lines else shapely.Polygon()
        rows.append({**(label or {}), "minutes": t / 60.0, "geometry": geom})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs)


def isochrones_per_source(net, sources, threshold_s: float, *, buffer_m: float = 60.0,
                          labels: list[dict] | None = None) -> gpd.GeoDataFrame:
    """One polygon per source (e.g. per facility): what it alone reaches within ``threshold_s``."""
    from circles.travel import subset

    rows = []
    ok = np.flatnonzero(sources.snapped)
    if len(ok):
        times = net.node_times(subset(sources, ok), cutoff_s=threshold_s, separate=True)
        for row, k in zip(times, ok):
            one = subset(sources, np.array([k]))
            lines = reachable_lines(net, row, one, threshold_s)
            geom = shapely.union_all(shapely.buffer(np.array(lines, dtype=object), buffer_m, quad_segs=4)) if lines else shapely.Polygon()
            rows.append({**((labels or [{}] * len(sources))[k]), "minutes": threshold_s / 60.0, "geometry": geom})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs) if rows else gpd.GeoDataFrame(geometry=[], crs=net.crs)
