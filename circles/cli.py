"""The ``circles`` command: a thin layer over :mod:`circles.pipeline`.

Only this module configures logging. Errors the user can fix (a missing file, an unknown
study key, no roads in the area) print one line and exit with status 1; so does any other
exception ("internal error: ..."), and ``--debug`` shows the traceback.

Each command writes its own folder, so none overwrites another's results: ``run`` writes
``maps/<name>/``, ``score`` ``maps/<name>-score/``, ``suggest`` ``maps/<name>-suggest/``
(``--out`` chooses another; it goes through the same checks: a plain folder name, and only
a folder circles wrote is replaced). ``report`` rebuilds the page of one of them in place.

The pipeline, the report, the what-if reader, the brief, the network download, the presets,
Dask and everything that imports pandas, geopandas or branca (the number formats of
:mod:`circles.display`, the units' short names) are imported inside the commands that use them
(0.1-0.5 s each, which ``--help`` and the other commands do not pay); at the top only modules
that import none of them (``import circles.cli`` 0.15 s, 0.45 s while it imported
:mod:`circles.display`).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from circles.chinacoords import wgs84_to_bd09, wgs84_to_gcj02
from circles.demo import copy_demo
from circles.i18n import gap_text, indicator_labels, kind_name
from circles.i18n import t as tr
from circles.errors import CirclesError, OutputError
from circles.outputs import check_output_folder, replace_files
from circles.study import check_study, demo_study_path, load_study

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="circles: 15-minute elderly-care and childcare service circles (一老一小).")
console = Console(stderr=True, soft_wrap=True, markup=False)  # one line per message; data text is never rich markup


def _setup(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("fiona", "pyogrio", "rasterio", "matplotlib", "PIL", "urllib3", "distributed", "tornado", "fontTools"):
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
            # the brief beside the page (issue 22), drawn while the page is written (issue 21); only
            # here, so `circles batch` and the library's run() do not pay for a PDF per area;
            # `circles report --pdf` rebuilds it
            res, folder = run_pipeline(study, progress=show, folder=out, brief=True)
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
    for w in s.get("warnings") or []:
        console.print(f"warning: {w}", markup=False, highlight=False)
    console.print(f"wrote {folder}/report.html and report.pdf", highlight=False)


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


def _unit_names(res) -> dict[str, str]:
    """unit code -> its own name (the code again when it has none)."""
    from circles.io.units import short_names  # geopandas and pandas: not on --help's path

    return dict(zip(res.units["unit_id"].astype(str), short_names(res.units)))


def _name_and_code(names: dict[str, str], code: str) -> tuple[str, str]:
    """A unit's two cells in a table: its name, and its code beside when it has a name of its own."""
    name = names.get(code, code)
    return name, code if name != code else ""


def _table(title: str):
    """A rich table that fits the terminal: columns wrap (never cut with an ellipsis)."""
    # no vertical rules: 9 more columns for the text in 80
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_lines=False)


def _col(t, name: str, *, num: bool = False, fit=()) -> None:
    """Numbers and codes never wrap (a split number misreads); text columns wrap at word breaks."""
    short = num or name in ("code", "rank", "#")
    # a long number header goes on two lines ("elderly" / "≤15 min") so the text columns keep room
    header = name.replace(" ", "\n", 1) if num and len(name) > 8 else name
    t.add_column(header, justify="right" if num else "left", no_wrap=short, overflow="fold",
                 min_width=None if short else max([min(len(name), 8)] + [min(cell_len(w), 14) for x in fit
                                                                          for w in str(x).split()]))


def _print_units(res) -> None:
    """Three tables that fit an 80-column terminal (wrapping, never cutting): the units (named, the
    code beside), the targets for the study with the units that fail each, and the worst units."""
    s = res.summary
    tm = max(s["thresholds_min"])
    names = _unit_names(res)
    lang = res.study.language
    labels = indicator_labels(res.preset, lang)
    ind = [i["id"] for i in res.preset["indicators"]]
    t = _table(f"{s['targets']['title']}: units ({len(res.units)})")
    _col(t, "unit", fit=names.values())
    for c, num in (("code", False), ("parent", False), ("elderly", True), ("infants", True),
                   (f"elderly ≤{tm:g} min", True), (f"infants ≤{tm:g} min", True), ("failed", True)):
        _col(t, c, num=num)
    for _, r in res.units.sort_values("unit_id").iterrows():
        code = str(r["unit_id"])
        judged = [i for i in ind if r.get(f"status_{i}") in ("pass", "fail")]
        fails = sum(r.get(f"status_{i}") == "fail" for i in judged)
        t.add_row(*_name_and_code(names, code), str(r["parent"] or ""),
                  f"{r['pop_elderly']:,.0f}", f"{r['pop_infants']:,.0f}",
                  _pct(r[f"cov_elderly_any_{tm:g}min"]), _pct(r[f"cov_infants_any_{tm:g}min"]),
                  f"{fails} of {len(judged)}")
    _out().print(t)
    tg = _table("targets (whole study)")
    for c, num in (("indicator", False), ("measured", True), ("target", True), ("status", False), ("gap", False),
                   ("units failing", False)):
        _col(tg, c, num=num, fit=labels.values() if c == "indicator" else ())
    for r in s["targets"]["study"]:
        iid = r["indicator"]
        failing = [names.get(str(u), str(u)) for u, st in zip(res.units["unit_id"], res.units.get(f"status_{iid}", []))
                   if st == "fail"]
        tg.add_row(labels.get(iid, iid), _ind({"measured": r["measured"], "status": r["status"]}, iid),
                   _ind({"measured": r["target"]}, iid), str(r["status"]), str(r.get("gap_text") or ""),
                   ", ".join(failing))
    _out().print(tg)
    w = _table(f"worst units (within {tm:g} min)")
    _col(w, "unit", fit=names.values())
    for c in ("code", "parent", "why"):
        _col(w, c)
    for r in s["worst_units"]:
        code = str(r["unit_id"])
        w.add_row(*_name_and_code(names, code), str(r.get("parent") or ""),
                  str(r["why"]))
    _out().print(w)


def _out():
    """Tables go to stdout (pipe them to a file); messages to stderr (:data:`console`)."""
    return Console(soft_wrap=False, markup=False, highlight=False)  # a name "[/red] 江汉区" is text, not markup


@app.command()
def suggest(
    study_file: Optional[Path] = typer.Argument(None, help="Study .toml; omit for the demo."),
    kind: Optional[list[str]] = typer.Option(None, "--kind",
                                             help="Facility kind to site (repeat for several; default: the study's "
                                                  "siting.kinds)."),
    n: Optional[int] = typer.Option(None, "--n", help="Number of new sites per kind (default: the study's siting.n_sites, else 5)."),
    slots: Optional[int] = typer.Option(None, "--slots", help="Slots of each new nursery/kindergarten."),
    beds: Optional[int] = typer.Option(None, "--beds", help="Beds of each new elderly facility."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Walking minutes that count as covered."),
    model: Optional[str] = typer.Option(None, "--model", help="mclp, lscp, pmedian, capacitated or joint."),
    method: Optional[str] = typer.Option(None, "--method", help="exact (HiGHS) or greedy."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: maps/<study-name>-suggest/)."),
    sites: Optional[Path] = typer.Option(None, "--sites",
                                         help="Evaluate exactly these sites: the chosen_sites.csv the report page's "
                                              "what-if exports (from the `circles run` page of the same study)."),
    debug: bool = typer.Option(False, "--debug"),
) -> None:
    """Suggest where to build new facilities; print the ranked sites and before/after coverage.

    Writes maps/<study-name>-suggest/ (not the `run` folder). Examples:
    circles suggest data/demo/study.toml --kind nursery --n 5 --slots 150
    circles suggest data/demo/study.toml --sites chosen_sites.csv   (the page's choice; writes nothing)
    """
    _setup(debug, True)
    from circles.pipeline import run as run_pipeline

    try:
        path = study_file or demo_study_path()
        study = load_study(path)
        s = study.siting
        if sites is not None:
            _suggest_sites(study, sites, kind=kind, n=n, others=(slots, beds, threshold, model, method))
            return
        if kind:  # default: the study's own siting.kinds (the joint model needs its two)
            s.kinds = list(kind)
        if n is not None:  # default: the study's own siting.n_sites (5 when the study sites nothing)
            s.n_sites = n
        elif not s.n_sites:
            s.n_sites = 5
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


def _suggest_sites(study, csv_path: Path, *, kind, n, others) -> None:
    """``circles suggest STUDY --sites chosen.csv``: the after-state of exactly the exported sites.

    The file's candidate numbers index the what-if candidates of the study's own run (the page
    it was exported from), so the study is analysed with its own siting settings: ``--kind``,
    ``--n`` and the other siting options are refused with ``--sites`` (they would make other
    candidates). Scored by :func:`circles.chosen.after_state`, the Python twin of the page's
    engine: the numbers printed are the page's (rounded the same way). Nothing is written.
    """
    from circles.chosen import after_state, chosen_pairs, read_chosen_sites
    from circles.panels import not_assessable, where_units
    from circles.pipeline import analyse
    from circles.whatif import site_capacity, weights

    if kind or n is not None or any(x is not None for x in others):
        raise CirclesError("--sites: evaluates the sites of the study's own run page; leave out --kind, --n, --slots, "
                           "--beds, --threshold, --model and --method (they change the candidates)")
    res = analyse(study)
    payload = res.whatif or {}
    if not payload.get("candidates"):
        raise CirclesError(f"--sites {csv_path}: the study sites nothing (siting.n_sites = 0 or no kinds), so its page "
                           "has no what-if candidates; set [siting] in the study file")
    chosen = read_chosen_sites(csv_path, payload)
    pairs = chosen_pairs(chosen)
    opts = {"not_assessable": not_assessable(res.summary, res.preset),
            "where_units": where_units(res.units, res.preset, payload["units"]["id"])}
    after = after_state(payload, pairs, **opts)
    before = after_state(payload, [], **opts)
    lang = study.language
    c = payload["candidates"]
    t = _table(f"{len(pairs)} chosen sites ({csv_path.name})")
    for col, num in (("#", True), ("site", False), ("kind", False), ("capacity", True), *_coord_cols(study),
                     ("newly covered", True)):
        _col(t, col, num=num)
    tot = {g: float(v.sum()) for g, v in weights(payload).items()}
    key = f"{payload['siting_threshold_s'] / 60:g}min"
    for k, ((i, kd), (_, r)) in enumerate(zip(pairs, chosen.iterrows()), start=1):
        g = payload["kind_serves"][kd]
        alone = after_state(payload, [(i, kd)])
        gain = (alone["coverage"][g][key] - before["coverage"][g][key]) * tot[g]
        cap = site_capacity(payload, i, kd)
        t.add_row(str(k), str(r.get("name") or c["name"][i]), kind_label(kd, lang), f"{cap:,.0f}",
                  *_coords(study, c["lon"][i], c["lat"][i]), f"{gain:,.0f}")
    _out().print(t)
    _print_after(res, payload, before, after)


def _print_after(res, payload, before, after) -> None:
    """Coverage and targets now -> after, as the page's what-if panel shows them."""
    lang = res.study.language
    cov = _table("coverage of the whole study: now → after")
    _col(cov, "group")
    for ts in payload["thresholds_s"]:
        _col(cov, f"≤{ts / 60:g} min", num=True)
    for g in ("elderly", "infants"):
        cov.add_row(tr(f"group.{g}", lang), *[f"{_pct(before['coverage'][g][f'{ts / 60:g}min'])} → "
                                              f"{_pct(after['coverage'][g][f'{ts / 60:g}min'])}"
                                              for ts in payload["thresholds_s"]])
    _out().print(cov)
    labels = indicator_labels(res.preset, lang)
    tg = _table(f"{res.summary['targets']['title']}: now → after")
    for c, num in (("indicator", False), ("now", True), ("after", True), ("target", True), ("status", False),
                   ("gap", False)):
        _col(tg, c, num=num, fit=labels.values() if c == "indicator" else ())
    for ind in payload["indicators"]:
        iid = ind["id"]
        a, b = after["indicators"].get(iid), before["indicators"].get(iid)
        if a is None:
            tg.add_row(labels[iid], _ind(b, iid), "–", _ind({"measured": ind["value"]}, iid), "not recomputed",
                       "filtered to some units: see the run's after-building rows")
            continue
        gap = gap_text(a["gap"], ind["gap"], lang) if a["status"] == "fail" else ""  # as the page words it
        tg.add_row(labels[iid], _ind(b, iid), _ind(a, iid), _ind({"measured": ind["value"]}, iid),
                   tr(f"status.{a['status']}", lang), gap)
    _out().print(tg)


def _ind(x, iid: str) -> str:
    """An indicator's value as the page shows it (planner.js ``fmtInd``): a share in %, else 2 decimals."""
    if not x or x.get("status") == "not assessable":
        return "n/a"
    m = x.get("measured")
    if m is None or (isinstance(m, float) and not math.isfinite(m)):
        return "–"
    from circles.display import fmt_measured  # geopandas and branca: not on --help's path

    return fmt_measured(m, iid)  # one rounding rule (display.py), as the page


def kind_label(kind: str, lang: str) -> str:
    """A kind as the tables name it: its name in ``lang``, its key beside."""
    return f"{kind_name(kind, lang)} ({kind})"


def _systems(study) -> list[str]:
    """The coordinate systems to print: WGS84, and the gazetteers' own when it differs (GCJ-02, BD-09)."""
    own = [f.coords for f in study.facilities if f.coords in ("gcj02", "bd09")]
    return ["wgs84"] + sorted(set(own))


_SYSTEM = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}


def _coord_cols(study) -> list[tuple[str, bool]]:
    return [(f"{ax} {_SYSTEM[sy]}", True) for sy in _systems(study) for ax in ("lon", "lat")]


def _coords(study, lon: float, lat: float) -> list[str]:
    out = []
    for sy in _systems(study):
        x, y = (lon, lat) if sy == "wgs84" else (wgs84_to_gcj02 if sy == "gcj02" else wgs84_to_bd09)(lon, lat)
        out += [f"{float(x):.6f}", f"{float(y):.6f}"]
    return out


def _gap_text(gap) -> str:
    """A MIP gap as a solver user reads it: "optimal" below HiGHS's default tolerance (1e-4), else a %."""
    if gap is None:
        return "heuristic (no gap)"
    return "optimal (gap < 0.01%)" if gap < 1e-4 else f"gap {100 * gap:.2f}%"


def _print_sites(res) -> None:
    s = res.summary
    lang = res.study.language
    names = _unit_names(res)
    for key, info in s.get("siting", {}).items():
        if info.get("message"):
            console.print(f"{key}: {info['message']}", markup=False, highlight=False)
        title = kind_label(key, lang) if key != "joint" else "joint"
        t = _table(f"{title}: {info.get('model', 'mclp')} ({info.get('method', '')}), {_gap_text(info.get('mip_gap'))}")
        for c, num in (("rank", True), ("site", False), *_coord_cols(res.study), ("capacity", True),
                       ("newly covered", True)):
            _col(t, c, num=num)
        sites = res.sites[res.sites["kind"].isin(key.split("+") if key != "joint" else res.sites["kind"].unique())]
        sites = sites.drop_duplicates("rank").to_crs(4326)
        for _, r in sites.iterrows():
            t.add_row(str(r["rank"]), str(r.get("name", "")), *_coords(res.study, r.geometry.x, r.geometry.y),
                      f"{r['capacity']:,.0f}", f"{r['gain']:,.0f}" if key != "joint" else f"{r['gain']:.4f}")
        _out().print(t)
        if key == "joint":
            _out().print(f"joint: elderly {_pct(info['share_before_elderly'])} -> {_pct(info['share_after_elderly'])}, "
                          f"infants {_pct(info['share_before_infants'])} -> {_pct(info['share_after_infants'])}",
                          highlight=False)
        if info.get("share_before") is not None:
            changes = info.get("unit_changes", [])
            shown = changes[:5]
            _out().print(f"{key}: {info['group']} within {info['threshold_min']:g} min "
                          f"{_pct(info['share_before'])} -> {_pct(info['share_after'])}; "
                          f"{info.get('units_improved', 0)} units improved"
                          + (f", top {len(shown)} of {len(changes)}:" if len(changes) > len(shown) else ":"
                             if changes else ""), highlight=False)
            u = _table("")
            _col(u, "unit", fit=names.values())
            for c, num in (("code", False), ("before", True), ("after", True)):
                _col(u, c, num=num)
            for ch in shown:
                code = str(ch["unit_id"])
                u.add_row(*_name_and_code(names, code), _pct(ch["before"]),
                          _pct(ch["after"]))
            if shown:
                _out().print(u)
    after = s.get("targets_after", [])
    if after:
        labels = indicator_labels(res.preset, lang)
        tg = _table("targets after building")
        for c, num in (("indicator", False), ("after", True), ("target", True), ("status", False), ("gap", False)):
            _col(tg, c, num=num, fit=labels.values() if c == "indicator" else ())
        for r in after:
            iid = r["indicator"]
            tg.add_row(labels.get(iid, iid), _ind({"measured": r["measured"], "status": r["status"]}, iid),
                       _ind({"measured": r["target"]}, iid), str(r["status"]), str(r.get("gap_text") or ""))
        _out().print(tg)


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
    batch_file: Path = typer.Argument(..., help="Batch .toml: \\[batch] areas + \\[defaults.*] study sections."),
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
    from circles.display import fmt_pct  # geopandas and branca: not on --help's path

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
    try:
        written = copy_demo(folder)
    except Exception as exc:
        _fail(exc, debug)
        return
    console.print(f"copied {len(written)} files of the demo study into {folder}/; edit {folder}/study.toml, "
                  f"then: circles run {folder}/study.toml", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
