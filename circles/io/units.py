"""Analysis units: community/street polygons from a file, or a square grid derived over the area.

Contract of what comes back: GeoDataFrame with ``unit_id`` (unique str), ``unit_name``,
``parent`` (the street/district the unit lies in: a ``parent``/``街道`` column of the file,
or the ``units.parents`` polygon holding most of it; ``""`` when unknown), Polygon/MultiPolygon
geometry in the study's metric CRS, valid.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from circles.io.vector import read_vector
from circles.errors import InputFileError

log = logging.getLogger(__name__)

_NAME_COLUMNS = ("name", "名称", "社区名称", "街道名称", "unit_name")
_CODE_COLUMNS = ("code", "adcode", "代码", "编码", "unit_id", "id")
_PARENT_COLUMNS = ("parent", "街道", "街道名称", "所属街道", "乡镇街道", "所属区", "区县", "street", "district")


def load_units(
    path: str | Path,
    *,
    crs,
    area=None,
    name_column: str | None = None,
    code_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Read community/street polygons; repair invalid geometry; clip to ``area`` if given.

    A unit that does not overlap ``area`` is dropped and logged; if none overlaps, the
    file is refused (a wrong CRS is the usual cause).
    """
    path = Path(path)
    gdf = read_vector(path, "units.path")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    gdf = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    if gdf.empty:
        raise InputFileError(f"{path}: no polygons; analysis units must be community or street polygons")
    name_col = name_column or next((c for c in _NAME_COLUMNS if c in gdf.columns), None)
    code_col = code_column or next((c for c in _CODE_COLUMNS if c in gdf.columns), None)
    parent_col = next((c for c in _PARENT_COLUMNS if c in gdf.columns and c not in (name_col, code_col)), None)
    for given, label in ((name_column, "name_column"), (code_column, "code_column")):
        if given and given not in gdf.columns:
            raise InputFileError(f"{path}: `units.{label}` = {given!r} is not a column; columns are {list(gdf.columns)}")
    n_invalid = int((~gdf.geometry.is_valid).sum())
    if n_invalid:
        log.warning("units %s: repaired %d invalid geometries", path.name, n_invalid)
        gdf["geometry"] = [_polygonal(g) for g in shapely.make_valid(gdf.geometry.values)]
    gdf = gdf.to_crs(crs)
    units = gpd.GeoDataFrame(
        {
            "unit_id": gdf[code_col].astype(str).values if code_col else [f"U{i + 1:03d}" for i in range(len(gdf))],
            "unit_name": gdf[name_col].astype(str).values if name_col else [f"unit {i + 1}" for i in range(len(gdf))],
            "parent": gdf[parent_col].fillna("").astype(str).values if parent_col else "",
        },
        geometry=gdf.geometry.values,
        crs=crs,
    )
    # other attributes (e.g. urban_rural, area_type) kept as attr_<column> for preset `where` filters
    for c in gdf.columns:
        if c not in ("geometry", name_col, code_col, "parent"):
            units[f"attr_{c}"] = gdf[c].astype(str).values
    if units["unit_id"].duplicated().any():
        dup = units.loc[units["unit_id"].duplicated(), "unit_id"].iloc[0]
        raise InputFileError(f"{path}: unit code {dup!r} appears twice; codes must be unique")
    if area is not None:
        units["geometry"] = [_polygonal(g) for g in units.geometry.intersection(area)]
        empty = units.geometry.is_empty | (units.geometry.area < 1.0)
        if empty.all():
            raise InputFileError(
                f"{path}: no unit overlaps the study area; check the file's CRS and that it is the right city"
            )
        if empty.any():
            log.info("units %s: %d units outside the study area left out", path.name, int(empty.sum()))
        units = units[~empty].reset_index(drop=True)
    return units


def grid_units(area, *, crs, cell_size_m: float = 1000.0, parents: gpd.GeoDataFrame | None = None,
               parent_name_column: str = "name") -> gpd.GeoDataFrame:
    """Square cells of ``cell_size_m`` over ``area`` (clipped to it), for studies without units.

    Cells are named by row letter and column number from the north-west corner ("B07"),
    so a planner can find them on a printed map. With ``parents`` (e.g. district
    polygons), each cell's ``parent`` is the district holding most of its area.
    """
    minx, miny, maxx, maxy = area.bounds
    nx = int(np.ceil((maxx - minx) / cell_size_m))
    ny = int(np.ceil((maxy - miny) / cell_size_m))
    cells, ids = [], []
    for r in range(ny):
        top = maxy - r * cell_size_m
        for c in range(nx):
            left = minx + c * cell_size_m
            cells.append(shapely.box(left, top - cell_size_m, left + cell_size_m, top))
            ids.append(f"{_row_label(r)}{c + 1:02d}")
    grid = gpd.GeoDataFrame({"unit_id": ids}, geometry=cells, crs=crs)
    grid["geometry"] = [_polygonal(g) for g in grid.geometry.intersection(area)]
    grid = grid[~grid.geometry.is_empty & (grid.geometry.area > 0.01 * cell_size_m**2)].reset_index(drop=True)
    grid["unit_name"] = grid["unit_id"]
    grid["parent"] = ""
    if parents is not None and len(parents):
        grid["parent"] = assign_parents(grid, parents, parent_name_column).to_numpy()
    return grid[["unit_id", "unit_name", "parent", "geometry"]]


def _polygonal(geom):
    """Keep the polygon parts of a repaired geometry (make_valid may add stray lines)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _row_label(r: int) -> str:
    label = ""
    r += 1
    while r:
        r, rem = divmod(r - 1, 26)
        label = chr(65 + rem) + label
    return label


def assign_parents(units: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, parent_name_column: str = "name",
                   *, fill: pd.Series | str = "") -> pd.Series:
    """The name of the parent polygon (street, district) holding most of each unit's area; ``fill``
    (a string, or a Series aligned with ``units``, e.g. the units' own parent column) where none."""
    parents = parents.to_crs(units.crs)
    if parent_name_column not in parents:
        raise InputFileError(f"units.parents: no column {parent_name_column!r} (units.parent_name_column); "
                             f"columns are {list(parents.columns)}")
    inter = gpd.overlay(units[["unit_id", "geometry"]], parents[[parent_name_column, "geometry"]],
                        how="intersection", keep_geom_type=True)
    inter["a"] = inter.geometry.area
    best = inter.sort_values("a", ascending=False).drop_duplicates("unit_id")
    return units["unit_id"].map(best.set_index("unit_id")[parent_name_column]).fillna(fill).astype(str)


def display_names(units: pd.DataFrame, *, with_parent: bool = True) -> pd.Series:
    """How a unit is named on the page and in figures: its name (or code when it has no
    name of its own), then its street / district: ``"民意社区 · 江汉区"``, ``"E05 · 江汉区"``."""
    names = short_names(units)
    if not with_parent or "parent" not in units:
        return names
    parent = units["parent"].fillna("").astype(str).to_numpy()
    return pd.Series([f"{n} · {p}" if p and p != n else n for n, p in zip(names, parent)], index=units.index)


def short_names(units: pd.DataFrame) -> pd.Series:
    """A unit's own name, or its code when the name is missing or only repeats the code."""
    ids = units["unit_id"].astype(str).to_numpy()
    names = units["unit_name"].to_numpy() if "unit_name" in units else ids
    out = [str(n) if isinstance(n, str) and n.strip() and n != i else i for n, i in zip(names, ids)]
    return pd.Series(out, index=units.index)


def assign_points(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> pd.Series:
    """The ``unit_id`` holding each point (by cell centre), ``""`` where none does.

    A cell centre on a shared border goes to the first unit that covers it, so every
    person is counted once.
    """
    tree = shapely.STRtree(units.geometry.values)
    pi, ui = tree.query(points.geometry.values, predicate="intersects")
    first = pd.Series(ui, index=pi).groupby(level=0).min()
    out = pd.Series("", index=points.index, name="unit_id", dtype=object)
    out.iloc[first.index.to_numpy()] = units["unit_id"].to_numpy()[first.to_numpy()]
    return out
