"""The ``circles batch`` command itself: exit status when an area fails, local workers and a
real Dask scheduler with worker processes started by the test (on 127.0.0.1 only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_batch import STRIPS, _batch_file

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler():
    """``dask scheduler`` and one ``dask worker`` process (1 thread) on the loopback, stopped after the module."""
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    dask = str(BIN / "dask")
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        end = time.time() + 60
        while time.time() < end:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        procs.append(subprocess.Popen([dask, "worker", addr, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                       "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env=env, start_new_session=True))
        from distributed import Client

        with Client(addr, timeout=60) as c:
            c.wait_for_workers(1, timeout=90)
        yield addr
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _circles(*args, cwd):
    r = subprocess.run([str(BIN / "circles"), *args], capture_output=True, text=True, cwd=cwd, timeout=600)
    return r.returncode, r.stdout + r.stderr


def test_batch_command_on_a_scheduler_and_its_exit_status(scheduler, demo_run, tmp_path):
    """Two strips of the demo, the second with a missing road file: on the real scheduler the command
    exits 2 and names the failure; the good strip's units equal the single demo run's (1e-9). Run
    again with local workers: the good strip is skipped (unchanged), the bad one fails again, exit 2."""
    bad = _batch_file(tmp_path, "cli", STRIPS[:2], extra='\n[overrides.strip2.network]\npath = "no_such_roads.geojson"\n')
    code, out = _circles("batch", str(bad), "--scheduler", scheduler, cwd=tmp_path)
    assert code == 2, out
    assert "strip2: failed" in out and "no_such_roads.geojson" in out
    assert "strip1: done" in out and "2 areas, 1 failed" in out
    table = pd.read_csv(tmp_path / "out" / "cli" / "batch_summary.csv")
    assert dict(zip(table["area"], table["status"])) == {"strip1": "done", "strip2": "failed"}
    units = list((tmp_path / "out" / "cli").rglob("units.csv"))
    assert len(units) == 1
    got = pd.read_csv(units[0], encoding="utf-8-sig").set_index("unit_id")
    whole = pd.read_csv(demo_run[1] / "units.csv", encoding="utf-8-sig").set_index("unit_id")
    # units wholly inside the strip (their cell count is the whole run's) have the whole run's figures
    same = [u for u in got.index if u in whole.index and got.at[u, "n_cells"] == whole.at[u, "n_cells"]]
    assert len(same) >= 5
    for c in [c for c in got.columns if c.startswith("cov_") and not c.endswith("_after")]:
        np.testing.assert_allclose(got.loc[same, c].to_numpy(float), whole.loc[same, c].to_numpy(float),
                                   atol=1e-9, err_msg=c)
    code, out = _circles("batch", str(bad), "--workers", "1", cwd=tmp_path)
    assert code == 2, out
    assert "strip1: skipped (unchanged)" in out and "strip2: failed" in out
