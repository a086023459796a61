"""CRS discipline: refuse data without a CRS, pick one metric CRS per study."""

from __future__ import annotations

import geopandas as gpd
from pyproj import CRS

from circles.errors import CrsError


def require_crs(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` unchanged, or raise :class:`CrsError` naming ``source`` if it has no CRS."""
    if gdf.crs is None:
        raise CrsError(
            f"{source}: no coordinate reference system; add a .prj / CRS to the file, "
            "or declare it with `crs = \"EPSG:4326\"` for this input in the study file"
        )
    return gdf


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone CRS that contains ``(lon, lat)``: metres, small distortion locally."""
    zone = int((lon + 180.0) // 6.0) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return CRS.from_epsg(epsg)


def projected_crs(gdf: gpd.GeoDataFrame) -> CRS:
    """``gdf``'s own CRS when it is projected, else the UTM zone geopandas estimates for it (for
    metric work on data read back in degrees, as the report's simplification and print maps)."""
    return gdf.estimate_utm_crs() if gdf.crs.is_geographic else gdf.crs
