"""One warehouse writer at a time: a second writer waits, or fails clearly; nothing corrupts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envmon.errors import WarehouseLockedError
from envmon.settings import get_settings
from warehouse.db import connect
from warehouse.jobs import init_warehouse

REPO = Path(__file__).resolve().parents[2]

_HOLD = r"""
import sys, time
from warehouse.db import connect
with connect(purpose="test holder") as con:
    con.execute("INSERT INTO grids VALUES ('held', 'held', '持有', 'city', NULL, false)")
    print("holding", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def _holder(seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(seconds)], stdout=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": str(REPO)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_second_writer_fails_clearly_after_its_timeout() -> None:
    init_warehouse()
    proc = _holder(30)
    try:
        with pytest.raises(WarehouseLockedError) as err, connect(timeout_s=0.5):
            pass
        msg = str(err.value)
        assert f"pid {proc.pid}" in msg and "test holder" in msg and "ENVMON_LOCK_TIMEOUT_S" in msg
    finally:
        proc.kill()
        proc.wait()


def test_second_writer_waits_for_the_first() -> None:
    init_warehouse()
    proc = _holder(1.5)
    started = time.monotonic()
    with connect(timeout_s=60) as con:
        waited = time.monotonic() - started
        con.execute("INSERT INTO grids VALUES ('second', 'second', '第二', 'city', NULL, false)")
    proc.wait()
    assert proc.returncode == 0
    assert waited > 0.5  # it did wait rather than fail or break in
    with connect(write=False) as con:
        assert con.execute("SELECT grid_id FROM grids ORDER BY grid_id").fetchall() == [("held",), ("second",)]


def test_many_concurrent_writers_all_succeed() -> None:
    init_warehouse()
    script = r"""
import sys
from warehouse.db import connect
with connect(purpose="writer") as con:
    con.execute("INSERT INTO grids VALUES (?, 'w', '写', 'city', NULL, false)", [sys.argv[1]])
"""
    procs = [subprocess.Popen([sys.executable, "-c", script, f"w{i}"], env=os.environ | {"PYTHONPATH": str(REPO)})
             for i in range(6)]
    assert [p.wait() for p in procs] == [0] * 6
    with connect(write=False) as con:
        assert con.execute("SELECT count(*) FROM grids").fetchone() == (6,)
    assert get_settings().warehouse_path.exists()


def test_reader_without_warehouse_is_told_to_init() -> None:
    with pytest.raises(FileNotFoundError, match="envmon init"), connect(write=False):
        pass
