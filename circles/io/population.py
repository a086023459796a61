"""Population rasters (WorldPop-style age/sex bands) to population points.

Each raster cell becomes one point at its centre carrying ``total``, ``elderly`` (60+)
and ``infants`` (0-3, i.e. under 3 as in the plans' 3岁以下婴幼儿) counts of **people**
(not densities). Cells whose every band is nodata or zero are dropped: they hold nobody,
so nothing is lost; the raster sum is conserved exactly (see :func:`load_population`).

Band files are found by a file-name pattern with two fields, ``{age}`` (lower bound of a
5-year band; ``80`` is 80+) and ``{sex}`` (``f``/``m`` only: a both-sexes band such as
WorldPop's ``t`` in the same folder is not matched, so nobody is counted twice), e.g.
``pop_{age}_{sex}_*.tif``.
All band rasters must share one grid; a different grid is an error (resample first),
because summing misaligned cells would move people.

Missing age bands (documented rules, configurable in the study file):

- **infants**: WorldPop's constrained products in some releases lack the 0-19 bands
  (the Wuhan demo data do). Then ``infants = child_woman_ratio * women aged 20-39``,
  with ``child_woman_ratio`` from the study (default 0.15: roughly 3 birth cohorts per
  woman aged 20-39 at a total fertility rate near 1.1, urban China ~2020). Labelled
  *estimated* wherever it is shown.
- **total**: a total raster (``total_file``) given together with the bands is the total
  (age groups still come from the bands; its grid must be the bands' grid). Otherwise, when
  bands under 20 are missing, ``total = adults_20plus / (1 - under20_share)`` with
  ``under20_share`` from the study, default **0.23**: China's 2020 census (第七次全国人口普查)
  counts 0-14 as 17.95 % of the population (公报第五号) and 15-19 as about 5.1 %, so 0-19 is
  about 23 %. Labelled *estimated*.
- **only a total raster** (``total_file``, no age bands): ``elderly = elderly_share x total``
  (default 0.187, China's 60+ share in the 2020 census) and ``infants = infant_share x total``
  (default 0.029, about three birth cohorts of 2018-2020 over 1.41 billion). Both *estimated*.

Large rasters are read by window: only the cells covering ``bounds_wgs84`` (the study area
plus its halo) are read, whole cells, so the people in the window are exactly conserved.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely

from circles.errors import InputFileError

log = logging.getLogger(__name__)


@dataclass
class PopulationGrid:
    """Summed age-group grids on one raster grid (arrays of people per cell)."""

    total: np.ndarray
    elderly: np.ndarray
    infants: np.ndarray
    transform: object
    crs: object
    estimated: dict = field(default_factory=dict)  # group -> rule text, for the report (estimated groups only)
    rules: dict = field(default_factory=dict)  # group -> rule text for every group (measured or estimated)


def _band_files(folder: Path, pattern: str) -> dict[tuple[int, str], Path]:
    regex = re.escape(pattern).replace(r"\{age\}", r"(?P<age>\d+)").replace(r"\{sex\}", r"(?P<sex>[fm])")
    regex = regex.replace(r"\*", ".*")
    found = {}
    for p in sorted(folder.iterdir()):
        m = re.fullmatch(regex, p.name)
        if m:
            found[(int(m.group("age")), m.group("sex"))] = p
    return found


def band_files(folder: str | Path, pattern: str) -> list[Path]:
    """The band rasters of ``folder`` that ``pattern`` matches, in the order they are read."""
    return list(_band_files(Path(folder), pattern).values())


def _window(src, bounds_wgs84, path: Path):
    """The whole cells of ``src`` (a dataset, or a kept band) covering ``bounds_wgs84`` (all of it if None)."""
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    window = Window(0, 0, src.width, src.height)
    if bounds_wgs84 is None:
        return window
    b = transform_bounds("EPSG:4326", src.crs, *bounds_wgs84, densify_pts=21)
    w = from_bounds(*b, transform=src.transform)
    c0, r0 = int(np.floor(w.col_off + 1e-9)), int(np.floor(w.row_off + 1e-9))
    c1 = int(np.ceil(w.col_off + w.width - 1e-9))
    r1 = int(np.ceil(w.row_off + w.height - 1e-9))
    w = Window(c0, r0, max(0, c1 - c0), max(0, r1 - r0))
    try:
        return w.intersection(window)
    except rasterio.errors.WindowError as exc:
        raise InputFileError(f"{path}: the raster does not cover the study area; check its extent and CRS") from exc


@dataclass
class _KeptBand:
    """One band's cells over a window, read once and kept in this process (:func:`keep_population_window`)."""

    key: tuple
    crs: object
    transform: object
    width: int
    height: int
    window: object  # the kept window (whole cells)
    values: np.ndarray  # people per cell over ``window`` in the file's dtype, nodata as 0 (before the NaN rule)


#: path key -> _KeptBand; empty unless :func:`keep_population_window` kept some windows
_KEPT_BANDS: dict[tuple, _KeptBand] = {}

#: :func:`keep_population_window` keeps nothing when the windows would take more memory than this
#: (bytes, in the files' own dtype): the batch process's copy is shared by its forked workers, but
#: a whole province of 100 m cells would not fit; the areas then read their windows from the files
KEEP_MAX_BYTES = 400 * 2**20


def _band_key(path: Path) -> tuple:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def keep_population_window(paths, bounds_wgs84) -> int:
    """Read the cells over ``bounds_wgs84`` of each raster in ``paths`` now and keep them in this process.

    ``circles batch`` calls it before forking its local workers, with the bounds of every
    area's read (area plus twice the halo): each area's read (:func:`read_population_grid`)
    then cuts its window from the kept cells instead of opening and decoding every band
    file again (the same whole cells: a window inside the kept one is a slice of it; any
    other read goes to the file, as without keeping). A file changed since is read from the
    file (key: path, size, modification time). ``paths=()`` forgets what was kept. Returns
    the number of bands kept.
    """
    _KEPT_BANDS.clear()
    paths = [Path(p) for p in paths]
    for p in paths:
        with rasterio.open(p) as src:
            if src.crs is None:
                _KEPT_BANDS.clear()
                return 0  # the areas' reads say what is wrong
            window = _window(src, bounds_wgs84, p)
            size = int(window.width) * int(window.height) * np.dtype(src.dtypes[0]).itemsize * len(paths)
            if size > KEEP_MAX_BYTES:
                log.info("population windows not kept: %.0f MB > %.0f MB (each area reads its own)", size / 2**20,
                         KEEP_MAX_BYTES / 2**20)
                _KEPT_BANDS.clear()
                return 0
            values = src.read(1, window=window, masked=True).filled(0)  # float64 when cut (_kept_values)
            _KEPT_BANDS[_band_key(p)] = _KeptBand(_band_key(p), src.crs, src.transform, src.width, src.height,
                                                  window, values)
    return len(_KEPT_BANDS)


def kept_people(area_wgs84) -> float:
    """People in the kept windows (:func:`keep_population_window`; every kept band summed) whose cell
    centre lies in ``area_wgs84`` (a WGS84 polygon); 0.0 when nothing is kept.

    An estimate for ordering work only (``circles batch`` runs the areas with the most people
    first: an area's cost grows with its people more than with its size); a total raster
    kept beside the bands is counted too.
    """
    from rasterio.features import geometry_mask
    from rasterio.windows import transform as window_transform

    if not _KEPT_BANDS:
        return 0.0
    first = next(iter(_KEPT_BANDS.values()))
    geom = gpd.GeoSeries([area_wgs84], crs=4326).to_crs(first.crs).iloc[0]
    h, w = first.values.shape
    if h == 0 or w == 0:
        return 0.0
    inside = geometry_mask([geom], out_shape=(h, w), transform=window_transform(first.window, first.transform),
                           invert=True)
    return float(sum(k.values[inside].astype("float64").sum() for k in _KEPT_BANDS.values()
                     if k.values.shape == (h, w)))


def _kept_values(kept: _KeptBand, window) -> np.ndarray | None:
    """The kept cells of ``window`` (a copy), or None if it is not inside the kept window."""
    k = kept.window
    r0, c0 = int(window.row_off - k.row_off), int(window.col_off - k.col_off)
    if r0 < 0 or c0 < 0 or r0 + window.height > k.height or c0 + window.width > k.width:
        return None
    return kept.values[r0:r0 + int(window.height), c0:c0 + int(window.width)].astype("float64")  # a copy


def _read_band(path: Path, bounds_wgs84, ref):
    """Read one band (window over ``bounds_wgs84`` if given) as people per cell, nodata as 0."""
    from rasterio.windows import transform as window_transform

    try:
        kept = _KEPT_BANDS.get(_band_key(path)) if _KEPT_BANDS and path.exists() else None
        arr = None
        if kept is not None:
            window = _window(kept, bounds_wgs84, path)
            grid = (kept.crs, window_transform(window, kept.transform), int(window.width), int(window.height))
            arr = _kept_values(kept, window)
        if arr is None:
            with rasterio.open(path) as src:
                if src.crs is None:
                    raise InputFileError(f"{path}: raster has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:4326)")
                window = _window(src, bounds_wgs84, path)
                grid = (src.crs, src.window_transform(window), int(window.width), int(window.height))
                arr = src.read(1, window=window, masked=True).astype("float64").filled(0.0)
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(f"{path}: not a readable raster ({exc})") from exc
    if ref is not None and grid != ref:
        raise InputFileError(f"{path}: grid differs from the first band's; all band rasters must share one "
                             "grid (resample with gdalwarp -tap first)")
    arr[~np.isfinite(arr) | (arr < 0)] = 0.0
    return arr, grid


def read_population_grid(
    folder: str | Path | None,
    *,
    pattern: str = "pop_{age}_{sex}_*.tif",
    elderly_min_age: int = 60,
    child_woman_ratio: float = 0.15,
    under20_share: float = 0.23,
    total_file: str | Path | None = None,
    elderly_share: float = 0.187,
    infant_share: float = 0.029,
    bounds_wgs84=None,
) -> PopulationGrid:
    """Read age/sex band rasters from ``folder`` (or one ``total_file``) and sum them into age groups.

    A band for ages 0-4 (``age == 0``) means infants are measured: 3/5 of that band
    (ages 0, 1, 2) is used, assuming births spread evenly over the five years.
    """
    if total_file is not None and folder is None:  # only a total raster
        total, grid = _read_band(Path(total_file), bounds_wgs84, None)
        if total.sum() <= 0:
            raise InputFileError(f"{total_file}: the population raster sums to zero (all nodata?) inside the study area")
        estimated = {"elderly": f"estimated: {elderly_share} x total (no age bands given)",
                     "infants": f"estimated: {infant_share} x total (no age bands given)"}
        return PopulationGrid(
            total=total, elderly=elderly_share * total, infants=infant_share * total,
            transform=grid[1], crs=grid[0], estimated=estimated,
            rules={"total": f"measured: total raster {Path(total_file).name}", **estimated})
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder}: population folder not found; check `population.folder` in the study file")
    files = _band_files(folder, pattern)
    if not files:
        raise InputFileError(
            f"{folder}: no raster matches the pattern {pattern!r}; set `population.pattern` "
            "(fields {age} and {sex}, e.g. 'pop_{age}_{sex}_*.tif')"
        )
    ref = None
    sums: dict[tuple[int, str], np.ndarray] = {}
    for key, path in files.items():
        arr, grid = _read_band(path, bounds_wgs84, ref)
        ref = ref or grid
        sums[key] = arr
    crs, transform, width, height = ref
    zero = np.zeros((height, width))

    def band_sum(lo: int, hi: int | None = None, sex: str | None = None) -> np.ndarray:
        out = zero.copy()
        for (age, s), arr in sums.items():
            if age >= lo and (hi is None or age < hi) and (sex is None or s == sex):
                out += arr
        return out

    estimated = {}
    ages = {a for a, _ in sums}
    if not ages:
        raise InputFileError(f"{folder}: no age bands found")
    elderly = band_sum(elderly_min_age)
    if 0 in ages:
        infants = band_sum(0, 5) * 3 / 5
    else:
        women = band_sum(20, 40, "f")
        if not women.any():
            raise InputFileError(f"{folder}: no band under 5 and no female 20-39 bands to estimate infants from")
        infants = child_woman_ratio * women
        estimated["infants"] = f"estimated: {child_woman_ratio} x women aged 20-39 (no band under 5 in the data)"
    bands = band_sum(0)
    rules = {"elderly": f"measured: sum of the bands aged {elderly_min_age}+",
             "infants": estimated.get("infants", "measured: 3/5 of the 0-4 bands")}
    if total_file is not None:
        total, grid = _read_band(Path(total_file), bounds_wgs84, None)
        if grid != ref:
            raise InputFileError(f"{total_file}: the total raster's grid differs from the age bands'; resample one onto "
                                 "the other (gdalwarp -tap) or give only one of `folder` / `total_file`")
        if bands.sum() > total.sum() * 1.01:
            raise InputFileError(
                f"{total_file}: the age bands hold {bands.sum():,.0f} people but the total raster only "
                f"{total.sum():,.0f}; they conflict: check that both describe the same year and area, or drop one")
        rules["total"] = f"measured: total raster {Path(total_file).name} (age groups from the bands)"
        if min(ages) >= 20:
            log.info("population: total from %s; the bands (20+) hold %.1f %% of it",
                     Path(total_file).name, 100 * bands.sum() / max(total.sum(), 1e-9))
    elif min(ages) >= 20:
        total = bands / (1.0 - under20_share)
        estimated["total"] = (
            f"estimated: people aged 20+ / (1 - {under20_share}) (no bands under 20 in the data; "
            "0.23 = China 2020 census share aged 0-19)"
        )
        rules["total"] = estimated["total"]
    else:
        total = bands
        rules["total"] = "measured: sum of all age bands"
    if total.sum() <= 0:
        raise InputFileError(f"{folder}: the population rasters sum to zero (all nodata?) inside the study area")
    return PopulationGrid(total=total, elderly=elderly, infants=infants, transform=transform,
                          crs=crs, estimated=estimated, rules=rules)


def grid_to_points(grid: PopulationGrid, *, crs) -> gpd.GeoDataFrame:
    """One point per populated cell (cell centre), projected to ``crs``.

    Columns: ``row``, ``col``, ``total``, ``elderly``, ``infants``, ``cell_area_m2``.
    Cells with no people in any group are left out (they carry nothing).
    """
    rows, cols = np.nonzero((grid.total > 0) | (grid.elderly > 0) | (grid.infants > 0))
    xs, ys = rasterio.transform.xy(grid.transform, rows, cols, offset="center")
    pts = gpd.GeoDataFrame(
        {
            "row": rows.astype(np.int32),
            "col": cols.astype(np.int32),
            "total": grid.total[rows, cols],
            "elderly": grid.elderly[rows, cols],
            "infants": grid.infants[rows, cols],
        },
        geometry=shapely.points(np.asarray(xs), np.asarray(ys)),
        crs=grid.crs,
    ).to_crs(crs)
    pts.index.name = "cell"
    return pts


def load_population(folder, *, crs, **rules) -> tuple[gpd.GeoDataFrame, dict]:
    """Read the band rasters and return ``(points, estimated, rules)``; see :func:`read_population_grid`.

    ``estimated`` names the estimated groups' rules (shown as *estimated*); ``rules`` gives the rule
    behind every group's figure (written to the log and ``summary.json``).
    """
    grid = read_population_grid(folder, **rules)
    points = grid_to_points(grid, crs=crs)
    log.debug("population read (study area and surroundings): %d populated cells, %.0f people",
              len(points), points["total"].sum())  # the study's own figures are logged after the area split
    for group, rule in grid.rules.items():
        log.info("population %s: %s", group, rule)
    return points, grid.estimated, grid.rules
