"""Issue 22, the leadership's side: the CLI in names, `suggest --sites`, the legend, rules that say
what they leave out, credits that name the files read.

Real runs on the community study (tests/data/community_polygons.toml) and the demo. Oracles: the
study's own files read independently (the units GeoJSON's names, the GBK gazetteer minus
rejects.csv, the rasters' GeoTIFF tags by rasterio, the population folder's glob), the pipeline's
after-state computed by the siting stage (for `--sites` with the suggested sites), and
circles.chinacoords (tested against prcoords) for GCJ-02 columns.
"""

from __future__ import annotations

import csv
import json
import re

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
from rich.cells import cell_len
from typer.testing import CliRunner

from circles.chinacoords import wgs84_to_gcj02
from circles.cli import app
from circles.i18n import kind_name
from circles.kinds import KINDS
from conftest import DEMO, TESTDATA

runner = CliRunner()
STUDY = TESTDATA / "community_polygons.toml"


def _names() -> dict[str, str]:
    """unit code -> name, read from the units file itself."""
    g = gpd.read_file(TESTDATA / "units_invalid.geojson")
    code = next(c for c in g.columns if g[c].astype(str).str.fullmatch(r"\d{9}").all())
    name = next(c for c in g.columns if g[c].astype(str).str.endswith("社区").all())
    return dict(zip(g[code].astype(str), g[name].astype(str)))


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    """`circles run` on the community study: the page, report.pdf and the outputs."""
    out = tmp_path_factory.mktemp("lead") / "community"
    r = runner.invoke(app, ["run", str(STUDY), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    return out, r.output


def _blob(html: str, key: str) -> dict:
    """An inert JSON blob of the page (small studies: not gzipped)."""
    m = re.search(r'<script type="application/json" id="' + key + r'">(.*?)</script>', html, flags=re.S)
    return json.loads(m.group(1))


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_run_writes_the_brief_beside_the_page(community):
    out, output = community
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert f"wrote {out}/report.html and report.pdf" in output


def test_score_names_units_with_the_code_beside_and_fits_80_columns(tmp_path):
    r = runner.invoke(app, ["score", str(STUDY), "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    names = _names()
    lines = _lines(r.stdout)
    for code, name in names.items():  # every unit: its name and its code on one row, in the units table
        assert any(name in ln and code in ln for ln in lines), (name, code)
    assert "()" not in r.stdout and "…" not in r.stdout  # no empty brackets, no column cut short
    assert max(cell_len(ln) for ln in r.stdout.splitlines()) <= 80
    # the worst units are named: the summary's three worst, by name
    s = json.loads((tmp_path / "s" / "summary.json").read_text(encoding="utf-8"))
    worst = r.stdout.split("worst units", 1)[1]
    for w in s["worst_units"]:
        assert names[str(w["unit_id"])] in worst


def _gcj_study(tmp_path):
    """The community study with its gazetteer declared GCJ-02 (paths made absolute)."""
    text = STUDY.read_text(encoding="utf-8")
    for key in ("path", "folder", "parents"):
        text = re.sub(rf'^{key} = "(.+?)"', lambda m, k=key: f'{k} = "{(TESTDATA / m.group(1)).resolve().as_posix()}"',
                      text, flags=re.M)
    text = text.replace('[[facilities]]\n', '[[facilities]]\ncoords = "gcj02"\n')
    p = tmp_path / "gcj.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_suggest_prints_names_gap_and_both_coordinate_systems(tmp_path):
    r = runner.invoke(app, ["suggest", str(_gcj_study(tmp_path)), "--out", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    out = r.stdout + r.stderr
    assert out.count("WGS84") >= 2 and out.count("GCJ-02") >= 2  # lon and lat headers of both systems
    assert not re.search(r"\d[eE]-\d", out)  # no 2.5e-16 gaps
    assert re.search(r"optimal \(gap < 0\.01%\)|gap \d+\.\d\d%|heuristic", out)
    sites = gpd.read_file(tmp_path / "g" / "coverage.gpkg", layer="suggested_sites").to_crs(4326)
    for x, y in zip(sites.geometry.x, sites.geometry.y):  # each row: WGS84 then the GCJ-02 of it
        gx, gy = wgs84_to_gcj02(x, y)
        assert re.search(rf"{x:.6f}\s+{y:.6f}\s+{float(gx):.6f}\s+{float(gy):.6f}", out), (x, y)
    # "n units improved", from the points: units where a cell's infant time fell within the threshold
    pts = gpd.read_file(tmp_path / "g" / "coverage.gpkg", layer="population_points")
    t = 15 * 60
    newly = pts[(pts["time_s_infants_any_after"] <= t) & ~(pts["time_s_infants_any"] <= t) & (pts["infants"] > 0)]
    n = newly["unit_id"].replace("", pd.NA).dropna().nunique()
    assert f"{n} units improved" in out
    names = _names()
    for code in newly["unit_id"].unique():
        if code:
            assert any(names[code] in ln and code in ln for ln in _lines(out))


def _write_chosen(path, payload, pairs):
    c = payload["candidates"]
    cols = "candidate_index,name,kind,capacity,lon_wgs84,lat_wgs84,lon_gcj02,lat_gcj02,gain".split(",")
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i, k in pairs:
            w.writerow([i, c["name"][i], k, "", c["lon"][i], c["lat"][i], "", "", ""])


def _cov_cells(text: str) -> dict[str, list[str]]:
    """The `now → after` cells of the coverage table, per group row."""
    out = {}
    for ln in text.splitlines():
        cells = re.findall(r"\d+\.\d% → \d+\.\d%", ln)
        if cells and ("elderly" in ln or "infants" in ln):
            out["elderly" if "elderly" in ln else "infants"] = cells
    return out


def test_suggest_sites_of_the_suggested_sites_equals_the_runs_after_state(community, tmp_path):
    """Oracle: choosing exactly the suggested sites is the siting stage's own after-state."""
    out, _ = community
    payload = json.loads((out / "whatif.json").read_text(encoding="utf-8"))
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    c = payload["candidates"]
    pairs = [(i, c["kind"][i]) for i in range(len(c["kind"])) if c["suggested"][i]]
    assert pairs
    _write_chosen(tmp_path / "chosen.csv", payload, pairs)
    r = runner.invoke(app, ["suggest", str(STUDY), "--sites", str(tmp_path / "chosen.csv")])
    assert r.exit_code == 0, r.output
    cells = _cov_cells(r.stdout)
    for g in ("elderly", "infants"):
        want = [f"{100 * s['coverage'][g][f'{m:g}min']:.1f}% → {100 * s['coverage_after'][g][f'{m:g}min']:.1f}%"
                for m in s["thresholds_min"]]
        assert cells[g] == want, (g, cells[g], want)
    status = {r["indicator"]: r["status"] for r in s["targets_after"]}
    table = r.stdout.split("now → after", 2)[2]
    labels = {i["id"]: i["label_en"] for i in s["targets"]["preset_data"]["indicators"]}
    for iid, st in status.items():
        first = labels[iid].split()[0]
        row = next(ln for ln in table.splitlines() if ln.strip().startswith(first))
        assert st in row, (iid, st, row)
    # the sites are named as the page names them
    for i, _ in pairs:
        assert c["name"][i].split()[0] in r.stdout


def test_suggest_sites_refuses_a_bad_file_and_other_siting_options(community, tmp_path):
    out, _ = community
    payload = json.loads((out / "whatif.json").read_text(encoding="utf-8"))
    _write_chosen(tmp_path / "chosen.csv", payload, [(0, payload["candidates"]["kind"][0])])
    r = runner.invoke(app, ["suggest", str(STUDY), "--sites", str(tmp_path / "chosen.csv"), "--n", "3"])
    assert r.exit_code == 1 and "--sites" in r.output and "--n" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text((tmp_path / "chosen.csv").read_text(encoding="utf-8-sig").replace(
        "\n0,", "\n9999,"), encoding="utf-8")
    r = runner.invoke(app, ["suggest", str(STUDY), "--sites", str(bad)])
    assert r.exit_code == 1
    assert f"{bad} row 2, column candidate_index" in " ".join(r.output.split())


def test_kindergarten_places_left_out_are_said(community):
    """Warning, methods line and popup, with the count read from the gazetteer itself."""
    out, output = community
    g = pd.read_csv(TESTDATA / "gazetteer_gbk.csv", encoding="gbk", dtype=str)
    rejected = set(pd.read_csv(out / "rejects.csv", dtype=str, encoding="utf-8-sig")["row"].astype(int))  # header = row 1
    g["row"] = range(2, len(g) + 2)
    kg = g[g["类型"].str.contains("幼儿园", na=False) & ~g["row"].isin(rejected)]
    places = pd.to_numeric(kg["托位数"], errors="coerce")
    n, k = int(places[places > 0].sum()), int((places > 0).sum())
    assert k >= 1
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    want = f"{n} places in the slots column of {k} kindergarten(s) are not counted as under-3 slots"
    assert any(want in w for w in s["warnings"])
    assert want in " ".join(output.split())  # the CLI prints the run's warnings
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"{n} places in the slots column of {k} kindergarten(s) in this study are not counted" in html  # methods
    payload = _blob(html, "circles-data")
    popups = [col for lay in payload["layers"].values() for col in lay.get("popup", [])]
    col = next(c for c in popups if c["label"] == "places (slots column of the file)")
    vals = col.get("v") or [col["levels"][i] for i in col["codes"]]
    assert sorted(v for v in vals if v) == sorted(f"{p:.0f} (not counted as under-3 slots: a kindergarten counts "
                                                  f"only its nursery-class (tuoban) places)" for p in places[places > 0])


def test_credits_name_the_rasters_read_and_their_tags(community):
    out, _ = community
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    pop = next(c for c in s["credits"] if c["role"] == "population")
    files = sorted((DEMO / "pop").glob("pop_*_*_wuhan_hankou.tif"))
    assert sorted(pop["files"]) == [f.name for f in files]
    with rasterio.open(files[0]) as src:
        tags = src.tags()
    assert pop["tags"] == {k: tags[k] for k in ("SOURCE", "LICENSE") if k in tags}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"{len(files)} rasters {files[0].name} … {files[-1].name}" in html
    assert "Population: macau" not in html and "pop (source not stated)" not in html


def test_legend_lists_what_is_drawn_and_no_base_layer_offline(community, tmp_path):
    out, _ = community
    html = (out / "report.html").read_text(encoding="utf-8")
    legend = html.split("id='circles-legend'", 1)[1].split("</div></div>", 1)[0]
    present = set(gpd.read_file(out / "coverage.gpkg", layer="facilities")["kind"])
    for k in KINDS:
        assert (f"legend-kind-{k}'" in legend) == (k in present), k
        if k in present:
            assert kind_name(k, "en") in legend
    c = json.loads((out / "whatif.json").read_text(encoding="utf-8"))["candidates"]
    assert ("legend-site'" in legend) and (("legend-candidate'" in legend) == (not all(c["suggested"])))
    iso = sorted(set(gpd.read_file(out / "coverage.gpkg", layer="isochrones")["minutes"]))
    assert "/".join(f"{m:g}" for m in iso) + "-min walk from a facility (darker: nearer)" in legend
    # offline (basemap none): no tile layer at all; a configured one is offered
    assert "tile.openstreetmap.org" not in html and "L.tileLayer" not in html
    r = runner.invoke(app, ["report", str(STUDY), "--out", str(out), "--basemap", "amap"])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "autonavi" in html
    blob = _blob(html, "circles-planner-data")
    assert blob["gcj02"] is True  # the page's export converts back to WGS84 (planner.js)
    assert blob["t"]["print.north"] == "N" and blob["t"]["whatif.export"]


def attribute_study(tmp_path, preset: str):
    """The community study with a units file carrying `area_type` (抚州 old / new areas) and
    `urban_rural` (蒙自 urban / township), and the preset that filters on them."""
    g = gpd.read_file(TESTDATA / "units_invalid.geojson")
    g["area_type"] = ["old", "new", "老城区"]
    g["urban_rural"] = ["urban", "乡镇", "城区"]
    g.to_file(tmp_path / "units_attr.geojson", driver="GeoJSON")
    text = _gcj_study(tmp_path).read_text(encoding="utf-8").replace('coords = "gcj02"\n', "")
    text = re.sub(r'^path = ".*units_invalid.geojson"', f'path = "{(tmp_path / "units_attr.geojson").as_posix()}"',
                  text, flags=re.M)
    text = text.replace('preset = "fuzhou"', f'preset = "{preset}"')
    p = tmp_path / f"attr_{preset}.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("preset", ["fuzhou", "mengzi"])
def test_filtered_indicators_are_recomputed_as_the_pipeline_scores_them(tmp_path, preset):
    """Oracles: the pipeline's filtered scores now (no site) and after its suggested sites (the siting
    stage's after-state), and for the capacity ratio a hand sum over the filter's units."""
    from circles.chosen import after_state
    from circles.panels import not_assessable, where_units
    from circles.pipeline import run
    from circles.study import load_study

    res, out = run(load_study(attribute_study(tmp_path, preset)), folder=tmp_path / "o")
    s, payload = res.summary, res.whatif
    filtered = [i for i in res.preset["indicators"] if i.get("where")]
    wu = where_units(res.units, res.preset, payload["units"]["id"])
    assert set(wu) == {i["id"] for i in filtered}
    opts = {"not_assessable": not_assessable(s, res.preset), "where_units": wu}
    c = payload["candidates"]
    pairs = [(i, c["kind"][i]) for i in range(len(c["kind"])) if c["suggested"][i]]
    now, after = after_state(payload, [], **opts), after_state(payload, pairs, **opts)
    runs = {r["indicator"]: r for r in s["targets"]["study"]}
    runs_after = {r["indicator"]: r for r in s["targets_after"]}
    units = pd.read_csv(out / "units.csv", dtype={"unit_id": str}, encoding="utf-8-sig")
    for ind in filtered:
        iid = ind["id"]
        for mine, theirs in ((now, runs), (after, runs_after)):
            if theirs[iid]["status"] in ("not assessable",):
                assert mine["indicators"][iid]["status"] == "not assessable"
                continue
            assert mine["indicators"][iid]["measured"] == pytest.approx(theirs[iid]["measured"], abs=1e-4), iid
            assert mine["indicators"][iid]["status"] == theirs[iid]["status"], iid
        if ind["metric"] == "slots_per_1000_total":  # by hand: the filter's units' slots per 1,000 people
            col = units["area_type" if "area_type" in units else "attr_area_type"].astype(str).str.strip()
            sel = units[col.isin([str(v) for v in ind["where"]["values"]])]
            hand = 1000 * sel["slots_inside"].sum() / sel["pop_total"].sum()
            assert now["indicators"][iid]["measured"] == pytest.approx(hand, rel=1e-6)
