"""The slope stage's new code paths (commit a7c2b53): samples in blocks of whole edges, pieces laid out as
the samples, the DEM read as a window of a large file, the complex cumulative partial-edge look-up,
every group's nearest times in one search, and ``any_times`` without a frame.

Oracles: hand calculation on the ramp z = A x + B y + C + D x y (bilinear interpolation between pixel
centres is exact for it, so every sample's elevation is the formula; the x y term makes a sample read
from the wrong pixel change the rises), the default block size for smaller blocks, for each group's
nearest times tests/oracle.py's segment graph (flat), the dense catchment matrix (sloped) and
networkx Dijkstra, brute force for ``_blocks`` and pandas for ``any_times``.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import circles.io.dem as dem_mod
from circles.coverage import GROUPS, any_times
from circles.io.dem import _blocks, edge_slope_times
from circles.kinds import kinds_serving
from circles.travel import TravelNetwork, subset
from conftest import (DEMO_ROADS, METRIC, grid_dem, grid_segments, make_network, pixel_centres, points,
                      wavy_dem, write_dem)
import oracle
from oracle import tobler


def wavy(X, Y):
    return 20 + 0.05 * X - 0.03 * Y + 4 * np.sin(X / 37.0) * np.cos(Y / 23.0)


def assert_same_times(a, b):
    """Edge times bit for bit; the pieces to 1e-9 s (they are held as running sums, summed block by
    block: a block's offset is added once, so the sums round differently)."""
    for name in ("forward_s", "backward_s", "piece_forward_s", "piece_backward_s"):
        x, y = getattr(a, name), getattr(b, name)
        if not name.startswith("piece"):
            assert np.array_equal(x, y), name
        else:
            assert x.shape == y.shape and np.abs(x - y).max() <= 1e-9, name
    assert np.array_equal(a.piece_ptr, b.piece_ptr)
    assert (a.covered_share, a.n_outside) == (b.covered_share, b.n_outside)


# ------------------------------------------------------------------ blocks of whole edges

def block_network():
    """Many roads: on the DEM, off it, over a nodata hole, steps, short and long (up to 46 samples)."""
    rng = np.random.default_rng(3)
    segs = []
    for _ in range(40):
        x, y = rng.uniform(-80, 850), rng.uniform(-280, 280)
        L, a = rng.uniform(2, 200), rng.uniform(0, 2 * np.pi)
        segs.append(((x, y), (x + L * np.cos(a), y + L * np.sin(a))))
    segs += [((2000, 0), (2100, 0)), ((3000, 50), (3003, 50)),  # off the DEM
             ((150, 0), (300, 0)), ((205, -40), (215, 40))]  # over the nodata hole
    nodes, edges = make_network(segs)
    steps = np.zeros(len(edges), dtype=bool)
    steps[::5] = True
    edges.loc[steps, "highway"] = "steps"
    return nodes, edges


@pytest.mark.parametrize("size", [1, 3, 7, 50, 333])
def test_small_blocks_give_the_default_results(tmp_path, monkeypatch, size):
    """``BLOCK_SAMPLES`` small (1 and 3: fewer than any edge's samples; 7, 50: blocks mixing edges on
    the DEM, off it, on nodata and steps) gives the same arrays as one block of every sample."""
    x0, y0, res, w, h = -100.0, 300.0, 5.0, 200, 120
    z = wavy(*pixel_centres(x0, y0, res, w, h))
    z[55:65, 60:64] = -9999.0
    dem = write_dem(tmp_path / "dem.tif", z, x0, y0, res, nodata=-9999.0)
    _, edges = block_network()
    ref = edge_slope_times(edges, dem, 1.2)
    assert int(ref.piece_ptr[-1]) < dem_mod.BLOCK_SAMPLES  # the default: one block
    assert 3 <= ref.n_outside and edges["highway"].eq("steps").sum() >= 5
    monkeypatch.setattr(dem_mod, "BLOCK_SAMPLES", size)
    blocks = _blocks(ref.piece_ptr, size)
    assert len(blocks) >= 3
    covered = ref.forward_s != edges["length_m"].to_numpy() / 1.2
    if size >= 7:  # blocks mixing edges on and off the DEM (1, 3: every block one edge, or part of one)
        assert any(covered[a:b].any() and not covered[a:b].all() for a, b in blocks)
    else:
        assert all(b == a + 1 for a, b in blocks)
    assert_same_times(ref, edge_slope_times(edges, dem, 1.2))


def test_small_blocks_geographic_dem_demo_roads(tmp_path, monkeypatch):
    """The demo roads on a geographic DEM (samples interpolated from densified vertices per block):
    blocks of 5,000 samples give the one-block times."""
    from circles.io.network import load_network

    _, edges = load_network(DEMO_ROADS, crs=METRIC)
    path = wavy_dem(tmp_path, edges)[0]
    ref = edge_slope_times(edges, path, 1.0)
    assert ref.position_bound_m > 0  # the fitted-transformation path
    monkeypatch.setattr(dem_mod, "BLOCK_SAMPLES", 5000)
    assert len(_blocks(ref.piece_ptr, 5000)) > 5
    assert_same_times(ref, edge_slope_times(edges, path, 1.0))


def test_blocks_cover_every_line_once_in_order():
    """``_blocks``: consecutive runs of whole lines from 0 to the last, each cut where a multiple of
    ``size`` falls (brute force: the line holding each such sample, found by walking the lines)."""
    rng = np.random.default_rng(0)
    assert _blocks(np.array([0]), 10) == []
    for _ in range(200):
        nl = int(rng.integers(1, 30))
        counts = rng.integers(2, 40, nl)  # a line has n + 1 >= 2 samples
        ptr = np.r_[0, np.cumsum(counts)]
        size = int(rng.integers(1, 120))
        blocks = _blocks(ptr, size)
        lines = [k for a, b in blocks for k in range(a, b)]
        assert lines == list(range(nl))  # every line once, in order
        assert all(b > a for a, b in blocks)
        cuts = set()
        for s in range(0, int(ptr[-1]), size):
            k = 0
            while ptr[k + 1] <= s:
                k += 1
            cuts.add(k)
        assert [a for a, _ in blocks] == sorted(cuts)
        for a, b in blocks:  # about size samples: beyond the first line, under size
            assert ptr[b] - ptr[a + 1] < size or b == a + 1


# ------------------------------------------------------------------ pieces by hand on a ramp

A, B, C, D = 0.08, -0.05, 12.0, 2e-4  # the ramp z = A x + B y + C + D x y


def ramp(x, y):
    """The ramp's elevation. Bilinear interpolation between pixel centres is exact for 1, x, y and x y, so
    every sample's elevation is this formula; the x y term makes it blind to no pixel shift (on a plane a
    shift only adds a constant, and every rise stays the same)."""
    return A * x + B * y + C + D * x * y


def ramp_dem(tmp_path):
    return grid_dem(tmp_path, ramp, name="ramp.tif")


RAMP_LINES = [[(0, 0), (137.0, 0)], [(10, 20), (80, 120)], [(200, 0), (260, 40), (260, 113.3)],
              [(400, 50), (403, 90)], [(5000, 0), (5047, 0)]]
RAMP_HIGHWAY = ["residential", "footway", "residential", "steps", "residential"]


def ramp_network():
    """A straight road, a diagonal, a bent road (three vertices), steps, and a road off the DEM."""
    return make_network(RAMP_LINES, highway=RAMP_HIGHWAY)


def hand_pieces(geom, highway, w, on_dem=True, step=5.0):
    """Forward and backward piece times by hand: n = ceil(L / step) pieces of run L / n, the samples at
    j L / n along the line (walked vertex by vertex here), rise from the ramp's formula :func:`ramp`."""
    xy = np.asarray(geom.coords)
    seg = np.hypot(*np.diff(xy, axis=0).T)
    L = seg.sum()
    n = math.ceil(L / step)
    run = L / n
    samples = []
    for j in range(n + 1):
        d = j * run
        k = 0
        while k < len(seg) - 1 and d > seg[:k + 1].sum():
            k += 1
        t = (d - seg[:k].sum()) / seg[k]
        samples.append(xy[k] + t * (xy[k + 1] - xy[k]))
    z = [ramp(p[0], p[1]) for p in samples]
    fwd, bwd = [], []
    for j in range(n):
        rise = z[j + 1] - z[j]
        if not on_dem:
            fwd.append(run / w)
            bwd.append(run / w)
        elif highway == "steps":
            fwd.append(run / w + abs(rise) / 0.2)
            bwd.append(run / w + abs(rise) / 0.2)
        else:
            fwd.append(run / tobler(rise / run, w))
            bwd.append(run / tobler(-rise / run, w))
    return np.array(fwd), np.array(bwd)


def assert_hand_pieces(st, edges, w, on_dem):
    """Every edge ``i``'s pieces ``piece_forward_s[ptr[i]:ptr[i+1]-1]`` (and backward) are its hand pieces
    (:func:`hand_pieces`, flat where ``on_dem[i]`` is false) to 1e-9 s, the last slot is 0, and
    ``forward_s[i]`` / ``backward_s[i]`` are their sums."""
    ptr = st.piece_ptr
    assert len(ptr) == len(edges) + 1 and ptr[-1] == len(st.piece_forward_s) == len(st.piece_backward_s)
    n_hand = 0
    for i, (geom, hw) in enumerate(zip(edges.geometry, edges["highway"])):
        f, b = hand_pieces(geom, hw, w, on_dem=on_dem[i])
        n_hand += len(f)
        assert ptr[i + 1] - ptr[i] == len(f) + 1
        assert np.abs(st.piece_forward_s[ptr[i]:ptr[i + 1] - 1] - f).max() <= 1e-9, i
        assert np.abs(st.piece_backward_s[ptr[i]:ptr[i + 1] - 1] - b).max() <= 1e-9, i
        assert st.piece_forward_s[ptr[i + 1] - 1] == 0.0 and st.piece_backward_s[ptr[i + 1] - 1] == 0.0
        assert st.forward_s[i] == pytest.approx(f.sum(), abs=1e-9)
        assert st.backward_s[i] == pytest.approx(b.sum(), abs=1e-9)
    assert st.n_pieces == n_hand


def test_piece_layout_equals_hand_pieces_on_a_ramp(tmp_path):
    """Pieces laid out as the samples: ``piece_forward_s[ptr[i]:ptr[i+1]-1]`` are the hand-computed
    Tobler (or steps, or flat) times of edge ``i``'s pieces, the last slot is 0, and ``forward_s[i]``
    is their sum."""
    _, edges = ramp_network()
    st = edge_slope_times(edges, ramp_dem(tmp_path), 1.3)
    assert st.step_m == 5.0 and st.n_outside == 1
    assert_hand_pieces(st, edges, 1.3, [g.bounds[0] < 1000 for g in edges.geometry])
    ptr = st.piece_ptr
    bent = int(np.flatnonzero([len(g.coords) == 3 for g in edges.geometry])[0])
    f = st.piece_forward_s[ptr[bent]:ptr[bent + 1] - 1]
    assert np.ptp(f) > 0.1  # the bend: pieces of different grades


@pytest.mark.parametrize("storage", ["striped", "tiled_deflate"])
def test_roads_on_a_window_of_a_large_ramp_equal_hand_pieces(tmp_path, storage):
    """Roads over a small part of a large DEM (800 x 800 pixels, 4 km a side: only the window under the
    roads is read, its offset taken off the pixel positions) have the hand pieces of the ramp, whether
    the file is an uncompressed striped GeoTIFF (GDAL's direct read) or tiled and deflated; a road over
    a nodata hole keeps its flat time, a road off the DEM too."""
    x0, y0, res, w, h = -2000.0, 2000.0, 5.0, 800, 800
    X, Y = pixel_centres(x0, y0, res, w, h)
    z = ramp(X, Y)
    z[(np.abs(X - 560) < 10) & (np.abs(Y + 100) < 10)] = -9999.0  # under the last road: x in [550, 570]
    creation = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"} \
        if storage == "tiled_deflate" else {}
    dem = write_dem(tmp_path / "large.tif", z, x0, y0, res, nodata=-9999.0, **creation)
    _, edges = make_network(RAMP_LINES + [[(500, -100), (650, -100)]], highway=RAMP_HIGHWAY + ["residential"])
    st = edge_slope_times(edges, dem, 1.3)
    assert st.step_m == 5.0 and st.n_outside == 2
    hole = [g.bounds[1] == g.bounds[3] == -100 for g in edges.geometry]
    assert sum(hole) == 1
    assert_hand_pieces(st, edges, 1.3, [g.bounds[0] < 1000 and not o for g, o in zip(edges.geometry, hole)])


def test_times_from_u_equal_hand_sums_on_a_ramp(tmp_path):
    """``times_from_u(e, f)``: the whole hand pieces before the point plus the share of the piece it
    stands on (x = f n, k = min(floor x, n - 1), share x - k), forward and backward, to 1e-9."""
    nodes, edges = ramp_network()
    st = edge_slope_times(edges, ramp_dem(tmp_path), 1.3)
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.3, slope=st)
    rng = np.random.default_rng(5)
    for i, (geom, hw) in enumerate(zip(edges.geometry, edges["highway"])):
        fp, bp = hand_pieces(geom, hw, 1.3, on_dem=geom.bounds[0] < 1000)
        n = len(fp)
        fr = np.r_[0.0, 1.0, np.arange(1, n) / n, rng.uniform(0, 1, 20), 0.5 / n, 1 - 0.25 / n]
        fwd, bwd = net.times_from_u(np.full(len(fr), i), fr)
        for f, a, b in zip(fr, fwd, bwd):
            x = f * n
            k = min(int(math.floor(x)), n - 1)
            assert a == pytest.approx(fp[:k].sum() + (x - k) * fp[k], abs=1e-9)
            assert b == pytest.approx(bp[:k].sum() + (x - k) * bp[k], abs=1e-9)
        assert fwd[1] == pytest.approx(st.forward_s[i], abs=1e-9) and fwd[0] == 0.0 and bwd[0] == 0.0


# ------------------------------------------------------------------ nearest times by group

def demo_net(tmp_path, sloped):
    from circles.io.network import load_network

    nodes, edges = load_network(DEMO_ROADS, crs=METRIC)
    st = None
    if sloped:
        x0, y0, x1, y1 = edges.total_bounds
        res = 10.0
        w, h = int((x1 - x0) / res) + 10, int((y1 - y0) / res) + 10
        dem = grid_dem(tmp_path, lambda X, Y: 30 + 25 * np.sin((X - x0) / 180.0) * np.cos((Y - y0) / 140.0),
                       x0 - 50, y1 + 50, res, w, h, name="demo.tif")
        st = edge_slope_times(edges, dem, 1.0)
        assert st.covered_share == 1.0
    return TravelNetwork(nodes, edges, walk_speed_mps=1.0, slope=st), edges


def column_minima(m, n_targets):
    """The least stored time of each column of a source-by-target matrix (inf where none)."""
    csc = m.tocsc()
    has = np.diff(csc.indptr) > 0
    out = np.full(n_targets, np.inf)
    out[has] = np.minimum.reduceat(csc.data, csc.indptr[:-1][has])
    return out


@pytest.mark.parametrize("sloped", [False, True])
@pytest.mark.parametrize("cutoff", [np.inf, 900.0])
def test_nearest_times_by_group_equals_each_group_alone(tmp_path, sloped, cutoff):
    """One search for four groups equals each group's sources alone, computed by other code: flat,
    tests/oracle.py's segment graph (its own snapping, networkx Dijkstra per group); sloped, the column
    minima of ``times_to_points_dense`` (one whole-network Dijkstra row per source) on the group's
    sources (``subset``). Sources of group -1 are ignored, an empty group is inf everywhere; targets
    right beside sources (the same edge) and unsnapped points included."""
    net, edges = demo_net(tmp_path, sloped)
    rng = np.random.default_rng(11)
    x0, y0, x1, y1 = edges.total_bounds

    def near_roads(k, jitter):  # points on random roads, moved off them a little
        g = edges.geometry.values[rng.integers(0, len(edges), k)]
        xy = shapely.get_coordinates(shapely.line_interpolate_point(g, rng.uniform(0, 1, k), normalized=True))
        return xy + rng.normal(0, jitter, size=(k, 2))

    sxy = near_roads(60, 20)
    txy = np.r_[near_roads(1500, 30), sxy + rng.normal(0, 15, size=(60, 2)),
                [[x0 - 5000, y0 - 5000]]]  # the last: too far to snap
    sxy = np.r_[sxy, [[x1 + 5000, y1 + 5000]]]
    src = net.snap_points(points(sxy), max_offroad_m=200)
    tgt = net.snap_points(points(txy), max_offroad_m=200)
    assert not src.snapped[-1] and not tgt.snapped[-1]
    group = rng.integers(-1, 3, len(src))  # -1: none; groups 0..2, group 3 empty
    group[-1] = 0  # an unsnapped source in a group
    t = net.nearest_times_by_group(src, group, 4, tgt, cutoff_s=cutoff)
    assert t.shape == (4, len(tgt))
    if not sloped:
        seg = oracle.Segments(oracle.line_ways(edges))
        s_snap, t_snap = seg.snap(sxy, 200), seg.snap(txy, 200)
        assert np.array_equal(s_snap["seg"] >= 0, src.snapped) and np.array_equal(t_snap["seg"] >= 0, tgt.snapped)
    for g in range(3):
        idx = np.flatnonzero(group == g)
        if sloped:
            ref = column_minima(net.times_to_points_dense(subset(src, idx), tgt, cutoff_s=cutoff), len(tgt))
        else:
            ref = seg.times_from(s_snap.iloc[idx], t_snap, speed_mps=1.0, cutoff_s=cutoff)
        fin = np.isfinite(ref)
        assert np.array_equal(fin, np.isfinite(t[g])) and fin.sum() > 100
        assert np.abs(t[g][fin] - ref[fin]).max() <= 1e-9
        same = np.isin(tgt.edge, src.edge[idx]) & tgt.snapped
        assert same.sum() >= 5  # targets on an edge of one of the group's sources
    assert np.all(np.isinf(t[3]))
    if np.isfinite(cutoff):
        assert t[np.isfinite(t)].max() <= cutoff and np.isinf(t[:3]).sum() > 100
    # a group of -1 only, and no groups at all
    assert np.all(np.isinf(net.nearest_times_by_group(src, np.full(len(src), -1), 2, tgt)))
    assert net.nearest_times_by_group(src, np.full(len(src), -1), 0, tgt).shape == (0, len(tgt))


def test_nearest_times_by_group_same_edge_pairs_by_hand(tmp_path):
    """Three sources on one straight edge over the ramp, each its own group, and a target between them:
    each group's time is the walk along the edge from the target to its own source (the same-edge pairs
    go to their source's group only), the hand pieces summed: backward pieces towards u, forward ones
    towards v, a share of the piece a point stands on."""
    nodes, edges = make_network([((20, -150), (820, 250))])
    st = edge_slope_times(edges, ramp_dem(tmp_path), 1.0)
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0, slope=st)
    geom = edges.geometry.iloc[0]
    L = geom.length
    fs, ft = [0.45, 0.1, 0.8], 0.5
    s = net.snap_points(points([geom.interpolate(f * L).coords[0] for f in fs]), max_offroad_m=1)
    tg = net.snap_points(points([geom.interpolate(ft * L).coords[0]]), max_offroad_m=1)
    assert (s.edge == 0).all() and (tg.edge == 0).all()
    t = net.nearest_times_by_group(s, np.array([1, 0, 2]), 3, tg)
    fp, bp = hand_pieces(geom, "residential", 1.0)
    n = len(fp)

    def from_u(pieces, f):  # u to the point at f (forward pieces) or back (backward ones), by hand
        x = f * n
        k = min(int(math.floor(x)), n - 1)
        return pieces[:k].sum() + (x - k) * pieces[k]

    for g, f in ((1, 0.45), (0, 0.1), (2, 0.8)):
        want = from_u(bp, ft) - from_u(bp, f) if f < ft else from_u(fp, f) - from_u(fp, ft)
        assert t[g, 0] == pytest.approx(want, abs=1e-9), g
    assert t[1, 0] < t[0, 0]  # the nearer source is group 1's
    # the slope matters: 0.05 L down the edge and 0.3 L up it are not 1 : 6 in time
    assert abs(t[2, 0] / t[1, 0] - 6) > 0.1


def test_nearest_times_by_group_against_networkx_on_a_sloped_grid(tmp_path):
    """A 6 x 6 grid of 50 m roads on the ramp, sources and targets at nodes: each group's time equals
    networkx's multi-source Dijkstra (target to source: the reversed DiGraph of the forward and
    backward edge times) from that group's nodes."""
    nodes, edges = make_network(grid_segments(6, 50.0))
    st = edge_slope_times(edges, ramp_dem(tmp_path), 1.0)
    net = TravelNetwork(nodes, edges, walk_speed_mps=1.0, slope=st)
    G = nx.DiGraph()
    for i, (u, v) in enumerate(zip(edges["u"], edges["v"])):
        G.add_edge(u, v, w=st.forward_s[i])
        G.add_edge(v, u, w=st.backward_s[i])
    assert len(nodes) == 36
    xy = np.c_[nodes.geometry.x, nodes.geometry.y]
    snap = net.snap_points(points(xy), max_offroad_m=1)
    group = np.full(36, -1)
    group[[0, 7, 35]] = 0
    group[[5, 30]] = 1
    t = net.nearest_times_by_group(snap, group, 3, snap, cutoff_s=np.inf)
    for g in (0, 1):
        ref = nx.multi_source_dijkstra_path_length(G.reverse(copy=True), np.flatnonzero(group == g).tolist(),
                                                   weight="w")
        assert np.allclose(t[g], [ref[k] for k in range(36)], rtol=0, atol=1e-9)
    assert np.all(np.isinf(t[2]))
    # the cutoff: beyond it inf, within it unchanged
    tc = net.nearest_times_by_group(snap, group, 3, snap, cutoff_s=100.0)
    assert np.array_equal(tc, np.where(t <= 100.0, t, np.inf))
    # direction matters on the ramp
    out = nx.multi_source_dijkstra_path_length(G, [5, 30], weight="w")
    assert max(abs(out[k] - t[1][k]) for k in range(36)) > 1


# ------------------------------------------------------------------ any_times

def test_any_times_equals_pandas_min_skipna():
    """``any_times`` on a dict and on a frame equals ``DataFrame[cols].min(axis=1)`` (NaN skipped,
    all-NaN rows NaN, inf kept); a group without kind columns is inf; other columns are ignored."""
    rng = np.random.default_rng(2)
    n = 300
    eld = kinds_serving("elderly")
    times = {}
    for k in eld[:3]:
        v = rng.uniform(0, 1000, n)
        v[rng.random(n) < 0.3] = np.nan
        v[rng.random(n) < 0.2] = np.inf
        times[f"time_s_{k}"] = v
    times[f"time_s_{eld[0]}"][:5] = np.nan  # rows 0..4: every elderly kind NaN
    for k in eld[1:3]:
        times[f"time_s_{k}"][:5] = np.nan
    times[f"time_s_{eld[1]}"][5:10] = np.inf
    times["time_s_unrelated"] = np.zeros(n)  # not a kind: ignored
    frame = pd.DataFrame(times | {"label": ["a"] * n})
    cols = [f"time_s_{k}" for k in eld[:3]]
    ref = frame[cols].min(axis=1).to_numpy()
    assert np.isnan(ref[:5]).all() and np.isfinite(ref).sum() > 100
    for inp in (times, frame):
        out = any_times(inp)
        assert set(out) == {f"time_s_{g}_any" for g in GROUPS}
        assert np.array_equal(out["time_s_elderly_any"], ref, equal_nan=True)
        assert len(out["time_s_infants_any"]) == n and np.all(np.isposinf(out["time_s_infants_any"]))
    # both groups with columns, one kind each for infants (a frame with an integer column)
    inf_k = kinds_serving("infants")
    frame2 = frame.assign(**{f"time_s_{inf_k[1]}": np.arange(n)})
    out = any_times(frame2)
    assert np.array_equal(out["time_s_infants_any"], frame2[[f"time_s_{inf_k[1]}"]].min(axis=1).to_numpy())
    assert np.array_equal(out["time_s_elderly_any"], ref, equal_nan=True)
    # empty input
    assert all(len(v) == 0 for v in any_times(pd.DataFrame({c: [] for c in cols})).values())


def test_densify_equals_shapely_segmentize():
    """``_densify`` (only the cut segments worked on) gives shapely's ``segmentize`` vertices (every
    segment longer than the limit cut into ceil(length / limit) equal parts), the line numbers, and
    each vertex's distance along its line (shapely's ``line_locate_point``)."""
    from circles.io.dem import _densify, _line_layout

    rng = np.random.default_rng(8)
    geoms = []
    for _ in range(60):
        k = int(rng.integers(2, 7))
        xy = np.cumsum(rng.uniform(-40, 40, size=(k, 2)), axis=0) + rng.uniform(0, 1000, 2)
        geoms.append(shapely.LineString(xy))
    geoms.append(shapely.LineString([(0, 0), (3, 0)]))  # nothing cut
    geoms = np.array(geoms, dtype=object)
    coords, idx, seg, cum = _line_layout(geoms, 5.0)[:4]
    for limit in (7.5, 25.0, 1000.0):
        x, y, vidx, along = _densify(coords, idx, seg, cum, limit)
        ref, ridx = shapely.get_coordinates(shapely.segmentize(geoms, limit), return_index=True)
        assert len(x) == len(ref) and np.array_equal(vidx, ridx)
        assert np.abs(x - ref[:, 0]).max() < 1e-9 and np.abs(y - ref[:, 1]).max() < 1e-9
        loc = shapely.line_locate_point(geoms[vidx], shapely.points(ref))
        assert np.abs(along - loc).max() < 1e-9
        if limit == 1000.0:
            assert len(x) == len(coords)
        else:
            assert len(x) > len(coords)


def test_vertices_read_once_give_the_same_times_and_snaps(tmp_path):
    """The roads' vertices read once and handed to ``edge_slope_times`` and ``TravelNetwork`` (the
    stage's sharing) give the same times and the same snaps as each reading its own, and are left as
    they were (the snapping index reads them after the DEM stage)."""
    nodes, edges = ramp_network()
    dem = ramp_dem(tmp_path)
    vertices = shapely.get_coordinates(edges.geometry.values, return_index=True)
    before = (vertices[0].copy(), vertices[1].copy())
    shared = edge_slope_times(edges, dem, 1.3, vertices=vertices)
    assert_same_times(edge_slope_times(edges, dem, 1.3), shared)
    assert np.array_equal(vertices[0], before[0]) and np.array_equal(vertices[1], before[1])
    rng = np.random.default_rng(1)
    pts = points(rng.uniform([-20, -20], [420, 130], size=(200, 2)))
    a = TravelNetwork(nodes, edges, walk_speed_mps=1.3, slope=shared, vertices=vertices).snap_points(
        pts, max_offroad_m=60)
    b = TravelNetwork(nodes, edges, walk_speed_mps=1.3, slope=shared).snap_points(pts, max_offroad_m=60)
    assert a.snapped.sum() > 50
    for name in ("edge", "along_m", "offroad_m", "to_u_s", "to_v_s", "from_u_s", "from_v_s"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
