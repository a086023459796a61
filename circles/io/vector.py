"""Reading a small vector file named in the study file, with one clear error per failure."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from circles.crs import require_crs
from circles.errors import InputFileError


def read_vector(path, key: str) -> gpd.GeoDataFrame:
    """Read ``path`` (named by study key ``key``): a clear error if missing, unreadable or without a CRS."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found; check `{key}` in the study file")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:
        raise InputFileError(f"{path}: could not read as a GIS file ({exc}); check `{key}`") from exc
    return require_crs(gdf, str(path))
