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
from circles.kinds import KINDS, Kind, kinds_present, normalise_kind, not_facility  # noqa: F401  (re-exported)

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
    # composition targets of the plans (issue 25): optional; a file without them makes the
    # dependent indicators "not assessable", never 0 %
    "affordable_slots": ("affordable_slots", "普惠托位数", "普惠托位", "普惠性托位", "普惠性托位数"),
    "nursing_beds": ("nursing_beds", "护理型床位数", "护理型床位", "护理床位", "护理床位数"),
    "ownership": ("ownership", "性质", "公办民办", "办学性质", "机构性质", "举办性质"),
}

#: Numeric columns, parsed by :func:`parse_capacity`, in the order a row's cells are checked.
CAPACITY_FIELDS = ("beds", "slots", "nursery_class_slots", "school_places", "affordable_slots", "nursing_beds")

#: Optional columns whose absence makes indicators not assessable (not 0): field -> header named in messages.
OPTIONAL_FIELDS = {"affordable_slots": "普惠托位数", "nursing_beds": "护理型床位数", "ownership": "性质/公办民办"}

#: Rows named one by one in the log for a cell such as "120张"; the rest are counted in one line.
_MAX_ROW_WARNINGS = 20

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
        return (float(value), True) if 0 <= value < np.inf else (None, False)  # inf: a reject, not a capacity
    text = str(value).strip().replace(",", "").replace("，", "")
    if text == "":
        return None, True
    m = _NUMBER.match(text)
    if not m:
        return None, False
    x = float(m.group(1))
    return (x, True) if x < np.inf else (None, False)  # 400 digits read as inf: a reject, as a numeric inf


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
    outside: str = "reject",
    reach_m: float | None = None,
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
        Shapely polygon in ``crs`` (the study area's facility reach); what happens to rows
        outside it is ``outside``'s choice.
    outside
        ``"reject"`` (default): a row outside ``area`` is a reject ("outside the study area ...;
        check the coordinate system"): in a study, a row that far away is usually misplaced.
        ``"count"``: it is left out of the rejects and counted (``attrs["outside_area"]``,
        logged): a batch area (``circles batch``, ``Study.facility_rows_outside``) reads a
        gazetteer of the whole city, and a row in another area's reach is not wrong.
    reach_m
        How far ``area`` reaches beyond the study area, if it does (the facility reach): the
        reject then says so ("outside the study area and the 1,800 m around it ...").
    duplicate_tolerance_m
        Two rows of the same kind and name within this distance are duplicates: the
        later is rejected, naming the row it repeats (the rule: :func:`duplicate_of`).
        Every check is column-wise and the duplicate search linear: 200,000 rows take a few
        seconds and a few hundred MB (``scripts/bench_gazetteer.py``).

    Returns
    -------
    facilities : GeoDataFrame
        ``facility_id``, ``name``, ``kind``, ``serves``, ``beds``, ``slots``,
        ``nursery_class_slots`` (托班), ``school_places`` (学位, kept, never counted), ``capacity``
        (what the plans count, see :func:`counted_capacity`), ``counts_as``, ``capacity_status``,
        ``affordable_slots`` (普惠托位数), ``nursing_beds`` (护理型床位数), ``ownership``
        (``"public"``/``"private"``/``""``, see :func:`parse_ownership`), ``address``, ``note``,
        ``source_file``, ``source_row``, Point geometry in ``crs``. The three composition
        columns are always there: NaN / ``""`` where the cell is empty or the file has no such
        column; ``attrs["optional_columns_missing"]`` = ``{file name: [fields without a column]}``
        tells the two apart (see :func:`missing_optional_columns`). ``attrs["kinds_read"]``:
        the kinds (vocabulary order) with a serving row among every valid row of the file,
        inside ``area`` or not (:func:`circles.kinds.kinds_present` before the area cut): which
        kinds a study has does not depend on where its area was cut, so a batch area and one
        run of the whole city assess the same kinds.

        A row whose 普惠托位数 exceeds its 托位 (托班 places for a kindergarten), or whose
        护理型床位数 exceeds its 床位数, is rejected naming both numbers: which one is wrong
        cannot be told, and a part larger than its whole would push a plan's share over 100 %.
        A part given where the whole is empty is kept (the share's denominator is the
        indicator's business).
    rejects : DataFrame
        ``file``, ``row``, ``column``, ``value``, ``reason``.
    """
    path = Path(path)
    if outside not in ("reject", "count"):
        raise ValueError(f"outside must be 'reject' or 'count', not {outside!r}")
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

    rows = _RowChecks(df, path)
    rows.check_coordinates(cols, projected=not _is_lonlat_system(file_coords))
    kinds = rows.check_kinds(cols, kind)
    caps = rows.check_capacities(cols)
    ownership = rows.check_ownership(cols)
    rows.check_shares(cols, kinds, caps)
    keep = rows.alive
    text = {f: _text_column(df, cols, f, keep) for f in ("id", "name", "address", "note")}
    rownum = rows.rownum[keep]
    table = pd.DataFrame({
        "facility_id": np.where(text["id"] != "", text["id"], [f"{path.stem}:{r}" for r in rownum]),
        "name": np.where(text["name"] != "", text["name"], [f"(unnamed, {path.name} row {r})" for r in rownum]),
        "kind": kinds[keep],
        **{c: caps[c][keep] for c in CAPACITY_FIELDS},
        "ownership": ownership[keep],
        "has_nursery_class_col": "nursery_class_slots" in cols,
        "address": text["address"],
        "note": text["note"],
        "source_file": path.name,
        "source_row": rownum,
        "_x": rows.lon[keep], "_y": rows.lat[keep], "_i": np.flatnonzero(keep),
    })
    facilities = _to_frame(table, file_coords, crs)
    kinds_read = kinds_present(facilities)  # every valid row, before the area cut
    n_outside = 0
    if len(facilities):
        facilities, dropped = _drop_outside(facilities, area)
        if outside == "count":
            n_outside = len(dropped)
            if n_outside:
                log.info("gazetteer %s: %d rows lie outside this area's facility reach (served by other areas); "
                         "not rejects", path.name, n_outside)
        else:
            where = f" and the {reach_m:,.0f} m around it that facilities are read from" if reach_m else ""
            rows.add(dropped["_i"].to_numpy(), f"{cols['lon']}/{cols['lat']}",
                     [f"{x}, {y}" for x, y in zip(dropped["_x"], dropped["_y"])],
                     f"outside the study area{where}; check the coordinate system (`coords`) or remove the row")
        facilities, dups = _drop_duplicates(facilities, duplicate_tolerance_m)
        rows.add(dups["_i"].to_numpy(), cols.get("name", "name"), dups["name"].to_numpy(),
                 [f"duplicate of row {r} (same kind and name within {duplicate_tolerance_m:g} m)"
                  for r in dups["_dup_of"]])
    facilities = facilities.drop(columns=["_x", "_y", "_i"], errors="ignore").reset_index(drop=True)
    missing = [f for f in OPTIONAL_FIELDS if f not in cols]
    facilities.attrs["optional_columns_missing"] = {path.name: missing}
    facilities.attrs["kinds_read"] = kinds_read
    facilities.attrs["outside_area"] = n_outside
    rejects_df = rows.rejects()
    log.info("gazetteer %s: %d rows read, %d kept, %d rejected%s", path.name, len(df), len(facilities), len(rejects_df),
             f", {n_outside} outside this area" if n_outside else "")
    if missing:
        log.info("gazetteer %s has no %s column: indicators on them are not assessable from this file",
                 path.name, ", ".join(OPTIONAL_FIELDS[f] for f in missing))
    return facilities, rejects_df


class _RowChecks:
    """The row-level checks of one gazetteer, vectorised: each check rejects the rows still
    alive that fail it, so every row gets at most one reason (the first check it fails), in
    the order the loader always used (coordinates, kind, capacity, ownership, shares).

    Done on whole columns (and on the distinct values of a column for the parsers) rather
    than row by row: a 200,000-row list is checked in about a second (scripts/bench_gazetteer.py).
    """

    def __init__(self, df: pd.DataFrame, path: Path):
        self.df, self.path = df, path
        self.n = len(df)
        self.rownum = np.arange(self.n) + 2
        self.alive = np.ones(self.n, dtype=bool)
        self._parts: list[pd.DataFrame] = []
        self.lon = self.lat = np.full(self.n, np.nan)

    def add(self, idx, column, value, reason) -> None:
        """Reject rows at positions ``idx`` (scalars or arrays per row for the other fields)."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) == 0:
            return
        self.alive[idx] = False
        value = np.broadcast_to(np.asarray(value, dtype=object), idx.shape) if np.ndim(value) == 0 else value
        self._parts.append(pd.DataFrame({
            "file": self.path.name, "row": self.rownum[idx], "column": column,
            "value": ["" if v is None else str(v) for v in value], "reason": reason}))

    def fail(self, mask, column, value, reason) -> None:
        """Reject the alive rows where ``mask`` is true; array arguments are per row of the file."""
        mask = mask & self.alive
        idx = np.flatnonzero(mask)
        pick = (lambda a: a[idx] if isinstance(a, np.ndarray) and a.shape == (self.n,) else a)
        self.add(idx, pick(column), pick(value), pick(reason))

    def rejects(self) -> pd.DataFrame:
        cols = ["file", "row", "column", "value", "reason"]
        if not self._parts:
            return pd.DataFrame(columns=cols)
        out = pd.concat(self._parts, ignore_index=True)[cols]
        return out.sort_values("row", kind="stable").reset_index(drop=True)

    def check_coordinates(self, cols: dict, *, projected: bool) -> None:
        df = self.df
        lon_raw = df[cols["lon"]].astype(str).str.strip().to_numpy(dtype=object)
        lat_raw = df[cols["lat"]].astype(str).str.strip().to_numpy(dtype=object)
        lon = pd.to_numeric(pd.Series(lon_raw), errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(pd.Series(lat_raw), errors="coerce").to_numpy(dtype=float)
        self.lon, self.lat = lon, lat
        lon_missing = np.isin(lon_raw, ["", "nan"])
        lat_missing = np.isin(lat_raw, ["", "nan"])
        self.fail(lon_missing | lat_missing, np.where(lon_missing, cols["lon"], cols["lat"]).astype(object), "",
                  "missing coordinate")
        lon_nan = np.isnan(lon)
        raw = np.where(lon_nan, df[cols["lon"]].to_numpy(dtype=object), df[cols["lat"]].to_numpy(dtype=object))
        self.fail(lon_nan | np.isnan(lat), np.where(lon_nan, cols["lon"], cols["lat"]).astype(object), raw,
                  "coordinate is not a number")
        if projected:
            return
        both = f"{cols['lon']}/{cols['lat']}"
        pair = np.char.add(np.char.add(lon_raw.astype(str), ", "), lat_raw.astype(str)).astype(object)
        with np.errstate(invalid="ignore"):
            lon_ok, lat_ok = (lon >= -90) & (lon <= 90), (lat >= -90) & (lat <= 90)
            self.fail(lon_ok & ~lat_ok, both, pair, "longitude and latitude look swapped; swap the two columns")
            self.fail(~((lon >= -180) & (lon <= 180) & lat_ok), both, pair, "coordinate out of range for degrees")

    def check_kinds(self, cols: dict, kind: str | None) -> np.ndarray:
        """The normalised kind of every row (None where rejected)."""
        values = (self.df[cols["kind"]].to_numpy(dtype=object) if "kind" in cols
                  else np.full(self.n, kind, dtype=object))
        default = normalise_kind(kind) if kind else None

        def one(v):
            return normalise_kind(v) or (default if kind and not str(v).strip() else None)

        out = _map_distinct(values, one)
        bad = np.array([k is None for k in out])
        allowed = ", ".join(f"{v.zh}/{v.key}" for v in KINDS.values())
        reasons = np.array([(not_facility(v) or f"unknown facility kind; use one of {allowed}") if b else ""
                            for v, b in zip(values, bad & self.alive)], dtype=object)
        self.fail(bad, cols.get("kind", "kind"), values, reasons)
        return out

    def check_capacities(self, cols: dict) -> dict[str, np.ndarray]:
        """Every capacity column parsed (NaN where empty, missing or rejected); "120张" read with a
        warning naming the row (the first 20 rows by name, then one line with the count)."""
        out = {}
        warned = 0
        for field in CAPACITY_FIELDS:
            if field not in cols:
                out[field] = np.full(self.n, np.nan)
                continue
            cells = self.df[cols[field]].to_numpy(dtype=object)
            parsed = _map_distinct(cells, lambda v: (*parse_capacity(v), capacity_has_unit(v)))
            ok = np.array([p[1] for p in parsed], dtype=bool)
            self.fail(~ok, cols[field], cells, f"{field} is not a number (write digits, e.g. 120)")
            out[field] = np.array([np.nan if p[0] is None else p[0] for p in parsed], dtype=float)
            unit = np.flatnonzero(np.array([p[2] for p in parsed], dtype=bool) & self.alive)
            for i in unit[: max(0, _MAX_ROW_WARNINGS - warned)]:
                log.warning("%s row %d, column %s: %r read as %g", self.path.name, self.rownum[i], cols[field],
                            str(cells[i]), out[field][i])
            warned += len(unit)
        if warned > _MAX_ROW_WARNINGS:
            log.warning("%s: %d more capacity cells with a unit word after the number (e.g. 120张), read as the number",
                        self.path.name, warned - _MAX_ROW_WARNINGS)
        return out

    def check_ownership(self, cols: dict) -> np.ndarray:
        """``"public"``, ``"private"`` or ``""`` (empty cell or no column) per row; other text is a reject."""
        if "ownership" not in cols:
            return np.full(self.n, "", dtype=object)
        cells = self.df[cols["ownership"]].to_numpy(dtype=object)
        out = _map_distinct(cells, parse_ownership)
        bad = np.array([o is None for o in out])
        self.fail(bad, cols["ownership"], cells, _OWNERSHIP_REASON)
        return np.array(["" if o is None else o for o in out], dtype=object)

    def check_shares(self, cols: dict, kinds: np.ndarray, caps: dict) -> None:
        """Refuse a row whose part exceeds its whole: 普惠托位数 > the row's 托位 (托班 places for a
        kindergarten), or 护理型床位数 > 床位数. The row is rejected, as a capacity that is not a
        number is: which of the two numbers is wrong cannot be told, and a share over 100 % would
        be counted into the plan's share otherwise."""
        is_kg = np.array([k == "kindergarten" for k in kinds])
        whole = np.where(is_kg, caps["nursery_class_slots"], caps["slots"])
        whole_col = np.where(is_kg, cols.get("nursery_class_slots", "托班"), cols.get("slots", "托位数")).astype(object)
        for part, label in (("affordable_slots", None), ("nursing_beds", cols.get("beds", "床位数"))):
            if part not in cols:
                continue
            w = whole if part == "affordable_slots" else caps["beds"]
            wl = whole_col if part == "affordable_slots" else np.full(self.n, label, dtype=object)
            with np.errstate(invalid="ignore"):
                over = caps[part] > w
            values = np.array([f"{a:g} > {b:g}" if o else "" for a, b, o in zip(caps[part], w, over)], dtype=object)
            reasons = np.array([f"{cols[part]} exceeds {c} of the same row; correct one of the two" if o else ""
                                for c, o in zip(wl, over)], dtype=object)
            self.fail(over, cols[part], values, reasons)


def _map_distinct(values: np.ndarray, fn) -> np.ndarray:
    """``fn`` applied to each distinct value once (a long list repeats few distinct cells)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    results = np.empty(len(uniques), dtype=object)
    results[:] = [fn(u) for u in uniques]
    return results[codes]


def _text_column(df: pd.DataFrame, cols: dict, field: str, keep: np.ndarray) -> np.ndarray:
    if field not in cols:
        return np.full(int(keep.sum()), "", dtype=object)
    return df[cols[field]].astype(str).str.strip().to_numpy(dtype=object)[keep]


_OWNERSHIP = {
    "public": ("公办", "公立", "国有", "政府", "public"),
    "private": ("民办", "私立", "民营", "private"),
}
_OWNERSHIP_REASON = ("ownership not understood; write 公办 (public: also 公立, 国有, 政府) or 民办 (private: also "
                     "私立, 民营); a mixed form such as 公办民营 must be written as the plan counts it")


def parse_ownership(value) -> str | None:
    """``"public"``, ``"private"``, ``""`` for an empty cell, None for text that is neither.

    A cell holding words of one side only is that side ("公办幼儿园" is public, "Private" is
    private). A cell holding both (公办民营, 民办公助: publicly built, privately run) is not
    guessed: the plans' 公办/普惠 shares count them differently city by city, so it is a reject
    telling the user to write the side the plan counts.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip().lower()
    if text in ("", "nan"):
        return ""
    sides = {side for side, words in _OWNERSHIP.items() if any(w in text for w in words)}
    return sides.pop() if len(sides) == 1 else None


def missing_optional_columns(frames) -> dict[str, list[str]]:
    """For each optional field (:data:`OPTIONAL_FIELDS`), the gazetteer files that have no column for it.

    ``frames`` are facilities tables as :func:`load_facilities` returns them (read from their
    ``attrs["optional_columns_missing"]``, which ``pd.concat`` does not keep: call this on the
    tables before concatenating them). A field whose list names every file is not assessable
    ("the gazetteer has no 普惠托位数 column"), never 0 %; a field missing from some files only
    is assessable on the others' facilities, and the indicator should say which files lack it.
    """
    out: dict[str, list[str]] = {f: [] for f in OPTIONAL_FIELDS}
    for frame in frames:
        for file, fields in frame.attrs.get("optional_columns_missing", {}).items():
            for f in fields:
                out[f].append(file)
    return out


def _is_lonlat_system(system: str) -> bool:
    return named_system(system) is not None or CRS(system).is_geographic


def _to_frame(df: pd.DataFrame, file_coords: str, crs) -> gpd.GeoDataFrame:
    columns = ["facility_id", "name", "kind", "serves", *CAPACITY_FIELDS, "ownership",
               "capacity", "counts_as", "capacity_status", "address", "note", "source_file", "source_row",
               "_x", "_y", "_i"]
    if df.empty:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)
    df = df.reset_index(drop=True)
    if named_system(file_coords) is not None:
        x, y = to_wgs84(df["_x"].to_numpy(), df["_y"].to_numpy(), file_coords)
        src = "EPSG:4326"
    else:
        x, y, src = df["_x"].to_numpy(), df["_y"].to_numpy(), file_coords
    tx = Transformer.from_crs(src, crs, always_xy=True)
    px, py = tx.transform(x, y)
    for c in CAPACITY_FIELDS:
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
    shapely.prepare(area)  # many points against one polygon: the same answers, faster
    inside = shapely.covers(area, fac.geometry.values)
    return fac[inside], fac[~inside]


def _drop_duplicates(fac: gpd.GeoDataFrame, tol_m: float):
    """Split ``fac`` into (kept, duplicates); a duplicate's ``_dup_of`` is the row it repeats."""
    xy = shapely.get_coordinates(fac.geometry.values)
    dup_of = duplicate_of(fac["kind"].to_numpy(), fac["name"].to_numpy(), xy[:, 0], xy[:, 1], tol_m)
    dup = dup_of >= 0
    fac = fac.copy()
    fac["_dup_of"] = np.where(dup, fac["source_row"].to_numpy()[np.maximum(dup_of, 0)], -1)
    return fac[~dup].drop(columns="_dup_of"), fac[dup]


def duplicate_of(kind, name, x, y, tol_m: float) -> np.ndarray:
    """For each row, the position of the earlier kept row it repeats, or -1 if it is kept.

    The rule, in file order: a row is a duplicate of the earliest *kept* row of the same kind
    and name within ``tol_m`` metres (distance <= ``tol_m``); otherwise it is kept. A row that
    is itself a duplicate is never the original of another (no chains: A, B 8 m apart and C
    8 m beyond B keep A and C for a 10 m tolerance).

    Linear in the rows (issue 19: the pairwise search took 13.8 GB at 100,000 rows of a list
    repeated, since every copy paired with every other copy at the same point):

    1. Exact repeats (same kind, name and coordinates) are grouped by hashing; only the first
       of each group takes part in step 2, and the others repeat what it repeats (or it, when
       it is kept): the earliest kept row within ``tol_m`` of a point is the same for every
       row at that point, because rows kept later come later in the file.
    2. The distinct points whose kind and name occur more than once are walked in file order
       on a grid of ``tol_m`` cells; a point looks for kept rows of its kind and name in the
       3 x 3 cells around it. Kept rows of one kind and name are more than ``tol_m`` apart,
       so a cell holds at most a handful: the walk is linear however many rows pile up.
    """
    n = len(x)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    key = pd.factorize(pd.Series(kind, dtype=object).astype(str) + "\x00" + pd.Series(name, dtype=object).astype(str))[0]
    group = pd.DataFrame({"k": key, "x": x, "y": y}).groupby(["k", "x", "y"], sort=False).ngroup().to_numpy()
    _, first = np.unique(group, return_index=True)  # first position of each distinct (key, point)
    rep = first[group]
    reps = np.sort(first)
    # only keys seen at more than one distinct point can hold a near (not exact) duplicate
    multi = np.bincount(key[reps], minlength=key.max() + 1)[key[reps]] > 1
    if tol_m > 0 and multi.any():
        kept: dict[tuple[int, int, int], list[int]] = {}
        tol2 = tol_m * tol_m
        cx = np.floor(x / tol_m).astype(np.int64)
        cy = np.floor(y / tol_m).astype(np.int64)
        for i in reps[multi].tolist():
            k, gx, gy, xi, yi = int(key[i]), int(cx[i]), int(cy[i]), x[i], y[i]
            best = -1
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for j in kept.get((k, gx + dx, gy + dy), ()):
                        if (x[j] - xi) ** 2 + (y[j] - yi) ** 2 <= tol2 and (best < 0 or j < best):
                            best = j
            if best < 0:
                kept.setdefault((k, gx, gy), []).append(i)
            else:
                out[i] = best
    copies = rep != np.arange(n)
    target = rep[copies]
    out[copies] = np.where(out[target] >= 0, out[target], target)
    return out
