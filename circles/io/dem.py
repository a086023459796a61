"""Walking times with slope: elevation sampled along every edge from a DEM (``[network] dem``).

The rule (:data:`RULE` is its one-line statement, for the report's methods text):

- **Sampling.** Each edge is cut into ``n = ceil(length_m / step_m)`` pieces of equal length,
  ``step_m = min(MAX_STEP_M, DEM resolution in metres)``; elevation is read at the ``n + 1``
  piece ends (distances ``i x length / n`` along the edge's geometry) by **bilinear**
  interpolation between the four nearest pixel centres. A geographic DEM (degrees) is
  sampled at the points transformed to its CRS; its resolution in metres is taken at the
  middle latitude of the roads.
- **Speed of a piece** (grade ``g = rise / run``, ``run = length_m / n``): Tobler's hiking
  function scaled so that flat ground gives the study's ``walk_speed_mps``,
  ``v(g) = walk_speed_mps x exp(-3.5 |g + 0.05|) / exp(-0.175)`` (:func:`tobler_speed_mps`).
  The fastest walking is slightly downhill (``g = -0.05``: ``1.19 x walk_speed_mps``).
- **Steps** (``highway = steps``): Tobler's function is for paths, not stairs. A piece of
  steps takes its run at ``walk_speed_mps`` plus its rise (up or down) at
  :data:`STEPS_VERTICAL_MPS` (0.2 m/s: four 15 cm steps in three seconds, an elderly
  walker's pace; stairs are slow both ways for them). This is our assumption, stated, not a
  published rule; a flight of steps off the DEM keeps the flat time (we know no rise).
- **Direction.** Each edge has a forward time (``u`` to ``v``) and a backward time; with a DEM
  the walk graph is directed.
- **No elevation.** An edge with any sample outside the DEM, within half a pixel of its
  border or touching a nodata pixel keeps the flat time ``length_m / walk_speed_mps`` both
  ways (its pieces all flat). They are counted (``n_outside``) and their share of road length is
  returned (``1 - covered_share``): the caller warns.
- Off-road legs (home to road) are not in the DEM's reach here: they stay at the flat
  ``walk_speed_mps`` (:mod:`circles.travel`).

Bad input stops with one line: a DEM without a CRS (:class:`~circles.errors.CrsError`),
a DEM that does not overlap the roads, or one whose pixels under the roads are all nodata
(:class:`~circles.errors.InputFileError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.windows
import shapely
from pyproj import Transformer

from circles.errors import CrsError, InputFileError

#: Elevation is sampled at most this far apart along an edge (metres), finer if the DEM is finer.
MAX_STEP_M = 10.0
#: Tobler's constants: speed falls by ``exp(-3.5 |g + 0.05|)``; flat ground ``exp(-0.175)``.
TOBLER_K = 3.5
TOBLER_G0 = 0.05
#: Vertical speed on steps (m/s), up or down, added to the run walked at flat speed.
STEPS_VERTICAL_MPS = 0.2
#: The fastest walking speed as a multiple of the flat one (Tobler at ``g = -0.05``).
MAX_SPEED_FACTOR = float(np.exp(TOBLER_K * TOBLER_G0))
RULE = (f"Tobler's hiking function scaled to the flat walking speed, v = v_flat x exp(-{TOBLER_K} |g + {TOBLER_G0}|)"
        f" / exp(-{TOBLER_K * TOBLER_G0:.3f}), per piece of at most {MAX_STEP_M:g} m (bilinear elevation); "
        f"steps: run at v_flat plus rise at {STEPS_VERTICAL_MPS} m/s; off-road legs and edges without "
        f"elevation at v_flat")
_DEG_M = 111_320.0  # metres per degree of latitude (and of longitude at the equator)


@dataclass(frozen=True)
class SlopeTimes:
    """Sloped walking times of every edge, in both directions, and of their pieces.

    ``forward_s[i]`` is the time from ``u`` to ``v`` of edge ``i``, ``backward_s[i]`` from
    ``v`` to ``u``. The pieces of edge ``i`` (equal lengths, in order from ``u``) are
    ``piece_forward_s[piece_ptr[i]:piece_ptr[i + 1]]`` (and ``piece_backward_s``): partial
    edges at snapped points use them.
    """

    forward_s: np.ndarray
    backward_s: np.ndarray
    piece_ptr: np.ndarray
    piece_forward_s: np.ndarray
    piece_backward_s: np.ndarray
    covered_share: float  # share of road length with elevation (sloped times)
    n_outside: int  # edges keeping the flat time (outside the DEM or on nodata)
    rule: str = RULE
    step_m: float = MAX_STEP_M


def tobler_speed_mps(grade: np.ndarray, walk_speed_mps: float) -> np.ndarray:
    """Walking speed (m/s) on a grade ``rise / run``, flat ground giving ``walk_speed_mps``.

    >>> float(tobler_speed_mps(0.0, 1.0))
    1.0
    """
    return walk_speed_mps * np.exp(-TOBLER_K * np.abs(np.asarray(grade, dtype=float) + TOBLER_G0)) / np.exp(
        -TOBLER_K * TOBLER_G0)


def piece_times(run_m: np.ndarray, rise_m: np.ndarray, walk_speed_mps: float,
                steps: np.ndarray | bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward times (s) of pieces of ``run_m`` horizontal metres rising ``rise_m``."""
    run_m, rise_m = np.asarray(run_m, dtype=float), np.asarray(rise_m, dtype=float)
    g = rise_m / run_m
    flat_s = run_m / walk_speed_mps
    # run / v(g) = run / walk_speed x exp(3.5 |g + 0.05| - 0.175), written so (fewer passes over the pieces)
    fwd = flat_s * np.exp(TOBLER_K * np.abs(g + TOBLER_G0) - TOBLER_K * TOBLER_G0)
    bwd = flat_s * np.exp(TOBLER_K * np.abs(TOBLER_G0 - g) - TOBLER_K * TOBLER_G0)
    st = np.flatnonzero(np.broadcast_to(np.asarray(steps, dtype=bool), run_m.shape))
    if len(st):
        fwd[st] = bwd[st] = flat_s[st] + np.abs(rise_m[st]) / STEPS_VERTICAL_MPS
    return fwd, bwd


def sample_positions(geoms: np.ndarray, step_m: float, affine=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at ``i x L / n``, ``i = 0..n``, ``n = ceil(L / step_m)``, along every line.

    Returns ``(xy, ptr, n)``: the points of line ``k`` are ``xy[ptr[k]:ptr[k + 1]]``
    (``n[k] + 1`` of them), the points ``shapely.line_interpolate_point`` gives. Computed
    segment by segment in numpy: a segment from vertex distance ``c0`` to ``c1`` holds the
    ``ceil(c1 n / L) - ceil(c0 n / L)`` points with ``c0 <= i L / n < c1`` (counts that add
    up to ``n`` along a line whatever the rounding), and the line's last segment its end point.
    Each point is its segment's first point plus ``j`` steps (``j = 0, 1, ...`` within the
    segment): per-segment numbers are made once, then repeated (no gathers per point).

    With ``affine`` (e.g. a DEM's inverse transform) the points are returned in its output
    coordinates, interpolated between the transformed vertices: exact, since an affine map
    keeps straight segments straight and ratios along them.
    """
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    nv = len(coords)
    first = np.searchsorted(idx, np.arange(len(geoms)))
    last = np.r_[first[1:], nv] - 1
    seg = np.zeros(nv)  # seg[v]: length from vertex v - 1 to v (0 at a line's first vertex)
    seg[1:] = np.hypot(*np.diff(coords, axis=0).T)
    seg[first] = 0.0
    cum = pd.Series(seg).groupby(idx).cumsum().to_numpy()  # distance of each vertex along its line
    length = cum[last]
    n = np.maximum(1, np.ceil(length / step_m)).astype(np.int64)
    ptr = np.r_[0, np.cumsum(n + 1)]
    L_v, n_v = length[idx], n[idx]
    m = np.clip(np.ceil(cum * n_v / np.where(L_v > 0, L_v, 1.0)), 0, n_v).astype(np.int64)  # points before v
    m[first] = 0
    m[last] = n  # exactly n before the end, whatever the rounding of L x n / L
    is_seg = np.ones(nv, dtype=bool)
    is_seg[last] = False  # segment v: vertex v to v + 1 of the same line
    segv = np.flatnonzero(is_seg)
    cnt = m[segv + 1] - m[segv]
    cnt[np.searchsorted(segv, last - 1)] += 1  # the end point, on the line's last segment
    total = int(cnt.sum())
    # per segment: the fraction of its first point (index m on the line) and the fraction of one step
    d = seg[segv + 1]
    d = np.where(d > 0, d, 1.0)
    step_line = (length / n)[idx[segv]]
    frac0 = (m[segv] * step_line - cum[segv]) / d
    dfrac = step_line / d
    if affine is not None:
        coords = np.column_stack(_apply(affine, coords[:, 0], coords[:, 1]))
    p0, dp = coords[segv], coords[segv + 1] - coords[segv]
    j = np.arange(total, dtype=np.float64)
    j -= np.repeat((np.cumsum(cnt) - cnt).astype(np.float64), cnt)  # index of the point in its segment
    frac = np.repeat(dfrac, cnt)
    frac *= j
    frac += np.repeat(frac0, cnt)
    np.clip(frac, 0.0, 1.0, out=frac)
    xy = np.empty((total, 2), order="F")  # each coordinate contiguous (the DEM reads columns)
    for k in (0, 1):
        c = np.repeat(dp[:, k], cnt)
        c *= frac
        c += np.repeat(p0[:, k], cnt)
        xy[:, k] = c
    return xy, ptr, n


def bilinear(band: np.ndarray, nodata: float | None, inv, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elevation at points ``xy`` (in the raster's CRS) by bilinear interpolation of pixel centres.

    ``inv`` is the inverse affine transform of ``band`` (map -> column, row of pixel corners).
    Returns ``(z, ok)``; ``ok`` is False where one of the four pixels is missing, ``nodata`` or NaN.
    Only the four pixels of each point are read (no pass over the whole band).
    """
    col, row = _apply(inv, xy[:, 0], xy[:, 1])
    return bilinear_px(band, nodata, col, row)


def bilinear_px(band: np.ndarray, nodata: float | None, col: np.ndarray, row: np.ndarray,
                col_off: float = 0.0, row_off: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bilinear` at pixel coordinates (``col``, ``row``: pixel corners at integers) of a
    raster whose window ``band`` starts at ``col_off``, ``row_off``. ``col`` and ``row`` are
    overwritten (they hold the fractions within the cell on return).

    The window is copied once into a float array with a frame of NaN and nodata set to NaN, so
    a point needs no bounds or nodata tests of its own: a point off the window is clamped onto
    the frame, and any missing pixel among the four makes its elevation NaN (``ok`` False).
    """
    b = np.full((band.shape[0] + 2, band.shape[1] + 2), np.nan)
    b[1:-1, 1:-1] = band
    if nodata is not None and np.isfinite(nodata):
        b[b == nodata] = np.nan
    h, w = b.shape
    bad = ~(np.isfinite(col) & np.isfinite(row))
    if bad.any():  # a point the transformation could not take: onto the frame
        col[bad] = row[bad] = -1e9
    col -= col_off - 0.5  # pixel centres of the framed window at integers (the frame is pixel 0)
    row -= row_off - 0.5
    ci = np.floor(col)
    col -= ci  # the fraction across the cell
    ci = ci.astype(np.int64)
    np.clip(ci, 0, w - 2, out=ci)
    ri = np.floor(row)
    row -= ri
    ri = ri.astype(np.int64)
    np.clip(ri, 0, h - 2, out=ri)
    i = ri
    i *= w
    i += ci
    flat = b.ravel()
    z00 = flat[i]
    i += 1
    z01 = flat[i]
    i += w
    z11 = flat[i]
    i -= 1
    z10 = flat[i]
    z01 -= z00  # top: z00 + fc (z01 - z00); bottom: z10 + fc (z11 - z10)
    z01 *= col
    z00 += z01
    z11 -= z10
    z11 *= col
    z10 += z11
    z10 -= z00
    z10 *= row
    z00 += z10
    return z00, np.isfinite(z00)


def _apply(aff, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An affine transform applied to coordinate arrays."""
    return aff.a * x + aff.b * y + aff.c, aff.d * x + aff.e * y + aff.f


def _resolution_m(src, lat: float) -> float:
    dx, dy = abs(src.transform.a), abs(src.transform.e)
    if src.crs.is_geographic:
        return min(dx * _DEG_M * max(np.cos(np.radians(lat)), 1e-6), dy * _DEG_M)
    factor = src.crs.linear_units_factor[1] if src.crs.linear_units_factor else 1.0
    return min(dx, dy) * factor


def edge_slope_times(edges: gpd.GeoDataFrame, dem_path: str | Path, walk_speed_mps: float, *,
                     road_class_column: str = "highway") -> SlopeTimes:
    """Forward and backward walking times of every edge on the DEM at ``dem_path`` (module rule).

    Parameters
    ----------
    edges
        From :func:`circles.io.network.load_network` (metric CRS, ``length_m``; ``u`` to ``v``
        is the geometry's direction). ``highway == "steps"`` takes the steps rule.
    dem_path
        A GeoTIFF of elevation in metres with a CRS (projected or geographic).
    walk_speed_mps
        The flat walking speed.

    Returns
    -------
    SlopeTimes
        On the order of ``edges``.
    """
    dem_path = Path(dem_path)
    if walk_speed_mps <= 0:
        raise ValueError(f"walk_speed_mps must be positive, got {walk_speed_mps}")
    if edges.crs is None:
        raise CrsError("the road edges have no CRS; load them with circles.io.network.load_network")
    geoms = np.asarray(edges.geometry.values, dtype=object)
    length = edges["length_m"].to_numpy(dtype=float)
    try:
        src = rasterio.open(dem_path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(f"{dem_path}: cannot read the DEM ({exc}); give a GeoTIFF of elevation in metres "
                             "([network] dem)") from None
    with src:
        if src.crs is None:
            raise CrsError(f"{dem_path}: the DEM has no CRS; assign its CRS (e.g. gdal_edit.py -a_srs EPSG:4326 "
                           f"{dem_path.name}) and run again")
        lat = float(Transformer.from_crs(edges.crs, 4326, always_xy=True).transform(
            *np.asarray(edges.total_bounds).reshape(2, 2).mean(axis=0))[1]) if len(edges) else 0.0
        step = min(MAX_STEP_M, _resolution_m(src, lat))
        inv_full, same, dem_crs = ~src.transform, src.crs == edges.crs, src.crs

        def pixels():  # the samples in the DEM's pixel coordinates (pixel corners at integers)
            if same:  # a DEM in the study's CRS: sample straight in its pixel coordinates (exact)
                return sample_positions(geoms, step, affine=inv_full)
            xy, ptr, n = sample_positions(geoms, step)
            if not len(xy):
                return xy, ptr, n
            x, y = Transformer.from_crs(edges.crs, dem_crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
            pxy = np.empty((len(xy), 2), order="F")
            pxy[:, 0], pxy[:, 1] = _apply(inv_full, np.asarray(x), np.asarray(y))
            return pxy, ptr, n

        pxy, ptr, n = pixels()
        b = src.bounds
        no_overlap = InputFileError(f"{dem_path}: the DEM does not overlap the study's roads (DEM bounds {tuple(b)} "
                                    f"in {src.crs.to_string()}); give a DEM covering the study area")
        # read only the window under the roads (two pixels of margin for the bilinear neighbours), in pixels
        width, height = src.width, src.height
        col, row = pxy[:, 0], pxy[:, 1]
        fin = np.isfinite(col) & np.isfinite(row)  # a point the transformation could not take is not on the DEM
        cf, rf = (col, row) if fin.all() else (col[fin], row[fin])
        if not len(cf):
            raise no_overlap
        lo = np.maximum([cf.min(), rf.min()], [0.0, 0.0])
        hi = np.minimum([cf.max(), rf.max()], [float(width), float(height)])
        if (lo > hi).any():
            raise no_overlap
        c0, r0 = int(np.floor(lo[0])) - 2, int(np.floor(lo[1])) - 2
        c1, r1 = int(np.ceil(hi[0])) + 2, int(np.ceil(hi[1])) + 2
        win = rasterio.windows.Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)
        win = win.intersection(rasterio.windows.Window(0, 0, width, height))
        band = src.read(1, window=win)  # its own dtype: samples are promoted to float64
        nodata = src.nodata
    z, ok = bilinear_px(band, nodata, col, row, win.col_off, win.row_off)
    if not ok.any():
        pxy = pixels()[0]  # again: bilinear_px overwrote them (an error path only)
        inside = (pxy[:, 0] >= 0) & (pxy[:, 0] <= width) & (pxy[:, 1] >= 0) & (pxy[:, 1] <= height)
        if not inside.any():  # the boxes overlap, the roads and the DEM do not
            raise no_overlap
        raise InputFileError(f"{dem_path}: every DEM pixel under the study's roads is nodata; give a DEM with "
                             "elevations there")
    covered = np.logical_and.reduceat(ok, ptr[:-1]) if len(ok) else np.zeros(0, dtype=bool)
    # pieces: the n of each edge, between consecutive samples (an edge without elevation: n flat pieces)
    pptr = ptr - np.arange(len(ptr))
    is_piece = np.ones(max(len(z) - 1, 0), dtype=bool)
    is_piece[ptr[1:-1] - 1] = False  # not from one edge's last sample to the next edge's first
    rise = np.diff(z)[is_piece]
    on = np.repeat(covered, n)
    rise[~on] = 0.0
    run = np.repeat(length / n, n)
    steps = (edges[road_class_column].to_numpy() == "steps") if road_class_column in edges else np.zeros(len(n), bool)
    pf, pb = piece_times(run, rise, walk_speed_mps, np.repeat(np.asarray(steps, dtype=bool), n))
    flat = run[~on] / walk_speed_mps  # no elevation: the flat time both ways (also on steps: we know no rise)
    pf[~on] = flat
    pb[~on] = flat
    fwd = np.add.reduceat(pf, pptr[:-1]) if len(pf) else np.zeros(0)
    bwd = np.add.reduceat(pb, pptr[:-1]) if len(pb) else np.zeros(0)
    total = float(length.sum())
    share = float(length[covered].sum() / total) if total > 0 else 0.0
    return SlopeTimes(forward_s=fwd, backward_s=bwd, piece_ptr=pptr, piece_forward_s=pf, piece_backward_s=pb,
                      covered_share=share, n_outside=int((~covered).sum()), step_m=float(step))
