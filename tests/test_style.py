"""Lint (ruff: pyflakes, syntax errors, bugbear) as part of the test command."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.skipif(shutil.which("ruff") is None and subprocess.run([sys.executable, "-m", "ruff", "--version"],
                    capture_output=True).returncode != 0, reason="ruff is in the test extra")
def test_ruff_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "circles", "scripts", "tests"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
