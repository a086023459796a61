"""The report in a real browser (headless Chromium, network blocked): layers, numbers, escaping."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil

import pytest

from circles.pipeline import run
from circles.study import load_study
from conftest import DEMO, ROOT

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)

XSS_NAME = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">恶意名称'


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("xss") / "study"
    shutil.copytree(DEMO, d)
    gaz = d / "facilities_illustrative.csv"
    text = gaz.read_text(encoding="utf-8-sig")
    first = text.splitlines()[1].split(",")
    first[0], first[1] = "XSS001", '"' + XSS_NAME.replace('"', '""') + '"'
    gaz.write_text(text + ",".join(first) + "\n", encoding="utf-8-sig")
    _, folder = run(load_study(d / "study.toml"), folder=d.parent / "out")
    return folder


@pytest.mark.skipif(not shot.browser_available(), reason="needs Debian chromium + chromium-driver (.ci/run installs them)")
def test_report_in_headless_chromium(report_folder):
    summary = json.loads((report_folder / "summary.json").read_text(encoding="utf-8"))
    driver = shot.open_page(report_folder / "report.html")
    try:
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
        labels = driver.execute_script(
            "return [...document.querySelectorAll('.leaflet-control-layers-overlays label')].map(l => l.innerText.trim())")
        for needle in ("老年人(60+) 15分钟内覆盖率", "达标/未达标", "人口网格: 老年人(60+)", "人口网格: 婴幼儿(0-3岁)",
                       "日间照料中心 5/10/15 分钟 等时圈", "托育机构 (", "养老院 (", "幼儿园 (", "建议新建选址 ("):
            assert any(needle in label for label in labels), (needle, labels)
        # features drawn (on canvas, so counted as Leaflet layers rather than DOM elements)
        assert driver.execute_script(
            "let n = 0; window[document.querySelector('.folium-map').id].eachLayer(() => n++); return n") > 100
        # the summary panel shows exactly the numbers in summary.json
        measured = driver.execute_script(
            "return [...document.querySelectorAll('#circles-summary tr.target-row td.measured')].map(t => t.innerText)")
        for cell, row in zip(measured, summary["targets"]["study"], strict=True):
            m = row["measured"]
            expect = f"{100 * m:.1f}%" if "per_1000" not in row["indicator"] else f"{m:.2f}"
            assert cell == expect
        cov_cells = driver.execute_script(
            "return [...document.querySelectorAll('#circles-summary table.coverage td')].map(t => t.innerText)")
        for g in ("elderly", "infants"):
            for t in summary["thresholds_min"]:
                assert f"{100 * summary['coverage'][g][f'{t:g}min']:.1f}%" in cov_cells
        # the hostile facility name is shown as text, and none of it ran
        shown = driver.execute_script("""
            const map = window[document.querySelector('.folium-map').id];
            let text = null;
            map.eachLayer(l => { if (l.getPopup && l.getPopup() && !text) {
                const c0 = l.getPopup().getContent();
                const c = typeof c0 === 'function' ? c0(l) : c0;  // popups built on opening
                const s = typeof c === 'string' ? c : c.textContent;
                if (s.includes('恶意名称')) { l.openPopup(); text = document.querySelector('.leaflet-popup-content').innerText; }
            }});
            return text;""")
        assert shown is not None and "<script>window.__xss=1</script>" in shown
        assert driver.execute_script("return document.querySelector('.leaflet-popup-content script, .leaflet-popup-content img')") is None
        assert driver.execute_script("return window.__xss === undefined")
        driver.execute_script("map = window[document.querySelector('.folium-map').id]; map.closePopup();")
        driver.save_screenshot(str(report_folder / "screenshot.png"))
        assert (report_folder / "screenshot.png").stat().st_size > 50_000
    finally:
        driver.quit()
    # nothing in the page points at the internet except plain links
    html = (report_folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', html)
