"""The spine end to end: `circles run` on the real demo data, and its clear one-line errors."""

from __future__ import annotations

import json
import re
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from typer.testing import CliRunner

from circles.cli import app
from conftest import DEMO

runner = CliRunner()


def _raster_sum(pattern_ages) -> float:
    total = 0.0
    for tif in (DEMO / "pop").glob("pop_*_wuhan_hankou.tif"):
        age = int(tif.name.split("_")[1])
        if age in pattern_ages:
            with rasterio.open(tif) as src:
                a = src.read(1, masked=True)
                total += float(a.sum())
    return total


def test_cli_run_demo_writes_consistent_outputs(tmp_path):
    out = tmp_path / "hankou"
    result = runner.invoke(app, ["run", str(DEMO / "study.toml"), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "stages:" in result.output and "report.html" in result.output
    assert "76 rows read, 73 kept, 3 rejected" in result.output
    for name in ("report.html", "coverage.gpkg", "units.csv", "summary.json", "rejects.csv"):
        assert (out / name).exists(), name
    units = pd.read_csv(out / "units.csv")
    layers = gpd.list_layers(out / "coverage.gpkg")["name"].tolist()
    for layer in ("units", "facilities", "isochrones", "population_points", "suggested_sites"):
        assert layer in layers
    gpkg_units = gpd.read_file(out / "coverage.gpkg", layer="units")
    assert len(units) == len(gpkg_units) == units["unit_id"].nunique()
    shares = units[[c for c in units.columns if c.startswith("cov_")]].to_numpy()
    finite = shares[~np.isnan(shares)]
    assert finite.size and finite.min() >= 0 and finite.max() <= 1
    # elderly over units equals the sum of the 60+ raster bands (an independent read)
    elderly_raster = _raster_sum(range(60, 100))
    assert abs(units["pop_elderly"].sum() - elderly_raster) / elderly_raster < 1e-3
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["units"] == len(units)
    assert summary["facilities"]["rejected"] == len(pd.read_csv(out / "rejects.csv"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "leaflet" in html.lower() and "circles-summary" in html
    assert all(u in html for u in units["unit_id"].head(5))
    # the infant estimate and the illustrative gazetteer are labelled in the report
    assert "0.15 × 20-39 岁女性" in html and "示意" in html  # the page's language (circles/i18n.py)


def _study_copy(tmp_path, replace: dict[str, str]):
    d = tmp_path / "study"
    shutil.copytree(DEMO, d)
    text = (d / "study.toml").read_text(encoding="utf-8")
    for a, b in replace.items():
        text = re.sub(a, b, text, count=1)
    (d / "study.toml").write_text(text, encoding="utf-8")
    return d / "study.toml"


def _assert_one_line_error(result, *needles):
    assert result.exit_code == 1
    msg = result.output.strip()
    assert "Traceback" not in msg
    for n in needles:
        assert n in msg, msg


def test_missing_study_file(tmp_path):
    r = runner.invoke(app, ["run", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")])
    _assert_one_line_error(r, "nope.toml", "not found")
    assert not (tmp_path / "o").exists()


def test_unknown_study_key_is_named(tmp_path):
    study = _study_copy(tmp_path, {r"walk_speed_mps = 1.0": "walk_speed_mps = 1.0\nwalk_sped = 2"})
    r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")])
    _assert_one_line_error(r, "walk_sped", "[travel]", "known keys")
    assert not (tmp_path / "o").exists()


def test_missing_network_file_is_named(tmp_path):
    study = _study_copy(tmp_path, {r'path = "roads.osm.pbf"': 'path = "roads_missing.geojson"'})
    r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")])
    _assert_one_line_error(r, "roads_missing.geojson", "network.path")
    assert not (tmp_path / "o").exists()


def test_study_area_without_roads(tmp_path):
    study = _study_copy(tmp_path, {})
    # move the study area 50 km east: the rasters and roads no longer meet it
    area = gpd.read_file(study.parent / "area.geojson")
    area["geometry"] = area.translate(0.5, 0.0)
    area.to_file(study.parent / "area.geojson", driver="GeoJSON")
    r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "study area" in r.output
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.partial")]


def test_other_real_inputs_end_to_end(tmp_path):
    """Community polygons, a GBK gazetteer, a centreline GeoPackage, no study area file, English."""
    from conftest import TESTDATA

    text = f'''
[study]
name = "other"
language = "en"
[network]
path = "{TESTDATA / 'centrelines.gpkg'}"
road_class_column = "道路等级"
name_column = "道路名称"
join_tolerance_m = 5
[[facilities]]
path = "{TESTDATA / 'gazetteer_gbk.csv'}"
[population]
folder = "{DEMO / 'pop'}"
pattern = "pop_{{age}}_{{sex}}_wuhan_hankou.tif"
[units]
path = "{TESTDATA / 'units_invalid.geojson'}"
[targets]
preset = "fuzhou"
[siting]
kinds = ["nursery"]
n_sites = 2
'''
    (tmp_path / "other.toml").write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["run", str(tmp_path / "other.toml"), "--out", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0, r.output
    units = pd.read_csv(tmp_path / "out" / "units.csv")
    assert list(units["unit_name"]) == ["民意社区", "新华社区", "北湖社区"]
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv")
    # every bad row of the GBK file; with no area file the study area is the union of the three
    # communities, and facilities are read within the search limit's reach of it (2 x 15 min at the
    # default 1.0 m/s = 1800 m): the Beijing row and row 3 (百步亭养老院, about 2.4 km from the
    # nearest community by shapely distance in EPSG:32650) are "outside the study area"
    assert len(rejects) == 8
    outside = rejects.loc[rejects["reason"].str.startswith("outside the study area"), "row"]
    assert sorted(outside) == [3, 12]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["targets"]["preset"] == "fuzhou" and summary["crs"] == "EPSG:32650"
    assert "Plan targets" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
