"""Independent oracles for the headline figures: nothing here imports circles.

Each function rebuilds a piece of the pipeline from the *input files* with other code
(pyosmium's ``SimpleHandler``, networkx, shapely, rasterio, prcoords, pyproj), written from
the README's rules ("Travel rules", "Rules", "What each indicator counts"), not from
circles' source. The tests in ``tests/test_oracle_*.py`` compare the pipeline's output
files (``units.csv``, ``coverage.gpkg``, ``summary.json``) with these numbers.

Decisions written down:

- The graph is kept at the level of single straight segments (consecutive vertices of a
  way). Cutting a way at every vertex instead of only at shared nodes changes no shortest
  path, and the nearest point of a way is the nearest point of one of its segments, so the
  times are the README's times.
- Lengths are planar in the study's projected CRS (the README: metric work in a projected CRS).
- A point snapped onto a segment is joined to both ends of it (partial lengths); a facility
  and a home on the same segment also get the direct path along it.
"""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

# README "Travel rules", walk column of the table, written out by hand
WALK_NO_HIGHWAY = {"motorway", "motorway_link", "cycleway", "construction", "proposed", "planned", "abandoned",
                   "razed", "platform", "raceway", "bus_guideway", "rest_area", "services", "no"}
FOOT_OPEN = {"yes", "designated", "permissive"}


def walkable(tags: dict) -> bool:
    """The README's walk profile for one OSM way's tags."""
    hw = tags.get("highway")
    if hw is None or tags.get("area") == "yes":
        return False
    foot = tags.get("foot")
    if foot in ("no", "private"):
        return False
    if hw == "cycleway":
        return foot in FOOT_OPEN
    if hw in WALK_NO_HIGHWAY:
        return False
    if tags.get("access") in ("no", "private") and foot not in FOOT_OPEN:
        return False
    if tags.get("service") == "private":
        return False
    for k in ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"):
        if tags.get(k) == "separate" and foot not in FOOT_OPEN:
            return False
    return True


def osm_walk_ways(path: Path, crs: str) -> tuple[list[list[tuple[object, float, float]]], int]:
    """Every walkable way of an OSM file as a list of (node id, x, y) in ``crs``; and the count of ways read."""
    import osmium

    class Ways(osmium.SimpleHandler):
        def __init__(self):
            super().__init__()
            self.ways, self.read = [], 0

        def way(self, w):
            tags = {t.k: t.v for t in w.tags}
            if "highway" not in tags:
                return
            self.read += 1
            if walkable(tags):
                self.ways.append([(n.ref, n.lon, n.lat) for n in w.nodes])

    h = Ways()
    h.apply_file(str(path), locations=True)
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out = []
    for way in h.ways:
        x, y = tr.transform([n[1] for n in way], [n[2] for n in way])
        out.append([(n[0], float(a), float(b)) for n, a, b in zip(way, x, y)])
    return out, h.read


def line_ways(lines) -> list[list[tuple[object, float, float]]]:
    """Ways of a centreline GeoDataFrame (projected), vertices keyed by coordinates to the millimetre."""
    out = []
    for g in lines.geometry.explode(index_parts=False):
        out.append([((round(x, 3), round(y, 3)), x, y) for x, y in np.asarray(g.coords)[:, :2]])
    return out


def _segment(xy: dict, a: list, b: list, p: tuple, q: tuple) -> bool:
    """Record the segment ``p`` -> ``q`` (``(node, x, y)`` each) unless both ends are one node; whether it was."""
    if p[0] == q[0]:
        return False
    xy.setdefault(p[0], p[1:])
    xy.setdefault(q[0], q[1:])
    a.append(p[0])
    b.append(q[0])
    return True


class Segments:
    """Straight segments of a road network and the undirected networkx graph on their ends."""

    def __init__(self, ways):
        a, b, piece, xy = [], [], [], {}
        # a "road" for the dead-end rule runs between nodes: line ends and vertices shared by lines
        seen: dict = {}
        for way in ways:
            ids = [n[0] for n in way]
            closed = len(ids) > 1 and ids[0] == ids[-1]
            for n in set(ids[:-1] if closed else ids):
                seen[n] = seen.get(n, 0) + 1
            for n in ids[1:-1]:
                if ids.count(n) > 1:
                    seen[n] = seen.get(n, 0) + 1
        for k, way in enumerate(ways):
            cut = 0
            for i, ((n1, x1, y1), (n2, x2, y2)) in enumerate(zip(way[:-1], way[1:])):
                if i > 0 and seen.get(n1, 0) >= 2:
                    cut += 1
                if _segment(xy, a, b, (n1, x1, y1), (n2, x2, y2)):
                    piece.append((k, cut))
        self.xy = xy
        self.a, self.b, self.piece = a, b, piece
        self._rebuild()

    def _rebuild(self):
        self.geom = np.array([shapely.LineString([self.xy[p], self.xy[q]]) for p, q in zip(self.a, self.b)])
        self.length = shapely.length(self.geom)
        g = nx.Graph()
        for p, q, w in zip(self.a, self.b, self.length):
            if not g.has_edge(p, q) or g[p][q]["weight"] > w:
                g.add_edge(p, q, weight=float(w))
        self.graph = g
        # README: the main network is every connected piece with at least 1 km of road
        piece_len = {}
        comp_of = {}
        for i, comp in enumerate(nx.connected_components(g)):
            for n in comp:
                comp_of[n] = i
            piece_len[i] = sum(d["weight"] for _, _, d in g.subgraph(comp).edges(data=True))
        self.main = np.array([piece_len[comp_of[p]] >= 1000.0 for p in self.a])

    def join_dead_ends(self, tolerance_m: float) -> int:
        """README "join_tolerance_m": a dead end is joined by a straight connector to the nearest
        point of the nearest road not touching it, within the tolerance (to a road end within 0.5 m
        of that point, else the road is split there). Returns the number of joins."""
        deg = dict(self.graph.degree())
        dead = [n for n, d in deg.items() if d == 1]
        joins = []
        tree = shapely.STRtree(self.geom)
        for n in dead:
            pt = shapely.Point(self.xy[n])
            own = {self.piece[i] for i in range(len(self.a)) if n in (self.a[i], self.b[i])}
            best = None
            for i in tree.query(pt, predicate="dwithin", distance=tolerance_m):
                if self.piece[i] in own:
                    continue
                d = self.geom[i].distance(pt)
                if best is None or d < best[0]:
                    best = (d, i)
            if best is not None:
                joins.append((n, best[1], pt))
        new_a, new_b, new_p = list(self.a), list(self.b), list(self.piece)
        splits: dict[int, list] = {}
        for k, (n, i, pt) in enumerate(joins):
            line = self.geom[i]
            along = line.project(pt)
            if along <= 0.5:
                tgt = self.a[i]
            elif along >= line.length - 0.5:
                tgt = self.b[i]
            else:
                tgt = ("join", k)
                q = line.interpolate(along)
                self.xy[tgt] = (q.x, q.y)
                splits.setdefault(i, []).append((along, tgt))
            new_a.append(n)
            new_b.append(tgt)
            new_p.append(("connector", k))
        drop = set(splits)
        for i, cuts in splits.items():
            chain = [self.a[i]] + [t for _, t in sorted(cuts, key=lambda c: c[0])] + [self.b[i]]
            new_a += chain[:-1]
            new_b += chain[1:]
            new_p += [self.piece[i]] * (len(chain) - 1)
        keep = [j for j in range(len(new_a)) if j not in drop]
        self.a, self.b = [new_a[j] for j in keep], [new_b[j] for j in keep]
        self.piece = [new_p[j] for j in keep]
        self._rebuild()
        return len(joins)

    def snap(self, xy: np.ndarray, max_offroad_m: float) -> pd.DataFrame:
        """README "Snapping and the off-road leg": nearest point of the nearest main-network segment
        within ``max_offroad_m``, else of the nearest segment of any piece within it, else not joined."""
        pts = shapely.points(xy)
        rows = []
        main_idx = np.flatnonzero(self.main)
        tree_main = shapely.STRtree(self.geom[main_idx])
        tree_all = shapely.STRtree(self.geom)
        for k, p in enumerate(pts):
            seg = None
            hit = tree_main.query_nearest(p, max_distance=max_offroad_m, all_matches=False)
            if len(hit):
                seg = int(main_idx[hit[0]])
            else:
                hit = tree_all.query_nearest(p, max_distance=max_offroad_m, all_matches=False)
                if len(hit):
                    seg = int(hit[0])
            if seg is None:
                rows.append((k, -1, np.nan, np.nan))
                continue
            line = self.geom[seg]
            rows.append((k, seg, line.project(p), line.distance(p)))
        return pd.DataFrame(rows, columns=["point", "seg", "along_m", "offroad_m"])

    def times_from(self, src: pd.DataFrame, dst: pd.DataFrame, *, speed_mps: float,
                   cutoff_s: float = math.inf) -> np.ndarray:
        """Time (s) from the nearest of the snapped sources to each snapped destination (inf: none)."""
        g = self.graph  # the source node is added for this search and removed after it
        S = ("source",)
        g.add_node(S)
        try:
            return self._times_from(g, S, src, dst, speed_mps, cutoff_s)
        finally:
            g.remove_node(S)

    def _times_from(self, g, S, src, dst, speed_mps, cutoff_s):
        best_direct = {}
        for r in src.itertuples():
            if r.seg < 0:
                continue
            p, q, L = self.a[r.seg], self.b[r.seg], self.length[r.seg]
            for node, d in ((p, r.along_m), (q, L - r.along_m)):
                w = r.offroad_m + d
                if not g.has_edge(S, node) or g[S][node]["weight"] > w:
                    g.add_edge(S, node, weight=w)
            best_direct.setdefault(r.seg, []).append((r.along_m, r.offroad_m))
        dist = nx.single_source_dijkstra_path_length(g, S, cutoff=cutoff_s * speed_mps + 1e-6, weight="weight")
        out = np.full(len(dst), np.inf)
        for k, r in enumerate(dst.itertuples()):
            if r.seg < 0:
                continue
            p, q, L = self.a[r.seg], self.b[r.seg], self.length[r.seg]
            m = min(dist.get(p, math.inf) + r.along_m, dist.get(q, math.inf) + L - r.along_m)
            for along, off in best_direct.get(r.seg, []):
                m = min(m, off + abs(along - r.along_m))
            out[k] = (m + r.offroad_m) / speed_mps
        out[out > cutoff_s] = np.inf
        return out


# README "Walking uphill": Tobler's hiking speed, scaled so that flat ground gives the walking speed
def tobler(g: float, w: float = 1.0) -> float:
    """Walking speed (m/s) on the grade ``g = rise / run``: ``w exp(-3.5 |g + 0.05|) / exp(-0.175)``."""
    return w * math.exp(-3.5 * abs(g + 0.05)) / math.exp(-0.175)


def population_cells(folder: Path, pattern: str, crs: str, *, elderly_min_age: int = 60,
                     child_woman_ratio: float = 0.15, under20_share: float = 0.23) -> pd.DataFrame:
    """README "Estimates" from the WorldPop-style bands by hand: elderly = bands 60+, infants =
    0.15 x women 20-39, total = people 20+ / (1 - 0.23). One row per raster cell (row, col, x, y)."""
    import re

    import rasterio

    rx = re.compile(re.escape(pattern).replace(r"\{age\}", r"(\d+)").replace(r"\{sex\}", r"([fm])"))
    bands = {}
    transform = src_crs = None
    for f in sorted(Path(folder).iterdir()):
        m = rx.fullmatch(f.name)
        if not m:
            continue
        with rasterio.open(f) as r:
            a = r.read(1, masked=True).astype(float)
            transform, src_crs = r.transform, r.crs
        bands[(int(m.group(1)), m.group(2))] = a
    nodata = np.logical_or.reduce([np.ma.getmaskarray(a) for a in bands.values()])
    fill = {k: np.ma.filled(a, 0.0) for k, a in bands.items()}
    elderly = sum(a for (age, _), a in fill.items() if age >= elderly_min_age)
    infants = child_woman_ratio * sum(a for (age, sex), a in fill.items() if sex == "f" and 20 <= age < 40)
    adults = sum(a for (age, _), a in fill.items() if age >= 20)
    total = adults / (1.0 - under20_share)
    rows, cols = np.indices(total.shape)
    xs, ys = rasterio.transform.xy(transform, rows.ravel(), cols.ravel(), offset="center")
    x, y = Transformer.from_crs(src_crs, crs, always_xy=True).transform(np.asarray(xs), np.asarray(ys))
    return pd.DataFrame({"row_full": rows.ravel(), "col_full": cols.ravel(), "x": x, "y": y, "total": total.ravel(),
                         "elderly": elderly.ravel(), "infants": infants.ravel(), "nodata": nodata.ravel()})


#: README "What each indicator counts" and the gazetteer's Chinese kind names, by hand
KIND_ZH = {"社区日间照料中心": "daycare", "日间照料中心": "daycare", "养老院": "nursing_home",
           "街道综合养老服务中心": "elderly_centre", "综合养老服务中心": "elderly_centre",
           "社区助餐点": "meal_point", "助餐点": "meal_point", "托育机构": "nursery", "幼儿园": "kindergarten"}
KIND_ZH.update({k: k for k in ("daycare", "nursing_home", "elderly_centre", "meal_point", "nursery", "kindergarten")})
ELDERLY_KINDS = ("daycare", "nursing_home", "elderly_centre", "meal_point")


def read_gazetteer(path: Path, coords: str, crs: str, *, encoding: str = "utf-8-sig") -> pd.DataFrame:
    """A gazetteer CSV: kind from 类型, capacity numbers from 床位数/托位数 (leading digits), points
    in ``crs`` (GCJ-02 undone with prcoords' precise inverse)."""
    import prcoords

    df = pd.read_csv(path, encoding=encoding, dtype=str)
    df["kind"] = df["类型"].map(KIND_ZH)
    lon = pd.to_numeric(df["经度"], errors="coerce")
    lat = pd.to_numeric(df["纬度"], errors="coerce")
    if coords == "gcj02":
        ll = [gcj_to_wgs(la, lo, prcoords.wgs_gcj) if la == la else (np.nan, np.nan) for lo, la in zip(lon, lat)]
        lat = pd.Series([c[0] for c in ll])
        lon = pd.Series([c[1] for c in ll])
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon.to_numpy(), lat.to_numpy())
    df["x"], df["y"] = x, y

    def number(s):
        if not isinstance(s, str):
            return np.nan
        digits = "".join(ch for ch in s.strip() if ch.isdigit() or ch == ".")
        return float(digits) if digits and s.strip()[0].isdigit() else np.nan

    df["beds_n"] = df.get("床位数", pd.Series(dtype=str)).map(number) if "床位数" in df else np.nan
    df["slots_n"] = df.get("托位数", pd.Series(dtype=str)).map(number) if "托位数" in df else np.nan
    return df


def gcj_to_wgs(lat: float, lon: float, forward) -> tuple[float, float]:
    """Invert a forward WGS84 -> GCJ-02 transform (prcoords') by fixed-point iteration to 1e-13 degrees.

    prcoords' own ``gcj_wgs_bored`` stops near 1e-8 degrees (about 1 mm), too coarse for a 1e-6 s oracle."""
    wlat, wlon = lat, lon
    for _ in range(50):
        g = forward((wlat, wlon))
        dlat, dlon = g[0] - lat, g[1] - lon
        wlat, wlon = wlat - dlat, wlon - dlon
        if max(abs(dlat), abs(dlon)) < 1e-13:
            break
    return wlat, wlon


def gaussian(t: np.ndarray, d0: float) -> np.ndarray:
    """Dai (2010) Gaussian decay rescaled to 1 at t = 0 and 0 at the catchment edge, written from
    the formula (not circles.coverage.gaussian_weight)."""
    e = math.exp(-0.5)
    return (np.exp(-0.5 * (np.asarray(t, dtype=float) / d0) ** 2) - e) / (1 - e)


# --------------------------------------------------------------------------- the drive profile
#: README "Travel rules", drive column, by hand: classes a car never uses
DRIVE_NO_HIGHWAY = {"cycleway", "construction", "proposed", "planned", "abandoned", "razed", "platform", "raceway",
                    "bus_guideway", "rest_area", "services", "no", "footway", "path", "pedestrian", "steps",
                    "corridor", "track", "bridleway", "elevator"}
#: README table of Chinese classes (drive km/h by the OSM class they are read as); living_street 10
#: and road 30 from the network module's documented defaults; links take their parent's speed
DRIVE_KPH = {"motorway": 100, "trunk": 80, "primary": 65, "secondary": 60, "tertiary": 50, "unclassified": 30,
             "residential": 30, "living_street": 10, "service": 20, "road": 30}


def drivable(tags: dict) -> bool:
    hw = tags.get("highway")
    if hw is None or hw in DRIVE_NO_HIGHWAY or tags.get("area") == "yes":
        return False
    if tags.get("access") in ("no", "private"):
        return False
    if tags.get("service") in ("private", "parking", "parking_aisle", "emergency_access"):
        return False
    return tags.get("motor_vehicle") != "no" and tags.get("motorcar") != "no"


def drive_kph(hw: str) -> float:
    return float(DRIVE_KPH.get(hw[:-5] if hw.endswith("_link") else hw, 30))


def osm_drive_ways(path: Path, crs: str) -> list[tuple[list[tuple[object, float, float]], bool, float]]:
    """Drivable ways as (vertices in the direction of travel, one-way?, km/h): ``oneway=-1`` reversed,
    ``oneway=yes/true/1`` and roundabouts one-way."""
    import osmium

    class Ways(osmium.SimpleHandler):
        def __init__(self):
            super().__init__()
            self.ways = []

        def way(self, w):
            tags = {t.k: t.v for t in w.tags}
            if drivable(tags):
                flag = str(tags.get("oneway", "no")).lower()
                nodes = [(n.ref, n.lon, n.lat) for n in w.nodes]
                if flag == "-1":
                    nodes = nodes[::-1]
                one = flag in ("yes", "true", "1", "-1") or tags.get("junction") in ("roundabout", "circular")
                self.ways.append((nodes, one, drive_kph(tags["highway"])))

    h = Ways()
    h.apply_file(str(path), locations=True)
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out = []
    for nodes, one, kph in h.ways:
        x, y = tr.transform([n[1] for n in nodes], [n[2] for n in nodes])
        out.append(([(n[0], float(a), float(b)) for n, a, b in zip(nodes, x, y)], one, kph))
    return out


class DriveSegments:
    """Directed segments with a speed each; a networkx DiGraph weighted by seconds."""

    def __init__(self, ways, *, walk_speed_mps: float):
        self.walk = walk_speed_mps
        a, b, one, v, xy = [], [], [], [], {}
        for nodes, oneway, kph in ways:
            for (n1, x1, y1), (n2, x2, y2) in zip(nodes[:-1], nodes[1:]):
                if _segment(xy, a, b, (n1, x1, y1), (n2, x2, y2)):
                    one.append(oneway)
                    v.append(kph / 3.6)
        self.a, self.b, self.one, self.v, self.xy = a, b, np.array(one), np.array(v), xy
        self.geom = np.array([shapely.LineString([xy[p], xy[q]]) for p, q in zip(a, b)])
        self.length = shapely.length(self.geom)
        g = nx.DiGraph()
        for p, q, o, L, s in zip(a, b, one, self.length, v):
            for x, y in ((p, q),) if o else ((p, q), (q, p)):
                if not g.has_edge(x, y) or g[x][y]["weight"] > L / s:
                    g.add_edge(x, y, weight=float(L / s))
        self.graph = g
        und = g.to_undirected()
        piece_len, comp_of = {}, {}
        for i, comp in enumerate(nx.connected_components(und)):
            for n in comp:
                comp_of[n] = i
            piece_len[i] = 0.0
        for p, L in zip(a, self.length):
            piece_len[comp_of[p]] += L
        self.main = np.array([piece_len[comp_of[p]] >= 1000.0 for p in a])

    snap = Segments.snap

    def times_to(self, fac: pd.DataFrame, homes: pd.DataFrame, cutoff_s: float = math.inf) -> np.ndarray:
        """Time (s) from each snapped home to the nearest snapped facility, in the direction of travel
        (Dijkstra on the reversed DiGraph from the facilities)."""
        r = self.graph.reverse(copy=True)
        S = ("source",)
        r.add_node(S)
        direct = {}
        for f in fac.itertuples():
            if f.seg < 0:
                continue
            i, v = f.seg, self.v[f.seg]
            off = f.offroad_m / self.walk
            at_end = f.along_m >= self.length[i] - 1e-9  # at the junction b itself: arriving there is arriving
            arrivals = [(self.a[i], f.along_m / v)] + \
                ([] if self.one[i] and not at_end else [(self.b[i], (self.length[i] - f.along_m) / v)])
            for node, w in arrivals:
                if not r.has_edge(S, node) or r[S][node]["weight"] > off + w:
                    r.add_edge(S, node, weight=off + w)
            direct.setdefault(i, []).append((f.along_m, off))
        dist = nx.single_source_dijkstra_path_length(r, S, cutoff=cutoff_s + 1e-6, weight="weight")
        out = np.full(len(homes), np.inf)
        for k, h in enumerate(homes.itertuples()):
            if h.seg < 0:
                continue
            i, v = h.seg, self.v[h.seg]
            m = dist.get(self.b[i], math.inf) + (self.length[i] - h.along_m) / v
            if not self.one[i] or h.along_m <= 1e-9:  # a home at the junction a may leave by any road
                m = min(m, dist.get(self.a[i], math.inf) + h.along_m / v)
            for along, off in direct.get(i, []):
                if along >= h.along_m or not self.one[i]:
                    m = min(m, off + abs(along - h.along_m) / v)
            out[k] = m + h.offroad_m / self.walk
        out[out > cutoff_s] = np.inf
        return out

    def node_times(self, fac: pd.DataFrame) -> dict:
        """Time (s) from every road node to the nearest snapped facility, in the direction of travel."""
        r = self.graph.reverse(copy=True)
        S = ("source",)
        r.add_node(S)
        for f in fac.itertuples():
            if f.seg < 0:
                continue
            i, v, off = f.seg, self.v[f.seg], f.offroad_m / self.walk
            r.add_edge(S, self.a[i], weight=min(off + f.along_m / v, r[S][self.a[i]]["weight"]
                                                if r.has_edge(S, self.a[i]) else math.inf))
            if not self.one[i]:
                w = off + (self.length[i] - f.along_m) / v
                r.add_edge(S, self.b[i], weight=min(w, r[S][self.b[i]]["weight"] if r.has_edge(S, self.b[i])
                                                    else math.inf))
        dist = nx.single_source_dijkstra_path_length(r, S, weight="weight")
        dist.pop(S)
        return dist


# README "What each indicator counts" (coverage shares, time statistics, people beyond), one unit at a time
INFANT_KINDS = ("nursery", "kindergarten")


def unit_summary(points: pd.DataFrame, thresholds_min, kinds) -> dict:
    """Every coverage figure of one unit's population points, the plain way: a loop over the groups,
    kinds and thresholds, the weighted median / p90 as the first value whose cumulative weight (in
    ascending time) reaches q x the total. ``points`` carry ``total``, ``elderly``, ``infants``,
    ``time_s_<kind>`` and ``time_s_<group>_any``. The oracle for ``circles.coverage.aggregate``."""

    def quantile(t, w, q):
        keep = w > 0
        if not keep.any():
            return math.nan
        order = np.argsort(t[keep], kind="stable")
        tv, wv = t[keep][order], w[keep][order]
        cum = np.cumsum(wv)
        return float(tv[min(int(np.searchsorted(cum, q * cum[-1], side="left")), len(tv) - 1)])

    row = {"pop_total": float(points["total"].sum()), "pop_elderly": float(points["elderly"].sum()),
           "pop_infants": float(points["infants"].sum()), "n_cells": int(len(points))}
    tmax = max(thresholds_min)
    for group, own in (("elderly", ELDERLY_KINDS), ("infants", INFANT_KINDS)):
        w = points[group].to_numpy(float)
        pop = w.sum()
        for kind in ["any"] + [k for k in own if k in kinds]:
            t = points[f"time_s_{group}_any" if kind == "any" else f"time_s_{kind}"].to_numpy(float)
            for m in thresholds_min:
                row[f"cov_{group}_{kind}_{m:g}min"] = w[t <= m * 60.0].sum() / pop if pop > 0 else math.nan
        t = points[f"time_s_{group}_any"].to_numpy(float) / 60.0
        reach = np.isfinite(t)
        row[f"time_{group}_mean_min"] = float(np.average(t[reach], weights=w[reach])) if w[reach].sum() > 0 else math.nan
        row[f"time_{group}_median_min"] = quantile(t, w, 0.5)
        row[f"time_{group}_p90_min"] = quantile(t, w, 0.9)
        row[f"beyond_{group}_{tmax:g}min"] = float(w[t > tmax].sum())
        row[f"unreached_{group}"] = float(w[~reach].sum())
    return row
