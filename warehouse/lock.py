"""One writer at a time: an advisory file lock beside the DuckDB file.

DuckDB itself lets one read-write process open a file; a second one gets an error straight
away. The lock turns that into orderly waiting: writers take it exclusively, readers shared,
both waiting up to a timeout and then failing with a message that says who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from envmon.errors import WarehouseLockedError

_POLL_S = 0.05


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _holder(lock_file: Path) -> str:
    info_file = lock_file.with_name(lock_file.name + ".holder")
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
        return f"pid {info['pid']} ({info['command']}) since {info['since']}"
    except (OSError, ValueError, KeyError):
        return "another process"


@contextmanager
def warehouse_lock(db_path: Path, *, exclusive: bool, timeout_s: float, purpose: str = "") -> Iterator[None]:
    """Hold the warehouse lock (exclusive for a writer, shared for a reader)."""
    lock_file = lock_path_for(db_path)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + timeout_s
    announced = False
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"warehouse {db_path} is in use by {_holder(lock_file)}; waited {timeout_s:.0f} s. "
                        "Try again when that job ends, or raise ENVMON_LOCK_TIMEOUT_S."
                    ) from None
                if not announced and timeout_s >= 2:
                    print(f"envmon: waiting for the warehouse lock held by {_holder(lock_file)}", file=sys.stderr)
                    announced = True
                time.sleep(_POLL_S)
        if exclusive:
            info = {"pid": os.getpid(), "command": purpose or " ".join(sys.argv[:3]), "since": datetime.now(UTC).isoformat(timespec="seconds")}
            lock_file.with_name(lock_file.name + ".holder").write_text(json.dumps(info), encoding="utf-8")
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
