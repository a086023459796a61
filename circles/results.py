"""One frozen dataclass per stage result, and the run result that holds them.

Stages (:mod:`circles.stages`) take earlier results and return theirs; nothing passes
between them as an untyped dict or a long positional list. The only dicts kept are JSON
pieces bound for ``summary.json`` (file counts, coordinate checks, siting info) and the
plan preset as read. A result is frozen: a later stage never edits an earlier one's
fields (it may only make new tables from them).

:class:`RunResult` keeps the attributes the public API always had (``res.units``,
``res.points``, ``res.summary``, ``res.sites``, ``res.net`` ...), so scripts and the
report read a run the same way; ``circles.pipeline.Results`` is an alias of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from circles.io.dem import SlopeTimes
from circles.study import Study
from circles.travel import Snap, TravelNetwork


@dataclass(frozen=True)
class Inputs:
    """What the load stage read, in the study's metric CRS (:func:`circles.stages.load.load_inputs`)."""

    crs: CRS | str | int
    area: BaseGeometry
    points: gpd.GeoDataFrame  # populated cells inside the area, with ``unit_id`` and ``parent``
    halo_points: gpd.GeoDataFrame  # cells within 2h outside the area (demand on shared facilities only)
    points_outside: gpd.GeoDataFrame  # every cell read outside the area
    nodes: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame  # with ``unit_id``, ``in_area``, ``illustrative``
    rejects: pd.DataFrame
    units: gpd.GeoDataFrame
    net_report: dict[str, Any]  # connectivity figures (summary.json ``network``)
    file_counts: list[dict[str, Any]]  # per gazetteer: read / kept / rejected
    coord_fit: list[dict[str, Any]]  # per gazetteer: does the declared coordinate system fit the roads
    estimated: dict[str, Any]  # which population figures were estimated, and how
    pop_rules: dict[str, Any]  # the population rules used (summary.json ``population.rules``)
    no_unit_warning: str  # "" or the warning about people in no unit
    thresholds_min: tuple[float, ...]
    limit_s: float  # the one search limit (circles.rules.search_limit_s), evaluated once per run
    # optional gazetteer field -> the files with no column for it (circles.io.facilities.missing_optional_columns)
    optional_missing: dict[str, list[str]] = field(default_factory=dict)
    unit_warnings: tuple[str, ...] = ()  # units of the units file left out (outside the study area)
    repairs: tuple[dict[str, Any], ...] = ()  # repaired units and the people now in no unit (stages.load.repair_warnings)
    # kinds with a serving row anywhere in the gazetteers, also outside the facility reach (stages.load._facilities):
    # the kinds a study assesses do not depend on where its area was cut (a batch area = one run of the whole)
    kinds_read: tuple[str, ...] = ()


@dataclass(frozen=True)
class Travel:
    """Snaps and times of the travel stage (:func:`circles.stages.travel.travel`)."""

    net: TravelNetwork
    demand: gpd.GeoDataFrame  # the study's points first, then the halo's
    demand_snap: Snap
    point_snap: Snap  # the first ``len(points)`` rows of ``demand_snap``
    facility_snap: Snap  # one row per row of ``facilities``
    points: gpd.GeoDataFrame  # inputs.points + ``offroad_m``, ``snapped``, ``time_s_<kind>``, ``time_s_<group>_any``
    facilities: gpd.GeoDataFrame  # inputs.facilities + ``offroad_m``, ``snapped``
    kinds: tuple[str, ...]  # kinds present (serving someone)
    catchment: sp.csr_matrix  # facilities x demand points, times within the longest threshold
    limit_s: float  # the search limit the per-kind times stop at
    tmax_s: float  # the longest threshold (seconds)
    slope: SlopeTimes | None = None  # sloped edge times ([network] dem, walk profile); None: flat ground
    flat_times: pd.DataFrame | None = None  # with a DEM: ``time_s_<kind>`` / ``time_s_<group>_any`` of the study's
    #   points on flat ground, within tmax_s (else inf): the ``_flat`` shares and people who lose by slope
    slope_warning: str = ""  # road edges outside the DEM (count, share of road length), "" if none


@dataclass(frozen=True)
class Scores:
    """Coverage, capacity and targets per unit, district and study (:func:`circles.stages.score.score`)."""

    points: gpd.GeoDataFrame  # travel.points + 2SFCA/E2SFCA columns
    units: gpd.GeoDataFrame
    districts: pd.DataFrame
    overall: pd.DataFrame
    unit_results: pd.DataFrame
    overall_results: pd.DataFrame
    not_assessable: dict[str, str]
    catchment_min: float
    not_assessable_codes: dict[str, dict] = field(default_factory=dict)  # the same reasons as codes (targets.not_assessable_code)


@dataclass(frozen=True)
class CandidateTimes:
    """Every candidate site of the run, snapped once, and one candidate x demand-point time matrix.

    Built by :func:`circles.stages.candidates.candidate_times`: the rows are the union of
    every candidate set a consumer uses (each siting kind's generated candidates, the joint
    model's, the candidates file, the what-if page's grid), one row per distinct point; the
    columns are the demand points (the study's first, then the halo's, as in
    ``travel.demand_snap``); entries are exact times up to ``cutoff_s``, the largest time
    any consumer reads (the siting threshold and the 2SFCA catchment). Each consumer cuts
    its own view (:meth:`to_points`, :meth:`to_demand`); nothing is searched twice.
    """

    sets: dict[str, gpd.GeoDataFrame]  # "joint" or a kind -> its candidate table (rows in the order a model sees them)
    grid: gpd.GeoDataFrame  # the what-if page's candidate grid (the candidates file, or road nodes over the area)
    exclude: BaseGeometry | None
    snap: Snap  # one row per distinct candidate point
    times: sp.csr_matrix  # candidates x demand points, within cutoff_s
    cutoff_s: float
    n_points: int  # the study's points are the first n_points columns
    index: dict[tuple[float, float], int]  # (x, y) -> row

    def rows(self, geoms) -> np.ndarray:
        """Row of each point of ``geoms`` (points of one of the candidate tables)."""
        return np.array([self.index[(float(g.x), float(g.y))] for g in geoms], dtype=np.int64)

    def has(self, geoms) -> bool:
        """Whether every point of ``geoms`` has a row."""
        return all((float(g.x), float(g.y)) in self.index for g in geoms)

    def to_demand(self, rows: np.ndarray, cutoff_s: float) -> sp.csr_matrix:
        """``rows`` x every demand point, times within ``cutoff_s`` (at most :attr:`cutoff_s`)."""
        if cutoff_s > self.cutoff_s + 1e-9:
            raise ValueError(f"candidate times are cut at {self.cutoff_s:g} s; {cutoff_s:g} s asked")
        m = self.times[np.asarray(rows, dtype=np.int64)].tocsr()
        if cutoff_s < self.cutoff_s:
            m.data[m.data > cutoff_s] = 0.0
            m.eliminate_zeros()  # a stored zero time is 1e-9 s (circles.travel), so only cut entries go
        m.sort_indices()
        return m

    def to_points(self, rows: np.ndarray, cutoff_s: float) -> sp.csr_matrix:
        """``rows`` x the study's points only, times within ``cutoff_s``."""
        m = self.to_demand(rows, cutoff_s)[:, : self.n_points].tocsr()
        m.sort_indices()
        return m


@dataclass(frozen=True)
class AfterState:
    """The one after-state: suggested sites built as facilities, snapped once, times recomputed."""

    new: gpd.GeoDataFrame  # the sites as facility rows, in rank order
    new_snap: Snap
    rows: np.ndarray | None  # the new sites' rows of CandidateTimes (None: snapped on their own)
    times: dict[str, np.ndarray]  # kind -> each study point's time to the nearest facility of that kind after
    threshold_s: float


@dataclass(frozen=True)
class AfterScores:
    """The study scored again with the suggested sites built (existing facilities unchanged)."""

    units_after: pd.DataFrame  # ``*_after`` columns by unit_id
    overall_results: pd.DataFrame
    coverage_after: dict[str, dict[str, float | None]]
    units_fail_after: dict[str, int]
    any_after: dict[str, np.ndarray]  # group -> each study point's time to the nearest facility after


@dataclass(frozen=True)
class Siting:
    """Suggested sites, per-kind info and the after-state (:func:`circles.stages.siting.siting`)."""

    sites: gpd.GeoDataFrame
    info: dict[str, Any]  # per kind (or "joint"): JSON for summary.json ``siting``
    candidates: CandidateTimes | None
    after: AfterState | None
    after_scores: AfterScores | None


@dataclass(frozen=True)
class WhatIf:
    """The page's what-if payload (:mod:`circles.whatif`); ``payload`` is ``{}`` when siting is off."""

    payload: dict[str, Any]


@dataclass(frozen=True)
class Isochrones:
    """Display polygons (:func:`circles.stages.isochrones.isochrones`)."""

    by_kind: gpd.GeoDataFrame
    per_facility: gpd.GeoDataFrame


@dataclass(frozen=True)
class RunResult:
    """Everything a run computed: the stage results, the final tables and ``summary.json``.

    ``points`` and ``units`` are the final tables (the scored ones plus the after-state's
    columns when sites were suggested). The remaining attributes are read-through
    shortcuts to the stage results, kept for the public API.
    """

    study: Study
    inputs: Inputs
    travel: Travel
    scores: Scores
    siting: Siting
    whatif_result: WhatIf
    isos: Isochrones
    points: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    preset: dict[str, Any]
    summary: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)

    crs = property(lambda self: self.inputs.crs)
    area = property(lambda self: self.inputs.area)
    nodes = property(lambda self: self.inputs.nodes)
    edges = property(lambda self: self.inputs.edges)
    rejects = property(lambda self: self.inputs.rejects)
    facilities = property(lambda self: self.travel.facilities)
    net = property(lambda self: self.travel.net)
    point_snap = property(lambda self: self.travel.point_snap)
    districts = property(lambda self: self.scores.districts)
    overall = property(lambda self: self.scores.overall)
    target_results = property(lambda self: self.scores.unit_results)
    sites = property(lambda self: self.siting.sites)
    whatif = property(lambda self: self.whatif_result.payload)
    isochrones = property(lambda self: self.isos.by_kind)
    isochrones_per_facility = property(lambda self: self.isos.per_facility)
