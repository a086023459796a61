"""Network travel times: a compressed sparse graph, edge snapping, multi-source Dijkstra.

How a travel time is computed (hand-checkable):

``time = off-road leg + partial edge + network path + partial edge + off-road leg``

- A point (home cell centre or facility) is snapped to the nearest **edge**, not node.
  The straight line from the point to the edge is the *off-road leg*, always walked at
  ``walk_speed_mps`` (also on the drive profile: people walk to their car/road).
- From the snap position the point reaches both ends of its edge: the *partial edge*
  times are the edge's time scaled by the fraction travelled.
- Between nodes, times are shortest paths over edges (``length_m / walk_speed_mps``, or
  ``length_m / speed_kph`` on the drive profile), computed with
  :func:`scipy.sparse.csgraph.dijkstra` on an undirected CSR matrix.
- Two points on the same edge may also go straight along it.

The off-road leg is the straight line at ``walk_speed_mps`` with no detour factor (the
README states the rule; the pipeline counts people whose leg is a large share of the
threshold). Points farther than ``max_offroad_m`` from every road are *not* snapped: their
time is infinite and :func:`snap_points` reports them (column ``snapped`` False).

**Main network.** A point snaps to the nearest edge of the *main network* whenever one
lies within ``max_offroad_m``: the connected pieces at least :data:`MAIN_PIECE_MIN_M`
long (or the longest piece, if none is). Only when no main edge is that close does it
snap to a nearer small fragment (a car-park ring, a cut-off footway). ``Snap.nearer_fragment``
marks the points that had a nearer fragment. The rule does not depend on where a study
is cut: a piece the study's clip cuts reaches the clip's edge, far longer than the minimum.

**Slope.** With ``slope`` (a :class:`circles.io.dem.SlopeTimes`, walk profile only) each
edge has a forward (``u`` to ``v``) and a backward time, and each partial edge is timed by
the sloped pieces it covers (a piece covered in part at its own speed). The graph is then
directed and held for trips *to* the sources: the arc ``u -> v`` carries the time of
walking ``v`` to ``u``. A snapped point has ``to_u_s``/``to_v_s`` (from its position to the
ends: a home leaving) and ``from_u_s``/``from_v_s`` (from the ends to it: a trip arriving
at a facility). On flat ground they are equal. Off-road legs stay at ``walk_speed_mps``.

**Direction.** A trip runs from home to facility. Every query takes the facilities (or
candidate sites) as ``sources`` and the homes as ``targets`` and returns the time from
each *target to its source*. On the walk profile every edge runs both ways, so the two
directions are equal; on the drive profile the network is held reversed (each edge from
its ``v`` to its ``u``, geometry reversed), so a search outward from the facilities over
one-way streets gives the times of the trips *to* them. ``edges`` and ``u``/``v`` of a
drive TravelNetwork are therefore the reversed table. A point snapped onto an end of its
edge (within :data:`AT_NODE_M`) stands at that node: a home there may take every road
leaving the node and a facility there is reached by every road arriving at it, not only
along the edge it was snapped to (``Snap.leave_v``, ``Snap.arrive_u``; on a one-way edge
the other end is reached only along the edge, in its direction).

Multi-source searches start from virtual source nodes appended to the graph, joined
one-way to the two ends of each source's edge with the partial-edge-plus-off-road time;
so a search from several facilities at once is still exact.
"""

from __future__ import annotations

import copy
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from circles import rules
from circles.io.dem import SlopeTimes
from circles.parallel import may_parallelise, usable_cpus

log = logging.getLogger(__name__)

#: A connected piece of at least this much road (metres) belongs to the main network.
MAIN_PIECE_MIN_M = 1000.0
#: Bound on the pairs of close sources the grouping of confined catchment searches lists (:func:`_disjoint_groups`).
GROUP_PAIRS_MAX = 2_000_000
#: Edges within this distance (metres) of a point's nearest one are tied: it snaps to the lowest edge index.
TIE_M = 1e-9
#: A point snapped within this distance (metres, along its edge) of an end of its edge stands at that node.
AT_NODE_M = 1e-9
#: Snapping: threads at most, and points a thread at least (fewer points: one thread, as a thread's start
#: and the join cost more than they save). Measured on 2 cores only (README, "Measured").
SNAP_THREADS_MAX = 2
SNAP_POINTS_PER_THREAD = 10_000


@dataclass
class Snap:
    """Where points meet the network (arrays aligned with the input points)."""

    edge: np.ndarray  # edge index, -1 where not snapped
    u: np.ndarray  # the edge's end nodes
    v: np.ndarray
    to_u_s: np.ndarray  # time from the snap position to u along the edge (a home leaving)
    to_v_s: np.ndarray
    along_m: np.ndarray  # distance of the snap position from u, along the edge
    offroad_m: np.ndarray
    offroad_s: np.ndarray
    snapped: np.ndarray  # bool
    oneway: np.ndarray  # bool: the edge may only be travelled u -> v
    xy: np.ndarray  # the points' coordinates (n, 2), for confined searches
    nearer_fragment: np.ndarray  # bool: a small fragment was nearer than the main network edge used
    from_u_s: np.ndarray | None = None  # time from u to the snap position (a trip arriving); None: = to_u_s
    from_v_s: np.ndarray | None = None
    # bool: a home here may leave towards v (the edge is two-way, or the point stands at v: at a node it
    # may take any road leaving the node); None: ~oneway
    leave_v: np.ndarray | None = None
    # bool: a trip may arrive here from u (two-way, or the point stands at u); None: ~oneway
    arrive_u: np.ndarray | None = None
    # the points indexed by the nodes they leave from (catchment joins), built on first use by
    # :func:`_target_ends` and kept: a Snap's arrays are never written to once it is made
    _ends: _TargetEnds | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.from_u_s is None:
            self.from_u_s = self.to_u_s
        if self.from_v_s is None:
            self.from_v_s = self.to_v_s
        if self.leave_v is None:
            self.leave_v = ~np.asarray(self.oneway, dtype=bool)
        if self.arrive_u is None:
            self.arrive_u = ~np.asarray(self.oneway, dtype=bool)

    def __len__(self) -> int:
        return len(self.edge)


class SegmentIndex:
    """Nearest edge of many points at once, exact, as numpy arrays and one KD-tree (asked again
    only for the points its first answer does not settle).

    Every edge is cut into straight pieces of at most ``piece_m`` (its own segments, split
    evenly; default 1.25 x the median segment length, at least 25 m); a KD-tree holds the pieces' midpoints. For each point the ``k`` nearest
    midpoints give candidate pieces and their exact point-to-segment distances; the best,
    ``d``, is certified when the ``k``-th midpoint lies farther than ``d + half`` (``half`` =
    the longest half-piece): the true nearest piece's midpoint is within ``d* + half <= d +
    half``, so it was a candidate. Points not certified are asked again with 2k, 4k, ..., 64k
    candidates; the few left are answered by a shapely STRtree over the same edges.

    :meth:`locate` also returns the distance and the position along the edge, from the
    winning piece in numpy (the projection on its segment), so snapping needs no shapely
    call per point: the same numbers as ``shapely.distance`` and ``line_locate_point`` to
    rounding (``tests/test_travel.py`` checks them against a brute force over every edge).
    The KD-tree is built unbalanced (``balanced_tree=False``): half the build time for the
    same query time on street networks.
    """

    def __init__(self, geoms: np.ndarray, edge_ids: np.ndarray, *, piece_m: float | None = None, k: int = 8,
                 vertices=None):
        from scipy.spatial import cKDTree

        self.geoms, self.edge_ids, self.k = geoms, np.asarray(edge_ids), k
        # ``vertices``: the lines' ``shapely.get_coordinates(geoms, return_index=True)`` if the caller has them
        coords, idx = shapely.get_coordinates(geoms, return_index=True) if vertices is None else vertices
        # segments as 1-D x/y arrays (the same numbers as row arithmetic on (n, 2) arrays, fewer copies)
        sel = np.flatnonzero(idx[1:] == idx[:-1])
        x, y = coords[:, 0], coords[:, 1]
        sx, sy = x[sel], y[sel]
        dx, dy = x[sel + 1] - sx, y[sel + 1] - sy
        e = idx[sel]
        seg_len = np.hypot(dx, dy)
        if piece_m is None:  # one piece for most segments
            piece_m = max(25.0, 1.25 * float(np.median(seg_len))) if len(seg_len) else 25.0
        n = np.maximum(1, np.ceil(seg_len / piece_m)).astype(np.int64)
        seg = np.repeat(np.arange(len(sel)), n)
        j = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
        pn = n[seg]
        m = len(seg)
        # per piece, one slot more: a sentinel piece (index m, what the KD-tree returns for "no neighbour
        # within the bound") far away (1e150 m: its squared distance 2e300 still finite) and of no length,
        # so the candidates need no mask; it never wins (farther than any max_distance)
        self.abx, self.aby = np.zeros(m + 1), np.zeros(m + 1)
        np.divide(dx[seg], pn, out=self.abx[:m])
        np.divide(dy[seg], pn, out=self.aby[:m])
        self.ax, self.ay = np.full(m + 1, 1e150), np.full(m + 1, 1e150)
        self.ax[:m], self.ay[:m] = sx[seg] + self.abx[:m] * j, sy[seg] + self.aby[:m] * j
        mid = np.empty((m, 2))
        mid[:, 0] = self.ax[:m] + self.abx[:m] / 2
        mid[:, 1] = self.ay[:m] + self.aby[:m] / 2

        def rest():
            self.local = np.r_[e[seg], 0]  # position in ``geoms``
            # distance along its line of each segment's start (cumulative within the line)
            seg_start = pd.Series(seg_len).groupby(e).cumsum().to_numpy() - seg_len  # per line: no large sums
            self.seg_start, self.seg_len, self.seg = seg_start, seg_len, seg  # piece -> segment, for positions along
            self.piece_j, self.piece_n = j, pn  # piece j of n on its segment
            ab2 = self.abx ** 2 + self.aby ** 2
            self.inv_ab2 = 1.0 / np.maximum(ab2, 1e-18)
            self.inv_ab2[m] = 0.0
            self.piece_edge = self.edge_ids[self.local]
            # the longest half-piece (the sentinel has no length): the square root of the largest squared length
            self.half = float(np.sqrt(ab2.max())) / 2 if m else 0.0

        self.tree = None
        if m and _snap_threads(m) > 1:  # the KD-tree built in a thread beside the rest (its build releases the GIL)
            with ThreadPoolExecutor(1) as ex:
                tree = ex.submit(cKDTree, mid, balanced_tree=False, compact_nodes=False)
                rest()
                self.tree = tree.result()
        else:
            rest()
            self.tree = cKDTree(mid, balanced_tree=False, compact_nodes=False) if m else None

    def nearest(self, xy: np.ndarray, max_distance: float, allowed: np.ndarray | None = None) -> np.ndarray:
        """Edge id (from ``edge_ids``) nearest each point, ``-1`` where none lies within ``max_distance``.

        ``allowed`` (boolean, one per geometry) restricts the answer to some edges; the
        certificate still holds, as the nearest allowed piece is within ``d + half`` too.
        """
        return self.locate(xy, max_distance, allowed)[0]

    def locate(self, xy: np.ndarray, max_distance: float, allowed: np.ndarray | None = None, *,
               threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest edge, distance to it and position along it (metres from its start) of each point.

        ``(edge, dist_m, along_m)``; ``-1``, ``inf`` and ``0`` where no edge is within ``max_distance``.
        The points are asked in Z-order (Morton order of 100 m cells): neighbouring queries
        walk the same branches of the tree (about half the KD-tree's time on 50,000 points in Wuhan).
        Each point's answer depends on that point only, so the Z-ordered points are cut into
        ``threads`` runs (default :func:`_snap_threads`) asked at once in threads (the KD-tree
        query and numpy release the GIL): the same answers as one run.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        out = np.full(len(xy), -1, dtype=np.int64)
        dist_out = np.full(len(xy), np.inf)
        along_out = np.zeros(len(xy))
        if self.tree is None or len(xy) == 0:
            return out, dist_out, along_out
        order = _radix_order(_morton(xy, 100.0), 1 << 32)  # stable, as np.argsort(kind="stable"), a sixth of its time
        pxy = xy[order]
        threads = min(_snap_threads(len(xy)) if threads is None else int(threads), len(xy))
        if threads > 1:
            cuts = np.linspace(0, len(xy), threads + 1).astype(np.int64)
            with ThreadPoolExecutor(threads) as ex:
                parts = list(ex.map(lambda a, b: self._locate_kd(pxy[a:b], max_distance, allowed), cuts[:-1], cuts[1:]))
            edge, dist, along = (np.concatenate([p[i] for p in parts]) for i in range(3))
            todo = np.concatenate([p[3] + a for p, a in zip(parts, cuts[:-1])])
        else:
            edge, dist, along, todo = self._locate_kd(pxy, max_distance, allowed)
        out[order], dist_out[order], along_out[order] = edge, dist, along
        if len(todo):  # still not certified (very dense spots): ask shapely's STRtree
            pick = np.arange(len(self.geoms)) if allowed is None else np.flatnonzero(allowed)
            tree = shapely.STRtree(self.geoms[pick])
            pts = shapely.points(pxy[todo])
            near, d = tree.query_nearest(pts, max_distance=max_distance, return_distance=True, all_matches=False)
            # ties as above: every edge within TIE_M of the nearest (``all_matches`` would give the exactly
            # equal ones only), the lowest edge index
            near = near[0]
            qi, gi = tree.query(pts[near], predicate="dwithin", distance=d + TIE_M)
            qi = near[qi]
            srt = np.lexsort((self.edge_ids[pick[gi]], qi))
            qi, gi = qi[srt], gi[srt]
            first = np.r_[True, qi[1:] != qi[:-1]] if len(qi) else np.zeros(0, dtype=bool)
            qi, gi = qi[first], gi[first]
            at = order[todo[qi]]
            out[at] = self.edge_ids[pick[gi]]
            dist_out[at] = shapely.distance(pts[qi], self.geoms[pick[gi]])
            along_out[at] = shapely.line_locate_point(self.geoms[pick[gi]], pts[qi])
        return out, dist_out, along_out

    def _locate_kd(self, pxy: np.ndarray, max_distance: float, allowed: np.ndarray | None):
        """:meth:`locate` of the points ``pxy`` by the KD-tree: ``(edge, dist_m, along_m, todo)`` in
        the order of ``pxy``; ``todo``: the positions not certified after 64k candidates (their
        answer is left at ``-1``, ``inf``, ``0``)."""
        m = len(pxy)
        out = np.full(m, -1, dtype=np.int64)
        dist_out = np.full(m, np.inf)
        along_out = np.zeros(m)
        todo = np.arange(m)
        k = self.k
        big = np.iinfo(np.int64).max
        # k, 2k, 4k, ..., 64k candidates for the points not yet certified (doubling, not x4: on the Wuhan
        # benchmark 87 % are certified with 8, 98.6 % with 16; a second round of 32 asked twice the
        # KD-tree work of one of 16 for the 13 % left)
        while len(todo) and k <= 64 * self.k:
            k_eff = min(k, self.tree.n)
            q = pxy[todo]
            dm, jj = self.tree.query(q, k=k_eff, distance_upper_bound=max_distance + self.half)
            dm, jj = dm.reshape(len(todo), k_eff), jj.reshape(len(todo), k_eff)  # no neighbour: the sentinel
            # the projection of each point on each candidate piece (in place: fewer temporaries, the same
            # operations in the same order, so the same numbers)
            abx, aby = self.abx.take(jj), self.aby.take(jj)
            dx = q[:, :1] - self.ax.take(jj)
            dy = q[:, 1:] - self.ay.take(jj)
            t = dx * abx
            t += dy * aby
            t *= self.inv_ab2.take(jj)
            np.clip(t, 0.0, 1.0, out=t)
            abx *= t
            aby *= t
            dx -= abx
            dy -= aby
            d2 = dx * dx
            d2 += dy * dy
            if allowed is not None:
                d2[~allowed[self.local.take(jj)]] = np.inf
            best = np.argmin(d2, axis=1)
            rows = np.arange(len(todo))
            d = np.sqrt(d2[rows, best])
            # ties (a point nearest a junction is as near every edge meeting there): the lowest edge
            # index within TIE_M of the nearest, so the answer does not depend on the tree's build;
            # only the rows with a second piece that close need the edge indices
            tied = d2 <= ((d + TIE_M) ** 2)[:, None]
            many = np.flatnonzero(np.count_nonzero(tied, axis=1) > 1)
            if len(many):
                best[many] = np.argmin(np.where(tied[many], self.piece_edge.take(jj[many]), big), axis=1)
            # certified: the k-th midpoint is farther than any better piece could be (or there is no k-th)
            # (a tie, up to TIE_M farther, included)
            # or fewer than k pieces lie within the bound: every piece that could be within reach was a candidate
            certain = (dm[:, -1] > d + TIE_M + self.half) | np.isinf(dm[:, -1]) | (k_eff == self.tree.n)
            hit = np.flatnonzero(certain & (d <= max_distance))
            flat = hit * k_eff + best.take(hit)  # the winning candidates, as flat positions (one take each)
            piece = jj.ravel().take(flat)
            at = todo.take(hit)
            out[at] = self.piece_edge.take(piece)
            qx, qy = dx.ravel().take(flat), dy.ravel().take(flat)
            dist_out[at] = np.sqrt(qx * qx + qy * qy)
            # as GEOS's line_locate_point: the segment's start plus the fraction of the segment
            sg = self.seg.take(piece)
            along_out[at] = self.seg_start.take(sg) + self.seg_len.take(sg) * (
                (self.piece_j.take(piece) + t.ravel().take(flat)) / self.piece_n.take(piece))
            todo = todo[~certain]
            k *= 2
        return out, dist_out, along_out, todo


def _snap_threads(n_points: int) -> int:
    """Threads :meth:`SegmentIndex.locate` uses for ``n_points`` points: one per
    :data:`SNAP_POINTS_PER_THREAD` points, at most :data:`SNAP_THREADS_MAX` and the CPUs this
    process may use; one where :func:`circles.parallel.may_parallelise` says no (``CIRCLES_PARALLEL=0``,
    ``circles batch``'s daemonic Dask workers)."""
    if not may_parallelise():
        return 1
    return max(1, min(SNAP_THREADS_MAX, usable_cpus(), n_points // SNAP_POINTS_PER_THREAD))


def _morton(xy: np.ndarray, cell_m: float) -> np.ndarray:
    """Z-order key of the ``cell_m`` cells of points (16 bits a side: 6,500 km at 100 m)."""
    # the columns' minima one by one: numpy's min(axis=0) of an (n, 2) array takes 30 times as long
    b = np.clip(np.floor((xy - [xy[:, 0].min(), xy[:, 1].min()]) / cell_m), 0, 0xFFFF).astype(np.int64)

    def spread(v):
        v = (v | (v << 8)) & 0x00FF00FF
        v = (v | (v << 4)) & 0x0F0F0F0F
        v = (v | (v << 2)) & 0x33333333
        return (v | (v << 1)) & 0x55555555

    return spread(b[:, 0]) | (spread(b[:, 1]) << 1)


def _fastest_arcs(w: np.ndarray, order: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Arc weights ``w`` in the CSR's sort ``order``, the fastest of each run of parallel arcs (runs start
    at ``first``): the graph's data, for :class:`TravelNetwork` and its :meth:`~TravelNetwork.flat_twin`."""
    w = w[order]
    return np.minimum.reduceat(w, first) if len(first) else w


def subset(s: Snap, idx: np.ndarray) -> Snap:
    """The snaps of the points at positions ``idx``."""
    return Snap(**{name: getattr(s, name)[idx] for name, f in Snap.__dataclass_fields__.items() if f.init})


def _disjoint_groups(xy: np.ndarray, radius_m: float) -> np.ndarray:
    """Group labels of sources such that the sources of one group are more than ``2 x radius_m + 1`` m apart
    (their discs of ``radius_m`` cannot meet), in few groups: one search each in :meth:`TravelNetwork._catchment_confined`.

    Greedy colouring of the graph of pairs closer than that (a KD-tree's ``query_pairs``), the
    sources with the most such neighbours first (Welsh and Powell), each taking the lowest label
    none of its neighbours holds. Squares of side ``2 x radius_m + 1`` bound the pairs: a
    source's neighbours lie in the 3 x 3 squares around it. If that bound exceeds
    :data:`GROUP_PAIRS_MAX` (discs so large that most sources meet), the squares give the groups
    directly: one source a square, from squares whose column and row parities are the same (so
    a whole square apart). On the 300 facilities of the Wuhan core benchmark, 15 minutes on
    foot: 8 groups (8 of them are pairwise that close: no grouping has fewer) where the squares gave 19.
    """
    B = len(xy)
    if B == 0 or not np.isfinite(radius_m):
        return np.arange(B)
    sep = 2.0 * radius_m + 1.0
    cell = np.floor((xy - xy.min(axis=0)) / sep).astype(np.int64)
    key = cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1]
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    size = np.diff(np.r_[starts, B])
    if 9 * B * int(size.max()) > GROUP_PAIRS_MAX:
        rank = np.empty(B, dtype=np.int64)
        rank[order] = np.arange(B) - np.repeat(starts, size)
        return rank * 4 + (cell[:, 0] % 2) * 2 + cell[:, 1] % 2
    from scipy.spatial import cKDTree

    pairs = cKDTree(xy).query_pairs(sep, output_type="ndarray")
    one, other = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    deg = np.bincount(one, minlength=B)
    ptr = np.r_[0, np.cumsum(deg)].tolist()
    near = other[np.argsort(one, kind="stable")].tolist()
    label = np.where(deg > 0, -1, 0).tolist()  # a source with no close neighbour takes label 0 at once
    for i in np.argsort(-deg, kind="stable")[:int(np.count_nonzero(deg))].tolist():  # a microsecond a source
        taken = {label[j] for j in near[ptr[i]:ptr[i + 1]]}
        c = 0
        while c in taken:
            c += 1
        label[i] = c
    return np.array(label, dtype=np.int64)


def _radix_order(key: np.ndarray, bound: int) -> np.ndarray:
    """Permutation sorting ``key`` (non-negative integers below ``bound``) ascending, stable.

    Least significant 16 bits first, each pass numpy's stable sort of 16-bit integers (a radix
    sort): less than half ``np.argsort``'s time on 30,000 keys of the Wuhan benchmark's size.
    """
    o = np.argsort(key.astype(np.uint16), kind="stable")  # the cast keeps the low 16 bits
    shift = 16
    while (bound - 1) >> shift:
        o = o[np.argsort((key[o] >> shift).astype(np.uint16), kind="stable")]
        shift += 16
    return o


@dataclass(frozen=True)
class _TargetEnds:
    """Snapped points indexed by the nodes they leave from, for catchment joins (:func:`_target_ends`).

    One *entry* per way a point leaves its edge: towards ``u`` (every snapped point) and towards
    ``v`` (where it may, ``Snap.leave_v``). Entries are grouped by node: those of node ``x`` are
    ``start[x]:start[x] + count[x]``.
    """

    n_nodes: int
    start: np.ndarray  # per node: its first entry
    count: np.ndarray  # per node: its entries
    has: np.ndarray  # bool per node: some entry leaves from it
    # per entry, (m, 3) float: time from the point to this end along the edge (to_u_s or to_v_s), the
    # point's off-road leg, time to the other end (inf where the point may not leave that way)
    times: np.ndarray
    # per entry, (m, 3) int (32-bit below 2^31 nodes and points: less memory to read): the edge's other
    # end, the point's position, 1 if this end is the edge's v.
    # Two tables, read with ``take`` on axis 0: one gather a table, not one an array (a third of the time)
    ids: np.ndarray


def _target_ends(targets: Snap, node_rank: np.ndarray) -> _TargetEnds:
    """The :class:`_TargetEnds` of ``targets`` on a network whose nodes are laid out in ``node_rank``
    order (a spatial order: the entries of nearby nodes are near each other in memory, so a search's
    reached nodes read a compact stretch), cached on the Snap.

    Built with a counting sort (scipy's COO to CSR conversion, linear, stable), once per Snap:
    catchment searches of many sources against the same homes (coverage, candidates, siting,
    what-if) then only slice it.
    """
    n_nodes = len(node_rank)
    got = targets._ends
    if got is not None and got.n_nodes == n_nodes:
        return got
    j = np.flatnonzero(targets.snapped)
    jv = j[targets.leave_v[j]]
    node = np.r_[targets.u[j], targets.v[jv]]
    m = len(node)
    counts = np.bincount(node, minlength=n_nodes)
    ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(counts[np.argsort(node_rank)], out=ptr[1:])
    # entries grouped by node, nodes in rank order, input order within a node (columns 0..m-1 ascend in a row)
    order = sp.csr_matrix((np.ones(m, dtype=bool), (node_rank[node], np.arange(m))), shape=(n_nodes, max(m, 1))).indices
    to_v = np.where(targets.leave_v[j], targets.to_v_s[j], np.inf)
    ends = _TargetEnds(
        n_nodes=n_nodes,
        start=ptr[node_rank],
        count=counts,
        has=counts > 0,
        times=np.stack([np.r_[targets.to_u_s[j], targets.to_v_s[jv]], np.r_[targets.offroad_s[j], targets.offroad_s[jv]],
                        np.r_[to_v, targets.to_u_s[jv]]], axis=1)[order],
        ids=np.stack([np.r_[targets.v[j], targets.u[jv]], np.r_[j, jv],
                      np.r_[np.zeros(len(j), dtype=np.int64), np.ones(len(jv), dtype=np.int64)]], axis=1)[order]
        .astype(np.int32 if max(n_nodes, len(targets)) < 2 ** 31 else np.int64),
    )
    targets._ends = ends
    return ends


class TravelNetwork:
    """A road network prepared for repeated exact travel-time queries.

    Built once per study: the CSR matrix of edge times, a spatial index of edges and a
    KD-tree of nodes. Queries never rebuild the base matrix; virtual source nodes are
    appended by concatenating a few rows to it.

    Parameters
    ----------
    nodes, edges
        From :func:`circles.io.network.load_network` (metric CRS, ``u``, ``v``, ``length_m``).
    walk_speed_mps
        Walking speed (m/s) on foot edges and on every off-road leg.
    profile
        ``"walk"`` (every edge both ways: one-way rules do not bind pedestrians), or
        ``"drive"`` (edge speeds from ``speed_kph``; edges with ``oneway`` True only u -> v).
    slope
        Sloped walking times of every edge (:func:`circles.io.dem.edge_slope_times` on the
        same ``edges``); walk profile only. ``edge_time_s`` is then the forward time and
        ``edge_back_s`` the backward one (equal without a slope).
    vertices
        ``shapely.get_coordinates(edges.geometry.values, return_index=True)`` if the caller has
        them (the DEM's sampling reads the same): the snapping index is built from them. Walk
        profile only (the drive profile holds the edges reversed and reads its own).
    """

    def __init__(self, nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *, walk_speed_mps: float,
                 profile: str = "walk", slope: SlopeTimes | None = None, vertices=None):
        if walk_speed_mps <= 0:
            raise ValueError(f"walk_speed_mps must be positive, got {walk_speed_mps}")
        if profile not in ("walk", "drive"):
            raise ValueError(f"profile must be 'walk' or 'drive', got {profile!r}")
        if slope is not None and profile != "walk":
            raise ValueError("slope times are for the walk profile only (the drive profile ignores the DEM)")
        if slope is not None and len(slope.forward_s) != len(edges):
            raise ValueError(f"slope times are for {len(slope.forward_s)} edges, the network has {len(edges)}; "
                             "compute them on the same edges")
        if profile == "drive":  # held reversed: searches from facilities give times of trips to them
            edges = edges.assign(u=edges["v"].to_numpy(), v=edges["u"].to_numpy(),
                                 geometry=shapely.reverse(edges.geometry.values))
        self.nodes = nodes
        self.edges = edges
        self.crs = edges.crs
        self.walk_speed_mps = float(walk_speed_mps)
        self.profile = profile
        length = edges["length_m"].to_numpy(dtype=float)
        if profile == "drive":
            speed_mps = edges["speed_kph"].to_numpy(dtype=float) / 3.6
            self.edge_time_s = length / speed_mps
            self.max_speed_mps = max(float(np.nanmax(speed_mps)), self.walk_speed_mps)
            ow = edges["oneway"].to_numpy(dtype=bool) if "oneway" in edges else np.zeros(len(edges), bool)
        elif slope is None:
            self.edge_time_s = length / self.walk_speed_mps
            self.max_speed_mps = self.walk_speed_mps
            ow = np.zeros(len(edges), dtype=bool)
        else:
            self.edge_time_s = np.asarray(slope.forward_s, dtype=float)
            # no piece is faster than Tobler's best (steps and flat edges are slower): the catchment disc bound
            self.max_speed_mps = rules.max_speed_mps("walk", self.walk_speed_mps, sloped=True)
            ow = np.zeros(len(edges), dtype=bool)
        self.slope = slope
        self.edge_back_s = self.edge_time_s if slope is None else np.asarray(slope.backward_s, dtype=float)
        self.oneway = ow
        self.length_m = length
        self.u = edges["u"].to_numpy(dtype=np.int64)
        self.v = edges["v"].to_numpy(dtype=np.int64)
        self.n_nodes = len(nodes)
        two = ~ow
        rows = np.r_[self.u, self.v[two]]
        cols = np.r_[self.v, self.u[two]]
        # held for trips *to* the sources: arc u -> v carries the time of walking v -> u (equal when flat;
        # the drive profile's table is already reversed, and its times are the same both ways)
        w = np.r_[self.edge_back_s, self.edge_time_s[two]]
        # parallel edges: keep the fastest (building a CSR would otherwise sum them); one sort on a single
        # (row, column) key, the CSR arrays built directly
        key = rows * max(self.n_nodes, 1) + cols
        order = np.argsort(key, kind="stable")
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
        w = _fastest_arcs(w, order, first)
        key = key[first]
        indptr = np.searchsorted(key, np.arange(self.n_nodes + 1) * max(self.n_nodes, 1), side="left")
        self.graph = sp.csr_matrix((w, key % max(self.n_nodes, 1), indptr), shape=(self.n_nodes, self.n_nodes))
        self._arcs = (order, first, two) if slope is not None else None  # for flat_twin: the arcs' sort, kept
        self._geoms = np.asarray(edges.geometry.values, dtype=object)
        self._vertices = vertices if profile == "walk" else None
        # the main network: pieces (undirected) of at least MAIN_PIECE_MIN_M of road
        from scipy.sparse.csgraph import connected_components

        _, label = connected_components(self.graph, directed=False)  # every edge is in it, one way at least
        piece_len = np.bincount(label[self.u], weights=length)
        main_piece = piece_len >= min(MAIN_PIECE_MIN_M, float(piece_len.max()) if len(piece_len) else 0.0)
        self.edge_main = main_piece[label[self.u]]
        self._main_edges = np.flatnonzero(self.edge_main)
        self._index: SegmentIndex | None = None  # built on the first snap
        self._node_rank: np.ndarray | None = None  # built on the first confined catchment search

    @cached_property
    def node_xy(self) -> np.ndarray:
        """The nodes' coordinates, ``(n, 2)``: read on first use (snapping and nearest times need none)."""
        return shapely.get_coordinates(self.nodes.geometry.values)

    # ------------------------------------------------------------------ snapping
    def snap_points(self, points: gpd.GeoDataFrame, *, max_offroad_m: float) -> Snap:
        """Snap each point to its nearest edge; points farther than ``max_offroad_m`` stay unsnapped."""
        if points.crs is not None and self.crs is not None and points.crs != self.crs:
            raise ValueError("points and network are in different CRSs; project the points first")
        geoms = np.asarray(points.geometry.values, dtype=object)
        n = len(geoms)
        edge = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        fragment = np.zeros(n, dtype=bool)
        if n:
            if self._index is None:
                self._index = SegmentIndex(self._geoms, np.arange(len(self._geoms)), vertices=self._vertices)
                self._vertices = None  # read once
            xy = shapely.get_coordinates(geoms)
            edge, dist, along = self._index.locate(xy, max_offroad_m)
            off_main = np.flatnonzero((edge >= 0) & ~self.edge_main[np.maximum(edge, 0)])
            if len(off_main):  # nearest edge on a fragment: the main network if it is within reach
                me, md, ma = self._index.locate(xy[off_main], max_offroad_m, allowed=self.edge_main)
                got = me >= 0
                pts = off_main[got]
                edge[pts], dist[pts], along[pts] = me[got], md[got], ma[got]
                fragment[pts] = True
        else:
            along, xy = np.zeros(0), np.zeros((0, 2))
        snapped = (edge >= 0) & (dist <= max_offroad_m)
        e = np.where(snapped, edge, 0)
        along = np.where(snapped, along, 0.0)
        frac = np.clip(along / self.length_m[e], 0.0, 1.0) if n else np.zeros(0)
        t = self.edge_time_s[e] if n else np.zeros(0)
        if self.slope is None:
            to_u, to_v, from_u, from_v = frac * t, (1.0 - frac) * t, None, None
        else:
            from_u, to_u = self.times_from_u(e, frac)  # u -> position (forward), position -> u (backward)
            # the rest of the edge (never below zero: a point at v sums its pieces to the edge's time within a
            # few ulp of the network's running sum of piece times, ~1e-9 s on a city: SlopeTimes.piece_cum_s)
            to_v = np.maximum(self.edge_time_s[e] - from_u, 0.0)
            from_v = np.maximum(self.edge_back_s[e] - to_u, 0.0)
        oneway = self.oneway[e] & snapped if n else np.zeros(0, dtype=bool)
        # a point snapped onto an end of a one-way edge stands at that node: it may use every road there
        # (along within AT_NODE_M of the end: GEOS's length and the summed segment lengths differ by rounding)
        at_u = along <= AT_NODE_M
        at_v = along >= self.length_m[e] - AT_NODE_M if n else np.zeros(0, dtype=bool)
        return Snap(
            edge=np.where(snapped, edge, -1),
            u=np.where(snapped, self.u[e], -1),
            v=np.where(snapped, self.v[e], -1),
            to_u_s=to_u,
            to_v_s=to_v,
            from_u_s=from_u,
            from_v_s=from_v,
            along_m=along,
            offroad_m=np.where(snapped, dist, np.inf),
            offroad_s=np.where(snapped, dist / self.walk_speed_mps, np.inf),
            snapped=snapped,
            oneway=oneway,
            xy=xy,
            nearer_fragment=fragment & snapped,
            leave_v=~oneway | at_v,
            arrive_u=~oneway | at_u,
        )

    def times_from_u(self, e: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Times between ``u`` and the point at ``frac`` (0..1 of the length) of edges ``e``:
        ``(u to the point, the point to u)``.

        Flat: ``frac x edge_time_s`` both. With slope: the whole pieces before the point, plus
        the share of the piece it stands on, at that piece's own speed (forward pieces for
        ``u`` to the point, backward ones for the way back).
        """
        if self.slope is None:
            t = np.asarray(frac) * self.edge_time_s[e]
            return t, t
        p0, p1 = self.slope.piece_ptr[e], self.slope.piece_ptr[e + 1]
        m = p1 - p0 - 1  # the edges' pieces (SlopeTimes: a slot after each edge's last piece)
        x = frac * m
        k = np.minimum(np.floor(x).astype(np.int64), m - 1)
        part = x - k
        at = p0 + k
        # the pieces' running sums, forward + 1j x backward side by side in memory (a look-up reads one
        # cache line; one complex gather is a third of two real ones)
        cum = self.slope.piece_cum_s
        before = cum.take(at)  # (from the first slot; real: forward, imaginary: backward)
        t = cum.take(at + 1) - before  # the piece the point stands on, the share of it walked
        t *= part
        before -= cum.take(p0)  # the whole pieces before the point
        t += before
        return t.real.copy(), t.imag.copy()

    def flat_twin(self) -> TravelNetwork:
        """This sloped network on flat ground (the ``_flat`` shares of a DEM run): the same as
        ``TravelNetwork(nodes, edges, walk_speed_mps=...)`` without ``slope``, made from this one's
        arrays (the same CSR structure with flat weights; the nodes, edges, main network and the
        spatial index and node order if built are shared, not rebuilt). Itself when flat.
        """
        if self.slope is None:
            return self
        flat = copy.copy(self)
        flat.slope, flat._arcs = None, None
        flat.edge_time_s = flat.edge_back_s = self.length_m / self.walk_speed_mps
        flat.max_speed_mps = self.walk_speed_mps
        # the constructor's arc weights (back, then forward where two-way: both flat here), its sort kept
        order, first, two = self._arcs
        w = _fastest_arcs(np.r_[flat.edge_time_s, flat.edge_time_s[two]], order, first)
        flat.graph = sp.csr_matrix((w, self.graph.indices, self.graph.indptr), shape=self.graph.shape)
        return flat

    def walk_along_s(self, e: np.ndarray, from_m: np.ndarray, to_m: np.ndarray) -> np.ndarray:
        """Time to go along edges ``e`` from ``from_m`` to ``to_m`` metres from ``u`` (either way).

        Flat: ``|to - from| / length x edge_time_s``. With slope: the forward pieces between
        the two points when ``to >= from``, else the backward ones. One-way rules are the
        caller's (see :meth:`_same_edge`). Isochrones use it for walks along a source's edge.
        """
        step = np.asarray(to_m, dtype=float) - from_m
        if self.slope is None:
            return np.abs(step) / self.length_m[e] * self.edge_time_s[e]
        fa, ba = self.times_from_u(e, np.clip(from_m / self.length_m[e], 0.0, 1.0))
        fb, bb = self.times_from_u(e, np.clip(to_m / self.length_m[e], 0.0, 1.0))
        return np.maximum(np.where(step >= 0, fb - fa, ba - bb), 0.0)

    # ------------------------------------------------------------------ queries
    @staticmethod
    def _source_arcs(sources: Snap, ok: np.ndarray, virt: np.ndarray):
        """Arcs from each source's virtual node to the ends of its edge (u only if a trip may arrive from u:
        a two-way edge, or a source standing at u)."""
        back = sources.arrive_u[ok]
        rows = np.r_[virt, virt[back]]
        cols = np.r_[sources.v[ok], sources.u[ok][back]]
        w = np.r_[sources.offroad_s[ok] + sources.from_v_s[ok], (sources.offroad_s[ok] + sources.from_u_s[ok])[back]]
        return rows, cols, w

    @staticmethod
    def _append_rows(base: sp.csr_matrix, k: int, rows_local, cols, w) -> sp.csr_matrix:
        """``base`` with ``k`` extra rows/columns appended (rows given 0..k-1), without rebuilding it."""
        n = base.shape[0]
        order = np.argsort(rows_local, kind="stable")
        counts = np.bincount(rows_local, minlength=k)
        indptr = np.r_[base.indptr, base.indptr[-1] + np.cumsum(counts)]
        data = np.r_[base.data, np.asarray(w, dtype=float)[order]]
        indices = np.r_[base.indices, np.asarray(cols)[order]].astype(base.indices.dtype, copy=False)
        return sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))

    def node_times(self, sources: Snap, *, cutoff_s: float = np.inf, separate: bool = False,
                   group: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
        """Time from the sources to every node: one row per group of sources, the time from the
        group's nearest source (multi-source). Nodes beyond ``cutoff_s`` are ``inf``.

        ``group[i]`` (0 .. ``n_groups`` - 1) is source ``i``'s row, -1 for none; by default
        every source is in one row. ``separate=True``: one row per source (``group`` its number).
        One search call: a virtual node per row joined to its sources.
        """
        if separate:
            group, n_groups = np.arange(len(sources)), len(sources)
        elif group is None:
            group = np.zeros(len(sources), dtype=np.int64)
        ok = np.flatnonzero(sources.snapped & (group >= 0))
        n = self.n_nodes
        if not len(ok):
            return np.full((n_groups, n), np.inf)
        g = self._append_rows(self.graph, n_groups, *self._source_arcs(sources, ok, group[ok]))
        return dijkstra(g, directed=True, indices=np.arange(n, n + n_groups), limit=cutoff_s)[:, :n]

    @staticmethod
    def point_times(node_time: np.ndarray, targets: Snap) -> np.ndarray:
        """Times at snapped ``targets`` from per-node times (rows of :meth:`node_times`).

        Adds the targets' partial edge and off-road leg; unsnapped targets get ``inf``.
        Same-edge direct paths are added by :meth:`nearest_times_by_group` and :meth:`times_to_points`.
        """
        node_time = np.atleast_2d(node_time)
        ok = targets.snapped
        u = np.where(ok, targets.u, 0)
        v = np.where(ok, targets.v, 0)
        no_v = ~targets.leave_v
        t = np.empty((len(node_time), len(targets)))
        for row, out in zip(node_time, t):  # a row at a time: a 1-D take is ~7x faster than indexing a 2-D array
            via_u = row.take(u)
            via_u += targets.to_u_s
            via_v = row.take(v)
            via_v += targets.to_v_s
            via_v[no_v] = np.inf
            np.minimum(via_u, via_v, out=out)
            out += targets.offroad_s
        t[:, ~ok] = np.inf
        return t

    def _same_edge(self, sources: Snap, targets: Snap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs snapped to the same edge, with the direct time along it: ``(source, target, time_s)``."""
        s_ok = np.flatnonzero(sources.snapped)
        has_source = np.zeros(len(self.length_m), dtype=bool)
        has_source[sources.edge[s_ok]] = True
        t_ok = np.flatnonzero(targets.snapped & has_source[np.maximum(targets.edge, 0)])
        order = np.argsort(sources.edge[s_ok], kind="stable")
        s_edge = sources.edge[s_ok][order]
        t_edge = targets.edge[t_ok]
        lo = np.searchsorted(s_edge, t_edge, side="left")
        cnt = np.searchsorted(s_edge, t_edge, side="right") - lo
        total = int(cnt.sum())
        ti = np.repeat(t_ok, cnt)
        si = s_ok[order[np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)]]
        e = targets.edge[ti]
        step = targets.along_m[ti] - sources.along_m[si]
        along = self.walk_along_s(e, targets.along_m[ti], sources.along_m[si])  # home -> facility
        keep = ~(self.oneway[e] & (step < 0))
        return si[keep], ti[keep], (sources.offroad_s[si] + along + targets.offroad_s[ti])[keep]

    def nearest_times(self, sources: Snap, targets: Snap, *, cutoff_s: float = np.inf) -> np.ndarray:
        """Time from each target to its nearest source (multi-source Dijkstra); ``inf`` if none within cutoff."""
        return self.nearest_times_by_group(sources, np.zeros(len(sources), dtype=np.int64), 1, targets,
                                           cutoff_s=cutoff_s)[0]

    def nearest_times_by_group(self, sources: Snap, group: np.ndarray, n_groups: int, targets: Snap, *,
                               cutoff_s: float = np.inf) -> np.ndarray:
        """Time from each target to its nearest source of each group: ``(n_groups, len(targets))``,
        ``inf`` if none within the cutoff. ``group[i]`` (0 .. n_groups - 1) is source ``i``'s
        group, -1 for none. One search call: a virtual node per group joined to its sources
        (the same times as :meth:`nearest_times` on each group's sources alone).
        """
        group = np.asarray(group, dtype=np.int64)
        if n_groups < 0 or len(group) != len(sources) or (len(group) and (group.max() >= n_groups or group.min() < -1)):
            raise ValueError(f"group must give each of the {len(sources)} sources a number from 0 to n_groups - 1 "
                             f"(n_groups={n_groups}), or -1 for none")
        if not (sources.snapped & (group >= 0)).any():
            return np.full((n_groups, len(targets)), np.inf)
        t = self.point_times(self.node_times(sources, cutoff_s=cutoff_s, group=group, n_groups=n_groups), targets)
        src, tgt, time_s = self._same_edge(sources, targets)
        mine = group[src] >= 0
        if mine.any():
            np.minimum.at(t, (group[src[mine]], tgt[mine]), time_s[mine])
        if np.isfinite(cutoff_s):
            t[t > cutoff_s] = np.inf
        return t

    def times_to_points(self, sources: Snap, targets: Snap, *, cutoff_s: float) -> sp.csr_matrix:
        """Sparse source-by-target matrix of times within ``cutoff_s`` (catchments), exact.

        Network time is never shorter than the straight-line distance at the fastest speed
        (``max_speed_mps``: the fastest edge; Tobler's downhill best with slope), so a source
        reaches within the cutoff only nodes and targets inside its disc of radius
        ``cutoff_s x max_speed_mps``. A stored entry means "within the cutoff" (a time of
        exactly zero is stored as 1e-9 s).

        Sources whose discs do not meet share one multi-source Dijkstra
        (:meth:`_catchment_confined`), and the targets come from the reached nodes, never an
        n-wide row a source. :meth:`times_to_points_dense` (one whole-network row a source, every
        target's time) is the simple reference the tests compare with: one fast path, one reference.
        """
        radius = cutoff_s * self.max_speed_mps
        ok = np.flatnonzero(sources.snapped)
        t_ok = np.flatnonzero(targets.snapped)
        if len(ok) == 0 or len(t_ok) == 0:
            return sp.csr_matrix((len(sources), len(targets)))
        rows, cols, vals, in_order = self._catchment_confined(sources, targets, ok, t_ok, cutoff_s, radius)
        return self._to_matrix(rows, cols, vals, sources, targets, cutoff_s, in_order=in_order)

    def _to_matrix(self, rows, cols, vals, sources: Snap, targets: Snap, cutoff_s: float, *,
                   in_order: bool = False) -> sp.csr_matrix:
        """Network pairs plus same-edge pairs as one sparse matrix, the faster time kept for a pair.

        ``in_order``: the network pairs are unique and in (source, target) order already (the
        confined search's): the few same-edge pairs are merged into them, no sort of all pairs.
        """
        s_src, s_tgt, s_time = self._same_edge(sources, targets)
        near = s_time <= cutoff_s
        s_src, s_tgt, s_time = s_src[near], s_tgt[near], s_time[near]
        nt = max(len(targets), 1)
        if in_order:
            key = np.concatenate(rows).astype(np.int64) * nt + np.concatenate(cols)
            v = np.maximum(np.concatenate(vals).astype(float), 1e-9)
            # same-edge pairs: sorted, one per (source, target) (the faster), then merged in
            ks = s_src.astype(np.int64) * nt + s_tgt
            vs = np.maximum(s_time.astype(float), 1e-9)
            o = np.lexsort((vs, ks))
            ks, vs = ks[o], vs[o]
            one = np.r_[True, ks[1:] != ks[:-1]] if len(ks) else np.zeros(0, dtype=bool)
            ks, vs = ks[one], vs[one]
            at = np.searchsorted(key, ks)
            hit = at < len(key)
            hit[hit] = key[at[hit]] == ks[hit]
            v[at[hit]] = np.minimum(v[at[hit]], vs[hit])
            key = np.insert(key, at[~hit], ks[~hit])
            v = np.insert(v, at[~hit], vs[~hit])
            indptr = np.searchsorted(key, np.arange(len(sources) + 1) * nt, side="left")
            return sp.csr_matrix((v, key - np.repeat(np.arange(len(sources)) * nt, np.diff(indptr)), indptr),
                                 shape=(len(sources), len(targets)))
        r = np.concatenate(rows + [s_src]).astype(np.int64)
        c = np.concatenate(cols + [s_tgt]).astype(np.int64)
        v = np.maximum(np.concatenate(vals + [s_time]).astype(float), 1e-9)
        # one sort on a single key (source, target), the minimum of a pair's times, the CSR arrays built directly
        key = r * nt + c
        order = np.argsort(key, kind="stable")
        key, v = key[order], v[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
        v = np.minimum.reduceat(v, first) if len(first) else v
        key = key[first]
        indptr = np.searchsorted(key // nt, np.arange(len(sources) + 1), side="left")
        return sp.csr_matrix((v, key % nt, indptr), shape=(len(sources), len(targets)))

    def _catchment_confined(self, sources: Snap, targets: Snap, ok: np.ndarray, t_ok: np.ndarray,
                            cutoff_s: float, radius_m: float):
        """Catchments of the sources ``ok`` by searches of several sources at once whose discs do not meet.

        Every node a source reaches within the cutoff lies within ``radius_m`` of it (straight-line
        bound), so when the sources of one search are more than ``2 x radius_m`` apart no node
        is within reach of two of them: one multi-source Dijkstra (``min_only``) gives each
        reached node the time from the one source that reaches it, and its ``sources`` output
        says which. Groups: :func:`_disjoint_groups` (a greedy colouring of the sources closer than
        ``2 x radius_m + 1`` m). Each search starts an n-wide row, so the cost is (number of
        searches) x nodes plus the searched discs: never more than whole-network rows, one a source.
        The targets of each search's reached nodes are read at once (:meth:`_join_targets`).
        Returns ``(rows, cols, vals, in_order)`` for :meth:`_to_matrix`.
        """
        n, B = self.n_nodes, len(ok)
        group = _disjoint_groups(sources.xy[ok], radius_m)
        by_group = np.argsort(group, kind="stable")
        gs = group[by_group]
        cuts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1], True])
        rows, cols, w = self._source_arcs(sources, ok, np.arange(B))
        g = self._append_rows(self.graph, B, rows, cols, w)
        if self._node_rank is None:  # nodes in Z-order of 100 m cells: see _target_ends
            self._node_rank = np.empty(n, dtype=np.int64)
            self._node_rank[np.argsort(_morton(self.node_xy, 100.0), kind="stable")] = np.arange(n)
        ends = _target_ends(targets, self._node_rank)
        out_b, out_c, out_v = [], [], []
        for a, z in zip(cuts[:-1], cuts[1:]):
            d, _, src = dijkstra(g, directed=True, indices=n + by_group[a:z], limit=cutoff_s, min_only=True,
                                 return_predecessors=True)
            b, c, v = self._join_targets(d, src, ends, cutoff_s)
            out_b.append(b)
            out_c.append(c)
            out_v.append(v)
        b, c, v = np.concatenate(out_b), np.concatenate(out_c), np.concatenate(out_v)
        o = _radix_order(b.astype(np.int64) * len(targets) + c, B * len(targets))
        return [ok[b[o]]], [c[o]], [v[o]], True

    def _join_targets(self, d: np.ndarray, src: np.ndarray, ends: _TargetEnds, cutoff_s: float):
        """Targets within the cutoff of one grouped search: ``(source, target, time)``, one per pair, unordered.

        ``d``/``src``: the search's times and sources (``min_only``; a source's virtual node is
        ``n_nodes + b``). Each reached node gives the entries of the targets leaving from it
        (:class:`_TargetEnds`): time ``d[node] + leg``, for the source that reached the node. A
        target whose other end was reached by the same source keeps the faster end only (the
        ``u`` end on a tie), as :meth:`point_times` takes the minimum of its two ends; an end
        reached by another source of the search is that source's pair.
        """
        n = self.n_nodes
        dn = d[:n]
        x = np.flatnonzero(dn <= cutoff_s)
        x = x[ends.has.take(x)]
        lo = ends.start.take(x)
        cnt = ends.count.take(x)
        e = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
        f = ends.times.take(e, axis=0)
        t_end = np.repeat(dn.take(x), cnt) + f[:, 0]
        t = t_end + f[:, 1]
        k = np.flatnonzero(t <= cutoff_s)  # beyond it: no pair by this end (a faster other end has its entry)
        ids = ends.ids.take(e.take(k), axis=0)
        t_end, t, t_other = t_end.take(k), t.take(k), f[:, 2].take(k)
        s = np.repeat(src.take(x), cnt).take(k)
        y = ids[:, 0]
        t_other += dn.take(y)
        keep = np.flatnonzero(~((src.take(y) == s) & ((t_other < t_end) | ((t_other == t_end) & (ids[:, 2] == 1)))))
        return s.take(keep) - n, ids[:, 1].take(keep), t.take(keep)

    def times_to_points_dense(self, sources: Snap, targets: Snap, *, cutoff_s: float) -> sp.csr_matrix:
        """Reference for :meth:`times_to_points`: one whole-network Dijkstra row per source (slow, simple)."""
        rows, cols, vals = [], [], []
        ok = np.flatnonzero(sources.snapped)
        block = max(1, int(2e7 // max(1, self.n_nodes + len(targets))))
        for start in range(0, len(ok), block):
            idx = ok[start:start + block]
            t = self.point_times(self.node_times(subset(sources, idx), cutoff_s=cutoff_s, separate=True), targets)
            r, c = np.nonzero(t <= cutoff_s)
            rows.append(idx[r])
            cols.append(c)
            vals.append(t[r, c])
        return self._to_matrix(rows, cols, vals, sources, targets, cutoff_s)
