"""Issue 19 (trust): nothing lost without a word, and numbers that agree wherever they are shown.

Every case runs the real pipeline on the repository's study files (tests/data/community_polygons.toml
with its bow-tie, tests/data/community/study.toml with a total raster, the demo). Oracles: a run of
the same study with the bow-tie drawn as the square it was meant to be (the people it leaves out),
the projected area of the drawn triangles, the study row's capacity (the districts' sums), hand-worked
decimal rounding, and the Python after-state (the page's what-if).
"""

from __future__ import annotations

import csv
import html
import importlib.util
import json
import logging
import re
import shutil

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from circles.display import fixed, fmt_measured, fmt_pct
from circles.errors import InputFileError
from circles.methods import method_lines
from circles.pipeline import run
from circles.stages.load import load_inputs
from circles.study import load_study
from conftest import DEMO, ROOT, TESTDATA

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)
needs_browser = pytest.mark.skipif(not shot.browser_available(),
                                   reason="needs Debian chromium + chromium-driver (.ci/run installs them)")

BOWTIE = ("420103003", "北湖社区")
LONG_NAME = "长" * 4990 + "名字很长的社区末尾"  # 4,999 characters


def polygons_study(tmp_path, *, units: dict | None = None, parents: bool = True, extra: str = "") -> object:
    """tests/data/community_polygons.toml copied to ``tmp_path`` with absolute paths; ``units`` replaces
    its units file (a GeoJSON dict); without ``parents`` the study has no street/district parents."""
    text = (TESTDATA / "community_polygons.toml").read_text(encoding="utf-8")
    text = re.sub(r'^(path|folder|parents) = "([^"]+)"',
                  lambda m: f'{m.group(1)} = {json.dumps(str((TESTDATA / m.group(2)).resolve()))}', text, flags=re.M)
    if units is not None:
        (tmp_path / "units.geojson").write_text(json.dumps(units, ensure_ascii=False), encoding="utf-8")
        text = text.replace(json.dumps(str((TESTDATA / "units_invalid.geojson").resolve())),
                            json.dumps(str(tmp_path / "units.geojson")))
    if not parents:
        text = re.sub(r"^parent(s|_name_column|s_source|s_licence) = .*$", "", text, flags=re.M)
    text = text.replace("[units]\n", "[units]\n" + extra)
    (tmp_path / "study.toml").write_text(text, encoding="utf-8")
    return load_study(tmp_path / "study.toml")


def units_file(**changes) -> dict:
    """tests/data/units_invalid.geojson with some features' name or ring replaced (keyed by code)."""
    data = json.loads((TESTDATA / "units_invalid.geojson").read_text(encoding="utf-8"))
    for f in data["features"]:
        for key, value in changes.get(f["properties"]["code"], {}).items():
            if key == "ring":
                f["geometry"]["coordinates"] = [value]
            else:
                f["properties"][key] = value
    return data


SQUARE = [[114.28, 30.58], [114.29, 30.58], [114.29, 30.59], [114.28, 30.59], [114.28, 30.58]]
XINHUA_BOWTIE = [[114.27, 30.58], [114.28, 30.59], [114.28, 30.58], [114.27, 30.59], [114.27, 30.58]]


@pytest.fixture(scope="module")
def polygons_run(tmp_path_factory):
    """The bow-tie study run whole, with a 4,999-character community name and no parents."""
    d = tmp_path_factory.mktemp("bowtie")
    study = polygons_study(d, units=units_file(**{"420103001": {"社区名称": LONG_NAME}}), parents=False)
    res, folder = run(study, folder=d / "out")
    return res, folder


# ---------------------------------------------------------------- 1. the bow-tie is reported


def test_bow_tie_repair_named_in_log_summary_and_report(polygons_run, tmp_path, caplog):
    res, folder = polygons_run
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    lines = [w for w in summary["warnings"] if BOWTIE[0] in w]
    assert len(lines) == 1 and BOWTIE[1] in lines[0] and "lon 114.285000, lat 30.585000" in lines[0]
    rep = [r for r in summary["units_repaired"] if r["unit_id"] == BOWTIE[0]][0]
    # oracle (area): the drawn outline encloses the square's left and right triangles, half the square
    square = gpd.GeoSeries([shapely.Polygon(SQUARE)], crs=4326).to_crs(res.crs).iloc[0]
    assert rep["area_before_m2"] == pytest.approx(square.area / 2, rel=1e-3)
    assert rep["area_after_m2"] == pytest.approx(square.area / 2, rel=1e-3)
    assert f"{rep['area_before_m2']:,.0f} m²" in lines[0]
    assert rep["dropped_area_m2"] == pytest.approx(0, abs=1.0) and rep["people_left_out"] == 0  # make_valid keeps both lobes
    # oracle (people): the same study with the square drawn as meant holds exactly the hull's people more
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with caplog.at_level(logging.WARNING, logger="circles"):
        bowtie = load_inputs(polygons_study(tmp_path / "a", units=units_file(), parents=False))
    meant = load_inputs(polygons_study(tmp_path / "b", units=units_file(**{"420103003": {"ring": SQUARE}}),
                                       parents=False))
    gained = meant.points["total"].sum() - bowtie.points["total"].sum()
    assert gained > 1000
    assert rep["people_in_hull_no_unit"] == pytest.approx(gained, rel=1e-9)
    assert f"{gained:,.0f} people live inside the outline's convex hull" in lines[0]
    assert meant.repairs == () and any(BOWTIE[0] in r.getMessage() for r in caplog.records)
    total = summary["units_repaired"][-1]
    assert total["unit_id"] is None and total["people_in_no_unit"] == summary["population"]["outside_units_total"]
    warned = [w for w in summary["warnings"] if "kindergarten" not in w]  # that rule's own: tests/test_leadership.py
    assert len(warned) == len([w for w in summary["warnings"] if "invalid outline" in w]) + \
        bool(total["people_in_no_unit"] or total["people_left_out"])
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert html.escape(lines[0]) in page  # the report's sources-and-warnings list


#: the square drawn, then an inner square circled again from its corner: make_valid makes the inner square a hole
LOOP = SQUARE + [[114.2825, 30.5825], [114.2875, 30.5825], [114.2875, 30.5875], [114.2825, 30.5875], [114.2825, 30.5825],
                 [114.28, 30.58]]


def test_people_in_the_part_a_repair_leaves_out_are_counted(tmp_path):
    """Oracle: the same study with the square drawn once holds exactly the left-out part's people more."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    loop = load_inputs(polygons_study(tmp_path / "a", units=units_file(**{"420103003": {"ring": LOOP}})))
    meant = load_inputs(polygons_study(tmp_path / "b", units=units_file(**{"420103003": {"ring": SQUARE}})))
    rep, total = loop.repairs
    inner = gpd.GeoSeries([shapely.box(114.2825, 30.5825, 114.2875, 30.5875)], crs=4326).to_crs(loop.crs).iloc[0]
    assert rep["dropped_area_m2"] == pytest.approx(inner.area, rel=1e-6)
    gained = meant.points["total"].sum() - loop.points["total"].sum()
    assert gained > 1000 and rep["people_left_out"] == pytest.approx(gained, rel=1e-9)
    assert f"where {gained:,.0f} people live, now outside every unit" in rep["message"]
    assert total["people_left_out"] == rep["people_left_out"]
    assert f"{gained:,.0f} people live in the parts the repair left out" in total["message"]


def test_two_bow_ties_each_named_and_refuse_gives_one_line(tmp_path):
    units = units_file(**{"420103002": {"ring": XINHUA_BOWTIE}})
    (tmp_path / "r").mkdir()
    inputs = load_inputs(polygons_study(tmp_path / "r", units=units))
    named = [r for r in inputs.repairs if r["unit_id"] is not None]
    assert [(r["unit_id"], r["unit_name"]) for r in named] == [("420103002", "新华社区"), BOWTIE]
    assert [(round(r["lon"], 6), round(r["lat"], 6)) for r in named] == [(114.275, 30.585), (114.285, 30.585)]
    total = inputs.repairs[-1]  # nobody in no unit (the study area is the units' union): no total line
    assert total["unit_id"] is None and total["people_in_no_unit"] == 0 and total["message"] == ""
    assert all(f"{r['people_in_hull_no_unit']:,.0f} people live inside" in r["message"] for r in named)
    (tmp_path / "s").mkdir()
    with pytest.raises(InputFileError) as err:
        load_inputs(polygons_study(tmp_path / "s", units=units, extra='invalid = "refuse"\n'))
    msg = str(err.value)
    assert "\n" not in msg and "2 invalid unit polygons" in msg
    assert "420103002 新华社区: Self-intersection at lon 114.275000, lat 30.585000" in msg
    assert "420103003 北湖社区: Self-intersection at lon 114.285000, lat 30.585000" in msg


# ---------------------------------------------------------------- 2. districts: a correct table or none


def test_no_district_table_without_parents(polygons_run):
    res, folder = polygons_run
    assert set(res.districts.index) == {"(none)"}
    assert not (folder / "districts.csv").exists()
    assert "districts" not in pd.ExcelFile(folder / "units.xlsx").sheet_names


def test_district_capacity_adds_up_to_the_study_row(demo_run):
    res, folder = demo_run
    d = pd.read_csv(folder / "districts.csv", encoding="utf-8-sig")
    assert len(d) > 1
    o = res.overall.iloc[0]
    for c in ("beds_inside", "slots_inside", "daycare_places_inside", "pop_total", "pop_elderly"):
        assert d[c].sum() == pytest.approx(float(o[c]), rel=1e-9), c
    assert o["beds_inside"] > 0 and o["slots_inside"] > 0


# ---------------------------------------------------------------- 3. which residents, measured or estimated


def test_methods_and_headers_say_the_total_raster_was_measured(tmp_path):
    res, folder = run(load_study(TESTDATA / "community" / "study.toml"), folder=tmp_path / "out")
    s = res.summary
    assert "total" not in s["population"]["estimated"] and s["methods"]["total_file"] == "pop_total.tif"
    en = method_lines(s["methods"], "en")
    assert "Residents: the total raster pop_total.tif (measured); elderly and infants from the age-band rasters." in en
    assert not any("sum of all age-band rasters" in x for x in en)
    zh = method_lines(s["methods"], "zh")
    assert any("总人口栅格 pop_total.tif（实测）" in x for x in zh)
    head = list(pd.read_excel(folder / "units.xlsx", sheet_name="units", nrows=0).columns)
    assert "常住人口" in head and "常住人口（估算）" not in head
    infants = "婴幼儿(0-3岁，估算)" if "infants" in s["population"]["estimated"] else "婴幼儿(0-3岁)"
    assert infants in head


def test_methods_say_estimated_total_when_it_was(demo_run):
    res, _ = demo_run
    lines = method_lines(res.summary["methods"], "en")
    assert "total" in res.summary["population"]["estimated"]
    assert any(x.startswith("Residents (estimated): people aged 20+") for x in lines)
    assert not any("total raster" in x for x in lines)


# ---------------------------------------------------------------- 4. one number, one rounding

#: (value, decimals, shift, by hand): ties on the decimal digits, carries, signs, zero, tiny values
TRICKY = [(0.2475, 1, 2, "24.8"), (0.2465, 1, 2, "24.7"), (0.0005, 1, 2, "0.1"), (2.675, 2, 0, "2.68"),
          (1.005, 2, 0, "1.01"), (0.125, 2, 0, "0.13"), (-0.125, 2, 0, "-0.13"), (-0.04, 1, 0, "0.0"),
          (0.9995, 3, 0, "1.000"), (9.995, 2, 0, "10.00"), (99.95, 1, 0, "100.0"), (0.0, 1, 2, "0.0"),
          (1e-7, 2, 0, "0.00"), (0.5, 0, 0, "1"), (-2.5, 0, 0, "-3"), (0.24749999, 4, 0, "0.2475"),
          (0.12345, 4, 0, "0.1235"), (1234.5, 0, 0, "1235"), (0.015, 1, 2, "1.5"), (0.035, 1, 2, "3.5"),
          (0.5289999, 2, 0, "0.53"), (1.45, 1, 0, "1.5"), (8.345, 2, 0, "8.35"), (0.1 + 0.2, 16, 0, "0.3000000000000000")]


def test_python_rounding_by_hand():
    assert [fixed(x, nd, shift=s) for x, nd, s, _ in TRICKY] == [want for *_, want in TRICKY]
    assert fmt_pct(0.24744) == "24.7%" and fmt_pct(0.247496) == "24.8%"  # held to 4 decimals first, as summary.json
    assert fmt_measured(0.528, "slots_per_1000_total") == "0.53" and fmt_pct(None) == "–"


@needs_browser
def test_page_rounds_as_python_and_shows_one_number_per_figure(demo_run):
    res, folder = demo_run
    driver = shot.open_page(folder / "report.html")
    try:
        got = driver.execute_script("return arguments[0].map(v => CirclesWhatIf.fixed(v[0], v[1], v[2]));",
                                    [[x, nd, s] for x, nd, s, _ in TRICKY])
        assert got == [fixed(x, nd, shift=s) for x, nd, s, _ in TRICKY]
        shares = [i / 10000 + d for i in range(0, 10000, 7) for d in (0.0, 0.00005, 0.000049999)]
        page = driver.execute_script("return arguments[0].map(x => CirclesWhatIf.fmtPct(x));", shares)
        assert page == [fmt_pct(x) for x in shares]
        # the summary panel and the what-if table (no site chosen) show the same figures
        panel = driver.execute_script("""return [...document.querySelectorAll('#circles-summary table.coverage tr')]
            .slice(1).map(r => [...r.querySelectorAll('td')].slice(1).map(td => td.textContent))""")
        whatif = driver.execute_script("""return ['elderly', 'infants'].map(g =>
            [...document.querySelectorAll('td.whatif-cov[data-group="' + g + '"]')].map(td => td.textContent.split(' → ')[0]))""")
        assert panel == whatif and len(panel[0]) == 3
        want = [[fmt_pct(res.summary["coverage"][g][f"{t:g}min"]) for t in res.summary["thresholds_min"]]
                for g in ("elderly", "infants")]
        assert panel == want
        measured = driver.execute_script("""return Object.fromEntries([...document.querySelectorAll('tr.target-row')]
            .map(r => [r.dataset.indicator, r.querySelector('td.measured').firstChild.textContent]))""")
        before = driver.execute_script("""return Object.fromEntries([...document.querySelectorAll('tr.whatif-target')]
            .map(r => [r.dataset.indicator, r.querySelector('td.before').textContent]))""")
        for r in res.summary["targets"]["study"]:
            assert measured[r["indicator"]] == before[r["indicator"]] == fmt_measured(r["measured"], r["indicator"])
    finally:
        driver.quit()


# ---------------------------------------------------------------- 5. not-assessable reasons as codes


@needs_browser
def test_whatif_lifts_not_assessable_by_code_as_the_after_state(tmp_path):
    """The demo without its nurseries: slots per 1,000 is not assessable (kindergartens list no
    nursery-class places, and no nursery: code ``no_nursery_class_nor``); the suggested nurseries
    make it assessable in the pipeline's after-state, and the page's what-if gives the same."""
    d = tmp_path / "study"
    shutil.copytree(DEMO, d)
    gaz = d / "facilities_illustrative.csv"
    with gaz.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f) if r[2] != "托育机构"]
    with gaz.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    res, folder = run(load_study(d / "study.toml"), folder=tmp_path / "out")
    ind = "slots_per_1000_total"
    code = res.summary["targets"]["not_assessable_codes"][ind]
    assert code["code"] == "no_nursery_class_nor" and "nursery" in code["kinds"]
    now = {r["indicator"]: r for r in res.summary["targets"]["study"]}
    after = {r["indicator"]: r for r in res.summary["targets_after"]}
    assert now[ind]["status"] == "not assessable" and after[ind]["status"] == "fail"
    driver = shot.open_page(folder / "report.html")
    try:
        assert shot.click_suggested_sites(driver) == len(res.sites) > 0
        row = driver.execute_script("""const r = document.querySelector('tr.whatif-target[data-indicator="' + arguments[0] + '"]');
            return [r.querySelector('td.before').dataset.status, r.querySelector('td.after').dataset.status,
                    parseFloat(r.querySelector('td.after').dataset.value), r.querySelector('td.after').textContent,
                    parseFloat(r.querySelector('td.gap').dataset.gap)]""", ind)
    finally:
        driver.quit()
    assert row[0] == "not assessable" and row[1] == after[ind]["status"]
    assert row[2] == pytest.approx(after[ind]["measured"], abs=6e-4) and row[4] == after[ind]["gap"]
    assert row[3] == fmt_measured(after[ind]["measured"], ind)


# ---------------------------------------------------------------- 6. a 5,000-character community name


@needs_browser
def test_long_unit_name_is_shortened_on_the_map_and_whole_in_the_tooltip(polygons_run):
    _, folder = polygons_run
    driver = shot.open_page(folder / "report.html")
    try:
        labels = driver.execute_script("""return [...document.querySelectorAll('.circles-unit-label')]
            .map(s => [s.textContent, s.title, s.getBoundingClientRect().width])""")
        tips = driver.execute_script("""const m = window[document.querySelector('.folium-map').id], out = [];
            m.eachLayer(l => { if (l.getTooltip && l.getTooltip()) {
              l.openTooltip(); const el = l.getTooltip().getElement(); if (el) out.push(el.textContent);
              l.closeTooltip(); } });
            return out;""")
    finally:
        driver.quit()
    long = [x for x in labels if x[1] == LONG_NAME]
    assert len(long) == 1
    text, _, width = long[0]
    assert len(text) == 24 and text == LONG_NAME[:23] + "…" and width < 400
    assert any(LONG_NAME in t for t in tips)
