"""``analyse(study)``: the stages in order, each a call into its own module; ``run`` also writes.

Each stage (:mod:`circles.stages`) takes earlier results and returns a frozen one
(:mod:`circles.results`); the rules they share live in :mod:`circles.rules`:

load (:class:`Inputs`) -> travel (:class:`Travel`) -> score (:class:`Scores`) ->
siting (:class:`Siting`, with its one after-state) -> what-if (:class:`WhatIf`) ->
isochrones (:class:`Isochrones`) -> summary -> :class:`RunResult`.

:func:`analyse` computes everything and returns a :class:`RunResult`; :func:`write_outputs`
(:mod:`circles.export`) writes it to ``maps/<study-name>/`` atomically; :func:`run` does
both; :func:`suggest` sites again on an analysed study. Only :mod:`circles.cli` and
:mod:`circles.batch` import this module; the report side reads the run result only.
"""

from __future__ import annotations

import copy
import inspect
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import geopandas as gpd

from circles.errors import StudyError
from circles.export import write_outputs
from circles.outputs import check_output_folder
from circles.results import Isochrones, RunResult
from circles.stages.candidates import candidate_times
from circles.stages.isochrones import isochrones
from circles.stages.load import load_inputs
from circles.stages.score import load_preset, score
from circles.stages.siting import choose_sites, siting, times_before
from circles.stages.summarise import summarise
from circles.stages.travel import travel
from circles.stages.whatif import whatif
from circles.study import Study, check_study

log = logging.getLogger(__name__)

#: The run result; the name the public API always used.
Results = RunResult

__all__ = ["Results", "RunResult", "analyse", "run", "suggest", "write_outputs"]


class _Stages:
    """Times each stage and reports progress.

    ``progress`` is called as ``progress(stage)`` when a stage starts; if it also takes a
    second argument it is called as ``progress(stage, fraction)`` from long loops inside
    the stage (0 < fraction < 1) and with ``1.0`` when the stage ends (the CLI draws rich
    progress bars from these calls).
    """

    def __init__(self, progress: Callable[..., None] | None):
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # CPU seconds of this process per stage (honest when cores are shared)
        self.progress = progress
        self.current: str | None = None
        self._fractions = _takes_fraction(progress)

    @contextmanager
    def __call__(self, name: str):
        self.current = name
        if self.progress:
            self.progress(name)
        t0, c0 = time.perf_counter(), time.process_time()
        yield self
        self.timings[name] = round(time.perf_counter() - t0, 3)
        self.cpu[name] = round(time.process_time() - c0, 3)
        self.tick(1.0)
        log.info("stage %s: %.2f s", name, self.timings[name])

    def tick(self, fraction: float) -> None:
        """Report how much of the current stage is done (no-op for one-argument callbacks)."""
        if self._fractions and self.current is not None:
            self.progress(self.current, float(min(max(fraction, 0.0), 1.0)))


def _takes_fraction(fn) -> bool:
    if fn is None:
        return False
    try:
        inspect.signature(fn).bind("stage", 0.5)
    except (TypeError, ValueError):
        return False
    return True


def analyse(study: Study, *, progress: Callable[[str], None] | None = None, isochrones_drawn: bool = True) -> RunResult:
    """Run every stage on ``study`` and return the results (nothing written).

    ``isochrones_drawn=False`` leaves the display polygons out (empty layers; no figure
    depends on them): ``circles batch`` with ``report = false`` writes no page to draw them on.

    Example
    -------
    >>> res = analyse(load_study("data/demo/study.toml"))  # doctest: +SKIP
    >>> res.summary["coverage"]["elderly"]["15min"]        # doctest: +SKIP
    """
    stage = _Stages(progress)
    preset = load_preset(study)  # parsed once per run
    with stage("load"):
        inputs = load_inputs(study, tick=stage.tick)
    with stage("travel"):
        tr = travel(study, inputs, tick=stage.tick)
    with stage("coverage"):
        scores = score(study, inputs, tr, preset)
    with stage("siting"):
        sited = siting(study, inputs, tr, scores, preset)
    points, units = scores.points.copy(), scores.units
    if sited.after_scores is not None:  # the final tables carry the after-state's columns
        for g, t in sited.after_scores.any_after.items():
            points[f"time_s_{g}_any_after"] = t
        units = units.merge(sited.after_scores.units_after, left_on="unit_id", right_index=True, how="left")
    with stage("whatif"):  # the page's what-if: candidate-to-cell times and what a new site adds
        wi = whatif(study, inputs, tr, scores, sited, units, preset)
    if isochrones_drawn:
        with stage("isochrones"):
            isos = isochrones(inputs, tr, tick=stage.tick)
    else:
        isos = Isochrones(by_kind=gpd.GeoDataFrame(geometry=[], crs=inputs.crs),
                          per_facility=gpd.GeoDataFrame(geometry=[], crs=inputs.crs))
    summary = summarise(study, inputs, tr, scores, sited, isos, points, units, preset, stage.timings, stage.cpu)
    return RunResult(study=study, inputs=inputs, travel=tr, scores=scores, siting=sited, whatif_result=wi, isos=isos,
                     points=points, units=units, preset=preset, summary=summary, timings_s=stage.timings)


def suggest(res: RunResult, kind: str | list[str], *, n_sites: int, **options) -> tuple[gpd.GeoDataFrame, dict]:
    """What-if siting on an analysed study, without rerunning it.

    ``options`` override keys of the study's ``[siting]`` section (``threshold_min``,
    ``model``, ``method``, ``slots`` ...). Returns the ranked sites and the info per kind.
    The times before siting are exact up to the search limit of the changed study: a
    siting threshold past the analysed run's limit searches the siting kinds again from
    the run's facility snap (:func:`circles.stages.siting.times_before`).

    Example
    -------
    >>> res = analyse(load_study("data/demo/study.toml"))           # doctest: +SKIP
    >>> sites, info = suggest(res, "nursery", n_sites=3, slots=150)  # doctest: +SKIP
    """
    study = copy.deepcopy(res.study)
    study.siting.kinds = [kind] if isinstance(kind, str) else list(kind)
    study.siting.n_sites = n_sites
    for key, value in options.items():
        if not hasattr(study.siting, key):
            raise StudyError(f"suggest(): unknown siting option {key!r}")
        setattr(study.siting, key, value)
    check_study(study, "suggest()")  # the same rules as the study file (n_sites >= 0, a known model ...)
    before, limit_s = times_before(study, res.travel)
    ct = candidate_times(study, res.inputs, res.travel, res.units)  # this study's candidates, searched once
    sites, info, _ = choose_sites(study, res.inputs, res.travel, res.units, res.points, before, limit_s, ct)
    return sites, info


def run(study: Study, *, progress: Callable[[str], None] | None = None,
        folder: Path | None = None, report: bool = True, brief: bool = False) -> tuple[RunResult, Path]:
    """Analyse ``study`` and write its outputs; returns the results and the output folder.

    ``report=False`` (``circles batch`` with ``[batch] report = false``): the tables, layers and
    ``summary.json`` only, without the page, its PNG figures, the isochrones drawn for it and ``units.xlsx``.
    ``brief=True`` (``circles run``) also writes ``report.pdf``, inside the same atomic folder.
    """
    check_output_folder(Path(folder) if folder else study.out_folder)  # refuse a bad folder before computing
    res = analyse(study, progress=progress, isochrones_drawn=report)
    t0 = time.perf_counter()
    if progress:
        progress("report")
    out = write_outputs(res, folder, report=report, xlsx=report, brief=brief and report)
    res.timings_s["report"] = round(time.perf_counter() - t0, 3)
    if _takes_fraction(progress):
        progress("report", 1.0)
    return res, out
