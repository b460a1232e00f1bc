"""One warehouse writer at a time: a second writer waits, or fails clearly; nothing corrupts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import WarehouseLockedError
from core.settings import get_settings
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


# -- issue #18 item 12: the lock-wait message names the real holder ---------------------------------

_READ = r"""
import sys, time
from warehouse.db import connect
with connect(write=False, purpose="envmon status (test reader)") as con:
    con.execute("SELECT count(*) FROM grids").fetchone()
    print("reading", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_reader_holding_the_lock_is_named_not_a_dead_writer() -> None:
    import json

    from warehouse.lock import lock_path_for

    init_warehouse()
    lock = lock_path_for(get_settings().warehouse_path)
    dead = _dead_pid()  # a writer that was killed (kill -9 leaves its record behind)
    lock.with_name(lock.name + ".holder").write_text(
        json.dumps({"pid": dead, "command": "envmon load", "since": "2026-12-01T00:00:00+00:00"}), encoding="utf-8")
    reader = subprocess.Popen([sys.executable, "-c", _READ, "30"], stdout=subprocess.PIPE, text=True,
                              env=os.environ | {"PYTHONPATH": str(REPO)})
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        with pytest.raises(WarehouseLockedError) as err, connect(timeout_s=0.3):
            pass
        msg = str(err.value)
        assert f"reader pid {reader.pid} (envmon status (test reader))" in msg
        assert f"pid {dead}" not in msg and "envmon load" not in msg
    finally:
        reader.kill()
        reader.wait()
    # the reader is gone (killed, its record left behind): the lock is free and no one is named
    with connect(timeout_s=5) as con:
        assert con.execute("SELECT 1").fetchone() == (1,)


def test_live_writer_is_named_and_its_record_removed_on_release() -> None:
    from warehouse.lock import lock_path_for

    init_warehouse()
    proc = _holder(30)
    try:
        with pytest.raises(WarehouseLockedError, match=f"writer pid {proc.pid} \\(test holder\\)"), connect(timeout_s=0.3):
            pass
    finally:
        proc.kill()
        proc.wait()
    lock = lock_path_for(get_settings().warehouse_path)
    with connect(timeout_s=5):
        assert lock.with_name(lock.name + ".holder").exists()
    assert not lock.with_name(lock.name + ".holder").exists()  # released: no stale record
