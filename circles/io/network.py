"""Road networks: OSM XML, GraphML and road-centreline GIS files, as node/edge GeoDataFrames.

Data contract of what every loader returns (checked in :func:`check_network`):

- ``nodes``: GeoDataFrame indexed by an integer node id ``0..n-1``, Point geometry.
- ``edges``: GeoDataFrame with ``u``, ``v`` (node ids), ``length_m`` (> 0), ``highway``
  (OSM-style road class, ``"connector"`` for the joins this module adds), ``speed_kph``
  (drive profile only; NaN for walking), LineString geometry from ``u`` to ``v``.
- Both in one projected, metric CRS (the study's).
- Edges are undirected: one-way rules do not apply to people on foot, and the drive
  profile is used for rural reach where one-way streets are rare (documented choice).

Connectivity is reported, never repaired silently: :func:`connectivity_report` counts the
pieces, and :func:`join_dangling_ends` adds ``connector`` edges (listed in the report)
where a dead end stops within a stated tolerance of another road. Small pieces are kept:
a person on a small piece still counts, reaching only what that piece reaches.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.ops import substring

from circles.crs import require_crs
from circles.errors import InputFileError, NetworkError

log = logging.getLogger(__name__)

#: Road classes a pedestrian may not use.
WALK_EXCLUDED = frozenset({"motorway", "motorway_link", "construction", "proposed", "raceway"})
#: Road classes a car may not use.
DRIVE_EXCLUDED = frozenset(
    {"footway", "path", "pedestrian", "steps", "cycleway", "bridleway", "corridor",
     "construction", "proposed", "elevator", "platform"}
)
#: Default drive speeds (km/h) by OSM highway class: openrouteservice driving-car defaults
#: (see docs/standards.md section 4); links take their parent's speed.
DRIVE_SPEED_KPH = {
    "motorway": 100, "trunk": 80, "primary": 65, "secondary": 60, "tertiary": 50,
    "unclassified": 30, "residential": 30, "living_street": 10, "service": 20, "track": 15,
    "road": 30, "connector": 20,
}
_NO_ACCESS = frozenset({"private", "no"})
_GIS_SUFFIXES = {".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml", ".zip"}


def load_network(
    path: str | Path,
    *,
    crs: CRS | str,
    profile: str = "walk",
    road_class_column: str = "highway",
    name_column: str = "name",
    oneway_column: str | None = None,
    node_crossings: bool = False,
    join_tolerance_m: float = 0.0,
    source_crs: str | None = None,
    clip_to=None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Load a road network file into ``(nodes, edges)`` in the metric ``crs``.

    Parameters
    ----------
    path
        ``.osm``/``.osm.bz2``/``.xml`` (OSM XML), ``.osm.pbf`` (needs ``osmium``),
        ``.graphml``, or any vector file of LineStrings GDAL reads (``.shp``, ``.gpkg``,
        ``.geojson`` ...).
    crs
        The study's projected CRS; everything is returned in it.
    profile
        ``"walk"`` (drops motorways and private roads) or ``"drive"`` (drops footways,
        adds ``speed_kph`` by road class from :data:`DRIVE_SPEED_KPH`).
    road_class_column, name_column
        Attribute names in a GIS file (a bureau's own centreline data rarely say ``highway``).
        Missing road class is treated as ``"road"``.
    oneway_column
        GIS files only: column saying a road is one-way (``yes``/``1``/``true``/``FT``: in
        the direction it is drawn; ``-1``/``TF``: against it). Only the drive profile uses it.
    node_crossings
        GIS files only: also make a node where two lines cross without sharing a vertex.
        Right for sketchy samples, wrong where bridges cross streets without meeting.
    join_tolerance_m
        Join each dead end to the nearest other road closer than this (0: no joining).
    source_crs
        CRS to assume for a GIS file that declares none (otherwise such a file is refused).
    clip_to
        A polygon in ``crs``: only roads meeting it are kept (whole, not cut). The pipeline
        passes the study area plus its halo, so a province file serves a district study.

    Returns
    -------
    nodes, edges : GeoDataFrame
        See the module's data contract.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: road network file not found; check `network.path` in the study file")
    if profile not in ("walk", "drive"):
        raise InputFileError(f"network profile {profile!r} unknown: use 'walk' or 'drive'")
    name = path.name.lower()
    if name.endswith((".osm", ".osm.bz2", ".xml", ".osm.xml")):
        lines = _lines_from_osm_xml(path)
    elif name.endswith(".osm.pbf") or name.endswith(".pbf"):
        lines = _lines_from_pbf(path)
    elif name.endswith(".graphml"):
        lines = _lines_from_graphml(path)
    elif path.suffix.lower() in _GIS_SUFFIXES or path.is_dir():
        lines = _lines_from_gis(path, road_class_column, name_column, source_crs, oneway_column,
                                bbox=None if clip_to is None else (clip_to.bounds, crs))
    else:
        raise InputFileError(
            f"{path}: unknown road network format; use .osm, .osm.bz2, .osm.pbf, .graphml, "
            ".gpkg, .shp or .geojson"
        )
    lines = _filter_profile(lines, profile, path)
    lines = lines.to_crs(crs)
    if clip_to is not None:
        lines = lines[shapely.intersects(clip_to, lines.geometry.values)].reset_index(drop=True)
        if lines.empty:
            raise NetworkError(f"{path}: no road lies in or near the study area; check the file and its CRS")
    nodes, edges = node_lines(lines, node_crossings=node_crossings)
    if join_tolerance_m > 0:
        nodes, edges = join_dangling_ends(nodes, edges, tolerance_m=join_tolerance_m)
    if profile == "drive":
        edges["speed_kph"] = edges["highway"].map(_drive_speed).astype(float)
    else:
        edges["speed_kph"] = np.nan
    check_network(nodes, edges, source=str(path))
    log.info("network %s: %d nodes, %d edges, %.1f km", path.name, len(nodes), len(edges),
             edges["length_m"].sum() / 1000)
    return nodes, edges


def fetch_network_online(out_path: str | Path, *, place: str | None = None, polygon=None,
                         network_type: str = "walk") -> Path:
    """Download a road network from OpenStreetMap with osmnx and save it as GraphML.

    The only code path in circles that uses the internet, and only when called (``circles
    fetch-network``). Give ``place`` (a name Nominatim knows, e.g. "江汉区, 武汉市") or a
    WGS84 shapely ``polygon``. Point the study's ``network.path`` at the saved file.
    """
    import osmnx as ox

    if (place is None) == (polygon is None):
        raise InputFileError("give exactly one of place or polygon to fetch a network")
    try:
        if place is not None:
            G = ox.graph.graph_from_place(place, network_type=network_type, retain_all=True)
        else:
            G = ox.graph.graph_from_polygon(polygon, network_type=network_type, retain_all=True)
    except Exception as exc:  # network errors, unknown place
        raise InputFileError(f"could not download the network ({exc}); check the place name and the internet connection") from exc
    out_path = Path(out_path)
    ox.io.save_graphml(G, out_path)
    return out_path


def _drive_speed(highway: str) -> float:
    base = str(highway).removesuffix("_link")
    return float(DRIVE_SPEED_KPH.get(base, 30))


def _first(value):
    """osmnx stores merged attributes as lists; keep the first for a road class."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _graph_to_lines(G) -> gpd.GeoDataFrame:
    """osmnx MultiDiGraph -> one line per street: one-way edges keep their direction of travel,
    two-way streets (present in both directions) are kept once."""
    import osmnx as ox

    edges = ox.convert.graph_to_gdfs(G, nodes=False, fill_edge_geometry=True).reset_index()
    # an OSM XML file holds every way (buildings, landuse ...): roads are the ways with a highway tag
    if "highway" not in edges:
        raise InputFileError("the OSM data hold no highway ways")
    edges = edges[edges["highway"].notna()]
    # an edge is two-way when the graph also holds its reverse (same ends, same length);
    # osmnx's own `oneway` attribute can be a list after simplification, so it is not used
    length = edges["length"].round(2)
    fwd = pd.MultiIndex.from_arrays([edges["u"], edges["v"], length])
    rev = pd.MultiIndex.from_arrays([edges["v"], edges["u"], length])
    has_reverse = rev.isin(fwd)
    oneway = pd.Series(~has_reverse, index=edges.index)
    first_of_pair = ~pd.DataFrame({"a": np.minimum(edges["u"], edges["v"]), "b": np.maximum(edges["u"], edges["v"]),
                                   "len": length}).duplicated()
    keep = oneway | first_of_pair
    edges, oneway = edges[keep], oneway[keep]
    return gpd.GeoDataFrame(
        {
            "highway": edges["highway"].map(_first).fillna("road").astype(str).to_numpy()
            if "highway" in edges else "road",
            "name": edges["name"].map(_first).to_numpy() if "name" in edges else None,
            "access": edges["access"].map(_first).to_numpy() if "access" in edges else None,
            "oneway": oneway.to_numpy(),
        },
        geometry=edges.geometry.values,
        crs=edges.crs,
    )


def _lines_from_osm_xml(path: Path) -> gpd.GeoDataFrame:
    import osmnx as ox

    try:
        G = ox.graph.graph_from_xml(path, simplify=True, retain_all=True)
    except Exception as exc:  # osmnx raises several types on malformed XML
        raise InputFileError(f"{path}: could not read as OSM XML ({exc}); export it again as OSM XML 0.6") from exc
    return _graph_to_lines(G)


def _lines_from_graphml(path: Path) -> gpd.GeoDataFrame:
    import osmnx as ox

    try:
        G = ox.io.load_graphml(path)
    except Exception as exc:
        raise InputFileError(f"{path}: could not read as GraphML ({exc}); save it with osmnx.save_graphml") from exc
    return _graph_to_lines(G)


def _lines_from_pbf(path: Path) -> gpd.GeoDataFrame:
    try:
        import osmium  # noqa: F401
    except ImportError as exc:
        raise InputFileError(
            f"{path}: reading .osm.pbf needs pyosmium: `pip install osmium` "
            "(or convert the file to .osm with osmium-tool)"
        ) from exc
    import osmium

    rows = []
    fab = osmium.geom.WKBFactory()

    for way in osmium.FileProcessor(str(path)).with_locations():
        if not way.is_way() or "highway" not in way.tags:
            continue
        try:
            wkb = fab.create_linestring(way)
        except Exception:  # ways with missing node locations at the extract's edge
            continue
        ow = way.tags.get("oneway", "no")
        geom = shapely.from_wkb(bytes.fromhex(wkb) if isinstance(wkb, str) else wkb)
        if ow == "-1":
            geom = shapely.reverse(geom)
        rows.append((way.tags.get("highway"), way.tags.get("name"), way.tags.get("access"),
                     ow in ("yes", "true", "1", "-1") or way.tags.get("junction") == "roundabout", geom))
    if not rows:
        raise InputFileError(f"{path}: no highway ways found in the PBF extract")
    df = pd.DataFrame(rows, columns=["highway", "name", "access", "oneway", "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4326")


def _lines_from_gis(path: Path, class_col: str, name_col: str, source_crs: str | None,
                    oneway_col: str | None = None, bbox=None) -> gpd.GeoDataFrame:
    """Read road lines; with ``bbox = (bounds, crs)`` only the features meeting it are read
    (a province-wide centreline file serves a district without being loaded whole)."""
    read_bbox = None
    if bbox is not None:
        try:
            import pyogrio
            from pyproj import Transformer

            file_crs = pyogrio.read_info(path).get("crs") or source_crs
            if file_crs:
                read_bbox = Transformer.from_crs(bbox[1], file_crs, always_xy=True).transform_bounds(*bbox[0])
        except Exception:  # unreadable header: fall back to reading everything, errors come below
            read_bbox = None
    try:
        gdf = gpd.read_file(path, bbox=read_bbox) if read_bbox is not None else gpd.read_file(path)
    except Exception as exc:
        raise InputFileError(f"{path}: could not read as a GIS file ({exc})") from exc
    if gdf.crs is None and source_crs:
        gdf = gdf.set_crs(source_crs)
    require_crs(gdf, str(path))
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    gdf = gdf.explode(index_parts=False)
    gdf = gdf[gdf.geom_type == "LineString"]
    if gdf.empty:
        raise InputFileError(f"{path}: no LineString geometries; a road network file must hold road centrelines")
    highway = gdf[class_col].fillna("road").astype(str) if class_col in gdf else pd.Series("road", index=gdf.index)
    name = gdf[name_col] if name_col in gdf else pd.Series(None, index=gdf.index, dtype=object)
    access = gdf["access"] if "access" in gdf else pd.Series(None, index=gdf.index, dtype=object)
    geometry = gdf.geometry.values
    oneway = np.zeros(len(gdf), dtype=bool)
    if oneway_col:
        if oneway_col not in gdf:
            raise InputFileError(f"{path}: `network.oneway_column` = {oneway_col!r} is not a column; columns are {list(gdf.columns)}")
        flag = gdf[oneway_col].astype(str).str.strip().str.lower()
        forward = flag.isin(["yes", "1", "true", "t", "ft", "y"]).to_numpy()
        backward = flag.isin(["-1", "tf", "reverse"]).to_numpy()
        geometry = np.where(backward, shapely.reverse(geometry), geometry)
        oneway = forward | backward
    return gpd.GeoDataFrame(
        {"highway": highway.values, "name": name.values, "access": access.values, "oneway": oneway},
        geometry=geometry, crs=gdf.crs,
    )


def _filter_profile(lines: gpd.GeoDataFrame, profile: str, path: Path) -> gpd.GeoDataFrame:
    excluded = WALK_EXCLUDED if profile == "walk" else DRIVE_EXCLUDED
    keep = ~lines["highway"].isin(excluded)
    keep &= ~lines["access"].astype(str).str.lower().isin(_NO_ACCESS)
    dropped = int((~keep).sum())
    if dropped:
        log.info("network %s: %d of %d ways not usable on the %s profile", path.name, dropped, len(lines), profile)
    lines = lines[keep].reset_index(drop=True)
    if lines.empty:
        raise NetworkError(f"{path}: no roads usable for the {profile!r} profile")
    return lines


# --------------------------------------------------------------------------- noding
def node_lines(lines: gpd.GeoDataFrame, *, node_crossings: bool = False) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Turn LineStrings into a graph: nodes at line ends and shared vertices.

    Vertices are matched to the millimetre. With ``node_crossings=True`` the lines are
    first noded at every crossing (``shapely.union_all``) and each piece keeps the
    attributes of the original line it lies on. Zero-length pieces and self-loops are
    dropped (they can never shorten a path).
    """
    if node_crossings:
        lines = _node_at_crossings(lines)
    geoms = lines.geometry.values
    coords, line_idx = shapely.get_coordinates(geoms, return_index=True)
    keys = np.round(coords, 3)
    # one row per (line, vertex) so a vertex repeated inside one line counts once per line
    vertex_id = np.unique(keys, axis=0, return_inverse=True)[1].ravel()
    pairs = np.unique(np.column_stack([vertex_id, line_idx]), axis=0)
    n_lines_at_vertex = np.bincount(pairs[:, 0], minlength=vertex_id.max() + 1)
    starts = np.r_[0, np.flatnonzero(np.diff(line_idx)) + 1]
    ends = np.r_[starts[1:] - 1, len(line_idx) - 1]
    is_node = n_lines_at_vertex[vertex_id] >= 2
    is_node[starts] = True
    is_node[ends] = True

    seg_rows, seg_u, seg_v, seg_coords = [], [], [], []
    for li, (s, e) in enumerate(zip(starts, ends)):
        cut = np.flatnonzero(is_node[s:e + 1]) + s
        for a, b in zip(cut[:-1], cut[1:]):
            seg_rows.append(li)
            seg_u.append(vertex_id[a])
            seg_v.append(vertex_id[b])
            seg_coords.append(coords[a:b + 1])
    if seg_coords:
        seg_index = np.repeat(np.arange(len(seg_coords)), [len(c) for c in seg_coords])
        seg_geom = shapely.linestrings(np.concatenate(seg_coords), indices=seg_index)
    else:
        seg_geom = np.array([], dtype=object)
    edges = gpd.GeoDataFrame(
        lines.drop(columns="geometry").iloc[seg_rows].reset_index(drop=True),
        geometry=seg_geom, crs=lines.crs,
    )
    edges["u"] = np.asarray(seg_u, dtype=np.int64)
    edges["v"] = np.asarray(seg_v, dtype=np.int64)
    edges["length_m"] = edges.geometry.length
    if "oneway" not in edges:
        edges["oneway"] = False
    edges["oneway"] = edges["oneway"].fillna(False).astype(bool)
    edges = edges[(edges["length_m"] > 1e-6) & (edges["u"] != edges["v"])]
    # renumber nodes densely 0..n-1
    used, inverse = np.unique(np.r_[edges["u"].values, edges["v"].values], return_inverse=True)
    n = len(edges)
    edges["u"] = inverse[:n]
    edges["v"] = inverse[n:]
    first = np.full(vertex_id.max() + 1, -1)
    first[vertex_id[::-1]] = np.arange(len(vertex_id))[::-1]
    node_xy = coords[first[used]]
    nodes = gpd.GeoDataFrame(geometry=shapely.points(node_xy), crs=lines.crs)
    nodes.index.name = "node"
    return nodes, _order_columns(edges.reset_index(drop=True))


def _order_columns(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    front = ["u", "v", "length_m", "highway", "name", "oneway"]
    cols = [c for c in front if c in edges] + [c for c in edges.columns if c not in front and c != "geometry"]
    return edges[cols + ["geometry"]]


def _node_at_crossings(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    merged = shapely.union_all(lines.geometry.values)
    parts = shapely.get_parts(merged)
    parts = parts[shapely.get_type_id(parts) == 1]  # LineStrings only
    mids = shapely.line_interpolate_point(parts, 0.5, normalized=True)
    tree = shapely.STRtree(lines.geometry.values)
    part_i, line_i = tree.query_nearest(mids, return_distance=False)
    # ties return several lines for one part: keep the first per part
    first = np.unique(part_i, return_index=True)[1]
    src = line_i[first]
    # noding may flip a piece; one-way pieces must keep their source line's direction
    if "oneway" in lines and lines["oneway"].any():
        src_geoms = lines.geometry.values[src]
        a = shapely.line_locate_point(src_geoms, shapely.get_point(parts, 0))
        b = shapely.line_locate_point(src_geoms, shapely.get_point(parts, -1))
        flip = lines["oneway"].to_numpy(dtype=bool)[src] & (a > b)
        parts = np.where(flip, shapely.reverse(parts), parts)
    out = lines.drop(columns="geometry").iloc[src].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=parts, crs=lines.crs)


def join_dangling_ends(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *, tolerance_m: float):
    """Join each dead end to the nearest non-incident road within ``tolerance_m``.

    Centreline data often stop a few metres short of the road they meet. A dead end
    (degree-1 node) is joined by a straight ``connector`` edge to the nearest point of
    the nearest road that does not already touch it; when that point lies within 0.5 m
    of a node the node is used, otherwise the road is split there. Returns new
    ``(nodes, edges)``; the number of joins is in ``edges.attrs["n_joins"]``.
    """
    deg = np.bincount(np.r_[edges["u"].values, edges["v"].values], minlength=len(nodes))
    dangling = np.flatnonzero(deg == 1)
    if len(dangling) == 0:
        edges.attrs["n_joins"] = 0
        return nodes, edges
    dpts = nodes.geometry.values[dangling]
    egeom = edges.geometry.values
    tree = shapely.STRtree(egeom)
    qi, ei = tree.query(dpts, predicate="dwithin", distance=tolerance_m)
    eu, ev = edges["u"].values[ei], edges["v"].values[ei]
    dn = dangling[qi]
    ok = (eu != dn) & (ev != dn)
    qi, ei, dn = qi[ok], ei[ok], dn[ok]
    dist = shapely.distance(dpts[qi], egeom[ei])
    best = pd.DataFrame({"q": qi, "e": ei, "d": dist}).sort_values("d").drop_duplicates("q")

    new_nodes = list(nodes.geometry.values)
    splits: dict[int, list[tuple[float, int]]] = {}
    connectors = []
    for q, e, _dist in best.itertuples(index=False):
        node = int(dangling[q])
        line = egeom[e]
        along = float(shapely.line_locate_point(line, dpts[q]))
        length = float(line.length)
        u, v = int(edges["u"].iat[e]), int(edges["v"].iat[e])
        if along <= 0.5:
            target = u
        elif along >= length - 0.5:
            target = v
        else:
            target = len(new_nodes)
            new_nodes.append(shapely.line_interpolate_point(line, along))
            splits.setdefault(int(e), []).append((along, target))
        tgt_pt = new_nodes[target]
        connectors.append((node, target, shapely.LineString([dpts[q], tgt_pt])))

    keep = np.ones(len(edges), dtype=bool)
    pieces = []
    for e, cuts in splits.items():
        keep[e] = False
        row = edges.iloc[e]
        cuts = sorted(cuts)
        positions = [0.0] + [c[0] for c in cuts] + [row.geometry.length]
        ids = [int(row["u"])] + [c[1] for c in cuts] + [int(row["v"])]
        for a, b, na, nb in zip(positions[:-1], positions[1:], ids[:-1], ids[1:]):
            if b - a <= 1e-6:
                continue
            piece = row.copy()
            piece["geometry"] = substring(row.geometry, a, b)
            piece["u"], piece["v"] = na, nb
            pieces.append(piece)
    conn = gpd.GeoDataFrame(
        {"u": [c[0] for c in connectors], "v": [c[1] for c in connectors], "highway": "connector",
         "oneway": False},
        geometry=[c[2] for c in connectors], crs=edges.crs,
    )
    parts = [edges[keep]]
    if pieces:
        parts.append(gpd.GeoDataFrame(pieces, crs=edges.crs))
    parts.append(conn)
    out = pd.concat(parts, ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=edges.crs)
    out["length_m"] = out.geometry.length
    out = out[(out["length_m"] > 1e-6) & (out["u"] != out["v"])].reset_index(drop=True)
    out["u"] = out["u"].astype(np.int64)
    out["v"] = out["v"].astype(np.int64)
    nodes_out = gpd.GeoDataFrame(geometry=list(new_nodes), crs=nodes.crs)
    nodes_out.index.name = "node"
    out = _order_columns(out)
    out.attrs["n_joins"] = len(connectors)
    log.info("joined %d dead ends within %.1f m", len(connectors), tolerance_m)
    return nodes_out, out


# --------------------------------------------------------------------------- checks
def check_network(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *, source: str = "network") -> None:
    """Check the data contract; raise :class:`NetworkError` naming ``source`` if broken."""
    if edges.empty:
        raise NetworkError(f"{source}: the network has no edges")
    missing = {"u", "v", "length_m"} - set(edges.columns)
    if missing:
        raise NetworkError(f"{source}: edges lack columns {sorted(missing)}")
    if (edges["length_m"] <= 0).any():
        raise NetworkError(f"{source}: {int((edges['length_m'] <= 0).sum())} edges have no length")
    if edges.crs is None or not CRS(edges.crs).is_projected:
        raise NetworkError(f"{source}: network must be in a projected (metric) CRS")
    top = max(edges["u"].max(), edges["v"].max())
    if top >= len(nodes):
        raise NetworkError(f"{source}: edge refers to node {top} but there are {len(nodes)} nodes")


def connectivity_report(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame) -> dict:
    """Connected pieces of the network: count, node counts of the largest, share in the largest.

    Also writes ``piece`` (0 = largest) onto ``nodes`` and ``edges`` in place so maps can
    show the pieces.
    """
    n = len(nodes)
    adj = coo_matrix((np.ones(len(edges)), (edges["u"].values, edges["v"].values)), shape=(n, n))
    n_pieces, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels, minlength=n_pieces)
    rank = np.empty(n_pieces, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(n_pieces)
    nodes["piece"] = rank[labels]
    edges["piece"] = nodes["piece"].values[edges["u"].values]
    sizes_sorted = np.sort(sizes)[::-1]
    return {
        "n_nodes": int(n),
        "n_edges": int(len(edges)),
        "length_km": round(float(edges["length_m"].sum()) / 1000, 2),
        "n_pieces": int(n_pieces),
        "largest_pieces_nodes": [int(s) for s in sizes_sorted[:5]],
        "largest_piece_share": round(float(sizes_sorted[0]) / n, 4) if n else 0.0,
        "n_connectors": int((edges["highway"] == "connector").sum()) if "highway" in edges else 0,
    }
