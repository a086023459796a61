"""The ``circles`` command: a thin layer over :mod:`circles.pipeline`.

Only this module configures logging. Errors the user can fix (a missing file, an unknown
study key, no roads in the area) print one line and exit with status 1; so does any other
exception ("internal error: ..."), and ``--debug`` shows the traceback.

Each command writes its own folder, so none overwrites another's results: ``run`` writes
``maps/<name>/``, ``score`` ``maps/<name>-score/``, ``suggest`` ``maps/<name>-suggest/``
(``--out`` chooses another; it goes through the same checks: a plain folder name, and only
a folder circles wrote is replaced). ``report`` rebuilds the page of one of them in place.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from circles.display import fmt_pct
from circles.errors import CirclesError, OutputError
from circles.outputs import check_output_folder, replace_files

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="circles: 15-minute elderly-care and childcare service circles (一老一小).")
console = Console(stderr=True, soft_wrap=True)  # one line per message, however narrow the terminal


def _setup(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("fiona", "pyogrio", "rasterio", "matplotlib", "PIL", "urllib3", "distributed", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(exc: BaseException, debug: bool) -> None:
    """One line on stderr and exit status 1 for any exception; the traceback only with ``--debug``."""
    if debug:
        raise exc
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, CirclesError):
        line = f"error: {text}"
    else:
        line = f"internal error: {type(exc).__name__}: {text} (rerun with --debug for the traceback)"
    console.print(line, markup=False, highlight=False, soft_wrap=True, style="bold red")
    raise typer.Exit(code=1)


@contextmanager
def _stage_bars(quiet: bool):
    """Rich progress bars for ``circles run``: one line per stage, filled as the stage reports fractions.

    Transient: the bars vanish when the run ends (the ``stages:`` line then gives the times),
    so an error stays a single line."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

    bars = Progress(SpinnerColumn(), TextColumn("[bold]{task.description:<10}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), console=console, disable=quiet, transient=True)
    tasks: dict[str, int] = {}

    def show(stage: str, fraction: float | None = None) -> None:
        if stage not in tasks:
            for t in tasks.values():  # a new stage: the earlier ones are done
                bars.update(t, total=1, completed=1)
            tasks[stage] = bars.add_task(stage, total=None)
        if fraction is not None:
            bars.update(tasks[stage], total=1, completed=fraction)

    with bars:
        yield show


def _recheck(study, path) -> None:
    """Check the study again after command-line options changed it (same rules as the file)."""
    from circles.study import check_study

    check_study(study, f"{path} (with command-line options)")


@app.command()
def run(
    study_file: Optional[Path] = typer.Argument(None, help="Study .toml; omit to run the embedded Hankou demo."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: maps/<study-name>/)."),
    language: Optional[str] = typer.Option(None, "--lang", help="Report language: zh (default) or en."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and the result line."),
) -> None:
    """Load, compute travel times, score coverage, suggest sites, write the report.

    Example: circles run data/demo/study.toml
    """
    _setup(debug, quiet)
    from circles.pipeline import run as run_pipeline
    from circles.study import demo_study_path, load_study

    try:
        path = study_file or demo_study_path()
        study = load_study(path)
        if language:
            if language not in ("zh", "en"):
                raise CirclesError(f"--lang {language!r}: use zh or en")
            study.language = language
        if out is not None:
            check_output_folder(out, "--out")
        t0 = time.perf_counter()
        with _stage_bars(quiet) as show:
            res, folder = run_pipeline(study, progress=show, folder=out)
        total = time.perf_counter() - t0
        _print_run(res, folder, total)
    except Exception as exc:
        _fail(exc, debug)


def _print_run(res, folder, total) -> None:
    s = res.summary
    tm = max(s["thresholds_min"])
    timings = " ".join(f"{k}={v:.2f}s" for k, v in res.timings_s.items())
    console.print(f"stages: {timings} total={total:.2f}s", highlight=False)
    for f in s["facilities"]["files"]:
        console.print(f"gazetteer {f['file']}: {f['read']} rows read, {f['kept']} kept, {f['rejected']} rejected"
                      f"{' (see rejects.csv)' if f['rejected'] else ''}", highlight=False)
    pop = s["population"]
    if pop["beyond_offroad_cells"]:
        console.print(f"{pop['beyond_offroad_cells']} populated cells ({pop['beyond_offroad_people']:,.0f} people) are "
                      f"more than {pop['max_offroad_m']:g} m from any road: counted as not covered", highlight=False)
    def share(group: str) -> str:  # no facility serving the group: not assessable, not 0 %
        if "serves" in res.facilities and not (res.facilities["serves"] == group).any():
            return f"not assessable (no facility serving {group})"
        return _pct(s["coverage"][group][f"{tm:g}min"])

    console.print(f"elderly within {tm:g} min: {share('elderly')}, infants: {share('infants')}", highlight=False)
    console.print(f"wrote {folder}/report.html", highlight=False)


@app.command()
def score(
    study_file: Optional[Path] = typer.Argument(None, help="Study .toml; omit for the demo."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: maps/<study-name>-score/)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Target preset to score against (overrides the study)."),
    language: Optional[str] = typer.Option(None, "--labels", help="Column labels of units.xlsx: zh or en."),
    debug: bool = typer.Option(False, "--debug"),
) -> None:
    """Score coverage and capacity per unit against a plan's targets; write the tables and report, no siting.

    Writes maps/<study-name>-score/ (not the `run` folder). Example:
    circles score data/demo/study.toml --preset mengzi --labels en
    """
    _setup(debug, True)
    from circles.pipeline import analyse, write_outputs
    from circles.study import demo_study_path, load_study

    try:
        path = study_file or demo_study_path()
        study = load_study(path)
        study.siting.n_sites = 0
        if preset:
            study.targets.preset = preset
        if language:
            study.language = language
        _recheck(study, path)
        folder = check_output_folder(out or study.output_folder("score"), "--out" if out else "output folder")
        res = analyse(study)
        folder = write_outputs(res, folder)
        _print_units(res)
        console.print(f"wrote {folder}/units.xlsx, units.csv, targets.csv, coverage.gpkg, report.html",
                      highlight=False)
    except Exception as exc:
        _fail(exc, debug)


def _print_units(res) -> None:
    from rich.table import Table

    s = res.summary
    tm = max(s["thresholds_min"])
    ind = [i["id"] for i in res.preset["indicators"]]
    t = Table(title=f"{s['targets']['title']}: units ({len(res.units)})")
    for c in ["unit", "parent", "elderly", "infants", f"eld {tm:g}min", f"inf {tm:g}min"] + ind:
        t.add_column(c)
    for _, r in res.units.sort_values("unit_id").iterrows():
        t.add_row(str(r["unit_id"]), str(r["parent"]), f"{r['pop_elderly']:.0f}", f"{r['pop_infants']:.0f}",
                  _pct(r[f"cov_elderly_any_{tm:g}min"]), _pct(r[f"cov_infants_any_{tm:g}min"]),
                  *[str(r.get(f"status_{i}", "")) for i in ind])
    Console().print(t)
    for w in s["worst_units"]:
        Console().print(f"worst: {w['unit_id']} ({w['parent']}): {w['why']}", highlight=False)


@app.command()
def suggest(
    study_file: Optional[Path] = typer.Argument(None, help="Study .toml; omit for the demo."),
    kind: Optional[list[str]] = typer.Option(None, "--kind",
                                             help="Facility kind to site (repeat for several; default: the study's "
                                                  "siting.kinds)."),
    n: int = typer.Option(5, "--n", help="Number of new sites per kind."),
    slots: Optional[int] = typer.Option(None, "--slots", help="Slots of each new nursery/kindergarten."),
    beds: Optional[int] = typer.Option(None, "--beds", help="Beds of each new elderly facility."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Walking minutes that count as covered."),
    model: Optional[str] = typer.Option(None, "--model", help="mclp, lscp, pmedian, capacitated or joint."),
    method: Optional[str] = typer.Option(None, "--method", help="exact (HiGHS) or greedy."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: maps/<study-name>-suggest/)."),
    debug: bool = typer.Option(False, "--debug"),
) -> None:
    """Suggest where to build new facilities; print the ranked sites and before/after coverage.

    Writes maps/<study-name>-suggest/ (not the `run` folder). Example:
    circles suggest data/demo/study.toml --kind nursery --n 5 --slots 150
    """
    _setup(debug, True)
    from circles.pipeline import run as run_pipeline
    from circles.study import demo_study_path, load_study

    try:
        path = study_file or demo_study_path()
        study = load_study(path)
        s = study.siting
        if kind:  # default: the study's own siting.kinds (the joint model needs its two)
            s.kinds = list(kind)
        s.n_sites = n
        for key, value in (("slots", slots), ("beds", beds), ("threshold_min", threshold), ("model", model),
                           ("method", method)):
            if value is not None:
                setattr(s, key, value)
        _recheck(study, path)
        folder = check_output_folder(out or study.output_folder("suggest"), "--out" if out else "output folder")
        res, folder = run_pipeline(study, folder=folder)
        _print_sites(res)
        console.print(f"wrote {folder}/report.html and coverage.gpkg (layer suggested_sites)", highlight=False)
    except Exception as exc:
        _fail(exc, debug)


def _print_sites(res) -> None:
    from rich.table import Table

    s = res.summary
    for key, info in s.get("siting", {}).items():
        if info.get("message"):
            Console().print(f"{key}: {info['message']}", highlight=False)
        t = Table(title=f"{key}: {info.get('model', 'mclp')} ({info.get('method', '')}), MIP gap {info.get('mip_gap')}")
        for c in ("rank", "site", "lon", "lat", "capacity", "newly covered"):
            t.add_column(c)
        sites = res.sites[res.sites["kind"].isin(key.split("+") if key != "joint" else res.sites["kind"].unique())]
        sites = sites.drop_duplicates("rank").to_crs(4326)
        for _, r in sites.iterrows():
            t.add_row(str(r["rank"]), str(r.get("name", "")), f"{r.geometry.x:.5f}", f"{r.geometry.y:.5f}",
                      str(r["capacity"]), f"{r['gain']:,.0f}" if key != "joint" else f"{r['gain']:.4f}")
        Console().print(t)
        if key == "joint":
            Console().print(f"joint: elderly {_pct(info['share_before_elderly'])} -> {_pct(info['share_after_elderly'])}, "
                            f"infants {_pct(info['share_before_infants'])} -> {_pct(info['share_after_infants'])}",
                            highlight=False)
        if info.get("share_before") is not None:
            Console().print(f"{key}: {info['group']} within {info['threshold_min']:g} min "
                            f"{_pct(info['share_before'])} -> {_pct(info['share_after'])}; "
                            f"units improved: {info.get('units_improved', 0)}", highlight=False)
            for ch in info.get("unit_changes", [])[:5]:
                Console().print(f"  unit {ch['unit_id']}: {_pct(ch['before'])} -> {_pct(ch['after'])}", highlight=False)
    for r in s.get("targets_after", []):
        Console().print(f"after: {r['indicator']}: {r['measured']} vs {r['target']} -> {r['status']} {r['gap_text']}",
                        highlight=False)


@app.command("fetch-network")
def fetch_network(
    place: str = typer.Argument(..., help='Place name, e.g. "江汉区, 武汉市, 中国".'),
    out: Path = typer.Argument(..., help="GraphML file to write."),
    network_type: str = typer.Option("walk", help="osmnx network type: walk or drive."),
    debug: bool = typer.Option(False, "--debug"),
) -> None:
    """Download a road network from OpenStreetMap (needs internet; the only command that does).

    Example: circles fetch-network "江汉区, 武汉市, 中国" data/jianghan.graphml
    """
    _setup(debug, False)
    from circles.io.network import fetch_network_online

    try:
        path = fetch_network_online(out, place=place, network_type=network_type)
    except Exception as exc:
        _fail(exc, debug)
        return
    console.print(f"wrote {path}; set `network.path` to it in the study file", highlight=False)


@app.command()
def report(
    study_file: Optional[Path] = typer.Argument(None, help="Study .toml whose outputs to use; omit for the demo."),
    out: Optional[Path] = typer.Option(None, "--out", help="The run's output folder (default: maps/<study-name>/)."),
    language: Optional[str] = typer.Option(None, "--lang", help="Page language: zh or en."),
    basemap: Optional[str] = typer.Option(None, "--basemap", help="none, osm or amap (GCJ-02)."),
    of: str = typer.Option("run", "--of", help="Whose outputs: run (maps/<name>/), score or suggest (<name>-<command>/)."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write report.pdf, the A4 brief (circles/brief.py)."),
    debug: bool = typer.Option(False, "--debug"),
) -> None:
    """Rebuild report.html and the figures from a run's saved outputs, without recomputing.

    Each file is replaced atomically (written to a temporary folder, then renamed over the old one).
    Example: circles report data/demo/study.toml --lang en   (--of score / suggest for those commands' folders)
    """
    _setup(debug, True)
    from circles.report import read_report_data, write_report
    from circles.study import demo_study_path, load_study

    try:
        if of not in ("run", "score", "suggest"):
            raise CirclesError(f"--of {of!r}: use run, score or suggest")
        folder = out or load_study(study_file or demo_study_path()).output_folder(of)
        folder = check_output_folder(folder, "--out" if out else "output folder")
        if not (folder / "summary.json").is_file():
            raise OutputError(f"{folder}: no saved outputs to rebuild from; run `circles {of} STUDY` first (or give --out)")
        data = read_report_data(folder, language=language, basemap=basemap)
        written = replace_files(folder, lambda tmp: write_report(data, tmp))
        if pdf:
            from circles.brief import write_brief

            written = [*written, write_brief(folder, language=language)]
    except Exception as exc:
        _fail(exc, debug)
        return
    page = next((p for p in written if p.suffix == ".html"), folder / "report.html")
    console.print(f"wrote {page}", highlight=False)
    for p in written:
        if p.suffix == ".pdf":
            console.print(f"wrote {p}", highlight=False)


@app.command()
def batch(
    batch_file: Path = typer.Argument(..., help="Batch .toml: [batch] areas + [defaults.*] study sections."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler."),
    workers: int = typer.Option(2, "--workers", help="Local worker processes when no scheduler is given."),
    debug: bool = typer.Option(False, "--debug"),
) -> None:
    """Run many study areas in parallel on Dask; merge their results; write an index page.

    Example: circles batch provinces.toml --workers 2
    """
    _setup(debug, True)
    import distributed  # noqa: F401  (configures its own loggers on import: quiet them here)

    from circles.batch import run_batch

    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)

    def show(r):
        extra = r.get("error", "")
        console.print(f"{r['area']}: {r['status']} ({r.get('seconds', 0):.1f} s) {extra}", markup=False, highlight=False)

    try:
        out = run_batch(batch_file, scheduler=scheduler, n_workers=workers, progress=show)
    except Exception as exc:
        _fail(exc, debug)
        return
    t = out["table"]
    failed = int((t["status"] == "failed").sum())
    console.print(f"{len(t)} areas, {failed} failed, {out['seconds']:.1f} s; wrote {out['out']}/index.html, "
                  f"merged.gpkg, batch_summary.csv", highlight=False)
    if failed:
        raise typer.Exit(code=2)


@app.command()
def presets() -> None:
    """List the built-in target presets."""
    from circles.targets import builtin_presets, load_preset

    for name in builtin_presets():
        p = load_preset(name)["preset"]
        print(f"{name:10s} {p.get('title_zh', '')} / {p.get('title_en', '')}")


def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and x != x) else fmt_pct(x)  # one rounding rule (display.py)


@app.command()
def demo(
    folder: Path = typer.Argument(..., help="New or empty folder to copy the demo study's files into."),
    debug: bool = typer.Option(False, "--debug"),
) -> None:
    """Copy the embedded demo study (study.toml and its data) into FOLDER, as a template for your own.

    Refuses a folder that is not empty. Example: circles demo my-city && circles run my-city/study.toml
    """
    _setup(debug, True)
    from circles.demo import copy_demo

    try:
        written = copy_demo(folder)
    except Exception as exc:
        _fail(exc, debug)
        return
    console.print(f"copied {len(written)} files of the demo study into {folder}/; edit {folder}/study.toml, "
                  f"then: circles run {folder}/study.toml", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
