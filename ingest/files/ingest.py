"""Ingest files into the landing zone: detect, read, normalise, write; quarantine what is bad.

Per file: skip it if its content hash is in the ledger; choose its profile; read and normalise
it; apply the reading contract (core.contract: time window, finite values, flag vocabulary; a
blank flag is no flag); then either reject it whole (it cannot be read, or it has bad rows and its
profile says `reject_file`) or write its good readings as landing batches, its bad rows as dead
letters (one per line, with all its reasons) and into quarantine, and finally record it in the
ledger.

A file that changes while it is ingested (size, modification time, inode or content hash differ
from what was read) is refused with status `changed` and is never moved or recorded, so the next
scan takes it again whole. Before anything of it is written (readings or dead letters) the file
is hashed again and compared with the bytes that were parsed: a file still being written is
refused then, with nothing landed. A change seen only after its readings were written (a writer
that started after that check) is reported as it is: status `changed`, with the readings and
batches that landed (all from the content as it was when checked) named in the report and its
reason; the next scan's readings of the new content collapse onto them at
load (identical ones as duplicates, differing ones recorded as conflicts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Literal

import pyarrow as pa

from core.contract import ReadingContract
from core.landing import LandingZone
from core.registry.config import Registry, load_registry
from core.settings import Settings, get_settings
from ingest.files.detect import detect_profile
from ingest.files.ledger import FileLedger
from ingest.files.normalize import normalize
from ingest.files.profiles import Profile, load_profiles
from ingest.files.quarantine import quarantine_file, quarantine_rows
from ingest.files.readers import FileLimits, FileRejected, SourceFile

BATCH_ROWS = 1_000_000  # readings per landing batch: bounds a batch's size and the loader's chunks
_SHOWN_BAD_ROWS = 50  # in a rejected file's reason file


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int
    reason: str


class FileChanged(Exception):
    """The file changed on disk while it was being ingested (a writer still at work)."""


@dataclass
class FileReport:
    path: str
    status: Literal["ingested", "duplicate", "rejected", "changed"]
    profile: str | None = None
    sha256: str | None = None
    rows: int = 0  # data rows read
    readings: int = 0  # readings written
    duplicates_collapsed: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    reason: str | None = None  # why rejected / why a no-op
    quarantined: str | None = None
    seconds: float = 0.0


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def readings(self) -> int:
        return sum(f.readings for f in self.files)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bad_rows(self) -> list[BadRow]:
        return [b for f in self.files for b in f.bad_rows]


class FileIngestor:
    """Holds what every file needs (settings, registry, profiles, landing zone, ledger)."""

    def __init__(self, settings: Settings | None = None, *, registry: Registry | None = None,
                 profiles: dict[str, Profile] | None = None):
        self.settings = settings or get_settings()
        self.registry = registry or load_registry(self.settings.config_dir)
        self.profiles = profiles or load_profiles(self.settings.config_dir, self.registry)
        self.landing = LandingZone(self.settings.landing_root)
        self.ledger = FileLedger(self.landing)
        self.limits = FileLimits.from_settings(self.settings)
        self.contract = ReadingContract.from_settings(self.settings)
        self.last_source: SourceFile | None = None  # the file of the latest ingest() (its fingerprint)

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise FileRejected(f"unknown profile {name!r}; valid choices: {', '.join(sorted(self.profiles))}")
        return self.profiles[name]

    def ingest(self, path: Path | str, *, profile: str | None = None, move_rejected: bool = False) -> FileReport:
        started = perf_counter()
        path = Path(path)
        report = FileReport(str(path), "ingested")
        src = self.last_source = SourceFile(path, self.limits)
        if not path.is_file():
            report.status, report.reason = "rejected", "no such file"
            return report
        try:
            report.sha256 = src.sha256
            seen = self.ledger.get(src.sha256)
            if seen is not None:
                report.status, report.profile = "duplicate", seen.get("profile")
                report.reason = f"already ingested (same content as {seen.get('path')} at {seen.get('ingested_at')}); nothing to do"
                return report
            chosen = self.profile(profile) if profile else detect_profile(src, self.profiles)
            report.profile = chosen.name
            self._ingest(src, chosen, report, move_rejected)
        except FileChanged as exc:
            report.status, report.reason, report.readings, report.batches = "changed", str(exc), 0, []
        except FileRejected as exc:
            changed = src.changed(content=False)
            if changed:  # refused because it was read half-written: not its fault, take it again later
                report.status, report.reason, report.readings = "changed", _changed_reason(src, changed), 0
            else:
                self._reject(src, report, str(exc), move_rejected)
        finally:
            report.seconds = perf_counter() - started
        return report

    def _ingest(self, src: SourceFile, profile: Profile, report: FileReport, move_rejected: bool) -> None:
        received_at = datetime.now(UTC)
        raw = src.read(profile)
        report.rows = raw.df.height + len(raw.invalid)
        norm = normalize(raw, profile, self.registry, origin=str(src.path), received_at=received_at)
        table, refused = self._contract(norm.readings, received_at)
        bad = _merge_bad([*raw.invalid, *norm.bad, *refused])
        report.bad_rows = [BadRow(str(src.path), line, reason) for line, reason in bad]
        report.duplicates_collapsed = norm.duplicates_collapsed
        # Content check before anything is written: the bytes parsed must still be the file's bytes
        # (a writer still appending, or rewriting in place with the same size and time, is caught here).
        self._unchanged(src, content=True)
        if bad and profile.on_bad_row == "reject_file":
            self._dead_letters(src, profile, bad, received_at, raw.raw_rows)
            shown = "\n".join(f"line {line}: {reason}" for line, reason in bad[:_SHOWN_BAD_ROWS])
            more = f"\n... and {len(bad) - _SHOWN_BAD_ROWS} more" if len(bad) > _SHOWN_BAD_ROWS else ""
            raise FileRejected(f"{len(bad)} bad row(s) and profile {profile.name!r} rejects the whole file "
                               f"on a bad row:\n{shown}{more}")
        for start in range(0, table.num_rows, BATCH_ROWS):
            ref = self.landing.write_readings(table.slice(start, BATCH_ROWS), profile.source_kind)
            report.batches.append(ref.relpath)
        report.readings = table.num_rows
        if bad:
            self._dead_letters(src, profile, bad, received_at, raw.raw_rows)
            rows = [(line, reason, self._raw(src, profile, raw.raw_rows, line)) for line, reason in bad]
            summary = (f"{len(bad)} bad row(s) of {src.path} (profile {profile.name}) were left out; "
                       f"the file's other {report.readings} readings were ingested")
            report.quarantined = str(quarantine_rows(src.path.name, src.sha256, rows, self.settings.quarantine_dir, summary))
        changed = src.changed(content=False)  # checked again: a file changed now is not recorded
        if changed:  # its readings have landed (from the content as checked): say so, do not hide them
            report.status = "changed"
            report.reason = f"{_changed_reason(src, changed)}. {landed_note(report)}"
            return
        self.ledger.record(src.sha256, {
            "path": str(src.path), "profile": profile.name, "ingested_at": received_at.isoformat(),
            "encoding": getattr(src, "encoding", None), "rows": report.rows, "readings": report.readings,
            "bad_rows": len(bad), "batches": report.batches,
        })

    def _contract(self, table: pa.Table, now: datetime) -> tuple[pa.Table, list[tuple[int, str]]]:
        """The readings that keep the reading contract, and (line, reason) for each refused one."""
        accepted, refused = self.contract.split(table, now)
        if not refused:
            return accepted, []
        origins = table.column("origin")
        out = []
        for index, reason in refused:
            line = str(origins[index].as_py()).rsplit(":", 1)[-1]
            out.append((int(line) if line.isdigit() else 0, reason))
        return accepted, out

    @staticmethod
    def _unchanged(src: SourceFile, *, content: bool = False) -> None:
        """Raise FileChanged if the file differs from what was read (size, time, inode; with
        `content`, also the hash of its bytes — one more full read)."""
        changed = src.changed(content=content)
        if changed:
            raise FileChanged(_changed_reason(src, changed))

    @staticmethod
    def _raw(src: SourceFile, profile: Profile, raw_rows: dict[int, bytes], line: int) -> bytes:
        return raw_rows.get(line) or src.raw_line(line, profile)

    def _dead_letters(self, src: SourceFile, profile: Profile, bad: Sequence[tuple[int, str]],
                      received_at: datetime, raw_rows: dict[int, bytes]) -> None:
        self.landing.write_dead_letters(
            [{"origin": f"{src.path}:{line}", "reason": reason, "raw": self._raw(src, profile, raw_rows, line),
              "received_at": received_at} for line, reason in bad],
            "file",
        )

    def _reject(self, src: SourceFile, report: FileReport, reason: str, move: bool) -> None:
        report.status, report.reason, report.readings = "rejected", reason, 0
        report.batches = []
        sha = report.sha256 or "0" * 12
        target = quarantine_file(src.path, sha, reason, self.settings.quarantine_dir, move=move,
                                 copy_max_bytes=self.limits.max_bytes)
        report.quarantined = str(target)
        if not report.bad_rows:  # a file-level rejection is a dead letter too, so staff see it waiting
            self.landing.write_dead_letters(
                [{"origin": str(src.path), "reason": f"{reason} (file in {target})", "raw": None}], "file")


def _changed_reason(src: SourceFile, changed: str) -> str:
    return (f"{src.path}: {changed}; not ingested and left where it is for the next scan. Writers must "
            f"write under a temporary name ({src.path.name}.part or .{src.path.name}) and rename it when done, "
            f"or drop {src.path.name}.ready beside it when it is complete")


def landed_note(report: FileReport) -> str:
    """What of a file refused as `changed` had already landed (nothing is hidden from the report)."""
    if not report.batches and not report.readings:
        return "Nothing of it was landed"
    bad = f" and {len(report.bad_rows)} bad row(s) as dead letters" if report.bad_rows else ""
    return (f"Already landed before the change was seen: {report.readings} reading(s){bad} of the content as read "
            f"(sha256 {report.sha256}, checked unchanged just before they were written), in batch(es) "
            f"{', '.join(report.batches) or '(none)'}; the next scan's readings of the new content collapse onto "
            "them at load (identical ones as duplicates, differing ones recorded as conflicts)")


def _merge_bad(bad: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """One entry per line, its reasons joined (a line refused twice is still one bad row)."""
    by_line: dict[int, list[str]] = {}
    for line, reason in bad:
        reasons = by_line.setdefault(line, [])
        for part in reason.split("; "):
            if part not in reasons:
                reasons.append(part)
    return [(line, "; ".join(reasons)) for line, reasons in sorted(by_line.items())]


def ingest_paths(
    paths: Sequence[Path | str],
    settings: Settings | None = None,
    *,
    profile: str | None = None,
    on_file: Callable[[FileReport], None] | None = None,
) -> IngestReport:
    """Ingest files (an explicit list, e.g. a backfill); a directory means the files in it."""
    ingestor = FileIngestor(settings)
    report = IngestReport()
    for path in expand(paths):
        file_report = ingestor.ingest(path, profile=profile)
        report.files.append(file_report)
        if on_file is not None:
            on_file(file_report)
    return report


def expand(paths: Sequence[Path | str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir()
                          if f.is_file() and not f.name.startswith(".") and f.suffix not in (".part", ".ready"))
        else:
            out.append(p)
    return out
