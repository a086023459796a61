"""Facility gazetteers (CSV, XLSX, GeoJSON, GeoPackage) to a clean GeoDataFrame + rejects.

Every input row ends up in exactly one of two places: the returned facilities, or the
rejects table (file, row, column, value, reason). Rows are numbered as a spreadsheet
shows them: the header is row 1, the first data row is row 2.

Column names are matched in Chinese or English (see :data:`COLUMN_ALIASES`); a study
file can map any column explicitly (``columns = {name = "机构全称"}``). Facility kinds are
normalised to the vocabulary in :data:`KINDS`. Coordinates are declared per gazetteer:
``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` (lon/lat columns) or an EPSG code of a
projected CRS (x/y columns); GCJ-02 and BD-09 are undone here, on reading, never later.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from circles.chinacoords import named_system, to_wgs84
from circles.errors import InputFileError
from circles.kinds import KINDS, Kind, normalise_kind, not_facility  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


#: Recognised column names per field (lower-cased, spaces stripped), Chinese and English.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "代码", "机构编号", "fid"),
    "name": ("name", "名称", "机构名称", "设施名称", "名字", "单位名称"),
    "kind": ("kind", "type", "category", "类型", "类别", "设施类型", "机构类型"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "address": ("address", "addr", "地址", "详细地址"),
    "beds": ("beds", "床位", "床位数", "床位数量"),
    "slots": ("slots", "places", "托位", "托位数", "托位数量"),
    # a kindergarten's nursery classes (托班, ages 2-3): the only kindergarten places that are 托位
    "nursery_class_slots": ("nursery_class_slots", "nursery_class", "托班", "托班托位", "托班托位数", "托班学位"),
    # kindergarten places for ages 3-6 (学位) are read and kept, never counted as 托位
    "school_places": ("school_places", "学位", "学位数", "幼儿园学位"),
    "note": ("note", "notes", "备注", "说明"),
}

_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(张|个|床|位|人|beds?|slots?|places?)?\s*$", re.IGNORECASE)


def parse_capacity(value) -> tuple[float | None, bool]:
    """Parse a capacity cell: ``(number, ok)``. Empty is ``(None, True)``; "120张" is ``(120.0, True)``.

    A number followed by a unit word (张, 个, 床, 位, 人, beds, slots, places) is read as the
    number; :func:`capacity_has_unit` tells the loader to warn about it, naming the row.
    Words for numbers ("约一百") are not guessed: ``(None, False)``, a reject.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None, True
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (float(value), True) if value >= 0 else (None, False)
    text = str(value).strip().replace(",", "").replace("，", "")
    if text == "":
        return None, True
    m = _NUMBER.match(text)
    if not m:
        return None, False
    return float(m.group(1)), True


def capacity_has_unit(value) -> bool:
    """True for a text cell such as "120张" whose number was read past a unit word."""
    if isinstance(value, (int, float, np.integer, np.floating)) or value is None:
        return False
    m = _NUMBER.match(str(value).strip().replace(",", "").replace("，", ""))
    return bool(m and m.group(2))


def _read_table(path: Path, encoding: str | None, sheet) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        sep = "\t" if suffix == ".tsv" else ","
        encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
        decoded = None
        for enc in encodings:
            try:
                df = pd.read_csv(path, encoding=enc, sep=sep, dtype=str, keep_default_na=False)
            except UnicodeDecodeError:
                continue
            except pd.errors.EmptyDataError as exc:
                raise InputFileError(f"{path}: the file is empty") from exc
            except pd.errors.ParserError as exc:
                raise InputFileError(f"{path}: not a readable CSV table ({exc})") from exc
            decoded = decoded if decoded is not None else df
            # GB18030 decodes almost any bytes: accept a decoding only if the header makes sense
            if encoding or _recognised(df.columns) >= 2:
                return df
        if decoded is None:
            raise InputFileError(
                f"{path}: cannot decode as {' or '.join(encodings)}; save it as UTF-8 or declare "
                "`encoding = \"...\"` for this gazetteer in the study file"
            )
        raise InputFileError(
            f"{path}: no known column names (名称/类型/经度/纬度 or name/kind/lon/lat) in the header; "
            "if it looks garbled the file is not UTF-8 or GBK: save it as UTF-8, or declare `encoding`"
        )
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            return pd.read_excel(path, sheet_name=sheet or 0, dtype=str).fillna("")
        except ImportError as exc:
            raise InputFileError(f"{path}: reading Excel needs openpyxl: `pip install openpyxl`") from exc
        except Exception as exc:
            raise InputFileError(f"{path}: could not read as Excel ({exc})") from exc
    raise InputFileError(f"{path}: unknown table format; use .csv, .xlsx, .geojson or .gpkg")


def _recognised(columns) -> int:
    names = {str(c).strip().lower().replace(" ", "") for c in columns}
    return sum(any(a in names for a in aliases) for aliases in COLUMN_ALIASES.values())


def _match_columns(df: pd.DataFrame, overrides: dict[str, str], path: Path) -> dict[str, str]:
    lookup = {str(c).strip().lower().replace(" ", ""): c for c in df.columns}
    found = {}
    for field, col in overrides.items():
        if field not in COLUMN_ALIASES:
            raise InputFileError(f"{path}: column override for unknown field {field!r}; fields are {sorted(COLUMN_ALIASES)}")
        if col not in df.columns:
            raise InputFileError(f"{path}: column {col!r} (given for {field!r}) not in the file; columns are {list(df.columns)}")
        found[field] = col
    for field, aliases in COLUMN_ALIASES.items():
        if field in found:
            continue
        for alias in aliases:
            if alias in lookup:
                found[field] = lookup[alias]
                break
    return found


def load_facilities(
    path: str | Path,
    *,
    crs,
    coords: str = "wgs84",
    kind: str | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    sheet=None,
    area=None,
    duplicate_tolerance_m: float = 10.0,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read a facility gazetteer; return ``(facilities, rejects)``.

    Parameters
    ----------
    path
        ``.csv`` (UTF-8, UTF-8 with BOM, GBK/GB18030), ``.xlsx``, ``.geojson``/``.gpkg``.
    crs
        The study's projected CRS; facilities are returned in it.
    coords
        Coordinate system of the lon/lat columns (or of a GeoJSON's lon/lat geometry):
        ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09``, or an EPSG code such as ``"EPSG:4547"``.
    kind
        One kind for every row when the file has no kind column (e.g. a nursery register).
    columns
        Explicit column names per field, overriding the automatic match.
    area
        Shapely polygon in ``crs``; rows outside are rejected ("outside the study area").
    duplicate_tolerance_m
        Two rows of the same kind and name within this distance are duplicates: the
        later is rejected.

    Returns
    -------
    facilities : GeoDataFrame
        ``facility_id``, ``name``, ``kind``, ``serves``, ``beds``, ``slots``,
        ``nursery_class_slots`` (托班), ``school_places`` (学位, kept, never counted), ``capacity``
        (what the plans count, see :func:`counted_capacity`), ``counts_as``, ``capacity_status``,
        ``address``, ``note``, ``source_file``, ``source_row``, Point geometry in ``crs``.
    rejects : DataFrame
        ``file``, ``row``, ``column``, ``value``, ``reason``.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: gazetteer not found; check `facilities.path` in the study file")
    suffix = path.suffix.lower()
    geo = suffix in (".geojson", ".json", ".gpkg", ".shp", ".fgb")
    if geo:
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:
            raise InputFileError(f"{path}: could not read as a GIS file ({exc})") from exc
        if "geometry" not in gdf or gdf.geometry.isna().all():
            raise InputFileError(f"{path}: no geometry column; give points, or use a CSV with lon/lat columns")
        if gdf.crs is None:
            raise InputFileError(f"{path}: no CRS; add one to the file (GeoJSON is WGS84 by definition)")
        df = pd.DataFrame(gdf.drop(columns="geometry")).astype(object).where(gdf.notna(), "").astype(str)
        pts = gdf.geometry
        df["__lon"] = [p.x if p is not None and p.geom_type == "Point" else "" for p in pts]
        df["__lat"] = [p.y if p is not None and p.geom_type == "Point" else "" for p in pts]
        if CRS(gdf.crs).is_geographic:
            file_coords = coords if named_system(coords) in ("gcj02", "bd09") else "wgs84"
        else:
            file_coords = CRS(gdf.crs).to_string()
        cols = _match_columns(df, dict(columns or {}), path)
        cols["lon"], cols["lat"] = "__lon", "__lat"
    else:
        df = _read_table(path, encoding, sheet)
        file_coords = coords
        cols = _match_columns(df, dict(columns or {}), path)
    if df.empty:
        raise InputFileError(f"{path}: the gazetteer has no rows")
    for needed in ("lon", "lat"):
        if needed not in cols:
            raise InputFileError(
                f"{path}: no {needed} column found among {list(df.columns)}; name it "
                f"{'/'.join(COLUMN_ALIASES[needed][:2])} or map it with `columns = {{{needed} = \"...\"}}`"
            )
    if "kind" not in cols and kind is None:
        raise InputFileError(
            f"{path}: no kind column (类型/kind) found; add one or set `kind = \"nursery\"` for this gazetteer"
        )
    if kind is not None and normalise_kind(kind) is None:
        raise InputFileError(f"{path}: kind {kind!r} unknown; use one of {sorted(KINDS)}")

    rejects: list[dict] = []
    rownum = np.arange(len(df)) + 2

    def reject(i, column, value, reason):
        rejects.append({"file": path.name, "row": int(rownum[i]), "column": column,
                        "value": "" if value is None else str(value), "reason": reason})

    lon_raw = df[cols["lon"]].astype(str).str.strip()
    lat_raw = df[cols["lat"]].astype(str).str.strip()
    lon = pd.to_numeric(lon_raw, errors="coerce").to_numpy()
    lat = pd.to_numeric(lat_raw, errors="coerce").to_numpy()
    projected = not _is_lonlat_system(file_coords)
    records = []
    for i in range(len(df)):
        row = df.iloc[i]
        if lon_raw.iat[i] in ("", "nan") or lat_raw.iat[i] in ("", "nan"):
            col = cols["lon"] if lon_raw.iat[i] in ("", "nan") else cols["lat"]
            reject(i, col, "", "missing coordinate")
            continue
        if np.isnan(lon[i]) or np.isnan(lat[i]):
            bad = cols["lon"] if np.isnan(lon[i]) else cols["lat"]
            reject(i, bad, row[bad], "coordinate is not a number")
            continue
        if not projected:
            if -90 <= lon[i] <= 90 and not -90 <= lat[i] <= 90:
                reject(i, f"{cols['lon']}/{cols['lat']}", f"{lon_raw.iat[i]}, {lat_raw.iat[i]}",
                       "longitude and latitude look swapped; swap the two columns")
                continue
            if not (-180 <= lon[i] <= 180 and -90 <= lat[i] <= 90):
                reject(i, f"{cols['lon']}/{cols['lat']}", f"{lon_raw.iat[i]}, {lat_raw.iat[i]}",
                       "coordinate out of range for degrees")
                continue
        kind_value = kind if "kind" not in cols else row[cols["kind"]]
        k = normalise_kind(kind_value) or (normalise_kind(kind) if kind and not str(kind_value).strip() else None)
        if k is None:
            reason = not_facility(kind_value) or \
                f"unknown facility kind; use one of {', '.join(f'{v.zh}/{v.key}' for v in KINDS.values())}"
            reject(i, cols.get("kind", "kind"), kind_value, reason)
            continue
        caps = {}
        cap_bad = False
        for cap_field in ("beds", "slots", "nursery_class_slots", "school_places"):
            if cap_field in cols:
                cell = row[cols[cap_field]]
                value, ok = parse_capacity(cell)
                if not ok:
                    reject(i, cols[cap_field], cell, f"{cap_field} is not a number (write digits, e.g. 120)")
                    cap_bad = True
                    break
                if capacity_has_unit(cell):
                    log.warning("%s row %d, column %s: %r read as %g", path.name, rownum[i], cols[cap_field],
                                str(cell), value)
                caps[cap_field] = value
        if cap_bad:
            continue
        name = str(row[cols["name"]]).strip() if "name" in cols else ""
        records.append({
            "facility_id": str(row[cols["id"]]).strip() if "id" in cols and str(row[cols["id"]]).strip()
            else f"{path.stem}:{rownum[i]}",
            "name": name or f"(unnamed, {path.name} row {rownum[i]})",
            "kind": k,
            "beds": caps.get("beds"),
            "slots": caps.get("slots"),
            "nursery_class_slots": caps.get("nursery_class_slots"),
            "school_places": caps.get("school_places"),
            "has_nursery_class_col": "nursery_class_slots" in cols,
            "address": str(row[cols["address"]]).strip() if "address" in cols else "",
            "note": str(row[cols["note"]]).strip() if "note" in cols else "",
            "source_file": path.name,
            "source_row": int(rownum[i]),
            "_x": lon[i], "_y": lat[i], "_i": i,
        })
    facilities = _to_frame(records, file_coords, crs)
    if len(facilities):
        facilities, dropped = _drop_outside(facilities, area)
        for _, r in dropped.iterrows():
            reject(r["_i"], f"{cols['lon']}/{cols['lat']}", f"{r['_x']}, {r['_y']}",
                   "outside the study area; check the coordinate system (`coords`) or remove the row")
        facilities, dups = _drop_duplicates(facilities, duplicate_tolerance_m)
        for _, r in dups.iterrows():
            reject(r["_i"], cols.get("name", "name"), r["name"],
                   f"duplicate of row {r['_dup_of']} (same kind and name within {duplicate_tolerance_m:g} m)")
    facilities = facilities.drop(columns=["_x", "_y", "_i"], errors="ignore").reset_index(drop=True)
    rejects_df = pd.DataFrame(rejects, columns=["file", "row", "column", "value", "reason"]).sort_values("row", kind="stable")
    log.info("gazetteer %s: %d rows read, %d kept, %d rejected", path.name, len(df), len(facilities), len(rejects_df))
    return facilities, rejects_df.reset_index(drop=True)


def _is_lonlat_system(system: str) -> bool:
    return named_system(system) is not None or CRS(system).is_geographic


def _to_frame(records: list[dict], file_coords: str, crs) -> gpd.GeoDataFrame:
    columns = ["facility_id", "name", "kind", "serves", "beds", "slots", "nursery_class_slots", "school_places",
               "capacity", "counts_as", "capacity_status", "address", "note", "source_file", "source_row",
               "_x", "_y", "_i"]
    if not records:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)
    df = pd.DataFrame(records)
    if named_system(file_coords) is not None:
        x, y = to_wgs84(df["_x"].to_numpy(), df["_y"].to_numpy(), file_coords)
        src = "EPSG:4326"
    else:
        x, y, src = df["_x"].to_numpy(), df["_y"].to_numpy(), file_coords
    tx = Transformer.from_crs(src, crs, always_xy=True)
    px, py = tx.transform(x, y)
    for c in ("beds", "slots", "nursery_class_slots", "school_places"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    counted = [counted_capacity(r) for r in df.itertuples()]
    df["serves"] = [c[0] for c in counted]
    df["capacity"] = [c[1] for c in counted]
    df["counts_as"] = [c[2] for c in counted]
    df["capacity_status"] = [c[3] for c in counted]
    gdf = gpd.GeoDataFrame(df[columns], geometry=shapely.points(px, py), crs=crs)
    return gdf


def counted_capacity(r) -> tuple[str, float, str, str]:
    """``(serves, capacity, counts_as, status)`` of one facility row, as the plans count it.

    ``status`` is ``known``, ``unknown`` (the cell or column is missing: flagged, never 0)
    or ``none`` (the kind has no capacity any plan ratio counts, e.g. a meal point).
    A kindergarten serves infants only through its 托班 places (``nursery_class_slots``);
    with no such column, or 0 places, it takes no under-3s (``serves == ""``).
    """
    kind = KINDS[r.kind]
    if r.kind == "kindergarten":
        v = r.nursery_class_slots
        if not r.has_nursery_class_col:
            return "", np.nan, "slots", "none"
        if pd.isna(v):
            return "", np.nan, "slots", "unknown"
        return ("infants" if v > 0 else ""), float(v), "slots", "known"
    if kind.counts_as is None:
        return kind.serves, np.nan, "none", "none"
    v = r.beds if kind.capacity == "beds" else r.slots
    return kind.serves, (np.nan if pd.isna(v) else float(v)), kind.counts_as, ("unknown" if pd.isna(v) else "known")


def _drop_outside(fac: gpd.GeoDataFrame, area):
    if area is None:
        return fac, fac.iloc[0:0]
    inside = shapely.covers(area, fac.geometry.values)
    return fac[inside], fac[~inside]


def _drop_duplicates(fac: gpd.GeoDataFrame, tol_m: float):
    fac = fac.copy()
    fac["_dup_of"] = -1
    tree = shapely.STRtree(fac.geometry.values)
    a, b = tree.query(fac.geometry.values, predicate="dwithin", distance=tol_m)
    names = fac["name"].to_numpy()
    kinds = fac["kind"].to_numpy()
    rows = fac["source_row"].to_numpy()
    dup = np.zeros(len(fac), dtype=bool)
    for i, j in zip(a, b):
        if i < j and not dup[i] and kinds[i] == kinds[j] and names[i] == names[j]:
            dup[j] = True
            fac.iat[j, fac.columns.get_loc("_dup_of")] = rows[i]
    return fac[~dup].drop(columns="_dup_of"), fac[dup]
