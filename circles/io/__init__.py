"""Loaders: one module per kind of input, GeoDataFrames out.

- :mod:`circles.io.network`: road networks (OSM XML, GraphML, road-centreline GIS files)
- :mod:`circles.io.facilities`: facility gazetteers (CSV/XLSX/GeoJSON/GPKG)
- :mod:`circles.io.population`: WorldPop-style age-band rasters
- :mod:`circles.io.units`: analysis units (community polygons, or a derived grid)
- :mod:`circles.io.dem`: elevation along the roads (slope-aware walking times)
"""
