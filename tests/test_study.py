"""Every study option is checked when the study is read: one line naming the file, the key and the fix.

Each bad value below is written into a copy of the real demo study and given to the real
``circles run`` command; the oracle is the rule in the option's documentation (a share is
0-1, a grid cell has a positive size, EPSG:99999 does not exist in the EPSG registry, UTM
zone 49N is EPSG:32649 by the EPSG numbering 326zz). The fuzz test gives random values of
every kind to every key and asks only that the reader answers with a Study or a StudyError.
"""

from __future__ import annotations

import copy
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from circles.cli import app
from circles.errors import StudyError
from circles.stages.load import load_inputs
from circles.study import _SPEC, Study, load_study, study_from_dict, tomllib
from conftest import DEMO, MUST_SHOW

runner = CliRunner()


def _study(tmp_path, replace: dict[str, str], extra: str = "") -> object:
    """A copy of the demo study (paths absolute) with regex replacements applied once each."""
    text = (DEMO / "study.toml").read_text(encoding="utf-8")
    for a, b in replace.items():
        text, n = re.subn(a, b, text, count=1, flags=re.MULTILINE)
        assert n == 1, a
    path = tmp_path / "mystudy.toml"
    for rel in ("area.geojson", "roads.osm.pbf", "facilities_illustrative.csv", "facilities_osm_real.csv",
                "districts.geojson"):
        text = text.replace(f'"{rel}"', f'"{(DEMO / rel).as_posix()}"')
    text = text.replace('folder = "pop"', f'folder = "{(DEMO / "pop").as_posix()}"')
    path.write_text(text + extra, encoding="utf-8")
    return path


def _one_line(result, *needles):
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


BAD_OPTIONS = [
    # (what is replaced, by what, words the one line must hold)
    (r"walk_speed_mps = 1.0", 'walk_speed_mps = "1.0"', ["travel.walk_speed_mps", "'1.0'", "without quotes"]),
    (r"grid_size_m = 1000", "grid_size_m = 0", ["units.grid_size_m = 0", "at least 50"]),
    (r"thresholds_min = \[5, 10, 15\]", "thresholds_min = [-5, 10, 15]", ["travel.thresholds_min", "more than 0"]),
    (r"thresholds_min = \[5, 10, 15\]", "thresholds_min = [15, 15]", ["travel.thresholds_min", "repeats 15 min"]),
    (r"grid_size_m = 1000", 'grid_size_m = 1000\ninvalid = "fix"', ["units.invalid = 'fix'", "repair, refuse"]),
    (r"max_offroad_m = 500", "max_offroad_m = -1", ["travel.max_offroad_m = -1", "at least 0"]),
    (r'^profile = "walk"', 'profile = "walk"\njoin_tolerance_m = -20', ["network.join_tolerance_m = -20", "at least 0"]),
    (r"child_woman_ratio = 0.15", "child_woman_ratio = 1.5", ["population.child_woman_ratio = 1.5", "at most 1"]),
    (r"under20_share = 0.23", "under20_share = 1", ["population.under20_share = 1", "less than 1"]),
    (r"elderly_min_age = 60", "elderly_min_age = 600", ["population.elderly_min_age = 600", "at most 100"]),
    (r"candidate_spacing_m = 250", "candidate_spacing_m = 0", ["siting.candidate_spacing_m = 0", "at least 1"]),
    (r"n_sites = 5", "n_sites = -2", ["siting.n_sites = -2", "at least 0"]),
    (r"n_sites = 5", "n_sites = 2.5", ["siting.n_sites = 2.5", "whole number"]),
    (r"slots = 150", "slots = 0", ["siting.slots = 0", "at least 1"]),
    (r"beds = 30", "beds = nan", ["siting.beds = nan", "finite"]),
    (r"beds = 30", "beds = 30\ntake_up_rate = 7", ["siting.take_up_rate = 7", "share of infants", "at most 1"]),
    (r"threshold_min = 15", "threshold_min = true", ["siting.threshold_min = True", "number"]),
    (r"method = \"exact\"", 'method = "fast"', ["siting.method = 'fast'", "exact, greedy"]),
    (r"^kinds = .*$", 'kinds = ["daycare", "hospital"]', ["siting.kinds", "'hospital'", "nursery"]),
    (r'crs = "auto"', 'crs = "EPSG:99999"', ["study.crs = 'EPSG:99999'", "EPSG code"]),
    (r'crs = "auto"', 'crs = "UTM 49N"', ["study.crs = 'UTM 49N'", '"EPSG:32649"']),
    (r'crs = "auto"', 'crs = "EPSG:4326"', ["study.crs = 'EPSG:4326'", "projected CRS in metres"]),
    (r'coords = "gcj02"', 'coords = "gcj-2"', ["coords = 'gcj-2'", "wgs84, cgcs2000, gcj02, bd09"]),
    (r'coords = "gcj02"', 'coords = "EPSG:99999"', ["coords = 'EPSG:99999'", "gcj02"]),
    (r'preset = "national"', 'preset = "nationa"', ["targets.preset = 'nationa'", "national", "fuzhou"]),
    (r'language = "zh"', 'language = "fr"', ["study.language = 'fr'", "zh, en"]),
    (r'profile = "walk"', "profile = 1", ["network.profile = 1", "text in quotes"]),
    (r'pattern = ".*"', 'pattern = "pop.tif"', ["population.pattern", "{age} and {sex}"]),
    (r'name = "hankou-demo"', 'name = ""', ["study.name = ''", "plain folder name"]),
    (r'name = "hankou-demo"', 'name = "."', ["study.name = '.'", "plain folder name"]),
    (r'name = "hankou-demo"', 'name = ".."', ["study.name = '..'", "plain folder name"]),
    (r'name = "hankou-demo"', 'name = "../x"', ["study.name = '../x'", "is a path"]),
    (r'name = "hankou-demo"', 'name = "/tmp/x"', ["study.name = '/tmp/x'", "is a path"]),
    (r'name = "hankou-demo"', 'name = ".hidden"', ["study.name = '.hidden'", "starts with '.'"]),
]


@pytest.mark.parametrize("old,new,needles", BAD_OPTIONS, ids=[b[1].split("\n")[-1] for b in BAD_OPTIONS])
def test_bad_option_is_one_line(tmp_path, old, new, needles):
    study = _study(tmp_path, {old: new})
    r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")])
    line = _one_line(r, "mystudy.toml", *needles)
    assert not (tmp_path / "o").exists()
    if new.split("\n")[-1].startswith("name ="):
        MUST_SHOW.append(f"study.{new.splitlines()[-1]}: refused: {line.split(': ', 2)[-1]}")


def test_bad_custom_presets_are_one_line(tmp_path):
    shutil.copy(DEMO.parent.parent / "circles" / "presets" / "national.toml", tmp_path / "good.toml")
    good = (tmp_path / "good.toml").read_text(encoding="utf-8")
    cases = {
        "syntax.toml": "[preset\ntitle_zh = 1\n",  # not TOML
        "value.toml": re.sub(r"^value = .*$", 'value = "high"', good, count=1, flags=re.MULTILINE),
        "group.toml": re.sub(r'^group = ".*"$', 'group = "adults"', good, count=1, flags=re.MULTILINE),
        "keys.toml": good.replace("[[indicator]]", "[[indicator]]\ncolour = 1", 1),
        "empty.toml": "[preset]\ntitle_zh = 'x'\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        study = _study(tmp_path, {r'preset = "national"': f'preset = "{name}"'})  # relative to the study file
        r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")])
        _one_line(r, name)
    # the good copy, given by a path relative to the study file, is read at load time
    study = load_study(_study(tmp_path, {r'preset = "national"': 'preset = "good.toml"'}))
    assert study.targets.preset == str(tmp_path / "good.toml")


def test_command_line_options_are_checked_like_the_file(tmp_path):
    r = runner.invoke(app, ["suggest", str(DEMO / "study.toml"), "--n", "-3", "--out", str(tmp_path / "o")])
    _one_line(r, "siting.n_sites = -3", "command-line")
    r = runner.invoke(app, ["suggest", str(DEMO / "study.toml"), "--model", "best", "--out", str(tmp_path / "o")])
    _one_line(r, "siting.model = 'best'", "mclp")
    r = runner.invoke(app, ["score", str(DEMO / "study.toml"), "--preset", "nowhere", "--out", str(tmp_path / "o")])
    _one_line(r, "targets.preset = 'nowhere'")
    assert not (tmp_path / "o").exists()


def test_unexpected_error_is_one_line_and_debug_shows_traceback(tmp_path):
    """A raster band that is not a GeoTIFF fails deep inside rasterio: still one line without --debug."""
    pop = tmp_path / "pop"
    shutil.copytree(DEMO / "pop", pop)
    victim = sorted(pop.glob("pop_60_*"))[0]
    victim.write_bytes(b"this is not a GeoTIFF\n" * 10)
    study = _study(tmp_path, {r'folder = "pop"': f'folder = "{pop.as_posix()}"'})
    r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")])
    err = _one_line(r)
    assert "pop_60_" in err or "internal error" in err
    r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o"), "--debug"])
    assert r.exit_code != 0 and r.exception is not None  # the exception itself, for the traceback
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------- fuzz
_RAW = tomllib.loads((DEMO / "study.toml").read_text(encoding="utf-8"))
_KEYS = [(sec, key) for sec, keys in _SPEC.items() for key in keys]
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", ".", "..", "/", "../x", "EPSG:4326", "EPSG:99999", "UTM 49N", "gcj02", "gcj-2", "auto",
                     "national", "x.toml", "nursery", "mclp", "walk", "\x00", "a" * 5000, "1.0", "-1", "nan"]),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)
FUZZ_EXAMPLES = 1500
_seen = {"n": 0, "study": 0, "error": 0}


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_KEYS + [(None, sec) for sec in _SPEC]), _values), min_size=1,
                max_size=3))
def test_fuzz_study_reader_answers_study_or_one_line(changes):
    raw = copy.deepcopy(_RAW)
    for (section, key), value in changes:
        if section is None:  # a whole section replaced by a random value
            raw[key] = value
        else:
            table = raw["facilities"][0] if section == "facilities" and isinstance(raw["facilities"], list) \
                and raw["facilities"] and isinstance(raw["facilities"][0], dict) else raw.setdefault(section, {})
            if isinstance(table, dict):  # else the whole section was already replaced by a non-table
                table[key] = value
    _seen["n"] += 1
    try:
        study = study_from_dict(raw, base=DEMO, source=DEMO / "study.toml")
    except StudyError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(DEMO / "study.toml"))
        _seen["error"] += 1
        return
    assert isinstance(study, Study)
    _seen["study"] += 1


def test_fuzz_count_reported():
    """Print how many examples the fuzz test ran; run alone (-k), it runs the fuzz first, so the
    count is never 0 and the check can fail (it once read ``n == 0 or n >= 750``)."""
    if _seen["n"] == 0:
        test_fuzz_study_reader_answers_study_or_one_line()
    MUST_SHOW.append(f"study reader fuzz: {_seen['n']} examples, {_seen['study']} studies, {_seen['error']} one-line "
                     "StudyErrors, 0 other exceptions")
    assert _seen["n"] >= FUZZ_EXAMPLES // 2


def test_preset_typo_names_the_key_once(tmp_path):
    """The study-file key prefixes the message once (it used to read "targets.preset = 'x': targets.preset = 'x': ...")."""
    study = _study(tmp_path, {r'preset = "national"': 'preset = "nationa"'})
    line = _one_line(runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")]), "not a built-in preset")
    assert line.count("targets.preset = 'nationa'") == 1
    r = runner.invoke(app, ["score", str(DEMO / "study.toml"), "--preset", "nowhere", "--out", str(tmp_path / "o")])
    assert _one_line(r, "not a built-in preset").count("targets.preset = 'nowhere'") == 1


def test_no_facility_left_names_counts_and_reason(tmp_path):
    """Every row rejected: no rejects.csv is written, so the one line carries the counts and the top reason.

    The gazetteer is the demo's two real kindergartens with longitude and latitude swapped
    (a common mistake): a latitude of 114 degrees cannot be, so the reader rejects both as swapped.
    """
    real = (DEMO / "facilities_osm_real.csv").read_text(encoding="utf-8-sig").splitlines()
    head = real[0].replace("经度,纬度", "纬度,经度")  # columns renamed: the values now read swapped
    (tmp_path / "swapped.csv").write_text("\n".join([head, *real[1:]]) + "\n", encoding="utf-8")
    study = _study(tmp_path, {r'(?s)\[\[facilities\]\]\npath = "facilities_illustrative.csv".*?\n\n': "",
                              r'path = "facilities_osm_real.csv"': f'path = "{(tmp_path / "swapped.csv").as_posix()}"'})
    r = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "o")])
    line = _one_line(r, "no facility survived loading", "swapped.csv 2 rows read, 2 rejected",
                     "2 rows of swapped.csv", "look swapped")
    assert "see rejects.csv" not in line


def test_units_are_communities_by_file_unless_said():
    """``[units] communities``: unset, a units file means community polygons and the grid does not;
    ``false`` says a file holds other polygons (streets, or the grid cells `circles batch` writes per area);
    ``true`` without a file cannot make grid cells communities; a quoted value is one line."""
    raw = tomllib.loads((DEMO / "study.toml").read_text(encoding="utf-8"))
    grid = study_from_dict(copy.deepcopy(raw), base=DEMO)
    assert grid.units.path is None and not grid.units.are_communities
    for value, expected in ((None, True), (True, True), (False, False)):
        r = copy.deepcopy(raw)
        r["units"] = {"path": "districts.geojson", "name_column": "name"}
        if value is not None:
            r["units"]["communities"] = value
        assert study_from_dict(r, base=DEMO).units.are_communities is expected, value
    r = copy.deepcopy(raw)
    r["units"]["communities"] = True
    assert not study_from_dict(r, base=DEMO).units.are_communities
    r["units"]["communities"] = "false"
    with pytest.raises(StudyError, match="units.communities.*true or false"):
        study_from_dict(r, base=DEMO)


def test_communities_true_on_grid_cells_is_said_not_dropped():
    """``[units] communities = true`` without a units file cannot make grid cells communities: the grid
    stays non-communities (as above) and the run says so once, in the log and summary.json's warnings."""
    raw = tomllib.loads((DEMO / "study.toml").read_text(encoding="utf-8"))
    raw["units"]["communities"] = True
    study = study_from_dict(raw, base=DEMO)
    said = [w for w in load_inputs(study).unit_warnings if "communities = true has no effect" in w]
    assert len(said) == 1 and "units.path" in said[0]
    assert not study.units.are_communities
