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
    """``gdf``'s own CRS when it is projected, else the UTM zone of the centre of its bounds (for
    metric work on data read back in degrees, as the report's simplification and print maps).

    The zone :meth:`geopandas.GeoDataFrame.estimate_utm_crs` gives (it too takes the bounds'
    centre), by arithmetic: its database query cost ~50 ms a call, four calls a report."""
    if not gdf.crs.is_geographic:
        return gdf.crs
    x0, y0, x1, y1 = gdf.to_crs(4326).total_bounds if not gdf.crs.equals(4326) else gdf.total_bounds
    return utm_crs_for((x0 + x1) / 2.0, (y0 + y1) / 2.0)
