"""Coverage, capacity and targets on hand-checkable inputs; 2SFCA against PySAL access on the demo."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import shapely

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from circles import coverage as cov
from circles import targets as tg
from circles.labels import label
from conftest import DEMO
from oracle import unit_summary

INF = np.inf


def _points():
    # five cells in two units (A, B) and one empty unit (C); times in seconds to each kind
    return pd.DataFrame({
        "unit_id": ["A", "A", "A", "B", "B", "C"],
        "parent": ["S1", "S1", "S1", "S2", "S2", "S2"],
        "total": [100.0, 200.0, 300.0, 400.0, 0.0, 0.0],
        "elderly": [10.0, 20.0, 30.0, 40.0, 0.0, 0.0],
        "infants": [1.0, 2.0, 3.0, 4.0, 0.0, 0.0],
        "time_s_daycare": [200.0, 500.0, 1000.0, INF, INF, INF],
        "time_s_nursing_home": [INF, 250.0, 800.0, 700.0, INF, INF],
        "time_s_nursery": [100.0, 700.0, INF, 850.0, INF, INF],
    })


def test_shares_times_and_people_left_out_by_hand():
    pts = cov.add_any_times(_points())
    # nearest elderly service: min(daycare, nursing home) = 200, 250, 800, 700 s
    assert list(pts["time_s_elderly_any"][:4]) == [200, 250, 800, 700]
    table = cov.aggregate(pts, "unit_id", [5, 10, 15], ["daycare", "nursing_home", "nursery"])
    a, b = table.loc["A"], table.loc["B"]
    # unit A elderly 10/20/30 at 200/250/800 s: within 5 min (300 s): 30 of 60
    assert a["cov_elderly_any_5min"] == pytest.approx(30 / 60)
    assert a["cov_elderly_any_15min"] == pytest.approx(1.0)
    assert a["cov_elderly_daycare_10min"] == pytest.approx(30 / 60)  # 200 and 500 s <= 600 s
    assert b["cov_elderly_daycare_15min"] == 0.0  # no day-care reachable
    assert a["cov_infants_nursery_15min"] == pytest.approx(3 / 6)
    # weighted median of elderly time in A: weights 10, 20, 30 at 200, 250, 800 s -> 250 s
    assert a["time_elderly_median_min"] == pytest.approx(250 / 60)
    assert a["time_elderly_mean_min"] == pytest.approx((10 * 200 + 20 * 250 + 30 * 800) / 60 / 60)
    assert a["time_elderly_p90_min"] == pytest.approx(800 / 60)
    assert a["beyond_infants_15min"] == 3.0 and a["unreached_infants"] == 3.0
    # a unit with nobody is "no population", never 0 % or 100 %
    c = table.loc["C"]
    assert math.isnan(c["cov_elderly_any_15min"]) and math.isnan(c["cov_infants_any_5min"])
    # conservation and bounds
    assert table["pop_total"].sum() == pts["total"].sum()
    shares = table.filter(like="cov_").to_numpy()
    assert np.nanmin(shares) >= 0 and np.nanmax(shares) <= 1


def test_two_step_fca_by_hand():
    # f0 reaches p0, p1; f1 reaches p1, p2 (times within the 600 s catchment)
    times = sp.csr_matrix(np.array([[100.0, 300.0, 0.0], [0.0, 200.0, 500.0]]))
    supply = np.array([10.0, 20.0])
    demand = np.array([100.0, 200.0, 300.0])
    a = cov.two_step_fca(times, supply, demand, catchment_s=600)
    # R0 = 10 / 300, R1 = 20 / 500
    assert a == pytest.approx([10 / 300, 10 / 300 + 20 / 500, 20 / 500])
    # 2SFCA conserves supply: sum_i P_i A_i = sum_j S_j
    assert (a * demand).sum() == pytest.approx(supply.sum())
    # a shorter catchment drops the 500 s link: f1 then serves p1 only
    a2 = cov.two_step_fca(times, supply, demand, catchment_s=400)
    assert a2 == pytest.approx([10 / 300, 10 / 300 + 20 / 200, 0.0])
    # Gaussian decay: weight 1 at 0 s, 0 at the catchment edge
    assert cov.gaussian_weight(np.array([0.0, 600.0]), 600.0) == pytest.approx([1.0, 0.0])
    e = cov.two_step_fca(times, supply, demand, catchment_s=600, decay="gaussian")
    assert (e * demand).sum() == pytest.approx(supply.sum())


def test_targets_pass_fail_and_gap_text():
    table = pd.DataFrame({"pop_total": [100_000.0, 50_000.0, 0.0], "sfca_slots_per_1000_total": [3.0, 5.0, np.nan],
                          "pop_elderly": [20_000.0, 9_000.0, 0.0], "cov_elderly_any_15min": [0.5, 1.0, np.nan]},
                         index=pd.Index(["A", "B", "C"], name="unit_id"))
    preset = tg.load_preset("national")
    preset["indicators"] = [i for i in preset["indicators"] if i["id"] != "beds_per_1000_elderly"]
    res = tg.evaluate(table, preset, language="en").set_index(["unit_id", "indicator"])
    slots = res.xs("slots_per_1000_total", level="indicator")
    # A: (4.5 - 3.0) x 100,000 / 1,000 = 150 slots short
    assert slots.loc["A", "status"] == "fail" and slots.loc["A", "gap"] == 150
    assert slots.loc["A", "gap_text"] == "needs 150 more slots"
    assert slots.loc["B", "status"] == "pass" and slots.loc["C", "status"] == "no population"
    circle = res.xs("elderly_circle_15min", level="indicator")
    assert circle.loc["A", "gap"] == math.ceil(0.45 * 20_000)  # 9,000 more elderly to cover
    assert tg.gap_text(420, "slots", "zh") == "还需 420 个托位"


def test_every_builtin_preset_loads_with_sources():
    names = tg.builtin_presets()
    assert set(names) >= {"national", "fuzhou", "taizhou", "ganzi", "shaoyang", "mengzi"}
    for name in names:
        p = tg.load_preset(name)
        assert all(i.get("source") and i.get("label_zh") for i in p["indicators"]), name


def test_labels():
    assert label("cov_elderly_daycare_15min", "zh") == "15分钟内可达日间照料中心的老年人(60+)比例"
    assert label("cov_infants_any_10min", "en") == "Share of infants (0-3) within 10 min of any service for the group"
    assert label("time_elderly_p90_min", "en").startswith("p90 time")


def test_demo_unit_populations_sum_to_study(demo_run):
    res, _ = demo_run
    assert res.units["pop_elderly"].sum() == pytest.approx(res.overall["pop_elderly"].iloc[0])
    assert res.districts["pop_total"].sum() == pytest.approx(res.overall["pop_total"].iloc[0])


def test_our_2sfca_equals_pysal_access_on_the_demo(demo_run):
    access = pytest.importorskip("access")
    from circles.travel import TravelNetwork

    res, _ = demo_run
    net = TravelNetwork(res.nodes, res.edges, walk_speed_mps=1.0)
    fac = res.facilities[res.facilities["serves"] == "elderly"].reset_index(drop=True)
    fsnap = net.snap_points(fac, max_offroad_m=500)
    psnap = net.snap_points(res.points, max_offroad_m=500)
    M = net.times_to_points(fsnap, psnap, cutoff_s=900).tocoo()
    supply = fac["capacity"].fillna(0).to_numpy()
    demand = res.points["elderly"].to_numpy()
    ours = cov.two_step_fca(M.tocsr(), supply, demand, catchment_s=900)
    ours_g = cov.two_step_fca(M.tocsr(), supply, demand, catchment_s=900, decay="gaussian")
    cost = pd.DataFrame({"origin": M.col, "dest": M.row, "cost": M.data})
    A = access.Access(demand_df=pd.DataFrame({"cell": np.arange(len(demand)), "elderly": demand}),
                      demand_index="cell", demand_value="elderly",
                      supply_df=pd.DataFrame({"fac": np.arange(len(supply)), "beds": supply}),
                      supply_index="fac", supply_value="beds",
                      cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    theirs = A.two_stage_fca(name="2sfca", max_cost=900).iloc[:, 0].reindex(range(len(demand))).fillna(0).to_numpy()
    theirs_g = A.enhanced_two_stage_fca(name="g", max_cost=900, weight_fn=lambda t: cov.gaussian_weight(t, 900.0)) \
        .iloc[:, 0].reindex(range(len(demand))).fillna(0).to_numpy()
    assert np.count_nonzero(ours) > 1000
    assert np.max(np.abs(ours - theirs)) < 1e-12 + 1e-9 * np.max(ours)
    assert np.max(np.abs(ours_g - theirs_g)) < 1e-9 * np.max(ours_g)


# --------------------------------------------------------------------------- the plans' community indicators
COMMUNITY = Path(__file__).resolve().parent / "data" / "community"


def test_community_table_by_hand():
    # 4 communities in 2 streets. Day-care in C1 and C3, a nursery in C2, a kindergarten without
    # 托班 (serves "") in C4, a comprehensive centre in C1, a day-care in the halo (unit_id "").
    units = pd.DataFrame({"unit_id": ["C1", "C2", "C3", "C4"], "parent": ["A", "A", "B", "B"], "all": "study"})
    fac = pd.DataFrame({"unit_id": ["C1", "C3", "C2", "C4", "C1", ""],
                        "kind": ["daycare", "daycare", "nursery", "kindergarten", "elderly_centre", "daycare"],
                        "serves": ["elderly", "elderly", "infants", "", "elderly", "elderly"]})
    study = cov.community_table(units, fac, "all").loc["study"]
    assert study["n_communities"] == 4 and study["n_streets"] == 2
    assert study["comm_cov_daycare"] == pytest.approx(2 / 4)
    assert study["comm_cov_childcare"] == pytest.approx(1 / 4)  # the kindergarten takes no under-3s
    assert study["street_cov_elderly_centre"] == pytest.approx(1 / 2)
    streets = cov.community_table(units, fac, "parent")
    assert streets.loc["A", "comm_cov_daycare"] == 0.5 and streets.loc["B", "comm_cov_daycare"] == 0.5
    assert streets.loc["A", "street_cov_elderly_centre"] == 1.0 and streets.loc["B", "street_cov_elderly_centre"] == 0.0
    per_unit = cov.community_table(units, fac, "unit_id")
    assert per_unit["comm_cov_daycare"].tolist() == [1.0, 0.0, 1.0, 0.0]
    # a group whose communities have no street: no street figure (not 0 %), and the counts as the
    # street-less form has always written them (floats: units.csv shows "0.0" there, "1" elsewhere)
    two = units.assign(g=["x", "x", "y", "y"], parent=["A", "A", "", ""])
    by_g = cov.community_table(two, fac, "g")
    assert by_g["n_streets"].tolist() == [1.0, 0.0] and by_g["n_streets"].dtype == float
    assert by_g.loc["x", "street_cov_elderly_centre"] == 1.0 and np.isnan(by_g.loc["y", "street_cov_elderly_centre"])
    assert by_g["n_communities"].dtype == np.int64 and by_g["n_with_comm_cov_daycare"].tolist() == [1, 1]


def test_community_gap_counts_communities():
    table = pd.DataFrame({"n_communities": [12.0], "comm_cov_daycare": [0.25]}, index=pd.Index(["study"], name="all"))
    preset = {"indicators": [{"id": "d", "metric": "comm_cov_daycare", "op": ">=", "value": 0.95,
                              "gap": "communities", "group": "communities"}]}
    r = tg.evaluate(table, preset, language="en").iloc[0]
    assert r["status"] == "fail" and r["gap"] == 9  # ceil((0.95 - 0.25) x 12) = ceil(8.4)
    assert r["gap_text"] == "needs 9 more communities"


@pytest.fixture(scope="module")
def community_run():
    from circles.pipeline import analyse
    from circles.study import load_study

    return analyse(load_study(COMMUNITY / "study.toml"))


def _inside_area(df_lonlat):
    area = shapely.union_all(gpd.read_file(COMMUNITY / "area.geojson").geometry.values)
    return shapely.covers(area, shapely.points(df_lonlat["经度"].astype(float), df_lonlat["纬度"].astype(float)))


def test_community_study_literal_and_walk_side_by_side(community_run):
    res = community_run
    comm = gpd.read_file(COMMUNITY / "communities.geojson")
    raw = pd.read_csv(COMMUNITY / "facilities.csv", dtype=str)
    pts = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw["经度"].astype(float), raw["纬度"].astype(float)),
                           crs=4326)
    joined = gpd.sjoin(pts, comm, predicate="within")
    with_daycare = set(joined.loc[joined["类型"].str.contains("日间照料"), "code"])
    # by hand from the input files: communities holding a day-care row / all communities
    o = res.overall.iloc[0]
    assert o["comm_cov_daycare"] == pytest.approx(len(with_daycare) / len(comm))
    r = res.summary["targets"]["study"]
    row = next(x for x in r if x["indicator"] == "daycare_coverage")
    assert row["measured"] == pytest.approx(len(with_daycare) / len(comm), abs=1e-4)
    ov = res.target_results  # per unit; the study rows carry which form is scored and the walk pair
    assert res.summary["targets"]["scored"]["daycare_coverage"].startswith("literal")
    assert res.summary["communities"]["comm_cov_daycare"]["with"] == len(with_daycare)
    assert "pair_measured" in ov.columns
    # the walk-based form beside it: the share of elderly within 15 min of a day-care centre
    assert row["pair_metric"] == "cov_elderly_daycare_15min"
    assert row["pair_measured"] == pytest.approx(res.summary["siting"]["daycare"]["share_before"], abs=1e-4)
    # and the report's target table shows both forms side by side, in the page's language
    from circles.report import summary_html

    for lang, word in (("zh", "步行可达人口占比"), ("en", "share of people within walking reach")):
        page = summary_html(res.summary, res.preset, lang)
        cell = page.split("data-indicator='daycare_coverage'")[1].split("</tr>")[0]
        assert f"{100 * len(with_daycare) / len(comm):.1f}" in cell and word in cell
        assert f"{100 * res.summary['siting']['daycare']['share_before']:.1f}" in cell


def test_where_filter_and_not_assessable(community_run):
    res = community_run
    rows = {x["indicator"]: x for x in res.summary["targets"]["study"]}
    # no unit is a township: not assessable, never 0 %
    assert rows["elderly_circle_township"]["status"] == "not assessable"
    assert rows["elderly_circle_township"]["measured"] is None
    # rural share by hand from the units table: people-weighted over the rural units only
    u = res.units[res.units["attr_urban_rural"] == "rural"]
    want = (u["cov_elderly_any_15min"] * u["pop_elderly"]).sum() / u["pop_elderly"].sum()
    assert rows["elderly_circle_rural"]["measured"] == pytest.approx(want, abs=1e-4)


def test_kind_absent_from_every_gazetteer_is_not_assessable(community_run):
    from circles.stages.score import not_assessable

    preset = tg.load_preset("taizhou")  # every street a comprehensive centre: the study has none
    reasons = not_assessable(preset, community_run.facilities, community_run.units, True)
    assert "street_centre_coverage" in reasons and "(elderly_centre)" in reasons["street_centre_coverage"]
    r = tg.evaluate(community_run.overall, preset, not_assessable=reasons)
    row = r.set_index("indicator").loc["street_centre_coverage"]
    assert row["status"] == "not assessable" and np.isnan(row["measured"])


def test_study_ratios_count_facilities_inside_the_area_only(community_run, tmp_path):
    import shutil

    from circles.pipeline import analyse
    from circles.study import load_study

    for p in COMMUNITY.iterdir():
        if p.is_file():
            shutil.copy(p, tmp_path / p.name)
        else:
            shutil.copytree(p, tmp_path / p.name)
    raw = pd.read_csv(COMMUNITY / "facilities.csv", dtype=str)
    # a nursing home 300 m east of the area (in the halo): it serves 2SFCA, not the study's totals
    area = gpd.read_file(COMMUNITY / "area.geojson").total_bounds
    extra = raw.iloc[[0]].assign(编号="H1", 名称="边界外养老院", 类型="养老院", 经度=str(area[2] + 0.003),
                                 纬度=str((area[1] + area[3]) / 2), 床位数="500", 托位数="", 托班托位数="")
    pd.concat([raw, extra]).to_csv(tmp_path / "facilities.csv", index=False)
    study = load_study(tmp_path / "study.toml")
    study.siting.n_sites = 0
    res = analyse(study)
    inside = raw[_inside_area(raw) & raw["类型"].str.contains("养老院") & ~raw["类型"].str.contains("儿童")]
    beds = pd.to_numeric(inside["床位数"].str.replace("张", ""), errors="coerce").fillna(0).sum()
    assert res.summary["capacity"]["beds_total"] == beds  # by hand: 120张 row + the demo's rows inside
    assert res.summary["capacity"]["facilities_in_halo"] == 1
    assert res.summary["capacity"]["beds_unknown_facilities"] == 1  # the row with no bed count


def test_total_raster_used_and_rule_recorded(community_run):
    import rasterio

    with rasterio.open(COMMUNITY / "pop_total.tif") as src:
        total = float(src.read(1, masked=True).sum())
    s = community_run.summary["population"]
    assert s["total"] == pytest.approx(total, rel=1e-6)  # the area is the raster window
    assert s["rules"]["total"].startswith("measured: total raster")


def test_preset_works_with_any_thresholds_containing_its_own(community_run):
    from circles.pipeline import analyse
    from circles.study import load_study

    study = load_study(COMMUNITY / "study.toml")
    study.travel.thresholds_min = [10.0, 15.0, 30.0]
    study.siting.n_sites = 0
    other = analyse(study)
    a = {r["indicator"]: r["measured"] for r in community_run.summary["targets"]["study"]}
    b = {r["indicator"]: r["measured"] for r in other.summary["targets"]["study"]}
    assert a == b
    assert other.summary["capacity"]["sfca_slots_per_1000_total"] == community_run.summary["capacity"][
        "sfca_slots_per_1000_total"]  # 2SFCA catchment is the preset's 15 min, not the longest threshold


def test_one_after_state_for_siting_table_and_after_columns(community_run):
    res = community_run
    info = res.summary["siting"]["daycare"]
    u = res.units
    after = (u["cov_elderly_daycare_15min_after"] * u["pop_elderly"]).sum() / u["pop_elderly"].sum()
    assert info["share_after"] == pytest.approx(after, abs=1e-9)
    assert res.sites["gain"].sum() == pytest.approx(info["covered_after"] - info["covered_before"])
    assert not res.sites["name"].str.startswith("路网节点").any()


def test_not_assessable_is_said_in_the_report(community_run, tmp_path):
    from circles.pipeline import write_outputs

    folder = write_outputs(community_run, tmp_path / "community-test")
    html = (folder / "report.html").read_text(encoding="utf-8")
    # 蒙自: no unit is a township, so that share is 无法评估 with its reason, not 0 %
    assert "无法评估" in html and "没有 urban_rural 为 township" in html
    rows = {r["indicator"]: r for r in community_run.summary["targets"]["study"]}
    assert rows["elderly_circle_township"]["status"] == "not assessable"


def test_street_polygons_give_each_community_its_street(community_run, tmp_path):
    import shutil

    from circles.pipeline import analyse
    from circles.study import load_study

    shutil.copytree(COMMUNITY, tmp_path / "c")
    comm = gpd.read_file(COMMUNITY / "communities.geojson")
    comm.dissolve("parent").reset_index()[["parent", "geometry"]].rename(columns={"parent": "name"}).to_file(
        tmp_path / "c" / "streets.geojson", driver="GeoJSON")
    comm.drop(columns="parent").to_file(tmp_path / "c" / "communities.geojson", driver="GeoJSON")
    study = load_study(tmp_path / "c" / "study.toml")
    study.units.parents = tmp_path / "c" / "streets.geojson"
    study.siting.n_sites = 0
    res = analyse(study)
    # the street polygons are the dissolved streets: each community gets its street back
    got = res.units.set_index("unit_id")["parent"]
    assert got.to_dict() == comm.set_index("code")["parent"].to_dict()
    assert res.summary["communities"]["n_streets"] == 2
    # no gazetteer holds a comprehensive centre: no street has one (the count); the share is
    # "not assessable" (README), checked in test_street_share_without_any_centre_is_not_assessable
    assert res.summary["communities"]["street_cov_elderly_centre"]["with"] == 0


def test_street_count_without_streets_is_not_assessable(community_run):
    """A count over streets (taizhou: every street a comprehensive centre) on units that carry no street
    (no parent/街道 column, no units.parents): "not assessable: needs ... street", not "no population"."""
    from circles.stages.score import not_assessable

    preset = tg.load_preset("taizhou")
    fac = community_run.facilities.copy()
    fac.loc[fac.index[0], ["kind", "serves"]] = ["elderly_centre", "elderly"]  # the kind present: not "no_kind"
    with_streets = not_assessable(preset, fac, community_run.units, True)
    assert "street_centre_coverage" not in with_streets  # the community study's units have their streets
    no_streets = community_run.units.assign(parent="")
    for lang, word in (("en", "needs each unit's street"), ("zh", "需要各单元所属街道")):
        reasons = not_assessable(preset, fac, no_streets, True, lang)
        assert word in reasons["street_centre_coverage"]
        assert set(reasons) - set(with_streets) == {"street_centre_coverage"}  # only the street count moves
    row = tg.evaluate(community_run.overall, preset, not_assessable=reasons).set_index("indicator").loc[
        "street_centre_coverage"]
    assert row["status"] == "not assessable" and np.isnan(row["measured"])


def test_street_share_without_any_centre_is_not_assessable(community_run):
    """README "What each indicator counts": an indicator whose facility kind is in no gazetteer is
    *not assessable*, not 0 %. tests/data/community has no 综合养老服务中心 in any gazetteer."""
    assert not (community_run.facilities["kind"] == "elderly_centre").any()
    share = community_run.summary["communities"]["street_cov_elderly_centre"]["share"]
    assert share is None and community_run.summary["communities"]["street_cov_elderly_centre"]["status"] == \
        "not assessable"


def test_kindergartens_without_nursery_class_and_no_elderly_facility_are_not_assessable():
    """data/demo/facilities_osm_real.csv holds two kindergartens with an empty 托位数 and no elderly facility.

    By hand: no facility serves the elderly, so the "any elderly service" share cannot be measured
    (not 0 % fail); the kindergartens list no 托班 places, so the slot ratio is not assessable
    because of that, not because "no kindergarten" exists.
    """
    from circles import i18n
    from circles.io.facilities import load_facilities
    from circles.stages.score import not_assessable as _not_assessable

    fac, _ = load_facilities(DEMO / "facilities_osm_real.csv", crs=32650, coords="wgs84")
    assert list(fac["kind"]) == ["kindergarten", "kindergarten"]
    preset = tg.load_preset("national")
    units = gpd.GeoDataFrame({"unit_id": ["u"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=32650)
    reasons = _not_assessable(preset, fac, units, False, "en")
    assert "elderly_circle_15min" in reasons and "(daycare)" in reasons["elderly_circle_15min"]
    slots = reasons["slots_per_1000_total"]
    assert "kindergartens are present but none lists nursery-class places" in slots and "(kindergarten)" not in slots
    assert "(nursery)" in slots  # and no nursery either
    zh = _not_assessable(preset, fac, units, False, "zh")["slots_per_1000_total"]
    assert "托班" in zh and i18n.relang(zh, "en") == slots
    table = pd.DataFrame({"cov_elderly_any_15min": [0.0], "sfca_beds_per_1000_elderly": [0.0],
                          "sfca_slots_per_1000_total": [0.0], "pop_total": [1000.0], "pop_elderly": [200.0],
                          "pop_infants": [30.0]})
    r = tg.evaluate(table, preset, language="en", not_assessable=reasons).set_index("indicator")
    assert r.loc["elderly_circle_15min", "status"] == "not assessable"


def test_aggregate_equals_each_unit_summarised_alone():
    """The vectorised per-unit figures (one sort, reduceat, one cumulative sum per unit) equal the
    oracle ``tests/oracle.py`` ``unit_summary`` run on each unit's rows alone (a pandas groupby), on units
    of 1 to 300 rows (several padded blocks), tied times, unreachable cells (inf), units whose
    people are all zero and rows with no unit (dropped, as a groupby drops them)."""
    rng = np.random.default_rng(7)
    sizes = np.r_[1, 1, 2, 3, 7, 8, 9, 60, 130, 300, rng.integers(1, 40, 30)]
    unit = np.repeat([f"U{i:03d}" for i in range(len(sizes))], sizes).astype(object)
    n = len(unit)
    rng.shuffle(unit)
    unit[rng.random(n) < 0.03] = None
    people = rng.integers(0, 4, n) * 25.0  # many zeros and ties
    people[unit == "U002"] = 0.0
    t = lambda: np.where(rng.random(n) < 0.1, INF, rng.integers(1, 40, n) * 60.0)  # noqa: E731  tied minutes
    pts = cov.add_any_times(pd.DataFrame({"unit_id": unit, "total": people * 3, "elderly": people,
                                          "infants": people[::-1].copy(), "time_s_daycare": t(),
                                          "time_s_nursing_home": t(), "time_s_nursery": t()}))
    kinds = ["daycare", "nursing_home", "nursery"]
    got = cov.aggregate(pts, "unit_id", [5, 10, 15], kinds)
    want = pd.DataFrame({u: unit_summary(g, [5, 10, 15], kinds) for u, g in pts.groupby("unit_id")}).T
    assert list(got.index) == sorted(set(unit[pd.notna(unit)]))
    assert list(got.columns) == list(want.columns)
    for c in got.columns:
        a, b = got[c].to_numpy(float), want[c].to_numpy(float)
        assert np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True), c
    # by hand: unit U002 has no people (shares and times undefined), unit U000 one row
    assert np.isnan(got.loc["U002", "cov_elderly_any_15min"]) and np.isnan(got.loc["U002", "time_elderly_median_min"])
    one = pts[pts["unit_id"] == "U000"].iloc[0]
    if one["elderly"] > 0:
        assert got.loc["U000", "time_elderly_median_min"] == one["time_s_elderly_any"] / 60.0
    # a constant key: one row for every point (rows with no unit included), the oracle on all of them
    whole = cov.aggregate(pts.assign(_all=0), "_all", [5, 10, 15], kinds)
    assert list(whole.index) == [0]
    for c, v in unit_summary(pts, [5, 10, 15], kinds).items():
        assert np.allclose(whole[c].to_numpy(float), [v], rtol=1e-12, atol=0, equal_nan=True), c
