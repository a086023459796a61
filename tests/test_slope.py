"""Walking uphill: sloped times on hand-made DEMs (answers by hand) and against networkx on the demo roads.

Every DEM here is written by the test with rasterio into ``tmp_path`` (conftest's ``write_dem``,
``grid_dem``, ``wavy_dem``). The oracle test samples the DEM itself (shapely points, scipy's linear
grid interpolator over the pixel centres, the Tobler formula written out in tests/oracle.py) and
runs networkx on a DiGraph of those weights.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import rasterio
import shapely
from scipy.interpolate import RegularGridInterpolator

from circles import rules
from circles.errors import CrsError, InputFileError
from circles.io.dem import edge_slope_times
from circles.travel import TravelNetwork
from conftest import DEMO_ROADS, METRIC, grid_dem, make_network, points, wavy_dem, write_dem
from oracle import tobler


def test_constant_ramp_up_and_down_by_hand(tmp_path):
    """A 10 % ramp along x: up takes 200 / v(0.1) = 200 e^0.35 s, down 200 / v(-0.1) = 200 s."""
    dem = grid_dem(tmp_path, lambda x, y: 0.1 * x)
    nodes, edges = make_network([((0, 0), (200, 0)), ((200, 0), (400, 0))])
    st = edge_slope_times(edges, dem, 1.0)
    up, down = 200 * math.exp(0.35), 200.0
    assert 200 / tobler(0.1) == pytest.approx(up) and 200 / tobler(-0.1) == pytest.approx(down)
    x_u = nodes.geometry.x.to_numpy()[edges["u"].to_numpy()]
    x_v = nodes.geometry.x.to_numpy()[edges["v"].to_numpy()]
    east = x_v > x_u
    fwd, bwd = np.where(east, st.forward_s, st.backward_s), np.where(east, st.backward_s, st.forward_s)
    assert np.allclose(fwd, up, atol=1e-9) and np.allclose(bwd, down, atol=1e-9)
    assert st.covered_share == 1.0 and st.n_outside == 0
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0, slope=st)
    # a home at x=50 walks up to a facility at x=400: 350 m uphill; the other way round 350 m down
    top, bottom = points([(400, 0)]), points([(50, 0)])
    t_up = net.nearest_times(net.snap_points(top, max_offroad_m=10), net.snap_points(bottom, max_offroad_m=10))[0]
    t_down = net.nearest_times(net.snap_points(bottom, max_offroad_m=10), net.snap_points(top, max_offroad_m=10))[0]
    assert t_up == pytest.approx(350 * math.exp(0.35), abs=1e-9)
    assert t_down == pytest.approx(350.0, abs=1e-9)
    # same edge, both partial (x=20 -> x=150 up, 130 m), off-road legs flat (30 m each, 1 m/s)
    a, b = points([(20, 30)]), points([(150, -30)])
    sa, sb = net.snap_points(a, max_offroad_m=50), net.snap_points(b, max_offroad_m=50)
    assert net.nearest_times(sb, sa)[0] == pytest.approx(60 + 130 * math.exp(0.35), abs=1e-9)
    assert net.nearest_times(sa, sb)[0] == pytest.approx(60 + 130.0, abs=1e-9)
    # catchments give the same directed times
    m = net.times_to_points(net.snap_points(top, max_offroad_m=10), net.snap_points(bottom, max_offroad_m=10),
                            cutoff_s=1000).toarray()
    assert m[0, 0] == pytest.approx(350 * math.exp(0.35), abs=1e-9)


def test_symmetric_hill_same_both_ways_slower_than_flat(tmp_path):
    """A tent hill peaking at x=200 (8 % both sides): across it takes 200/v(0.08) + 200/v(-0.08) either way."""
    dem = grid_dem(tmp_path, lambda x, y: 30 - 0.08 * np.abs(x - 202.5))  # peak on a pixel centre
    nodes, edges = make_network([((2.5, 0), (402.5, 0))])
    st = edge_slope_times(edges, dem, 1.2)
    by_hand = 200 / tobler(0.08, 1.2) + 200 / tobler(-0.08, 1.2)
    assert st.forward_s[0] == pytest.approx(by_hand, abs=1e-9)
    assert st.backward_s[0] == pytest.approx(by_hand, abs=1e-9)
    assert by_hand > 400 / 1.2


def test_steps_rule_and_edges_off_the_dem(tmp_path):
    """Steps: run at flat speed plus rise at 0.2 m/s, both ways. An edge off the DEM keeps the flat time."""
    dem = grid_dem(tmp_path, lambda x, y: 0.1 * x)  # covers x in [-100, 900], y in [-300, 300]
    nodes, edges = make_network([((0, 0), (100, 0)), ((2000, 0), (2300, 0))])
    edges.loc[edges.geometry.length < 150, "highway"] = "steps"
    st = edge_slope_times(edges, dem, 1.0)
    stairs = edges.index[edges["highway"] == "steps"][0]
    off = edges.index[edges["highway"] != "steps"][0]
    assert st.forward_s[stairs] == pytest.approx(100 + 10 / 0.2, abs=1e-9)
    assert st.backward_s[stairs] == pytest.approx(100 + 10 / 0.2, abs=1e-9)
    assert st.forward_s[off] == st.backward_s[off] == pytest.approx(300.0)
    assert st.n_outside == 1 and st.covered_share == pytest.approx(100 / 400)


def test_nodata_pixel_keeps_flat_time(tmp_path):
    z = np.tile(0.1 * (np.arange(200) * 5 - 97.5), (120, 1))
    z[50:70, 30:40] = -9999.0  # x in [50, 100], y in [-50, 50]: under the first edge
    dem = write_dem(tmp_path / "dem.tif", z, -100.0, 300.0, 5.0, nodata=-9999.0)
    nodes, edges = make_network([((0, 0), (200, 0)), ((0, 100), (200, 100))])
    st = edge_slope_times(edges, dem, 1.0)
    hole = int(np.argmin(np.abs(edges.geometry.centroid.y.to_numpy())))
    assert st.forward_s[hole] == st.backward_s[hole] == pytest.approx(200.0)
    assert st.n_outside == 1 and st.covered_share == pytest.approx(0.5)


def test_bad_dems_one_line_each(tmp_path):
    nodes, edges = make_network([((0, 0), (200, 0))])
    with pytest.raises(CrsError, match="dem.tif: the DEM has no CRS; assign"):
        edge_slope_times(edges, grid_dem(tmp_path, lambda x, y: x * 0, crs=None), 1.0)
    with pytest.raises(InputFileError, match="does not overlap the study's roads") as err:
        edge_slope_times(edges, grid_dem(tmp_path, lambda x, y: x * 0, x0=50_000), 1.0)
    assert "the roads' bounds (0.0, 0.0, 200.0, 0.0)" in str(err.value)  # the road, (0, 0) to (200, 0)
    with pytest.raises(InputFileError, match="every DEM pixel under the study's roads is nodata"):
        edge_slope_times(edges, grid_dem(tmp_path, lambda x, y: x * 0 - 9999, nodata=-9999), 1.0)
    with pytest.raises(InputFileError, match="missing.tif: cannot read the DEM"):
        edge_slope_times(edges, tmp_path / "missing.tif", 1.0)
    with pytest.raises(ValueError, match="walk profile only"):
        TravelNetwork(nodes, edges.assign(speed_kph=30.0), walk_speed_mps=1.0, profile="drive",
                      slope=edge_slope_times(edges, grid_dem(tmp_path, lambda x, y: x * 0.01), 1.0))


def dem_grade(lon, lat, Z) -> float:
    """Steepest grade of the bilinear surface over a geographic DEM grid (metres per metre, at least)."""
    m_lon = (lon[1] - lon[0]) * 111_320 * np.cos(np.radians(np.abs(lat).max()))  # the narrowest pixel
    m_lat = abs(lat[1] - lat[0]) * 110_574  # a degree of latitude is at least this long
    return float(np.hypot(np.abs(np.diff(Z, axis=1)).max() / m_lon, np.abs(np.diff(Z, axis=0)).max() / m_lat))


def test_directed_times_equal_networkx_on_own_samples_demo_roads(tmp_path):
    """Demo roads on a wavy geographic DEM: our node times equal networkx's on a DiGraph whose
    weights this test computes from its own samples of the DEM (every sample transformed with
    pyproj, scipy linear grid interpolation), within the error that ``position_bound_m`` allows.

    The bound, derived here: a sample within ``b`` metres of its place has its elevation within
    ``dz = b x grade`` (the DEM's steepest grade), a piece's grade within ``2 dz / run``, and
    its time ``run / v(g)`` within ``3.5 x 2 dz / v(g)`` (Tobler: d/dg of exp(3.5 |g +- 0.05|)
    is at most 3.5 times it); a flight of steps within ``2 dz / 0.2``. So an arc's time is
    within ``E`` = the sum over its pieces, and a shortest time within ``E`` summed along the
    shortest path of either graph (``d' <= w'(P) <= d + E(P)`` and the reverse).
    """
    from pyproj import Transformer

    from circles.io.network import load_network

    nodes, edges = load_network(DEMO_ROADS, crs=METRIC)
    to_ll = Transformer.from_crs(METRIC, 4326, always_xy=True)
    dem, lon, lat, Z = wavy_dem(tmp_path, edges)
    st = edge_slope_times(edges, dem, 1.0)
    assert st.covered_share == 1.0 and 5 <= st.step_m <= 10
    assert st.position_bound_m == 1e-3  # a geographic DEM: samples through the fitted transformation
    dz = 1.01 * st.position_bound_m * dem_grade(lon, lat, Z)  # 1 % for second-order terms

    # the test's own sampling: n = ceil(L / step) pieces, shapely points, linear interpolation on pixel centres
    interp = RegularGridInterpolator((lat[::-1], lon), Z[::-1], method="linear")
    step = st.step_m
    G, ours = nx.DiGraph(), nx.DiGraph()
    for i, (u, v, geom, L, hw) in enumerate(zip(edges["u"], edges["v"], edges.geometry, edges["length_m"],
                                                edges["highway"])):
        n = max(1, math.ceil(L / step))
        pts = shapely.line_interpolate_point(geom, np.arange(n + 1) * (geom.length / n))
        lo, la = to_ll.transform(*shapely.get_coordinates(pts).T)
        z = interp(np.column_stack([la, lo]))
        run = L / n
        f = b = ef = eb = 0.0
        for rise in np.diff(z):
            if hw == "steps":
                f += run + abs(rise) / 0.2
                b += run + abs(rise) / 0.2
                ef += 2 * dz / 0.2
                eb += 2 * dz / 0.2
            else:
                f += run / tobler(rise / run)
                b += run / tobler(-rise / run)
                ef += 7 * dz / tobler(rise / run)
                eb += 7 * dz / tobler(-rise / run)
        for a, c, t, e, mine in ((u, v, f, ef, st.forward_s[i]), (v, u, b, eb, st.backward_s[i])):
            if not G.has_edge(a, c) or G[a][c]["w"] > t:
                G.add_edge(a, c, w=t, e=e)
            if not ours.has_edge(a, c) or ours[a][c]["w"] > mine:
                ours.add_edge(a, c, w=mine, e=e)
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0, slope=st)
    rng = np.random.default_rng(4)
    src = np.sort(rng.choice(len(nodes), 5, replace=False))
    mine = net.node_times(net.snap_points(nodes.iloc[src], max_offroad_m=1))[0]

    def search(g):  # trips *to* the sources: times, and the error bound summed along each shortest path
        dist, paths = nx.multi_source_dijkstra(g.reverse(copy=False), src.tolist(), weight="w")
        err = {k: sum(g[b][a]["e"] for a, b in zip(p[:-1], p[1:])) for k, p in paths.items()}
        return (np.array([dist.get(i, np.inf) for i in range(len(nodes))]),
                np.array([err.get(i, np.inf) for i in range(len(nodes))]))

    ref, e_ref = search(G)
    ours_nx, e_ours = search(ours)
    fin = np.isfinite(ref)
    assert np.array_equal(fin, np.isfinite(mine)) and fin.sum() > 100
    assert np.max(np.abs(mine[fin] - ours_nx[fin])) <= 1e-6  # our search on our weights
    bound = np.maximum(e_ref, e_ours)[fin] + 1e-6
    diff = np.abs(mine[fin] - ref[fin])
    assert np.all(diff <= bound)
    assert (bound / np.maximum(ref[fin], 1.0)).max() < 5e-4  # the bound itself: under 0.05 % of any trip
    assert (diff / bound).max() < 0.2  # and the actual differences far inside it
    # direction matters on these hills: the flat network's times differ, and trips out differ from trips in
    flat = TravelNetwork(nodes, edges, walk_speed_mps=1.0).node_times(
        TravelNetwork(nodes, edges, walk_speed_mps=1.0).snap_points(nodes.iloc[src], max_offroad_m=1))[0]
    assert np.abs(flat[fin] - mine[fin]).max() > 10
    out = nx.multi_source_dijkstra_path_length(G, src.tolist(), weight="w")
    out = np.array([out.get(i, np.inf) for i in range(len(nodes))])
    assert np.abs(out[fin] - mine[fin]).max() > 1


def exact_pixels(edges, dem):
    """Every sample of :func:`circles.io.dem.sample_pixels` transformed exactly (pyproj), in the DEM's pixels,
    with the metres per pixel across and down at each sample's latitude."""
    from pyproj import Transformer

    from circles.io.dem import sample_positions

    with rasterio.open(dem) as src:
        aff, crs = src.transform, src.crs
    st = edge_slope_times(edges, dem, 1.0)
    xy = sample_positions(np.asarray(edges.geometry.values, dtype=object), st.step_m)[0]
    lon, lat = Transformer.from_crs(edges.crs, crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
    inv = ~aff
    col = inv.a * np.asarray(lon) + inv.b * np.asarray(lat) + inv.c
    row = inv.d * np.asarray(lon) + inv.e * np.asarray(lat) + inv.f
    return col, row, abs(aff.a) * 111_320 * np.cos(np.radians(lat)), abs(aff.e) * 110_574


def test_geographic_samples_within_the_stated_bound_of_exact(tmp_path):
    """The samples on a geographic DEM (fitted transformation, straight between mapped vertices) lie
    within ``POSITION_TOL_M`` of the same samples transformed one by one with pyproj."""
    from circles.io.dem import POSITION_TOL_M, sample_pixels
    from circles.io.network import load_network

    _, edges = load_network(DEMO_ROADS, crs=METRIC)
    dem = wavy_dem(tmp_path, edges)[0]
    col, row, ptr, bound = sample_pixels(edges, dem)
    ec, er, mx, my = exact_pixels(edges, dem)
    assert bound == POSITION_TOL_M == 1e-3 and len(col) == len(ec) == ptr[-1] > 50_000
    off_m = np.hypot((col - ec) * mx, (row - er) * my)
    assert off_m.max() <= bound
    assert off_m.max() > 1e-9  # not exact: the bound is what holds


def test_very_large_area_transforms_every_sample_exactly(tmp_path):
    """Roads 3,000 km apart: no polynomial of the transformation is within FIT_TOL_M, so every sample
    is transformed exactly (bound 0) and equals pyproj's; the times are those of that exact sampling."""
    from circles.io.dem import sample_pixels

    nodes, edges = make_network([((500_000, 2_000_000), (500_300, 2_000_000)),
                                 ((500_000, 5_000_000), (500_300, 5_000_400))])
    lon0, lat0, lon1, lat1 = edges.to_crs(4326).total_bounds
    res = 0.01
    lon = np.arange(lon0 - 0.05, lon1 + 0.05, res) + res / 2
    lat = np.arange(lat1 + 0.05, lat0 - 0.05, -res) - res / 2
    Z = 100 + 30 * np.sin(lon[None, :] * 50) + 20 * np.cos(lat[:, None] * 40)
    dem = write_dem(tmp_path / "dem.tif", Z, lon0 - 0.05, lat1 + 0.05, res, crs="EPSG:4326")
    col, row, ptr, bound = sample_pixels(edges, dem)
    ec, er, _, _ = exact_pixels(edges, dem)
    assert bound == 0.0 and np.abs(col - ec).max() < 1e-9 and np.abs(row - er).max() < 1e-9
    st = edge_slope_times(edges, dem, 1.0)
    assert st.position_bound_m == 0.0 and st.covered_share == 1.0


def test_study_dem_key_is_a_path_beside_the_study():
    """``[network] dem`` is read as a path relative to the study file; a misspelt key is refused."""
    import tomllib

    from circles.errors import StudyError
    from circles.study import study_from_dict
    from conftest import DEMO

    raw = tomllib.loads((DEMO / "study.toml").read_text(encoding="utf-8"))
    assert study_from_dict(raw, base=DEMO).network.dem is None
    raw["network"]["dem"] = "dem.tif"
    assert study_from_dict(raw, base=DEMO).network.dem == (DEMO / "dem.tif").resolve()
    raw["network"]["dem_file"] = raw["network"].pop("dem")
    with pytest.raises(StudyError, match="unknown key 'dem_file'; known keys are .*dem, dem_licence, dem_source"):
        study_from_dict(raw, base=DEMO)


def test_sloped_catchments_equal_whole_network_rows_and_nearest(tmp_path):
    """With slope, the disc-confined catchments (disc from the fastest Tobler speed) equal
    whole-network Dijkstra rows, and the nearest time is the column minimum."""
    from circles.io.network import load_network

    nodes, edges = load_network(DEMO_ROADS, crs=METRIC)
    st = edge_slope_times(edges, wavy_dem(tmp_path, edges)[0], 1.0)
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0, slope=st)
    rng = np.random.default_rng(9)
    x0, y0, x1, y1 = edges.total_bounds
    src = net.snap_points(points(rng.uniform([x0, y0], [x1, y1], size=(25, 2))), max_offroad_m=300)
    dst = net.snap_points(points(rng.uniform([x0, y0], [x1, y1], size=(4000, 2))), max_offroad_m=300)
    fast = net.times_to_points(src, dst, cutoff_s=1500)
    ref = net.times_to_points_dense(src, dst, cutoff_s=1500)
    assert fast.nnz == ref.nnz > 500
    assert abs(fast - ref).max() < 1e-9
    near = net.nearest_times(src, dst, cutoff_s=1500)
    csc = ref.tocsc()
    has = np.diff(csc.indptr) > 0
    assert np.allclose(near[has], np.minimum.reduceat(csc.data, csc.indptr[:-1][has]), rtol=0, atol=1e-9)
    assert np.all(np.isinf(near[~has]))


def test_flat_twin_equals_a_network_built_without_the_dem(tmp_path):
    """The ``_flat`` shares' network (``flat_twin``, made from the sloped network's arrays) holds the
    same graph as one built from the roads without a DEM, its node times equal networkx's on the
    roads' lengths, and the sloped network it came from keeps its sloped times."""
    from circles.io.network import load_network

    nodes, edges = load_network(DEMO_ROADS, crs=METRIC)
    st = edge_slope_times(edges, wavy_dem(tmp_path, edges)[0], 1.2)
    sloped = TravelNetwork(nodes, edges, walk_speed_mps=1.2, slope=st)
    before = sloped.graph.data.copy()
    twin, built = sloped.flat_twin(), TravelNetwork(nodes, edges, walk_speed_mps=1.2)
    for a in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(twin.graph, a), getattr(built.graph, a))
    assert np.array_equal(twin.edge_time_s, built.edge_time_s) and np.array_equal(twin.edge_back_s, built.edge_time_s)
    assert np.array_equal(twin.edge_main, built.edge_main) and twin.max_speed_mps == 1.2 and twin.slope is None
    assert np.array_equal(sloped.graph.data, before) and not np.array_equal(before, twin.graph.data)
    assert sloped.max_speed_mps == pytest.approx(1.2 * rules.SLOPE_MAX_SPEED_FACTOR)
    G = nx.Graph()
    for u, v, length in zip(edges["u"], edges["v"], edges["length_m"]):
        if not G.has_edge(u, v) or G[u][v]["w"] > length / 1.2:
            G.add_edge(u, v, w=length / 1.2)
    src = [3, 40, 400]
    ref = nx.multi_source_dijkstra_path_length(G, src, weight="w")
    mine = twin.node_times(twin.snap_points(nodes.iloc[src], max_offroad_m=1))[0]
    assert np.allclose(mine, [ref.get(i, np.inf) for i in range(len(nodes))], rtol=1e-12, atol=1e-9)
    assert built.flat_twin() is built  # a flat network is its own twin


def test_sample_positions_equal_shapely_interpolation_on_demo_roads():
    """The numpy sampling gives shapely's line_interpolate_point at i x L / n, n = ceil(L / step)."""
    from circles.io.dem import sample_positions
    from circles.io.network import load_network

    _, edges = load_network(DEMO_ROADS, crs=METRIC)
    geoms = np.asarray(edges.geometry.values, dtype=object)
    for step in (10.0, 3.7):
        xy, ptr, n = sample_positions(geoms, step)
        L = shapely.length(geoms)
        assert np.array_equal(n, np.maximum(1, np.ceil(L / step)).astype(int)) and ptr[-1] == (n + 1).sum()
        line = np.repeat(np.arange(len(geoms)), n + 1)
        i = np.arange(ptr[-1]) - ptr[line]
        ref = shapely.get_coordinates(shapely.line_interpolate_point(geoms[line], i * (L[line] / n[line])))
        assert np.abs(xy - ref).max() < 1e-8


def test_halo_on_a_dem_grows_with_the_fastest_downhill_speed():
    """Downhill at g = -0.05 Tobler is exp(0.175) = 1.1912 times the flat speed, so a 15-minute halo at
    1 m/s reaches 900 m x 1.1912 = 1072.1 m (hand calculation); drive and flat walking are unchanged."""
    assert rules.halo_m([5, 15], "walk", 1.0, sloped=True) == pytest.approx(1072.1, abs=0.1)
    assert rules.halo_m([5, 15], "walk", 1.0) == 900.0
    assert rules.halo_m([15], "drive", 1.0, sloped=True) == rules.halo_m([15], "drive", 1.0)
    assert rules.reach_m(1800, [15], "walk", 1.0, sloped=True) == pytest.approx(2 * 1072.1, abs=0.2)
