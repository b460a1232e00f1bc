"""One writer at a time: an advisory file lock beside the DuckDB file.

DuckDB itself lets one read-write process open a file; a second one gets an error straight
away. The lock turns that into orderly waiting: writers take it exclusively, readers shared,
both waiting up to a timeout and then failing with a message that says who holds it.

Who holds it: the writer records itself in `<lock>.holder`, each reader in
`<lock>.readers/<pid>-<n>.json` (removed again on release). A message names only holders whose
process is still alive — a record left by a killed process is ignored (and tidied away), so a
reader holding the lock shared is reported as the reader it is, never as a dead writer. On
Linux the kernel's own table (/proc/locks) fills in a holder that left no record.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from core.errors import WarehouseLockedError

_POLL_S = 0.05
_SEQ = itertools.count()


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _holder_file(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".holder")


def _readers_dir(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".readers")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _describe(info: dict, role: str) -> str:
    return f"{role} pid {info['pid']} ({info['command']}) since {info['since']}"


def _kernel_holders(lock_file: Path) -> set[int]:
    """Pids holding a flock on the lock file, from /proc/locks (Linux); empty elsewhere."""
    try:
        inode = os.stat(lock_file).st_ino
        text = Path("/proc/locks").read_text()
    except OSError:
        return set()
    pids = set()
    for line in text.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" ("->" marks a waiter)
        if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
            continue
        try:
            if int(parts[5].rsplit(":", 1)[-1]) == inode:
                pids.add(int(parts[4]))
        except ValueError:
            continue
    return pids


def _holder(lock_file: Path) -> str:
    """Who holds the lock now: live recorded holders (writer, readers), else the kernel's pids."""
    found: list[str] = []
    named: set[int] = set()
    try:
        info = json.loads(_holder_file(lock_file).read_text(encoding="utf-8"))
        if _alive(int(info["pid"])):
            found.append(_describe(info, "writer"))
            named.add(int(info["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    readers = _readers_dir(lock_file)
    for entry in sorted(readers.glob("*.json")) if readers.is_dir() else []:
        try:
            info = json.loads(entry.read_text(encoding="utf-8"))
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(pid):
            entry.unlink(missing_ok=True)  # a reader that died holding it: its lock went with it
            continue
        found.append(_describe(info, "reader"))
        named.add(pid)
    others = sorted(_kernel_holders(lock_file) - named)
    found += [f"pid {pid} (no record of its command)" for pid in others]
    return "; ".join(found) if found else "another process"


def _record(lock_file: Path, exclusive: bool, purpose: str) -> Path:
    info = {
        "pid": os.getpid(),
        "command": purpose or " ".join(sys.argv[:3]),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if exclusive:
        path = _holder_file(lock_file)
    else:
        path = _readers_dir(lock_file) / f"{os.getpid()}-{next(_SEQ)}.json"
        path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


@contextmanager
def warehouse_lock(
    db_path: Path, *, exclusive: bool, timeout_s: float, purpose: str = ""
) -> Iterator[None]:
    """Hold the warehouse lock (exclusive for a writer, shared for a reader)."""
    lock_file = lock_path_for(db_path)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + timeout_s
    announced = False
    record: Path | None = None
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
                    print(
                        f"envmon: waiting for the warehouse lock held by {_holder(lock_file)}",
                        file=sys.stderr,
                    )
                    announced = True
                time.sleep(_POLL_S)
        try:
            record = _record(lock_file, exclusive, purpose)
        except OSError:  # a read-only folder: the lock still works, only the message is poorer
            record = None
        yield
    finally:
        if record is not None:
            record.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
