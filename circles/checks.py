"""Suspicious-input checks: data that load fine but are probably wrong, reported as warnings.

Called by the pipeline's load stage once the network and the gazetteers are loaded. Each
check returns plain records; the pipeline logs them (``logging.warning``) and lists them in
``summary.json`` under ``warnings``.

Coordinate system of a gazetteer
--------------------------------
Chinese web maps publish GCJ-02 (Amap, Tencent) or BD-09 (Baidu) coordinates, shifted by
a few hundred metres from WGS84 (about 590 m and 910 m in Wuhan); a file declared in the
wrong one loads without error and every facility lands that far off. Two signals are in
the data, measured for the declared system and for the alternatives (WGS84, GCJ-02,
BD-09), after recovering the raw file coordinates (the *declared* system's forward
transform from :mod:`circles.chinacoords` applied to the loaded WGS84 positions):

- **road fit**: facilities are addresses on streets, so under the right system their
  median distance to the nearest road edge is small; under a wrong one it grows towards
  the size of the shift (on points that sit on the road: 0 m against 120-190 m);
- **population fit**: a care facility stands where people live, so under the right system
  few facilities fall on raster cells with nobody (rivers, parks, rail yards); a shift puts
  some in the river (on the demo: 0 % against 21-23 %). A facility is "on an unpopulated
  cell" when the nearest populated cell centre is more than 0.75 cell sizes away (the
  half-diagonal of a square cell is 0.71).

An alternative is *clearly better* on a signal when its value is at most half the declared
one and better by at least 20 m (road) or 10 percentage points (population); *clearly
worse* the other way round (at least double and 20 m / 10 points worse). A warning names an
alternative that is clearly better on one signal and clearly worse on none (both rules
must hold, so a sparse network where every median is large, or a small difference, does
not warn). Gazetteers with fewer than 5 facilities, or in a projected CRS, are not checked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from circles.chinacoords import named_system, to_wgs84, wgs84_to_bd09, wgs84_to_gcj02

log = logging.getLogger(__name__)

SYSTEMS = ("wgs84", "gcj02", "bd09")
MIN_FACILITIES = 5
RATIO = 0.5  # an alternative must be at most this share of the declared value ...
MIN_GAIN_M = 20.0  # ... and at least this many metres (road fit) ...
MIN_GAIN_SHARE = 0.10  # ... or this share of facilities (population fit) better
UNPOPULATED_CELLS = 0.75  # "on an unpopulated cell": nearest populated centre beyond this many cell sizes

_FORWARD = {"wgs84": lambda x, y: (np.asarray(x, float), np.asarray(y, float)),
            "gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def median_road_distance(lon, lat, edges: gpd.GeoDataFrame, tree: shapely.STRtree | None = None) -> float:
    """Median distance (metres, in ``edges``' CRS) from WGS84 points to the nearest road edge."""
    tree = tree if tree is not None else shapely.STRtree(edges.geometry.values)
    x, y = Transformer.from_crs(4326, edges.crs, always_xy=True).transform(lon, lat)
    _, dist = tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
    return float(np.median(dist))


def nearest_neighbour_median_m(xy: np.ndarray) -> float:
    """Median distance from each point to its nearest other point (nan for fewer than two points).

    A k-d tree query (scipy), ten times faster than a GEOS nearest search over a city's cells;
    points that repeat another point are skipped as GEOS' ``exclusive`` search skips them (their
    nearest *other* point is looked up among the next neighbours).
    """
    if len(xy) < 2:
        return float("nan")
    tree = cKDTree(xy)
    d, _ = tree.query(xy, k=2)
    d = d[:, 1]
    dup = np.flatnonzero(d == 0)
    for i in dup:  # rare: repeated points
        k = 3
        while True:
            di, _ = tree.query(xy[i], k=min(k, len(xy)))
            nz = di[(di > 0) & np.isfinite(di)]
            if len(nz) or k >= len(xy):
                d[i] = nz[0] if len(nz) else np.nan
                break
            k *= 2
    return float(np.nanmedian(d)) if np.isfinite(d).any() else float("nan")


class PopulatedCells:
    """Centres of the populated raster cells (metric CRS) and the cell size, for the population fit."""

    def __init__(self, points: gpd.GeoDataFrame):
        self.crs = points.crs
        self.tree = shapely.STRtree(points.geometry.values)
        self.cell_m = nearest_neighbour_median_m(shapely.get_coordinates(points.geometry.values))

    def unpopulated_share(self, lon, lat) -> float:
        """Share of WGS84 points whose nearest populated cell centre is beyond 0.75 cell sizes."""
        x, y = Transformer.from_crs(4326, self.crs, always_xy=True).transform(lon, lat)
        _, d = self.tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
        return float(np.mean(d > UNPOPULATED_CELLS * self.cell_m))


def _clearly(a: float, b: float, gain: float) -> bool:
    """``a`` is clearly smaller than ``b``: at most half of it and smaller by at least ``gain``."""
    return a <= RATIO * b and b - a >= gain


def coordinate_fit(facilities: gpd.GeoDataFrame, declared: str, edges: gpd.GeoDataFrame, *,
                   source: str = "gazetteer", tree: shapely.STRtree | None = None,
                   populated: PopulatedCells | None = None) -> dict | None:
    """How well one gazetteer fits the roads (and people) under its declared system and the alternatives.

    ``facilities`` are the gazetteer's loaded points (any CRS; they were converted from
    ``declared`` to WGS84 on reading). Returns ``{"file", "declared", "n", "median_m":
    {system: metres}, "unpopulated_share": {system: share} (if ``populated``), "better":
    system or None, "message": text or None}``, or None when the gazetteer is not in a
    lon/lat system or has too few points to judge.
    """
    system = named_system(declared) if isinstance(declared, str) else None
    if system is None or len(facilities) < MIN_FACILITIES or edges.empty:
        return None
    tree = tree if tree is not None else shapely.STRtree(edges.geometry.values)
    wgs = facilities.geometry.to_crs(4326)
    raw_x, raw_y = _FORWARD[system](wgs.x.to_numpy(), wgs.y.to_numpy())  # the numbers in the file
    medians, empty = {}, {}
    for alt in SYSTEMS:
        lon, lat = to_wgs84(raw_x, raw_y, alt)
        medians[alt] = round(median_road_distance(lon, lat, edges, tree), 1)
        if populated is not None:
            empty[alt] = round(populated.unpopulated_share(lon, lat), 3)
    fits = []
    for alt in SYSTEMS:
        if alt == system:
            continue
        better = [_clearly(medians[alt], medians[system], MIN_GAIN_M)]
        worse = [_clearly(medians[system], medians[alt], MIN_GAIN_M)]
        if empty:
            better.append(_clearly(empty[alt], empty[system], MIN_GAIN_SHARE))
            worse.append(_clearly(empty[system], empty[alt], MIN_GAIN_SHARE))
        if any(better) and not any(worse):
            fits.append((-sum(better), medians[alt], alt))
    best = min(fits)[2] if fits else None
    message = None
    if best:
        own = f"a median {medians[system]:.0f} m from the nearest road"
        alt = f"{medians[best]:.0f} m"
        if empty:
            own += f", {100 * empty[system]:.0f} % on cells with no population"
            alt += f" and {100 * empty[best]:.0f} %"
        message = (f"{source}: declared coords = \"{declared}\", but its {len(facilities)} facilities sit {own}; "
                   f"read as {best}: {alt}. The file is probably in {best}: if so, set coords = \"{best}\" for this "
                   "gazetteer in the study file")
    out = {"file": source, "declared": system, "n": int(len(facilities)), "median_m": medians}
    if empty:
        out["unpopulated_share"] = empty
    return {**out, "better": best, "message": message}


def _projected_gis_file(path) -> bool:
    if Path(path).suffix.lower() not in (".geojson", ".json", ".gpkg", ".shp", ".fgb"):
        return False
    try:
        import pyogrio
        from pyproj import CRS

        crs = pyogrio.read_info(path).get("crs")
        return crs is not None and not CRS(crs).is_geographic
    except Exception:  # unreadable here means it was read another way: judge by `coords`
        return False


def check_gazetteers(parts: list[tuple[object, gpd.GeoDataFrame]], edges: gpd.GeoDataFrame,
                     population: gpd.GeoDataFrame | None = None) -> list[dict]:
    """:func:`coordinate_fit` for every ``(facility source, its loaded facilities)`` pair; logs each warning.

    ``population``: the populated cells' centre points (metric CRS), for the population fit.
    """
    if edges.empty:
        return []
    tree = shapely.STRtree(edges.geometry.values)
    populated = PopulatedCells(population) if population is not None and len(population) > 1 else None
    out = []
    for src, fac in parts:
        if _projected_gis_file(src.path):  # the file's own projected CRS was used, not `coords`
            continue
        fit = coordinate_fit(fac, src.coords, edges, source=Path(src.path).name, tree=tree, populated=populated)
        if fit is None:
            continue
        log.info("gazetteer %s: median distance to the nearest road %s; on unpopulated cells %s", fit["file"],
                 ", ".join(f"{k} {v:g} m" for k, v in fit["median_m"].items()),
                 ", ".join(f"{k} {100 * v:.0f} %" for k, v in fit.get("unpopulated_share", {}).items()) or "n/a")
        if fit["message"]:
            log.warning("%s", fit["message"])
        out.append(fit)
    return out
