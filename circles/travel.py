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
    to_u_s: np.ndarray  # time from the snap position to u along the edge
    to_v_s: np.ndarray
    along_m: np.ndarray  # distance of the snap position from u, along the edge
    offroad_m: np.ndarray
    offroad_s: np.ndarray
    snapped: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.edge)


class TravelNetwork:
    """A road network prepared for repeated exact travel-time queries.

    Built once per study; holds the CSR matrix of edge times and a spatial index of edges.

    Parameters
    ----------
    nodes, edges
        From :func:`circles.io.network.load_network` (metric CRS, ``u``, ``v``, ``length_m``).
    walk_speed_mps
        Walking speed (m/s) on foot edges and on every off-road leg.
    profile
        ``"walk"``, or ``"drive"`` (uses the edges' ``speed_kph``).
    """

    def __init__(self, nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *, walk_speed_mps: float,
                 profile: str = "walk"):
        if walk_speed_mps <= 0:
            raise ValueError(f"walk_speed_mps must be positive, got {walk_speed_mps}")
        self.nodes = nodes
        self.edges = edges
        self.crs = edges.crs
        self.walk_speed_mps = float(walk_speed_mps)
        self.profile = profile
        length = edges["length_m"].to_numpy(dtype=float)
        if profile == "drive":
            speed_mps = edges["speed_kph"].to_numpy(dtype=float) / 3.6
            self.edge_time_s = length / speed_mps
            self.max_speed_mps = float(np.nanmax(speed_mps))
        else:
            self.edge_time_s = length / self.walk_speed_mps
            self.max_speed_mps = self.walk_speed_mps
        self.length_m = length
        self.u = edges["u"].to_numpy(dtype=np.int64)
        self.v = edges["v"].to_numpy(dtype=np.int64)
        self.n_nodes = len(nodes)
        self.graph = self._csr(self.n_nodes)
        self._tree = shapely.STRtree(edges.geometry.values)
        self._geoms = edges.geometry.values
        self.node_xy = shapely.get_coordinates(nodes.geometry.values)

    # ------------------------------------------------------------------ building
    def _csr(self, n: int, extra_rows=None, extra_cols=None, extra_w=None) -> sp.csr_matrix:
        rows = np.r_[self.u, self.v]
        cols = np.r_[self.v, self.u]
        w = np.r_[self.edge_time_s, self.edge_time_s]
        if extra_rows is not None:
            rows, cols, w = np.r_[rows, extra_rows], np.r_[cols, extra_cols], np.r_[w, extra_w]
        # parallel edges: keep the fastest (a CSR build would otherwise sum them)
        order = np.lexsort((w, cols, rows))
        rows, cols, w = rows[order], cols[order], w[order]
        first = np.r_[True, (np.diff(rows) != 0) | (np.diff(cols) != 0)]
        return sp.csr_matrix((w[first], (rows[first], cols[first])), shape=(n, n))

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
        )

    # ------------------------------------------------------------------ queries
    def node_times(self, sources: Snap, *, cutoff_s: float = np.inf, separate: bool = False) -> np.ndarray:
        """Time from the sources to every node.

        With ``separate=False`` one row: the time from the nearest source (multi-source).
        With ``separate=True`` one row per source. Nodes beyond ``cutoff_s`` are ``inf``.
        """
        ok = np.flatnonzero(sources.snapped)
        n = self.n_nodes
        k = len(ok) if separate else 1
        if len(ok) == 0:
            return np.full((len(sources) if separate else 1, n), np.inf)
        virt = n + (np.arange(len(ok)) if separate else np.zeros(len(ok), dtype=np.int64))
        rows = np.r_[virt, virt]
        cols = np.r_[sources.u[ok], sources.v[ok]]
        w = np.r_[sources.offroad_s[ok] + sources.to_u_s[ok], sources.offroad_s[ok] + sources.to_v_s[ok]]
        g = self._csr(n + k, rows, cols, w)
        limit = cutoff_s if np.isfinite(cutoff_s) else np.inf
        dist = dijkstra(g, directed=True, indices=np.arange(n, n + k), limit=limit)[:, :n]
        if separate and len(ok) != len(sources):
            full = np.full((len(sources), n), np.inf)
            full[ok] = dist
            return full
        return dist

    def point_times(self, node_time: np.ndarray, targets: Snap) -> np.ndarray:
        """Times at snapped ``targets`` from per-node times (rows of :meth:`node_times`).

        Adds the targets' partial edge and off-road leg; unsnapped targets get ``inf``.
        Same-edge direct paths are handled by :meth:`times_to_points`.
        """
        node_time = np.atleast_2d(node_time)
        ok = targets.snapped
        u = np.where(ok, targets.u, 0)
        v = np.where(ok, targets.v, 0)
        t = np.minimum(node_time[:, u] + targets.to_u_s, node_time[:, v] + targets.to_v_s) + targets.offroad_s
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
        along = np.abs(sources.along_m[si] - targets.along_m[ti]) / self.length_m[e] * self.edge_time_s[e]
        pairs["time_s"] = sources.offroad_s[si] + along + targets.offroad_s[ti]
        return pairs

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
        """Sparse source-by-target matrix of times within ``cutoff_s`` (catchments).

        Entries are travel times in seconds; a stored entry means "within the cutoff"
        (a time of exactly zero is stored as 1e-9 s so it is not mistaken for absence).
        """
        rows, cols, vals = [], [], []
        ok = np.flatnonzero(sources.snapped)
        block = max(1, int(2e7 // max(1, self.n_nodes + len(targets))))
        for start in range(0, len(ok), block):
            idx = ok[start:start + block]
            sub = subset(sources, idx)
            node_time = self.node_times(sub, cutoff_s=cutoff_s, separate=True)
            t = self.point_times(node_time, targets)
            r, c = np.nonzero(t <= cutoff_s)
            rows.append(idx[r])
            cols.append(c)
            vals.append(t[r, c])
        pairs = self._same_edge(sources, targets)
        pairs = pairs[pairs["time_s"] <= cutoff_s]
        rows.append(pairs["src"].to_numpy())
        cols.append(pairs["tgt"].to_numpy())
        vals.append(pairs["time_s"].to_numpy())
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        v = np.maximum(v, 1e-9)
        # duplicates (network path and same-edge path): keep the faster
        order = np.lexsort((v, c, r))
        r, c, v = r[order], c[order], v[order]
        first = np.r_[True, (np.diff(r) != 0) | (np.diff(c) != 0)] if len(r) else np.zeros(0, dtype=bool)
        return sp.csr_matrix((v[first], (r[first], c[first])), shape=(len(sources), len(targets)))


def subset(s: Snap, idx: np.ndarray) -> Snap:
    """The snaps of the points at positions ``idx``."""
    return Snap(**{name: getattr(s, name)[idx] for name in Snap.__dataclass_fields__})
