"""The demo travels with the package (issue 22): a wheel built from the repository and installed
into a fresh virtual environment runs the demo from an empty folder; ``circles demo DIR`` copies
it out; an editable install finds ``data/demo`` itself.

Keeping it fast: the fresh environment gets no packages of its own but the circles wheel
(``--no-deps``); the dependencies come from the environment running the tests, through a
``.pth`` file naming its site-packages (a plain path line: the ``.pth`` files *in* that folder,
such as an editable circles' finder, are not processed, so the wheel's circles is the one
imported). ``PYTHONPATH`` is removed, so nothing of the checkout leaks in.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from circles.demo import copy_demo, demo_files

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _sh(args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def _fresh_venv(path: Path) -> Path:
    """A venv with no pip and the running environment's packages reachable (see the module doc)."""
    _sh([sys.executable, "-m", "venv", "--without-pip", path])
    sp = next((path / "lib").glob("python3*/site-packages"))
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (sp / "zz_shared_packages.pth").write_text("\n".join(shared) + "\n", encoding="utf-8")
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _sh([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", out], timeout=600)
    return next(out.glob("circles-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The bin folder of a fresh venv with the wheel installed (not editable)."""
    py = _fresh_venv(tmp_path_factory.mktemp("venv") / "v")
    _sh([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", wheel])
    return py.parent


def test_wheel_holds_every_module_and_the_demo(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "circles").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules - names == set(), "add the missing subpackage to [tool.setuptools] packages in pyproject.toml"
    data = {p.relative_to(ROOT).as_posix() for d in ("assets", "presets") for p in (ROOT / "circles" / d).iterdir()
            if p.is_file()}
    assert "circles/assets/print.css" in data and data <= names
    demo = {f"circles/demo_data/{p.as_posix()}" for p in demo_files()}
    assert len(demo) == len(list((ROOT / "data" / "demo").rglob("*.*")))
    assert demo <= names


def test_installed_wheel_runs_the_demo_from_an_empty_folder(installed, tmp_path):
    py = installed / "python"
    where = _sh([py, "-c", "import circles, circles.demo as d; print(circles.__file__); print(d.demo_study_path())"],
                cwd=tmp_path).stdout.split()
    assert not Path(where[0]).is_relative_to(ROOT), "the wheel's circles, not the checkout's"
    assert Path(where[1]).is_file() and "site-packages" in where[1] and where[1].endswith("demo_data/study.toml")

    work = tmp_path / "empty"
    work.mkdir()
    _sh([installed / "circles", "demo", "my-city"], cwd=work)
    copied = sorted(p.relative_to(work / "my-city") for p in (work / "my-city").rglob("*") if p.is_file())
    assert copied == demo_files()
    assert (work / "my-city" / "study.toml").read_bytes() == (ROOT / "data" / "demo" / "study.toml").read_bytes()
    again = subprocess.run([installed / "circles", "demo", "my-city"], cwd=work, env=_env(), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1 and again.stderr.strip().count("\n") == 0
    assert "not an empty folder" in again.stderr

    r = _sh([installed / "circles", "run", "my-city/study.toml", "-q"], cwd=work)
    assert (work / "maps" / "hankou-demo" / "report.html").is_file(), r.stderr


def test_installed_wheel_runs_the_embedded_demo_without_arguments(installed, tmp_path):
    import circles.demo
    import circles.study

    assert circles.study.demo_study_path is circles.demo.demo_study_path  # one lookup, in circles/demo.py
    _sh([installed / "circles", "run", "-q"], cwd=tmp_path)
    assert (tmp_path / "maps" / "hankou-demo" / "report.html").is_file()


def test_editable_install_finds_data_demo(tmp_path):
    py = _fresh_venv(tmp_path / "v")
    _sh([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", "-e", ROOT], timeout=600)
    out = _sh([py, "-c", "import circles.demo as d; print(d.demo_folder())"], cwd=tmp_path).stdout.strip()
    assert Path(out).resolve() == (ROOT / "data" / "demo").resolve()


def test_copy_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(ValueError, match="not an empty folder"):
        copy_demo(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
