"""Composition columns of a gazetteer (issue 25): 普惠托位数, 护理型床位数, 性质 / 公办民办.

The test gazetteer ``tests/data/gazetteer_composition.csv`` (and the same table as an
``.xlsx`` sheet, numbers stored as numbers) is small enough to read by eye; the shares
below are worked out by hand from it:

- nursery places kept: 甲 100 + 乙 50 + 丙's 托班 30 = 180; affordable 60 + 20 ("20个") + 30 = 110;
  public (公办 甲, 公立 丙) 100 + 30 = 130;
- beds of the nursing homes with a 护理型床位数: 丁 200 + 戊 100 = 300; nursing-type 150 + 40 ("40张")
  = 190; 己 (80 beds) has an empty cell: unknown, not 0;
- rejected: 庚 "约三十" (not a number), 辛 50 affordable > 40 slots, 壬 60 nursing > 50 beds,
  癸 "合资" and 子 "公办民营" (ownership not understood).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circles.io.facilities import OPTIONAL_FIELDS, load_facilities, missing_optional_columns, parse_ownership
from conftest import DEMO, METRIC, TESTDATA


@pytest.fixture(params=["csv", "xlsx"])
def composition(request):
    return load_facilities(TESTDATA / f"gazetteer_composition.{request.param}", crs=METRIC)


def test_shares_by_hand(composition):
    fac, _ = composition
    infant = fac[fac["counts_as"] == "slots"]
    assert infant["capacity"].sum() == 180
    assert infant["affordable_slots"].sum() / infant["capacity"].sum() == pytest.approx(110 / 180)
    assert infant.loc[infant["ownership"] == "public", "capacity"].sum() / infant["capacity"].sum() == pytest.approx(130 / 180)
    homes = fac[(fac["counts_as"] == "beds") & fac["nursing_beds"].notna()]
    assert homes["nursing_beds"].sum() / homes["beds"].sum() == pytest.approx(190 / 300)
    got = fac.set_index("name")
    assert np.isnan(got.loc["己养老院", "nursing_beds"]) and got.loc["己养老院", "ownership"] == ""
    assert list(fac["ownership"]) == ["public", "private", "public", "public", "private", ""]


def test_bad_composition_cells_are_rejects_naming_column_and_value(composition):
    _, rej = composition
    by_row = rej.set_index("row")
    assert list(by_row.index) == [8, 9, 10, 11, 12]
    assert (by_row.loc[8, "column"], by_row.loc[8, "value"]) == ("普惠托位数", "约三十")
    assert "not a number" in by_row.loc[8, "reason"]
    assert by_row.loc[9, "value"] == "50 > 40" and "普惠托位数 exceeds 托位数" in by_row.loc[9, "reason"]
    assert by_row.loc[10, "value"] == "60 > 50" and "护理型床位数 exceeds 床位数" in by_row.loc[10, "reason"]
    for row, value in ((11, "合资"), (12, "公办民营")):
        assert (by_row.loc[row, "column"], by_row.loc[row, "value"]) == ("性质", value)
        assert "公办" in by_row.loc[row, "reason"] and "民办" in by_row.loc[row, "reason"]


def test_unit_words_in_composition_cells_warn_with_the_row(caplog):
    with caplog.at_level("WARNING", logger="circles.io.facilities"):
        load_facilities(TESTDATA / "gazetteer_composition.csv", crs=METRIC)
    msgs = [r.message for r in caplog.records]
    assert any("row 3" in m and "20个" in m for m in msgs) and any("row 6" in m and "40张" in m for m in msgs)


def test_missing_columns_recorded_never_zero():
    demo, _ = load_facilities(DEMO / "facilities_illustrative.csv", crs=METRIC, coords="gcj02")
    comp, _ = load_facilities(TESTDATA / "gazetteer_composition.csv", crs=METRIC)
    for field in OPTIONAL_FIELDS:
        assert field in demo.columns
    assert demo["affordable_slots"].isna().all() and demo["nursing_beds"].isna().all()
    assert (demo["ownership"] == "").all()
    assert demo.attrs["optional_columns_missing"] == {"facilities_illustrative.csv": list(OPTIONAL_FIELDS)}
    missing = missing_optional_columns([demo, comp])
    assert missing == {f: ["facilities_illustrative.csv"] for f in OPTIONAL_FIELDS}
    assert OPTIONAL_FIELDS["affordable_slots"] == "普惠托位数"


def test_english_headers_and_ownership_words(tmp_path):
    pd.DataFrame({"name": ["a", "b"], "kind": ["nursery", "nursery"], "lon": [114.27, 114.28], "lat": [30.59, 30.59],
                  "slots": [80, 40], "affordable_slots": [80, 0], "ownership": ["Public", "私立"]}).to_csv(
        tmp_path / "en.csv", index=False)
    fac, rej = load_facilities(tmp_path / "en.csv", crs=METRIC)
    assert len(rej) == 0 and list(fac["ownership"]) == ["public", "private"]
    assert list(fac["affordable_slots"]) == [80, 0]
    assert fac.attrs["optional_columns_missing"] == {"en.csv": ["nursing_beds"]}
    assert [parse_ownership(v) for v in ("政府办", "民营", "国有企业", "", None, "公办民营", "other")] == \
        ["public", "private", "public", "", "", None, None]
