"""A custom preset file used to score (``circles score --preset FILE``), and ``circles report
--of score --basemap amap`` on that score's folder: the real commands, checked against the
oracle's own numbers (tests/oracle.py via tests/test_oracle_figures.py) and the gazetteer's
own GCJ-02 coordinates."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import test_oracle_figures as fig
from conftest import DEMO

BIN = Path(sys.executable).parent
DISPLAY_DECIMALS = 5  # the page rounds lon/lat to 5 decimals (about 1 m; circles/report.py)

PRESET = """
[preset]
key = "test-custom"
title_zh = "自定义测试指标"
title_en = "Custom test targets"

[[indicator]]
id = "daycare_10min"
metric = "cov_elderly_daycare_10min"
op = ">="
value = 0.3
gap = "people"
group = "elderly"
label_zh = "10分钟内日间照料中心覆盖老年人比例"
label_en = "Elderly within 10 min of a day-care centre"
source = "test"

[[indicator]]
id = "slots_reachable"
metric = "sfca_slots_per_1000_total"
op = ">="
value = 2.0
gap = "slots"
group = "total"
label_zh = "每千人口可达托位数"
label_en = "Reachable slots per 1,000 residents"
source = "test"
"""


def _circles(*args, cwd):
    r = subprocess.run([str(BIN / "circles"), *args], capture_output=True, text=True, cwd=cwd, timeout=600)
    return r.returncode, r.stdout + r.stderr


def test_custom_preset_scores_and_amap_report_of_score(demo_run, tmp_path):
    d = tmp_path / "study"
    shutil.copytree(DEMO, d)
    (tmp_path / "custom.toml").write_text(PRESET, encoding="utf-8")
    code, out = _circles("score", str(d / "study.toml"), "--preset", str(tmp_path / "custom.toml"), cwd=tmp_path)
    assert code == 0, out
    folders = [p.parent for p in tmp_path.rglob("summary.json")]
    assert len(folders) == 1 and folders[0].name.endswith("-score"), folders
    folder = folders[0]
    targets = pd.read_csv(folder / "targets.csv", encoding="utf-8-sig", dtype={"unit_id": str})
    assert set(targets["indicator"]) == {"daycare_10min", "slots_reachable"}

    # the oracle: coverage by day-care centres per unit from its own graph; 2SFCA slots from access
    case = fig._build_case("demo", demo_run[1])
    cells = case["cells"]
    share = fig._shares_by_unit(case, "elderly", case["times"]["daycare"], 10)
    plain, _ = fig._access_2sfca(case, "slots", "total", 900.0)
    df = pd.DataFrame({"u": cells["unit_id"], "vw": plain * cells["total"], "w": cells["total"],
                       "e": cells["elderly"]}).groupby("u").sum()
    sfca = df["vw"] / df["w"]
    n_fail = 0
    for r in targets.itertuples():
        if r.indicator == "daycare_10min":
            m, people = share[r.unit_id], df.at[r.unit_id, "e"]
            gap = math.ceil((0.3 - m) * people - 1e-9) if m < 0.3 else 0
        else:
            m, people = sfca[r.unit_id], df.at[r.unit_id, "w"]
            gap = math.ceil((2.0 - m) * people / 1000 - 1e-9) if m < 2.0 else 0
        assert r.measured == np.float64(r.measured) and abs(r.measured - m) < 1e-6, (r.unit_id, r.indicator)
        assert r.status == ("pass" if m >= (0.3 if r.indicator == "daycare_10min" else 2.0) else "fail")
        assert r.gap == gap, (r.unit_id, r.indicator)
        n_fail += r.status == "fail"
    assert 0 < n_fail < len(targets)  # the custom targets split the units

    # the page rebuilt from the score's folder on a GCJ-02 base map
    before = (folder / "summary.json").read_bytes()
    code, out = _circles("report", str(d / "study.toml"), "--of", "score", "--basemap", "amap", cwd=tmp_path)
    assert code == 0, out
    assert (folder / "summary.json").read_bytes() == before  # nothing recomputed
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "autonavi.com" in html
    assert json.loads(before)["targets"]["preset"] == "test-custom"
    # facilities drawn where the gazetteer put them in GCJ-02 (its own 经度/纬度), not at WGS84
    gaz = pd.read_csv(DEMO / "facilities_illustrative.csv", encoding="utf-8-sig", dtype=str).dropna(subset=["经度"])
    safe = gaz[~gaz["经度"].str.endswith("5") & ~gaz["纬度"].str.endswith("5")]  # no rounding tie at 5 decimals
    found = [f"{round(float(x), DISPLAY_DECIMALS)!r},{round(float(y), DISPLAY_DECIMALS)!r}" in html
             for x, y in zip(safe["经度"], safe["纬度"])]
    assert len(found) > 30 and all(found)
    plain_page = _circles("report", str(d / "study.toml"), "--of", "score", cwd=tmp_path)
    assert plain_page[0] == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert sum(f"{round(float(x), DISPLAY_DECIMALS)!r},{round(float(y), DISPLAY_DECIMALS)!r}" in html
               for x, y in zip(safe["经度"], safe["纬度"])) == 0
