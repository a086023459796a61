"""Writing a run: tables, layers, ``summary.json``, ``whatif.json`` and the report, into one folder atomically.

Everything written comes from the :class:`circles.results.RunResult` (what ``analyse``
returns); the folder appears complete or not at all (:func:`circles.outputs.atomic_folder`).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from circles.brief import write_brief
from circles.display import FORMULA_START, json_default
from circles.labels import labelled
from circles.outputs import atomic_folder
from circles.parallel import beside
from circles.report import map_context, report_data, write_figures, write_page
from circles.results import RunResult


def write_outputs(res: RunResult, folder: Path | None = None, *, report: bool = True, xlsx: bool = True,
                  brief: bool = False, parallel: bool = True) -> Path:
    """Write every output of a run into ``folder`` (default ``maps/<study-name>/``) atomically.

    Tables: ``coverage.gpkg`` (layers), ``units.csv``/``districts.csv`` (only when units have a
    street/district parent: :func:`has_districts`)/``targets.csv``/
    ``rejects.csv`` (machine column names, UTF-8 with BOM so Excel shows Chinese), and
    ``units.xlsx`` with one sheet per level and human labels in the study's language (``xlsx=False``
    leaves it out: ``circles batch`` with ``report = false``, whose areas are read by programs).
    ``brief=True`` also writes ``report.pdf`` (:func:`circles.brief.write_brief`; ``circles run``).

    With ``report=True`` two forked child processes draw the PNG figures and the brief, and write
    ``coverage.gpkg``, while this one writes ``units.xlsx``, ``whatif.json`` and the page
    (:func:`circles.parallel.beside`: in process, one after the other, when fork is not offered,
    one CPU is ours, or ``parallel=False``; the files are the same). The tables the brief reads
    are written before the children start; they write only into the temporary folder (each its
    own files: SQLite has one writer per file), and an error of theirs is raised here.
    """
    final = Path(folder) if folder else res.study.out_folder
    with atomic_folder(final, study=res.study.name) as tmp:
        units = _for_file(res.units)
        _write_tables(res, units, has_districts(res), tmp)  # first: the brief reads them
        water, lines = map_context(res) if report else ((), ())  # map context that needs no internet (the page's)
        jobs = []
        try:
            if report:  # the GeoPackage and the drawings beside the page and the xlsx (report=False: batch areas)
                figures = beside(lambda note: _draw(res, tmp, note, brief=brief), name="figures and brief",
                                 parallel=parallel)
                jobs.append(figures)
            jobs.append(beside(lambda note: _write_layers(res, units, water, lines, tmp, roads=report),
                               name="coverage.gpkg", parallel=parallel and report))
            if xlsx:
                _write_xlsx(res, tmp)
            if res.whatif:
                (tmp / "whatif.json").write_text(json.dumps(res.whatif, separators=(",", ":")), encoding="utf-8")
            if report:
                figures.wait_for("figures")  # the coverage curve and unit bars, shown on the page
                write_page(report_data(res, water=water, outlines=lines), tmp,
                           curve_png=(tmp / "coverage_curve.png").read_bytes(),
                           bars_png=(tmp / "units_left_out.png").read_bytes())
            for job in jobs:
                job.result()
        except BaseException:
            for job in jobs:
                job.cancel()
            raise
    return final


def _write_tables(res: RunResult, units: gpd.GeoDataFrame, districts: bool, tmp: Path) -> None:
    """``units.csv``, ``districts.csv``, ``targets.csv``, ``rejects.csv`` and ``summary.json``."""
    inert_csv(pd.DataFrame(units.drop(columns="geometry"))).to_csv(tmp / "units.csv", index=False,
                                                                    encoding="utf-8-sig")
    if districts:
        inert_csv(_for_file(res.districts)).to_csv(tmp / "districts.csv", encoding="utf-8-sig")  # beyond the limit: empty, as units.csv
    inert_csv(res.target_results).to_csv(tmp / "targets.csv", index=False, encoding="utf-8-sig")
    inert_csv(res.rejects).to_csv(tmp / "rejects.csv", index=False, encoding="utf-8-sig")
    (tmp / "summary.json").write_text(json.dumps(res.summary, ensure_ascii=False, indent=2, default=json_default),
                                      encoding="utf-8")


def _draw(res: RunResult, tmp: Path, note, *, brief: bool) -> None:
    """The PNG figures (``note("figures")`` once the two the page shows are written), then the brief."""
    write_figures(report_data(res, water=(), outlines=()), tmp, ready=lambda: note("figures"))
    if brief:
        write_brief(tmp, sites=_for_file(res.sites))


def _write_layers(res: RunResult, units: gpd.GeoDataFrame, water, lines, tmp: Path, *, roads: bool = True) -> None:
    """``coverage.gpkg``, one layer after another.

    ``roads=False`` (a light batch area, ``report=False``) leaves out ``network_edges``: the roads
    read are an input, drawn only on the page, and writing them was a third of a light area's
    GeoPackage time (Wuhan core by district: ~0.04 s of ~0.13 s per area). Every result layer
    (``units``, ``facilities``, ``population_points``, ``suggested_sites``) is written either way."""
    gpkg = tmp / "coverage.gpkg"
    units.to_file(gpkg, layer="units", driver="GPKG")
    _for_file(res.facilities).to_file(gpkg, layer="facilities", driver="GPKG")
    if len(res.isochrones):
        _for_file(res.isochrones).to_file(gpkg, layer="isochrones", driver="GPKG")
    if len(res.isochrones_per_facility):
        _for_file(res.isochrones_per_facility).to_file(gpkg, layer="isochrones_per_facility", driver="GPKG")
    # one point per populated cell (a city: 400,000): no R-tree index (40 % of the file and of the
    # write time); the cells are found through their unit_id / row / col, not by a box query
    _for_file(res.points).to_file(gpkg, layer="population_points", driver="GPKG", SPATIAL_INDEX="NO")
    if len(res.sites):
        _for_file(res.sites).to_file(gpkg, layer="suggested_sites", driver="GPKG")
    if roads:
        _for_file(res.edges).to_file(gpkg, layer="network_edges", driver="GPKG")
    if len(water):
        water.to_file(gpkg, layer="water", driver="GPKG")
    if len(lines):
        lines.to_file(gpkg, layer="outlines", driver="GPKG")


def xlsx_sheets(res: RunResult) -> list[tuple[str, pd.DataFrame]]:
    """The sheets of ``units.xlsx`` (name, table): the tables with labels in the study's language."""
    lang = res.study.language
    est = set((res.summary.get("population") or {}).get("estimated") or {})  # measured vs estimated labels
    sheets = [("units", labelled(pd.DataFrame(_for_file(res.units).drop(columns="geometry")), lang, estimated=est))]
    if has_districts(res):
        sheets.append(("districts", labelled(_for_file(res.districts).reset_index(), lang, estimated=est)))
    return sheets + [("study", labelled(res.overall.reset_index(drop=True), lang, estimated=est)),
                     ("targets", res.target_results), ("rejects", res.rejects)]


def _write_xlsx(res: RunResult, tmp: Path) -> None:
    """``units.xlsx``: :func:`xlsx_sheets`, cells as :func:`write_sheet` writes them."""
    import xlsxwriter

    # strings stay strings: a name such as '=HYPERLINK(...)' is never stored as a live formula or link;
    # constant_memory: each row goes to the file as it is finished (a city's sheets hold 500,000 cells)
    with xlsxwriter.Workbook(tmp / "units.xlsx", {"strings_to_formulas": False, "strings_to_urls": False,
                                                 "constant_memory": True}) as book:
        for name, table in xlsx_sheets(res):
            write_sheet(book.add_worksheet(name), table)


def write_sheet(ws, table: pd.DataFrame) -> None:
    """Write ``table`` (no index) into the xlsxwriter worksheet ``ws`` row by row, cell for cell as
    pandas' ``DataFrame.to_excel`` does with the xlsxwriter engine (a plain header row; an empty cell
    for a missing value; ``inf``/``-inf`` as text; numbers as numbers; anything else as its text),
    without pandas' per-cell overhead (a city's ``units.xlsx`` took seconds in it).
    ``tests/test_parallel_outputs.py`` reads both files back and compares them cell for cell."""
    for c, label in enumerate(table.columns):
        ws.write(0, c, label)
    cols = []
    for c in table.columns:
        col = table[c]
        if pd.api.types.is_float_dtype(col.dtype):
            cols.append(("f", col.to_numpy(dtype=float).tolist()))
        elif pd.api.types.is_integer_dtype(col.dtype) and not col.hasnans:
            cols.append(("n", col.to_numpy().tolist()))
        else:
            cols.append(("o", col.tolist()))
    write_number, write = ws.write_number, ws.write
    isinf = np.isinf
    for r in range(len(table)):
        row = r + 1
        for c, (kind, values) in enumerate(cols):
            v = values[r]
            if kind == "f":
                if v != v:
                    continue
                if isinf(v):
                    write(row, c, "inf" if v > 0 else "-inf")
                else:
                    write_number(row, c, v)
            elif kind == "n":
                write_number(row, c, v)
            else:
                _write_object(write, row, c, v)


def _write_object(write, row: int, c: int, v) -> None:
    """One cell of an object or text column, as pandas' Excel writer converts it."""
    if v is None or v is pd.NA or v is pd.NaT:
        return
    if isinstance(v, (bool, np.bool_)):
        write(row, c, bool(v))
    elif isinstance(v, (int, np.integer)):
        write(row, c, int(v))
    elif isinstance(v, (float, np.floating)):
        if v != v:  # NaN
            return
        write(row, c, ("inf" if v > 0 else "-inf") if np.isinf(v) else float(v))
    else:
        text = str(v)
        if text:
            write(row, c, text)




def inert_csv(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
    ``@``, tab, carriage return first) prefixed with ``'`` (the usual CSV-injection guard, as the
    page's own CSV export does). Numbers are untouched; only text columns are looked at."""
    out = table.copy()
    for c in out.columns:
        col = out[c]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            text = col.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
            if text.any():
                out[c] = col.where(~text, "'" + col.astype(str))
    return out


def has_districts(res: RunResult) -> bool:
    """Whether the run has a district table worth writing: some unit has a street/district parent.

    Without parents (no ``units.parents`` and no parent column) every unit's parent is ``""`` and
    the table would hold one row, "(none)", repeating the study row: ``districts.csv`` and the
    xlsx "districts" sheet are then left out rather than written with a meaningless row.
    """
    return bool(len(res.districts)) and set(map(str, res.districts.index)) != {"(none)"}


def _for_file(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Infinite times become NaN (GeoPackage and CSV readers expect finite numbers or empty)."""
    out = gdf.copy()
    for c in out.columns:
        if c != "geometry" and pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].replace([np.inf, -np.inf], np.nan)
    return out
