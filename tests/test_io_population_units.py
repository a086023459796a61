"""Population rasters and analysis units: sums conserved, documented estimates, clear errors."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer

from circles.errors import InputFileError
from circles.io.population import grid_to_points, load_population, read_population_grid
from circles.io.units import assign_points, describe_repair, grid_units, load_units, repairs_table
from conftest import DEMO, METRIC, MUST_SHOW, TESTDATA

PATTERN = "pop_{age}_{sex}_wuhan_hankou.tif"


def _band_sum(ages) -> float:
    total = 0.0
    for age in ages:
        for sex in "fm":
            with rasterio.open(DEMO / "pop" / f"pop_{age}_{sex}_wuhan_hankou.tif") as src:
                total += float(src.read(1, masked=True).sum())
    return total


def test_age_groups_from_bands_and_documented_estimates():
    g = read_population_grid(DEMO / "pop", pattern=PATTERN, child_woman_ratio=0.15, under20_share=0.17)
    assert g.elderly.sum() == pytest.approx(_band_sum(range(60, 85, 5)))
    women = sum(float(rasterio.open(DEMO / "pop" / f"pop_{a}_f_wuhan_hankou.tif").read(1, masked=True).sum())
                for a in (20, 25, 30, 35))
    assert g.infants.sum() == pytest.approx(0.15 * women)
    assert g.total.sum() == pytest.approx(_band_sum(range(20, 85, 5)) / 0.83)
    assert set(g.estimated) == {"infants", "total"}
    # the shared data README's measured sums, as a cross-check of the reader
    assert g.elderly.sum() == pytest.approx(131_950, abs=2)


def test_points_conserve_people_when_reprojected():
    g = read_population_grid(DEMO / "pop", pattern=PATTERN)
    pts = grid_to_points(g, crs=METRIC)
    assert pts["total"].sum() == pytest.approx(g.total.sum())
    assert pts.crs == METRIC and len(pts) == int(((g.total > 0) | (g.elderly > 0)).sum())
    # nodata (rivers) cells carry nobody
    assert len(pts) < g.total.size


def test_window_read_conserves_whole_cells():
    bounds = (114.26, 30.57, 114.29, 30.60)
    g = read_population_grid(DEMO / "pop", pattern=PATTERN, bounds_wgs84=bounds)
    full = read_population_grid(DEMO / "pop", pattern=PATTERN)
    assert g.total.shape[0] < full.total.shape[0] and g.total.shape[1] < full.total.shape[1]
    # the window's cells are exactly the full grid's cells at the same place
    col0 = round((g.transform.c - full.transform.c) / full.transform.a)
    row0 = round((g.transform.f - full.transform.f) / full.transform.e)
    h, w = g.total.shape
    assert np.array_equal(g.total, full.total[row0:row0 + h, col0:col0 + w])


def test_total_only_raster_rule(tmp_path):
    with rasterio.open(DEMO / "pop" / "pop_30_f_wuhan_hankou.tif") as src:
        prof, arr = src.profile, src.read(1)
    with rasterio.open(tmp_path / "total.tif", "w", **prof) as dst:
        dst.write(arr, 1)
    g = read_population_grid(None, total_file=tmp_path / "total.tif", elderly_share=0.2, infant_share=0.03)
    assert g.elderly.sum() == pytest.approx(0.2 * g.total.sum())
    assert g.infants.sum() == pytest.approx(0.03 * g.total.sum())
    assert "elderly" in g.estimated


def test_population_errors(tmp_path):
    with pytest.raises(InputFileError, match="population folder not found"):
        read_population_grid(tmp_path / "nope")
    with pytest.raises(InputFileError, match="no raster matches"):
        read_population_grid(DEMO / "pop", pattern="worldpop_{sex}_{age}.tif")
    with pytest.raises(InputFileError, match="sums to zero"):
        read_population_grid(None, total_file=TESTDATA / "pop_empty.tif")
    with pytest.raises(InputFileError, match="no CRS"):
        read_population_grid(TESTDATA / "pop_nocrs", pattern="pop_{age}_{sex}_x.tif")
    with pytest.raises(InputFileError, match="does not cover the study area"):
        read_population_grid(DEMO / "pop", pattern=PATTERN, bounds_wgs84=(120.0, 35.0, 120.1, 35.1))
    with pytest.raises(InputFileError, match="not a readable raster"):
        (tmp_path / "pop_60_f_bad.tif").write_text("not a tiff")
        read_population_grid(tmp_path, pattern="pop_{age}_{sex}_bad.tif")


def test_units_from_file_repaired_and_named():
    area = gpd.GeoSeries([shapely.box(114.2396, 30.5604, 114.3096, 30.6204)], crs=4326).to_crs(METRIC).iloc[0]
    units = load_units(TESTDATA / "units_invalid.geojson", crs=METRIC, area=area)
    assert list(units["unit_name"]) == ["民意社区", "新华社区", "北湖社区"]
    assert list(units["unit_id"]) == ["420103001", "420103002", "420103003"]
    assert units.geometry.is_valid.all() and (units.geometry.area > 0).all()


def _shoelace(xy) -> float:
    x, y = np.asarray(xy, dtype=float).T
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def test_bow_tie_in_the_test_file_repaired_and_reported(caplog):
    with caplog.at_level("WARNING", logger="circles.io.units"):
        units = load_units(TESTDATA / "units_invalid.geojson", crs=METRIC)
    (rep,) = units.attrs["repairs"]
    assert (rep["unit_id"], rep["unit_name"], rep["reason"]) == ("420103003", "北湖社区", "Self-intersection")
    # the edges (114.28, 30.58)-(114.29, 30.59) and (114.29, 30.58)-(114.28, 30.59) cross at their midpoints
    assert (rep["lon"], rep["lat"]) == pytest.approx((114.285, 30.585), abs=1e-9)
    # by hand: the repair is the two triangles either side of the crossing, nothing dropped
    tx = Transformer.from_crs(4326, METRIC, always_xy=True)
    left = [tx.transform(*p) for p in [(114.28, 30.58), (114.285, 30.585), (114.28, 30.59)]]
    right = [tx.transform(*p) for p in [(114.29, 30.58), (114.285, 30.585), (114.29, 30.59)]]
    expected = _shoelace(left) + _shoelace(right)
    assert rep["area_after_m2"] == pytest.approx(expected, rel=1e-9)
    assert rep["area_before_m2"] == pytest.approx(expected, rel=1e-9)
    assert rep["dropped_area_m2"] == 0 and rep["dropped"].is_empty
    assert units.set_index("unit_id").geometry["420103003"].area == pytest.approx(expected, rel=1e-9)
    line = next(r.message for r in caplog.records if "repaired" in r.message)
    assert "420103003 北湖社区: Self-intersection at lon 114.285000, lat 30.585000" in line
    MUST_SHOW.append(f"bow-tie unit, repaired and reported: {line}")


def _hand_made_units(tmp_path):
    """Two invalid units in metres (EPSG:32650) whose areas are worked out by hand, one valid."""
    x0, y0 = 240_000.0, 3_386_000.0
    bow_tie = [(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)]
    # a ring that circles the square 25-75 twice: make_valid (even-odd) turns it into a hole
    loop = [(0, 0), (100, 0), (100, 100), (0, 100), (0, 25), (75, 25), (75, 75), (25, 75), (25, -25), (0, -25), (0, 0)]
    square = [(200, 0), (300, 0), (300, 100), (200, 100), (200, 0)]
    polys = [shapely.Polygon([(x0 + x, y0 + y) for x, y in r]) for r in (bow_tie, loop, square)]
    gpd.GeoDataFrame({"name": ["蝴蝶社区", "回环社区", "方正社区"], "code": ["B1", "L1", "S1"]},
                     geometry=polys, crs=METRIC).to_file(tmp_path / "hand.gpkg")
    return tmp_path / "hand.gpkg", x0, y0


def test_hand_made_bow_tie_and_double_loop_areas(tmp_path):
    path, x0, y0 = _hand_made_units(tmp_path)
    units = load_units(path, crs=METRIC)
    reps = {r["unit_id"]: r for r in units.attrs["repairs"]}
    assert set(reps) == {"B1", "L1"}
    # bow-tie: two triangles of 100 x 50 / 2 = 2,500 m² either side of the crossing at (50, 50)
    b = reps["B1"]
    assert (b["x"], b["y"]) == pytest.approx((x0 + 50, y0 + 50))
    assert b["area_before_m2"] == pytest.approx(5000) and b["area_after_m2"] == pytest.approx(5000)
    assert b["dropped_area_m2"] == 0
    # loop: the outline encloses the 100 x 100 square less the 25 x 25 notch at its corner (not
    # closed by any edge) plus the 25 x 25 tab below: 10,000 - 625 + 625 = 10,000 m²; the
    # 50 x 50 square circled twice (2,500 m²) is what the repair leaves out
    lo = reps["L1"]
    assert (lo["x"], lo["y"]) == pytest.approx((x0 + 25, y0 + 25))
    assert lo["area_before_m2"] == pytest.approx(10_000) and lo["area_after_m2"] == pytest.approx(7_500)
    assert lo["dropped_area_m2"] == pytest.approx(2_500)
    inner = shapely.box(x0 + 25, y0 + 25, x0 + 75, y0 + 75)
    assert lo["dropped"].symmetric_difference(inner).area == pytest.approx(0, abs=1e-6)
    assert lo["added_area_m2"] == pytest.approx(0, abs=1e-6)
    got = units.set_index("unit_id").geometry
    assert got["L1"].area == pytest.approx(7_500) and got["S1"].area == pytest.approx(10_000)
    lon, lat = Transformer.from_crs(METRIC, 4326, always_xy=True).transform(x0 + 50, y0 + 50)
    assert (b["lon"], b["lat"]) == pytest.approx((lon, lat), abs=1e-9)
    MUST_SHOW.append(f"hand-made double loop repaired: {describe_repair(lo)}")
    table = repairs_table(units)
    assert list(table["unit_id"]) == ["B1", "L1"] and table.crs == units.crs
    assert table.area.tolist() == pytest.approx([0, 2_500])


def test_refuse_invalid_units_names_each_unit_and_where(tmp_path):
    path, x0, y0 = _hand_made_units(tmp_path)
    with pytest.raises(InputFileError) as exc:
        load_units(path, crs=METRIC, invalid="refuse")
    msg = str(exc.value)
    assert len(msg.splitlines()) == 1 and "2 invalid unit polygons" in msg
    lon, lat = Transformer.from_crs(METRIC, 4326, always_xy=True).transform([x0 + 50, x0 + 25], [y0 + 50, y0 + 25])
    assert f"B1 蝴蝶社区: Self-intersection at lon {lon[0]:.6f}, lat {lat[0]:.6f}" in msg
    assert f"L1 回环社区: Self-intersection at lon {lon[1]:.6f}, lat {lat[1]:.6f}" in msg
    assert 'invalid = "repair"' in msg and "方正社区" not in msg
    MUST_SHOW.append(f"units.invalid = \"refuse\": {msg}")
    # valid units pass either way, with no repairs recorded
    units = load_units(TESTDATA / "units_invalid.geojson", crs=METRIC)
    assert load_units(DEMO / "districts.geojson", crs=METRIC, invalid="refuse").attrs["repairs"] == []
    assert len(units.attrs["repairs"]) == 1


def test_units_not_overlapping_and_missing_columns(tmp_path):
    far = gpd.GeoSeries([shapely.box(120.0, 35.0, 120.1, 35.1)], crs=4326).to_crs(METRIC).iloc[0]
    with pytest.raises(InputFileError, match="no unit overlaps the study area"):
        load_units(TESTDATA / "units_invalid.geojson", crs=METRIC, area=far)
    with pytest.raises(InputFileError, match="name_column"):
        load_units(TESTDATA / "units_invalid.geojson", crs=METRIC, name_column="街道")
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)]).to_file(tmp_path / "u.shp")
    (tmp_path / "u.prj").unlink(missing_ok=True)
    with pytest.raises(Exception, match="no coordinate reference system"):
        load_units(tmp_path / "u.shp", crs=METRIC)


def test_grid_units_cover_area_and_take_majority_parent():
    area = gpd.read_file(DEMO / "area.geojson").to_crs(METRIC).geometry.iloc[0]
    parents = gpd.read_file(DEMO / "districts.geojson")
    grid = grid_units(area, crs=METRIC, cell_size_m=1000, parents=parents)
    assert grid.geometry.area.sum() == pytest.approx(area.area, rel=1e-9)
    assert grid["unit_id"].is_unique and grid["unit_id"].iloc[0] == "A01"
    assert set(grid["parent"]) <= set(parents["name"])
    pts, _, _ = load_population(DEMO / "pop", crs=METRIC, pattern=PATTERN)
    owner = assign_points(pts, grid)
    assert (owner != "").all()  # every populated cell centre lies in exactly one unit


def _tiny(path, values, *, transform=None):
    """A 2 x 2 WGS84 raster of people per cell (hand-checkable)."""
    from rasterio.transform import from_origin

    arr = np.asarray(values, dtype="float32").reshape(2, 2)
    with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32", crs="EPSG:4326",
                       transform=transform or from_origin(114.27, 30.59, 0.001, 0.001), nodata=-1) as dst:
        dst.write(arr, 1)


def test_sex_field_matches_f_and_m_only(tmp_path):
    # WorldPop ships a both-sexes band ("t") beside f and m: it must not be added again
    _tiny(tmp_path / "pop_60_f_x.tif", [1, 2, 3, 4])
    _tiny(tmp_path / "pop_60_m_x.tif", [1, 1, 1, 1])
    _tiny(tmp_path / "pop_60_t_x.tif", [2, 3, 4, 5])
    _tiny(tmp_path / "pop_20_f_x.tif", [10, 10, 10, 10])
    g = read_population_grid(tmp_path, pattern="pop_{age}_{sex}_x.tif", under20_share=0.2)
    assert g.elderly.sum() == pytest.approx(10 + 4)  # f + m, not f + m + t = 28
    assert g.total.sum() == pytest.approx((14 + 40) / 0.8)


def test_total_raster_given_with_bands_is_the_total(tmp_path):
    _tiny(tmp_path / "pop_60_f_x.tif", [1, 2, 3, 4])
    _tiny(tmp_path / "pop_20_f_x.tif", [5, 5, 5, 5])
    _tiny(tmp_path / "total.tif", [10, 20, 30, 40])
    g = read_population_grid(tmp_path, pattern="pop_{age}_{sex}_x.tif", total_file=tmp_path / "total.tif")
    assert g.total.sum() == pytest.approx(100)  # not (10 + 20) / (1 - 0.23)
    assert g.elderly.sum() == pytest.approx(10)  # age groups still from the bands
    assert "total raster" in g.rules["total"] and "total" not in g.estimated
    assert g.rules["elderly"].startswith("measured")
    # conflicting inputs are refused: the bands hold more people than the total
    _tiny(tmp_path / "small.tif", [1, 1, 1, 1])
    with pytest.raises(InputFileError, match="conflict"):
        read_population_grid(tmp_path, pattern="pop_{age}_{sex}_x.tif", total_file=tmp_path / "small.tif")
    # and a total on another grid is refused rather than resampled silently
    from rasterio.transform import from_origin

    other = tmp_path / "other"
    other.mkdir()
    _tiny(other / "total.tif", [10, 20, 30, 40], transform=from_origin(114.2705, 30.59, 0.001, 0.001))
    with pytest.raises(InputFileError, match="grid differs"):
        read_population_grid(tmp_path, pattern="pop_{age}_{sex}_x.tif", total_file=other / "total.tif")


def test_default_under20_share_is_the_census_figure(tmp_path):
    # China 2020 census: 0-14 = 17.95 %, 15-19 about 5.1 %: 0-19 about 23 %
    from circles.study import PopulationOptions

    assert PopulationOptions().under20_share == 0.23
    _tiny(tmp_path / "pop_20_f_x.tif", [77, 0, 0, 0])
    g = read_population_grid(tmp_path, pattern="pop_{age}_{sex}_x.tif")
    assert g.total.sum() == pytest.approx(100)  # 77 adults / (1 - 0.23)
    assert "0.23" in g.estimated["total"]


def _community_polygons_study(tmp_path, area: str | None = None):
    """tests/data/community_polygons.toml with absolute paths (and optionally a study.area)."""
    import re

    from circles.study import load_study

    text = (TESTDATA / "community_polygons.toml").read_text(encoding="utf-8")
    text = re.sub(r'(path|folder|parents) = "([^"]+)"',
                  lambda m: f'{m[1]} = "{(TESTDATA / m[2]).resolve().as_posix()}"', text)
    if area:
        text = text.replace('language = "en"', f'language = "en"\narea = "{area}"')
    (tmp_path / "study.toml").write_text(text, encoding="utf-8")
    return load_study(tmp_path / "study.toml")


def _people_in_units(res):
    """Oracle: the study's cells whose centres lie in the units as read straight from the file."""
    units = gpd.read_file(TESTDATA / "units_invalid.geojson").to_crs(res.crs)
    union = shapely.union_all(shapely.make_valid(units.geometry.values))
    return shapely.covers(union, res.points.geometry.values)


def test_units_file_without_area_makes_the_study_area(tmp_path, caplog):
    """No study.area, units from a file: the study is the union of the units (every counted person is in a unit),
    and the log's population line gives the study's own figures, not the area read around it."""
    import logging

    from circles.pipeline import analyse

    with caplog.at_level(logging.INFO, logger="circles"):
        res = analyse(_community_polygons_study(tmp_path))
    inside = _people_in_units(res)
    assert inside.all() and len(res.points) > 0
    assert res.summary["population"]["outside_units_total"] == 0
    total = res.points["total"].sum()
    assert f"population in the study area: {len(res.points)} populated cells, {total:.0f} people" in caplog.text
    assert "read outside the study area" in caplog.text
    assert not [m for m in res.summary.get("warnings", []) if "lie in no unit" in m]


def test_area_with_most_people_in_no_unit_is_warned(tmp_path, caplog):
    """study.area = the demo window around three communities: most of its people lie in no unit, so the
    summary and the log warn, with the share computed here from the units file."""
    import logging

    from circles.pipeline import analyse

    with caplog.at_level(logging.INFO, logger="circles"):
        res = analyse(_community_polygons_study(tmp_path, (DEMO / "area.geojson").as_posix()))
    w = res.points["total"].to_numpy(float)
    share = w[~_people_in_units(res)].sum() / w.sum()
    assert share > 0.10
    msgs = [m for m in res.summary["warnings"] if "lie in no unit" in m]
    assert len(msgs) == 1 and msgs[0].startswith(f"{share:.0%} of the study area's people")
    assert msgs[0] in caplog.text
