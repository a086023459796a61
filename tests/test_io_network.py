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
    # the same ways read by two different readers (osmnx, pyosmium): the same total length
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
