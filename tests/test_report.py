"""The report rebuilt from saved outputs, GCJ-02 base maps, and the print figures."""

from __future__ import annotations

import shutil

import numpy as np
from pyproj import Geod
from typer.testing import CliRunner

from circles.chinacoords import wgs84_to_gcj02
from circles.cli import app
from circles.report import DISPLAY_DECIMALS, read_report_data, to_display, write_report


def test_report_rebuilds_from_saved_outputs(demo_run, tmp_path):
    res, folder = demo_run
    data = read_report_data(folder, language="en")
    assert len(data.units) == len(res.units) and len(data.sites) == len(res.sites)
    page = write_report(data, tmp_path)
    html = page.read_text(encoding="utf-8")
    assert "Plan targets" in html and res.units["unit_id"].iloc[0] in html
    for png in ("coverage_curve.png", "units_left_out.png", "map_elderly_15min.png", "map_infants_15min.png"):
        assert (tmp_path / png).stat().st_size > 10_000


def test_cli_report_command(demo_run, tmp_path):
    res, shared = demo_run
    folder = tmp_path / shared.name  # a copy: the page is rebuilt in English in place, and other tests read the run's
    shutil.copytree(shared, folder)
    before = (folder / "summary.json").read_bytes()
    r = CliRunner().invoke(app, ["report", "--out", str(folder), "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert "Plan targets" in (folder / "report.html").read_text(encoding="utf-8")
    assert (folder / "summary.json").read_bytes() == before  # nothing recomputed or rewritten
    r = CliRunner().invoke(app, ["report", "--out", str(folder / "missing")])
    assert r.exit_code == 1 and "run `circles run STUDY` first" in r.output


def test_gcj02_basemap_shifts_every_layer(demo_run, tmp_path):
    res, folder = demo_run
    fac = res.facilities.iloc[:5]
    plain = to_display(fac)
    shifted = to_display(fac, gcj02=True)
    lon, lat = wgs84_to_gcj02(plain.geometry.x.to_numpy(), plain.geometry.y.to_numpy())
    assert np.allclose(shifted.geometry.x, lon, atol=1e-6) and np.allclose(shifted.geometry.y, lat, atol=1e-6)
    d = Geod(ellps="WGS84").inv(plain.geometry.x, plain.geometry.y, shifted.geometry.x, shifted.geometry.y)[2]
    assert 400 < d.min() and d.max() < 800  # Wuhan's GCJ-02 offset
    data = read_report_data(folder, basemap="amap")
    html = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert "autonavi.com" in html
    # the page's coordinates (rounded to DISPLAY_DECIMALS) are the shifted ones, not WGS84
    x, y = (round(float(v), DISPLAY_DECIMALS) for v in (shifted.geometry.x.iloc[0], shifted.geometry.y.iloc[0]))
    assert f"{x!r},{y!r}" in html
    px, py = (round(float(v), DISPLAY_DECIMALS) for v in (plain.geometry.x.iloc[0], plain.geometry.y.iloc[0]))
    assert f"{px!r},{py!r}" not in html


def test_print_figures_use_the_packaged_cjk_font():
    """Figures are Chinese on any machine: the font comes from a dependency, not the system."""
    from matplotlib.ft2font import FT2Font

    from circles import figures

    path = figures.cjk_font_path()  # raises FontMissingError when the package is not installed
    assert "site-packages" in str(path) or "dist-packages" in str(path)
    assert figures.figure_language("zh") == "zh"
    font = FT2Font(str(path))
    for ch in "老年人婴幼儿覆盖率步行分钟托位养老北":  # every character the figures draw must have a glyph
        assert font.get_char_index(ord(ch)) != 0, ch


def test_units_xlsx_has_human_labels(demo_run):
    import pandas as pd

    res, folder = demo_run
    sheet = pd.read_excel(folder / "units.xlsx", sheet_name="units")
    assert "15分钟内可达任一相应服务设施的老年人(60+)比例" in sheet.columns
    assert len(sheet) == len(res.units)
