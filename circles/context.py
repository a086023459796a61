"""Map context that needs no internet: water (the population raster's nodata cells) and outlines.

A bureau's intranet rarely reaches a tile server, so the report draws its own context: the
study's road network (``network_edges``), water shaded where the population raster has no
data (WorldPop leaves rivers and lakes as nodata), and street / district outlines made by
dissolving the units by ``parent``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from circles.io.vector import read_vector

log = logging.getLogger(__name__)


def _first_raster(study) -> Path | None:
    po = study.population
    if po.folder is None:
        return Path(po.total_file) if po.total_file else None
    regex = re.escape(po.pattern).replace(r"\{age\}", r"\d+").replace(r"\{sex\}", r"[fmt]").replace(r"\*", ".*")
    for p in sorted(Path(po.folder).iterdir()):
        if re.fullmatch(regex, p.name):
            return p
    return None


def nodata_polygons(study, area, crs, *, simplify_m: float = 20.0) -> gpd.GeoDataFrame:
    """Cells the population raster marks as nodata inside ``area`` (water, mostly), dissolved."""
    import rasterio
    from rasterio import features
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    empty = gpd.GeoDataFrame({"kind": []}, geometry=[], crs=crs)
    path = _first_raster(study)
    if path is None or area is None:
        return empty
    area_wgs = gpd.GeoSeries([area], crs=crs).to_crs(4326).total_bounds
    try:
        with rasterio.open(path) as src:
            b = transform_bounds("EPSG:4326", src.crs, *area_wgs, densify_pts=21)
            window = from_bounds(*b, transform=src.transform).round_offsets().round_lengths()
            band = src.read(1, window=window, masked=True, boundless=True)
            transform, raster_crs = src.window_transform(window), src.crs
    except Exception as exc:  # context is decoration: never fail a run for it
        log.info("no water layer from %s: %s", path, exc)
        return empty
    mask = np.ma.getmaskarray(band)
    if not mask.any():
        return empty
    shapes = [shapely.geometry.shape(g) for g, v in features.shapes(mask.astype("uint8"), mask=mask,
                                                                      transform=transform) if v == 1]
    if not shapes:
        return empty
    geom = gpd.GeoSeries(shapes, crs=raster_crs).to_crs(crs).union_all().intersection(area)
    geom = geom.simplify(simplify_m)
    if geom.is_empty:
        return empty
    return gpd.GeoDataFrame({"kind": ["nodata"]}, geometry=[geom], crs=crs)


def outlines(units: gpd.GeoDataFrame, study=None, area=None) -> gpd.GeoDataFrame:
    """Street / district outlines: the study's ``units.parents`` polygons clipped to ``area``, or
    else the units dissolved by ``parent`` (none when no unit has a parent)."""
    if study is not None and study.units.parents is not None and area is not None:
        p = read_vector(study.units.parents, "units.parents").to_crs(units.crs)
        col = study.units.parent_name_column
        if col in p:
            p = p[[col, "geometry"]].rename(columns={col: "name"})
            p["name"] = p["name"].fillna("").astype(str)
            p["geometry"] = p.geometry.intersection(area)
            p = p[~p.geometry.is_empty & (p.geometry.area > 1.0)]
            return gpd.GeoDataFrame(p.reset_index(drop=True), geometry="geometry", crs=units.crs)
    u = units[units["parent"].fillna("").astype(str) != ""]
    if u.empty:
        return gpd.GeoDataFrame({"name": []}, geometry=[], crs=units.crs)
    d = u[["parent", "geometry"]].dissolve(by="parent").reset_index().rename(columns={"parent": "name"})
    d["geometry"] = d.geometry.buffer(0)
    return d[["name", "geometry"]]
