"""The string catalogue: both languages complete, English free of Chinese, every key used exists."""

from __future__ import annotations

import re
import string

from circles import i18n
from circles.labels import label
from conftest import ROOT

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_key_in_both_languages_with_the_same_fields():
    assert set(i18n.ZH) == set(i18n.EN)
    for key in i18n.ZH:
        assert _fields(i18n.ZH[key]) == _fields(i18n.EN[key]), key
        assert i18n.ZH[key].strip() and i18n.EN[key].strip(), key


def test_english_catalogue_has_no_chinese():
    bad = {k: v for k, v in i18n.EN.items() if CJK.search(v)}
    assert bad == {}


def test_every_literal_key_used_in_the_code_exists():
    used = set()
    for path in (ROOT / "circles").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[\w. ]+)["']""", text))
    assert used, "no catalogue lookups found"
    missing = sorted(k for k in used if k not in i18n.EN)
    assert missing == []


def test_labels_gaps_and_worst_units_follow_the_language():
    assert label("cov_elderly_daycare_15min", "en") == "Share of elderly (60+) within 15 min of elderly day-care centre"
    assert label("beyond_infants_15min", "zh") == "15分钟外的婴幼儿(0-3岁)"
    assert i18n.gap_text(1501, "slots", "zh") == "还需 1,501 个托位"
    assert i18n.gap_text(1501, "slots", "en") == "needs 1,501 more slots"
    row = {"beyond_elderly_15min": 4432.2, "beyond_infants_15min": 541, "cov_elderly_any_15min": 0.0,
           "cov_infants_any_15min": 0.25, "time_elderly_median_min": 37.04, "time_infants_median_min": float("inf"),
           "unreached_elderly": 0}
    en = i18n.worst_why(row, 15.0, "en")
    assert en == ("4,432 elderly and 541 infants beyond a 15-min walk (coverage 0% elderly, 25% infants); "
                  "median time to the nearest elderly service 37.0 min, to childcare unreachable")
    assert not CJK.search(en) and CJK.search(i18n.worst_why(row, 15.0, "zh"))


def test_saved_reasons_are_shown_in_the_page_language():
    zh = i18n.t("na.no_kind", "zh", names="综合养老服务中心 (elderly_centre)")
    assert i18n.relang(zh, "en") == "not assessable: no Comprehensive elderly service centre (elderly_centre) in any gazetteer"
    en = i18n.t("na.no_attribute", "en", column="area_type")
    assert i18n.relang(en, "zh") == "无法评估：分析单元没有 `area_type` 属性"
    assert i18n.relang("民意社区", "en") == "民意社区"  # data stay as they are
