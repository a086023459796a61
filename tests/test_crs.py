"""The metric CRS picked for data read back in degrees (circles/crs.py), against geopandas' own estimate."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from circles.crs import projected_crs


@pytest.mark.parametrize("box", [(114.25, 30.55, 114.32, 30.61),   # Hankou
                                 (100.0, 29.9, 102.3, 31.2),       # 甘孜, across two UTM zones
                                 (-47.0, -23.7, -46.3, -23.4),     # southern hemisphere
                                 (121.3, 31.0, 121.7, 31.4)])
@pytest.mark.parametrize("epsg", [4326, 4490])
def test_projected_crs_is_geopandas_utm_estimate(box, epsg):
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(*box)], crs=4326).to_crs(epsg)
    assert projected_crs(gdf) == gdf.estimate_utm_crs()


def test_projected_crs_keeps_a_projected_crs():
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs=32650)
    assert projected_crs(gdf) == gdf.crs
