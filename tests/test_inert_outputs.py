"""Data text stays text in every file a run writes, not only in the page (issue 19, found by a review).

A spreadsheet runs a cell that starts with ``=`` as a formula; matplotlib typesets ``$...$`` as
mathematics (and fails on a bad macro); a units file with a line among its polygons used to lose that
unit silently. Each case here runs the real pipeline on the community-polygon study and reads the
files back with other libraries (openpyxl, pypdf, pandas).
"""

from __future__ import annotations

import json
import re
import shutil

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely

from circles.brief import write_brief
from circles.errors import InputFileError
from circles.pipeline import run
from circles.study import load_study
from conftest import ROOT, TESTDATA

FORMULA = '=HYPERLINK("http://example.invalid","点我")'
MATH = r"$x^2$ and $\undefinedmacro{$"


def _study(tmp_path, names, title):
    d = tmp_path / "study"
    d.mkdir()
    for f in ("centrelines.gpkg", "gazetteer_gbk.csv"):
        shutil.copy(TESTDATA / f, d / f)
    units = gpd.read_file(TESTDATA / "units_invalid.geojson")
    units["社区名称"] = names
    units.to_file(d / "units.geojson", driver="GeoJSON")
    toml = (TESTDATA / "community_polygons.toml").read_text(encoding="utf-8")
    toml = (toml.replace("../../data/demo/pop", (ROOT / "data/demo/pop").as_posix())
            .replace("../../data/demo/districts.geojson", (ROOT / "data/demo/districts.geojson").as_posix())
            .replace("units_invalid.geojson", "units.geojson"))
    toml = re.sub(r"^title = .*$", lambda _: f"title = {json.dumps(title)}", toml, count=1, flags=re.M)
    (d / "study.toml").write_text(toml, encoding="utf-8")
    return d / "study.toml"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inert")
    path = _study(tmp, [FORMULA, "+1+1", "@SUM(A1)"], MATH)
    _, folder = run(load_study(path), folder=tmp / "out")
    return folder


def test_spreadsheet_cells_are_text_not_formulas(hostile_run):
    book = openpyxl.load_workbook(hostile_run / "units.xlsx")
    cells = [c for row in book["units"].iter_rows() for c in row if isinstance(c.value, str)]
    ours = [c for c in cells if c.value in (FORMULA, "+1+1", "@SUM(A1)")]
    assert len(ours) >= 3 and all(c.data_type == "s" for c in ours)  # stored as strings, not formulas
    assert not [c for c in cells if c.data_type == "f"]
    units = pd.read_csv(hostile_run / "units.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert {"'" + FORMULA, "'+1+1", "'@SUM(A1)"} <= set(units["unit_name"])  # the CSV guard: a leading '


def test_brief_prints_dollar_names_as_text(hostile_run):
    from pypdf import PdfReader

    pdf = write_brief(hostile_run)
    text = "".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "$x^2$" in text.replace(" ", "") or "$x^2$" in text
    assert not list(hostile_run.glob("*.part"))


def test_a_unit_that_is_not_a_polygon_is_refused_with_its_feature(tmp_path):
    path = _study(tmp_path, ["甲社区", "乙社区", "丙社区"], "t")
    units = gpd.read_file(path.parent / "units.geojson")
    units.loc[1, "geometry"] = shapely.LineString(list(units.geometry[1].exterior.coords)[:3])
    units.to_file(path.parent / "units.geojson", driver="GeoJSON")
    with pytest.raises(InputFileError, match=r"units.geojson: 1 unit\(s\) are not polygons \(feature 2: LineString\)"):
        run(load_study(path), folder=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_prints_bracketed_names_as_text(tmp_path):
    """rich reads "[/red]" as markup: a district or unit so named made `circles score` fail (MarkupError)
    after writing its folder, and bracketed words vanished from the tables."""
    import subprocess
    import sys

    path = _study(tmp_path, ["[/red] 民意社区", "新华[bold]社区", "北湖社区"], "t")
    gj = json.loads((ROOT / "data/demo/districts.geojson").read_text(encoding="utf-8"))
    for feat in gj["features"]:
        feat["properties"]["name"] = "[/red] " + feat["properties"]["name"]
    (path.parent / "districts.geojson").write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    toml = path.read_text(encoding="utf-8").replace((ROOT / "data/demo/districts.geojson").as_posix(),
                                                     "districts.geojson")
    path.write_text(toml, encoding="utf-8")
    cmd = [sys.executable, "-c", "from circles.cli import app; app()", "score", str(path), "--out",
           str(tmp_path / "out")]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**__import__("os").environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "[/red] 民意社区" in r.stdout and "新华[bold]社区" in r.stdout and "[/red] 江汉区" in r.stdout
