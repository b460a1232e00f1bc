"""A file changed while it is ingested (review finding I13): the content check runs before anything
is written, and a change seen only after the readings landed is reported with what landed.

Every writer here is a real thread writing the file on disk while `FileIngestor.ingest` runs; the
hand-offs are pinned to a step of the ingest (after the parse, after the readings were written) so
each test hits one side of the check every time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _files_helpers import landing_dead_letters, landing_readings

import ingest.files.ingest as ingest_module
from core.landing import READINGS, LandingZone
from ingest.files.ingest import FileIngestor, ingest_paths
from ingest.files.ledger import LEDGER_DIR

HEADER = "site_id,parameter,period_start,value,unit,flag\n"
T0 = datetime(2024, 5, 1, 0, 0)  # local wall time, as the generic profile reads it


def _row(i: int, value: int | None = None) -> str:
    return f"dongsi,pm25,{T0 + timedelta(hours=i):%Y-%m-%d %H:%M},{30 + i % 7 if value is None else value},ug/m3,N\n"


def _ledger_entries(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    return list((Path(settings.landing_root) / LEDGER_DIR).rglob("*.json"))


def _landed_batches(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return LandingZone(settings.landing_root).list_batches(READINGS)


def _in_thread(action: Callable[[], None]) -> Callable[[], None]:
    """Run `action` in a real writer thread and wait for it (the ingest is paused meanwhile)."""

    def run() -> None:
        thread = threading.Thread(target=action)
        thread.start()
        thread.join(10)
        assert not thread.is_alive()

    return run


def _rewrite_same_size_and_time(path: Path, old: bytes, new: bytes) -> Callable[[], None]:
    """A writer fixing a value in place: same size, same inode, modification time put back."""

    def action() -> None:
        st = os.stat(path)
        data = path.read_bytes()
        assert data.count(old) == 1 and len(old) == len(new)
        with open(path, "r+b") as fh:  # same inode
            fh.write(data.replace(old, new))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    return action


def _after_parse(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
    original = ingest_module.normalize

    def normalize(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        hook()
        return out

    monkeypatch.setattr(ingest_module, "normalize", normalize)


def test_in_place_rewrite_after_the_parse_is_refused_before_anything_lands(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Same size, same inode, same mtime: only the content hash sees it, and it is checked before writing."""
    path = tmp_path / "station_export.csv"
    path.write_text(HEADER + _row(0, 31) + _row(1, 32), encoding="utf-8")
    _after_parse(monkeypatch, _in_thread(_rewrite_same_size_and_time(path, b",32,", b",39,")))

    report = ingest_paths([path], settings)

    (f,) = report.files
    assert f.status == "changed", f.reason
    assert "other content (hash)" in f.reason
    assert (f.readings, f.batches) == (0, [])
    assert _landed_batches(settings) == []  # nothing landed: the report's "nothing" is the truth
    assert landing_dead_letters(settings) == []
    assert _ledger_entries(settings) == []
    assert path.exists()


def test_unchanged_file_passes_the_content_check_and_lands(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The other side: a writer thread that only reads the file changes nothing, and the file lands."""
    path = tmp_path / "station_export.csv"
    path.write_text(HEADER + _row(0, 31) + _row(1, 32), encoding="utf-8")
    _after_parse(monkeypatch, _in_thread(lambda: path.read_bytes() and None))

    (f,) = ingest_paths([path], settings).files

    assert (f.status, f.readings) == ("ingested", 2), f.reason
    assert f.batches == _landed_batches(settings) and len(f.batches) == 1
    assert sorted(landing_readings(settings)["value"].to_list()) == [31.0, 32.0]
    assert len(_ledger_entries(settings)) == 1


def test_change_after_the_readings_landed_is_reported_with_what_landed(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A writer appends a line after the batch is written: status `changed`, but the landed batch is named."""
    path = tmp_path / "station_export.csv"
    path.write_text(HEADER + _row(0, 31) + _row(1, 32), encoding="utf-8")
    ingestor = FileIngestor(settings)
    original = ingestor.landing.write_readings

    def append() -> None:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(_row(2, 33))

    def write_then_append(*args: Any, **kwargs: Any) -> Any:
        ref = original(*args, **kwargs)
        _in_thread(append)()
        return ref

    ingestor.landing.write_readings = write_then_append  # type: ignore[method-assign]
    f = ingestor.ingest(path)

    landed = _landed_batches(settings)
    assert f.status == "changed", f.reason
    assert len(landed) == 1 and f.batches == landed  # the report names what landed
    assert f.readings == 2 == landing_readings(settings).height
    assert "Already landed before the change was seen: 2 reading(s)" in f.reason and landed[0] in f.reason
    assert _ledger_entries(settings) == []  # not recorded: the next scan takes the new content whole
    assert sorted(landing_readings(settings)["value"].to_list()) == [31.0, 32.0]  # the content as checked

    ingestor.landing.write_readings = original  # type: ignore[method-assign]
    g = ingestor.ingest(path)
    assert (g.status, g.readings) == ("ingested", 3), g.reason
    assert len(_ledger_entries(settings)) == 1


def test_reports_never_hide_landed_batches_under_a_real_concurrent_writer(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A writer appends freely while the file is ingested again and again: whatever each report says,
    the batches it names are exactly the batches that landed, and none holds a half-written line."""
    path = tmp_path / "station_export.csv"
    stop, started = threading.Event(), threading.Event()
    written = 0

    def writer() -> None:
        nonlocal written
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(HEADER)
            fh.flush()
            while not stop.is_set() and written < 5_000:
                line = _row(written)
                fh.write(line[:20])  # half a line is on disk for a moment
                fh.flush()
                time.sleep(0.0005)
                fh.write(line[20:])
                fh.flush()
                written += 1
                if written == 10:
                    started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reported: list[str] = []
    statuses = set()
    try:
        assert started.wait(10)
        for _ in range(15):
            (f,) = ingest_paths([path], settings).files
            statuses.add(f.status)
            reported += f.batches
            if f.status == "changed" and not f.batches:
                assert f.readings == 0
    finally:
        stop.set()
        thread.join()
    assert sorted(reported) == _landed_batches(settings)  # nothing landed that a report did not name
    assert "changed" in statuses  # the writer was caught at least once
    df = landing_readings(settings)
    if df.height:  # every landed value is one the writer wrote whole (30..36), never a cut one
        expected = {float(30 + i % 7) for i in range(written)}
        assert set(df["value"].to_list()) <= expected
