"""Scan the inbox (`<home>/inbox`) for complete files and ingest them.

A file is taken only when complete: senders either write `name.part` and rename it when done
(`.part` files are never touched), or write in place, in which case a file is taken only when
its size and modification time are the same on two looks `settle_s` apart; a file still growing
waits for the next scan. Taken files move to `inbox/done/<YYYY-MM-DD>/` (ingested or already
ingested) or to quarantine (rejected), so the inbox only ever holds work still to do.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from envmon.settings import Settings
from ingest.files.ingest import FileIngestor, FileReport

PART_SUFFIX = ".part"
DONE_DIR = "done"
DEFAULT_SETTLE_S = 2.0


@dataclass
class InboxReport:
    files: list[FileReport] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # still being written (.part or growing)

    @property
    def readings(self) -> int:
        return sum(f.readings for f in self.files)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


def _candidates(inbox: Path) -> tuple[list[Path], list[Path]]:
    """(files that may be complete, .part files) directly in the inbox; hidden files are ignored."""
    files, parts = [], []
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        (parts if path.name.endswith(PART_SUFFIX) else files).append(path)
    return files, parts


def _look(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    out = {}
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:  # renamed or removed between looks
            continue
        out[path] = (st.st_size, st.st_mtime_ns)
    return out


def _move_done(path: Path, inbox: Path, sha256: str | None) -> None:
    folder = inbox / DONE_DIR / f"{datetime.now(UTC):%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():  # the same name dropped again: keep both
        target = folder / f"{(sha256 or 'x')[:12]}-{path.name}"
    shutil.move(path, target)


def scan_inbox(
    settings: Settings,
    *,
    settle_s: float = DEFAULT_SETTLE_S,
    sleep: Callable[[float], None] = time.sleep,
    on_file: Callable[[FileReport], None] | None = None,
) -> InboxReport:
    """Ingest every complete file in the inbox once; returns what happened to each."""
    inbox = Path(settings.inbox_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    report = InboxReport()
    files, parts = _candidates(inbox)
    report.waiting += [p.name for p in parts]
    if not files:
        return report
    first = _look(files)
    if settle_s > 0:
        sleep(settle_s)
    second = _look(files)
    ingestor = FileIngestor(settings)
    for path in files:
        if path not in first or first.get(path) != second.get(path):
            report.waiting.append(path.name)
            continue
        file_report = ingestor.ingest(path, move_rejected=True)
        if file_report.status != "rejected":
            _move_done(path, inbox, file_report.sha256)
        report.files.append(file_report)
        if on_file is not None:
            on_file(file_report)
    return report
