"""Walking times with slope: elevation sampled along every edge from a DEM (``[network] dem``).

The rule (:data:`RULE` is its one-line statement, for the report's methods text):

- **Sampling.** Each edge is cut into ``n = ceil(length_m / step_m)`` pieces of equal length,
  ``step_m = min(MAX_STEP_M, DEM resolution in metres)``; elevation is read at the ``n + 1``
  piece ends (distances ``i x length / n`` along the edge's geometry) by **bilinear**
  interpolation between the four nearest pixel centres. A DEM in another CRS than the
  study's (SRTM in degrees) is sampled at the points transformed to its CRS, each within
  :data:`POSITION_TOL_M` (1 mm) of its exact place (``SlopeTimes.position_bound_m``; how:
  :func:`_vertex_pixels`), so an elevation moves by at most 1 mm x the DEM's steepest
  grade; its resolution in metres is taken at the middle latitude of the roads.
- **Speed of a piece** (grade ``g = rise / run``, ``run = length_m / n``): Tobler's hiking
  function scaled so that flat ground gives the study's ``walk_speed_mps``,
  ``v(g) = walk_speed_mps x exp(-3.5 |g + 0.05|) / exp(-0.175)`` (:func:`piece_times`, in place;
  no code needs the speed itself, so there is no speed function: tests write the formula out).
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

Speed (the Wuhan core study's 25,000 road edges: 580,000 samples; ``scripts/bench_city.py
--dem``): the samples are worked a block of whole edges at a time (:data:`BLOCK_SAMPLES`), each
step one numpy pass over the block (one complex :func:`numpy.interp` for both coordinates,
four gathers for the bilinear reads, in-place Tobler times, the running sums the network's
partial edges read), so the temporaries stay in the CPU's cache and no step asks the system for
a fresh 5-10 MB array; the DEM window is read once (GDAL's direct read for an uncompressed
GeoTIFF); a DEM in another CRS transforms only the vertices (through a fitted polynomial), not
the samples. (Mapping an uncompressed DEM with ``numpy.memmap`` instead of reading it saved no
measurable time, and where GDAL had stored the pixels at an offset not a multiple of their size,
numpy's gathers from the unaligned map copied the whole band each time: 0.6 s instead of 0.1 s.)
The sloped edge times take about 0.035 s of CPU there (0.045 s before the blocks).

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
from circles.rules import TOBLER_G0, TOBLER_K

#: Elevation is sampled at most this far apart along an edge (metres), finer if the DEM is finer.
MAX_STEP_M = 10.0
#: Vertical speed on steps (m/s), up or down, added to the run walked at flat speed.
STEPS_VERTICAL_MPS = 0.2
#: Samples worked on at a time (whole edges, so a block may hold up to one edge's samples more: :func:`_blocks`):
#: 65,536 was the fastest of 8,192-131,072 on the Wuhan core.
BLOCK_SAMPLES = 1 << 16
RULE = (f"Tobler's hiking function scaled to the flat walking speed, v = v_flat x exp(-{TOBLER_K} |g + {TOBLER_G0}|)"
        f" / exp(-{TOBLER_K * TOBLER_G0:.3f}), per piece of at most {MAX_STEP_M:g} m (bilinear elevation); "
        f"steps: run at v_flat plus rise at {STEPS_VERTICAL_MPS} m/s; off-road legs and edges without "
        f"elevation at v_flat")
_DEG_M = 111_320.0  # metres per degree of latitude (and of longitude at the equator)
#: A DEM in another CRS than the study's: each sample lies within this distance (metres on the
#: ground) of its exact place (the fitted transformation and the straight interpolation between
#: mapped vertices share it; see :func:`_vertex_pixels`).
POSITION_TOL_M = 1e-3
FIT_TOL_M = 0.1 * POSITION_TOL_M  # the polynomial's share, checked on a grid
MAX_FIT_DEGREE = 7
CURVATURE_MARGIN = 1.25  # the second derivatives' largest value on the check grid, times this


@dataclass(frozen=True)
class SlopeTimes:
    """Sloped walking times of every edge, in both directions, and of their pieces.

    ``forward_s[i]`` is the time from ``u`` to ``v`` of edge ``i``, ``backward_s[i]`` from
    ``v`` to ``u``. The pieces are laid out as the samples: piece ``j`` of edge ``i`` (equal
    lengths, in order from ``u``; ``j < n_i = piece_ptr[i + 1] - piece_ptr[i] - 1``), from
    sample ``j`` to ``j + 1``, is in slot ``piece_ptr[i] + j``; the slot after an edge's last
    piece (its last sample: no piece) holds 0. They are held summed: ``piece_cum_s[s]`` is the
    sum of every slot before ``s`` (real part forward, imaginary part backward: a partial edge's
    look-up reads one place), so the whole pieces of edge ``i`` before piece ``j`` take
    ``piece_cum_s[piece_ptr[i] + j] - piece_cum_s[piece_ptr[i]]``. Partial edges at snapped points
    use them (:meth:`circles.travel.TravelNetwork.times_from_u`); ``piece_forward_s`` and
    ``piece_backward_s`` give the pieces themselves (to the rounding of the sums; each is made
    from the sums on every access, a pass over every slot: for checks, not loops). Before
    2026-12-05 ``piece_ptr`` pointed at pieces, ``n`` a line; it now points at samples, ``n + 1``.
    """

    forward_s: np.ndarray
    backward_s: np.ndarray
    piece_ptr: np.ndarray
    piece_cum_s: np.ndarray  # complex128, one more than the slots
    covered_share: float  # share of road length with elevation (sloped times)
    n_outside: int  # edges keeping the flat time (outside the DEM or on nodata)
    rule: str = RULE
    step_m: float = MAX_STEP_M
    position_bound_m: float = 0.0  # samples within this of their exact place (0: exact; see edge_slope_times)

    @property
    def n_pieces(self) -> int:
        """The pieces of every edge: one fewer than its samples."""
        return int(self.piece_ptr[-1]) - len(self.forward_s)

    @property
    def piece_forward_s(self) -> np.ndarray:
        return np.diff(self.piece_cum_s.real)

    @property
    def piece_backward_s(self) -> np.ndarray:
        return np.diff(self.piece_cum_s.imag)


def piece_times(run_m: np.ndarray, rise_m: np.ndarray, walk_speed_mps: float,
                steps: np.ndarray | bool = False, *, reuse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward times (s) of pieces of ``run_m`` horizontal metres rising ``rise_m``.

    ``reuse``: float64 arrays ``run_m`` and ``rise_m`` are overwritten (their memory holds the
    results: fewer fresh arrays).
    """
    run_m, rise_m = np.asarray(run_m, dtype=float), np.asarray(rise_m, dtype=float)
    own = reuse and run_m.ndim == 1 and rise_m.ndim == 1
    st = np.flatnonzero(np.broadcast_to(np.asarray(steps, dtype=bool), run_m.shape)) if np.any(steps) else None
    steps_s = None if st is None else run_m[st] / walk_speed_mps + np.abs(rise_m[st]) / STEPS_VERTICAL_MPS
    g = np.divide(rise_m, run_m, out=rise_m if own else None)
    flat_s = np.divide(run_m, walk_speed_mps, out=run_m if own else None)
    # run / v(g) = run / walk_speed x exp(3.5 |g + 0.05| - 0.175), in place (fewer passes over the pieces)
    fwd = np.add(g, TOBLER_G0)
    bwd = np.subtract(TOBLER_G0, g, out=g)
    for t in (fwd, bwd):
        np.abs(t, out=t)
        t *= TOBLER_K
        t -= TOBLER_K * TOBLER_G0
        np.exp(t, out=t)
        t *= flat_s
    if st is not None:
        fwd[st] = bwd[st] = steps_s
    return fwd, bwd


def _line_layout(geoms: np.ndarray, step_m: float, vertices=None):
    """Vertices of every line and its sampling: ``(coords, idx, seg, cum, length, n, ptr)``.

    ``seg[v]`` is the length from vertex ``v - 1`` to ``v`` (0 at a line's first vertex),
    ``cum[v]`` the distance of vertex ``v`` along its line (summed line by line, so ``length``
    and ``n = ceil(length / step_m)`` do not depend on the other lines), and the samples of
    line ``k`` are ``ptr[k]:ptr[k + 1]`` (``n[k] + 1`` of them). ``vertices``: the lines'
    ``shapely.get_coordinates(geoms, return_index=True)`` if the caller has them.
    """
    coords, idx = shapely.get_coordinates(geoms, return_index=True) if vertices is None else vertices
    nv = len(coords)
    first = _first_vertex(idx, len(geoms))
    seg = np.zeros(nv)
    seg[1:] = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    seg[first[first < nv]] = 0.0
    cum = pd.Series(seg).groupby(idx).cumsum().to_numpy()  # distance of each vertex along its line
    length = cum[np.r_[first[1:], nv] - 1]
    n = np.maximum(1, np.ceil(length / step_m)).astype(np.int64)
    ptr = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(n + 1, out=ptr[1:])
    return coords, idx, seg, cum, length, n, ptr


def _first_vertex(idx: np.ndarray, n_lines: int) -> np.ndarray:
    """Position of each line's first vertex in ``idx`` (the vertices' line numbers, in line order;
    a line without vertices: where its vertices would start)."""
    count = np.bincount(idx, minlength=n_lines)
    return np.cumsum(count) - count


def _interpolate(idx: np.ndarray, along: np.ndarray, x: np.ndarray, y: np.ndarray, length: np.ndarray,
                 n: np.ndarray, ptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` (two coordinates given at vertices ``along`` metres along line ``idx``)
    interpolated linearly at the samples ``i x length / n``, ``i = 0..n``, of every line.

    Each vertex is placed on one axis counted in samples: vertex ``v`` of line ``k`` at
    ``ptr[k] + along[v] x n[k] / length[k]`` (a line's first vertex exactly at ``ptr[k]``, its
    last exactly at ``ptr[k] + n[k]``), so sample ``i`` of line ``k`` is the integer
    ``ptr[k] + i`` and both coordinates are one :func:`numpy.interp` pass over ``0 .. total - 1``
    (queries in order: its search is linear; the two as one complex array: one search, half the time). No
    sample falls between two lines. Positions are exact to the rounding of that axis (about
    2e-16 x the number of samples, in steps: 3e-9 m for 1.2 M samples of 10 m).
    """
    u = _sample_axis(idx, along, length, n, ptr)[0]
    return _interp_pair(0, int(ptr[-1]), u, x + 1j * y)


def _interp_pair(s0: int, s1: int, u: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``s0 .. s1 - 1`` of the complex vertex values ``z`` placed at ``u`` on the samples' axis
    (:func:`_sample_axis`; ``u``/``z`` may be the lines' vertices only): the real and imaginary parts,
    each contiguous."""
    zc = np.interp(np.arange(s0, s1, dtype=np.float64), u, z)
    return zc.real.copy(), zc.imag.copy()


def _sample_axis(idx: np.ndarray, along: np.ndarray, length: np.ndarray, n: np.ndarray, ptr: np.ndarray):
    """``(u, first)``: each vertex's place on the samples' axis (:func:`_interpolate`) and the
    position of each line's first vertex (``first[k]:first[k + 1]`` are line ``k``'s vertices;
    ``len(length) + 1`` entries)."""
    nl, nv = len(length), len(along)
    first = np.r_[_first_vertex(idx, nl), nv]
    last = first[1:] - 1
    per_m = np.divide(n, length, out=np.zeros(nl), where=length > 0)
    u = along * per_m[idx]
    np.minimum(u, n[idx], out=u)  # never past the line's last sample (rounding)
    u += ptr[:-1][idx]
    u[first[:-1]] = ptr[:-1]
    u[last] = ptr[:-1] + n
    return u, first


def _blocks(ptr: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Runs of whole lines ``(a, b)`` (lines ``a .. b - 1``), cut at the line holding each multiple
    of ``size`` samples: a run holds about ``size`` samples, more by at most its last line's (a
    line longer than ``size`` starts a run of its own, with the lines after it up to the next
    multiple); ``ptr`` as in :func:`_line_layout`."""
    total = int(ptr[-1])
    cuts = np.unique(np.r_[np.searchsorted(ptr, np.arange(0, total, size), side="right") - 1, len(ptr) - 1])
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def sample_positions(geoms: np.ndarray, step_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at ``i x L / n``, ``i = 0..n``, ``n = ceil(L / step_m)``, along every line.

    Returns ``(xy, ptr, n)``: the points of line ``k`` are ``xy[ptr[k]:ptr[k + 1]]``
    (``n[k] + 1`` of them), the points ``shapely.line_interpolate_point`` gives (to about
    1e-9 m: see :func:`_interpolate`).
    """
    coords, idx, _, cum, length, n, ptr = _line_layout(geoms, step_m)
    x, y = coords[:, 0], coords[:, 1]
    xy = np.empty((int(ptr[-1]), 2), order="F")  # each coordinate contiguous (the DEM reads columns)
    if len(xy):
        xy[:, 0], xy[:, 1] = _interpolate(idx, cum, x, y, length, n, ptr)
    return xy, ptr, n


def _densify(coords: np.ndarray, idx: np.ndarray, seg: np.ndarray, cum: np.ndarray, max_seg_m: float):
    """The vertices plus points cutting every segment longer than ``max_seg_m`` into equal parts:
    ``(x, y, idx, along)`` of the new vertex list (the old vertices kept exactly).

    Part ``k`` of ``p`` of the segment from vertex ``v`` is ``x[v] + k / p x (x[v + 1] - x[v])``
    (and ``along``: ``cum[v] + k / p x`` the segment's length); only the cut segments are worked on
    (a few thousand of 100,000 on a city), the old vertices moved to their new places in one pass.
    """
    nv = len(coords)
    x, y = np.ascontiguousarray(coords[:, 0]), np.ascontiguousarray(coords[:, 1])
    # seg[v + 1] is the segment from v to v + 1, 0 where v + 1 starts another line
    cut = np.flatnonzero(seg[1:] > max_seg_m) if np.isfinite(max_seg_m) else np.zeros(0, dtype=np.int64)
    if not len(cut):
        return x, y, idx, cum
    nxt = seg[cut + 1]
    parts = np.ceil(nxt / max_seg_m).astype(np.int64)
    extra = parts - 1  # new points after vertex cut[i]
    shift = np.zeros(nv, dtype=np.int64)
    shift[cut] = extra
    new_pos = np.arange(nv) + (np.cumsum(shift) - shift)  # each old vertex's place in the new list
    m = int(extra.sum())
    k = np.arange(m) - np.repeat(np.cumsum(extra) - extra, extra) + 1  # 1 .. p - 1 on each cut segment
    f = k / np.repeat(parts, extra).astype(np.float64)
    at = np.repeat(cut, extra)
    ins = np.repeat(new_pos[cut], extra) + k
    out = []
    for old, step in ((x, x[cut + 1] - x[cut]), (y, y[cut + 1] - y[cut]), (cum, nxt)):
        a = np.empty(nv + m)
        a[new_pos] = old
        a[ins] = old[at] + f * np.repeat(step, extra)
        out.append(a)
    new_idx = np.empty(nv + m, dtype=idx.dtype)
    new_idx[new_pos] = idx
    new_idx[ins] = idx[at]
    return out[0], out[1], new_idx, out[2]


def _vander(s: np.ndarray, t: np.ndarray, deg: int) -> np.ndarray:
    """Monomials ``s**i t**j``, ``i + j <= deg`` (columns in :func:`_terms` order)."""
    ps, pt = np.ones((deg + 1, len(s))), np.ones((deg + 1, len(t)))
    for k in range(1, deg + 1):
        ps[k], pt[k] = ps[k - 1] * s, pt[k - 1] * t
    return np.column_stack([ps[i] * pt[j] for i, j in _terms(deg)])


def _terms(deg: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(deg + 1) for j in range(deg + 1 - i)]


@dataclass(frozen=True)
class _PolyMap:
    """A polynomial fit of a coordinate transformation (study CRS -> DEM pixel coordinates) over a box."""

    centre: tuple[float, float]
    half: tuple[float, float]
    deg: int
    coef: np.ndarray  # (terms, 2): column and row
    curvature_m: float  # bound of |second derivative along a unit direction| (metres on the ground per m^2)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = (x - self.centre[0]) / self.half[0]
        t = (y - self.centre[1]) / self.half[1]
        a = np.zeros((self.deg + 1, self.deg + 1, 2))
        for (i, j), c in zip(_terms(self.deg), self.coef):
            a[i, j] = c
        out = []
        for k in (0, 1):  # Horner in t inside Horner in s
            acc = None
            for i in range(self.deg, -1, -1):
                inner = np.full(len(t), a[i, self.deg - i, k])
                for j in range(self.deg - i - 1, -1, -1):
                    inner *= t
                    inner += a[i, j, k]
                if acc is None:
                    acc = inner
                else:
                    acc *= s
                    acc += inner
            out.append(acc)
        return out[0], out[1]


def _fit_map(to_dem: Transformer, inv, bounds, pixel_m: tuple[float, float]) -> _PolyMap | None:
    """The lowest-degree polynomial (1 to :data:`MAX_FIT_DEGREE`) of ``inv(to_dem(x, y))`` over
    ``bounds`` whose error on a 41 x 41 check grid is within :data:`FIT_TOL_M` on the ground
    (``pixel_m``: metres per pixel, at least), fitted by least squares on 16 x 16 Chebyshev
    points; None if none is (the caller transforms every sample exactly).

    ``curvature_m`` bounds the second derivative along a straight line, in metres on the ground
    per metre squared: its largest value over the check grid and 18 directions, times
    :data:`CURVATURE_MARGIN`.
    """
    x0, y0, x1, y1 = (float(b) for b in bounds)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx, hy = max((x1 - x0) / 2, 1.0), max((y1 - y0) / 2, 1.0)
    cheb = np.cos(np.pi * (np.arange(16) + 0.5) / 16)
    fs, ft = (g.ravel() for g in np.meshgrid(cheb, cheb))
    cs, ct = (g.ravel() for g in np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 41)))

    def exact(s, t):
        lon, lat = to_dem.transform(cx + hx * s, cy + hy * t)
        return np.column_stack(_apply(inv, np.asarray(lon), np.asarray(lat)))

    fit, check = exact(fs, ft), exact(cs, ct)
    if not (np.isfinite(fit).all() and np.isfinite(check).all()):
        return None
    terms = _terms(MAX_FIT_DEGREE)
    vf, vc = _vander(fs, ft, MAX_FIT_DEGREE), _vander(cs, ct, MAX_FIT_DEGREE)
    scale = np.asarray(pixel_m)
    for deg in range(1, MAX_FIT_DEGREE + 1):
        cols = [k for k, (i, j) in enumerate(terms) if i + j <= deg]  # _terms(deg)'s order
        coef = np.linalg.lstsq(vf[:, cols], fit, rcond=None)[0]
        err_m = float(np.sqrt((((vc[:, cols] @ coef - check) * scale) ** 2).sum(axis=1)).max())
        if err_m <= FIT_TOL_M:
            break
    else:
        return None
    # second derivatives (pixels per m^2) on the check grid, along 18 directions
    col = {t: k for k, t in enumerate(terms)}  # a monomial's column in vc
    hess = np.zeros((3, len(cs), 2))  # d2/dx2, d2/dxdy, d2/dy2
    for (i, j), c in zip(_terms(deg), coef):
        if i >= 2:
            hess[0] += np.outer(i * (i - 1) * vc[:, col[i - 2, j]], c) / hx ** 2
        if i >= 1 and j >= 1:
            hess[1] += np.outer(i * j * vc[:, col[i - 1, j - 1]], c) / (hx * hy)
        if j >= 2:
            hess[2] += np.outer(j * (j - 1) * vc[:, col[i, j - 2]], c) / hy ** 2
    th = np.linspace(0, np.pi, 18, endpoint=False)
    c2, cs2, s2 = np.cos(th) ** 2, 2 * np.cos(th) * np.sin(th), np.sin(th) ** 2
    q = (c2[:, None, None] * hess[0] + cs2[:, None, None] * hess[1] + s2[:, None, None] * hess[2]) * scale
    curv = float(np.sqrt((q ** 2).sum(axis=2)).max()) * CURVATURE_MARGIN
    return _PolyMap((cx, cy), (hx, hy), deg, coef, curv)


def _bilinear_window(band: np.ndarray, nodata: float | None, cf: np.ndarray, rf: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear elevation at ``(cf, rf)``: window coordinates with pixel *centres* at integers.

    ``(z, ok)``; ``ok`` is False where the four pixels around a point are not all in ``band``
    (off the DEM, or within half a pixel of its border), one of them is ``nodata`` or NaN
    (even at zero weight), or the point is not finite. ``cf`` and ``rf`` are overwritten
    (the fractions within the cell on return). The band keeps its own dtype (its four values
    are promoted to float64 in the arithmetic); no pass over the whole window.
    """
    h, w = band.shape
    ok = cf >= 0  # False for NaN too
    ok &= cf < w - 1
    ok &= rf >= 0
    ok &= rf < h - 1
    if not ok.all():  # off the window: pixel 0 (they are not ok anyway)
        cf[~ok] = 0.0
        rf[~ok] = 0.0
    ci = cf.astype(np.intp)  # the floor (both are >= 0)
    i = rf.astype(np.intp)
    cf -= ci  # the fraction across the cell
    rf -= i
    i *= w
    i += ci  # the top-left pixel's flat index
    flat = band.ravel()
    # every index is in the band (0 <= ci <= w - 2, 0 <= ri <= h - 2): no bounds check per read ("wrap")
    z00 = flat.take(i, mode="wrap")
    i += 1
    z01 = flat.take(i, mode="wrap")
    i += w
    z11 = flat.take(i, mode="wrap")
    i -= 1
    z10 = flat.take(i, mode="wrap")
    if nodata is not None and np.isfinite(nodata):
        for zz in (z00, z01, z10, z11):
            ok &= zz != nodata
    # the index arrays' memory (no longer needed) holds the float64 results: fewer fresh pages
    top = np.subtract(z01, z00, out=ci.view(np.float64))  # z00 + fc (z01 - z00)
    top *= cf
    top += z00
    bottom = np.subtract(z11, z10, out=i.view(np.float64))  # z10 + fc (z11 - z10)
    bottom *= cf
    bottom += z10
    bottom -= top
    bottom *= rf
    bottom += top
    ok &= np.isfinite(bottom)
    return bottom, ok


def _apply(aff, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An affine transform applied to coordinate arrays."""
    return aff.a * x + aff.b * y + aff.c, aff.d * x + aff.e * y + aff.f


def _pixel_m(src, lat: float = 0.0) -> tuple[float, float]:
    """Metres per pixel across and down; a geographic DEM's degree of longitude taken at latitude
    ``lat`` (at the equator by default: the most metres a pixel can span)."""
    dx, dy = abs(src.transform.a), abs(src.transform.e)
    if src.crs.is_geographic:
        return dx * _DEG_M * max(np.cos(np.radians(lat)), 1e-6), dy * _DEG_M
    factor = src.crs.linear_units_factor[1] if src.crs.linear_units_factor else 1.0
    return dx * factor, dy * factor


def _vertex_pixels(geoms: np.ndarray, crs, src, vertices=None):
    """The sampling step, the lines' layout (:func:`_line_layout`) and the points the samples are
    interpolated between, in the DEM's pixel coordinates (corners at integers): ``(step, layout,
    idx, along, col, row, bound_m)``. ``idx`` None: ``col``/``row`` are the samples themselves
    (each transformed exactly). ``bound_m``: every sample lies within it of its exact place (0: exact).

    The step is ``min(MAX_STEP_M, the DEM's pixel in metres)``, a geographic DEM's pixel width
    taken at the middle latitude of the roads' box.

    - DEM in the study's CRS: the vertices through the DEM's inverse affine transform (exact:
      an affine map keeps straight segments straight and ratios along them).
    - DEM in another CRS (SRTM in degrees): the vertices, plus points cutting segments longer
      than ``sqrt(8 x (POSITION_TOL_M - FIT_TOL_M) / curvature)``, through a polynomial fitted
      to the exact transformation over the roads' box (:func:`_fit_map`: within
      :data:`FIT_TOL_M`); straight interpolation between them is then off by at most
      ``segment^2 / 8 x curvature``, so a sample is within :data:`POSITION_TOL_M` of its exact
      place. Transforming 1.2 M samples exactly (pyproj) cost 0.15-0.18 s on the Wuhan core;
      this, about 0.03 s.
    - No polynomial within :data:`FIT_TOL_M` (a very large area): every sample exactly.

    ``vertices``: as in :func:`_line_layout`.
    """
    if vertices is None:
        vertices = shapely.get_coordinates(geoms, return_index=True)
    to_dem = None if src.crs == crs else Transformer.from_crs(crs, src.crs, always_xy=True)
    lat = 0.0  # (a projected DEM's pixel does not depend on it)
    if to_dem is not None and src.crs.is_geographic and len(vertices[0]):
        lat = float(to_dem.transform(*_bounds(vertices[0]).reshape(2, 2).mean(axis=0))[1])
    step = min(MAX_STEP_M, *_pixel_m(src, lat))
    layout = _line_layout(geoms, step, vertices)
    coords, idx, seg, cum = layout[:4]
    inv = ~src.transform
    if to_dem is None:
        col, row = _apply(inv, coords[:, 0], coords[:, 1])
        return step, layout, idx, cum, col, row, 0.0
    fit = _fit_map(to_dem, inv, _bounds(coords), _pixel_m(src)) if len(coords) else None
    if fit is not None:
        max_seg = np.sqrt(8 * (POSITION_TOL_M - FIT_TOL_M) / fit.curvature_m) if fit.curvature_m > 0 else np.inf
        vx, vy, vidx, valong = _densify(coords, idx, seg, cum, max_seg)
        col, row = fit(vx, vy)
        return step, layout, vidx, valong, col, row, POSITION_TOL_M
    x, y = _interpolate(idx, cum, coords[:, 0], coords[:, 1], *layout[4:]) if len(coords) else (coords[:, 0],) * 2
    x, y = to_dem.transform(x, y)  # every sample exactly
    col, row = _apply(inv, np.asarray(x), np.asarray(y))
    return step, layout, None, None, col, row, 0.0


def sample_pixels(edges: gpd.GeoDataFrame, dem_path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The samples of :func:`edge_slope_times` in the DEM's pixel coordinates (corners at
    integers): ``(col, row, ptr, bound_m)``, line ``k``'s samples ``ptr[k]:ptr[k + 1]``; each
    within ``bound_m`` metres of its exact place (0: exact). For tests and checks."""
    geoms = np.asarray(edges.geometry.values, dtype=object)
    with rasterio.open(dem_path) as src:
        _, layout, vidx, valong, col, row, bound = _vertex_pixels(geoms, edges.crs, src)
    n_len, n, ptr = layout[4:]
    if vidx is not None:
        col, row = _interpolate(vidx, valong, col, row, n_len, n, ptr)
    return col, row, ptr, bound


def _no_overlap(dem_path: Path, bounds, transform, crs: str, col: np.ndarray, row: np.ndarray) -> InputFileError:
    """The error for a DEM that misses the roads, with both boxes in the DEM's CRS (its ``bounds``,
    ``transform`` and ``crs``; ``col``/``row``: the roads' vertices in its pixel coordinates)."""
    def box(b):  # to the micro-unit, no "-0.0"
        return "(" + ", ".join(repr(round(float(v), 6) + 0.0) for v in b) + ")"
    roads = "the roads could not be placed in its CRS"
    if len(col):
        (xa, xb), (ya, yb) = _apply(transform, np.array([col.min(), col.max()]), np.array([row.min(), row.max()]))
        roads = f"the roads' bounds {box((min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)))}"
    return InputFileError(f"{dem_path}: the DEM does not overlap the study's roads (DEM bounds {box(bounds)}, "
                          f"{roads}, in {crs}); give a DEM covering the study area")


def _bounds(coords: np.ndarray) -> np.ndarray:
    """``(xmin, ymin, xmax, ymax)`` of vertices: the lines' total bounds (no second pass through GEOS).

    Column by column: numpy's ``min(axis=0)`` of an ``(n, 2)`` array is 20-40x slower (2.5 ms
    on the Wuhan core's 97,000 vertices, against 0.13 ms)."""
    x, y = coords[:, 0], coords[:, 1]
    return np.array([x.min(), y.min(), x.max(), y.max()])


def edge_slope_times(edges: gpd.GeoDataFrame, dem_path: str | Path, walk_speed_mps: float, *,
                     road_class_column: str = "highway", vertices=None) -> SlopeTimes:
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
    vertices
        ``shapely.get_coordinates(edges.geometry.values, return_index=True)`` if the caller has
        them (the network's snapping index reads the same vertices).

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
    # GDAL reads an uncompressed GeoTIFF's window straight from the file, not through its block cache
    # (the same pixels, about twice as fast; other files read as usual)
    with rasterio.Env(GTIFF_DIRECT_IO=True):
        try:
            src = rasterio.open(dem_path)
        except rasterio.errors.RasterioIOError as exc:
            raise InputFileError(f"{dem_path}: cannot read the DEM ({exc}); give a GeoTIFF of elevation in metres "
                                 "([network] dem)") from None
        with src:
            if src.crs is None:
                raise CrsError(f"{dem_path}: the DEM has no CRS; assign its CRS (e.g. gdal_edit.py -a_srs "
                               f"EPSG:4326 {dem_path.name}) and run again")
            width, height = src.width, src.height
            step, layout, vidx, valong, vcol, vrow, bound = _vertex_pixels(geoms, edges.crs, src, vertices)
            n_len, n, ptr = layout[4:]
            # read only the window under the roads (two pixels of margin for the bilinear neighbours), in pixels
            fin = np.isfinite(vcol) & np.isfinite(vrow)  # a point the transformation could not take: not on the DEM
            cf, rf = (vcol, vrow) if fin.all() else (vcol[fin], vrow[fin])
            dem_box = (tuple(src.bounds), src.transform, src.crs.to_string())  # (read while the file is open)

            def no_overlap():  # (made when raised: it reads every vertex)
                return _no_overlap(dem_path, *dem_box, cf, rf)
            if not len(cf):
                raise no_overlap()
            lo = np.maximum([cf.min(), rf.min()], [0.0, 0.0])
            hi = np.minimum([cf.max(), rf.max()], [float(width), float(height)])
            if (lo > hi).any():
                raise no_overlap()
            c0, r0 = int(np.floor(lo[0])) - 2, int(np.floor(lo[1])) - 2
            c1, r1 = int(np.ceil(hi[0])) + 2, int(np.ceil(hi[1])) + 2
            win = rasterio.windows.Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)
            win = win.intersection(rasterio.windows.Window(0, 0, width, height))
            band = src.read(1, window=win)  # its own dtype: a sample's four values are promoted to float64
            nodata = src.nodata
    # window coordinates with pixel centres at integers, then the samples, a block of whole edges at a time
    # (each step one numpy pass over the block: its temporaries stay in the CPU's cache and its memory is
    # reused, not a fresh 5-10 MB array per step; the results are those of one pass over every sample)
    vcol = vcol - (win.col_off + 0.5)
    vrow = vrow - (win.row_off + 0.5)
    n_samples = int(ptr[-1])
    # pieces laid out as the samples (SlopeTimes): slot s is the piece from sample s to s + 1; the slot of
    # an edge's last sample is no piece (its rise would be to the next edge's first sample: set to 0)
    fwd, bwd = np.empty(len(n)), np.empty(len(n))
    cum = np.empty(n_samples + 1, dtype=np.complex128)  # SlopeTimes.piece_cum_s
    cum[0] = 0.0
    ok = np.empty(n_samples, dtype=bool)
    covered = np.empty(len(n), dtype=bool)
    if vidx is not None:  # (no vertex on the DEM's side has stopped above: vcol is not empty)
        u, vfirst = _sample_axis(vidx, valong, n_len, n, ptr)
        vz = vcol + 1j * vrow  # both coordinates in one interpolation (one search)
    steps = (edges[road_class_column].to_numpy() == "steps") if road_class_column in edges else np.zeros(len(n), bool)
    any_steps = bool(steps.any())
    for a, b in _blocks(ptr, BLOCK_SAMPLES):
        s0, s1 = int(ptr[a]), int(ptr[b])
        if vidx is None:  # copies: _bilinear_window overwrites its positions, and vcol/vrow are read below
            col, row = vcol[s0:s1].copy(), vrow[s0:s1].copy()
        else:
            col, row = _interp_pair(s0, s1, u[vfirst[a]:vfirst[b]], vz[vfirst[a]:vfirst[b]])
        z, ok[s0:s1] = _bilinear_window(band, nodata, col, row)
        starts, lasts = ptr[a:b] - s0, ptr[a + 1:b + 1] - s0 - 1
        cov = np.logical_and.reduceat(ok[s0:s1], starts)
        covered[a:b] = cov
        rise = col  # (the positions are not needed any more)
        np.subtract(z[1:], z[:-1], out=rise[:-1])
        rise[lasts] = 0.0  # no piece
        nb = n[a:b]
        off = None if cov.all() else ~np.repeat(cov, nb + 1)  # the samples of edges without elevation
        if off is not None:
            rise[off] = 0.0
        pf, pb = piece_times(np.repeat(length[a:b] / nb, nb + 1), rise, walk_speed_mps,
                             np.repeat(steps[a:b], nb + 1) if any_steps else False, reuse=True)
        if off is not None:  # the flat time both ways (also on steps: we know no rise)
            pf[off] = pb[off] = np.repeat(length[a:b] / nb / walk_speed_mps, nb + 1)[off]
        pf[lasts] = 0.0
        pb[lasts] = 0.0
        fwd[a:b] = np.add.reduceat(pf, starts)
        bwd[a:b] = np.add.reduceat(pb, starts)
        c = cum[s0 + 1:s1 + 1]  # the running sums: both directions in one complex pass
        c.real[:] = pf
        c.imag[:] = pb
        np.cumsum(c, out=c)
        c += cum[s0]
    if not ok.any():
        c, r = vcol + win.col_off + 0.5, vrow + win.row_off + 0.5  # DEM pixel coordinates (corners at integers)
        if not ((c >= 0) & (c <= width) & (r >= 0) & (r <= height)).any():  # the boxes overlap, the roads do not
            raise no_overlap()
        raise InputFileError(f"{dem_path}: every DEM pixel under the study's roads is nodata; give a DEM with "
                             "elevations there")
    road_m = float(length.sum())
    share = float(length[covered].sum() / road_m) if road_m > 0 else 0.0
    return SlopeTimes(forward_s=fwd, backward_s=bwd, piece_ptr=ptr, piece_cum_s=cum,
                      covered_share=share, n_outside=int((~covered).sum()), step_m=float(step),
                      position_bound_m=bound)
