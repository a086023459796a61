"""The study file: one validated options object naming every input and parameter.

A study is a TOML file (``data/demo/study.toml`` is the worked example). Paths inside it
are relative to the study file. Unknown keys are refused with the list of known ones, so
a misspelt setting never passes silently. Every section and key::

    [study]       name, title, crs ("auto" = UTM zone of the area), area, output_dir, language
    [network]     path, profile, node_crossings, join_tolerance_m, road_class_column,
                  name_column, oneway_column, source_crs, source, licence
    [[facilities]] path, coords, kind, columns, encoding, sheet, illustrative, source, licence
    [population]  folder, pattern, elderly_min_age, child_woman_ratio, under20_share,
                  total_file, elderly_share, infant_share (when only a total raster exists),
                  source, licence
    [units]       path, name_column, code_column, grid_size_m, parents, parent_name_column,
                  source, licence, parents_source, parents_licence
    (source/licence: the credits line of the report; defaults from the file read, see
    circles/credits.py)
    [travel]      walk_speed_mps, thresholds_min, max_offroad_m, max_time_min
    [targets]     preset (name of a built-in preset or a path to a TOML file)
    [report]      basemap (none, osm, amap)
    [siting]      kinds, n_sites, threshold_min, model, method, slots, beds, take_up_rate,
                  candidate_spacing_m, candidates, candidate_name_column, exclude
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

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
    source: str | None = None  # of the units file
    licence: str | None = None
    parents_source: str | None = None  # of the parents file
    parents_licence: str | None = None


@dataclass
class TravelOptions:
    walk_speed_mps: float = 1.0
    thresholds_min: list = field(default_factory=lambda: [5, 10, 15])
    max_offroad_m: float = 500.0
    max_time_min: float | None = None  # times beyond are not searched (inf); batch runs set the longest threshold


@dataclass
class TargetOptions:
    preset: str = "national"


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

    @property
    def out_folder(self) -> Path:
        return Path(self.output_dir) / self.name

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
_PATH_FIELDS = {"path", "folder", "parents", "area", "output_dir", "total_file", "candidates", "exclude"}


def _build(cls, data: dict, where: str, base: Path):
    if not isinstance(data, dict):
        raise StudyError(f"{where}: expected a table of keys, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise StudyError(f"{where}: unknown key {key!r}; known keys are {', '.join(sorted(known))}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for key in required:
        if key not in data:
            raise StudyError(f"{where}: missing required key {key!r}")
    values = {}
    for key, value in data.items():
        values[key] = (base / value).resolve() if key in _PATH_FIELDS and value is not None else value
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        raise StudyError(f"{where}: {exc}") from exc


def load_study(path: str | Path, **overrides) -> Study:
    """Read and validate a study file.

    ``overrides`` set top-level study keys after reading (e.g. ``output_dir``), as the CLI does.
    """
    path = Path(path)
    if not path.exists():
        raise StudyError(f"{path}: study file not found; give the path to a study .toml (see data/demo/study.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StudyError(f"{path}: not valid TOML ({exc})") from exc
    return study_from_dict(raw, base=path.parent, source=path, **overrides)


def study_from_dict(raw: dict, *, base: Path, source: Path | None = None, **overrides) -> Study:
    """Build a :class:`Study` from a parsed TOML dictionary; paths are relative to ``base``."""
    where = str(source or "study")
    allowed = set(_SECTIONS) | {"study", "facilities"}
    for key in raw:
        if key not in allowed:
            raise StudyError(f"{where}: unknown section [{key}]; sections are {', '.join(sorted(allowed))}")
    head = dict(raw.get("study", {}))
    for key in head:
        if key not in _STUDY_KEYS:
            raise StudyError(f"{where}: unknown key 'study.{key}'; known keys are {', '.join(sorted(_STUDY_KEYS))}")
    if "name" not in head:
        raise StudyError(f"{where}: missing 'study.name' (used as the output folder name)")
    for section in ("network", "population"):
        if section not in raw:
            raise StudyError(f"{where}: missing section [{section}]")
    sections = {name: _build(cls, raw[name], f"{where} [{name}]", base)
                for name, cls in _SECTIONS.items() if name in raw}
    fac_raw = raw.get("facilities", [])
    if isinstance(fac_raw, dict):
        fac_raw = [fac_raw]
    if not fac_raw:
        raise StudyError(f"{where}: no [[facilities]] given; name at least one gazetteer file")
    facilities = [_build(FacilitySource, f, f"{where} [[facilities]] #{i + 1}", base) for i, f in enumerate(fac_raw)]
    for key in ("area", "output_dir"):
        if key in head and head[key] is not None:
            head[key] = (base / head[key]).resolve()
    head.update({k: v for k, v in overrides.items() if v is not None})
    study = Study(facilities=facilities, source=source, **head, **sections)
    _check_values(study, where)
    return study


def _check_values(study: Study, where: str) -> None:
    t = study.travel
    if not t.thresholds_min or any(float(x) <= 0 for x in t.thresholds_min):
        raise StudyError(f"{where}: travel.thresholds_min must be positive minutes, e.g. [5, 10, 15]")
    t.thresholds_min = sorted(float(x) for x in t.thresholds_min)
    if not 0.1 <= t.walk_speed_mps <= 3.0:
        raise StudyError(f"{where}: travel.walk_speed_mps = {t.walk_speed_mps} is not a walking speed (0.1-3 m/s)")
    if study.network.profile not in ("walk", "drive"):
        raise StudyError(f"{where}: network.profile must be 'walk' or 'drive'")
    if study.report.basemap not in ("none", "osm", "amap"):
        raise StudyError(f"{where}: report.basemap must be none, osm or amap")
    if study.language not in ("zh", "en"):
        raise StudyError(f"{where}: study.language must be 'zh' or 'en'")
    if study.population.folder is None and study.population.total_file is None:
        raise StudyError(f"{where}: [population] needs `folder` (age/sex band rasters) or `total_file`")
    if study.siting.n_sites < 0:
        raise StudyError(f"{where}: siting.n_sites must be 0 or more")
    if study.siting.method not in ("greedy", "exact"):
        raise StudyError(f"{where}: siting.method must be 'greedy' or 'exact'")
    from circles.siting import MODELS

    if study.siting.model not in MODELS:
        raise StudyError(f"{where}: siting.model must be one of {', '.join(MODELS)}")


def demo_study_path() -> Path:
    """The embedded demo study: ``data/demo/study.toml`` beside the package (editable install)."""
    for candidate in (Path.cwd() / "data" / "demo" / "study.toml",
                      Path(__file__).resolve().parents[1] / "data" / "demo" / "study.toml"):
        if candidate.exists():
            return candidate
    raise StudyError(
        "the demo study data/demo/study.toml was not found; run from the cloned repository "
        "(pip install -e .) or give a study file: circles run path/to/study.toml"
    )
