"""Isochrone polygons against an independent oracle, and the pipeline's progress reports.

Oracle: networkx shortest paths over the demo's real OSM network give the reachable part
of every edge; shapely's exact buffer of those pieces is the isochrone drawn the slow way.
The raster construction must lie between that buffer shrunk and grown by two cells.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.ops import substring

from circles.io.network import load_network
from circles.isochrones import isochrone_polygons, isochrones_per_source
from circles.travel import TravelNetwork
from conftest import DEMO, METRIC


@pytest.fixture(scope="module")
def demo_net():
    nodes, edges = load_network(DEMO / "roads.osm.pbf", crs=METRIC)
    return TravelNetwork(nodes, edges, walk_speed_mps=1.0)


def _exact_isochrone(net, source_nodes, threshold_s, buffer_m):
    G = nx.Graph()
    for u, v, w in zip(net.u, net.v, net.length_m):
        if not G.has_edge(u, v) or G[u][v]["w"] > w:
            G.add_edge(int(u), int(v), w=float(w))
    dist = nx.multi_source_dijkstra_path_length(G, [int(s) for s in source_nodes], cutoff=threshold_s, weight="w")
    pieces = []
    for g, u, v, L in zip(net.edges.geometry.values, net.u, net.v, net.length_m):
        ru = min(max(threshold_s - dist.get(int(u), np.inf), 0.0), L)  # 1 m/s: seconds = metres
        rv = min(max(threshold_s - dist.get(int(v), np.inf), 0.0), L)
        if ru + rv >= L:
            pieces.append(g)
            continue
        if ru > 0:
            pieces.append(substring(g, 0.0, ru))
        if rv > 0:
            pieces.append(substring(g, L - rv, L))
    return shapely.union_all(shapely.buffer(np.array(pieces, dtype=object), buffer_m, quad_segs=8))


def test_study_isochrone_matches_exact_buffer_of_reachable_pieces(demo_net):
    net = demo_net
    rng = np.random.default_rng(7)
    src_nodes = rng.choice(net.n_nodes, size=4, replace=False)
    pts = gpd.GeoDataFrame(geometry=net.nodes.geometry.values[src_nodes], crs=net.crs)
    snap = net.snap_points(pts, max_offroad_m=1.0)
    buffer_m = 60.0
    cell = buffer_m / 3.5
    iso = isochrone_polygons(net, snap, [300.0, 600.0], buffer_m=buffer_m)
    for th in (300.0, 600.0):
        got = iso.loc[iso["minutes"] == th / 60, "geometry"].iloc[0]
        exact = _exact_isochrone(net, src_nodes, th, buffer_m)
        # inside the exact buffer grown by two cells, and covering it shrunk by two cells
        assert got.difference(exact.buffer(2 * cell)).area < 1.0
        assert exact.buffer(-2 * cell).difference(got).area < 1.0
        assert got.area == pytest.approx(exact.area, rel=0.05)


def test_per_facility_isochrones_union_is_the_study_isochrone(demo_net):
    net = demo_net
    src_nodes = np.array([10, 500, 1200])
    pts = gpd.GeoDataFrame(geometry=net.nodes.geometry.values[src_nodes], crs=net.crs)
    snap = net.snap_points(pts, max_offroad_m=1.0)
    each = isochrones_per_source(net, snap, 600.0, labels=[{"id": i} for i in range(3)], batch=2)
    assert list(each["id"]) == [0, 1, 2]
    union = shapely.union_all(each.geometry.values)
    # one search per source: together they reach what one multi-source search reaches
    exact = _exact_isochrone(net, src_nodes, 600.0, 60.0)
    cell = 60.0 / 3.5
    assert union.difference(exact.buffer(2 * cell)).area < 1.0
    assert exact.buffer(-2 * cell).difference(union).area < 1.0
    for i, n in enumerate(src_nodes):
        exact = _exact_isochrone(net, [n], 600.0, 60.0)
        assert each.geometry.iloc[i].area == pytest.approx(exact.area, rel=0.05)


def test_progress_fractions_per_stage():
    from circles.pipeline import analyse
    from circles.study import load_study

    calls = []
    res = analyse(load_study(DEMO / "study.toml"), progress=lambda stage, fraction=None: calls.append((stage, fraction)))
    stages = list(dict.fromkeys(s for s, _ in calls))
    assert stages == list(res.timings_s)  # every stage reports, in the order it runs
    for s in stages:
        fr = [f for st, f in calls if st == s]
        assert fr[0] is None and fr[-1] == 1.0  # started, then finished
        steps = [f for f in fr if f is not None]
        assert steps == sorted(steps) and all(0.0 <= f <= 1.0 for f in steps)


def test_edge_samples_equal_shapely_interpolation(demo_net):
    """The numpy interpolation of the edge samples gives shapely's ``line_interpolate_point`` numbers
    exactly (the oracle), on every edge of the demo's real network (curved ways of many vertices),
    at both ends and in between."""
    from circles.isochrones import _interpolate

    geoms = demo_net.edges.geometry.values
    assert shapely.get_num_coordinates(geoms).max() > 5  # curved edges, not only straight ones
    rng = np.random.default_rng(3)
    which = np.r_[np.arange(len(geoms)), np.arange(len(geoms)), rng.integers(0, len(geoms), 5000)]
    frac = np.r_[np.zeros(len(geoms)), np.ones(len(geoms)), rng.random(5000)]
    want = shapely.get_coordinates(shapely.line_interpolate_point(geoms[which], frac, normalized=True))
    got = _interpolate(geoms, which, frac)
    assert np.array_equal(got, want)


def test_simplify_fast_path_and_its_fallbacks():
    """``_simplify`` returns the plain Douglas-Peucker outline when it is valid; a region the plain
    algorithm would collapse makes it fall back to the topology-preserving one for every part (the
    region stays, as before); parts that overlap come out merged into one valid polygon."""
    from circles.isochrones import _simplify

    big = shapely.Polygon([(10, 0), (20, 0), (20, 10), (15, 10.2), (10, 10)])
    other = shapely.box(30, 0, 40, 10)
    fast = _simplify(np.array([big, other], dtype=object), 1.0)
    assert fast.is_valid and fast.equals(shapely.MultiPolygon([shapely.box(10, 0, 20, 10), other]))
    tiny = shapely.Polygon([(0, 0), (0.5, 0), (0.5, 0.4), (0, 0.4)])  # smaller than the tolerance
    assert shapely.simplify(tiny, 1.0, preserve_topology=False).is_empty  # what the fast path would do
    kept = _simplify(np.array([tiny, big], dtype=object), 1.0)
    assert kept.is_valid and len(shapely.get_parts(kept)) == 2
    assert shapely.get_parts(kept)[0].equals(shapely.simplify(tiny, 1.0, preserve_topology=True))
    merged = _simplify(np.array([shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)], dtype=object), 0.1)
    assert merged.is_valid and merged.area == pytest.approx(7.0)
