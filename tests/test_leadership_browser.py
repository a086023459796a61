"""The what-if round trip (issue 22): choose sites on the demo page (headless Chromium, clicked like
a user), export the CSV, and `circles suggest STUDY --sites chosen.csv` prints the page's
after-state: the same coverage cells and the same target values, as the page writes them.

The page (circles/assets/whatif.js) and the CLI (circles.chosen.after_state over
circles.whatif.evaluate) are two implementations; the test holds them to each other on a real
choice of suggested and grid sites. The legend screenshot of the demo is made the same way.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
from typer.testing import CliRunner

from circles.cli import app
from circles.i18n import t as tr
from conftest import DEMO, ROOT

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)
needs_browser = pytest.mark.skipif(not shot.browser_available(),
                                   reason="needs Debian chromium + chromium-driver (.ci/run installs them)")

# the helpers of the export test (the same clicks, the same fetch of the export link)
keep_spec = importlib.util.spec_from_file_location("test_whatif_keep", ROOT / "tests" / "test_whatif_keep.py")
keep = importlib.util.module_from_spec(keep_spec)
keep_spec.loader.exec_module(keep)

VALUE = re.compile(r"^(\d[\d,]*\.\d+%?|n/a|–)$")


def _cli_targets(text: str) -> list[str]:
    """The `after` cell of each row of the CLI's targets table (now, after, target are the first
    three value cells of a row's first line; a wrapped label's other lines hold none)."""
    table = text.split("now → after", 2)[2]
    out = []
    for ln in table.splitlines():
        cells = [c.strip() for c in re.split(r"\s{2,}", ln.strip()) if c.strip()]
        values = [c for c in cells if VALUE.match(c)]
        if len(values) >= 3:
            out.append(values[1])
    return out


@needs_browser
def test_page_csv_cli_round_trip(demo_run, tmp_path):
    res, folder = demo_run
    c = res.whatif["candidates"]
    grid = [i for i in range(len(c["kind"])) if not c["suggested"][i]]
    driver = shot.open_page(folder / "report.html")
    try:
        shot.click_suggested_sites(driver)
        keep._click_candidates(driver, [grid[2], grid[len(grid) // 3]], "nursery")
        keep._click_candidates(driver, [grid[-5]], res.study.siting.kinds[0])
        chosen = driver.execute_script("return window.circlesWhatIf.chosen()")
        page_cov = driver.execute_script("""return Object.fromEntries(['elderly', 'infants'].map(g => [g,
            [...document.querySelectorAll('td.whatif-cov')].filter(t => t.dataset.group === g).map(t => t.innerText)]))""")
        page_after = driver.execute_script("""return [...document.querySelectorAll('tr.whatif-target')]
            .map(r => r.querySelector('td.after').innerText)""")
        text = keep._fetch(driver, "circles-whatif-csv")
    finally:
        driver.quit()
    assert len(chosen) >= 3
    (tmp_path / "chosen_sites.csv").write_text(text, encoding="utf-8")
    r = CliRunner().invoke(app, ["suggest", str(DEMO / "study.toml"), "--sites", str(tmp_path / "chosen_sites.csv")])
    assert r.exit_code == 0, r.output
    assert f"{len(chosen)} chosen sites" in r.stdout
    # coverage: every `now → after` cell of the page, in the same order, in the CLI's table
    for g in ("elderly", "infants"):
        word = tr(f"group.{g}", res.study.language)
        row = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith(word))
        assert re.findall(r"\d+\.\d% → \d+\.\d%", row) == page_cov[g], (g, row, page_cov[g])
    # targets: the after value of every indicator (the page writes a not-assessable one as its status word)
    cli = _cli_targets(r.stdout)
    assert len(cli) == len(page_after) and any(re.match(r"^\d", p) for p in page_after)
    for p, q in zip(page_after, cli):
        assert p == q or (q == "n/a" and not re.match(r"^\d", p)), (page_after, cli)


@needs_browser
def test_filtered_targets_tooltips_and_pass_fail_follow_the_whatif(tmp_path):
    """抚州's old / new area targets recomputed in the page; unit tooltips and the pass/fail layer after
    the suggested sites. Oracle: the pipeline's after-state (targets_after, units.csv *_after)."""
    import pandas as pd

    from circles.pipeline import run
    from circles.report import _ramp
    from circles.study import load_study
    from test_leadership import attribute_study

    res, out = run(load_study(attribute_study(tmp_path, "fuzhou")), folder=tmp_path / "o")
    after = {r["indicator"]: r for r in res.summary["targets_after"]}
    units = pd.read_csv(out / "units.csv", dtype={"unit_id": str}, encoding="utf-8-sig").set_index("unit_id")
    filtered = [i["id"] for i in res.preset["indicators"] if i.get("where")]
    driver = shot.open_page(out / "report.html")
    try:
        shot.click_suggested_sites(driver)
        rows = driver.execute_script("""return Object.fromEntries([...document.querySelectorAll('tr.whatif-target')]
            .map(r => [r.dataset.indicator, [r.querySelector('td.after').dataset.value,
                       r.querySelector('td.after').dataset.status, r.querySelector('td.gap').innerText]]))""")
        # switch on the infants' coverage and the pass/fail layers (drawn when first shown)
        got = driver.execute_script("""
            const P = JSON.parse(document.getElementById('circles-data').textContent);
            const m = window[document.querySelector('.folium-map').id];
            const keys = Object.keys(P.layers).filter(k => P.layers[k].whatif_passfail ||
                (P.layers[k].whatif_key || '').startsWith('infants'));
            keys.forEach(k => m.addLayer(window.circlesLayers[k]));
            const out = {};
            (window.circlesUnitLayers || []).forEach(e => {
                const s = e.spec, kind = s.whatif_passfail ? 'passfail' : s.whatif_key;
                e.parts.forEach(p => {
                    let fill = null; p[1].eachLayer(l => { fill = l.options.fillColor; });
                    const tip = window.circlesTipExtra(s, p[0]);
                    out[kind + '|' + s.unit_id[p[0]]] = [fill, tip ? tip[0].v[0] : null];
                });
            });
            return out;""")
    finally:
        driver.quit()
    for iid in filtered:
        if after[iid]["status"] == "not assessable":
            continue
        value, status, gap = rows[iid]
        assert float(value) == pytest.approx(after[iid]["measured"], abs=1e-4) and status == after[iid]["status"]
        assert "not recomputed" not in gap
    n = len([i for i in res.preset["indicators"] if f"status_{i['id']}" in units])
    tm = max(res.summary["thresholds_min"])
    for uid, u in units.iterrows():
        fill, tip = got[f"passfail|{uid}"]
        assert fill == _ramp(1 - u["n_fail_after"] / n), uid
        assert tip == f"{u['n_fail']:.0f} → {u['n_fail_after']:.0f}"
        _, tip = got[f"infants_{tm:g}|{uid}"]
        assert tip == f"{100 * u[f'cov_infants_any_{tm:g}min']:.1f}% → {100 * u[f'cov_infants_any_{tm:g}min_after']:.1f}%"
