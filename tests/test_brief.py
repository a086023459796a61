"""report.pdf, the printed brief (circles/brief.py), on the real demo (zh) and the community study (en).

The oracle is summary.json and units.csv as the run wrote them: each number the brief must show
is formatted here by hand from those files and looked for in the PDF's text (pypdf).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

pypdf = pytest.importorskip("pypdf")

from circles.display import fmt_measured, fmt_pct
from circles.brief import write_brief  # noqa: E402
from circles.errors import InputFileError  # noqa: E402

TESTDATA = Path(__file__).resolve().parent / "data"


def _pages(pdf: Path) -> list[str]:
    return [p.extract_text() or "" for p in pypdf.PdfReader(pdf).pages]


def _flat(s: str) -> str:
    return "".join(s.split())


@pytest.fixture(scope="module")
def community_run(tmp_path_factory):
    from circles.pipeline import run
    from circles.study import load_study

    out = tmp_path_factory.mktemp("community") / "community"
    return run(load_study(TESTDATA / "community_polygons.toml"), folder=out)


def _check_brief(folder: Path, pdf: Path, lang: str) -> None:
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    units = pd.read_csv(folder / "units.csv", encoding="utf-8-sig", dtype={"unit_id": str, "unit_name": str})
    pages = _pages(pdf)
    text = _flat("\n".join(pages))
    # headline figures, by hand from summary.json
    tm = max(s["thresholds_min"])
    for g in ("elderly", "infants"):
        assert fmt_pct(s['coverage'][g][f'{tm:g}min']) in text  # one rounding rule (display.py)
    assert f"{s['population']['total']:,.0f}" in text
    # the targets table: every indicator's label (its words), measured and target as the page writes
    # them, and the gap of every failing one, all on one page
    preset = s["targets"]["preset_data"]
    labels = {i["id"]: i[f"label_{lang}"] for i in preset["indicators"]}
    for r in s["targets"]["study"]:
        ind = r["indicator"]

        def shown(x, ind=ind):
            if x is None:
                return "–"
            return fmt_measured(x, ind)

        want = [shown(r["measured"]), shown(r["target"])] + labels[ind].split()
        if r["status"] == "fail":
            want.append(f"{r['gap']:,.0f}")
        assert any(all(_flat(w) in _flat(p) for w in want) for p in pages), (ind, want)
    # worst units by name (the community's own name when it has one) with their code
    for w in s["worst_units"]:
        row = units[units["unit_id"] == str(w["unit_id"])].iloc[0]
        name = row["unit_name"] if isinstance(row["unit_name"], str) and row["unit_name"].strip() else row["unit_id"]
        assert _flat(name) in text and str(w["unit_id"]) in text
    # suggested sites: each gain, as a whole number of people, and its WGS84 coordinates
    sites = gpd.read_file(folder / "coverage.gpkg", layer="suggested_sites").to_crs(4326)
    assert len(sites) > 0
    for _, r in sites.iterrows():
        assert f"{r['gain']:,.0f}" in text
        assert f"{r.geometry.x:.5f},{r.geometry.y:.5f}" in text


def test_demo_brief_zh(demo_run):
    _, folder = demo_run
    pdf = write_brief(folder, today=date(2026, 1, 2))
    assert pdf == Path(folder) / "report.pdf" and not (Path(folder) / "report.pdf.part").exists()
    _check_brief(Path(folder), pdf, "zh")
    pages = _pages(pdf)
    assert "规划指标" in pages[1] and "覆盖最差的单元" in "".join(pages)
    assert "2026-01-02" in pages[0]
    # A4 portrait pages
    for p in pypdf.PdfReader(pdf).pages:
        assert (round(float(p.mediabox.width)), round(float(p.mediabox.height))) == (595, 842)


def test_brief_embeds_the_cjk_font(demo_run):
    _, folder = demo_run
    reader = pypdf.PdfReader(write_brief(folder))
    fonts = set()
    for page in reader.pages:
        for f in (page["/Resources"].get("/Font") or {}).values():
            f = f.get_object()
            desc = f.get("/FontDescriptor") or (f["/DescendantFonts"][0].get_object().get("/FontDescriptor")
                                                if "/DescendantFonts" in f else None)
            if desc is not None:
                desc = desc.get_object()
                fonts.add((str(f["/BaseFont"]), any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))))
    assert fonts and all(embedded for _, embedded in fonts), fonts
    assert any("NotoSansCJK" in name for name, _ in fonts)


def test_community_brief_en(community_run):
    _, folder = community_run
    pdf = write_brief(folder, language="en")
    _check_brief(Path(folder), pdf, "en")
    text = "\n".join(_pages(pdf))
    assert "Plan targets" in text and "Worst-covered units" in text and "Methods and rules" in text


def test_brief_in_the_other_language_remakes_the_why(demo_run):
    """The demo ran in Chinese; an English brief words why a unit is among the worst in English."""
    _, folder = demo_run
    text = "\n".join(_pages(write_brief(folder, language="en")))
    assert "beyond a 15-min walk" in text and "名老年人" not in text


def test_report_pdf_of_a_score_folder_without_sites(tmp_path):
    """`circles score` sites nothing: `circles report --pdf` still writes the brief, with no site rows."""
    from typer.testing import CliRunner

    from circles.cli import app

    study, out = TESTDATA / "community_polygons.toml", tmp_path / "score"
    r = CliRunner().invoke(app, ["score", str(study), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["report", str(study), "--out", str(out), "--pdf", "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert f"wrote {out / 'report.pdf'}" in " ".join(r.output.split())
    pages = _pages(out / "report.pdf")
    text = "\n".join(pages)
    assert "Suggested new sites" in text and "lon, lat (WGS84)" not in text
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for w in s["worst_units"]:
        assert str(w["unit_id"]) in _flat(text)


def test_brief_without_outputs_names_the_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"summary\.json: not found.*circles run"):
        write_brief(tmp_path)
