"""Road networks: OSM XML, GraphML and road-centreline GIS files, as node/edge GeoDataFrames.

Data contract of what every loader returns (checked in :func:`check_network`):

- ``nodes``: GeoDataFrame indexed by an integer node id ``0..n-1``, Point geometry.
- ``edges``: GeoDataFrame with ``u``, ``v`` (node ids), ``length_m`` (> 0), ``highway``
  (OSM-style road class, ``"connector"`` for the joins this module adds), ``speed_kph``
  (drive profile only; NaN for walking), LineString geometry from ``u`` to ``v``.
- Both in one projected, metric CRS (the study's).
- ``oneway`` True: the edge may only be driven from ``u`` to ``v`` (drive profile only;
  one-way rules never bind people on foot). :class:`circles.travel.TravelNetwork` uses it
  so that every trip runs from home to facility.

Every walkable way is in the network, whole: ways are cut into edges at the vertices
they share with other ways (and at a vertex a way visits twice), and a closed way (a
ring footway, a loop service road) that meets nothing else is cut at its middle vertex
into two edges instead of becoming a self-loop. The same file always gives the same
edge table (nothing depends on set order or ``PYTHONHASHSEED``).

Which ways a profile uses is decided by :func:`usable_ways`, a rule table (see
:data:`WALK_EXCLUDED`, :data:`DRIVE_EXCLUDED`, :data:`CN_ROAD_CLASS` and the README).

Connectivity is reported, never repaired silently: :func:`connectivity_report` counts the
pieces, and :func:`join_dangling_ends` adds ``connector`` edges (listed in the report)
where a dead end stops within a stated tolerance of another road. Small pieces are kept:
a person on a small piece still counts, reaching only what that piece reaches.
"""

from __future__ import annotations

import logging
import sys
from array import array
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

#: Road classes a pedestrian may not use: osmnx's ``walk`` filter (osmnx 2.x,
#: ``_overpass._get_network_filter``): abandoned, bus_guideway, construction, cycleway,
#: motorway*, no, planned, platform, proposed, raceway, razed, rest_area, services.
WALK_EXCLUDED = frozenset(
    {"abandoned", "bus_guideway", "construction", "cycleway", "motorway", "motorway_link", "no", "planned",
     "platform", "proposed", "raceway", "razed", "rest_area", "services"}
)
#: Road classes a car may not use (osmnx's ``drive_service`` filter, which keeps service roads).
DRIVE_EXCLUDED = frozenset(
    {"abandoned", "bridleway", "bus_guideway", "construction", "corridor", "cycleway", "elevator", "escalator",
     "footway", "no", "path", "pedestrian", "planned", "platform", "proposed", "raceway", "razed", "rest_area",
     "services", "steps", "track"}
)
#: ``foot=`` values that open a way to pedestrians whatever ``access`` (or a cycleway class) says.
FOOT_YES = frozenset({"yes", "designated", "permissive"})
#: ``foot=`` / ``access=`` values that close a way (``access`` only when ``foot`` does not open it).
NO_ACCESS = frozenset({"no", "private"})
#: Chinese road classes of a centreline file (GB 50220-95 / CJJ 37-2012 urban roads,
#: JTG B01-2014 highways) -> the OSM class whose walk/drive rules and speeds they take.
CN_ROAD_CLASS = {
    "快速路": "motorway", "城市快速路": "motorway", "高速公路": "motorway", "匝道": "motorway_link",
    "主干路": "primary", "主干道": "primary", "次干路": "secondary", "次干道": "secondary",
    "支路": "residential", "辅路": "tertiary",
    "一级公路": "trunk", "二级公路": "primary", "三级公路": "secondary", "四级公路": "tertiary",
    "等外公路": "track", "乡村道路": "unclassified", "村道": "unclassified",
    "街巷": "residential", "胡同": "residential", "小区道路": "service", "内部道路": "service",
    "人行道": "footway", "步行道": "footway", "步行街": "pedestrian", "人行天桥": "footway",
    "人行地道": "footway", "台阶": "steps", "非机动车道": "cycleway", "自行车道": "cycleway",
}
#: Default drive speeds (km/h) by OSM highway class. Source: the openrouteservice driving-car
#: profile's defaults by highway class (primary 65, secondary 60, tertiary 50,
#: unclassified/residential 30, service 20, track 15); motorway, trunk, living_street, road and
#: connector are ours. Links (``*_link``) take their parent's speed.
DRIVE_SPEED_KPH = {
    "motorway": 100, "trunk": 80, "primary": 65, "secondary": 60, "tertiary": 50,
    "unclassified": 30, "residential": 30, "living_street": 10, "service": 20, "track": 15,
    "road": 30, "connector": 20,
}
#: The OSM way tags read (besides geometry); missing tags are None.
OSM_TAGS = ("highway", "name", "access", "foot", "service", "area", "sidewalk", "sidewalk:both", "sidewalk:left",
            "sidewalk:right", "motor_vehicle", "motorcar", "oneway", "junction")
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
        ``.osm``/``.osm.bz2``/``.xml`` (OSM XML) or ``.osm.pbf``, both read with pyosmium;
        ``.graphml`` (osmnx); or any vector file of LineStrings GDAL reads (``.shp``,
        ``.gpkg``, ``.geojson`` ...).
    crs
        The study's projected CRS; everything is returned in it.
    profile
        ``"walk"`` or ``"drive"``: which ways are used is :func:`usable_ways`; the drive
        profile adds ``speed_kph`` by road class from :data:`DRIVE_SPEED_KPH`.
    road_class_column, name_column
        Attribute names in a GIS file (a bureau's own centreline data rarely say ``highway``).
        Chinese class names (快速路, 主干路 ...) are translated with :data:`CN_ROAD_CLASS`.
        A ``road_class_column`` the file does not have is an error; ``""`` means "the file
        has no road classes: every line is an ordinary road (class ``road``)".
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
        A polygon in ``crs``: only roads meeting it are kept (whole, not cut). OSM and GIS
        files are filtered to its bounding box while they are read, so a province file
        serves a district study. The pipeline passes the study area plus its halo.

    Returns
    -------
    nodes, edges : GeoDataFrame
        See the module's data contract. ``edges.attrs["read"]`` counts the ways read, the
        ways dropped while reading (missing node locations at an extract's edge) and the
        ways the profile does not use; :func:`connectivity_report` copies it.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: road network file not found; check `network.path` in the study file")
    if profile not in ("walk", "drive"):
        raise InputFileError(f"network profile {profile!r} unknown: use 'walk' or 'drive'")
    name = path.name.lower()
    bbox_wgs84 = None
    if clip_to is not None:
        bbox_wgs84 = tuple(gpd.GeoSeries([shapely.box(*clip_to.bounds)], crs=crs).to_crs(4326).total_bounds)
    if name.endswith((".osm", ".osm.bz2", ".osm.gz", ".xml", ".osm.xml", ".osm.pbf", ".pbf")):
        lines, read = _lines_from_osm(path, bbox_wgs84)
    elif name.endswith(".graphml"):
        lines, read = _lines_from_graphml(path), {}
    elif path.suffix.lower() in _GIS_SUFFIXES or path.is_dir():
        lines = _lines_from_gis(path, road_class_column, name_column, source_crs, oneway_column,
                                bbox=None if clip_to is None else (clip_to.bounds, crs))
        read = {}
    else:
        raise InputFileError(
            f"{path}: unknown road network format; use .osm, .osm.bz2, .osm.pbf, .graphml, "
            ".gpkg, .shp or .geojson"
        )
    read["ways_read"] = int(len(lines))
    keep = usable_ways(lines, profile)
    read["ways_not_usable"] = int((~keep).sum())
    if read["ways_not_usable"]:
        log.info("network %s: %d of %d ways not usable on the %s profile", path.name, read["ways_not_usable"],
                 len(lines), profile)
    lines = lines[keep].reset_index(drop=True)
    if lines.empty:
        raise NetworkError(f"{path}: no roads usable for the {profile!r} profile")
    lines = lines.drop(columns=[c for c in lines.columns if c in _HELPER_TAGS]).to_crs(crs)
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
    edges.attrs["read"] = read
    log.info("network %s: %d nodes, %d edges, %.1f km", path.name, len(nodes), len(edges),
             edges["length_m"].sum() / 1000)
    return nodes, edges


_BIG_ENDIAN = sys.byteorder == "big"
#: Tag columns used only to choose the usable ways (dropped afterwards).
_HELPER_TAGS = frozenset(OSM_TAGS) - {"highway", "name", "oneway"}


def usable_ways(lines: pd.DataFrame, profile: str) -> np.ndarray:
    """Which ways a profile uses (boolean array). The rule table (also in the README):

    walk (osmnx's ``walk`` filter, plus ``access=no`` and the ``foot=`` opening rule)
        a way is walkable unless its ``highway`` class is in :data:`WALK_EXCLUDED`,
        or ``area=yes``, or ``foot`` is ``no``/``private``, or ``service=private``, or
        ``access`` is ``no``/``private``, or a sidewalk is mapped separately
        (``sidewalk[:both|:left|:right]=separate``) - but ``foot=yes``/``designated``/
        ``permissive`` opens it again against ``access``, the sidewalk rule and a
        ``cycleway`` class (a shared foot/cycle path).
    drive (osmnx's ``drive_service`` filter)
        a way is drivable unless its class is in :data:`DRIVE_EXCLUDED`, or ``area=yes``,
        or ``access`` is ``no``/``private``, or ``motor_vehicle``/``motorcar`` is ``no``,
        or ``service`` is ``emergency_access``/``parking``/``parking_aisle``/``private``.

    A tag the data do not have (a GIS file) never excludes a way.
    """
    def tag(name: str) -> pd.Series:
        if name in lines:
            return lines[name].astype(object).where(lines[name].notna(), "").astype(str).str.strip().str.lower()
        return pd.Series("", index=lines.index)

    highway = tag("highway")
    foot_yes = tag("foot").isin(FOOT_YES)
    no_access = tag("access").isin(NO_ACCESS)
    area = tag("area").eq("yes")
    if profile == "walk":
        separate = np.zeros(len(lines), dtype=bool)
        for k in ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"):
            separate |= tag(k).eq("separate").to_numpy()
        closed = (highway.isin(WALK_EXCLUDED) & ~(highway.eq("cycleway") & foot_yes)) | area \
            | tag("foot").isin(NO_ACCESS) | tag("service").eq("private") \
            | ((no_access | pd.Series(separate, index=lines.index)) & ~foot_yes)
    else:
        closed = highway.isin(DRIVE_EXCLUDED) | area | no_access | tag("motor_vehicle").eq("no") \
            | tag("motorcar").eq("no") | tag("service").isin(["emergency_access", "parking", "parking_aisle", "private"])
    return ~closed.to_numpy()


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
    """osmnx stores merged attributes as lists; keep the smallest (an order-free choice) for a road class."""
    if isinstance(value, list):
        value = [v for v in value if v is not None]
        return min(value, key=str) if value else None
    return value


def _graph_to_lines(G) -> gpd.GeoDataFrame:
    """osmnx MultiDiGraph -> one line per street: one-way edges keep their direction of travel,
    two-way streets (present in both directions) are kept once. osmnx self-loops (closed
    ways) are kept: :func:`node_lines` cuts them in two."""
    import osmnx as ox

    edges = ox.convert.graph_to_gdfs(G, nodes=False, fill_edge_geometry=True).reset_index()
    if "highway" not in edges:
        raise InputFileError("the OSM data hold no highway ways")
    edges = edges[edges["highway"].notna()].sort_values(["u", "v", "key"], kind="stable")
    # an edge is two-way when the graph also holds its reverse (same ends, same length);
    # osmnx's own `oneway` attribute can be a list after simplification, so it is not used
    length = edges["length"].round(2)
    fwd = pd.MultiIndex.from_arrays([edges["u"], edges["v"], length])
    rev = pd.MultiIndex.from_arrays([edges["v"], edges["u"], length])
    has_reverse = rev.isin(fwd)
    oneway = pd.Series(~has_reverse, index=edges.index)
    first_of_pair = ~pd.DataFrame({"a": np.minimum(edges["u"], edges["v"]), "b": np.maximum(edges["u"], edges["v"]),
                                   "len": length}).duplicated()
    # a two-way self-loop appears twice with the same ends: keep one
    keep = oneway | first_of_pair
    edges, oneway = edges[keep], oneway[keep]
    cols = {c: (edges[c].map(_first).to_numpy() if c in edges else None)
            for c in ("highway", "name", "access", "foot", "service", "area", "junction")}
    cols["highway"] = pd.Series(cols["highway"]).fillna("road").astype(str).to_numpy()
    cols["oneway"] = oneway.to_numpy()
    return gpd.GeoDataFrame(cols, geometry=edges.geometry.values, crs=edges.crs)


def _lines_from_graphml(path: Path) -> gpd.GeoDataFrame:
    import osmnx as ox

    try:
        G = ox.io.load_graphml(path)
    except Exception as exc:
        raise InputFileError(f"{path}: could not read as GraphML ({exc}); save it with osmnx.save_graphml") from exc
    return _graph_to_lines(G)


#: Parsed OSM files kept in this process (None: off, the default). ``circles batch`` turns it on in
#: each worker (:func:`keep_parsed_osm`), so a worker running many areas of one province file
#: parses it once; keyed by path, size and modification time, so a changed file is read again.
_PARSED_OSM: dict | None = None


def keep_parsed_osm(on: bool = True) -> None:
    """Keep (``on``) or stop keeping each OSM file's parsed highway ways in this process.

    With it on, :func:`_lines_from_osm` parses a file whole once and cuts every later
    request to its bounding box from the kept ways: the same ways, in the same order, with
    the same counts (``ways_outside_bbox``) as a read with the box.
    """
    global _PARSED_OSM
    if not on:
        _PARSED_OSM = None
    elif _PARSED_OSM is None:  # already on: keep what is kept
        _PARSED_OSM = {}


def parse_osm_now(path: str | Path) -> bool:
    """Parse an OSM network file into this process's kept ways now (turning :func:`keep_parsed_osm` on).

    ``circles batch`` calls it before forking its local workers, which then share the one parse
    instead of each parsing the file again. False (nothing done) for a file that is not OSM.
    """
    name = str(path).lower()
    if not name.endswith((".osm", ".osm.bz2", ".osm.gz", ".xml", ".osm.xml", ".osm.pbf", ".pbf")):
        return False
    keep_parsed_osm()
    _lines_from_osm(Path(path))
    return True


def _lines_from_osm(path: Path, bbox_wgs84=None) -> tuple[gpd.GeoDataFrame, dict]:
    """:func:`_parse_osm`, through the per-process store of :func:`keep_parsed_osm` when it is on."""
    if _PARSED_OSM is None:
        return _parse_osm(path, bbox_wgs84)
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _PARSED_OSM:
        _PARSED_OSM.clear()  # one file at a time: a batch reads one network
        _PARSED_OSM[key] = _parse_osm(path, None)
    lines, read = _PARSED_OSM[key]
    if bbox_wgs84 is None:
        return lines.copy(), dict(read)
    x0, y0, x1, y1 = (float(b) for b in bbox_wgs84)
    b = shapely.bounds(lines.geometry.values)  # a way's bounds: the min/max of its coordinates, as _parse_osm tests
    inside = ~((b[:, 0] > x1) | (b[:, 2] < x0) | (b[:, 1] > y1) | (b[:, 3] < y0))
    return lines[inside].reset_index(drop=True), {**read, "ways_outside_bbox": int((~inside).sum())}


def _parse_osm(path: Path, bbox_wgs84=None) -> tuple[gpd.GeoDataFrame, dict]:
    """Every ``highway`` way of an OSM XML or PBF file, as drawn (nothing merged or simplified),
    in file order, with the tags of :data:`OSM_TAGS` and ``osmid``.

    pyosmium reads the file and builds the lines in C++ and hands only highway ways to
    Python. With ``bbox_wgs84 = (minx, miny, maxx, maxy)`` only the ways whose bounds meet
    the box are kept (the others are counted in ``ways_outside_bbox``). Ways whose node locations
    are missing (cut at an extract's edge) or that have fewer than two nodes are dropped,
    counted in ``ways_dropped`` and logged as a warning.
    """
    try:
        import osmium
    except ImportError as exc:
        raise InputFileError(
            f"{path}: reading OSM files needs pyosmium: `pip install osmium`"
        ) from exc
    wkbs: list = []
    refs: list = []
    counts: list[int] = []
    tags: list[tuple] = []
    ids: list[int] = []
    dropped = outside = 0
    box = None if bbox_wgs84 is None else tuple(float(b) for b in bbox_wgs84)
    fab = osmium.geom.WKBFactory()
    every_node = osmium.geom.use_nodes.ALL  # keep repeated nodes: one OSM node id per vertex
    keys = list(OSM_TAGS)
    try:
        fp = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
              .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)).with_filter(osmium.filter.KeyFilter("highway")))
        for way in fp:
            try:
                wkb = fab.create_linestring(way, every_node)  # coordinates in C++
            except (osmium.InvalidLocationError, RuntimeError):  # missing locations, < 2 nodes
                dropped += 1
                continue
            if box is not None:  # the way's bounds from its WKB (little-endian, 9-byte header)
                c = array("d", bytes.fromhex(wkb[18:]))
                if _BIG_ENDIAN:
                    c.byteswap()
                x, y = c[0::2], c[1::2]
                if min(x) > box[2] or max(x) < box[0] or min(y) > box[3] or max(y) < box[1]:
                    outside += 1
                    continue
            r = [n.ref for n in way.nodes]
            get = way.tags.get  # one lookup a key read (a way has few tags; no Tag objects made)
            wkbs.append(wkb)
            refs.extend(r)
            counts.append(len(r))
            ids.append(way.id)
            tags.append(tuple([get(k) for k in keys]))
    except (RuntimeError, ValueError, OSError) as exc:
        raise InputFileError(f"{path}: could not read as OSM XML/PBF ({exc}); export it again from OSM") from exc
    if dropped:
        log.warning("network %s: %d highway ways dropped while reading (node locations missing: the extract cuts "
                    "them, or fewer than two nodes); they are not in the network", path.name, dropped)
    if not counts:
        raise InputFileError(f"{path}: no highway ways found in the OSM file")
    counts = np.asarray(counts)
    geoms = _linestrings_from_wkb(wkbs, counts)
    read = {"ways_dropped": int(dropped), "ways_outside_bbox": int(outside)}
    df = pd.DataFrame(tags, columns=keys)
    df.insert(0, "osmid", np.asarray(ids, dtype=np.int64))
    flag = df["oneway"].fillna("no").astype(str).str.lower()
    backward = flag.eq("-1").to_numpy()
    geoms = np.where(backward, shapely.reverse(geoms), geoms)
    # OSM node ids per vertex: the graph is noded where ways share a node (not where two nodes
    # happen to have the same coordinates, e.g. a bridge drawn over a street)
    node_refs = np.split(np.asarray(refs, dtype=np.int64), np.cumsum(counts)[:-1])
    df["node_refs"] = [r[::-1] if b else r for r, b in zip(node_refs, backward)]
    df["oneway"] = (flag.isin(["yes", "true", "1", "-1"]) | df["junction"].isin(["roundabout", "circular"])).to_numpy()
    return gpd.GeoDataFrame(df, geometry=geoms, crs="EPSG:4326"), read


def _linestrings_from_wkb(wkbs: list[str], counts: np.ndarray) -> np.ndarray:
    """LineStrings from pyosmium's hex WKB, decoded in one go: the coordinates of every way are
    read from one buffer (each WKB is a 9-byte header, little-endian, then its x/y doubles),
    the same doubles ``shapely.from_wkb`` reads, without parsing each WKB on its own."""
    buf = np.frombuffer(bytes.fromhex("".join(wkbs)), dtype=np.uint8)
    size = 9 + 16 * counts
    start = np.cumsum(size) - size
    head = buf[start[:, None] + np.arange(9)]
    n_pts = head[:, 5:9].copy().view("<u4").ravel()
    if not (np.all(head[:, 0] == 1) and np.all(head[:, 1:5].copy().view("<u4").ravel() == 2)
            and np.array_equal(n_pts, counts)):  # not plain little-endian LineStrings: the general reader
        return shapely.from_wkb(wkbs)
    body = np.ones(len(buf), dtype=bool)
    body[(start[:, None] + np.arange(9)).ravel()] = False
    xy = buf[body].view("<f8").reshape(-1, 2)
    return shapely.linestrings(xy, indices=np.repeat(np.arange(len(counts)), counts))


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
        except Exception as exc:  # unreadable header: read everything, errors come below
            log.warning("network %s: could not read only the study area's bounding box (%s); reading the whole file",
                        path.name, exc)
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
    if class_col and class_col not in gdf:
        raise InputFileError(
            f"{path}: `network.road_class_column` = {class_col!r} is not a column; columns are "
            f"{[c for c in gdf.columns if c != 'geometry']}. Name the road-class column, or set "
            "road_class_column = \"\" if the file has none (every line is then an ordinary road)")
    if class_col:
        raw = gdf[class_col].astype(object).where(gdf[class_col].notna(), "road").astype(str).str.strip()
        highway = raw.map(lambda c: CN_ROAD_CLASS.get(c, c))
    else:
        highway = pd.Series("road", index=gdf.index)
    name = gdf[name_col] if name_col in gdf else pd.Series(None, index=gdf.index, dtype=object)
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
    cols = {"highway": highway.values, "name": name.values, "oneway": oneway}
    for tag in ("access", "foot", "service", "area", "motor_vehicle", "motorcar"):
        if tag in gdf:
            cols[tag] = gdf[tag].values
    if class_col and class_col != "highway":
        cols["road_class"] = raw.values
    return gpd.GeoDataFrame(cols, geometry=geometry, crs=gdf.crs)


# --------------------------------------------------------------------------- noding
def node_lines(lines: gpd.GeoDataFrame, *, node_crossings: bool = False) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Turn LineStrings into a graph: nodes at line ends and shared vertices.

    Vertices are OSM nodes when ``lines`` has a ``node_refs`` column (one id per vertex,
    from an OSM file), otherwise matched by coordinates to the millimetre; a vertex is a node where two lines share it,
    where a line visits it twice, and at every line end. A piece that would start and end
    at the same node (a closed way meeting nothing else there) is cut at its middle vertex
    into two edges, so a ring footway stays in the network whole. With
    ``node_crossings=True`` the lines are first noded at every crossing
    (``shapely.union_all``) and each piece keeps the attributes of the line it lies on.
    Zero-length pieces are dropped (they can never shorten a path).
    """
    if node_crossings:
        lines = _node_at_crossings(lines.drop(columns="node_refs", errors="ignore"))
    geoms = lines.geometry.values
    coords, line_idx = shapely.get_coordinates(geoms, return_index=True)
    osm_ids = None
    if "node_refs" in lines:  # OSM: vertices are OSM nodes
        osm_ids, vertex_id = np.unique(np.concatenate(lines["node_refs"].to_list()), return_inverse=True)
        vertex_id = vertex_id.ravel()
        lines = lines.drop(columns="node_refs")
    else:
        vertex_id = np.unique(np.round(coords, 3), axis=0, return_inverse=True)[1].ravel()
    starts = np.r_[0, np.flatnonzero(np.diff(line_idx)) + 1]
    ends = np.r_[starts[1:] - 1, len(line_idx) - 1]
    # occurrences of each vertex, not counting the closing vertex of a closed line twice
    closing = np.zeros(len(vertex_id), dtype=bool)
    closing[ends] = vertex_id[ends] == vertex_id[starts]
    n_at_vertex = np.bincount(vertex_id[~closing], minlength=vertex_id.max() + 1)
    is_node = n_at_vertex[vertex_id] >= 2
    is_node[starts] = True
    is_node[ends] = True

    # pieces: from each node vertex to the next one on the same line (vectorised, in line order)
    at = np.flatnonzero(is_node)
    same_line = line_idx[at[1:]] == line_idx[at[:-1]]
    a, b = at[:-1][same_line], at[1:][same_line]
    # a loop (a piece from a node back to itself): two edges through its middle vertex
    loop = (vertex_id[a] == vertex_id[b]) & (b - a >= 2)
    n_piece = 1 + loop.astype(np.int64)
    first = np.cumsum(n_piece) - n_piece
    p = np.repeat(a, n_piece)
    q = np.repeat(b, n_piece)
    mid = (a + b) // 2
    q[first[loop]] = mid[loop]
    p[first[loop] + 1] = mid[loop]
    seg_rows = line_idx[p]
    seg_u, seg_v = vertex_id[p], vertex_id[q]
    if len(p):
        size = q - p + 1
        seg_index = np.repeat(np.arange(len(p)), size)
        vert = np.repeat(p - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))
        seg_geom = shapely.linestrings(coords[vert], indices=seg_index)
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
    if osm_ids is not None:
        nodes.insert(0, "osmid", osm_ids[used])
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
        # ways read / dropped while reading (missing node locations) / outside the area / not usable
        **edges.attrs.get("read", {}),
    }
