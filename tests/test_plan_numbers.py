"""Every number the five plans set, scored (issue 25): composition shares, city-wide totals, meal points, sizing.

The study is ``tests/data/community_polygons.toml`` (three community polygons, the demo's rasters)
with its gazetteer swapped for ``tests/data/gazetteer_plan.csv``, ten facilities placed inside
the three communities, small enough to count by hand:

============  ==========================================  ========================================
community     under-3 places (托位, 普惠, 性质)                beds (床位, 护理型), other
============  ==========================================  ========================================
民意           甲 nursery 100, 普惠 60, 公办                     乙 home 200, 护理型 150; 1 助餐点
新华           丙 nursery 50, 普惠 20, 民办; 丁 kindergarten    戊 home 100, 护理型 40; 1 助餐点
              托班 30, 普惠 30, 公立
北湖           己 nursery 40, 普惠 and 性质 empty (unknown)      庚 home 80, 护理型 empty; a day-care centre
============  ==========================================  ========================================

By hand (study): 托位 220; 普惠 share = (60 + 20 + 30) / (100 + 50 + 30) = 110 / 180 (己 unknown,
in neither); 公办 share = (100 + 30) / 180 = 130 / 180; 护理型 share = (150 + 40) / (200 + 100) =
190 / 300 (庚 unknown); beds 380; 助餐点 2. Gaps ("needs N more slots made affordable") count
existing places that would have to change, the total held: ceil(target x base - part).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from circles.errors import StudyError
from conftest import TESTDATA

SHARES = {"affordable_share_slots": 110 / 180, "public_share_slots": 130 / 180, "nursing_share_beds": 190 / 300}
#: per community: (普惠, 公办, 护理型); 北湖 has no known part: no share (NaN), never 0 %
BY_UNIT = {"420103001": (60 / 100, 100 / 100, 150 / 200), "420103002": (50 / 80, 30 / 80, 40 / 100),
           "420103003": (np.nan, np.nan, np.nan)}


def _study(tmp_path, preset: str, gazetteer: str = "gazetteer_plan.csv", targets: str = "", siting: str = ""):
    """The community-polygon test study with absolute paths, another gazetteer, preset and extra keys."""
    from circles.study import load_study

    text = (TESTDATA / "community_polygons.toml").read_text(encoding="utf-8")
    text = re.sub(r'(path|folder|parents) = "([^"]+)"',
                  lambda m: f'{m[1]} = "{(TESTDATA / m[2]).resolve().as_posix()}"', text)
    text = text.replace("gazetteer_gbk.csv", gazetteer)
    text = text.replace('preset = "fuzhou"', f'preset = "{preset}"\n{targets}')
    text = text.replace("n_sites = 2", f"n_sites = 2\n{siting}")
    (tmp_path / "study.toml").write_text(text, encoding="utf-8")
    return load_study(tmp_path / "study.toml")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The real pipeline once per preset: 甘孜 with the city's population (7th census, the plan's own
    figure), 邵阳 as a whole-city study, the others with neither; 甘孜 also with a floor area."""
    from circles.pipeline import analyse

    extra = {"ganzi": ("city_population = 1107400", "floor_m2 = 2000"), "shaoyang": ("whole_city = true", "")}
    out = {}
    for preset in ("fuzhou", "taizhou", "ganzi", "shaoyang", "mengzi"):
        targets, siting = extra.get(preset, ("", ""))
        out[preset] = analyse(_study(tmp_path_factory.mktemp(preset), preset, targets=targets, siting=siting))
    return out


def _row(res, indicator, after=False):
    rows = res.summary["targets_after"] if after else res.summary["targets"]["study"]
    (row,) = [r for r in rows if r["indicator"] == indicator]
    return row


def test_composition_shares_by_hand(runs):
    res = runs["mengzi"]
    o = res.scores.overall.iloc[0]
    for share, want in SHARES.items():
        assert o[share] == pytest.approx(want)
    assert (o["slots_inside"], o["beds_inside"], o["n_meal_points_inside"]) == (220, 380, 2)
    assert (o["n_affordable_unknown"], o["n_ownership_unknown"], o["n_nursing_unknown"]) == (1, 1, 1)
    units = res.scores.units.set_index("unit_id")
    for uid, want in BY_UNIT.items():
        got = units.loc[uid, ["affordable_share_slots", "public_share_slots", "nursing_share_beds"]].to_numpy(float)
        np.testing.assert_allclose(got, want)
    comp = res.summary["composition"]
    assert comp["affordable_share_slots"] == {"share": round(110 / 180, 4), "part": 110, "base": 180,
                                              "unknown_facilities": 1, "column": "普惠托位数",
                                              "files_without_column": []}
    assert comp["totals"] == {"slots": 220, "beds": 380, "meal_points": 2}


#: (preset, indicator) -> (status, gap) worked out by hand from the table in the module docstring
BY_HAND = {
    ("fuzhou", "affordable_slot_share"): ("pass", 0),  # 0.611 >= 0.60
    ("fuzhou", "nursing_bed_share"): ("fail", 20),  # 0.70 x 300 = 210 - 190
    ("taizhou", "nursing_bed_share"): ("fail", 14),  # 0.68 x 300 = 204 - 190
    ("ganzi", "public_slot_share"): ("fail", 23),  # 0.85 x 180 = 153 - 130
    ("ganzi", "nursing_bed_share"): ("pass", 0),
    ("shaoyang", "affordable_slot_share"): ("pass", 0),
    ("shaoyang", "nursing_bed_share"): ("pass", 0),
    ("shaoyang", "nursery_slots_total"): ("fail", 29_500 - 220),  # a whole-city study: the plan's total as it is
    ("shaoyang", "elderly_beds_total"): ("fail", 20_000 - 380),  # 20,000-25,000: the lower end
    ("shaoyang", "meal_points_total"): ("fail", 300 - 2),
    ("mengzi", "affordable_slot_share"): ("fail", 16),  # 0.70 x 180 = 126 - 110
    ("mengzi", "nursing_bed_share"): ("pass", 0),
}


@pytest.mark.parametrize("preset,indicator", sorted(BY_HAND))
def test_each_preset_scores_the_new_rows(runs, preset, indicator):
    status, gap = BY_HAND[preset, indicator]
    row = _row(runs[preset], indicator)
    assert (row["status"], row["gap"]) == (status, gap)


def test_totals_need_the_city(runs):
    """Not the whole city and no city population: not comparable, saying why, with the study's own count;
    with the city's population: the plan's total scaled to the study's share of its residents."""
    for preset, ids in (("fuzhou", ("nursery_slots_total", "elderly_beds_total")), ("mengzi", ("nursery_slots_total",))):
        for ind in ids:
            row = _row(runs[preset], ind)
            assert row["status"] == "not assessable" and row["gap_text"].startswith("not comparable: the study is not "
                                                                                    "the whole city")
            assert "city_population" in row["gap_text"] and row["measured"] in (220, 380)
    res = runs["ganzi"]
    people = float(res.points["total"].sum())  # the study's residents, cell by cell
    for ind, plan, have in (("nursery_slots_total", 3400, 220), ("elderly_beds_total", 5000, 380)):
        row = _row(res, ind)
        target = plan * people / 1_107_400
        assert row["target"] == pytest.approx(target) and row["plan_value"] == plan
        assert row["status"] == ("pass" if have >= target else "fail")
        assert row["gap"] == (0 if have >= target else math.ceil(target - have - 1e-9))
        assert "1,107,400" in row["comparison"]
    assert _row(runs["shaoyang"], "meal_points_total")["gap_text"] == "needs 298 more meal points"
    from circles.display import fmt_measured

    assert (fmt_measured(29_500.0, "nursery_slots_total"), fmt_measured(2.0, "meal_points_total")) == ("29,500", "2")
    units = res.scores.unit_results
    assert set(units.loc[units["indicator"] == "nursery_slots_total", "status"]) == {"not assessable"}


def test_a_gazetteer_without_the_columns_is_not_assessable(tmp_path):
    """The study's own GBK gazetteer has no 普惠托位数 column: not assessable, never 0 %."""
    from circles.pipeline import analyse

    res = analyse(_study(tmp_path, "mengzi", gazetteer="gazetteer_gbk.csv"))
    row = _row(res, "affordable_slot_share")
    assert row["status"] == "not assessable" and row["measured"] is None
    assert row["gap_text"] == "not assessable: the gazetteer has no 普惠托位数 column"
    assert res.summary["composition"]["affordable_share_slots"]["files_without_column"] == ["gazetteer_gbk.csv"]
    assert res.summary["composition"]["affordable_share_slots"]["share"] is None


def test_new_sites_count_as_affordable_in_the_after_state(runs):
    """[siting] new_sites_affordable (default true): the two new 150-slot nurseries are 普惠 and 公办."""
    res = runs["mengzi"]
    new = int(res.siting.sites.loc[res.siting.sites["kind"] == "nursery", "capacity"].sum())
    assert new == 300
    after = {r["indicator"]: r for r in res.summary["targets_after"]}
    assert after["affordable_slot_share"]["measured"] == round((110 + new) / (180 + new), 4)
    assert after["nursery_slots_total"]["measured"] == 220 + new


def test_ganzi_floor_area_per_slot_beside_each_site(runs):
    sites = runs["ganzi"].siting.sites
    assert len(sites) == 2
    np.testing.assert_allclose(sites["floor_m2_per_slot"], 2000 / 150)
    assert list(sites["floor_check"]) == ["13.3 m² per slot, below 15 m²"] * 2
    import folium

    from circles.report import _Page, add_sites

    for lang, label in (("en", "floor area per slot"), ("zh", "每托位建筑面积")):  # the map popup, both languages
        page = add_sites(_Page(folium.Map()), sites.to_crs(4326), lang)
        (spec,) = page.payload["layers"].values()
        assert {"label": label, "v": ["13.3 m²", "13.3 m²"]} in spec["popup"]


def test_ganzi_refuses_a_nursery_under_150_slots(tmp_path):
    from circles.pipeline import analyse

    with pytest.raises(StudyError) as e:
        analyse(_study(tmp_path, "ganzi", siting="slots = 100"))
    msg = str(e.value)
    assert "\n" not in msg and "at least 150 slots" in msg and "siting.slots = 100" in msg


def test_a_total_needs_a_count_group(tmp_path):
    from circles.targets import load_preset

    text = (TESTDATA.parent.parent / "circles" / "presets" / "shaoyang.toml").read_text(encoding="utf-8")
    (tmp_path / "p.toml").write_text(text.replace('id = "meal_points_total"', 'id = "meal_points"'), encoding="utf-8")
    with pytest.raises(StudyError, match="meal_points: a total"):
        load_preset(tmp_path / "p.toml")


def test_whatif_recomputes_the_new_rows_as_the_after_state(runs):
    """The page's engine (Python twin and whatif.js in Chromium) on the suggested sites gives the
    pipeline's after-state for the composition shares and the totals it can compare."""
    from circles import whatif

    for preset in ("mengzi", "shaoyang"):
        res = runs[preset]
        p = res.whatif
        chosen = whatif.chosen_suggested(p)
        twin = whatif.evaluate(p, chosen)["indicators"]
        for r in res.summary["targets_after"]:
            if r["indicator"] in ("affordable_slot_share", "nursing_bed_share", "nursery_slots_total",
                                  "elderly_beds_total", "meal_points_total") and r["status"] != "not assessable":
                assert round(twin[r["indicator"]], 4) == pytest.approx(r["measured"], abs=1e-12), (preset, r)
    assert twin["nursery_slots_total"] == 220 + 300 and twin["meal_points_total"] == 2


def test_whatif_js_judges_the_new_rows_like_the_pipeline(runs, whatif_page):
    import json

    res = runs["shaoyang"]  # a whole-city study: the totals are compared, so the page recomputes them
    p = json.loads(json.dumps(res.whatif))
    chosen = [[i, k] for i, (k, s) in enumerate(zip(p["candidates"]["kind"], p["candidates"]["suggested"])) if s]
    got = whatif_page.evaluate(p, {"all": chosen, "none": []})
    for key, rows in (("all", res.summary["targets_after"]), ("none", res.summary["targets"]["study"])):
        for r in rows:
            if r["indicator"] in ("affordable_slot_share", "nursing_bed_share", "nursery_slots_total",
                                  "elderly_beds_total", "meal_points_total"):
                js = got[key]["study"]["indicators"][r["indicator"]]
                assert (js["status"], js["gap"]) == (r["status"], r["gap"]), (key, r)
                assert round(js["measured"], 4) == pytest.approx(r["measured"], abs=1e-12), (key, r)
    units = res.scores.unit_results.set_index(["unit_id", "indicator"])["status"]
    ids = list(p["units"]["id"])
    for u, uid in enumerate(ids):
        for ind in ("affordable_slot_share", "nursery_slots_total"):
            assert got["none"]["units"][u]["indicators"][ind]["status"] == units[uid, ind], (uid, ind)
