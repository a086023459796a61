"""The what-if keeps its choice (issue 22): the URL fragment restores the chosen sites on load, and
the exported CSV / GeoJSON hold exactly the chosen sites.

Oracles: the what-if payload itself (names, kinds, capacities), circles.chinacoords (GCJ-02, itself
tested against prcoords) and circles.whatif.evaluate, the Python twin of the page's engine, for
each site's gain.
"""

from __future__ import annotations

import base64
import csv
import importlib.util
import io
import json
import time

import numpy as np
import pytest

from circles.chinacoords import wgs84_to_gcj02
from circles.chosen import chosen_pairs, read_chosen_sites
from circles.errors import InputFileError
from circles.whatif import evaluate
from conftest import ROOT

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)
needs_browser = pytest.mark.skipif(not shot.browser_available(),
                                   reason="needs Debian chromium + chromium-driver (.ci/run installs them)")

COLUMNS = "candidate_index,name,kind,capacity,lon_wgs84,lat_wgs84,lon_gcj02,lat_gcj02,gain".split(",")

PANEL = """return {
    cov: [...document.querySelectorAll('td.whatif-cov')].map(t => t.innerText),
    targets: [...document.querySelectorAll('tr.whatif-target')].map(r => r.innerText),
    units: [...document.querySelectorAll('li.whatif-unit')].map(li => li.innerText),
    count: document.getElementById('circles-whatif-count').innerText};"""


def _click_candidates(driver, indices, kind) -> None:
    """Choose grid candidates like a user: pick the kind, zoom to each, click its circle."""
    driver.execute_script("""const s = document.getElementById('circles-whatif-kind'); s.value = arguments[0];
        s.dispatchEvent(new Event('change'));""", kind)
    for i in indices:
        driver.execute_script("""const m = window[document.querySelector('.folium-map').id];
            const C = JSON.parse(document.getElementById('circles-planner-data').textContent).whatif.candidates;
            m.setView([C.lat[arguments[0]], C.lon[arguments[0]]], 19, {animate: false});""", i)
        pt = driver.execute_script("""const m = window[document.querySelector('.folium-map').id];
            const C = JSON.parse(document.getElementById('circles-planner-data').textContent).whatif.candidates;
            const p = m.latLngToContainerPoint([C.lat[arguments[0]], C.lon[arguments[0]]]);
            const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y];""", i)
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        ab = ActionBuilder(driver)  # a real mouse click at the candidate's pixel (the circles are on a canvas)
        ab.pointer_action.move_to_location(int(round(pt[0])), int(round(pt[1])))
        ab.pointer_action.click()
        ab.perform()
        ActionChains(driver).reset_actions()


def _fetch(driver, element_id: str) -> str:
    return driver.execute_async_script("""const done = arguments[arguments.length - 1];
        fetch(document.getElementById(arguments[0]).href).then(r => r.text()).then(done, e => done('ERR ' + e));""",
                                       element_id)


@needs_browser
def test_fragment_restores_the_choice_and_the_files_hold_it(demo_run, tmp_path):
    res, folder = demo_run
    payload = json.loads((folder / "whatif.json").read_text(encoding="utf-8"))
    c = payload["candidates"]
    grid = [i for i in range(len(c["kind"])) if not c["suggested"][i]]
    suggested = [i for i in range(len(c["kind"])) if c["suggested"][i]]
    assert len(grid) > 10 and suggested
    driver = shot.open_page(folder / "report.html")
    try:
        shot.click_suggested_sites(driver)
        # two grid candidates as nurseries (the kind chosen in the select box)
        picks = [grid[3], grid[len(grid) // 2]]
        _click_candidates(driver, picks, "nursery")
        frag = driver.execute_script("return location.hash")
        chosen = sorted(tuple(x) for x in driver.execute_script("return window.circlesWhatIf.chosen()"))
        want = sorted([(i, c["kind"][i]) for i in suggested] + [(i, "nursery") for i in picks])
        assert chosen == want
        assert frag.startswith("#sites=") and all(f"{i}:nursery" in frag for i in picks)
        panel = driver.execute_script(PANEL)
        after = driver.execute_script("""return [...document.querySelectorAll('td.whatif-cov')].map(
            t => [t.dataset.group, t.dataset.min, parseFloat(t.dataset.after)])""")
        text = _fetch(driver, "circles-whatif-csv")
        gj = json.loads(_fetch(driver, "circles-whatif-geojson"))

        # the exported CSV: one row per chosen site, the columns the CLI reads back
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        assert list(rows[0].keys()) == COLUMNS
        assert sorted((int(r["candidate_index"]), r["kind"]) for r in rows) == want
        ptext = json.loads((folder / "report.html").read_text(encoding="utf-8").split(
            'id="circles-planner-data">', 1)[1].split("</script>", 1)[0].replace("\\u003c", "<"))
        page_names = ptext["whatif"]["candidates"]["name"]
        lon, lat = np.array(c["lon"]), np.array(c["lat"])  # the payload's WGS84
        before = evaluate(payload, [])
        for r in rows:
            i, kind = int(r["candidate_index"]), r["kind"]
            assert r["name"] == page_names[i]
            cap = c["capacity"][i] if c["kind"][i] == kind and c["capacity"][i] else payload["kinds"][kind]["capacity"]
            assert float(r["capacity"]) == cap
            assert float(r["lon_wgs84"]) == pytest.approx(lon[i], abs=2e-6)
            assert float(r["lat_wgs84"]) == pytest.approx(lat[i], abs=2e-6)
            gx, gy = wgs84_to_gcj02(lon[i], lat[i])
            assert float(r["lon_gcj02"]) == pytest.approx(float(gx), abs=2e-6)
            assert float(r["lat_gcj02"]) == pytest.approx(float(gy), abs=2e-6)
            assert abs(float(r["lon_gcj02"]) - float(r["lon_wgs84"])) > 1e-3  # Wuhan: the offset is real
            g = payload["kind_serves"][kind]
            tot = float(np.frombuffer(base64.b64decode(payload["weights"][g]), "<f4").astype(float).sum())
            key = f"{payload['siting_threshold_s'] / 60:g}min"
            alone = evaluate(payload, [(i, kind)])
            assert int(r["gain"]) == pytest.approx((alone["coverage"][g][key] - before["coverage"][g][key]) * tot, abs=1)
        # read back in Python (circles.chosen, what `circles suggest --sites` reads): the same sites,
        # and scored by the Python engine they give the page's after-state
        (tmp_path / "chosen_sites.csv").write_text(text, encoding="utf-8")
        back = read_chosen_sites(tmp_path / "chosen_sites.csv", payload)
        assert sorted(chosen_pairs(back)) == want
        scored = evaluate(payload, chosen_pairs(back))
        for g, m, v in after:
            assert v == pytest.approx(scored["coverage"][g][f"{float(m):g}min"], abs=1e-6)
        assert [f["properties"]["candidate_index"] for f in gj["features"]] == [int(r["candidate_index"]) for r in rows]
        assert all(f["geometry"]["coordinates"] == [f["properties"]["lon_wgs84"], f["properties"]["lat_wgs84"]]
                   for f in gj["features"])

        # a bookmark: a new page opened at the link with the fragment chooses the same and shows the same
        url = driver.current_url
        assert url.endswith(frag)
    finally:
        driver.quit()
    driver = shot.open_page(folder / "report.html")
    try:
        driver.get(url)
        for _ in range(50):
            if driver.execute_script("return window.circlesPlanner && window.circlesPlanner.ready"):
                break
            time.sleep(0.2)
        again = sorted(tuple(x) for x in driver.execute_script("return window.circlesWhatIf.chosen()"))
        assert again == want
        assert driver.execute_script(PANEL) == panel
        assert driver.execute_script("return location.hash") == frag
        assert driver.execute_script("return document.getElementById('circles-whatif-link-note').textContent") == ""
        # a damaged link: the entries it cannot use are left out, with the count shown
        driver.execute_script("location.hash = arguments[0]", f"#sites={suggested[0]},99999,{grid[0]}:nope,x")
        time.sleep(0.3)
        assert [tuple(x) for x in driver.execute_script("return window.circlesWhatIf.chosen()")] == \
            [(suggested[0], c["kind"][suggested[0]])]
        note = driver.execute_script("return document.getElementById('circles-whatif-link-note').textContent")
        assert "3" in note
        # clearing empties the fragment and removes the files
        driver.find_element("id", "circles-whatif-clear").click()
        assert driver.execute_script("return location.hash") == ""
        assert driver.execute_script("return document.getElementById('circles-whatif-csv')") is None
    finally:
        driver.quit()


HEADER = ",".join(COLUMNS)


@pytest.mark.parametrize("rows, match", [
    (["x,a,nursery,150,114.2,30.6,114.2,30.6,1"], r"row 2, column candidate_index: 'x' is not a candidate number"),
    (["0,a,spa,150,LON,LAT,0,0,1"], r"row 2, column kind: 'spa' is not a kind this run can site"),
    (["0,a,nursery,150,LON,LAT,0,0,1", "0,b,nursery,150,LON,LAT,0,0,1"], r"row 3, column candidate_index: .*also on row 2"),
    (["999999,a,nursery,150,0,0,0,0,1"], r"row 2, column candidate_index: 999999 is past this run's"),
    (["0,a,nursery,150,114.0,30.0,0,0,1"], r"row 2, column lon_wgs84: candidate 0 is at .*another study or run"),
])
def test_chosen_csv_bad_rows_are_named(demo_run, tmp_path, rows, match):
    _, folder = demo_run
    payload = json.loads((folder / "whatif.json").read_text(encoding="utf-8"))
    lon, lat = payload["candidates"]["lon"][0], payload["candidates"]["lat"][0]
    f = tmp_path / "chosen.csv"
    f.write_text("\n".join([HEADER] + [r.replace("LON", f"{lon:.6f}").replace("LAT", f"{lat:.6f}") for r in rows]),
                 encoding="utf-8")
    with pytest.raises(InputFileError, match=match):
        read_chosen_sites(f, payload)


def test_chosen_csv_without_the_key_columns(tmp_path):
    f = tmp_path / "chosen.csv"
    f.write_text("name,gain\na,1\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no column candidate_index, kind"):
        read_chosen_sites(f)


def test_chosen_csv_names_lose_the_guard_the_page_put_on_them(tmp_path):
    """planner.js puts ``'`` before a name a spreadsheet would run (= + - @ tab CR); reading it back takes it off."""
    names = ["=1+1", "+x", "-y", "@z", "\tt", "\rr", "'plain", "'", "ok"]
    f = tmp_path / "chosen.csv"
    lines = ["candidate_index,kind,name"]
    for i, n in enumerate(names):
        guarded = "'" + n if n[:1] in ("=", "+", "-", "@", "\t", "\r") else n  # the page's rule, written out here
        lines.append(f'{i},nursery,"{guarded}"')
    f.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    back = read_chosen_sites(f)
    assert list(back["name"]) == names
