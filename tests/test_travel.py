"""Exact travel times on hand-made graphs (answers computed by hand) and on the real demo network."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from circles.travel import TravelNetwork, subset
from conftest import grid_segments, make_network, points


def diamond():
    # A(0,0) - B(100,100) - D(200,0) and A - C(100,-300) - D : via B is 2*141.42, via C 2*316.23
    return make_network([((0, 0), (100, 100)), ((100, 100), (200, 0)), ((0, 0), (100, -300)), ((100, -300), (200, 0))])


def test_diamond_point_on_node_takes_short_side():
    nodes, edges = diamond()
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    src = net.snap_points(points([(0, 0)]), max_offroad_m=10)
    dst = net.snap_points(points([(200, 0)]), max_offroad_m=10)
    t = net.nearest_times(src, dst)
    assert t[0] == pytest.approx(2 * np.hypot(100, 100), abs=1e-9)


def test_offroad_leg_and_partial_edge_both_ways():
    # one straight road 0..1000 m along x; source 30 m north of x=100, target 40 m south of x=700
    nodes, edges = make_network([((0, 0), (1000, 0))])
    net = TravelNetwork(nodes, edges, walk_speed_mps=2.0)
    src = net.snap_points(points([(100, 30)]), max_offroad_m=100)
    dst = net.snap_points(points([(700, -40)]), max_offroad_m=100)
    # same edge: straight along it, 30 + 600 + 40 = 670 m at 2 m/s
    assert net.nearest_times(src, dst)[0] == pytest.approx(335.0)
    assert net.times_to_points(src, dst, cutoff_s=400).toarray()[0, 0] == pytest.approx(335.0)
    assert net.times_to_points(src, dst, cutoff_s=300).nnz == 0


def test_grid_partial_edges_via_nodes():
    # 3x3 grid of 100 m blocks; source at middle of the west edge of the bottom-left block
    nodes, edges = make_network(grid_segments(3, 100.0))
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    src = net.snap_points(points([(0, 50)]), max_offroad_m=1)
    dst = net.snap_points(points([(200, 150)]), max_offroad_m=1)
    # (0,50) -> (0,100) 50, -> (200,100) 200, -> (200,150) 50: 300 m (Manhattan)
    assert net.nearest_times(src, dst)[0] == pytest.approx(300.0)


def test_disconnected_piece_is_unreachable_not_dropped():
    nodes, edges = make_network([((0, 0), (100, 0)), ((500, 0), (600, 0))])
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    src = net.snap_points(points([(0, 0)]), max_offroad_m=10)
    dst = net.snap_points(points([(550, 5), (50, 0)]), max_offroad_m=10)
    t = net.nearest_times(src, dst)
    assert np.isinf(t[0]) and t[1] == pytest.approx(50.0)


def test_far_point_is_reported_not_snapped():
    nodes, edges = make_network([((0, 0), (100, 0))])
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    snap = net.snap_points(points([(50, 400), (50, 20)]), max_offroad_m=300)
    assert list(snap.snapped) == [False, True]
    assert np.isinf(net.nearest_times(snap, snap)[0])


def test_multi_source_takes_nearest_and_separate_rows():
    nodes, edges = make_network([((0, 0), (1000, 0))])
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    src = net.snap_points(points([(0, 0), (1000, 0)]), max_offroad_m=1)
    dst = net.snap_points(points([(300, 0), (900, 0)]), max_offroad_m=1)
    assert net.nearest_times(src, dst) == pytest.approx([300.0, 100.0])
    m = net.times_to_points(src, dst, cutoff_s=1e9).toarray()
    assert m == pytest.approx(np.array([[300.0, 900.0], [700.0, 100.0]]))


def _nx_graph(net: TravelNetwork) -> nx.Graph:
    """networkx's graph of the engine's edges (the faster of parallel edges), weighted ``w`` in seconds."""
    G = nx.Graph()
    for u, v, t in zip(net.u, net.v, net.edge_time_s):
        if not G.has_edge(u, v) or G[u][v]["w"] > t:
            G.add_edge(int(u), int(v), w=float(t))
    return G

def test_node_times_equal_networkx_on_real_demo_network(demo_run):
    res, _ = demo_run
    nodes, edges = res.nodes, res.edges
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    G = _nx_graph(net)
    # sources exactly on nodes: the engine's node times must equal networkx's Dijkstra
    src_nodes = [0, 17, 200, 333]
    snap = net.snap_points(nodes.iloc[src_nodes], max_offroad_m=1)
    ours = net.node_times(snap)[0]
    ref = nx.multi_source_dijkstra_path_length(G, src_nodes, weight="w")
    ref_arr = np.array([ref.get(i, np.inf) for i in range(len(nodes))])
    finite = np.isfinite(ref_arr)
    assert np.array_equal(finite, np.isfinite(ours))
    assert np.max(np.abs(ours[finite] - ref_arr[finite])) < 1e-6
    # the subset helper keeps alignment
    assert subset(snap, np.array([1])).u[0] == snap.u[1]


def _one_way_loop():
    # one-way street A(0,0) -> B(100,0); two-way detour B - (100,100) - (0,100) - A; all at 36 km/h (10 m/s)
    nodes, edges = make_network([((0, 0), (100, 0)), ((100, 0), (100, 100)), ((100, 100), (0, 100)), ((0, 100), (0, 0))])
    edges["oneway"] = [True, False, False, False]
    edges["speed_kph"] = 36.0
    return TravelNetwork(nodes, edges, walk_speed_mps=1.0, profile="drive")


def test_one_way_street_drive_runs_home_to_facility():
    """Queries take facilities as sources and homes as targets; the trip runs home -> facility."""
    net = _one_way_loop()
    facility = net.snap_points(points([(25, 0)]), max_offroad_m=1)
    home = net.snap_points(points([(75, 0)]), max_offroad_m=1)
    # home at x=75 drives with the flow to B, around the block to A, then 25 m: 25 + 300 + 25 m at 10 m/s
    assert net.nearest_times(facility, home)[0] == pytest.approx(35.0)
    assert net.times_to_points(facility, home, cutoff_s=100).toarray()[0, 0] == pytest.approx(35.0)
    assert net.times_to_points_dense(facility, home, cutoff_s=100).toarray()[0, 0] == pytest.approx(35.0)
    # the other way round: home at 25, facility at 75, 50 m with the flow
    assert net.nearest_times(home, facility)[0] == pytest.approx(5.0)
    # node times are times *to* the facility: from A (0,0) 25 m with the flow, from B 300 + 25 m
    nt = net.node_times(facility)[0]
    xy = net.node_xy
    at = {tuple(np.round(p)): t for p, t in zip(xy, nt)}
    assert at[(0.0, 0.0)] == pytest.approx(2.5) and at[(100.0, 0.0)] == pytest.approx(32.5)
    # oracle: networkx on the forward directed graph, from the home's edge end to the facility's
    G = nx.DiGraph()
    G.add_edge((0, 0), (100, 0), w=10.0)
    for p, q in [((100, 0), (100, 100)), ((100, 100), (0, 100)), ((0, 100), (0, 0))]:
        G.add_edge(p, q, w=10.0)
        G.add_edge(q, p, w=10.0)
    ref = 2.5 + nx.dijkstra_path_length(G, (100, 0), (0, 0), weight="w") + 2.5
    assert net.nearest_times(facility, home)[0] == pytest.approx(ref)


def test_drive_point_on_a_one_way_junction_may_use_every_road_there():
    """Three one-way streets at 36 km/h (10 m/s): J(0,0) -> X(300,0), J -> F(0,100), X -> F.
    A point snapped exactly onto a node stands at the node: it may take any road leaving it
    (a home) or be reached by any road arriving there (a facility), not only its own edge."""
    nodes, edges = make_network([((0, 0), (300, 0)), ((0, 0), (0, 100)), ((300, 0), (0, 100))])
    edges["oneway"] = True
    edges["speed_kph"] = 36.0
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0, profile="drive")
    facility = net.snap_points(points([(0, 100)]), max_offroad_m=1)  # at F, the end of J -> F and of X -> F
    homes = net.snap_points(points([(0, 0), (300, 0), (150, 0), (0, 50)]), max_offroad_m=1)
    # the cases the rule is about (ties snap to the lowest edge index): the home at J stands at the start
    # of J -> X, and the facility at F at the end of J -> F; their own edges alone give no way (inf)
    J, F = 0, 1
    assert edges["u"].iloc[homes.edge[0]] == J and edges["v"].iloc[facility.edge[0]] == F
    # by hand: J -> F 100 m; X -> F 316.23 m; (150,0) -> X -> F 150 + 316.23 m; (0,50) -> F 50 m
    want = np.array([100.0, np.hypot(300, 100), 150 + np.hypot(300, 100), 50.0]) / 10.0
    assert net.nearest_times(facility, homes) == pytest.approx(want, abs=1e-9)
    got = net.times_to_points(facility, homes, cutoff_s=100).toarray()[0]
    assert got == pytest.approx(want, abs=1e-9)
    assert net.times_to_points_dense(facility, homes, cutoff_s=100).toarray()[0] == pytest.approx(want, abs=1e-9)
    # at a node, still only roads leaving it: from F (only roads arriving) and X (its one road runs
    # to F) nothing reaches a facility at J
    at_j = net.snap_points(points([(0, 0)]), max_offroad_m=1)
    back = net.snap_points(points([(0, 100), (300, 0)]), max_offroad_m=1)
    assert np.isinf(net.nearest_times(at_j, back)).all()
    assert net.times_to_points(at_j, back, cutoff_s=1e4).nnz == 0

def test_one_way_ignored_on_foot():
    nodes, edges = make_network([((0, 0), (100, 0)), ((100, 0), (100, 100)), ((100, 100), (0, 100)), ((0, 100), (0, 0))])
    edges["oneway"] = [True, False, False, False]
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0, profile="walk")
    a = net.snap_points(points([(25, 0)]), max_offroad_m=1)
    b = net.snap_points(points([(75, 0)]), max_offroad_m=1)
    assert net.nearest_times(b, a)[0] == pytest.approx(50.0)


def test_confined_catchments_equal_whole_network_rows(demo_run):
    """The disc-confined search gives exactly the matrix of whole-network Dijkstra rows (point times
    of every target)."""
    res, _ = demo_run
    net = TravelNetwork(res.nodes, res.edges, walk_speed_mps=1.0)
    src = net.snap_points(res.facilities, max_offroad_m=500)
    dst = net.snap_points(res.points, max_offroad_m=500)
    ref = net.times_to_points_dense(src, dst, cutoff_s=900)
    fast = net.times_to_points(src, dst, cutoff_s=900)
    assert fast.nnz == ref.nnz > 1000
    assert abs(fast - ref).max() < 1e-9
    # and the nearest time per point equals the column minimum of the matrix
    near = net.nearest_times(src, dst, cutoff_s=900)
    csc = ref.tocsc()
    has = np.diff(csc.indptr) > 0
    colmin = np.minimum.reduceat(csc.data, csc.indptr[:-1][has])
    assert np.allclose(near[has], colmin) and np.all(np.isinf(near[~has]))


def test_confined_catchments_equal_networkx_cutoff_per_source(demo_run):
    """Catchments of many close sources (several to a grouped search, discs 2R apart or nearer)
    equal networkx's single-source Dijkstra with the cutoff, source by source, at every node."""
    res, _ = demo_run
    nodes, edges = res.nodes, res.edges
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    G = _nx_graph(net)
    rng = np.random.default_rng(4)
    src_nodes = rng.choice(len(nodes), 60, replace=False)
    cutoff = 400.0
    src = net.snap_points(nodes.iloc[src_nodes], max_offroad_m=1)
    dst = net.snap_points(nodes, max_offroad_m=1)  # every node as a target: its time is the node's time
    got = net.times_to_points(src, dst, cutoff_s=cutoff).toarray()
    xy = net.node_xy[src_nodes]
    close = np.hypot(*(xy[:, None] - xy[None, :]).transpose(2, 0, 1)) <= 2 * cutoff
    assert close.sum() > 200  # many pairs of sources whose discs meet
    for i, s in enumerate(src_nodes.tolist()):
        ref = nx.single_source_dijkstra_path_length(G, s, cutoff=cutoff, weight="w")
        want = np.zeros(len(nodes))
        for node, t in ref.items():
            want[node] = max(t, 1e-9)
        assert np.array_equal(got[i] > 0, want > 0), i
        assert np.max(np.abs(got[i] - want)) < 1e-6


def test_source_groups_keep_discs_apart_and_reuse_labels(demo_run):
    """The sources of one confined search are more than 2R + 1 m apart (brute force over every pair),
    labels are reused greedily (at most the most close neighbours + 1), and with discs so large that
    the pair bound is exceeded the squares' labels keep them apart as well."""
    from circles.travel import GROUP_PAIRS_MAX, _disjoint_groups

    res, _ = demo_run
    xy = shapely.get_coordinates(res.facilities.geometry.values)
    for radius in (300.0, 900.0):
        label = _disjoint_groups(xy, radius)
        dist = np.hypot(*(xy[:, None] - xy[None, :]).transpose(2, 0, 1))
        close = dist <= 2 * radius + 1
        np.fill_diagonal(close, False)
        assert not (close & (label[:, None] == label[None, :])).any()
        assert close.any() and len(np.unique(label)) <= close.sum(axis=1).max() + 1 < len(xy)
    # 500 sources within 100 m, discs of 1 km: 9 x 500 x 500 pairs bound > GROUP_PAIRS_MAX: one search each
    rng = np.random.default_rng(5)
    packed = rng.uniform(0, 100, size=(500, 2))
    assert 9 * 500 * 500 > GROUP_PAIRS_MAX
    assert len(np.unique(_disjoint_groups(packed, 1000.0))) == 500


def test_radix_order_equals_stable_argsort():
    from circles.travel import _radix_order

    rng = np.random.default_rng(6)
    for bound in (10, 2 ** 16, 2 ** 16 + 1, 300 * 50_000, 2 ** 40):
        key = rng.integers(0, bound, size=5000)
        assert np.array_equal(_radix_order(key, bound), np.argsort(key, kind="stable")), bound


def test_confined_catchments_reuse_the_homes_index(demo_run):
    """The homes' node index is built once per Snap and reused: other sources and cutoffs against the
    same homes, and a subset of them, still give the whole-network rows' matrix."""
    res, _ = demo_run
    net = TravelNetwork(res.nodes, res.edges, walk_speed_mps=1.0)
    dst = net.snap_points(res.points, max_offroad_m=500)
    fac = net.snap_points(res.facilities, max_offroad_m=500)
    half = subset(fac, np.arange(0, len(fac), 2))
    for src, cutoff in ((fac, 900.0), (half, 300.0), (fac, 600.0)):
        got = net.times_to_points(src, dst, cutoff_s=cutoff)
        ref = net.times_to_points_dense(src, dst, cutoff_s=cutoff)
        assert got.nnz == ref.nnz > 100 and abs(got - ref).max() == 0
        assert got.has_sorted_indices
    assert dst._ends is not None
    some = subset(dst, np.arange(0, len(dst), 3))
    assert some._ends is None  # a subset builds its own
    got = net.times_to_points(fac, some, cutoff_s=900.0)
    assert abs(got - net.times_to_points(fac, dst, cutoff_s=900.0)[:, ::3]).max() == 0


def test_isochrone_follows_partial_edges_not_hull():
    from circles.isochrones import isochrone_polygons, reachable_lines

    # an L-shaped street: (0,0)-(1000,0)-(1000,1000); source 20 m off the road at x=900
    nodes, edges = make_network([((0, 0), (1000, 0)), ((1000, 0), (1000, 1000))])
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    src = net.snap_points(points([(900, 20)]), max_offroad_m=50)
    node_time = net.node_times(src)[0]
    lines = reachable_lines(net, node_time, src, 320.0)
    # 300 s left after the 20 s off-road leg: 300 m west, 100 m east + 200 m north; overlaps dissolve
    import shapely

    assert shapely.union_all(lines).length == pytest.approx(600.0)
    iso = isochrone_polygons(net, src, [320.0], buffer_m=10)
    # a hull of the reached ends would cover the triangle (600,0)-(1000,0)-(1000,200): 40,000 m2
    assert iso.geometry.iloc[0].area < 600 * 20 + 400 * 3.2


def test_home_snaps_to_main_network_not_nearer_fragment():
    """A home 30 m from a 40 m fragment and 120 m from the main street snaps to the street."""
    from circles.travel import MAIN_PIECE_MIN_M

    # main street y=0 from x=0 to 1500 (1.5 km >= MAIN_PIECE_MIN_M), facility at x=1000;
    # fragment: an isolated 40 m footway at y=150 from x=480 to 520; home at (500, 120)
    assert 1500 >= MAIN_PIECE_MIN_M > 40
    nodes, edges = make_network([((0, 0), (1500, 0)), ((480, 150), (520, 150))])
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    fac = net.snap_points(points([(1000, 0)]), max_offroad_m=500)
    home = net.snap_points(points([(500, 120)]), max_offroad_m=500)
    assert home.nearer_fragment[0] and home.offroad_m[0] == pytest.approx(120.0)
    # by hand: 120 m off road, then 500 m along the street
    assert net.nearest_times(fac, home)[0] == pytest.approx(620.0)
    assert net.times_to_points(fac, home, cutoff_s=900).toarray()[0, 0] == pytest.approx(620.0)
    # with the main street out of reach (max_offroad_m 100) the home stays on its fragment: unreachable
    near = net.snap_points(points([(500, 120)]), max_offroad_m=100)
    assert near.snapped[0] and not near.nearer_fragment[0] and near.offroad_m[0] == pytest.approx(30.0)
    assert np.isinf(net.nearest_times(fac, near)[0])


def test_segment_index_nearest_edge_equals_shapely_strtree():
    """The vectorised nearest-edge search gives the distance shapely's STRtree gives, point by point."""
    import shapely

    from circles.io.network import load_network
    from circles.travel import SegmentIndex
    from conftest import TESTDATA

    _, edges = load_network(TESTDATA / "beijing_cau.osm.pbf", crs="EPSG:32650")
    geoms = np.asarray(edges.geometry.values, dtype=object)
    rng = np.random.default_rng(5)
    x0, y0, x1, y1 = edges.total_bounds
    xy = rng.uniform([x0 - 300, y0 - 300], [x1 + 300, y1 + 300], size=(4000, 2))
    pts = shapely.points(xy)
    for k in (8, 1):  # k = 1 leaves many points to the second and third rounds
        got = SegmentIndex(geoms, np.arange(len(geoms)), k=k).nearest(xy, 250.0)
        pi, ei = shapely.STRtree(geoms).query_nearest(pts, max_distance=250.0, return_distance=False,
                                                      all_matches=False)
        ref = np.full(len(xy), np.inf)
        ref[pi] = shapely.distance(pts[pi], geoms[ei])
        mine = np.where(got >= 0, shapely.distance(pts, geoms[np.maximum(got, 0)]), np.inf)
        assert np.array_equal(np.isinf(mine), np.isinf(ref)) and np.isinf(ref).sum() > 50
        assert np.allclose(mine[np.isfinite(ref)], ref[np.isfinite(ref)], atol=1e-9)
        # restricted to some edges (as for the main network): STRtree over those edges only
        allowed = rng.random(len(geoms)) < 0.5
        got = SegmentIndex(geoms, np.arange(len(geoms)), k=k).nearest(xy, 250.0, allowed=allowed)
        sub = np.flatnonzero(allowed)
        pi, ei = shapely.STRtree(geoms[sub]).query_nearest(pts, max_distance=250.0, return_distance=False,
                                                           all_matches=False)
        ref = np.full(len(xy), np.inf)
        ref[pi] = shapely.distance(pts[pi], geoms[sub[ei]])
        assert allowed[got[got >= 0]].all()
        mine = np.where(got >= 0, shapely.distance(pts, geoms[np.maximum(got, 0)]), np.inf)
        assert np.array_equal(np.isinf(mine), np.isinf(ref))
        assert np.allclose(mine[np.isfinite(ref)], ref[np.isfinite(ref)], atol=1e-9)


def test_snap_equals_brute_force_over_every_edge_on_demo_roads():
    """Snapping (nearest edge, off-road distance, position along the edge, the main-network rule)
    equals a brute force: shapely's distance from each point to every edge of the demo roads."""
    import shapely

    from circles.io.network import load_network
    from conftest import DEMO

    nodes, edges = load_network(DEMO / "roads.osm.pbf", crs="EPSG:32650")
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0)
    geoms = np.asarray(edges.geometry.values, dtype=object)
    rng = np.random.default_rng(11)
    x0, y0, x1, y1 = edges.total_bounds
    xy = np.r_[rng.uniform([x0 - 200, y0 - 200], [x1 + 200, y1 + 200], size=(1500, 2)),
               np.stack(np.meshgrid(np.arange(x0, x1, 230.0) + 50, np.arange(y0, y1, 230.0) + 50), -1).reshape(-1, 2)]
    pts = points(xy)
    max_off = 150.0
    snap = net.snap_points(pts, max_offroad_m=max_off)
    P = np.asarray(pts.geometry.values, dtype=object)
    D = shapely.distance(P[:, None], geoms[None, :])  # every point to every edge
    d_all = D.min(axis=1)
    near = np.argmax(D <= d_all[:, None] + 1e-9, axis=1)  # ties (junctions): the lowest edge index
    D_main = np.where(net.edge_main[None, :], D, np.inf)
    d_main = D_main.min(axis=1)
    near_main = np.argmax(D_main <= d_main[:, None] + 1e-9, axis=1)
    # the rule: the main network within reach, else the nearest edge (a fragment) within reach
    use_main = d_main <= max_off
    ref_edge = np.where(use_main, near_main, np.where(d_all <= max_off, near, -1))
    ref_d = np.where(use_main, d_main, np.where(d_all <= max_off, d_all, np.inf))
    ok = ref_edge >= 0
    assert np.array_equal(snap.snapped, ok) and 100 < ok.sum() < len(P)
    assert np.array_equal(snap.nearer_fragment[ok], (use_main & ~net.edge_main[near] & (d_all < d_main))[ok])
    assert np.allclose(snap.offroad_m[ok], ref_d[ok], rtol=0, atol=1e-9)
    # the same edge (ties at junctions to the lowest index), positions along it as shapely's
    assert np.array_equal(snap.edge, ref_edge)
    assert (np.sort(D, axis=1)[:, 1] - d_all <= 1e-9)[ok].sum() > 0  # some points do sit on a tie
    e = snap.edge[ok]
    assert np.allclose(snap.along_m[ok], shapely.line_locate_point(geoms[e], P[ok]), rtol=0, atol=1e-9)
    assert np.array_equal(snap.u[ok], net.u[e]) and np.allclose(snap.to_u_s[ok], snap.along_m[ok])


def test_segment_index_threads_give_the_answers_of_one_run():
    """Snapping in threads (the Z-ordered points cut into runs) gives bit for bit the answers of one
    run, and the distances of shapely's STRtree; with k = 1 points reach every round and the STRtree
    fallback, whose positions are offset by run."""
    import shapely

    from circles.io.network import load_network
    from circles.travel import TIE_M, SegmentIndex
    from conftest import TESTDATA

    _, edges = load_network(TESTDATA / "beijing_cau.osm.pbf", crs="EPSG:32650")
    x0, y0, x1, y1 = edges.total_bounds
    # three stars of 100 spokes, each spoke from 50 to 200 m of the star's centre: at the centre 100
    # edges tie at 50 m, more than 64 candidates, so the centres reach the STRtree (the lowest edge wins)
    ang = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    centres = np.array([[x0 + 300, y1 + 500], [x1 + 600, y0 + 200], [x1 + 600, y1 + 800]])
    spokes = [shapely.linestrings([c + 50 * np.c_[np.cos(a), np.sin(a)][0], c + 200 * np.c_[np.cos(a), np.sin(a)][0]])
              for c in centres for a in ang]
    geoms = np.r_[np.asarray(edges.geometry.values, dtype=object), np.array(spokes, dtype=object)]
    rng = np.random.default_rng(7)
    xy = np.r_[rng.uniform([x0 - 300, y0 - 300], [x1 + 300, y1 + 300], size=(6000, 2)), centres]
    pts = shapely.points(xy)
    pi, ei = shapely.STRtree(geoms).query_nearest(pts, max_distance=250.0, return_distance=False, all_matches=False)
    ref = np.full(len(xy), np.inf)
    ref[pi] = shapely.distance(pts[pi], geoms[ei])
    # some edges only: the main network's second pass
    allowed = np.arange(len(geoms)) % 3 != 0
    for k in (8, 1):
        index = SegmentIndex(geoms, np.arange(len(geoms)), k=k)
        one = [index.locate(xy, 250.0, allowed=mask, threads=1) for mask in (None, allowed)]
        for mask, single in zip((None, allowed), one):  # threads give one run's answers
            for threads in (2, 3):
                got = index.locate(xy, 250.0, allowed=mask, threads=threads)
                assert all(np.array_equal(a, b) for a, b in zip(got, single))
        edge, dist, along = one[0]
        assert np.array_equal(edge >= 0, np.isfinite(ref)) and np.isinf(ref).sum() > 50
        assert np.allclose(dist[edge >= 0], ref[edge >= 0], rtol=0, atol=1e-9)
        ok = edge >= 0
        assert np.allclose(along[ok], shapely.line_locate_point(geoms[edge[ok]], pts[ok]), rtol=0, atol=1e-9)
        # each centre is 50 m from its star's spokes (by hand), the edge the lowest index within TIE_M of the
        # nearest (brute force: shapely's distance to every edge; the spokes' ends are rounded to ~1e-9 m)
        D = shapely.distance(pts[-3:, None], geoms[None, :])
        want = np.argmax(D <= D.min(axis=1)[:, None] + TIE_M, axis=1)
        assert np.array_equal(edge[-3:], want) and np.all(want >= len(edges))
        assert np.allclose(dist[-3:], 50.0, atol=1e-6) and np.allclose(along[-3:], 0.0, atol=1e-6)
        # some edges only: the nearest allowed
        edge, dist, _ = one[1]
        pick = np.flatnonzero(allowed)
        pa, ea = shapely.STRtree(geoms[pick]).query_nearest(pts, max_distance=250.0, return_distance=False,
                                                            all_matches=False)
        ref_a = np.full(len(xy), np.inf)
        ref_a[pa] = shapely.distance(pts[pa], geoms[pick[ea]])
        assert np.array_equal(edge >= 0, np.isfinite(ref_a)) and allowed[edge[edge >= 0]].all()
        assert np.allclose(dist[edge >= 0], ref_a[edge >= 0], rtol=0, atol=1e-9)


def test_snap_threads_follow_the_parallel_switch(monkeypatch):
    """Snapping uses threads only where the process may spread its work: one thread a 10,000 points,
    at most two and the CPUs it may use; one with ``CIRCLES_PARALLEL=0``. Four CPUs (the affinity
    mask monkeypatched): 19,999 points one thread, 20,000 two, a million still two; one CPU: one."""
    import os

    from circles.travel import _snap_threads

    monkeypatch.delenv("CIRCLES_PARALLEL", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert [_snap_threads(n) for n in (0, 1, 10_000, 19_999, 20_000, 29_999, 1_000_000)] == [1, 1, 1, 1, 2, 2, 2]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2}, raising=False)
    assert [_snap_threads(n) for n in (19_999, 20_000, 1_000_000)] == [1, 1, 1]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    for off in ("0", "false", "no"):
        monkeypatch.setenv("CIRCLES_PARALLEL", off)
        assert [_snap_threads(n) for n in (20_000, 1_000_000)] == [1, 1]
    monkeypatch.setenv("CIRCLES_PARALLEL", "1")
    assert _snap_threads(20_000) == 2
