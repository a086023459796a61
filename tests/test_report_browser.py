"""The report in a real browser (headless Chromium, network blocked): layers, numbers, and the
hostile corpus (tests/hostile.py) through every text path, shown as text, never run."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil

import pandas as pd
import pytest

from circles.display import fmt_measured, fmt_pct
from circles.batch import _index_html
from circles.pipeline import run
from circles.report import _T, build_map, read_report_data
from circles.study import load_study
from conftest import DEMO, MUST_SHOW, ROOT
from hostile import HOSTILE, JOINED, STUDY_TITLE, cycle

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)

needs_browser = pytest.mark.skipif(not shot.browser_available(),
                                   reason="needs Debian chromium + chromium-driver (.ci/run installs them)")


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory):
    """The real pipeline on the demo with every hostile string as a facility name and address,
    as district names, and as much of the corpus as a title holds as the study title (pandas 3 `str` columns)."""
    d = tmp_path_factory.mktemp("xss") / "study"
    shutil.copytree(DEMO, d)
    gaz = d / "facilities_illustrative.csv"
    with gaz.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    for i, s in enumerate(HOSTILE):
        row = list(rows[1 + i % (len(rows) - 1)])
        row[0], row[1], row[5] = f"XSS{i:03d}", s, s  # 编号, 名称, 地址
        rows.append(row)
    with gaz.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    districts = json.loads((d / "districts.geojson").read_text(encoding="utf-8"))
    for feat, s in zip(districts["features"], HOSTILE[:5]):
        feat["properties"]["name"] = s
    (d / "districts.geojson").write_text(json.dumps(districts, ensure_ascii=False), encoding="utf-8")
    toml = (d / "study.toml").read_text(encoding="utf-8")
    toml = re.sub(r'^title = .*$', lambda _: f"title = {json.dumps(STUDY_TITLE)}", toml, count=1, flags=re.M)
    (d / "study.toml").write_text(toml, encoding="utf-8")
    _, folder = run(load_study(d / "study.toml"), folder=d.parent / "out")
    return folder


def hostile_tables(folder, dtype: str):
    """The run's report data with every text path set to hostile strings, text columns as
    ``object`` (pandas 2) or ``string`` (StringDtype)."""
    data = read_report_data(folder)
    fac = data.facilities
    fac["name"] = cycle(len(fac))
    fac["address"] = cycle(len(fac) + 7)[7:]
    ids = dict(zip(data.units["unit_id"], cycle(len(data.units))))
    data.units["unit_id"] = data.units["unit_id"].map(ids)
    data.units["unit_name"] = data.units["unit_id"]  # the page names units by their names
    data.units["parent"] = cycle(len(data.units) + 3)[3:]
    data.points["unit_id"] = data.points["unit_id"].map(ids)
    for c in [c for c in data.units if c.startswith("status_")]:
        data.units[c] = cycle(len(data.units) + 11)[11:]
    for ind in data.preset["indicators"]:
        ind["label_zh"] = ind["label_en"] = ind["source"] = JOINED
    s = data.summary
    s["title"] = s["targets"]["title"] = JOINED
    for r in s["targets"]["study"] + (s.get("targets_after") or []):
        r["gap_text"] = JOINED
    for w in s["worst_units"]:
        w["unit_id"] = w["parent"] = w["why"] = JOINED
    s["population"]["estimated"] = {JOINED: JOINED}
    for info in s.get("siting", {}).values():
        info["model"] = info["method"] = JOINED
    for g in (data.units, data.points, data.facilities):
        for c in g.columns:
            if c != "geometry" and (pd.api.types.is_string_dtype(g[c]) or g[c].dtype == object):
                g[c] = g[c].astype(dtype)
    return data


# every hostile string must show literally in each of these (role, where) places
TABLE_PATHS = [("facilities", "tooltip", "name"), ("facilities", "popup", "name"), ("facilities", "popup", "address"),
               ("units", "tooltip", "unit"), ("units", "tooltip", "district"), ("pass_fail", "tooltip", "unit"),
               ("pass_fail", "tooltip", "status"), ("pass_fail", "tooltip", "preset label"),
               ("population", "tooltip", "unit"), ("page", "title", "study title"), ("panel", "h3", "study title"),
               ("panel", "h4", "preset title"), ("panel", "td", "preset label"), ("panel", "title attribute", "source"),
               ("panel", "td", "gap text"), ("panel", "li", "worst unit"), ("panel", "li", "estimate note"),
               ("panel", "li", "siting model")]

OPEN_ALL = """
const done = arguments[arguments.length - 1];
document.querySelectorAll('.leaflet-control-layers-overlays input').forEach(i => { if (!i.checked) i.click(); });
setTimeout(() => done(Object.keys(window.circlesLayers).filter(k => !window.circlesBuilt.includes(k))), 50);
"""

# open every tooltip and popup (deduplicated by content) and return the text of each cell/line
COLLECT = """
const P = JSON.parse(document.getElementById('circles-data').textContent);
const map = window[document.querySelector('.folium-map').id];
const out = {};
const leaves = (g, acc) => { (g.getLayers ? g.getLayers() : []).forEach(l => {
    if (l.getTooltip && (l.getTooltip() || l.getPopup())) acc.push(l); else leaves(l, acc); }); return acc; };
const texts = box => { if (!box) return [];
    return [box.textContent, ...[...box.querySelectorAll('td, span, b, div, i')].map(e => e.textContent)]; };
for (const [key, fg] of Object.entries(window.circlesLayers)) {
    const role = P.layers[key].role, seen = new Set(), tips = out[role + ':tooltip'] ||= [],
          pops = out[role + ':popup'] ||= [];
    out[role + ':count'] = (out[role + ':count'] || 0) + leaves(fg, []).length;
    for (const l of leaves(fg, [])) {
        const tip = l.getTooltip();
        if (tip) {  // one tooltip per distinct first line (one population cell per unit)
            const probe = typeof tip._content === 'function' ? tip._content(l) : null;
            const sig = key + '|' + (probe ? (probe.rows ? probe.rows[0].textContent : probe.textContent) : String(tip._content));
            if (!seen.has(sig)) {
                seen.add(sig); l.openTooltip(); tips.push(...texts(tip.getElement())); l.closeTooltip();
            }
        }
        if (l.getPopup()) {
            const probe = l.getPopup()._content;
            const sig = typeof probe === 'function' ? probe(l).textContent : String(probe);
            if (seen.has(sig)) continue; seen.add(sig);
            l.openPopup(); pops.push(...texts(l.getPopup().getElement().querySelector('.leaflet-popup-content')));
            map.closePopup();
        }
    }
}
for (const k of Object.keys(out)) if (Array.isArray(out[k])) out[k] = [...new Set(out[k])];
out.panel_h3 = document.querySelector('#circles-summary h3').textContent;
out.panel_h4 = [...document.querySelectorAll('#circles-summary h4')].map(e => e.textContent);
out.panel_td = [...document.querySelectorAll('#circles-summary td')].map(e => e.textContent);
out.panel_li = [...document.querySelectorAll('#circles-summary li')].map(e => e.textContent);
out.panel_titles = [...document.querySelectorAll('#circles-summary [title]')].map(e => e.getAttribute('title'));
out.title = document.title;
out.pwned = window.__pwned === undefined ? null : String(window.__pwned);
out.injected = document.querySelectorAll(
    'img[src="x"], svg:not(.leaflet-attribution-flag), iframe, details, a[href^="javascript"], [onerror], [onload], [onmouseover]').length
    + [...document.querySelectorAll('style')].filter(s => s.textContent.includes('body{display:none}')).length;
out.body_display = getComputedStyle(document.body).display;
return out;
"""


def _open_and_collect(page):
    driver = shot.open_page(page)
    try:
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
        driver.set_script_timeout(60)
        assert driver.execute_async_script(OPEN_ALL) == []  # every layer built and drawn
        got = driver.execute_script(COLLECT)
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        return got
    finally:
        driver.quit()


def _check_no_payload_ran(got, title):
    assert got["pwned"] is None
    assert got["title"] == title  # the page title never changes
    assert got["injected"] == 0 and got["body_display"] != "none"


@needs_browser
@pytest.mark.parametrize("dtype", ["object", "string"])
def test_hostile_corpus_through_every_text_path(report_folder, tmp_path, dtype):
    data = hostile_tables(report_folder, dtype)
    page = tmp_path / "report.html"
    build_map(data).save(str(page))
    got = _open_and_collect(page)
    _check_no_payload_ran(got, JOINED)
    t = _T[data.language]
    for role in ("units", "pass_fail", "population", "facilities", "isochrones", "sites"):
        assert got[f"{role}:count"] > 0, role  # the map still draws every layer
    where = {
        ("facilities", "tooltip", "name"): lambda s: s in got["facilities:tooltip"],
        ("facilities", "popup", "name"): lambda s: s in got["facilities:popup"],
        ("facilities", "popup", "address"): lambda s: f"{t['address']}: {s}" in got["facilities:popup"],
        ("units", "tooltip", "unit"): lambda s: s in got["units:tooltip"],
        ("units", "tooltip", "district"): lambda s: s in got["units:tooltip"],
        ("pass_fail", "tooltip", "unit"): lambda s: s in got["pass_fail:tooltip"],
        ("pass_fail", "tooltip", "status"): lambda s: s in got["pass_fail:tooltip"],
        ("pass_fail", "tooltip", "preset label"): lambda s: JOINED in got["pass_fail:tooltip"],
        ("population", "tooltip", "unit"): lambda s: s in got["population:tooltip"],
        ("page", "title", "study title"): lambda s: got["title"] == JOINED,
        ("panel", "h3", "study title"): lambda s: got["panel_h3"] == JOINED,
        ("panel", "h4", "preset title"): lambda s: any(h.endswith(": " + JOINED) for h in got["panel_h4"]),
        ("panel", "td", "preset label"): lambda s: JOINED in got["panel_td"],
        ("panel", "title attribute", "source"): lambda s: JOINED in got["panel_titles"],
        ("panel", "td", "gap text"): lambda s: JOINED in got["panel_td"],
        ("panel", "li", "worst unit"): lambda s: f"{JOINED} ({JOINED}): {JOINED}" in got["panel_li"],
        ("panel", "li", "estimate note"): lambda s: any(f"{JOINED}: {JOINED}" in li for li in got["panel_li"]),
        ("panel", "li", "siting model"): lambda s: any(f"; {JOINED}, {JOINED})" in li for li in got["panel_li"]),
    }
    missing = [(path, s) for path in TABLE_PATHS for s in HOSTILE if not where[path](s)]
    assert missing == []
    n = len(HOSTILE) * len(TABLE_PATHS)
    line = (f"hostile corpus ({dtype} columns): {len(HOSTILE)} strings x {len(TABLE_PATHS)} text paths = {n}, "
            "all shown as text, none ran, every layer drawn")
    print(line)
    MUST_SHOW.append(line)
    assert len(HOSTILE) >= 20 and n >= 20 * 18


@needs_browser
def test_report_in_headless_chromium(report_folder):
    """The page a run writes: layers, the panel's numbers, and the hostile names, addresses, district
    names and title that went through the real pipeline (pandas 3 ``str`` columns)."""
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
        # layers shown by default are drawn (on a canvas: count Leaflet's layers, not DOM elements)
        drawn = driver.execute_script("""const map = window[document.querySelector('.folium-map').id];
            let n = 0; map.eachLayer(() => n++);
            const shown = Object.values(window.circlesLayers).filter(fg => map.hasLayer(fg));
            return [n, shown.length, shown.every(fg => fg.getLayers().length > 0)];""")
        assert drawn[0] > 100 and drawn[1] >= 8 and drawn[2], drawn
        # the summary panel shows exactly the numbers in summary.json
        measured = driver.execute_script(
            "return [...document.querySelectorAll('#circles-summary tr.target-row td.measured')].map(t => t.innerText)")
        for cell, row in zip(measured, summary["targets"]["study"], strict=True):
            m = row["measured"]
            expect = fmt_measured(m, row["indicator"])  # the one rounding rule (tests/test_trust.py checks it by hand)
            assert cell == expect
        cov_cells = driver.execute_script(
            "return [...document.querySelectorAll('#circles-summary table.coverage td')].map(t => t.innerText)")
        for g in ("elderly", "infants"):
            for t in summary["thresholds_min"]:
                assert fmt_pct(summary['coverage'][g][f'{t:g}min']) in cov_cells
        driver.save_screenshot(str(report_folder / "screenshot.png"))
        assert (report_folder / "screenshot.png").stat().st_size > 50_000
    finally:
        driver.quit()
    got = _open_and_collect(report_folder / "report.html")
    _check_no_payload_ran(got, STUDY_TITLE)
    assert got["panel_h3"] == STUDY_TITLE
    addr = _T[summary["language"]]["address"]
    for s in HOSTILE:
        assert s in got["facilities:tooltip"] and s in got["facilities:popup"]
        assert f"{addr}: {s}" in got["facilities:popup"]
    parents = set(read_report_data(report_folder).units["parent"]) - {""}
    assert parents and parents <= set(HOSTILE) and parents <= set(got["units:tooltip"])
    # nothing in the page points at the internet except plain links
    html = (report_folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', html)


@needs_browser
def test_batch_index_shows_hostile_area_names(tmp_path):
    areas = HOSTILE
    table = pd.DataFrame({"area": pd.Series(areas, dtype=object), "folder": [f"areas/a{i}" for i in range(len(areas))],
                          "status": ["ok"] * (len(areas) - 1) + ["failed"],
                          "note": pd.Series(cycle(len(areas) + 1)[1:], dtype="string")})
    page = tmp_path / "index.html"
    page.write_text(_index_html(JOINED, table), encoding="utf-8")
    driver = shot.open_page(page, timeout_s=0)
    try:
        got = driver.execute_script("""return {title: document.title, h1: document.querySelector('h1').textContent,
            cells: [...document.querySelectorAll('td')].map(e => e.textContent),
            links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href')),
            pwned: window.__pwned === undefined ? null : String(window.__pwned),
            injected: document.querySelectorAll('img, svg, iframe, details, [onmouseover]').length
                + [...document.querySelectorAll('style')].filter(s => s.textContent.includes('display:none')).length}""")
    finally:
        driver.quit()
    assert got["pwned"] is None and got["injected"] == 0
    assert got["title"] == JOINED and got["h1"] == JOINED
    assert set(areas) <= set(got["cells"]) and set(table["note"]) <= set(got["cells"])
    assert all(link.startswith("areas/") and link.endswith("/report.html") for link in got["links"])
    print(f"batch index: {len(areas)} hostile area names + {len(areas)} cells + title, shown as text")
