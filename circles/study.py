"""The study file: one validated options object naming every input and parameter.

A study is a TOML file (``data/demo/study.toml`` is the worked example). Paths inside it
are relative to the study file. Unknown keys are refused with the list of known ones, so
a misspelt setting never passes silently, and every value is checked when the file is read
(type, range, known names: CRSs through pyproj, coordinate systems, facility kinds, the
target preset, which is loaded): a bad value stops with one line naming the file, the key
and the fix (:func:`check_study`). Every section and key::

    [study]       name (a plain folder name), title, crs ("auto" = UTM zone of the area), area,
                  output_dir, language
    [network]     path, profile, node_crossings, join_tolerance_m, road_class_column,
                  name_column, oneway_column, source_crs, source, licence,
                  dem (a GeoTIFF of elevation in metres: walking times with slope, see
                  circles/io/dem.py), dem_source, dem_licence
    [[facilities]] path, coords, kind, columns, encoding, sheet, illustrative, source, licence
    [population]  folder, pattern, elderly_min_age, child_woman_ratio, under20_share,
                  total_file, elderly_share, infant_share (when only a total raster exists),
                  source, licence
    [units]       path, name_column, code_column, grid_size_m, parents, parent_name_column,
                  invalid ("repair": make_valid, each repaired unit reported in
                  ``units.attrs["repairs"]``; "refuse": stop naming each invalid unit),
                  source, licence, parents_source, parents_licence
    (source/licence: the credits line of the report; defaults from the file read, see
    circles/credits.py)
    Study area: ``study.area`` when given; without it, the union of the units when they come
    from a file (``units.path``), else the extent of the population rasters. With both an area
    and units, more than 10 % of the area's people in no unit is a warning (``summary.json``
    ``warnings``): they count in the study's figures but in no unit's.
    [travel]      walk_speed_mps, thresholds_min, max_offroad_m, max_time_min
    [targets]     preset (name of a built-in preset or a path to a TOML file), whole_city (true: the
                  study is the whole city, so the plans' city-wide totals apply as they are),
                  city_population (the city's residents: a total is scaled to the study's share)
    [report]      basemap (none, osm, amap)
    [siting]      kinds, n_sites, threshold_min, model, method, slots, beds, take_up_rate,
                  candidate_spacing_m, candidates, candidate_name_column, exclude, floor_m2 (floor
                  area of each new nursery, m²), new_sites_affordable (default true: new slots
                  count as 普惠 and 公办, new nursing-home beds as 护理型)

Outputs: ``circles run`` writes ``<output_dir>/<name>/``, ``circles score``
``<name>-score/`` and ``circles suggest`` ``<name>-suggest/`` (see :meth:`Study.output_folder`),
so no command overwrites another's results; ``circles report`` rebuilds the page of one of
them in place. ``name`` is a plain folder name (no path, not starting with "."), and a
folder is only ever replaced if circles wrote it (see :mod:`circles.outputs`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from circles.demo import demo_study_path  # noqa: F401  (re-exported: the demo lookup lives in circles/demo.py)
from circles.errors import StudyError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class NetworkOptions:
    path: Path
    profile: str = "walk"
    node_crossings: bool = False
    join_tolerance_m: float = 0.0
    road_class_column: str = "highway"
    name_column: str = "name"
    oneway_column: str | None = None
    source_crs: str | None = None
    source: str | None = None  # who made the data (credits line); default from the file read
    licence: str | None = None
    dem: Path | None = None  # elevation GeoTIFF: slope-aware walking (circles.io.dem); ignored on the drive profile
    dem_source: str | None = None  # of the DEM (credits line)
    dem_licence: str | None = None


@dataclass
class FacilitySource:
    path: Path
    coords: str = "wgs84"
    kind: str | None = None
    columns: dict = field(default_factory=dict)
    encoding: str | None = None
    sheet: str | None = None
    illustrative: bool = False
    source: str | None = None
    licence: str | None = None


@dataclass
class PopulationOptions:
    folder: Path | None = None
    pattern: str = "pop_{age}_{sex}_*.tif"
    elderly_min_age: int = 60
    child_woman_ratio: float = 0.15
    under20_share: float = 0.23  # China 2020 census: 0-14 17.95 %, 0-19 about 23 %
    total_file: Path | None = None
    elderly_share: float = 0.187
    infant_share: float = 0.029
    source: str | None = None
    licence: str | None = None


@dataclass
class UnitOptions:
    path: Path | None = None
    name_column: str | None = None
    code_column: str | None = None
    grid_size_m: float = 1000.0
    parents: Path | None = None
    parent_name_column: str = "name"
    invalid: str = "repair"  # invalid polygons: "repair" (make_valid, each repair reported) or "refuse"
    source: str | None = None  # of the units file
    licence: str | None = None
    parents_source: str | None = None  # of the parents file
    parents_licence: str | None = None
    #: the units file holds community polygons (社区), so the plans' community indicators are counted over
    #: them; ``None`` (not set): true with a units file, false for the grid. ``false`` for street or other
    #: polygons (``circles batch`` sets it for the grid cells it writes to a file per area)
    communities: bool | None = None

    @property
    def are_communities(self) -> bool:
        """Whether the units are communities (the plans' share-of-communities indicators apply)."""
        return self.path is not None if self.communities is None else bool(self.communities and self.path is not None)


@dataclass
class TravelOptions:
    walk_speed_mps: float = 1.0
    thresholds_min: list = field(default_factory=lambda: [5, 10, 15])
    max_offroad_m: float = 500.0
    max_time_min: float | None = None  # search limit; None = twice the longest threshold; beyond it a time is "beyond" (inf)


@dataclass
class TargetOptions:
    preset: str = "national"
    # city-wide totals (托位数, 养老床位, 助餐点): compared as they are only when the study is the whole
    # city (``whole_city = true``); otherwise scaled to the study's share of the city's residents when
    # ``city_population`` is given, else "not comparable" (circles/targets.py, :func:`city_target`)
    whole_city: bool = False
    city_population: float | None = None


@dataclass
class SitingOptions:
    kinds: list = field(default_factory=lambda: ["daycare", "nursery"])
    n_sites: int = 5
    threshold_min: float = 15.0
    model: str = "mclp"  # mclp, lscp, pmedian, capacitated, joint (see circles/siting.py)
    method: str = "exact"  # exact (HiGHS) or greedy (greedy + swaps, gap to the LP bound reported)
    slots: int = 150  # size of a new nursery (甘孜 plan: >= 150 slots)
    beds: int = 30  # size of a new elderly facility
    take_up_rate: float = 0.2  # capacitated model: share of infants needing a slot (4.5 per 1,000 / ~23 infants per 1,000)
    candidate_spacing_m: float = 250.0
    candidates: Path | None = None  # a file of candidate sites (points or polygons); default: road nodes
    candidate_name_column: str = "name"
    exclude: Path | None = None  # polygons where nothing may be built
    floor_m2: float | None = None  # floor area of each new nursery (m²): floor per slot reported beside each site
    # what a new site counts as in the composition shares (circles/targets.py): its slots 普惠 and 公办,
    # a new nursing home's beds 护理型 (the plans' new capacity is public and affordable); false: unknown
    new_sites_affordable: bool = True


@dataclass
class ReportOptions:
    basemap: str = "none"  # none (data only, OSM optional), osm, or amap (GCJ-02 tiles: data shifted to match)


@dataclass
class Study:
    """Everything one run needs. Build it with :func:`load_study`."""

    name: str
    network: NetworkOptions
    facilities: list
    population: PopulationOptions
    units: UnitOptions = field(default_factory=UnitOptions)
    travel: TravelOptions = field(default_factory=TravelOptions)
    targets: TargetOptions = field(default_factory=TargetOptions)
    siting: SitingOptions = field(default_factory=SitingOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    title: str = ""
    crs: str = "auto"
    area: Path | None = None
    output_dir: Path = Path("maps")
    language: str = "zh"
    source: Path | None = None  # the study file itself
    #: gazetteer rows beyond the facility reach: "reject" (a study: such a row is usually misplaced) or
    #: "count" (a ``circles batch`` area: the city's gazetteer holds other areas' rows; not a TOML key)
    facility_rows_outside: str = "reject"

    @property
    def out_folder(self) -> Path:
        """Where ``circles run`` writes: ``<output_dir>/<name>/``."""
        return self.output_folder("run")

    def output_folder(self, command: str = "run") -> Path:
        """Each command has its own folder, so none overwrites another's results:
        ``run`` -> ``<output_dir>/<name>/``, ``score`` -> ``<name>-score/``, ``suggest`` -> ``<name>-suggest/``."""
        return Path(self.output_dir) / (self.name if command == "run" else f"{self.name}-{command}")

    @property
    def thresholds_s(self) -> list[float]:
        return [float(t) * 60.0 for t in self.travel.thresholds_min]


_SECTIONS = {
    "network": NetworkOptions,
    "population": PopulationOptions,
    "units": UnitOptions,
    "travel": TravelOptions,
    "targets": TargetOptions,
    "siting": SitingOptions,
    "report": ReportOptions,
}
_STUDY_KEYS = {"name", "title", "crs", "area", "output_dir", "language"}


# --------------------------------------------------------------------------- value checks
class _Bad(Exception):
    """A value is wrong: ``problem; fix`` (formatted into a StudyError by :func:`_check`)."""


def _show(value) -> str:
    """``repr`` of a value on one short line (long values cut)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(lo=None, hi=None, *, lo_open=False, hi_open=False, integer=False, example="", optional=False):
    """A checker: an int/float (not text, not true/false, not NaN) in [lo, hi] (open ends if asked)."""
    rng = f"{'more than' if lo_open else 'at least'} {lo:g}" if lo is not None else ""
    if hi is not None:
        rng = (rng + " and " if rng else "") + f"{'less than' if hi_open else 'at most'} {hi:g}"

    def check(value, ctx):
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " without quotes" if isinstance(value, str) else ""
            raise _Bad(f"must be a {'whole ' if integer else ''}number; write it{hint} like {example}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _Bad(f"must be a finite number ({rng}), e.g. {example}")
        if integer:
            if isinstance(value, float) and not value.is_integer():
                raise _Bad(f"must be a whole number, e.g. {example}")
            value = int(value)
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise _Bad(f"out of range: must be {rng}, e.g. {example}")
        if hi is not None and (value > hi or (hi_open and value == hi)):
            raise _Bad(f"out of range: must be {rng}, e.g. {example}")
        return value
    return check


def _text(choices=None, *, optional=False, example='"name"', nonempty=False):
    def check(value, ctx):
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise _Bad(f"must be text in quotes, e.g. {example}")
        if "\x00" in value or len(value) > 1000:
            raise _Bad(f"is not usable text (too long or a NUL character), e.g. {example}")
        if nonempty and not value.strip():
            raise _Bad(f"is empty; give a value, e.g. {example}")
        if choices is not None and value not in choices:
            raise _Bad(f"unknown value; use one of {', '.join(choices)}")
        return value
    return check


def _flag(value, ctx):
    if not isinstance(value, bool):
        raise _Bad("must be true or false (no quotes)")
    return value


def _optional_flag(value, ctx):
    """A flag whose absence means "decide from the other keys" (``None`` when a study is written back)."""
    return None if value is None else _flag(value, ctx)


def _path(*, optional=True):
    def check(value, ctx):
        if value is None and optional:
            return None
        if isinstance(value, Path):  # already read (or the default output_dir, relative to the working folder)
            return value
        if not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > 4000:
            raise _Bad('must be a file or folder path in quotes, relative to the study file, e.g. "roads.osm.pbf"')
        try:
            return (ctx["base"] / value).resolve()
        except (OSError, ValueError, RuntimeError):
            raise _Bad("is not a usable path on this system; give a shorter, plain path") from None
    return check


def _thresholds(value, ctx):
    if not isinstance(value, (list, tuple)) or not value:
        raise _Bad("must be a list of minutes, e.g. [5, 10, 15]")
    one = _number(0, 600, lo_open=True, example="[5, 10, 15]")
    minutes = sorted(float(one(v, ctx)) for v in value)
    repeated = sorted({m for m in minutes if minutes.count(m) > 1})
    if repeated:  # refused, not silently dropped: a repeat is usually a typo for another threshold
        raise _Bad(f"repeats {', '.join(f'{m:g}' for m in repeated)} min; give each threshold once, "
                   "e.g. [5, 10, 15]")
    return minutes


def _kinds(value, ctx):
    from circles.io.facilities import KINDS

    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _Bad(f'must be a list of facility kinds, e.g. ["daycare", "nursery"] (kinds: {", ".join(KINDS)})')
    for v in value:
        if v not in KINDS:
            raise _Bad(f"{v!r} is not a facility kind; use {', '.join(KINDS)}")
    return list(value)


def _kind(value, ctx):
    from circles.io.facilities import KINDS, normalise_kind

    if value is None:
        return None
    if not isinstance(value, str) or normalise_kind(value) is None:
        raise _Bad(f'unknown facility kind; use one of {", ".join(KINDS)} (or its Chinese name, e.g. "托育机构")')
    return value


def _model(value, ctx):
    from circles.siting import MODELS

    return _text(MODELS)(value, ctx)


def _crs_problem(value: str, *, metric: bool) -> str | None:
    """None if ``value`` is a CRS PROJ knows (projected in metres if ``metric``), else the problem and fix."""
    import re

    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(value)
    except (CRSError, ValueError, TypeError) as exc:
        m = re.search(r"utm\D{0,6}?(\d{1,2})\s*([ns])?\b", value, re.IGNORECASE)
        if m and 1 <= int(m.group(1)) <= 60:
            south = (m.group(2) or "n").lower() == "s"
            code = (32700 if south else 32600) + int(m.group(1))
            return f'not a single CRS PROJ knows; for WGS 84 / UTM zone {m.group(1)}{"S" if south else "N"} write "EPSG:{code}"'
        if "several objects" in str(exc):
            return 'names several CRSs; give its EPSG code, e.g. "EPSG:4547" (CGCS2000 / 3-degree Gauss-Kruger CM 114E)'
        return 'not a CRS PROJ knows; give an EPSG code such as "EPSG:32650" (look it up on epsg.io)'
    if metric and not (crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter")):
        return 'must be a projected CRS in metres (or "auto" for the UTM zone of the area), e.g. "EPSG:32650"'
    return None


def _crs(*, metric: bool, auto: bool = False, optional: bool = False):
    def check(value, ctx):
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _Bad('must be a CRS in quotes, e.g. "EPSG:32650"' + (' or "auto"' if auto else ""))
        if auto and value == "auto":
            return value
        problem = _crs_problem(value, metric=metric)
        if problem:
            raise _Bad(problem)
        return value
    return check


def _coords(value, ctx):
    from circles.chinacoords import named_system

    names = "wgs84, cgcs2000, gcj02, bd09"
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f'must be a coordinate system in quotes: {names}, or an EPSG code such as "EPSG:4547"')
    if named_system(value) is not None:
        return value
    if not any(ch.isdigit() for ch in value) or value.lower().replace("-", "").startswith(("gcj", "bd", "wgs")):
        raise _Bad(f'unknown coordinate system; use one of {names}, or an EPSG code such as "EPSG:4547"')
    problem = _crs_problem(value, metric=False)
    if problem:
        raise _Bad(f"{problem} (lon/lat names: {names})")
    return value


def _columns(value, ctx):
    from circles.io.facilities import COLUMN_ALIASES

    if not isinstance(value, dict):
        raise _Bad('must be a table of field = "column name", e.g. {name = "机构全称"}')
    for k, v in value.items():
        if k not in COLUMN_ALIASES:
            raise _Bad(f"unknown field {k!r}; fields are {', '.join(COLUMN_ALIASES)}")
        if not isinstance(v, str) or not v.strip():
            raise _Bad(f'the column for {k!r} must be a column name in quotes, e.g. {{{k} = "{COLUMN_ALIASES[k][-1]}"}}')
    return dict(value)


def _encoding(value, ctx):
    import codecs

    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad('must be an encoding name in quotes, e.g. "gbk" or "utf-8"')
    try:
        codecs.lookup(value)
    except (LookupError, ValueError):
        raise _Bad('unknown text encoding; use e.g. "utf-8", "utf-8-sig", "gbk" or "gb18030"') from None
    return value


def _sheet(value, ctx):
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10000:
        return value
    raise _Bad('must be a sheet name in quotes or its number from 0, e.g. "养老机构"')


def _pattern(value, ctx):
    value = _text(example='"pop_{age}_{sex}_*.tif"', nonempty=True)(value, ctx)
    if "{age}" not in value or "{sex}" not in value:
        raise _Bad('must hold the fields {age} and {sex}, e.g. "chn_{sex}_{age}_2020.tif"')
    return value


def _folder_name(value, ctx):
    from circles.outputs import folder_name_problem

    problem = folder_name_problem(value)
    if problem:
        raise _Bad(problem)
    return value


def _preset(value, ctx):
    value = _text(example='"national" or "my_plan.toml"', nonempty=True)(value, ctx)
    if value.endswith(".toml"):
        value = str((ctx["base"] / value).resolve())
    check_preset(value)  # loaded and checked at read time: a bad preset is one line here, not later
    return value


_SPEC = {
    "study": {
        "name": _folder_name,
        "title": _text(example='"汉口 一老一小 15分钟服务圈"'),
        "crs": _crs(metric=True, auto=True),
        "area": _path(),
        "output_dir": _path(optional=False),
        "language": _text(("zh", "en")),
    },
    "network": {
        "path": _path(optional=False),
        "profile": _text(("walk", "drive")),
        "node_crossings": _flag,
        "join_tolerance_m": _number(0, 1000, example="join_tolerance_m = 5"),
        "road_class_column": _text(example='"highway"', nonempty=True),
        "name_column": _text(example='"name"', nonempty=True),
        "oneway_column": _text(optional=True, example='"oneway"', nonempty=True),
        "source_crs": _crs(metric=False, optional=True),
        "dem": _path(),
    },
    "facilities": {
        "path": _path(optional=False),
        "coords": _coords,
        "kind": _kind,
        "columns": _columns,
        "encoding": _encoding,
        "sheet": _sheet,
        "illustrative": _flag,
    },
    "population": {
        "folder": _path(),
        "pattern": _pattern,
        "elderly_min_age": _number(0, 100, integer=True, example="elderly_min_age = 60"),
        "child_woman_ratio": _number(0, 1, example="child_woman_ratio = 0.15"),
        "under20_share": _number(0, 1, hi_open=True, example="under20_share = 0.23"),
        "total_file": _path(),
        "elderly_share": _number(0, 1, example="elderly_share = 0.187"),
        "infant_share": _number(0, 1, example="infant_share = 0.029"),
    },
    "units": {
        "path": _path(),
        "name_column": _text(optional=True, example='"社区名称"', nonempty=True),
        "code_column": _text(optional=True, example='"社区代码"', nonempty=True),
        "grid_size_m": _number(50, 100_000, example="grid_size_m = 1000"),
        "parents": _path(),
        "parent_name_column": _text(example='"name"', nonempty=True),
        "invalid": _text(("repair", "refuse")),
        "communities": _optional_flag,
    },
    "travel": {
        "walk_speed_mps": _number(0.1, 3.0, example="walk_speed_mps = 1.0 (a walking speed, 0.1-3 m/s)"),
        "thresholds_min": _thresholds,
        "max_offroad_m": _number(0, 50_000, example="max_offroad_m = 500"),
        "max_time_min": _number(0, 1440, lo_open=True, optional=True, example="max_time_min = 15"),
    },
    "targets": {"preset": _preset, "whole_city": _flag,
                "city_population": _number(0, 1e9, lo_open=True, optional=True,
                                           example="city_population = 3615000 (the city's residents)")},
    "report": {"basemap": _text(("none", "osm", "amap"))},
    "siting": {
        "kinds": _kinds,
        "n_sites": _number(0, 1000, integer=True, example="n_sites = 5"),
        "threshold_min": _number(0, 600, lo_open=True, example="threshold_min = 15"),
        "model": _model,
        "method": _text(("exact", "greedy")),
        "slots": _number(1, 100_000, integer=True, example="slots = 150"),
        "beds": _number(1, 100_000, integer=True, example="beds = 30"),
        "take_up_rate": _number(0, 1, lo_open=True, example="take_up_rate = 0.2 (a share of infants, 0-1)"),
        "candidate_spacing_m": _number(1, 100_000, example="candidate_spacing_m = 250"),
        "candidates": _path(),
        "candidate_name_column": _text(example='"name"', nonempty=True),
        "exclude": _path(),
        "floor_m2": _number(0, 1e7, lo_open=True, optional=True, example="floor_m2 = 2400 (m² per new nursery)"),
        "new_sites_affordable": _flag,
    },
}


def _check(where: str, label: str, key: str, value, checker, ctx):
    try:
        return checker(value, ctx)
    except _Bad as exc:
        raise StudyError(f"{where}: {label}{key} = {_show(value)}: {exc}") from None
    except StudyError as exc:
        prefix, msg = f"{label}{key} = {_show(value)}: ", str(exc)
        raise StudyError(f"{where}: {prefix}{msg.removeprefix(prefix)}") from None  # one prefix, not two


def check_preset(name_or_path: str) -> dict:
    """Load a target preset (built-in name or TOML path) and check it; any problem is one StudyError."""
    from circles.targets import load_preset

    try:
        preset = load_preset(name_or_path)
    except StudyError:
        raise
    except Exception as exc:  # a malformed custom preset file: TOML syntax, wrong types, unreadable
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StudyError(f"{name_or_path}: not a valid preset file ({first}); compare with circles/presets/national.toml") \
            from None
    where = str(name_or_path)
    if not isinstance(preset.get("preset"), dict):
        raise StudyError(f"{where}: [preset] must be a table with title_zh / title_en")
    seen = set()
    for i, ind in enumerate(preset["indicators"]):
        if not isinstance(ind, dict):
            raise StudyError(f"{where}: [[indicator]] #{i + 1} must be a table")
        label = f"indicator #{i + 1}"
        if not isinstance(ind.get("id"), str) or not ind["id"].strip() or ind["id"] in seen:
            raise StudyError(f"{where}: {label}: id must be a unique text id, e.g. id = \"elderly_15min\"")
        seen.add(ind["id"])
        value = ind.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise StudyError(f"{where}: indicator {ind['id']}: value = {_show(value)} must be a number >= 0 "
                             "(a share 0-1, or per 1,000), without quotes")
        if ind.get("group") not in ("elderly", "infants", "total", "communities", "streets", "affordable", "public",
                                    "nursing", "count"):
            raise StudyError(f"{where}: indicator {ind['id']}: group = {_show(ind.get('group'))}: use elderly, infants, "
                             "total, communities, streets, affordable, public, nursing or count")
        if not isinstance(ind.get("metric"), str):
            raise StudyError(f"{where}: indicator {ind['id']}: metric must be a column name in quotes")
        for lab in ("label_zh", "label_en", "source"):
            if lab in ind and not isinstance(ind[lab], str):
                raise StudyError(f"{where}: indicator {ind['id']}: {lab} must be text in quotes")
    return preset


def _check_section(obj, section: str, label: str, where: str, ctx) -> None:
    for key, checker in _SPEC[section].items():
        setattr(obj, key, _check(where, label, key, getattr(obj, key), checker, ctx))


def check_study(study: Study, where: str | None = None, base: Path | None = None) -> Study:
    """Check (and normalise) every option of a built study in place; raise one-line StudyErrors.

    :func:`load_study` calls it; call it again after changing options in code (the CLI does,
    after applying ``--preset``, ``--n`` ...). Paths are made absolute against ``base``.
    """
    where = where or str(study.source or "study")
    ctx = {"base": Path(base) if base is not None else
           (Path(study.source).parent if study.source is not None else Path.cwd())}
    for key in _STUDY_KEYS:
        setattr(study, key, _check(where, "study.", key, getattr(study, key), _SPEC["study"][key], ctx))
    for section in _SECTIONS:
        _check_section(getattr(study, section), section, f"{section}.", where, ctx)
    if not isinstance(study.facilities, list) or not study.facilities:
        raise StudyError(f"{where}: no [[facilities]] given; name at least one gazetteer file")
    for i, src in enumerate(study.facilities):
        _check_section(src, "facilities", f"[[facilities]] #{i + 1} ", where, ctx)
    _check_values(study, where)
    return study


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise StudyError(f"{where}: expected a table of keys, got {type(data).__name__}; write it as a [section]")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise StudyError(f"{where}: unknown key {key!r}; known keys are {', '.join(sorted(known))}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for key in required:
        if key not in data:
            raise StudyError(f"{where}: missing required key {key!r}")
    return cls(**data)


def load_study(path: str | Path, **overrides) -> Study:
    """Read and validate a study file.

    Every option is checked here (type, range, known names: CRSs with pyproj, coordinate
    systems, facility kinds, the target preset, which is loaded): a bad value stops with
    one :class:`~circles.errors.StudyError` line naming the file, the key and the fix.
    ``overrides`` set top-level study keys after reading (e.g. ``output_dir``), as the CLI does.
    """
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"{path}: study file not found; give the path to a study .toml (see data/demo/study.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise StudyError(f"{path}: not valid TOML ({first}); check quotes and brackets on that line") from None
    return study_from_dict(raw, base=path.parent, source=path, **overrides)


def study_from_dict(raw: dict, *, base: Path, source: Path | None = None, **overrides) -> Study:
    """Build and check a :class:`Study` from a parsed TOML dictionary; paths are relative to ``base``."""
    where = str(source or "study")
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: a study is a table of sections")
    allowed = set(_SECTIONS) | {"study", "facilities"}
    for key in raw:
        if key not in allowed:
            raise StudyError(f"{where}: unknown section [{key!r}]; sections are {', '.join(sorted(allowed))}")
    head = raw.get("study", {})
    if not isinstance(head, dict):
        raise StudyError(f"{where}: [study] must be a table (name, title, crs, area, output_dir, language)")
    head = dict(head)
    for key in head:
        if key not in _STUDY_KEYS:
            raise StudyError(f"{where}: unknown key {'study.' + str(key)!r}; known keys are {', '.join(sorted(_STUDY_KEYS))}")
    if "name" not in head:
        raise StudyError(f"{where}: missing 'study.name' (used as the output folder name)")
    for section in ("network", "population"):
        if section not in raw:
            raise StudyError(f"{where}: missing section [{section}]")
    sections = {name: _build(cls, raw[name], f"{where} [{name}]") for name, cls in _SECTIONS.items() if name in raw}
    fac_raw = raw.get("facilities", [])
    if isinstance(fac_raw, dict):
        fac_raw = [fac_raw]
    if not isinstance(fac_raw, list) or not fac_raw:
        raise StudyError(f"{where}: no [[facilities]] given; name at least one gazetteer file")
    facilities = [_build(FacilitySource, f, f"{where} [[facilities]] #{i + 1}") for i, f in enumerate(fac_raw)]
    head.update({k: v for k, v in overrides.items() if v is not None})
    study = Study(facilities=facilities, source=source, **head, **sections)
    return check_study(study, where, base)


def _check_values(study: Study, where: str) -> None:
    """Checks across keys (each key alone is checked by :data:`_SPEC`)."""
    if study.population.folder is None and study.population.total_file is None:
        raise StudyError(f"{where}: [population] needs `folder` (age/sex band rasters) or `total_file`")
    s = study.siting
    if s.model == "joint" and s.n_sites > 0:
        from circles.io.facilities import KINDS

        if len(s.kinds) != 2 or {KINDS[k].serves for k in s.kinds} != {"elderly", "infants"}:
            raise StudyError(f"{where}: siting.model = 'joint' needs siting.kinds = [an elderly kind, an infant kind], "
                             'e.g. ["daycare", "nursery"]')
