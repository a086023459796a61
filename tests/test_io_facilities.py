"""Gazetteer loader: every input format, every class of bad row, nothing lost."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circles.errors import InputFileError
from circles.io.facilities import KINDS, load_facilities, normalise_kind, parse_capacity
from conftest import DEMO, METRIC, TESTDATA

AREA_WGS = shapely.box(114.2396, 30.5604, 114.3096, 30.6204)
AREA = gpd.GeoSeries([AREA_WGS], crs=4326).to_crs(METRIC).iloc[0]


def test_gbk_gazetteer_every_bad_class_rejected_with_row_and_reason():
    fac, rej = load_facilities(TESTDATA / "gazetteer_gbk.csv", crs=METRIC, area=AREA)
    assert len(fac) == 7 and len(rej) == 7
    by_row = rej.set_index("row")
    # header is row 1; the bad rows follow the 7 good ones (rows 2-8)
    expected = {9: "missing coordinate", 10: "not a number", 11: "swapped", 12: "outside the study area",
                13: "beds is not a number", 14: "unknown facility kind", 15: "duplicate of row 2"}
    for row, reason in expected.items():
        assert reason in by_row.loc[row, "reason"], (row, by_row.loc[row].to_dict())
    assert by_row.loc[13, "value"] == "约一百" and by_row.loc[13, "column"] == "床位数"
    assert set(rej["file"]) == {"gazetteer_gbk.csv"}
    # "120张" is parsed, not rejected; English kinds are understood
    assert fac.loc[fac["name"] == "江岸区百步亭养老院", "beds"].iloc[0] == 120
    assert set(fac["kind"]) == {"daycare", "nursing_home", "elderly_centre", "meal_point", "nursery", "kindergarten"}
    # the meal point has no counted capacity; the kindergarten's 托位数 are 3-6 places (no 托班 column)
    assert fac["capacity"].notna().sum() == 5
    kg = fac[fac["kind"] == "kindergarten"].iloc[0]
    assert kg["serves"] == "" and kg["capacity_status"] == "none"


def test_row_beyond_the_reach_says_how_far_the_reach_goes():
    """The area handed in is the study area's facility reach: the reject names its width."""
    _, rej = load_facilities(TESTDATA / "gazetteer_gbk.csv", crs=METRIC, area=AREA, reach_m=1800.0)
    reason = rej.set_index("row").loc[12, "reason"]
    assert reason.startswith("outside the study area and the 1,800 m around it that facilities are read from;")
    _, rej = load_facilities(TESTDATA / "gazetteer_gbk.csv", crs=METRIC, area=AREA)
    assert rej.set_index("row").loc[12, "reason"].startswith("outside the study area; check the coordinate system")


def test_unit_word_read_with_a_warning_naming_the_row(caplog):
    with caplog.at_level("WARNING", logger="circles.io.facilities"):
        fac, rej = load_facilities(TESTDATA / "gazetteer_gbk.csv", crs=METRIC, area=AREA)
    assert any("row 3" in r.message and "120张" in r.message and "120" in r.message for r in caplog.records)
    assert not any("约一百" in r.message for r in caplog.records)  # that one is a reject, not a guess


def _capacity_table(tmp_path, rows, columns):
    df = pd.DataFrame(rows, columns=columns)
    df.to_csv(tmp_path / "g.csv", index=False)
    return load_facilities(tmp_path / "g.csv", crs=METRIC)


def test_capacity_counts_as_the_plans_count_it(tmp_path):
    cols = ["名称", "类型", "经度", "纬度", "床位数", "托位数", "托班托位数", "学位数"]
    rows = [["甲养老院", "养老院", 114.27, 30.59, "100", "", "", ""],
            ["乙日间照料中心", "社区日间照料中心", 114.271, 30.59, "20", "", "", ""],
            ["丙托育中心", "托育机构", 114.272, 30.59, "", "50", "", ""],
            ["丁幼儿园", "幼儿园", 114.273, 30.59, "", "200", "15", "300"],
            ["戊幼儿园", "幼儿园", 114.274, 30.59, "", "", "0", "280"],
            ["己幼儿园", "幼儿园", 114.275, 30.59, "", "", "", "250"],
            ["庚养老院", "养老院", 114.276, 30.59, "", "", "", ""],
            ["辛儿童福利院", "儿童福利院", 114.277, 30.59, "60", "", "", ""]]
    fac, rej = _capacity_table(tmp_path, rows, cols)
    got = fac.set_index("name")
    # hand-written expectations: beds only for 养老院, day places for day-care, 托位 for nurseries,
    # kindergartens only through 托班, 学位 kept but never counted, missing -> unknown (not 0)
    assert (got.loc["甲养老院", "counts_as"], got.loc["甲养老院", "capacity"]) == ("beds", 100)
    assert (got.loc["乙日间照料中心", "counts_as"], got.loc["乙日间照料中心", "capacity"]) == ("daycare_places", 20)
    assert (got.loc["丙托育中心", "counts_as"], got.loc["丙托育中心", "capacity"]) == ("slots", 50)
    assert got.loc["丁幼儿园", "capacity"] == 15 and got.loc["丁幼儿园", "serves"] == "infants"
    assert got.loc["丁幼儿园", "school_places"] == 300
    assert got.loc["戊幼儿园", "serves"] == ""  # 0 托班 places: takes no under-3s
    assert got.loc["己幼儿园", "capacity_status"] == "unknown" and got.loc["己幼儿园", "serves"] == ""
    assert got.loc["庚养老院", "capacity_status"] == "unknown" and np.isnan(got.loc["庚养老院", "capacity"])
    assert "辛儿童福利院" not in got.index
    assert "children's welfare home" in rej.set_index("value").loc["儿童福利院", "reason"]


def test_school_places_are_not_an_alias_of_slots(tmp_path):
    fac, _ = _capacity_table(tmp_path, [["甲托育中心", "托育机构", 114.27, 30.59, "80"]],
                             ["名称", "类型", "经度", "纬度", "学位数"])
    assert fac["school_places"].iloc[0] == 80 and fac["capacity_status"].iloc[0] == "unknown"
    assert np.isnan(fac["capacity"].iloc[0])


def test_kind_vocabulary_lives_in_circles_kinds():
    import circles.kinds

    assert KINDS is circles.kinds.KINDS
    assert normalise_kind("社会福利院") == "nursing_home" and normalise_kind("儿童福利院") is None
    assert normalise_kind("市儿童福利院") is None


def test_xlsx_geojson_and_csv_give_the_same_facilities():
    csv, _ = load_facilities(TESTDATA / "gazetteer_gbk.csv", crs=METRIC, area=AREA)
    xlsx, rej_x = load_facilities(TESTDATA / "gazetteer.xlsx", crs=METRIC, area=AREA)
    geo, rej_g = load_facilities(TESTDATA / "gazetteer.geojson", crs=METRIC, area=AREA)
    assert len(rej_x) == len(rej_g) == 0
    for other in (xlsx, geo):
        assert list(other["name"]) == list(csv["name"])
        assert other.geometry.distance(csv.geometry).max() < 1e-6
        assert other["capacity"].fillna(-1).tolist() == csv["capacity"].fillna(-1).tolist()


def test_demo_gazetteer_utf8_bom_gcj02():
    fac, rej = load_facilities(DEMO / "facilities_illustrative.csv", crs=METRIC, coords="gcj02", area=AREA)
    assert len(fac) + len(rej) == 76 and len(rej) == 3
    reasons = sorted(rej["reason"])
    assert reasons[0].startswith("duplicate of row 2") and reasons[1] == "missing coordinate"
    assert reasons[2].startswith("unknown facility kind")


def test_column_override_and_single_kind(tmp_path):
    df = pd.DataFrame({"机构全称": ["甲托育园", "乙托育园"], "X": [114.27, 114.28], "Y": [30.59, 30.60], "托位": [60, 90]})
    df.to_csv(tmp_path / "nurseries.csv", index=False)
    fac, rej = load_facilities(tmp_path / "nurseries.csv", crs=METRIC, kind="nursery",
                               columns={"name": "机构全称"})
    assert list(fac["name"]) == ["甲托育园", "乙托育园"] and set(fac["kind"]) == {"nursery"}
    assert list(fac["slots"]) == [60, 90] and len(rej) == 0


def test_projected_coordinates(tmp_path):
    pts = gpd.GeoSeries(gpd.points_from_xy([114.27], [30.59]), crs=4326).to_crs(4547)  # CGCS2000 / 3-degree GK CM 114E
    pd.DataFrame({"name": ["a"], "kind": ["养老院"], "x": [pts.x[0]], "y": [pts.y[0]]}).to_csv(tmp_path / "p.csv", index=False)
    fac, _ = load_facilities(tmp_path / "p.csv", crs=METRIC, coords="EPSG:4547")
    ref = gpd.GeoSeries(gpd.points_from_xy([114.27], [30.59]), crs=4326).to_crs(METRIC)
    assert fac.geometry.distance(ref.iloc[0]).iloc[0] < 0.01


def test_file_level_errors(tmp_path):
    with pytest.raises(InputFileError, match="cannot decode as utf-8-sig or gb18030"):
        load_facilities(TESTDATA / "gazetteer_utf16.csv", crs=METRIC)
    # Big5 (traditional characters) decodes as GB18030 into garbage: the header gives it away
    (tmp_path / "big5.csv").write_bytes("名稱,類型,經度,緯度\n養老院甲,養老院,114.27,30.59\n".encode("big5"))
    with pytest.raises(InputFileError, match="not UTF-8 or GBK"):
        load_facilities(tmp_path / "big5.csv", crs=METRIC)
    with pytest.raises(InputFileError, match="cannot decode as utf-8"):
        load_facilities(TESTDATA / "gazetteer_gbk.csv", crs=METRIC, encoding="utf-8")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        load_facilities(tmp_path / "empty.csv", crs=METRIC)
    pd.DataFrame({"名称": ["a"], "类型": ["养老院"], "经度": [114.3]}).to_csv(tmp_path / "nolat.csv", index=False)
    with pytest.raises(InputFileError, match="no lat column"):
        load_facilities(tmp_path / "nolat.csv", crs=METRIC)
    pd.DataFrame({"名称": ["a"], "经度": [114.3], "纬度": [30.6]}).to_csv(tmp_path / "nokind.csv", index=False)
    with pytest.raises(InputFileError, match="no kind column"):
        load_facilities(tmp_path / "nokind.csv", crs=METRIC)
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(114.3, 30.6)]).to_file(tmp_path / "nocrs.shp")
    (tmp_path / "nocrs.prj").unlink(missing_ok=True)
    with pytest.raises(InputFileError, match="no CRS"):
        load_facilities(tmp_path / "nocrs.shp", crs=METRIC)


def test_kind_and_capacity_vocabulary():
    assert normalise_kind("社区老年人日间照料中心") == "daycare"
    assert normalise_kind("街道综合养老服务中心") == "elderly_centre"
    assert normalise_kind("敬老院") == "nursing_home"
    assert normalise_kind("普惠性托育机构") == "nursery"
    assert normalise_kind("社区卫生服务站") is None
    assert parse_capacity("1,200 张") == (1200.0, True)
    assert parse_capacity("150个") == (150.0, True)
    assert parse_capacity("约一百")[1] is False
    assert parse_capacity(-5)[1] is False
    assert parse_capacity(float("inf"))[1] is False and parse_capacity("inf")[1] is False  # no place is endless
    assert parse_capacity("9" * 400) == (None, False)  # a number float() reads as inf, from text too


# printable text (no control characters: a line break inside a cell is a different record count
# to every CSV reader, not a loader question)
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
_cell = st.one_of(st.none(), _text, st.integers(-1000, 1000).map(str),
                  st.floats(-200, 200, allow_nan=False).map(lambda x: f"{x:.5f}"))
_kind = st.one_of(st.sampled_from([k.zh for k in KINDS.values()] + ["社区卫生服务站", "", "nursery"]), _text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_text, _kind, _cell, _cell, _cell, _cell), min_size=1, max_size=25))
def test_every_random_row_is_kept_or_rejected(tmp_path, rows):
    df = pd.DataFrame(rows, columns=["名称", "类型", "经度", "纬度", "床位数", "托位数"])
    # real-looking coordinates in some rows
    rng = np.random.default_rng(len(rows))
    good = rng.random(len(df)) < 0.5
    df.loc[good, "经度"] = [f"{x:.6f}" for x in rng.uniform(114.24, 114.31, good.sum())]
    df.loc[good, "纬度"] = [f"{y:.6f}" for y in rng.uniform(30.56, 30.62, good.sum())]
    path = tmp_path / "random.csv"
    df.to_csv(path, index=False, encoding="utf-8-sig")
    fac, rej = load_facilities(path, crs=METRIC, area=AREA)
    kept_rows = set(fac["source_row"])
    rejected_rows = set(rej["row"])
    assert kept_rows.isdisjoint(rejected_rows)
    assert kept_rows | rejected_rows == set(range(2, len(df) + 2))
    assert len(rej) == len(rejected_rows)  # one reason per rejected row
