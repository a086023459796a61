"""Isochrone polygons (display only; coverage numbers never come from these shapes).

An isochrone is the part of the road network reachable within T minutes, including the
reachable part of partially reached edges, widened by ``buffer_m`` so it reads as an
area on a map. No convex hulls: a river or a missing road shows as a gap.

How they are drawn (vectorised, no per-edge Python loop, no facilities x nodes matrix):

1. One multi-source Dijkstra per facility kind gives the time to every node from the
   nearest facility of that kind (:meth:`circles.travel.TravelNetwork.node_times`).
2. Every edge is sampled every ``cell_m`` metres (once per network). The time at a sample
   ``s`` metres from ``u`` is ``min(t_u + s/L * t_edge, t_v + (L - s)/L * t_edge)`` (the
   second term only where the edge may be walked v -> u), and on a source's own edge also
   ``off-road leg + |s - along|/L * t_edge``: exactly the reachable edge pieces of the
   search, at sample spacing.
3. The samples' times go on a raster of ``cell_m`` cells (the minimum per cell), widened
   by a minimum filter over a disc of ``buffer_m``; each threshold is the cells at or
   under it, traced to polygons (``rasterio.features.shapes``) and simplified by one cell.
   Cost grows with the reached road length and the raster's cells, not with the number
   of facilities; the outline is within about one cell (``buffer_m / 3.5``, 17 m by
   default) of the exact buffer of the reachable pieces.

What a run writes (``coverage.gpkg``):

- ``isochrones``: study-level, one (multi)polygon per facility kind and threshold (what
  the kind's facilities reach together). Always computed; this is what the report shows.
- ``isochrones_per_facility``: one polygon per facility at the longest threshold, only for
  studies with at most :data:`PER_FACILITY_MAX` facilities (then cheap: a few ms each).
  Above that it is skipped and the summary says so; compute it on demand with
  :func:`facility_isochrones` for the facilities you want to look at.
"""

from __future__ import annotations

import logging
import weakref

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring

from circles.rules import ISO_MAX_CELLS, PER_FACILITY_MAX  # noqa: F401  (the caps live with the other rules)
from circles.travel import subset

log = logging.getLogger(__name__)

_SAMPLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reachable_lines(net, node_time: np.ndarray, sources, threshold_s: float) -> list:
    """Pieces of edges reachable within ``threshold_s`` given per-node times from ``sources``.

    The exact pieces as LineStrings (for inspection and tests; the polygons use the
    sampled equivalent, see the module docstring).
    """
    t_u = node_time[net.u]
    t_v = np.where(net.oneway, np.inf, node_time[net.v])
    et = net.edge_time_s
    L = net.length_m
    reach_u = np.clip((threshold_s - t_u) / net.edge_back_s, 0.0, 1.0) * L  # metres from u (walking back to u)
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
        lo = a if sources.oneway[k] else max(0.0, a - r)
        pieces.append(substring(geoms[e], lo, min(L[e], a + r)))
    return [p for p in pieces if p is not None and not p.is_empty and p.length > 0]


# --------------------------------------------------------------------------- sampled edges
class _Samples:
    """Every edge sampled at most ``spacing_m`` apart (both ends included)."""

    def __init__(self, net, spacing_m: float):
        L = net.length_m
        n_per = np.maximum(1, np.ceil(L / spacing_m)).astype(np.int64) + 1
        self.start = np.r_[0, np.cumsum(n_per)[:-1]]
        self.edge = np.repeat(np.arange(len(L)), n_per)
        k = np.arange(len(self.edge)) - np.repeat(self.start, n_per)
        self.frac = k / np.repeat(n_per - 1, n_per)
        self.xy = _interpolate(net.edges.geometry.values, self.edge, self.frac)
        self.n_per = n_per


def _interpolate(lines: np.ndarray, which: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """``(x, y)`` of the points at ``frac`` (0-1) of the length of ``lines[which]``: the numbers of
    ``shapely.line_interpolate_point(..., normalized=True)``, in numpy.

    GEOS sums a line's segment lengths from its start, finds the segment holding the distance and
    moves along it by the fraction left; so does this (the running sums one vertex position at a
    time over every line at once, the segment by a vectorised binary search). It is exactly
    equal to shapely on the Wuhan core's 344,821 samples and ~6x faster (shapely walks each line
    from its start for every sample).
    """
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    if not len(which):
        return np.zeros((0, 2))
    nv = np.bincount(idx, minlength=len(lines))
    first = np.cumsum(nv) - nv
    d = np.diff(coords, axis=0)
    seg_len = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])  # (segment from vertex v to v + 1)
    pos = np.arange(len(coords)) - first[idx]
    order = np.argsort(pos, kind="stable")
    bypos = np.searchsorted(pos[order], np.arange(int(nv.max()) + 1))
    cum = np.zeros(len(coords))  # length of the line up to each vertex, summed from the line's start
    for j in range(1, int(nv.max())):
        v = order[bypos[j]:bypos[j + 1]]  # the j-th vertex of every line that long
        cum[v] = cum[v - 1] + seg_len[v - 1]
    dist = frac * cum[first + nv - 1][which]
    a, b = first[which], first[which] + nv[which] - 1  # the segment starts at a: cum[a] <= dist, a < b
    while True:
        open_ = b - a > 1
        if not open_.any():
            break
        mid = (a + b) // 2
        up = open_ & (cum[mid] <= dist)
        a = np.where(up, mid, a)
        b = np.where(open_ & ~up, mid, b)
    seg = seg_len[a]
    f = (dist - cum[a]) / np.where(seg > 0, seg, 1.0)
    f = np.where(seg > 0, f, 0.0)[:, None]
    p0, p1 = coords[a], coords[a + 1]
    return np.where(f <= 0, p0, np.where(f >= 1, p1, (p1 - p0) * f + p0))


def _samples(net, spacing_m: float) -> _Samples:
    per_net = _SAMPLES.setdefault(net, {})
    if spacing_m not in per_net:
        per_net[spacing_m] = _Samples(net, spacing_m)
    return per_net[spacing_m]


def _ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start[i], start[i] + count[i])`` without a Python loop."""
    return np.repeat(start, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))


def sample_times(net, node_time: np.ndarray, sources, samples: _Samples,
                 edges: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(xy, time)`` of the edge samples (of ``edges`` only, if given) from per-node times,
    plus direct walks along the sources' own edges."""
    sel = None if edges is None else _ranges(samples.start[edges], samples.n_per[edges])
    e = samples.edge if sel is None else samples.edge[sel]
    f = samples.frac if sel is None else samples.frac[sel]
    fu, bu = net.times_from_u(e, f)  # u -> sample, sample -> u (equal on flat ground)
    t = node_time[net.u[e]] + bu
    back = node_time[net.v[e]] + (net.edge_time_s[e] - fu)
    np.minimum(t, np.where(net.oneway[e], np.inf, back), out=t)
    ok = np.flatnonzero(sources.snapped)
    if len(ok):
        se = sources.edge[ok]
        cnt = samples.n_per[se]
        idx = _ranges(samples.start[se], cnt)  # positions in all samples
        src = np.repeat(ok, cnt)
        ee = samples.edge[idx]
        L = net.length_m[ee]
        step = samples.frac[idx] * L - sources.along_m[src]
        direct = sources.offroad_s[src] + net.walk_along_s(ee, samples.frac[idx] * L, sources.along_m[src])
        direct[sources.oneway[src] & (step < 0)] = np.inf
        if sel is not None:  # positions in the selection (the sources' edges are in ``edges``)
            idx = np.searchsorted(sel, idx)
        np.minimum.at(t, idx, direct)
    return (samples.xy if sel is None else samples.xy[sel]), t


def _disc(radius_cells: float) -> np.ndarray:
    r = int(np.floor(radius_cells))
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= radius_cells * radius_cells


def _shapes_to_polygons(geojson_polygons: list) -> np.ndarray:
    """GeoJSON-like polygons (``rasterio.features.shapes``) as shapely polygons, built in one
    vectorised call (the same coordinates as ``shapely.geometry.shape``, a few times faster)."""
    rings = [ring for g in geojson_polygons for ring in g["coordinates"]]
    if not rings:
        return np.array([], dtype=object)
    owner = np.repeat(np.arange(len(geojson_polygons)), [len(g["coordinates"]) for g in geojson_polygons])
    lens = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    xy = np.array([c for r in rings for c in r], dtype=float)
    lr = shapely.linearrings(xy, indices=np.repeat(np.arange(len(rings)), lens))
    return shapely.polygons(lr, indices=owner)


def _simplify(polys: np.ndarray, tolerance: float):
    """The traced (disjoint) polygons simplified by ``tolerance`` as one valid (multi)polygon.

    Plain Douglas-Peucker first (every vertex dropped lies within ``tolerance`` of the outline
    kept; ~8x faster than the topology-preserving algorithm on staircase outlines). When it
    collapses or splits a polygon, or the parts come out invalid or overlapping (one validity
    check of the whole, as before), the topology-preserving algorithm is used for every part,
    as before (a small region stays), and two of those parts overlapping at a shared corner are
    merged by a union.
    """
    fast = shapely.simplify(polys, tolerance, preserve_topology=False)
    if len(fast) and (shapely.get_type_id(fast) == 3).all() and not shapely.is_empty(fast).any():
        geom = shapely.MultiPolygon(list(fast)) if len(fast) > 1 else fast[0]
        if geom.is_valid:
            return geom
    polys = shapely.simplify(polys, tolerance, preserve_topology=True)
    geom = shapely.MultiPolygon(list(polys)) if len(polys) > 1 else polys[0]
    if not geom.is_valid:  # two simplified neighbours overlap at a shared corner
        geom = shapely.union_all(polys)
    return geom


def _polygons(xy: np.ndarray, t: np.ndarray, thresholds_s, *, cell_m: float, buffer_m: float,
              max_cells: int = ISO_MAX_CELLS) -> list:
    """One (multi)polygon per threshold from sample times (see the module docstring)."""
    from rasterio.features import shapes
    from rasterio.transform import from_origin
    from scipy.ndimage import minimum_filter

    tmax = max(thresholds_s)
    keep = t <= tmax
    if not keep.any():
        return [shapely.Polygon() for _ in thresholds_s]
    xy, t = xy[keep], t[keep]
    x0, y0 = xy.min(axis=0) - buffer_m - 2 * cell_m
    x1, y1 = xy.max(axis=0) + buffer_m + 2 * cell_m
    cell = float(cell_m)
    while ((x1 - x0) / cell) * ((y1 - y0) / cell) > max_cells:
        cell *= 1.5
    w, h = int(np.ceil((x1 - x0) / cell)), int(np.ceil((y1 - y0) / cell))
    col = ((xy[:, 0] - x0) / cell).astype(np.int64)
    row = ((y1 - xy[:, 1]) / cell).astype(np.int64)
    grid = np.full(h * w, np.inf, dtype=np.float32)
    np.minimum.at(grid, row * w + col, t.astype(np.float32))  # the smallest time per cell
    grid = grid.reshape(h, w)
    # a line's band is 2k+1 cells wide: (2k+1) x cell = 2 x buffer_m when k = buffer_m/cell - 1/2
    k = max(1, int(round(buffer_m / cell - 0.5)))
    grid = minimum_filter(grid, footprint=_disc(k + 0.5), mode="constant", cval=np.inf)
    transform = from_origin(x0, y1, cell, cell)
    out = []
    for th in thresholds_s:
        mask = grid <= th
        if not mask.any():
            out.append(shapely.Polygon())
            continue
        polys = _shapes_to_polygons([g for g, _ in shapes(mask.view(np.uint8), mask=mask, connectivity=4,
                                                          transform=transform)])
        # traced regions are disjoint (4-connected): simplify each, keep them apart without a union
        out.append(_simplify(np.array(polys, dtype=object), cell))
    return out


def isochrone_polygons(net, sources, thresholds_s, *, buffer_m: float = 60.0, cell_m: float | None = None,
                       label: dict | None = None) -> gpd.GeoDataFrame:
    """One (multi)polygon per threshold: what the sources reach together within each time.

    One multi-source search; cost grows with the reached road length, not with the
    number of sources. ``cell_m`` (default ``buffer_m / 3.5``) is the sampling and raster
    step: the outline is within about one cell of the exact buffered pieces.
    """
    cell_m = float(cell_m or buffer_m / 3.5)
    thresholds_s = sorted(thresholds_s, reverse=True)
    node_time = net.node_times(sources, cutoff_s=max(thresholds_s))[0]
    s = _samples(net, cell_m)
    xy, t = sample_times(net, node_time, sources, s)
    geoms = _polygons(xy, t, thresholds_s, cell_m=cell_m, buffer_m=buffer_m)
    rows = [{**(label or {}), "minutes": th / 60.0, "geometry": g} for th, g in zip(thresholds_s, geoms)]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs)


def isochrones_per_source(net, sources, threshold_s: float, *, buffer_m: float = 60.0, cell_m: float | None = None,
                          labels: list[dict] | None = None, which=None, batch: int = 32) -> gpd.GeoDataFrame:
    """One polygon per source (e.g. per facility): what it alone reaches within ``threshold_s``.

    ``which`` limits it to some sources (positions); searches run ``batch`` sources at a
    time with the cutoff, so memory stays ``batch x nodes`` whatever the number of sources.
    """

    cell_m = float(cell_m or buffer_m / 3.5)
    pos = np.arange(len(sources)) if which is None else np.asarray(which, dtype=np.int64)
    pos = pos[sources.snapped[pos]]
    s = _samples(net, cell_m)
    rows = []
    for b in range(0, len(pos), batch):
        chunk = pos[b:b + batch]
        times = net.node_times(subset(sources, chunk), cutoff_s=threshold_s, separate=True)
        for row, k in zip(times, chunk):
            one = subset(sources, np.array([k]))
            reached = np.isfinite(row[net.u]) | np.isfinite(row[net.v])
            reached[sources.edge[k]] = True
            xy, t = sample_times(net, row, one, s, edges=np.flatnonzero(reached))
            geom = _polygons(xy, t, [threshold_s], cell_m=cell_m, buffer_m=buffer_m)[0]
            rows.append({**((labels or [{}] * len(sources))[k]), "minutes": threshold_s / 60.0, "geometry": geom})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs) if rows else gpd.GeoDataFrame(geometry=[], crs=net.crs)


def facility_isochrones(res, facility_ids=None, *, minutes: float | None = None,
                        buffer_m: float = 60.0) -> gpd.GeoDataFrame:
    """Per-facility isochrones on demand, from an analysed study (:func:`circles.pipeline.analyse`).

    ``facility_ids``: the ``facility_id`` values to draw (default: all); ``minutes``: the
    threshold (default: the study's longest). Returns a GeoDataFrame in the study's CRS
    with ``facility_id``, ``name``, ``kind``, ``minutes`` and the polygon.

    Example
    -------
    >>> res = analyse(load_study("data/demo/study.toml"))            # doctest: +SKIP
    >>> facility_isochrones(res, ["NU001", "NU002"], minutes=10)      # doctest: +SKIP
    """
    fac = res.facilities
    net = res.net
    tmin = minutes if minutes is not None else max(res.study.travel.thresholds_min)
    if facility_ids is None:
        which = np.arange(len(fac))
    else:
        wanted = set(facility_ids)
        which = np.flatnonzero(fac["facility_id"].isin(wanted).to_numpy())
        missing = wanted - set(fac["facility_id"].iloc[which])
        if missing:
            raise KeyError(f"facility_isochrones: no facility with id {sorted(missing)[:5]}")
    snap = res.travel.facility_snap  # the run's one facility snap
    labels = fac[["facility_id", "name", "kind"]].to_dict("records")
    return isochrones_per_source(net, snap, tmin * 60.0, buffer_m=buffer_m, labels=labels, which=which)
