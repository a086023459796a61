"""Issue 21, the output side: figures and brief in a forked child, ``units.xlsx`` written cell by cell.

Oracles: the in-process path (the same run written with ``parallel=False``: every file the same,
byte for byte or, where a file carries its own time stamp or folium's random element ids, value
for value), and pandas' own ``DataFrame.to_excel`` for the xlsx cells.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pyogrio
import pypdf
import pytest

from circles.errors import InputFileError
from circles.export import write_outputs, xlsx_sheets
from circles.parallel import ChildError, beside, can_fork
from circles.pipeline import analyse
from circles.study import load_study

STUDY = Path(__file__).resolve().parent / "data" / "community_polygons.toml"


@pytest.fixture(scope="module")
def community_res():
    return analyse(load_study(STUDY))


def _cells(path: Path) -> dict:
    book = openpyxl.load_workbook(path)
    return {ws.title: [[(c.value, c.data_type) for c in row] for row in ws.iter_rows()] for ws in book.worksheets}


def _pdf_text(path: Path) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(path).pages]


def _page(path: Path) -> str:
    return re.sub(r"_[0-9a-f]{32}", "_ID", path.read_text(encoding="utf-8"))  # folium's random element ids


def test_this_machine_forks_a_child():
    """The test below compares two different paths only if the first one really forks here."""
    assert can_fork() == (len(os.sched_getaffinity(0)) > 1 and os.environ.get("CIRCLES_PARALLEL") != "0")
    if can_fork():
        assert beside(lambda note: os.getpid(), name="pid").result() != os.getpid()


def test_forked_and_in_process_writes_are_the_same(community_res, tmp_path):
    a = write_outputs(community_res, tmp_path / "forked", brief=True, parallel=True)
    b = write_outputs(community_res, tmp_path / "inline", brief=True, parallel=False)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert {"report.html", "report.pdf", "units.xlsx", "coverage.gpkg", "coverage_curve.png", "units_left_out.png",
            "map_elderly_15min.png", "map_infants_15min.png", "units.csv", "summary.json"} <= set(names)
    assert not [p for p in a.iterdir() if p.name.endswith(".part")]
    for name in names:
        fa, fb = a / name, b / name
        if name == ".circles-output":  # the marker: who wrote it, when
            assert json.loads(fa.read_text())["name"] == "forked" and json.loads(fb.read_text())["name"] == "inline"
        elif name == "report.html":
            assert _page(fa) == _page(fb)
        elif name == "report.pdf":  # its CreationDate differs
            ta, tb = _pdf_text(fa), _pdf_text(fb)
            assert ta == tb and len(ta) >= 5 and "社区" in "".join(ta)  # Chinese unit names, as text
        elif name == "units.xlsx":  # its docProps time stamp differs
            assert _cells(fa) == _cells(fb)
        elif name == "coverage.gpkg":
            layers = list(pyogrio.list_layers(fa)[:, 0])
            assert layers == list(pyogrio.list_layers(fb)[:, 0])
            for layer in layers:
                pd.testing.assert_frame_equal(pyogrio.read_dataframe(fa, layer=layer),
                                              pyogrio.read_dataframe(fb, layer=layer))
        else:
            assert fa.read_bytes() == fb.read_bytes(), name


def test_units_xlsx_cells_are_what_pandas_writes(community_res, tmp_path):
    """Oracle: pandas' to_excel (xlsxwriter engine) on the same sheets; every cell's value and type."""
    out = write_outputs(community_res, tmp_path / "run", report=False)
    with pd.ExcelWriter(tmp_path / "pandas.xlsx", engine="xlsxwriter",
                        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}}) as xl:
        for name, table in xlsx_sheets(community_res):
            table.to_excel(xl, sheet_name=name, index=False)
    ours, theirs = _cells(out / "units.xlsx"), _cells(tmp_path / "pandas.xlsx")
    assert ours == theirs
    assert sum(len(r) for r in ours["units"]) > 300  # the comparison covered a real table (3 units x 100 columns)


def test_write_sheet_edge_cells_as_pandas(tmp_path):
    """Missing values, infinities, booleans, integers with gaps and formula-like text, cell for cell as pandas."""
    import xlsxwriter

    from circles.export import write_sheet

    table = pd.DataFrame({"f": [1.5, float("nan"), float("inf"), -float("inf")],
                          "i": [1, 2, 3, 4], "b": [True, False, True, False],
                          "ni": pd.array([1, None, 3, 4], dtype="Int64"),
                          "s": ["=1+1", None, "", "http://x.example"], "o": [1, "a", 2.5, None]})
    with xlsxwriter.Workbook(tmp_path / "ours.xlsx", {"strings_to_formulas": False, "strings_to_urls": False,
                                                     "constant_memory": True}) as book:
        write_sheet(book.add_worksheet("t"), table)
    with pd.ExcelWriter(tmp_path / "pandas.xlsx", engine="xlsxwriter",
                        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}}) as xl:
        table.to_excel(xl, sheet_name="t", index=False)
    ours = _cells(tmp_path / "ours.xlsx")
    assert ours == _cells(tmp_path / "pandas.xlsx")
    assert ours["t"][1][0] == (1.5, "n") and ours["t"][3][0] == ("inf", "s") and ours["t"][1][4] == ("=1+1", "s")


def _fails(note):
    note("figures")
    raise InputFileError("units.csv, row 3, column 'name': empty; give every unit a name")


def test_an_error_in_the_child_is_raised_in_the_parent():
    job = beside(_fails, name="failing") if can_fork() else None
    if job is not None:
        job.wait_for("figures")  # the note arrives before the error
        with pytest.raises(InputFileError, match=r"units.csv, row 3, column 'name'"):
            job.result()
    with pytest.raises(InputFileError, match=r"units.csv, row 3, column 'name'"):  # in process: the same error
        beside(_fails, name="failing", parallel=False)


def test_a_child_that_dies_is_named():
    if not can_fork():
        pytest.fail("this test needs fork and two CPUs (see test_this_machine_forks_a_child)")
    job = beside(lambda note: os._exit(3), name="figures and brief")
    with pytest.raises(ChildError, match=r"figures and brief: the child process ended without finishing \(exit code 3\)"):
        job.result()


def test_base85_text_is_the_standard_encoding_without_a_less_than_sign():
    """Oracle: Python's base64.b85encode / b85decode; "<" (which could end a script element) never written."""
    import base64

    from circles.display import base85_text

    for data in (b"", b"\x00", b"\xff" * 7, bytes(range(256)) * 3, os.urandom(100_003)):
        text = base85_text(data)
        assert text == base64.b85encode(data).decode("ascii").replace("<", ".")
        assert "<" not in text and base64.b85decode(text.replace(".", "<")) == data


def _warns(note):
    import logging

    logging.getLogger("circles.figures").warning("unit %s: no name, drawn by its code", "420103003")
    return "done"


def test_the_childs_log_records_reach_the_parents_log(caplog):
    if not can_fork():
        pytest.fail("this test needs fork and two CPUs (see test_this_machine_forks_a_child)")
    with caplog.at_level("WARNING", logger="circles.figures"):
        assert beside(_warns, name="logging").result() == "done"
    [rec] = [r for r in caplog.records if r.name == "circles.figures"]
    assert rec.getMessage() == "unit 420103003: no name, drawn by its code" and rec.process != os.getpid()
