"""The landing zone: append-only Parquet batches, each either whole or absent.

Layout under the root (a local path, file:// or s3://-style URL):

    readings/source=<source_kind>/date=<YYYY-MM-DD>/<batch_id>.parquet
    deadletters/source=<source_kind>/date=<YYYY-MM-DD>/<batch_id>.parquet

`date` is the UTC date the batch was written. On a local disk a batch is written under a
temporary name, fsynced, renamed and the directory fsynced, so a crash leaves either the whole
batch or a `.tmp-*` file that nobody loads. On an object store a single PUT is already atomic.
Ingestors only ever write here; the warehouse loader only reads (and moves corrupt batches to
quarantine).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from core.durable import write_durably
from core.schema import DEAD_LETTER_SCHEMA, LOGGER_EVENTS_SCHEMA, READINGS_SCHEMA, SOURCE_KINDS

READINGS = "readings"
DEAD_LETTERS = "deadletters"
LOGGER_EVENTS = "loggerevents"  # HJ 212 CN 2021 run status / CN 2072 alarms (ingest/hj212/events.py)
TMP_PREFIX = ".tmp-"
_KINDS = (READINGS, DEAD_LETTERS, LOGGER_EVENTS)


@dataclass(frozen=True)
class BatchRef:
    """A batch in the landing zone: its id, its path relative to the root, and its row count."""

    batch_id: str
    kind: str  # readings | deadletters
    source_kind: str
    relpath: str
    rows: int


def new_batch_id(source_kind: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{source_kind}-{uuid.uuid4().hex[:12]}"


def batch_id_from_path(relpath: str) -> str:
    return relpath.rsplit("/", 1)[-1].removesuffix(".parquet")


def _source_of(relpath: str) -> str:
    for part in relpath.split("/"):
        if part.startswith("source="):
            return part.removeprefix("source=")
    return "unknown"


class LandingZone:
    """Writes and lists landing batches under one root."""

    def __init__(self, root: str | os.PathLike[str]):
        root = str(root)
        self.root = root
        if "://" in root and not root.startswith("file://"):
            self.fs, self.base = pafs.FileSystem.from_uri(root)
            self.local = False
        else:
            self.fs = pafs.LocalFileSystem()
            self.base = str(Path(root.removeprefix("file://")).absolute())
            self.local = True

    # -- writing ---------------------------------------------------------------------------
    def write_readings(self, table: pa.Table, source_kind: str) -> BatchRef:
        """Write one batch of readings; returns only once the batch is durable."""
        return self._write(READINGS, conform(table, READINGS_SCHEMA), source_kind)

    def write_dead_letters(self, rows: Sequence[Mapping[str, Any]], source_kind: str) -> BatchRef:
        """Write rejected input (raw bytes, origin, reason); durable on return."""
        now = datetime.now(UTC)
        cols: dict[str, list[Any]] = {name: [] for name in DEAD_LETTER_SCHEMA.names}
        for row in rows:
            raw = row.get("raw")
            cols["dead_letter_id"].append(row.get("dead_letter_id") or uuid.uuid4().hex)
            cols["source_kind"].append(source_kind)
            cols["origin"].append(str(row["origin"]))
            cols["reason"].append(str(row["reason"]))
            cols["raw"].append(raw.encode("utf-8") if isinstance(raw, str) else raw)
            cols["received_at"].append(row.get("received_at") or now)
        return self._write(DEAD_LETTERS, pa.table(cols, schema=DEAD_LETTER_SCHEMA), source_kind)

    def write_logger_events(self, table: pa.Table, source_kind: str) -> BatchRef:
        """Write logger events (core.schema.LOGGER_EVENTS_SCHEMA); durable on return."""
        return self._write(LOGGER_EVENTS, conform(table, LOGGER_EVENTS_SCHEMA), source_kind)

    def _write(self, kind: str, table: pa.Table, source_kind: str) -> BatchRef:
        if source_kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source_kind {source_kind!r}; valid: {', '.join(SOURCE_KINDS)}")
        now = datetime.now(UTC)
        batch_id = new_batch_id(source_kind, now)
        reldir = f"{kind}/source={source_kind}/date={now:%Y-%m-%d}"
        relpath = f"{reldir}/{batch_id}.parquet"
        if self.local:
            self._write_local(table, reldir, batch_id)
        else:
            self.fs.create_dir(f"{self.base}/{reldir}", recursive=True)
            with self.fs.open_output_stream(f"{self.base}/{relpath}") as out:
                pq.write_table(table, out, compression="zstd")
        return BatchRef(batch_id, kind, source_kind, relpath, table.num_rows)

    def write_named(self, table: pa.Table, relpath: str) -> None:
        """Write a table at a chosen path (compaction); as atomic and durable as any batch."""
        reldir, name = relpath.rsplit("/", 1)
        if self.local:
            self._write_local(table, reldir, name.removesuffix(".parquet"))
        else:
            self.fs.create_dir(f"{self.base}/{reldir}", recursive=True)
            with self.fs.open_output_stream(f"{self.base}/{relpath}") as out:
                pq.write_table(table, out, compression="zstd")

    def _write_local(self, table: pa.Table, reldir: str, batch_id: str) -> None:
        directory = Path(self.base) / reldir
        directory.mkdir(parents=True, exist_ok=True)
        write_durably(directory / f"{batch_id}.parquet", directory / f"{TMP_PREFIX}{batch_id}.parquet",
                      lambda fh: pq.write_table(table, fh, compression="zstd"))

    # -- reading ---------------------------------------------------------------------------
    def list_batches(self, kind: str = READINGS) -> list[str]:
        """Relative paths of every complete batch of a kind, oldest first (ids sort by time)."""
        if kind not in _KINDS:
            raise ValueError(f"unknown landing kind {kind!r}; valid: {', '.join(_KINDS)}")
        selector = pafs.FileSelector(f"{self.base}/{kind}", recursive=True, allow_not_found=True)
        paths = []
        for info in self.fs.get_file_info(selector):
            name = info.base_name
            if info.type == pafs.FileType.File and name.endswith(".parquet") and not name.startswith(TMP_PREFIX):
                paths.append(info.path[len(self.base) + 1 :])
        return sorted(paths, key=batch_id_from_path)

    def full_path(self, relpath: str) -> str:
        return f"{self.base}/{relpath}"

    def read(self, relpath: str) -> pa.Table:
        return pq.read_table(self.full_path(relpath), filesystem=self.fs)

    def source_kind_of(self, relpath: str) -> str:
        return _source_of(relpath)

    def remove(self, relpath: str) -> None:
        self.fs.delete_file(self.full_path(relpath))

    def remove_stale_tmp(self, max_age_s: float, now: float | None = None) -> list[str]:
        """Remove `.tmp-*` files (a crashed writer's leftovers) not modified for `max_age_s`.

        A writer still writing keeps its file's modification time fresh, so only files older than
        the safe age go (settings: `landing_tmp_max_age_s`, at least 60 s). Object stores write
        with one atomic PUT and leave none, so only a local landing zone is swept. Returns the
        relative paths removed.
        """
        if not self.local:
            return []
        cutoff = (time.time() if now is None else now) - max_age_s
        removed = []
        for dirpath, _dirs, names in os.walk(self.base):
            for name in names:
                if not name.startswith(TMP_PREFIX):
                    continue
                path = Path(dirpath) / name
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed.append(str(path.relative_to(self.base)))
                except FileNotFoundError:  # renamed into place or removed meanwhile
                    continue
        return sorted(removed)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a table to the schema's column order and types, filling absent nullable columns."""
    missing_required = [f.name for f in schema if not f.nullable and f.name not in table.column_names]
    if missing_required:
        raise ValueError(f"batch lacks required column(s): {', '.join(missing_required)}")
    unknown = [name for name in table.column_names if name not in schema.names]
    if unknown:
        raise ValueError(f"batch has unknown column(s): {', '.join(unknown)}")
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            arrays.append(table.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def readings_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build a readings table from row dicts (convenience for low-rate ingestors and tests)."""
    cols: dict[str, list[Any]] = {name: [] for name in READINGS_SCHEMA.names}
    for row in rows:
        for name in READINGS_SCHEMA.names:
            cols[name].append(row.get(name))
    return pa.table(cols, schema=READINGS_SCHEMA)
