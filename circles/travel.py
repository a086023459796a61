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

Points farther than ``max_offroad_m`` from every road are *not* snapped: their time is
infinite and :func:`snap_points` reports them (column ``snapped`` False).

Multi-source searches start from virtual source nodes appended to the graph, joined
one-way to the two ends of each source's edge with the partial-edge-plus-off-road time;
so a search from several facilities at once is still exact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

log = logging.getLogger(__name__)


@dataclass
class Snap:
    """Where points meet the network (arrays aligned with the input points)."""

    edge: np.ndarray  # edge index, -1 where not snapped
    u: np.ndarray  # the edge's end nodes
    v: np.ndarray
    to_u_s: np.ndarray  # time between the snap position and u along the edge
    to_v_s: np.ndarray
    along_m: np.ndarray  # distance of the snap position from u, along the edge
    offroad_m: np.ndarray
    offroad_s: np.ndarray
    snapped: np.ndarray  # bool
    oneway: np.ndarray  # bool: the edge may only be travelled u -> v
    xy: np.ndarray  # the points' coordinates (n, 2), for confined searches

    def __len__(self) -> int:
        return len(self.edge)


def subset(s: Snap, idx: np.ndarray) -> Snap:
    """The snaps of the points at positions ``idx``."""
    return Snap(**{name: getattr(s, name)[idx] for name in Snap.__dataclass_fields__})


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
    """

    def __init__(self, nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *, walk_speed_mps: float,
                 profile: str = "walk"):
        if walk_speed_mps <= 0:
            raise ValueError(f"walk_speed_mps must be positive, got {walk_speed_mps}")
        if profile not in ("walk", "drive"):
            raise ValueError(f"profile must be 'walk' or 'drive', got {profile!r}")
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
        else:
            self.edge_time_s = length / self.walk_speed_mps
            self.max_speed_mps = self.walk_speed_mps
            ow = np.zeros(len(edges), dtype=bool)
        self.oneway = ow
        self.length_m = length
        self.u = edges["u"].to_numpy(dtype=np.int64)
        self.v = edges["v"].to_numpy(dtype=np.int64)
        self.n_nodes = len(nodes)
        two = ~ow
        rows = np.r_[self.u, self.v[two]]
        cols = np.r_[self.v, self.u[two]]
        w = np.r_[self.edge_time_s, self.edge_time_s[two]]
        # parallel edges: keep the fastest (building a CSR would otherwise sum them)
        order = np.lexsort((w, cols, rows))
        rows, cols, w = rows[order], cols[order], w[order]
        first = np.r_[True, (np.diff(rows) != 0) | (np.diff(cols) != 0)]
        self.graph = sp.csr_matrix((w[first], (rows[first], cols[first])), shape=(self.n_nodes, self.n_nodes))
        self.graph.sort_indices()
        self._tree = shapely.STRtree(edges.geometry.values)
        self._geoms = edges.geometry.values
        self.node_xy = shapely.get_coordinates(nodes.geometry.values)
        self._kdtree = None

    @property
    def kdtree(self):
        if self._kdtree is None:
            from scipy.spatial import cKDTree

            self._kdtree = cKDTree(self.node_xy)
        return self._kdtree

    # ------------------------------------------------------------------ snapping
    def snap_points(self, points: gpd.GeoDataFrame, *, max_offroad_m: float) -> Snap:
        """Snap each point to its nearest edge; points farther than ``max_offroad_m`` stay unsnapped."""
        if points.crs is not None and self.crs is not None and points.crs != self.crs:
            raise ValueError("points and network are in different CRSs; project the points first")
        geoms = points.geometry.values
        n = len(geoms)
        edge = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        if n:
            pi, ei = self._tree.query_nearest(geoms, return_distance=False, all_matches=False)
            edge[pi] = ei
            dist[pi] = shapely.distance(geoms[pi], self._geoms[ei])
        snapped = (edge >= 0) & (dist <= max_offroad_m)
        e = np.where(snapped, edge, 0)
        along = np.where(snapped, shapely.line_locate_point(self._geoms[e], geoms), 0.0) if n else np.zeros(0)
        frac = np.clip(along / self.length_m[e], 0.0, 1.0) if n else np.zeros(0)
        t = self.edge_time_s[e] if n else np.zeros(0)
        return Snap(
            edge=np.where(snapped, edge, -1),
            u=np.where(snapped, self.u[e], -1),
            v=np.where(snapped, self.v[e], -1),
            to_u_s=frac * t,
            to_v_s=(1.0 - frac) * t,
            along_m=along,
            offroad_m=np.where(snapped, dist, np.inf),
            offroad_s=np.where(snapped, dist / self.walk_speed_mps, np.inf),
            snapped=snapped,
            oneway=self.oneway[e] & snapped if n else np.zeros(0, dtype=bool),
            xy=shapely.get_coordinates(geoms) if n else np.zeros((0, 2)),
        )

    # ------------------------------------------------------------------ queries
    @staticmethod
    def _source_arcs(sources: Snap, ok: np.ndarray, virt: np.ndarray):
        """Arcs from each source's virtual node to the ends of its edge (u only if two-way)."""
        back = ~sources.oneway[ok]
        rows = np.r_[virt, virt[back]]
        cols = np.r_[sources.v[ok], sources.u[ok][back]]
        w = np.r_[sources.offroad_s[ok] + sources.to_v_s[ok], (sources.offroad_s[ok] + sources.to_u_s[ok])[back]]
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

    def node_times(self, sources: Snap, *, cutoff_s: float = np.inf, separate: bool = False) -> np.ndarray:
        """Time from the sources to every node.

        With ``separate=False`` one row: the time from the nearest source (multi-source).
        With ``separate=True`` one row per source. Nodes beyond ``cutoff_s`` are ``inf``.
        """
        ok = np.flatnonzero(sources.snapped)
        n = self.n_nodes
        if len(ok) == 0:
            return np.full((len(sources) if separate else 1, n), np.inf)
        k = len(ok) if separate else 1
        virt = np.arange(len(ok)) if separate else np.zeros(len(ok), dtype=np.int64)
        rows, cols, w = self._source_arcs(sources, ok, virt)
        g = self._append_rows(self.graph, k, rows, cols, w)
        dist = dijkstra(g, directed=True, indices=np.arange(n, n + k), limit=cutoff_s)[:, :n]
        if separate and len(ok) != len(sources):
            full = np.full((len(sources), n), np.inf)
            full[ok] = dist
            return full
        return dist

    @staticmethod
    def point_times(node_time: np.ndarray, targets: Snap) -> np.ndarray:
        """Times at snapped ``targets`` from per-node times (rows of :meth:`node_times`).

        Adds the targets' partial edge and off-road leg; unsnapped targets get ``inf``.
        Same-edge direct paths are added by :meth:`nearest_times` and :meth:`times_to_points`.
        """
        node_time = np.atleast_2d(node_time)
        ok = targets.snapped
        u = np.where(ok, targets.u, 0)
        v = np.where(ok, targets.v, 0)
        from_v = np.where(targets.oneway, np.inf, node_time[:, v] + targets.to_v_s)
        t = np.minimum(node_time[:, u] + targets.to_u_s, from_v) + targets.offroad_s
        t[:, ~ok] = np.inf
        return t

    def _same_edge(self, sources: Snap, targets: Snap) -> pd.DataFrame:
        """Pairs (source, target) snapped to the same edge, with the direct time along it."""
        s_ok = np.flatnonzero(sources.snapped)
        t_ok = np.flatnonzero(targets.snapped)
        s = pd.DataFrame({"src": s_ok, "edge": sources.edge[s_ok]})
        t = pd.DataFrame({"tgt": t_ok, "edge": targets.edge[t_ok]})
        pairs = s.merge(t, on="edge")
        if pairs.empty:
            return pairs.assign(time_s=np.zeros(0))
        e = pairs["edge"].to_numpy()
        si, ti = pairs["src"].to_numpy(), pairs["tgt"].to_numpy()
        step = targets.along_m[ti] - sources.along_m[si]
        along = np.abs(step) / self.length_m[e] * self.edge_time_s[e]
        pairs["time_s"] = sources.offroad_s[si] + along + targets.offroad_s[ti]
        return pairs[~(self.oneway[e] & (step < 0))]

    def nearest_times(self, sources: Snap, targets: Snap, *, cutoff_s: float = np.inf) -> np.ndarray:
        """Time from each target to its nearest source (multi-source Dijkstra); ``inf`` if none within cutoff."""
        node_time = self.node_times(sources, cutoff_s=cutoff_s)
        t = self.point_times(node_time, targets)[0]
        pairs = self._same_edge(sources, targets)
        if len(pairs):
            best = pairs.groupby("tgt")["time_s"].min()
            idx = best.index.to_numpy()
            t[idx] = np.minimum(t[idx], best.to_numpy())
        if np.isfinite(cutoff_s):
            t[t > cutoff_s] = np.inf
        return t

    def times_to_points(self, sources: Snap, targets: Snap, *, cutoff_s: float) -> sp.csr_matrix:
        """Sparse source-by-target matrix of times within ``cutoff_s`` (catchments), exact.

        Each source searches only the part of the network it can reach: network time is
        never shorter than the straight-line distance at the fastest speed, so nodes and
        targets farther than ``cutoff_s x max speed`` in a straight line cannot be within
        the cutoff, and a Dijkstra on the sub-network inside that disc gives the same times
        as one on the whole network. A stored entry means "within the cutoff" (a time of
        exactly zero is stored as 1e-9 s).
        """
        from scipy.spatial import cKDTree

        radius = cutoff_s * self.max_speed_mps
        ok = np.flatnonzero(sources.snapped)
        t_ok = np.flatnonzero(targets.snapped)
        t_tree = cKDTree(targets.xy[t_ok]) if len(t_ok) else None
        local = np.full(self.n_nodes + 1, -1, dtype=np.int64)
        g = self.graph
        rows, cols, vals = [], [], []
        node_lists = self.kdtree.query_ball_point(sources.xy[ok], r=radius) if len(ok) else []
        tgt_lists = t_tree.query_ball_point(sources.xy[ok], r=radius) if t_tree is not None and len(ok) else []
        for i, s_idx in enumerate(ok):
            sub_nodes = np.asarray(node_lists[i], dtype=np.int64)
            cand = t_ok[np.asarray(tgt_lists[i], dtype=np.int64)] if len(tgt_lists) else np.zeros(0, np.int64)
            # the source's own edge ends must be present even if just outside the disc
            sub_nodes = np.union1d(sub_nodes, [sources.u[s_idx], sources.v[s_idx]])
            if len(cand) == 0:
                continue
            m = len(sub_nodes)
            local[sub_nodes] = np.arange(m)
            start, end = g.indptr[sub_nodes], g.indptr[sub_nodes + 1]
            counts = end - start
            flat = np.repeat(start - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
            lc = local[g.indices[flat]]
            keep = lc >= 0
            r_loc = np.repeat(np.arange(m), counts)[keep]
            sub = sp.csr_matrix((g.data[flat][keep], (r_loc, lc[keep])), shape=(m, m))
            one = subset(sources, np.array([s_idx]))
            one.u[:] = local[one.u]
            one.v[:] = local[one.v]
            vr, vc, vw = self._source_arcs(one, np.array([0]), np.array([0]))
            d = dijkstra(self._append_rows(sub, 1, vr, vc, vw), directed=True, indices=m, limit=cutoff_s)[:m]
            d = np.r_[d, np.inf]  # position m: "not in the disc"
            tu = local[np.where(targets.snapped[cand], targets.u[cand], self.n_nodes)]
            tv = local[np.where(targets.snapped[cand], targets.v[cand], self.n_nodes)]
            tu = np.where(tu < 0, m, tu)
            tv = np.where(tv < 0, m, tv)
            from_v = np.where(targets.oneway[cand], np.inf, d[tv] + targets.to_v_s[cand])
            t = np.minimum(d[tu] + targets.to_u_s[cand], from_v) + targets.offroad_s[cand]
            hit = t <= cutoff_s
            rows.append(np.full(hit.sum(), s_idx))
            cols.append(cand[hit])
            vals.append(t[hit])
            local[sub_nodes] = -1
        pairs = self._same_edge(sources, targets)
        pairs = pairs[pairs["time_s"] <= cutoff_s]
        rows.append(pairs["src"].to_numpy())
        cols.append(pairs["tgt"].to_numpy())
        vals.append(pairs["time_s"].to_numpy())
        r = np.concatenate(rows).astype(np.int64)
        c = np.concatenate(cols).astype(np.int64)
        v = np.maximum(np.concatenate(vals).astype(float), 1e-9)
        # duplicates (network path and same-edge path): keep the faster
        order = np.lexsort((v, c, r))
        r, c, v = r[order], c[order], v[order]
        first = np.r_[True, (np.diff(r) != 0) | (np.diff(c) != 0)] if len(r) else np.zeros(0, dtype=bool)
        return sp.csr_matrix((v[first], (r[first], c[first])), shape=(len(sources), len(targets)))

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
        pairs = self._same_edge(sources, targets)
        pairs = pairs[pairs["time_s"] <= cutoff_s]
        r = np.concatenate(rows + [pairs["src"].to_numpy()]).astype(np.int64)
        c = np.concatenate(cols + [pairs["tgt"].to_numpy()]).astype(np.int64)
        v = np.maximum(np.concatenate(vals + [pairs["time_s"].to_numpy()]).astype(float), 1e-9)
        order = np.lexsort((v, c, r))
        r, c, v = r[order], c[order], v[order]
        first = np.r_[True, (np.diff(r) != 0) | (np.diff(c) != 0)] if len(r) else np.zeros(0, dtype=bool)
        return sp.csr_matrix((v[first], (r[first], c[first])), shape=(len(sources), len(targets)))
