"""No string from the data or the study file ever reaches a template engine (issue 19).

folium and branca render every ``Element`` through Jinja2, unsandboxed: a community name
``{{ lipsum.__globals__.os.popen('touch …').read() }}`` handed to ``folium.Element`` ran a shell
command on the building machine. Two checks:

1. code inspection: every ``Element``/``Html``/``Template`` construction in ``circles/`` takes a
   literal written in the source (data enters the page as JSON through ``circles.display``);
2. the real pipeline on the community-polygon study with template and format expressions as
   community, district and road names, facility names and addresses, the study title, the
   credits' source and licence, and a custom preset's labels: the run succeeds, the canary file
   is never created, and every string reaches the page's data, ``summary.json`` and the tables
   literally (the browser tests in ``test_report_browser.py`` show the same corpus as text).
"""

from __future__ import annotations

import ast
import json
import re
import shutil

import geopandas as gpd
import pandas as pd
import pytest

from circles.pipeline import run
from circles.study import load_study
from conftest import MUST_SHOW, ROOT, TESTDATA
from hostile import CANARY, TEMPLATE

TEMPLATE_CALLS = {"Element", "Html", "Template", "Figure", "IFrame", "Popup", "Tooltip", "Div"}


def _literal(node: ast.AST) -> bool:
    """A string the source spells out: constants, f-string-free concatenations, UPPER_CASE constants."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) and _literal(node.right)
    if isinstance(node, ast.Name):
        return node.id.isupper()
    return False


def test_no_data_reaches_a_template_constructor():
    """Every Element/Template built in circles/ takes a literal; data-bearing HTML uses RawHTML."""
    bad, seen = [], 0
    for path in sorted((ROOT / "circles").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name not in TEMPLATE_CALLS:
                continue
            seen += 1
            args = list(node.args) + [k.value for k in node.keywords]
            if not all(_literal(a) for a in args):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}(...) with a non-literal argument")
    assert not bad, "data may reach a template engine:\n" + "\n".join(bad)
    assert seen >= 1  # the check looked at something (report.py's own Jinja macro)


def test_raw_html_is_not_rendered_as_a_template():
    import folium

    from circles.display import RawHTML

    m = folium.Map(tiles=None)
    for s in TEMPLATE:
        m.get_root().html.add_child(RawHTML(f"<p>{s}</p>"))
    page = m.get_root().render()
    assert all(f"<p>{s}</p>" in page for s in TEMPLATE)
    assert not CANARY.exists()


JOINED = " ¦ ".join(TEMPLATE)


@pytest.fixture(scope="module")
def injected_run(tmp_path_factory):
    """The community-polygon study with template expressions in every text the data or study file carries."""
    CANARY.unlink(missing_ok=True)
    d = tmp_path_factory.mktemp("tpl") / "study"
    d.mkdir()
    for f in ("centrelines.gpkg", "gazetteer_gbk.csv", "units_invalid.geojson"):
        shutil.copy(TESTDATA / f, d / f)
    units = gpd.read_file(d / "units_invalid.geojson")
    units["社区名称"] = [f"{i}{JOINED}" for i in range(len(units))]
    units.to_file(d / "units.geojson", driver="GeoJSON")
    roads = gpd.read_file(d / "centrelines.gpkg")
    roads["道路名称"] = [TEMPLATE[i % len(TEMPLATE)] for i in range(len(roads))]
    roads.to_file(d / "centrelines.gpkg", driver="GPKG")
    districts = json.loads((ROOT / "data/demo/districts.geojson").read_text(encoding="utf-8"))
    for feat in districts["features"]:
        feat["properties"]["name"] = JOINED
    (d / "districts.geojson").write_text(json.dumps(districts, ensure_ascii=False), encoding="utf-8")
    gaz = pd.read_csv(d / "gazetteer_gbk.csv", encoding="gbk", dtype=str, keep_default_na=False)
    name_col = next(c for c in gaz.columns if "名称" in c)
    addr_col = "地址"  # the test gazetteer has none: add one
    gaz[name_col] = [f"名{i} {JOINED}" for i in range(len(gaz))]
    gaz[addr_col] = JOINED + " 地址"
    gaz.to_csv(d / "gazetteer_gbk.csv", encoding="utf-8-sig", index=False)  # '¦' has no GBK code
    preset = (ROOT / "circles/presets/fuzhou.toml").read_text(encoding="utf-8")
    preset = re.sub(r'^(label_(?:zh|en)|title_(?:zh|en)) = ".*"$', lambda m: f"{m.group(1)} = {json.dumps(JOINED)}",
                    preset, flags=re.M)
    (d / "preset.toml").write_text(preset, encoding="utf-8")
    toml = (TESTDATA / "community_polygons.toml").read_text(encoding="utf-8")
    pop = (ROOT / "data/demo/pop").as_posix()
    toml = (toml.replace("../../data/demo/pop", pop).replace("../../data/demo/districts.geojson", "districts.geojson")
            .replace("units_invalid.geojson", "units.geojson").replace('preset = "fuzhou"', 'preset = "preset.toml"'))
    toml = re.sub(r'^title = .*$', lambda _: f"title = {json.dumps(JOINED)}", toml, count=1, flags=re.M)
    toml = re.sub(r'^source = .*$', lambda _: f"source = {json.dumps(JOINED)}", toml, flags=re.M)
    toml = re.sub(r'^licence = .*$', lambda _: f"licence = {json.dumps(JOINED)}", toml, flags=re.M)
    (d / "study.toml").write_text(toml, encoding="utf-8")
    res, folder = run(load_study(d / "study.toml"), folder=d.parent / "out")
    return res, folder


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_template_expressions_stay_text(injected_run):
    res, folder = injected_run
    assert not CANARY.exists(), "a template expression from the data ran a shell command"
    page = (folder / "report.html").read_text(encoding="utf-8")
    blobs = {}
    for key in ("circles-data", "circles-planner-data"):
        m = re.search(r'<script type="application/json" id="' + key + r'">(.*?)</script>', page, flags=re.S)
        blobs[key] = json.loads(m.group(1))
    assert {"circles-data", "circles-planner-data"} <= set(blobs)
    page_text = set(_strings(blobs))
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    units = pd.read_csv(folder / "units.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    sites = gpd.read_file(folder / "coverage.gpkg", layer="suggested_sites")
    planner = blobs["circles-planner-data"]
    credit_text = " ".join(planner["credits"])
    paths = {
        "community name (page labels)": lambda s: any(s in x for x in planner["context"]["unit_labels"]["name"]),
        "community name (units.csv)": lambda s: all(s in x for x in units["unit_name"]),
        "district name (units.csv parent)": lambda s: all(s in x for x in units["parent"]),
        "district name (page)": lambda s: any(s in x for x in page_text if "¦" in x),
        "road name (suggested sites)": lambda s: any(s in str(x) for x in sites["near_road"]) or
        any(s in str(x) for x in sites["name"]),
        "facility name (page)": lambda s: any(x.startswith("名") and s in x for x in page_text),
        "facility address (page)": lambda s: any(x.endswith(" 地址") and s in x for x in page_text),
        "study title (summary)": lambda s: s in summary["title"],
        "credits source/licence (page)": lambda s: s in credit_text,
        "preset label (summary)": lambda s: any(s in str(r.get("label") or "") or s in str(r.get("label_zh") or "")
                                                for r in summary["targets"]["preset_data"]["indicators"]),
    }
    missing = [(p, s) for p, check in paths.items() for s in TEMPLATE if not check(s)]
    assert not missing, missing[:5]
    for evaluated in ("49 ¦", "¦ 012 ¦"):  # {{ 7*7 }} and the for loop, had they run
        assert not any(evaluated in x for x in page_text)
    MUST_SHOW.append(f"template corpus: {len(TEMPLATE)} expressions x {len(paths)} text paths = "
                     f"{len(TEMPLATE) * len(paths)} through a real run; canary {CANARY} never created")
