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
import gc
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
from circles.parallel import beside
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


@contextmanager
def _results_frozen():
    """Within: what is frozen (:func:`gc.freeze`) stays out of the cyclic garbage collector's sight,
    and on leaving it is unfrozen, unless the caller had frozen objects itself (then it is theirs).

    A run's stage results live to its end, and every full collection would walk them all again (the
    rows of the population, the network, the frames): on the Wuhan core nine full collections took
    0.6 s of the run's 11 s of CPU, one of them inside the travel stage. Freezing what exists after
    each stage leaves later collections the newer objects only. Frozen objects are still freed when
    their last reference goes; only garbage in reference cycles waits for the unfreeze.
    Yields whether this call owns the freezing.
    """
    owner = gc.get_freeze_count() == 0
    try:
        yield owner
    finally:
        if owner:
            gc.unfreeze()


class _Stages:
    """Times each stage and reports progress.

    ``progress`` is called as ``progress(stage)`` when a stage starts; if it also takes a
    second argument it is called as ``progress(stage, fraction)`` from long loops inside
    the stage (0 < fraction < 1) and with ``1.0`` when the stage ends (the CLI draws rich
    progress bars from these calls). ``freeze``: what exists when a stage ends is frozen
    (:func:`_results_frozen`).
    """

    def __init__(self, progress: Callable[..., None] | None, *, freeze: bool = False):
        self.freeze = freeze
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
        if self.freeze:
            gc.freeze()
        self.tick(1.0)
        log.info("stage %s: %.2f s", name, self.timings[name])

    def tick(self, fraction: float) -> None:
        """Report how much of the current stage is done (no-op for one-argument callbacks)."""
        if self._fractions and self.current is not None:
            self.progress(self.current, float(min(max(fraction, 0.0), 1.0)))


def _own_time(fn, *args):
    """``(fn(*args), wall s, CPU s)``: a stage's own time where it runs (a child process or here)."""
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn(*args)
    return value, time.perf_counter() - t0, time.process_time() - c0


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

    While it runs, what exists in the process when a stage ends is frozen out of the cyclic
    garbage collector's sight (:func:`gc.freeze`, the caller's objects too: cyclic garbage among
    them waits for the end of the run) and unfrozen at the end, also on an error; a caller that has
    frozen objects itself keeps its freeze, and the run then does not freeze (:func:`_results_frozen`).

    Example
    -------
    >>> res = analyse(load_study("data/demo/study.toml"))  # doctest: +SKIP
    >>> res.summary["coverage"]["elderly"]["15min"]        # doctest: +SKIP
    """
    with _results_frozen() as owner:
        return _analyse(study, _Stages(progress, freeze=owner), isochrones_drawn)


def _analyse(study: Study, stage: _Stages, isochrones_drawn: bool) -> RunResult:
    preset = load_preset(study)  # parsed once per run
    with stage("load"):
        inputs = load_inputs(study, tick=stage.tick)
    with stage("travel"):
        tr = travel(study, inputs, tick=stage.tick)
    # the display polygons depend on the travel stage only: drawn beside scoring, siting and the
    # what-if on a second core (circles.parallel.beside; in process where that is not possible)
    iso_job = beside(lambda note: _own_time(isochrones, inputs, tr), name="isochrones") if isochrones_drawn else None
    try:
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
    except BaseException:
        if iso_job is not None:
            iso_job.cancel()
        raise
    if iso_job is not None:
        with stage("isochrones"):  # waits for the child; the stage's times are the work's own
            isos, own_s, own_cpu = iso_job.result()
        stage.timings["isochrones"], stage.cpu["isochrones"] = round(own_s, 3), round(own_cpu, 3)
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
    with _results_frozen() as owner:
        if owner:  # the run result is read, not changed, while it is written
            gc.freeze()
        out = write_outputs(res, folder, report=report, xlsx=report, brief=brief and report)
    res.timings_s["report"] = round(time.perf_counter() - t0, 3)
    if _takes_fraction(progress):
        progress("report", 1.0)
    return res, out
