"""Outputs never escape their folder: plain names, a marker, leftovers cleaned, a killed run changes nothing.

The oracle is the file system itself: after every refused case, the bytes of another
study's results and of an unrelated file are compared with what was there before.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from circles.cli import app
from circles.errors import OutputError
from circles.outputs import MARKER, atomic_folder, check_folder_name, clean_leftovers, is_circles_folder, write_marker
from conftest import DEMO, MUST_SHOW, ROOT

runner = CliRunner()


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def maps(tmp_path):
    """maps/ with another study's results (circles wrote them), a user's folder and an unrelated file."""
    m = tmp_path / "maps"
    with atomic_folder(m / "other-study") as tmp:
        (tmp / "summary.json").write_text('{"study": "other-study"}', encoding="utf-8")
        (tmp / "report.html").write_text("<p>other</p>", encoding="utf-8")
    (m / "notes").mkdir()
    (m / "notes" / "minutes.docx").write_bytes(b"meeting minutes")
    (m / "unrelated.txt").write_text("keep me", encoding="utf-8")
    return m


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", "/tmp/x", ".hidden", " padded "])
def test_bad_names_refused(name):
    with pytest.raises(OutputError) as e:
        check_folder_name(name, "study.name")
    assert "\n" not in str(e.value) and "folder name" in str(e.value)


@pytest.mark.parametrize("target", ["maps", "notes", "unrelated.txt", "..", "cwd", "root"])
def test_refused_folders_are_left_untouched(maps, monkeypatch, target):
    monkeypatch.chdir(maps.parent)
    before = _snapshot(maps.parent)
    final = {"maps": maps, "notes": maps / "notes", "unrelated.txt": maps / "unrelated.txt", "..": maps / "..",
             "cwd": Path.cwd(), "root": Path("/")}[target]
    with pytest.raises(OutputError) as e:
        with atomic_folder(final) as tmp:
            (tmp / "report.html").write_text("new", encoding="utf-8")
    assert "\n" not in str(e.value)
    assert _snapshot(maps.parent) == before
    assert not list(maps.glob(".*partial*"))
    MUST_SHOW.append(f"output folder refused, nothing changed: {target}")


def test_marker_and_replacement(maps):
    assert is_circles_folder(maps / "other-study")
    assert not is_circles_folder(maps / "notes") and not is_circles_folder(maps)
    info = json.loads((maps / "other-study" / MARKER).read_text(encoding="utf-8"))
    assert info["tool"] == "circles" and info["name"] == "other-study"
    # a circles folder is replaced whole (old files gone, new ones in, marker kept)
    with atomic_folder(maps / "other-study") as tmp:
        (tmp / "summary.json").write_text('{"study": "other-study", "v": 2}', encoding="utf-8")
    assert sorted(p.name for p in (maps / "other-study").iterdir()) == [MARKER, "summary.json"]
    # results written before markers existed: only circles' own file names, with a summary.json
    legacy = maps / "legacy"
    legacy.mkdir()
    (legacy / "summary.json").write_text("{}", encoding="utf-8")
    (legacy / "map_elderly_15min.png").write_bytes(b"png")
    assert is_circles_folder(legacy)
    (legacy / "my-edits.xlsx").write_bytes(b"user file")  # ... but not once a user file is inside
    assert not is_circles_folder(legacy)
    with pytest.raises(OutputError):
        with atomic_folder(legacy):
            pass
    assert (legacy / "my-edits.xlsx").read_bytes() == b"user file"
    # an empty folder holds nothing to lose: it may be the output folder
    (maps / "empty").mkdir()
    with atomic_folder(maps / "empty") as tmp:
        (tmp / "summary.json").write_text("{}", encoding="utf-8")
    assert is_circles_folder(maps / "empty")


def test_leftovers_of_a_killed_run_are_cleaned(maps):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    partial = maps / ".other-study.partial-abc123"
    old = maps / ".other-study.old-999999"
    for p in (partial, old):
        p.mkdir()
        write_marker(p, name="other-study")
        (p / "coverage.gpkg").write_bytes(b"half written")
        info = json.loads((p / MARKER).read_text(encoding="utf-8"))
        info["pid"] = dead_pid
        (p / MARKER).write_text(json.dumps(info), encoding="utf-8")
    live = maps / ".other-study.partial-live"  # another run still writing: its process is alive
    live.mkdir()
    write_marker(live, name="other-study")
    info = json.loads((live / MARKER).read_text(encoding="utf-8"))
    info["pid"] = os.getppid()
    (live / MARKER).write_text(json.dumps(info), encoding="utf-8")
    foreign = maps / ".other-study.partial-mine"  # not marked: not ours, kept
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x", encoding="utf-8")
    with atomic_folder(maps / "other-study") as tmp:
        (tmp / "summary.json").write_text("{}", encoding="utf-8")
    assert not partial.exists() and not old.exists()
    assert live.exists() and (foreign / "thesis.tex").exists()
    assert clean_leftovers(maps / "other-study") == []


def test_cli_out_cases_refused_with_nothing_deleted(maps, monkeypatch):
    monkeypatch.chdir(maps)
    before = _snapshot(maps.parent)
    for out in (".", "..", str(maps), str(maps / "notes"), str(maps / "unrelated.txt"), "/"):
        r = runner.invoke(app, ["run", str(DEMO / "study.toml"), "--out", out])
        assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, (out, r.output)
        assert "Traceback" not in r.output
        shown = out if len(out) < 3 else Path(out).relative_to(maps.parent).as_posix() if out != "/" else out
        MUST_SHOW.append(f"circles run --out {shown}: refused in one line, nothing changed")
    for out in (".", str(maps / "notes")):
        r = runner.invoke(app, ["report", str(DEMO / "study.toml"), "--out", out])
        assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, (out, r.output)
    assert _snapshot(maps.parent) == before


def test_batch_names_refused(tmp_path):
    from circles.batch import load_batch

    for name in ("", "..", "../up", "/abs"):
        (tmp_path / "b.toml").write_text(f'[batch]\nname = "{name}"\nareas = ["{DEMO / "area.geojson"}"]\n',
                                         encoding="utf-8")
        with pytest.raises(OutputError):
            load_batch(tmp_path / "b.toml")
    areas = gpd.read_file(DEMO / "districts.geojson")
    areas["name"] = ""
    areas.to_file(tmp_path / "blank.geojson", driver="GeoJSON")
    (tmp_path / "b.toml").write_text('[batch]\nname = "ok"\nareas = "blank.geojson"\n', encoding="utf-8")
    with pytest.raises(Exception, match="has no name"):
        load_batch(tmp_path / "b.toml")


_CHILD = """
import sys
from pathlib import Path
from circles.pipeline import run
from circles.study import load_study
run(load_study(sys.argv[1]), folder=Path(sys.argv[2]))
print("finished", flush=True)
"""


def test_killed_run_leaves_previous_results(demo_run, tmp_path):
    """SIGKILL a real demo run in a subprocess while it writes its outputs (the report stage):
    the previous results stay byte for byte, and the next run removes the leftover."""
    _, done = demo_run
    maps = tmp_path / "maps"
    final = maps / "hankou-demo"
    shutil.copytree(done, final)
    before = _snapshot(final)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(DEMO / "study.toml"), str(final)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    killed_while_writing = False
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        partial = [p for p in maps.glob(".hankou-demo.partial-*") if (p / "coverage.gpkg").exists()]
        if partial:  # the report stage has begun writing the new outputs
            os.kill(child.pid, signal.SIGKILL)
            killed_while_writing = True
            break
        time.sleep(0.005)
    child.wait(timeout=60)
    assert killed_while_writing, "the run finished before it could be killed"
    assert child.returncode == -signal.SIGKILL
    assert _snapshot(final) == before  # the previous results, intact
    assert list(maps.glob(".hankou-demo.partial-*"))  # the killed run's leftover ...
    with atomic_folder(final) as tmp:  # ... is removed by the next run of that name
        (tmp / "summary.json").write_text("{}", encoding="utf-8")
    assert not list(maps.glob(".hankou-demo.*"))
    MUST_SHOW.append("kill test: demo run SIGKILLed while writing its outputs; previous results byte-identical, "
                     "leftover .partial folder removed by the next run")


def test_report_rebuild_replaces_files_in_place(demo_run, tmp_path):
    _, done = demo_run
    folder = tmp_path / "run"
    shutil.copytree(done, folder)
    summary = (folder / "summary.json").read_bytes()
    r = runner.invoke(app, ["report", "--out", str(folder), "--lang", "en"])
    assert r.exit_code == 0, r.output
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en"' in html or "Plan targets" in html
    assert (folder / "summary.json").read_bytes() == summary  # saved outputs untouched
    assert not [p for p in folder.iterdir() if p.name.startswith(".report.partial")]
    assert (folder / MARKER).exists()


def test_score_and_suggest_do_not_clobber_the_run(demo_run, tmp_path, monkeypatch):
    """`circles score` / `circles suggest` write <name>-score/ and <name>-suggest/: the run keeps its sites."""
    _, done = demo_run
    monkeypatch.chdir(tmp_path)
    shutil.copytree(done, tmp_path / "maps" / "hankou-demo")
    before = _snapshot(tmp_path / "maps" / "hankou-demo")
    r = runner.invoke(app, ["score", str(DEMO / "study.toml")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["suggest", str(DEMO / "study.toml"), "--kind", "nursery", "--n", "2"])
    assert r.exit_code == 0, r.output
    assert _snapshot(tmp_path / "maps" / "hankou-demo") == before
    assert "suggested_sites" in gpd.list_layers(tmp_path / "maps" / "hankou-demo" / "coverage.gpkg")["name"].tolist()
    assert "suggested_sites" not in gpd.list_layers(tmp_path / "maps" / "hankou-demo-score" / "coverage.gpkg")["name"].tolist()
    sites = gpd.read_file(tmp_path / "maps" / "hankou-demo-suggest" / "coverage.gpkg", layer="suggested_sites")
    assert set(sites["kind"]) == {"nursery"} and len(sites) == 2
    r = runner.invoke(app, ["report", str(DEMO / "study.toml"), "--of", "suggest"])
    assert r.exit_code == 0 and "hankou-demo-suggest" in r.output, r.output


def test_run_killed_between_its_two_renames_gets_its_results_back(maps):
    """If a run dies after moving the previous results aside and before moving the new ones in,
    the next run first puts the previous results back."""
    before = _snapshot(maps / "other-study")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.replace(maps / "other-study", maps / f".other-study.old-{int(dead.stdout)}")
    assert clean_leftovers(maps / "other-study") == []
    assert _snapshot(maps / "other-study") == before


def test_suggest_joint_uses_the_study_kinds(tmp_path):
    """`circles suggest --model joint` without --kind sites the study's siting.kinds (data/demo: daycare + nursery)."""
    import tomllib

    kinds = tomllib.loads((DEMO / "study.toml").read_text(encoding="utf-8"))["siting"]["kinds"]
    r = runner.invoke(app, ["suggest", str(DEMO / "study.toml"), "--model", "joint", "--n", "2",
                            "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    sites = gpd.read_file(tmp_path / "o" / "coverage.gpkg", layer="suggested_sites")
    assert set(sites["kind"]) == set(kinds)


def test_districts_csv_writes_beyond_as_empty_like_units_csv(demo_run):
    """A median/p90 past the time limit is inf in memory; districts.csv writes it empty, as units.csv does."""
    import numpy as np
    import pandas as pd

    res, folder = demo_run
    inf_cells = np.isinf(res.districts.select_dtypes("number")).stack()
    assert inf_cells.any()  # the demo has districts whose p90 is beyond the limit
    for name in ("districts.csv", "units.csv"):
        text = pd.read_csv(folder / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert not text.isin(["inf", "-inf"]).any().any(), name
    text = pd.read_csv(folder / "districts.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig").set_index("parent")
    for (parent, col), beyond in inf_cells.items():
        if beyond:
            assert text.loc[str(parent), col] == ""
