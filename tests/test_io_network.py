"""Road network loaders on real files: OSM XML (.osm, .osm.bz2), PBF, GraphML, a centreline GPKG."""

from __future__ import annotations

import bz2

import numpy as np
import pytest

from circles.errors import InputFileError, NetworkError
from circles.io.network import DRIVE_SPEED_KPH, connectivity_report, load_network
from conftest import DEMO, METRIC, TESTDATA

BZ2 = TESTDATA / "beijing_cau.osm.bz2"
PBF = TESTDATA / "beijing_cau.osm.pbf"


@pytest.fixture(scope="module")
def osm_plain(tmp_path_factory):
    p = tmp_path_factory.mktemp("osm") / "beijing_cau.osm"
    p.write_bytes(bz2.decompress(BZ2.read_bytes()))
    return p


def test_osm_xml_bz2_and_plain_agree(osm_plain):
    n1, e1 = load_network(osm_plain, crs=METRIC)
    n2, e2 = load_network(BZ2, crs=METRIC)
    assert len(e1) == len(e2) > 500
    assert e1["length_m"].sum() == pytest.approx(e2["length_m"].sum())
    # only highway ways, none of the campus buildings; no motorway on foot
    assert set(e1["highway"]) <= set(DRIVE_SPEED_KPH) | {"footway", "path", "cycleway", "steps", "pedestrian",
                                                          "living_street", "primary_link", "secondary_link",
                                                          "tertiary_link", "trunk_link", "connector", "corridor", "track"}
    assert not e1["highway"].isin(["motorway", "motorway_link"]).any()


def test_pbf_matches_osm_xml(osm_plain):
    _, e_xml = load_network(osm_plain, crs=METRIC)
    _, e_pbf = load_network(PBF, crs=METRIC)
    # the same ways in two file formats (OSM XML, PBF), both read by circles' pyosmium path: the same
    # total length. This is a format check, not an independent reader: tests/test_oracle_figures.py
    # reads the demo's PBF with its own pyosmium handler and walk rules.
    assert e_pbf["length_m"].sum() == pytest.approx(e_xml["length_m"].sum(), rel=1e-6)


def test_graphml_round_trip(osm_plain, tmp_path):
    import osmnx as ox

    # unsimplified, so every GraphML edge carries one way's tags (a simplified osmnx graph
    # merges ways of several classes into one edge; GraphML also lacks the foot= tag)
    G = ox.graph.graph_from_xml(osm_plain, retain_all=True, simplify=False)
    ox.io.save_graphml(G, tmp_path / "cau.graphml")
    _, e = load_network(tmp_path / "cau.graphml", crs=METRIC)
    _, e_xml = load_network(osm_plain, crs=METRIC)
    # osmnx builds its own segments (42 m of 58.7 km differ: segments osmnx keeps once)
    assert e["length_m"].sum() == pytest.approx(e_xml["length_m"].sum(), rel=1e-3)


def test_drive_profile_speeds_and_one_way(osm_plain):
    _, walk = load_network(osm_plain, crs=METRIC, profile="walk")
    _, drive = load_network(osm_plain, crs=METRIC, profile="drive")
    assert not drive["highway"].isin(["footway", "path", "cycleway", "steps"]).any()
    assert drive.loc[drive["highway"] == "primary", "speed_kph"].eq(65).all()
    assert drive["oneway"].any() and drive["length_m"].sum() < walk["length_m"].sum()


def test_centreline_gpkg_with_chinese_attributes_and_joins():
    path = TESTDATA / "centrelines.gpkg"
    n0, e0 = load_network(path, crs=METRIC, road_class_column="道路等级", name_column="道路名称")
    n1, e1 = load_network(path, crs=METRIC, road_class_column="道路等级", name_column="道路名称", join_tolerance_m=5)
    r0, r1 = connectivity_report(n0, e0), connectivity_report(n1, e1)
    assert set(e0["highway"]) <= {"primary", "secondary", "tertiary"}
    assert r1["n_connectors"] >= 4  # the four ends cut 3 m short are joined
    assert r1["n_pieces"] < r0["n_pieces"]
    # joins add at most tolerance-long connectors; nothing is dropped
    conn = e1[e1["highway"] == "connector"]
    assert conn["length_m"].max() <= 5.0 + 1e-6
    assert e1.loc[e1["highway"] != "connector", "length_m"].sum() == pytest.approx(e0["length_m"].sum())


def test_demo_sample_pieces_all_kept():
    n, e = load_network(DEMO / "roads_osm_sample.geojson", crs=METRIC, node_crossings=True)
    rep = connectivity_report(n, e)
    assert rep["n_pieces"] > 20 and rep["largest_piece_share"] < 0.6
    assert e["piece"].nunique() == rep["n_pieces"]
    assert np.bincount(n["piece"]).sum() == len(n)


def test_bad_network_inputs(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_network(tmp_path / "nope.geojson", crs=METRIC)
    (tmp_path / "roads.txt").write_text("x")
    with pytest.raises(InputFileError, match="unknown road network format"):
        load_network(tmp_path / "roads.txt", crs=METRIC)
    # a GeoJSON of points is not a road network
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame(geometry=[shapely.Point(114.3, 30.6)], crs=4326).to_file(tmp_path / "pts.geojson")
    with pytest.raises(InputFileError, match="no LineString"):
        load_network(tmp_path / "pts.geojson", crs=METRIC)
    # only motorways: nothing left to walk on
    gpd.GeoDataFrame({"highway": ["motorway"]}, geometry=[shapely.LineString([(114.3, 30.6), (114.31, 30.6)])],
                     crs=4326).to_file(tmp_path / "mw.geojson")
    with pytest.raises(NetworkError, match="no roads usable"):
        load_network(tmp_path / "mw.geojson", crs=METRIC)


RULES = TESTDATA / "wuhan_walk_rules.osm.bz2"  # real 2017 Wuhan OSM ways (scripts/cut_osm_test_clips.py)


def _raw_ways(path):
    """Independent oracle: the ways of an OSM XML file parsed with ElementTree, projected with pyproj."""
    import xml.etree.ElementTree as ET

    import shapely
    from pyproj import Transformer

    root = ET.fromstring(bz2.decompress(path.read_bytes()))
    tr = Transformer.from_crs(4326, METRIC, always_xy=True)
    loc = {n.get("id"): tr.transform(float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    ways = {}
    for w in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in w.findall("tag")}
        ways[int(w.get("id"))] = (tags, shapely.LineString([loc[r.get("ref")] for r in w.findall("nd")]))
    return ways


def test_ring_footway_kept_whole_and_foot_no_excluded():
    ways = _raw_ways(RULES)
    ring_id, foot_no = 134626988, [264411350, 426933532]
    tags, ring = ways[ring_id]
    assert tags["highway"] == "footway" and ring.is_ring
    assert all(ways[i][0].get("foot") == "no" for i in foot_no)
    _, walk = load_network(RULES, crs=METRIC, profile="walk")
    _, drive = load_network(RULES, crs=METRIC, profile="drive")
    # the ring is in the network, whole (two edges at least, no self-loop), its length that of the way
    on_ring = walk[walk["osmid"] == ring_id]
    assert len(on_ring) >= 2 and (on_ring["u"] != on_ring["v"]).all()
    assert on_ring["length_m"].sum() == pytest.approx(ring.length, rel=1e-6)
    # every walkable way is there whole; the foot=no tunnel is not walked but is driven
    assert not walk["osmid"].isin(foot_no).any()
    assert set(foot_no) <= set(drive["osmid"])
    for i, (_tags, line) in ways.items():
        if i in foot_no:
            continue
        assert walk.loc[walk["osmid"] == i, "length_m"].sum() == pytest.approx(line.length, rel=1e-6), i


def test_walk_rule_table_on_tags():
    import pandas as pd

    from circles.io.network import usable_ways

    t = pd.DataFrame({
        "highway": ["footway", "residential", "residential", "service", "cycleway", "cycleway", "primary",
                    "motorway", "pedestrian", "residential"],
        "foot": [None, "no", "yes", None, None, "designated", None, None, None, None],
        "access": [None, None, "private", "private", None, None, "no", None, None, None],
        "area": [None, None, None, None, None, None, None, None, "yes", None],
        "sidewalk": [None, None, None, None, None, None, None, None, None, "separate"],
    })
    assert usable_ways(t, "walk").tolist() == [True, False, True, False, False, True, False, False, False, False]


def _edge_table_digest(seed: int) -> str:
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, pandas as pd\n"
        "from circles.io.network import load_network\n"
        "h = hashlib.sha256()\n"
        f"for path, kw in [({str(BZ2)!r}, {{}}), ({str(RULES)!r}, {{}}), "
        f"({str(DEMO / 'roads_osm_sample.geojson')!r}, dict(node_crossings=True, join_tolerance_m=20))]:\n"
        "    for profile in ('walk', 'drive'):\n"
        "        n, e = load_network(path, crs='EPSG:32650', profile=profile, **kw)\n"
        "        t = pd.DataFrame(e.drop(columns='geometry')).assign(wkt=e.geometry.to_wkt(), xy=n.geometry.to_wkt().iloc[e['u']].values)\n"
        "        h.update(t.to_csv(index=False).encode())\n"
        "print(h.hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_same_input_same_edge_table_under_two_hash_seeds():
    assert _edge_table_digest(1) == _edge_table_digest(12345)


def test_road_class_column_missing_is_an_error_and_chinese_classes(tmp_path):
    import geopandas as gpd

    path = TESTDATA / "centrelines.gpkg"
    with pytest.raises(InputFileError, match="road_class_column.*等级"):
        load_network(path, crs=METRIC, road_class_column="等级", name_column="道路名称")
    # the same real lines with GB 50220 class names: 快速路 is not walked, 支路 is
    g = gpd.read_file(path)
    cn = {"primary": "主干路", "secondary": "次干路", "tertiary": "支路"}
    g["道路等级"] = g["道路等级"].map(cn)
    g.loc[0, "道路等级"] = "快速路"
    g.to_file(tmp_path / "cn.gpkg")
    _, walk = load_network(tmp_path / "cn.gpkg", crs=METRIC, road_class_column="道路等级")
    _, drive = load_network(tmp_path / "cn.gpkg", crs=METRIC, road_class_column="道路等级", profile="drive")
    assert "motorway" not in set(walk["highway"]) and set(walk["road_class"]) == {"主干路", "次干路", "支路"}
    assert drive.loc[drive["road_class"] == "快速路", "speed_kph"].eq(100).all()
    assert drive.loc[drive["road_class"] == "支路", "highway"].eq("residential").all()
    # no class column at all, said so: every line an ordinary road
    _, e = load_network(tmp_path / "cn.gpkg", crs=METRIC, road_class_column="")
    assert set(e["highway"]) == {"road"}


def test_pbf_read_only_the_area_and_count_dropped_ways():
    import shapely

    _, whole = load_network(PBF, crs=METRIC)
    x0, y0, x1, y1 = whole.total_bounds
    clip = shapely.Point((x0 + x1) / 2, (y0 + y1) / 2).buffer(400)  # a part of the campus clip
    _, part = load_network(PBF, crs=METRIC, clip_to=clip)
    assert part.attrs["read"]["ways_outside_bbox"] > 0 and part.attrs["read"]["ways_dropped"] == 0
    # the ways read for the area are exactly the ways of the whole file that meet it
    meets = whole.loc[shapely.intersects(clip, whole.geometry.values), "osmid"]
    assert set(part["osmid"]) == set(meets)
    assert connectivity_report(*load_network(PBF, crs=METRIC))["ways_dropped"] == 0


def test_ways_cut_by_the_extract_are_counted_and_logged(tmp_path, caplog):
    """An extract that lost some nodes (as at a clip's edge): the ways missing them are counted, not silent."""
    import logging
    import xml.etree.ElementTree as ET

    root = ET.fromstring(bz2.decompress(RULES.read_bytes()))
    ring = next(w for w in root.iter("way") if w.get("id") == "134626988")
    gone = {nd.get("ref") for nd in ring.findall("nd")[1:2]}  # one node of the ring footway
    for n in [n for n in root.findall("node") if n.get("id") in gone]:
        root.remove(n)
    path = tmp_path / "cut.osm"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    with caplog.at_level(logging.WARNING, logger="circles.io.network"):
        nodes, edges = load_network(path, crs=METRIC)
    n_ways = sum(1 for w in root.iter("way") if gone & {nd.get("ref") for nd in w.findall("nd")})
    assert n_ways >= 1
    assert connectivity_report(nodes, edges)["ways_dropped"] == n_ways
    assert "dropped while reading" in caplog.text and 134626988 not in set(edges["osmid"])


def test_osm_ways_equal_geos_reading_of_each_way():
    """The ways read from the demo PBF (coordinates decoded from one WKB buffer, tags one lookup a
    key) equal an independent reading: pyosmium's WKB of each way parsed by GEOS (shapely.from_wkb),
    its node ids and tags as pyosmium lists them, way by way; the study-box read keeps exactly the
    ways whose bounds meet the box."""
    import osmium
    import shapely

    from circles.io.network import OSM_TAGS, _parse_osm

    path = DEMO / "roads.osm.pbf"
    fab = osmium.geom.WKBFactory()
    want = []
    for w in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations() \
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)).with_filter(osmium.filter.KeyFilter("highway")):
        tags = dict(w.tags)
        want.append((w.id, shapely.from_wkb(fab.create_linestring(w, osmium.geom.use_nodes.ALL)),
                     [n.ref for n in w.nodes], tuple(tags.get(k) for k in OSM_TAGS)))
    lines, read = _parse_osm(path)
    assert len(lines) == len(want) > 500 and read["ways_dropped"] == 0
    other = [k for k in OSM_TAGS if k != "oneway"]  # oneway is read into a boolean
    got_tags = lines[other].astype(object).where(lines[other].notna(), None).to_numpy().tolist()
    for (wid, geom, refs, tags), osmid, g, r, t in zip(want, lines["osmid"], lines.geometry.values,
                                                      lines["node_refs"], got_tags):
        backward = tags[OSM_TAGS.index("oneway")] == "-1"
        assert osmid == wid
        assert shapely.equals_exact(g, shapely.reverse(geom) if backward else geom, tolerance=0)
        assert list(r) == (refs[::-1] if backward else refs)
        assert t == [v for k, v in zip(OSM_TAGS, tags) if k != "oneway"]
    x0, y0, x1, y1 = shapely.total_bounds(lines.geometry.values)
    box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    part, read = _parse_osm(path, box)
    b = shapely.bounds(np.array([g for _, g, _, _ in want]))
    meets = ~((b[:, 0] > box[2]) | (b[:, 2] < box[0]) | (b[:, 1] > box[3]) | (b[:, 3] < box[1]))
    assert 0 < len(part) < len(want) and read["ways_outside_bbox"] == int((~meets).sum())
    assert part["osmid"].tolist() == [w[0] for w, m in zip(want, meets) if m]
