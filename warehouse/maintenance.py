"""Nightly maintenance: landing-zone compaction and retention, and a warehouse checkpoint.

Compaction merges the loaded batches of a landing partition (kind × source × UTC date; kinds
readings, dead letters and HJ 212 logger events) older than `compact_after_days` into one
Parquet file of its kind's schema, so object stores and directory listings do not fill
with thousands of one-second MQTT batches. It is crash-safe in this order:

1. the merged file is written (atomically, like any batch) with the ids of the batches it
   holds in its Parquet metadata;
2. it is recorded in the load ledger as loaded (its rows are already in the warehouse);
3. the original batches are removed.

A crash after 1 leaves an unknown batch that the next load collapses onto the rows held (all
duplicates); a crash after 2 leaves originals that the next compaction finds listed in the merged
file's metadata and simply removes. Only batches in the ledger are ever merged or removed.

Retention removes landing partitions of every kind (and processed inbox files) older than
`landing_retention_days`: the readings themselves live on in the warehouse, from which every
derived table is rebuilt.

Crash leftovers: `.tmp-*` files (a batch or ledger entry whose writer died before the rename)
older than `landing_tmp_max_age_s` are removed; a younger one may be being written and is left.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.landing import (
    DEAD_LETTERS,
    LOGGER_EVENTS,
    READINGS,
    LandingZone,
    batch_id_from_path,
    conform,
)
from core.schema import DEAD_LETTER_SCHEMA, LOGGER_EVENTS_SCHEMA, READINGS_SCHEMA
from core.settings import Settings, get_settings
from warehouse.db import connect, transaction

COMPACT_PREFIX = "compacted-"
# Every landing kind, with the schema its batches keep when merged (the loader reads a merged
# batch like any other of its kind, and conforms it to the same schema).
KINDS = {READINGS: READINGS_SCHEMA, DEAD_LETTERS: DEAD_LETTER_SCHEMA, LOGGER_EVENTS: LOGGER_EVENTS_SCHEMA}
MERGED_KEY = b"envmon.merged_batch_ids"


@dataclass
class MaintenanceReport:
    as_of: datetime
    partitions_compacted: int = 0
    batches_merged: int = 0
    batches_removed_after_crash: int = 0
    partitions_expired: list[str] = field(default_factory=list)
    inbox_files_expired: int = 0
    tmp_files_removed: list[str] = field(default_factory=list)


def _partition_of(relpath: str) -> tuple[str, date] | None:
    """('readings/source=mqtt', date) of a batch's relative path, or None if not a partition."""
    parts = relpath.split("/")
    if len(parts) != 4 or not parts[2].startswith("date="):
        return None
    return f"{parts[0]}/{parts[1]}", date.fromisoformat(parts[2].removeprefix("date="))


def _merged_ids(landing: LandingZone, relpath: str) -> set[str]:
    meta = pq.read_schema(landing.full_path(relpath), filesystem=landing.fs).metadata or {}
    return set(json.loads(meta.get(MERGED_KEY, b"[]")))


def compact_landing(settings: Settings, as_of: datetime, report: MaintenanceReport) -> None:
    landing = LandingZone(settings.landing_root)
    cutoff = as_of.astimezone(UTC).date() - timedelta(days=settings.compact_after_days)
    with connect(settings, purpose="envmon maintenance: compaction") as con:
        ledger = dict(con.execute("SELECT batch_id, kind FROM load_ledger").fetchall())
        for kind in KINDS:
            partitions: dict[tuple[str, date], list[str]] = {}
            for relpath in landing.list_batches(kind):
                part = _partition_of(relpath)
                if part is not None and part[1] < cutoff:
                    partitions.setdefault(part, []).append(relpath)
            for (prefix, day), relpaths in sorted(partitions.items()):
                _compact_partition(con, landing, kind, prefix, day, relpaths, ledger, report)


def _compact_partition(
    con: duckdb.DuckDBPyConnection,
    landing: LandingZone,
    kind: str,
    prefix: str,
    day: date,
    relpaths: list[str],
    ledger: dict[str, str],
    report: MaintenanceReport,
) -> None:
    merged_files = [r for r in relpaths if batch_id_from_path(r).startswith(COMPACT_PREFIX)]
    already = set().union(*(_merged_ids(landing, r) for r in merged_files)) if merged_files else set()
    leftovers = [r for r in relpaths if batch_id_from_path(r) in already]
    for relpath in leftovers:  # originals a crashed compaction had already merged
        landing.remove(relpath)
        report.batches_removed_after_crash += 1
    originals = [
        r for r in relpaths
        if r not in merged_files and r not in leftovers and batch_id_from_path(r) in ledger
    ]
    if len(originals) + len(merged_files) < 2:
        return
    inputs = merged_files + originals
    ids = sorted(already | {batch_id_from_path(r) for r in originals})
    # each input conformed to its kind's schema first: batches of one kind written by different
    # versions (a column added since) still merge, and the merged batch has exactly that schema
    table = pa.concat_tables([conform(landing.read(r), KINDS[kind]) for r in inputs])
    table = table.replace_schema_metadata({MERGED_KEY: json.dumps(ids).encode()})
    source_kind = prefix.split("source=", 1)[1]
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]
    batch_id = f"{COMPACT_PREFIX}{day.isoformat()}-{len(ids)}-{digest}"
    relpath = f"{prefix}/date={day.isoformat()}/{batch_id}.parquet"
    landing.write_named(table, relpath)
    with transaction(con):
        con.execute(
            """INSERT INTO load_ledger VALUES ($id, $kind, $source, $relpath, $rows, 0, $rows, 0, now())
               ON CONFLICT (batch_id) DO NOTHING""",
            {"id": batch_id, "kind": kind, "source": source_kind, "relpath": relpath, "rows": table.num_rows},
        )
    for r in inputs:
        landing.remove(r)
    report.partitions_compacted += 1
    report.batches_merged += len(originals)


def expire_landing(settings: Settings, as_of: datetime, report: MaintenanceReport) -> None:
    """Remove landing partitions, and processed inbox files, older than the retention period."""
    if settings.landing_retention_days is None:
        return
    landing = LandingZone(settings.landing_root)
    cutoff = as_of.astimezone(UTC).date() - timedelta(days=settings.landing_retention_days)
    with connect(settings, purpose="envmon maintenance: retention") as con:
        ledger = {r[0] for r in con.execute("SELECT batch_id FROM load_ledger").fetchall()}
    for kind in KINDS:
        expired: set[str] = set()
        for relpath in landing.list_batches(kind):
            part = _partition_of(relpath)
            # never remove a batch the warehouse has not loaded
            if part is not None and part[1] < cutoff and batch_id_from_path(relpath) in ledger:
                landing.remove(relpath)
                expired.add(f"{part[0]}/date={part[1].isoformat()}")
        report.partitions_expired += sorted(expired)
    done = Path(settings.inbox_dir) / "done"
    if done.is_dir():
        for folder in sorted(done.iterdir()):
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if day < cutoff:
                report.inbox_files_expired += sum(1 for _ in folder.rglob("*") if _.is_file())
                shutil.rmtree(folder)


def checkpoint(settings: Settings) -> None:
    with connect(settings, purpose="envmon maintenance: checkpoint") as con:
        con.execute("FORCE CHECKPOINT")


def run_maintenance(settings: Settings | None = None, as_of: datetime | None = None) -> MaintenanceReport:
    """Compaction, retention and checkpoint as of `as_of` (the DAG passes its interval's end)."""
    settings = settings or get_settings()
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    report = MaintenanceReport(as_of)
    report.tmp_files_removed = LandingZone(settings.landing_root).remove_stale_tmp(settings.landing_tmp_max_age_s)
    compact_landing(settings, as_of, report)
    expire_landing(settings, as_of, report)
    checkpoint(settings)
    return report
