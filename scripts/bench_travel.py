"""Benchmark the travel-time engine against networkx and bare scipy, each used as a competent user would.

Usage::

    python scripts/bench_travel.py [--osm PATH] [--side 450] [--facilities 300] [--points 50000] [--repeat 3]

Two networks, in one run:

1. **Real OSM** (default: the complete 2017 Wuhan extract, ``../shared/data/wuhan-core``, walk
   profile). Exactness is checked against a graph **networkx builds itself from the OSM file**:
   the file is read here with pyosmium (not with our loader), every pair of consecutive way
   nodes becomes an ``nx.Graph`` edge weighted by its own projected length (UTM 50N, pyproj)
   at 1 m/s, for the ways the walk rule table keeps. ``max_abs_diff_s`` is the largest
   difference between our node times and networkx's multi-source Dijkstra on that graph.
2. **Street grid** of ``side x side`` nodes (default 202,500), blocks of 50 m with +-5 m
   jitter and 8 % of the streets removed: the scale figures.

Every method is timed the same way: the best of ``--repeat`` runs, the methods of one
comparison taking turns within each round (a busy moment on a shared machine does not
fall on one method only). Methods:

- nearest facility for every population point:
  ours ``TravelNetwork.nearest_times`` (edge snapping, exact partial edges, times at the points);
  networkx ``multi_source_dijkstra_path_length(G, facility_nodes)`` then a lookup at each
  point's nearest node; bare scipy ``dijkstra(indices=facility_nodes, min_only=True)``
  (node times only: the floor any scipy-based engine pays);
- 15-minute catchments of every facility: ours ``times_to_points``; networkx
  ``single_source_dijkstra_path_length(G, s, cutoff=900)`` per facility (what a competent
  networkx user writes), then a lookup of the points; osmnx ``ego_graph`` + hull (printed only);
- end to end = graph build + snapping + nearest query. Ours: ``TravelNetwork(nodes, edges)``
  + ``snap_points`` + ``nearest_times``; networkx: ``add_weighted_edges_from`` + nearest node
  of every point and facility with ``scipy.spatial.cKDTree`` (what ``osmnx.distance.nearest_nodes``
  does) + ``multi_source_dijkstra_path_length``. File reading is the same for both and excluded.

The last line sums the run up as key=value pairs: the speed keys from the large grid, the
exactness key from the real OSM graph, and the same speed keys from the real network prefixed
``real_``: ``real_end_to_end_vs_networkx`` (networkx + cKDTree time / ours, end to end),
``real_speedup_vs_nx_cutoff`` (networkx cutoff searches / our catchments) and
``real_overhead_vs_scipy`` (our catchments / bare scipy dense ``dijkstra`` rows of the
facilities' nodes with the same limit: the floor of a scipy engine, so lower is better).

3. **Slope** (issue 23): the travel stage with a DEM, ``TravelNetwork(slope=edge_slope_times(...))``
   + snap + nearest, against the flat stage, on the real network with a generated DEM (40 m
   hills, 1 arc-second pixels, written to a temporary folder): once as a geographic GeoTIFF
   (EPSG:4326, as SRTM is distributed: every sample is transformed with pyproj) and once in
   the study's CRS. ``slope_stage_vs_flat`` and ``slope_stage_vs_flat_projected`` are the
   wall-clock ratios (best of ``--repeat``, taking turns), ``..._cpu`` the same in CPU time (the
   steadier on a shared machine), ``slope_times_cpu_s`` the CPU seconds of ``edge_slope_times``
   alone on the geographic DEM.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from circles.travel import TravelNetwork

ROOT = Path(__file__).resolve().parents[1]
WALK = 1.0
CUTOFF_S = 900.0
CRS = "EPSG:32650"
DEFAULT_OSM = ROOT.parent.parent / "shared/data/wuhan-core/wuhan_osm_2017.osm.pbf"


def best_of_each(fns: dict, repeat: int) -> dict:
    """Best of ``repeat`` runs of every method, the methods taking turns within each round (so
    a busy moment on a shared machine does not fall on one method only). ``{name: (s, out)}``."""
    res = {k: (np.inf, None) for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
            res[k] = (min(res[k][0], dt), out)
    return res


def grid_network(side: int, spacing_m: float = 50.0, drop: float = 0.08, seed: int = 1):
    rng = np.random.default_rng(seed)
    ij = np.indices((side, side)).reshape(2, -1).T
    xy = ij * spacing_m + rng.uniform(-5, 5, size=ij.shape) + 500_000.0
    idx = np.arange(side * side).reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = rng.random(len(u)) > drop
    u, v = u[keep], v[keep]
    coords = np.stack([xy[u], xy[v]], axis=1)
    geoms = shapely.linestrings(coords)
    nodes = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=CRS)
    edges = gpd.GeoDataFrame({"u": u, "v": v, "highway": "residential", "oneway": False}, geometry=geoms, crs=CRS)
    edges["length_m"] = shapely.length(geoms)
    edges["speed_kph"] = np.nan
    return nodes, edges


def near_road_points(edges, n, seed):
    """Population-like points: on random edges, jittered up to 60 m off the road."""
    rng = np.random.default_rng(seed)
    e = rng.integers(0, len(edges), n)
    p = shapely.line_interpolate_point(edges.geometry.values[e], rng.random(n), normalized=True)
    xy = shapely.get_coordinates(p) + rng.uniform(-60, 60, size=(n, 2))
    return gpd.GeoDataFrame(geometry=shapely.points(xy), crs=edges.crs)


def nx_from_osm(path: Path):
    """networkx's own graph of the OSM file: consecutive way nodes, projected lengths, walk rules."""
    import osmium
    import pandas as pd
    from pyproj import Transformer

    from circles.io.network import OSM_TAGS, usable_ways

    refs, lonlat, tags = [], [], []
    for w in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations() \
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)).with_filter(osmium.filter.KeyFilter("highway")):
        try:
            pts = [(n.ref, n.lon, n.lat) for n in w.nodes]
        except osmium.InvalidLocationError:
            continue
        refs.append([p[0] for p in pts])
        lonlat.append([(p[1], p[2]) for p in pts])
        tags.append({k: w.tags.get(k) for k in OSM_TAGS})
    keep = usable_ways(pd.DataFrame(tags), "walk")
    tr = Transformer.from_crs(4326, CRS, always_xy=True)
    G = nx.Graph()
    for k, r, ll in zip(keep, refs, lonlat):
        if not k:
            continue
        x, y = tr.transform(*np.asarray(ll).T)
        seg = np.hypot(np.diff(x), np.diff(y))
        for a, b, d in zip(r[:-1], r[1:], seg):
            if a != b and (not G.has_edge(a, b) or G[a][b]["w"] > d / WALK):
                G.add_edge(a, b, w=d / WALK)
    return G


def write_dem(nodes, folder: Path, crs: str) -> Path:
    """A generated DEM over the network: 40 m sine hills, 1 arc-second pixels (~30 m), in ``crs``."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    x0, y0, x1, y1 = nodes.total_bounds
    if crs == "EPSG:4326":
        tr = Transformer.from_crs(nodes.crs, 4326, always_xy=True)
        (lon0, lon1), (lat0, lat1) = tr.transform([x0, x1], [y0, y1])
        res, pad = 1 / 3600, 5 / 3600
        left, top = lon0 - pad, lat1 + pad
        w, h = int((lon1 - lon0 + 2 * pad) / res) + 1, int((lat1 - lat0 + 2 * pad) / res) + 1
        fx, fy = 300.0, 250.0  # waves per radian of lon/lat: hills a few km across
    else:
        res, pad = 30.0, 150.0
        left, top = x0 - pad, y1 + pad
        w, h = int((x1 - x0 + 2 * pad) / res) + 1, int((y1 - y0 + 2 * pad) / res) + 1
        fx = fy = 1 / 600.0
    xc = left + res * (np.arange(w) + 0.5)
    yc = top - res * (np.arange(h) + 0.5)
    z = (40 * np.sin(xc * fx)[None, :] * np.cos(yc * fy)[:, None] + 50).astype("float32")
    path = folder / f"dem_{crs.replace(':', '')}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=crs,
                       transform=from_origin(left, top, res, res), nodata=-9999.0) as dst:
        dst.write(z, 1)
    return path


def bench_slope(nodes, edges, n_fac: int, n_pts: int, repeat: int) -> dict:
    """Travel stage (sample + build + snap + nearest) with a generated DEM against the flat stage.

    Each method is timed in wall-clock and CPU time (best of ``repeat``, taking turns): on a
    machine shared with other jobs the CPU ratio is the steadier one (everything here runs on
    one thread). ``edge_slope_times`` alone is timed too (its CPU seconds per DEM).
    """
    import tempfile

    from circles.io.dem import edge_slope_times

    fac = near_road_points(edges, n_fac, 7)
    pts = near_road_points(edges, n_pts, 8)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        dems = {"geographic": write_dem(nodes, Path(tmp), "EPSG:4326"), "projected": write_dem(nodes, Path(tmp), CRS)}
        print(f"\n== slope: {len(edges):,} edges, {edges['length_m'].sum() / 1000:,.0f} km of road; "
              f"generated DEMs (1 arc-second / 30 m, 40 m hills)")

        def stage(dem):
            def run():
                c0 = time.process_time()
                slope = edge_slope_times(edges, dem, WALK) if dem is not None else None
                c1 = time.process_time()
                net = TravelNetwork(nodes, edges, walk_speed_mps=WALK, slope=slope)
                fs, ps = net.snap_points(fac, max_offroad_m=500), net.snap_points(pts, max_offroad_m=500)
                return slope, net.nearest_times(fs, ps), c1 - c0
            return run

        fns = {"flat": stage(None), **{k: stage(v) for k, v in dems.items()}}
        wall, cpu, slope_cpu, res = ({k: np.inf for k in fns} for _ in range(4))
        for _ in range(repeat):
            for k, fn in fns.items():
                t0, c0 = time.perf_counter(), time.process_time()
                res[k] = fn()
                wall[k] = min(wall[k], time.perf_counter() - t0)
                cpu[k] = min(cpu[k], time.process_time() - c0)
                slope_cpu[k] = min(slope_cpu[k], res[k][2])
        flat = res["flat"][1]
        for kind in dems:
            slope, sloped, _ = res[kind]
            both = np.isfinite(flat) & np.isfinite(sloped)
            print(f"travel stage with a {kind} DEM {wall[kind]:.3f} s vs flat {wall['flat']:.3f} s "
                  f"(x{wall[kind] / wall['flat']:.2f}); CPU {cpu[kind]:.3f} s vs {cpu['flat']:.3f} s "
                  f"(x{cpu[kind] / cpu['flat']:.2f}), of which edge_slope_times {slope_cpu[kind]:.3f} s; "
                  f"{slope.n_pieces:,} pieces of <= {slope.step_m:g} m (samples within "
                  f"{slope.position_bound_m:g} m of exact), road covered {slope.covered_share:.1%}; "
                  f"nearest-facility time sloped/flat: median {np.median(sloped[both] / np.maximum(flat[both], 1e-9)):.3f}")
            out[kind] = wall[kind] / wall["flat"]
            out[kind + "_cpu"] = cpu[kind] / cpu["flat"]
            out[kind + "_slope_cpu_s"] = slope_cpu[kind]
    return out


def exactness_on_osm(path: Path, n_fac: int) -> float:
    from circles.io.network import load_network

    print(f"\n== exactness on {path.name}: networkx's own graph of the file vs ours")
    nodes, edges = load_network(path, crs=CRS)
    net = TravelNetwork(nodes, edges, walk_speed_mps=WALK)
    G = nx_from_osm(path)
    # our nodes are OSM nodes (junctions, way ends, ring middles), with their OSM id
    ours_ref = nodes["osmid"].to_numpy()
    assert all(r in G for r in ours_ref.tolist()), "an engine node is not in networkx's graph"
    rng = np.random.default_rng(3)
    src = np.sort(rng.choice(net.n_nodes, n_fac, replace=False))
    mine = net.node_times(net.snap_points(nodes.iloc[src], max_offroad_m=1))[0]
    ref = nx.multi_source_dijkstra_path_length(G, ours_ref[src].tolist(), weight="w")
    ref = np.array([ref.get(r, np.inf) for r in ours_ref])
    fin = np.isfinite(ref)
    same = bool(np.array_equal(fin, np.isfinite(mine)))
    diff = float(np.max(np.abs(mine[fin] - ref[fin])))
    print(f"{len(nodes):,} engine nodes, {G.number_of_nodes():,} OSM nodes / {G.number_of_edges():,} segments in "
          f"networkx; {n_fac} sources; same reach {same}; max |ours-networkx| {diff:.2e} s")
    return diff if same else float("inf")


def nx_graph(net: TravelNetwork) -> nx.Graph:
    G = nx.Graph()
    G.add_nodes_from(range(net.n_nodes))
    G.add_weighted_edges_from(zip(net.u.tolist(), net.v.tolist(), net.edge_time_s.tolist()), weight="w")
    return G


def bench(name: str, nodes, edges, n_fac: int, n_pts: int, repeat: int) -> dict:
    print(f"\n== {name}: {len(nodes):,} nodes, {len(edges):,} edges, {n_fac} facilities, {n_pts:,} population points")
    fac = near_road_points(edges, n_fac, 7)
    pts = near_road_points(edges, n_pts, 8)

    # --- end to end: build + snap + nearest query
    def ours_e2e():
        net = TravelNetwork(nodes, edges, walk_speed_mps=WALK)
        fs, ps = net.snap_points(fac, max_offroad_m=500), net.snap_points(pts, max_offroad_m=500)
        return net, fs, ps, net.nearest_times(fs, ps)

    node_xy = shapely.get_coordinates(nodes.geometry.values)
    w_all = edges["length_m"].to_numpy() / WALK

    def nx_e2e():
        G = nx.Graph()
        G.add_nodes_from(range(len(nodes)))
        G.add_weighted_edges_from(zip(edges["u"].tolist(), edges["v"].tolist(), w_all.tolist()), weight="w")
        tree = cKDTree(node_xy)
        d_f, f_node = tree.query(shapely.get_coordinates(fac.geometry.values))
        d_p, p_node = tree.query(shapely.get_coordinates(pts.geometry.values))
        dist = nx.multi_source_dijkstra_path_length(G, np.unique(f_node).tolist(), weight="w")
        return G, f_node, p_node, np.array([dist.get(i, np.inf) for i in p_node.tolist()])

    r = best_of_each({"ours": ours_e2e, "nx": nx_e2e}, repeat)
    (t_e2e, (net, fsnap, psnap, _)), (t_nx_e2e, (G, f_node, p_node, _)) = r["ours"], r["nx"]

    def build_then_snap():  # (build s, snap s) of a fresh network: the edge index is built on the first snap
        t0 = time.perf_counter()
        n2 = TravelNetwork(nodes, edges, walk_speed_mps=WALK)
        t1 = time.perf_counter()
        n2.snap_points(fac, max_offroad_m=500), n2.snap_points(pts, max_offroad_m=500)
        return t1 - t0, time.perf_counter() - t1

    parts = [build_then_snap() for _ in range(repeat)]
    t_build, t_snap = min(p[0] for p in parts), min(p[1] for p in parts)
    print(f"end to end (build + snap + nearest): ours {t_e2e:.3f} s (build {t_build:.3f}, snap {t_snap:.3f}) | "
          f"networkx + cKDTree {t_nx_e2e:.3f} s (x{t_nx_e2e / t_e2e:.1f})")

    # --- nearest facility, query only
    fac_nodes = np.unique(f_node)
    r = best_of_each({
        "ours": lambda: net.nearest_times(fsnap, psnap),
        "scipy": lambda: dijkstra(net.graph, directed=True, indices=fac_nodes, min_only=True),
        "nx": lambda: (lambda d: np.array([d.get(i, np.inf) for i in p_node.tolist()]))(
            nx.multi_source_dijkstra_path_length(G, fac_nodes.tolist(), weight="w")),
    }, repeat)
    (t_ours, ours), t_scipy, t_nx = r["ours"], r["scipy"][0], r["nx"][0]
    print(f"nearest (query only): ours {t_ours:.4f} s | networkx multi_source_dijkstra {t_nx:.4f} s "
          f"(x{t_nx / t_ours:.1f}) | bare scipy min_only {t_scipy:.4f} s (ours/scipy {t_ours / t_scipy:.2f}); "
          f"points reached {np.isfinite(ours).mean():.1%}")

    # --- catchments within 15 minutes, every facility
    by_node = {}
    for i, n in enumerate(p_node.tolist()):
        by_node.setdefault(n, []).append(i)

    def nx_cutoff():
        out = []
        for s in f_node.tolist():
            d = nx.single_source_dijkstra_path_length(G, s, cutoff=CUTOFF_S, weight="w")
            out.append([(i, t) for n, t in d.items() for i in by_node.get(n, ())])
        return out

    r = best_of_each({
        "ours": lambda: net.times_to_points(fsnap, psnap, cutoff_s=CUTOFF_S),
        "nx": nx_cutoff,
        "scipy": lambda: dijkstra(net.graph, directed=True, indices=fac_nodes, limit=CUTOFF_S),
    }, repeat)
    (t_catch, M), t_nxc, t_dense = r["ours"], r["nx"][0], r["scipy"][0]
    print(f"catchments {CUTOFF_S / 60:.0f} min: ours {t_catch:.4f} s ({M.nnz:,} pairs) | networkx "
          f"single_source_dijkstra(cutoff) per facility {t_nxc:.4f} s (x{t_nxc / t_catch:.1f}) | bare scipy "
          f"dense rows {t_dense:.4f} s (x{t_dense / t_catch:.1f}; ours/scipy {t_catch / t_dense:.2f})")
    return {"speedup_vs_networkx": t_nx / t_ours, "overhead_vs_scipy": t_ours / t_scipy,
            "end_to_end_vs_networkx": t_nx_e2e / t_e2e, "speedup_vs_nx_cutoff": t_nxc / t_catch,
            "catchment_vs_scipy_dense": t_dense / t_catch, "catchment_overhead_vs_scipy": t_catch / t_dense,
            "build_s": t_build, "snap_s": t_snap,
            "nearest_s": t_ours, "catchments_s": t_catch, "e2e_s": t_e2e, "nodes": len(nodes)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--osm", default=str(DEFAULT_OSM if DEFAULT_OSM.exists() else
                                        Path("/work/shared/data/wuhan-core/wuhan_osm_2017.osm.pbf")))
    p.add_argument("--side", type=int, default=450)
    p.add_argument("--facilities", type=int, default=300)
    p.add_argument("--points", type=int, default=50_000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    from circles.io.network import load_network

    osm = Path(a.osm)
    diff = exactness_on_osm(osm, 50)
    real_net = load_network(osm, crs=CRS)
    real = bench(f"real OSM walk network ({osm.name})", *real_net, n_fac=a.facilities, n_pts=a.points,
                 repeat=a.repeat)
    slope = bench_slope(*real_net, n_fac=a.facilities, n_pts=a.points, repeat=a.repeat)
    r = bench(f"grid {a.side}x{a.side}", *grid_network(a.side), n_fac=a.facilities, n_pts=a.points, repeat=a.repeat)
    print("\n" + " ".join([
        f"speedup_vs_networkx={r['speedup_vs_networkx']:.1f}",
        f"overhead_vs_scipy={r['overhead_vs_scipy']:.2f}",
        f"end_to_end_vs_networkx={r['end_to_end_vs_networkx']:.1f}",
        f"speedup_vs_nx_cutoff={r['speedup_vs_nx_cutoff']:.1f}",
        f"max_abs_diff_s={diff:.1e}",
        f"catchment_vs_scipy_dense={r['catchment_vs_scipy_dense']:.1f}",
        f"nodes={r['nodes']}", f"build_s={r['build_s']:.2f}", f"snap_s={r['snap_s']:.2f}",
        f"nearest_s={r['nearest_s']:.3f}", f"catchments_s={r['catchments_s']:.3f}", f"e2e_s={r['e2e_s']:.2f}",
        f"real_end_to_end_vs_networkx={real['end_to_end_vs_networkx']:.1f}",
        f"real_speedup_vs_nx_cutoff={real['speedup_vs_nx_cutoff']:.1f}",
        f"real_overhead_vs_scipy={real['catchment_overhead_vs_scipy']:.2f}",
        f"real_snap_s={real['snap_s']:.3f}", f"real_e2e_s={real['e2e_s']:.3f}",
        f"slope_stage_vs_flat={slope['geographic']:.2f}",
        f"slope_stage_vs_flat_projected={slope['projected']:.2f}",
        f"slope_stage_vs_flat_cpu={slope['geographic_cpu']:.2f}",
        f"slope_stage_vs_flat_projected_cpu={slope['projected_cpu']:.2f}",
        f"slope_times_cpu_s={slope['geographic_slope_cpu_s']:.3f}",
    ]))


if __name__ == "__main__":
    main()
