"""The report's print layout (circles/assets/print.css) in headless Chromium, on the real demo page.

Printed to PDF (Chromium's own printer, ``Page.printToPDF``, as ``--print-to-pdf`` does) on A4 and
A3 landscape: page 1 is the map with its title and date, and none of the panels' text; the
pages after it hold the targets table, the worst units by name and the suggested sites by name.
"Not covered" is checked on the rendered page under print emulation: every point of the map's
middle shows the map itself, and the panels start below it.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import time
import unicodedata

import pandas as pd
import pytest

from circles.display import fmt_measured
from conftest import ROOT

pypdf = pytest.importorskip("pypdf")

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)
needs_browser = pytest.mark.skipif(not shot.browser_available(),
                                   reason="needs Debian chromium + chromium-driver (.ci/run installs them)")

#: landscape paper, inches (for printToPDF) and CSS pixels at 96 dpi (for print emulation)
PAPER_IN = {"A4": (11.69, 8.27), "A3": (16.54, 11.69)}
PAPER_PX = {"A4": (1123, 794), "A3": (1587, 1123)}


def _text(page) -> str:
    """A page's text, NFKC-normalised (Chromium's PDF maps some CJK to Kangxi radicals) without spaces."""
    return "".join(unicodedata.normalize("NFKC", page.extract_text() or "").split())


def _has(needle: str, text: str) -> bool:
    """``needle`` (spaces dropped) in ``text``; a CJK character also matches any CJK Radicals
    Supplement character (Chromium's PDF writes some, e.g. 马 as U+2EE2, which NFKC leaves alone)."""
    needle = "".join(unicodedata.normalize("NFKC", needle).split())
    pattern = "".join(f"(?:{re.escape(c)}|[\u2e80-\u2eff])" if "\u4e00" <= c <= "\u9fff" else re.escape(c)
                      for c in needle)
    return re.search(pattern, text) is not None


def print_pdf(driver, paper: str) -> bytes:
    w, h = PAPER_IN[paper]
    r = driver.execute_cdp_cmd("Page.printToPDF", {"paperWidth": w, "paperHeight": h, "printBackground": True,
                                                   "preferCSSPageSize": False, "landscape": False})
    return base64.b64decode(r["data"])


def emulate_print(driver, paper: str) -> dict:
    w, h = PAPER_PX[paper]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1,
                                                                  "mobile": False})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    time.sleep(0.8)
    return driver.execute_script("""
        const box = s => { const e = document.querySelector(s); if (!e) return null;
            const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height,
            shown: getComputedStyle(e).display !== 'none'}; };
        const map = document.querySelector('.folium-map'), r = map.getBoundingClientRect();
        const overlays = ['#circles-print-head', '#circles-print-north', '#circles-print-credits', '#circles-legend',
                          '.leaflet-control-container'].map(s => document.querySelector(s));
        // the map's middle (0.2 to 0.74 of each side; the legend sits in a corner): what is on top there
        const hits = [];
        for (let i = 0; i <= 10; i++) for (let j = 0; j <= 10; j++) {
            const x = r.left + r.width * (0.2 + 0.054 * i), y = r.top + r.height * (0.2 + 0.054 * j);
            const e = document.elementFromPoint(x, y);
            hits.push(!!e && map.contains(e) && !overlays.some(o => o && o.contains(e)));
        }
        return {map: box('.folium-map'), summary: box('#circles-summary'), planner: box('#circles-planner'),
                head: box('#circles-print-head'), north: box('#circles-print-north'),
                credits: box('#circles-print-credits'), legend: box('#circles-legend'),
                scale: box('.leaflet-control-scale'), layers: box('.leaflet-control-layers'),
                title: (document.querySelector('#circles-print-head .circles-print-title') || {}).textContent,
                hits: hits};""")


@needs_browser
@pytest.mark.parametrize("paper", ["A4", "A3"])
def test_print_layout(demo_run, paper):
    res, folder = demo_run
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    units = pd.read_csv(folder / "units.csv", encoding="utf-8-sig", dtype={"unit_id": str, "unit_name": str})
    planner = json.loads((folder / "report.html").read_text(encoding="utf-8").split(
        'id="circles-planner-data">', 1)[1].split("</script>", 1)[0])
    cands = planner["whatif"]["candidates"]
    driver = shot.open_page(folder / "report.html")
    try:
        pdf = pypdf.PdfReader(io.BytesIO(print_pdf(driver, paper)))
        boxes = emulate_print(driver, paper)
    finally:
        driver.quit()
    box = pdf.pages[0].mediabox  # Chromium rounds the page to its own units: within a point
    assert float(box.width) == pytest.approx(PAPER_IN[paper][0] * 72, abs=1.5)
    assert float(box.height) == pytest.approx(PAPER_IN[paper][1] * 72, abs=1.5)
    pages = [_text(p) for p in pdf.pages]
    assert len(pages) >= 3
    # page 1: the map, its title and date; none of the panels' text
    assert _has(summary["title"], pages[0]) and "打印日期" in pages[0]
    assert "规划指标" not in pages[0] and "假设新建" not in pages[0]
    rest = "".join(pages[1:])
    # the targets table: each indicator's label, measured value and gap, as the page writes them
    labels = {i["id"]: i["label_zh"] for i in summary["targets"]["preset_data"]["indicators"]}
    assert "规划指标" in rest
    for r in summary["targets"]["study"]:
        x = r["measured"]
        shown = fmt_measured(x, r["indicator"])  # one rounding rule (display.py)
        assert _has(labels[r["indicator"]] + shown, rest)
        assert f"{r['gap']:,.0f}" in rest
    # the worst units by name, and every suggested site by name
    for wu in summary["worst_units"]:
        name = units.loc[units["unit_id"] == wu["unit_id"], "unit_name"].iloc[0]
        assert _has(str(name), rest)
    for i, s in enumerate(cands["suggested"]):
        if s:
            assert _has(cands["name"][i], rest)
    # the rendered page under print emulation: the map fills page 1, the panels come after it
    vw, vh = PAPER_PX[paper]
    m = boxes["map"]
    assert m["y"] == 0 and m["h"] >= 0.95 * vh and m["w"] >= 0.95 * vw
    for panel in ("summary", "planner"):
        assert boxes[panel]["y"] >= m["y"] + m["h"] - 1
    assert boxes["layers"]["shown"] is False
    for part in ("head", "north", "credits", "legend", "scale"):
        b = boxes[part]
        assert b["shown"] and b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["w"] <= m["w"] + 1 and b["y"] + b["h"] <= m["h"] + 1
    assert unicodedata.normalize("NFKC", boxes["title"]) == unicodedata.normalize("NFKC", summary["title"])
    assert all(boxes["hits"]), "something is drawn over the middle of the printed map"
