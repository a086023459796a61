"""Walking times with slope: elevation sampled along every edge from a DEM (``[network] dem``).

The rule (stated in the report's methods text):

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
  :data:`STEPS_VERTICAL_MPS` (0.2 m/s, about one 15 cm step a second: an elderly walker's
  pace, stairs being slow both ways for them). This is our assumption, stated, not a
  published rule.
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
    fwd = run_m / tobler_speed_mps(g, walk_speed_mps)
    bwd = run_m / tobler_speed_mps(-g, walk_speed_mps)
    stair = run_m / walk_speed_mps + np.abs(rise_m) / STEPS_VERTICAL_MPS
    steps = np.broadcast_to(np.asarray(steps, dtype=bool), run_m.shape)
    return np.where(steps, stair, fwd), np.where(steps, stair, bwd)


def sample_positions(geoms: np.ndarray, step_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at ``i x L / n``, ``i = 0..n``, ``n = ceil(L / step_m)``, along every line.

    Returns ``(xy, ptr, n)``: the points of line ``k`` are ``xy[ptr[k]:ptr[k + 1]]``
    (``n[k] + 1`` of them). Computed in numpy from the lines' vertices (one search over
    the cumulative vertex distances), the same points ``shapely.line_interpolate_point`` gives.
    """
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    seg = np.hypot(*np.diff(coords, axis=0).T)
    seg[idx[1:] != idx[:-1]] = 0.0  # no length between one line's end and the next one's start
    cum = np.r_[0.0, np.cumsum(seg)]
    first = np.searchsorted(idx, np.arange(len(geoms)))
    last = np.r_[first[1:], len(idx)] - 1
    length = cum[last] - cum[first]
    n = np.maximum(1, np.ceil(length / step_m)).astype(np.int64)
    ptr = np.r_[0, np.cumsum(n + 1)]
    line = np.repeat(np.arange(len(geoms)), n + 1)
    i = np.arange(ptr[-1]) - ptr[line]
    q = cum[first][line] + length[line] * (i / n[line])
    j = np.clip(np.searchsorted(cum, q, side="right") - 1, first[line], np.maximum(last[line] - 1, first[line]))
    d = cum[np.minimum(j + 1, len(cum) - 1)] - cum[j]
    t = np.where(d > 0, (q - cum[j]) / np.where(d > 0, d, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    nxt = coords[np.minimum(j + 1, len(coords) - 1)]
    xy = coords[j] + (nxt - coords[j]) * t[:, None]
    return xy, ptr, n


def bilinear(band: np.ndarray, nodata: float | None, inv, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elevation at points ``xy`` (in the raster's CRS) by bilinear interpolation of pixel centres.

    ``inv`` is the inverse affine transform of ``band`` (map -> column, row of pixel corners).
    Returns ``(z, ok)``; ``ok`` is False where one of the four pixels is missing, ``nodata`` or NaN.
    Only the four pixels of each point are read (no pass over the whole band).
    """
    h, w = band.shape
    col, row = _apply(inv, xy[:, 0], xy[:, 1])
    col -= 0.5  # pixel centres at integers
    row -= 0.5
    c0, r0 = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
    ok = (c0 >= 0) & (r0 >= 0) & (c0 + 1 < w) & (r0 + 1 < h)
    i = np.where(ok, r0 * w + c0, 0)
    fc, fr = col - c0, row - r0
    flat = band.ravel()
    top = np.minimum(i + 1, flat.size - 1)
    z00, z01 = flat[i], flat[top]
    z10, z11 = flat[np.minimum(i + w, flat.size - 1)], flat[np.minimum(i + w + 1, flat.size - 1)]
    if nodata is not None and np.isfinite(nodata):
        ok &= (z00 != nodata) & (z01 != nodata) & (z10 != nodata) & (z11 != nodata)
    z = (z00 * (1 - fc) + z01 * fc) * (1 - fr) + (z10 * (1 - fc) + z11 * fc) * fr
    ok &= np.isfinite(z)  # a NaN pixel (NaN nodata) among the four
    return np.where(ok, z, np.nan), ok


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
        xy, ptr, n = sample_positions(geoms, step)
        if src.crs == edges.crs or not len(xy):  # a DEM in the study's CRS: no transformation
            dxy = xy
        else:
            x, y = Transformer.from_crs(edges.crs, src.crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
            dxy = np.column_stack([x, y])
        # read only the window under the roads (two pixels of margin for the bilinear neighbours)
        b = src.bounds
        inside = (dxy[:, 0] >= min(b.left, b.right)) & (dxy[:, 0] <= max(b.left, b.right)) & \
                 (dxy[:, 1] >= min(b.bottom, b.top)) & (dxy[:, 1] <= max(b.bottom, b.top))
        if not inside.any():
            raise InputFileError(f"{dem_path}: the DEM does not overlap the study's roads (DEM bounds {tuple(b)} in "
                                 f"{src.crs.to_string()}); give a DEM covering the study area")
        lo, hi = dxy[inside].min(axis=0), dxy[inside].max(axis=0)
        cols, rows = _apply(~src.transform, np.array([lo[0], hi[0], lo[0], hi[0]]), np.array([lo[1], lo[1], hi[1], hi[1]]))
        c0, r0 = int(np.floor(np.min(cols))) - 2, int(np.floor(np.min(rows))) - 2
        c1, r1 = int(np.ceil(np.max(cols))) + 2, int(np.ceil(np.max(rows))) + 2
        win = rasterio.windows.Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)
        win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
        band = src.read(1, window=win)  # its own dtype: samples are promoted to float64
        nodata = src.nodata
        inv = ~src.window_transform(win)
    z, ok = bilinear(band, nodata, inv, dxy)
    if not ok.any():
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
