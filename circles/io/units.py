"""Analysis units: community/street polygons from a file, or a square grid derived over the area.

Contract of what comes back: GeoDataFrame with ``unit_id`` (unique str), ``unit_name``,
``parent`` (the street/district the unit lies in: a ``parent``/``街道`` column of the file,
or the ``units.parents`` polygon holding most of it; ``""`` when unknown), Polygon/MultiPolygon
geometry in the study's metric CRS, valid. ``attrs["repairs"]``: one dict per unit whose
invalid polygon was repaired (see :func:`repair_units`), ``[]`` when none was; with
``invalid="refuse"`` an invalid polygon stops the run instead, naming each unit and where.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from circles.crs import utm_crs_for
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
    invalid: str = "repair",
    quiet: bool = False,
) -> gpd.GeoDataFrame:
    """Read community/street polygons; repair (or refuse) invalid geometry; clip to ``area`` if given.

    ``crs=None``: the UTM zone of the file's extent (a study without ``study.area``, whose area
    is the union of its units: the file is read once, before the study's CRS is known, and
    clipped later with :func:`clip_units`). ``quiet`` leaves the repairs out of the log (they
    are still in ``attrs["repairs"]``): for a second read of the same file, such as the study area's union of units, so each is said once.

    A unit that does not overlap ``area`` is dropped and logged; if none overlaps, the
    file is refused (a wrong CRS is the usual cause).

    Parameters
    ----------
    invalid
        What to do with an invalid polygon (study key ``[units] invalid``): ``"repair"``
        (default) repairs it with ``shapely.make_valid`` and records the repair (below);
        ``"refuse"`` stops with one line naming each invalid unit, the defect and where it
        is (lon/lat), and the fix.

    Returns
    -------
    GeoDataFrame
        See the module docstring. ``units.attrs["repairs"]`` lists one dict per repaired
        unit (empty list when none was repaired), see :func:`repair_units`: the pipeline
        reports them and counts the people in each ``dropped`` geometry, who are in no unit
        after the repair.
    """
    if invalid not in ("repair", "refuse"):
        raise ValueError(f"invalid must be 'repair' or 'refuse', not {invalid!r}")
    path = Path(path)
    gdf = read_vector(path, "units.path")
    kind = gdf.geom_type.fillna("no geometry").where(~gdf.geometry.is_empty.fillna(False), "empty geometry")
    bad = ~kind.isin(["Polygon", "MultiPolygon"])
    if bad.all():
        raise InputFileError(f"{path}: no polygons; analysis units must be community or street polygons")
    if bad.any():  # refused, not dropped: a unit left out silently would shrink the study and its people
        rows = ", ".join(f"feature {i + 1}: {k}" for i, k in zip(np.flatnonzero(bad.to_numpy())[:5], kind[bad]))
        raise InputFileError(f"{path}: {int(bad.sum())} unit(s) are not polygons ({rows}{', ...' if bad.sum() > 5 else ''}); "
                             "analysis units must be community or street polygons: draw them as polygons or "
                             "delete those features")
    name_col = name_column or next((c for c in _NAME_COLUMNS if c in gdf.columns), None)
    code_col = code_column or next((c for c in _CODE_COLUMNS if c in gdf.columns), None)
    parent_col = next((c for c in _PARENT_COLUMNS if c in gdf.columns and c not in (name_col, code_col)), None)
    for given, label in ((name_column, "name_column"), (code_column, "code_column")):
        if given and given not in gdf.columns:
            raise InputFileError(f"{path}: `units.{label}` = {given!r} is not a column; columns are {list(gdf.columns)}")
    ids = gdf[code_col].astype(str).to_numpy() if code_col else np.array([f"U{i + 1:03d}" for i in range(len(gdf))])
    names = gdf[name_col].astype(str).to_numpy() if name_col else np.array([f"unit {i + 1}" for i in range(len(gdf))])
    if crs is None:
        x0, y0, x1, y1 = gdf.geometry.to_crs(4326).total_bounds
        crs = utm_crs_for((x0 + x1) / 2, (y0 + y1) / 2)
    repaired, repairs = repair_units(gdf.geometry, ids, names, crs=crs)
    if repairs and invalid == "refuse":
        listed = "; ".join(f"{r['unit_id']} {r['unit_name']}: {r['reason']} at lon {r['lon']:.6f}, lat {r['lat']:.6f}"
                           for r in repairs)
        raise InputFileError(
            f"{path}: {len(repairs)} invalid unit polygon{'s' if len(repairs) > 1 else ''} ({listed}); fix the "
            "outline in the file (e.g. QGIS Vector > Geometry Tools > Check Validity, then redraw the crossing "
            "edges) or set `invalid = \"repair\"` in [units] to have them repaired and reported"
        )
    if repairs:
        if not quiet:
            log.warning("units %s: repaired %d invalid geometr%s: %s", path.name, len(repairs),
                        "y" if len(repairs) == 1 else "ies", "; ".join(describe_repair(r) for r in repairs))
        gdf = gdf.set_geometry(repaired)
    gdf = gdf.to_crs(crs)
    units = gpd.GeoDataFrame(
        {
            "unit_id": ids,
            "unit_name": names,
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
    units.attrs["repairs"] = repairs
    return units if area is None else clip_units(units, area, path=path)


def clip_units(units: gpd.GeoDataFrame, area, *, path: str | Path = "units") -> gpd.GeoDataFrame:
    """``units`` clipped to ``area`` (a polygon in their CRS); a unit that does not overlap it is left out.

    The units left out are logged and listed in ``attrs["outside_area"]`` (``[unit_id,
    unit_name]`` pairs); if none overlaps, the file (``path``, for the message) is refused: a
    wrong CRS is the usual cause. ``attrs["repairs"]`` is kept.
    """
    path = Path(path)
    out = units.copy()
    out["geometry"] = [_polygonal(g) for g in out.geometry.intersection(area)]
    empty = out.geometry.is_empty | (out.geometry.area < 1.0)
    if empty.all():
        raise InputFileError(
            f"{path}: no unit overlaps the study area; check the file's CRS and that it is the right city"
        )
    outside = out.loc[empty, ["unit_id", "unit_name"]].astype(str).to_numpy().tolist() if empty.any() else []
    if outside:
        log.warning("units %s: %d unit(s) lie outside the study area and are left out: %s", path.name,
                    len(outside), ", ".join(f"{u} {n}".strip() for u, n in outside[:10]))
    out = out[~empty].reset_index(drop=True)
    out.attrs = {**units.attrs, "outside_area": outside}
    return out


def repair_units(geometry: gpd.GeoSeries, ids, names, *, crs) -> tuple[gpd.GeoSeries, list[dict]]:
    """Repair the invalid polygons of ``geometry`` (in its own CRS); return (geometry, repairs).

    Each repair is a dict:

    - ``unit_id``, ``unit_name``;
    - ``reason``: the defect as GEOS names it (``"Self-intersection"``, ``"Ring Self-intersection"``,
      ``"Hole lies outside shell"``...), from ``shapely.is_valid_reason``;
    - ``lon``, ``lat`` (WGS84) and ``x``, ``y`` (in ``crs``): where the defect is (NaN if GEOS gives
      no location);
    - ``area_before_m2``: the area the outline encloses as drawn, every face of the noded shell
      minus every face of the noded holes, whatever the winding (the shoelace area of a
      bow-tie is 0, its lobes cancelling, so it is no measure); None when the outline encloses
      nothing (a collapsed ring);
    - ``area_after_m2``: the repaired unit's area;
    - ``dropped``: the part of that enclosed area the repair left out (a region circled twice
      becomes a hole under ``make_valid``'s even-odd rule), a geometry in ``crs``, possibly
      empty; ``dropped_area_m2`` its area. People living there are in no unit after the repair.
    - ``added_area_m2``: area the repair put in that the outline did not enclose (a hole
      drawn across its shell).

    Areas are in ``crs`` (the study's metric CRS). Computing the difference in the file's own
    CRS and projecting it afterwards avoids slivers between two separately noded outlines.
    """
    geoms = geometry.values
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    if len(bad) == 0:
        return geometry, []
    reasons = shapely.is_valid_reason(geoms[bad])
    fixed = np.array([_polygonal(g) for g in shapely.make_valid(geoms[bad])], dtype=object)
    regions = np.array([_outline_region(g) for g in geoms[bad]], dtype=object)
    dropped = np.array([r.difference(f) if not r.is_empty else shapely.Polygon() for r, f in zip(regions, fixed)],
                       dtype=object)
    added = np.array([f.difference(r) for r, f in zip(regions, fixed)], dtype=object)
    to_m = (lambda a: gpd.GeoSeries(a, crs=geometry.crs).to_crs(crs))
    regions_m, fixed_m, dropped_m, added_m = (to_m(a) for a in (regions, fixed, dropped, added))
    where = [_LOCATION.match(r) for r in reasons]
    loc_x = np.array([float(m.group(2)) if m else np.nan for m in where])
    loc_y = np.array([float(m.group(3)) if m else np.nan for m in where])
    lon, lat = Transformer.from_crs(geometry.crs, 4326, always_xy=True).transform(loc_x, loc_y)
    px, py = Transformer.from_crs(geometry.crs, crs, always_xy=True).transform(loc_x, loc_y)
    repairs = []
    for k, i in enumerate(bad):
        repairs.append({
            "unit_id": str(ids[i]), "unit_name": str(names[i]),
            "reason": where[k].group(1) if where[k] else str(reasons[k]),
            "lon": float(lon[k]), "lat": float(lat[k]), "x": float(px[k]), "y": float(py[k]),
            "area_before_m2": None if regions[k].is_empty else float(regions_m.iloc[k].area),
            "area_after_m2": float(fixed_m.iloc[k].area),
            "dropped_area_m2": float(dropped_m.iloc[k].area),
            "added_area_m2": float(added_m.iloc[k].area),
            "dropped": dropped_m.iloc[k],
        })
    out = geometry.copy()
    out.iloc[bad] = fixed
    return out, repairs


def repairs_table(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``units.attrs["repairs"]`` as a table, one row per repaired unit, the dropped part as geometry
    (in the units' CRS): ready for a join with population points to count the people left out."""
    cols = ["unit_id", "unit_name", "reason", "lon", "lat", "x", "y", "area_before_m2", "area_after_m2",
            "dropped_area_m2", "added_area_m2"]
    reps = units.attrs.get("repairs", [])
    return gpd.GeoDataFrame({c: [r[c] for r in reps] for c in cols},
                            geometry=[r["dropped"] for r in reps], crs=units.crs)


def describe_repair(r: dict) -> str:
    """One clause for the log and ``warnings``: which unit, what, where, the areas."""
    before = "not measurable" if r["area_before_m2"] is None else f"{r['area_before_m2']:,.0f} m²"
    return (f"{r['unit_id']} {r['unit_name']}: {r['reason']} at lon {r['lon']:.6f}, lat {r['lat']:.6f}; "
            f"area enclosed {before}, after repair {r['area_after_m2']:,.0f} m², "
            f"{r['dropped_area_m2']:,.0f} m² left out of every unit")


_LOCATION = re.compile(r"^(.*?)\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]\s*$")


def _outline_region(geom):
    """The area an invalid polygon's outline encloses as drawn (see :func:`repair_units`)."""
    shells, holes = [], []
    for poly in shapely.get_parts(geom):
        shells.append(_faces(poly.exterior))
        holes.extend(_faces(r) for r in poly.interiors)
    region = shapely.union_all(shells)
    return region.difference(shapely.union_all(holes)) if holes else region


def _faces(ring):
    """Union of the faces a (possibly self-crossing) ring closes."""
    noded = shapely.node(shapely.LineString(ring.coords)) if len(ring.coords) >= 2 else shapely.LineString()
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    return shapely.union_all(faces) if len(faces) else shapely.Polygon()


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
