"""Load new landing batches into the warehouse: idempotent, set-based, never overwriting.

- A batch recorded in `load_ledger` is never loaded again (loading twice changes nothing).
- Rows are keyed by (site_id, parameter, period_start, interval_s, source_kind). The first
  row of a key wins (the one already held, else the earliest batch's); an identical later row
  is collapsed as a duplicate; a later row with other values is recorded in
  `reading_conflicts`, never silently overwriting the value held.
- A batch that cannot be loaded — unreadable, not of its schema, or one DuckDB fails on (out of
  memory under `duckdb_memory_limit`, a constraint, a conversion) — is isolated: its transaction
  is rolled back, the batch is MOVED to quarantine with a reason file beside it, recorded in
  `quarantined_batches`, and the other batches still load; a later load is not blocked by it.
  A chunk of several readings batches that fails is retried batch by batch, so only the batch at
  fault is quarantined.
- Readings load before dead letters, each batch in its own transaction: a dead-letter batch,
  however large or broken, never stands in front of a reading.
- Dead letters are inserted in slices of about `DEAD_LETTER_SLICE_BYTES` (Python never holds a
  batch of huge raw payloads at once), all in one transaction: a batch loads whole or not at all.
  A batch whose raw payloads add up to more than DEAD_LETTER_MEMORY_SHARE of DuckDB's memory
  limit is quarantined before DuckDB sees it: DuckDB holds a row group's blobs in memory when it
  checkpoints, and once they outgrow `duckdb_memory_limit` every commit fails fatally (measured:
  2.3 GB of raw at 256 MB invalidated the connection on each later load until the limit was raised).
- If DuckDB invalidates the connection (a fatal error, e.g. a checkpoint out of memory), nothing
  is blamed or quarantined (it is not one batch's fault); the load stops with `LoadError` naming
  the batch it was loading and the setting to raise. The uncommitted transaction is not applied.
- A batch moved to quarantine whose record a crash prevented is recorded by the next load.
- A full disk is not the batch's fault: the load stops with `LoadError` naming the batch and the
  setting (`duckdb_temp_dir`), and nothing is quarantined.
- Only errors a batch can cause quarantine it: DuckDB conversion / type / range errors, constraint
  errors, invalid input, binder errors (its columns), and running out of memory on it. Errors of
  the machine or the warehouse — I/O (disk quota, EIO, a temp directory that cannot be created),
  permission, a read-only database, a missing table, a transaction conflict with another writer,
  an internal error, a connection DuckDB invalidated — would fail every batch of the run the same
  way: the load stops with `LoadError` naming the batch and what to check, and quarantines nothing
  (the batches stay in the landing zone for the next run).
- `.tmp-*` files a crashed writer left in the landing zone are removed once older than
  `landing_tmp_max_age_s` (a file being written now is younger and never touched).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.errors import EnvmonError
from core.landing import DEAD_LETTERS, READINGS, LandingZone, batch_id_from_path, conform
from core.schema import DEAD_LETTER_SCHEMA, NATURAL_KEY, READINGS_SCHEMA
from warehouse.bulk import insert_rows
from warehouse.db import transaction

# Rows held in memory per transaction; bounds peak memory on large backfills.
CHUNK_ROWS = 1_500_000
# Dead letters per INSERT, by size: a slice of a batch of big raw payloads stays about this large.
DEAD_LETTER_SLICE_BYTES = 16 << 20
DEAD_LETTER_MEMORY_SHARE = 1 / 16  # of duckdb_memory_limit: the most raw payload bytes in one batch
DEAD_LETTER_READ_ROWS = 64  # rows decoded at a time (one raw payload may be large)

_KEY = ", ".join(NATURAL_KEY)
_VALUES = ("value", "value_min", "value_max", "value_zs", "value_cou", "unit", "flag")
_SAME_VALUES = " AND ".join(f"i.{c} IS NOT DISTINCT FROM k.{c}" for c in _VALUES)
_KEY_JOIN = " AND ".join(f"i.{c} = k.{c}" for c in NATURAL_KEY)


class LoadError(EnvmonError):
    """The load cannot go on (the machine or the warehouse failed, e.g. a full disk): not the fault of
    a batch, so nothing is quarantined."""


# DuckDB errors a batch's own rows can cause: the batch is quarantined and the others still load.
# DataError: conversion, type mismatch, out of range; IntegrityError: constraints.
_BATCH_FAULTS: tuple[type[BaseException], ...] = (
    duckdb.DataError,
    duckdb.IntegrityError,
    duckdb.InvalidInputException,
    duckdb.OutOfMemoryException,
)
# (A binder error is not among them: batches are conformed to their schema before DuckDB sees them,
# so a column DuckDB cannot bind means the warehouse's schema is behind the code: `envmon init`.)
# Text of an error of the machine or the warehouse, even when DuckDB raises it as one of the above
# (a read-only database is an InvalidInputException).
_MACHINE_TEXT = re.compile(
    r"read-only|read only|invalidated|no space left|quota|permission denied|input/output error|"
    r"read-only file system|too many open files",
    re.IGNORECASE,
)


@dataclass
class BatchLoad:
    relpath: str
    rows_in: int = 0
    rows_inserted: int = 0
    rows_duplicate: int = 0
    rows_conflict: int = 0


@dataclass
class LoadReport:
    loaded: list[BatchLoad] = field(default_factory=list)
    dead_letter_batches: int = 0
    dead_letters: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (relpath, reason)
    already_loaded: int = 0
    tmp_removed: list[str] = field(default_factory=list)  # crash leftovers (.tmp-*) removed
    logger_events: tuple[int, int] = (0, 0)  # HJ 212 CN 2021/2072 events (in, inserted)

    @property
    def rows_inserted(self) -> int:
        return sum(b.rows_inserted for b in self.loaded)

    @property
    def rows_duplicate(self) -> int:
        return sum(b.rows_duplicate for b in self.loaded)

    @property
    def rows_conflict(self) -> int:
        return sum(b.rows_conflict for b in self.loaded)


def _known(con: duckdb.DuckDBPyConnection) -> tuple[set[str], set[str]]:
    ledger = {r[0] for r in con.execute("SELECT batch_id FROM load_ledger").fetchall()}
    quarantined = {r[0] for r in con.execute("SELECT relpath FROM quarantined_batches").fetchall()}
    return ledger, quarantined


def load_landing(
    con: duckdb.DuckDBPyConnection,
    landing: LandingZone,
    quarantine_dir: Path,
    *,
    chunk_rows: int = CHUNK_ROWS,
    tmp_max_age_s: float | None = None,
) -> LoadReport:
    """Load every landing batch not loaded yet: readings first, then dead letters.

    `tmp_max_age_s`: also remove landing `.tmp-*` files older than this (crash leftovers).
    """
    report = LoadReport()
    if tmp_max_age_s is not None:
        report.tmp_removed = landing.remove_stale_tmp(tmp_max_age_s)
    _record_unrecorded_quarantine(con, quarantine_dir)
    ledger, quarantined = _known(con)
    for kind in (READINGS, DEAD_LETTERS):
        pending = []
        for relpath in landing.list_batches(kind):
            if batch_id_from_path(relpath) in ledger or relpath in quarantined:
                report.already_loaded += 1
            else:
                pending.append(relpath)
        if kind == DEAD_LETTERS:
            _load_dead_letters(con, landing, pending, quarantine_dir, report)
        else:
            _load_readings(con, landing, pending, quarantine_dir, report, chunk_rows)
    from warehouse.event_loader import load_logger_events  # logger events (issue 17)

    report.logger_events = load_logger_events(con, landing, quarantine_dir, report)
    return report


def _read_batch(landing: LandingZone, relpath: str, schema: pa.Schema) -> pa.Table:
    table = landing.read(relpath)
    return conform(table, schema)


def _load_readings(
    con: duckdb.DuckDBPyConnection,
    landing: LandingZone,
    pending: list[str],
    quarantine_dir: Path,
    report: LoadReport,
    chunk_rows: int,
) -> None:
    chunk: list[tuple[str, pa.Table]] = []
    rows = 0
    for relpath in pending:
        try:
            table = _read_batch(landing, relpath, READINGS_SCHEMA)
            _check_rows(table)
        except (OSError, pa.ArrowException, ValueError) as exc:
            _stop_if_read_failed(landing, relpath, "readings", exc)
            quarantine_batch(con, landing, relpath, quarantine_dir, f"unreadable readings batch: {exc}", report)
            continue
        chunk.append((relpath, table))
        rows += table.num_rows
        if rows >= chunk_rows:
            _load_chunk_isolating(con, chunk, landing, quarantine_dir, report)
            chunk, rows = [], 0
    if chunk:
        _load_chunk_isolating(con, chunk, landing, quarantine_dir, report)


def _load_chunk_isolating(
    con: duckdb.DuckDBPyConnection,
    chunk: list[tuple[str, pa.Table]],
    landing: LandingZone,
    quarantine_dir: Path,
    report: LoadReport,
) -> None:
    """Load a chunk; if DuckDB fails on it, load its batches one by one and quarantine the culprit."""
    try:
        _load_chunk(con, chunk, landing, report)
        return
    except duckdb.Error as exc:
        if len(chunk) == 1:
            fail_batch(con, landing, chunk[0][0], quarantine_dir, "readings", exc, report)
            return
        if isinstance(exc, duckdb.InterruptException):
            raise
        # a machine error fails every batch alike: stop before retrying them one by one
        # (also when DuckDB invalidated the connection: none of them is blamed, nothing was committed)
        _stop_unless_batch_fault(con, landing, chunk[0][0], f"a chunk of {len(chunk)} readings batches starting at", exc)
    for relpath, table in chunk:
        try:
            _load_chunk(con, [(relpath, table)], landing, report)
        except duckdb.Error as exc:
            fail_batch(con, landing, relpath, quarantine_dir, "readings", exc, report)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _connection_dead(con: duckdb.DuckDBPyConnection) -> bool:
    """True when DuckDB has invalidated the database (after a fatal error): no statement will run."""
    try:
        con.execute("SELECT 1").fetchall()  # fetchall: a half-read result would block the next statement
    except duckdb.Error:
        return True
    return False


def _record_unrecorded_quarantine(con: duckdb.DuckDBPyConnection, quarantine_dir: Path) -> None:
    """Record batches moved to quarantine by a load that could not record them (a fatal error)."""
    root = Path(quarantine_dir) / "landing"
    if not root.is_dir():
        return
    known = {r[0] for r in con.execute("SELECT relpath FROM quarantined_batches").fetchall()}
    for reason_file in root.rglob("*.parquet.reason.txt"):
        target = reason_file.with_name(reason_file.name.removesuffix(".reason.txt"))
        relpath = target.relative_to(root).as_posix()
        if relpath in known or not target.exists():
            continue
        reason = reason_file.read_text(encoding="utf-8").strip()
        con.execute(
            "INSERT INTO quarantined_batches VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [relpath, str(target), reason, datetime.fromtimestamp(reason_file.stat().st_mtime, UTC)],
        )


def _unquoted(exc: BaseException) -> str:
    """The error's text without its quoted parts: a batch's own values (DuckDB quotes them in a
    conversion error) must never read as a machine error, or one crafted batch would stop every load."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", str(exc))


def _is_disk_full(exc: BaseException) -> bool:
    text = _unquoted(exc).lower()
    return (
        (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
        or "no space left" in text
        or "quota exceeded" in text
    )


def _machine_fault(exc: BaseException) -> str | None:
    """What to check when `exc` is an error of the machine or the warehouse (not the batch's), else None."""
    text = _unquoted(exc)
    if isinstance(exc, _BATCH_FAULTS) and not _MACHINE_TEXT.search(text):
        return None
    low = text.lower()
    if "read-only" in low or "read only" in low:
        return ("the warehouse is open read-only (or its filesystem is mounted read-only): run `envmon load` "
                "against a writable ENVMON_WAREHOUSE, and check the mount")
    if isinstance(exc, duckdb.PermissionException) or "permission denied" in low:
        return ("permissions: the user running the load must be able to write the warehouse file, its "
                "directory and ENVMON_DUCKDB_TEMP_DIR (duckdb_temp_dir)")
    if isinstance(exc, duckdb.IOException | OSError):
        return ("the warehouse's disk and filesystem: free space and quota, I/O errors (EIO; see the system "
                "log), and that ENVMON_DUCKDB_TEMP_DIR (duckdb_temp_dir) exists and is writable")
    if isinstance(exc, duckdb.TransactionException | duckdb.SerializationException):
        return "another process writing the warehouse at the same time: run `envmon load` again when it is done"
    if isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
        return "the warehouse's schema: run `envmon init` (migrations) before loading"
    return ("the warehouse and the machine (this error is not one a batch's rows can cause); if it persists, "
            "report it with the message above")


class _TooBig(Exception):
    """A batch too large for DuckDB's memory limit: quarantined before DuckDB sees it."""


_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip


def _memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """DuckDB's memory limit in bytes (0 when unknown)."""
    match = re.fullmatch(r"([\d.]+)\s*([A-Za-z]*)", _memory_limit(con).strip())
    try:
        return int(float(match.group(1)) * _UNITS[match.group(2).upper()]) if match else 0
    except (ValueError, KeyError):
        return 0


def _memory_limit(con: duckdb.DuckDBPyConnection) -> str:
    try:
        rows = con.execute("SELECT current_setting('memory_limit')").fetchall()
        return str(rows[0][0]) if rows else "?"
    except duckdb.Error:
        return "?"


def fail_batch(
    con: duckdb.DuckDBPyConnection,
    landing: LandingZone,
    relpath: str,
    quarantine_dir: Path,
    what: str,
    exc: BaseException,
    report: LoadReport,
) -> None:
    """A batch DuckDB could not load: quarantine it with a reason a person can act on.

    An error of the machine or the warehouse (full disk, I/O, permission, read-only database, an
    invalidated connection, ...) stops the load instead (raises LoadError): the next batch would
    fail the same way and none of them is at fault.
    """
    if isinstance(exc, duckdb.InterruptException):
        raise exc  # interrupted (Ctrl-C): not the batch's fault
    _stop_unless_batch_fault(con, landing, relpath, what, exc)
    first_line = _first_line(exc)
    if isinstance(exc, duckdb.OutOfMemoryException):
        reason = (
            f"DuckDB ran out of memory loading this {what} batch (duckdb_memory_limit {_memory_limit(con)}): "
            f"{first_line}. The other batches still load; to load batches like this one, raise "
            "ENVMON_DUCKDB_MEMORY_LIMIT (duckdb_memory_limit). The batch is kept in quarantine."
        )
    else:
        reason = f"DuckDB could not load this {what} batch ({type(exc).__name__}): {first_line}"
    quarantine_batch(con, landing, relpath, quarantine_dir, reason, report)


def _stop_if_read_failed(landing: LandingZone, relpath: str, what: str, exc: BaseException) -> None:
    """A batch that could not be READ because of the machine (an OSError with an errno: EIO, EACCES,
    EMFILE, a landing store that went away) stops the load: every pending batch would fail the same
    way and none is at fault. What is wrong with the file itself (pyarrow's ArrowInvalid, an error
    without an errno: not Parquet, truncated, wrong columns) quarantines the batch alone."""
    if isinstance(exc, OSError) and exc.errno is not None:
        raise LoadError(
            f"envmon load: could not read {what} batch {landing.full_path(relpath)} "
            f"({type(exc).__name__}: {_first_line(exc)}). Nothing was quarantined and the batches not "
            "loaded yet stay in the landing zone; check the landing zone's disk or store, its "
            "permissions and the open-file limit, then run `envmon load` again."
        ) from None


def _stop_unless_batch_fault(
    con: duckdb.DuckDBPyConnection, landing: LandingZone, relpath: str, what: str, exc: BaseException
) -> None:
    """Raise LoadError (naming the batch and what to check) unless `exc` is one a batch can cause."""
    first_line = _first_line(exc)
    if _is_disk_full(exc):
        raise LoadError(
            f"envmon load: the disk is full while loading {what} batch {landing.full_path(relpath)} "
            f"({first_line}). Nothing was quarantined and the batches not loaded yet stay in the landing "
            "zone; free space on the warehouse's disk or point ENVMON_DUCKDB_TEMP_DIR (duckdb_temp_dir, "
            "where DuckDB spills) at a larger one, then run `envmon load` again."
        ) from None
    if isinstance(exc, duckdb.FatalException) or _connection_dead(con):
        # DuckDB invalidated the connection (e.g. a checkpoint out of memory): not this batch's fault
        # as far as anyone can tell, and nothing more can be recorded; nothing was committed.
        io = isinstance(exc, duckdb.IOException | duckdb.PermissionException | OSError)
        advice = (
            f"Check {_machine_fault(exc)}"
            if io and "memory" not in first_line.lower()
            else "DuckDB needs more memory for this warehouse: raise ENVMON_DUCKDB_MEMORY_LIMIT (duckdb_memory_limit)"
        )
        raise LoadError(
            f"envmon load: stopped while loading {what} batch {landing.full_path(relpath)}: DuckDB invalidated "
            f"the connection ({type(exc).__name__}: {first_line}). Its transaction was not committed and no batch "
            f"was quarantined. {advice} and run `envmon load` again."
        ) from None
    check = _machine_fault(exc)
    if check is not None:
        raise LoadError(
            f"envmon load: stopped while loading {what} batch {landing.full_path(relpath)}: {type(exc).__name__}: "
            f"{first_line}. This is not the batch's fault, so nothing was quarantined; its transaction was rolled "
            f"back and the batches not loaded yet stay in the landing zone. Check {check}, then run `envmon load` "
            "again."
        ) from None


def _check_rows(table: pa.Table) -> None:
    """Reject a batch whose required fields are null (a writer bug, not a bad reading)."""
    for name in (*NATURAL_KEY, "unit", "received_at"):
        nulls = table.column(name).null_count
        if nulls:
            raise ValueError(f"{nulls} row(s) with no {name}")


def _load_chunk(
    con: duckdb.DuckDBPyConnection,
    chunk: list[tuple[str, pa.Table]],
    landing: LandingZone,
    report: LoadReport,
) -> None:
    ids = [batch_id_from_path(relpath) for relpath, _ in chunk]
    incoming = pa.concat_tables([t for _, t in chunk])
    # each row's batch id as a dictionary (index per row, one string per batch): a string per
    # row cost a Python object each, a tenth of the load at province scale
    rows_per_batch = [t.num_rows for _, t in chunk]
    batch_index = pa.array(np.repeat(np.arange(len(ids), dtype=np.int32), rows_per_batch))
    incoming = incoming.append_column("batch_id", pa.DictionaryArray.from_arrays(batch_index, pa.array(ids, pa.string())))
    now = datetime.now(UTC)
    con.register("incoming_arrow", incoming)
    try:
        with transaction(con):
            # A key repeated inside the chunk shows as fewer distinct key hashes than rows (a
            # hash collision only sends the chunk down the exact path below); cheaper than
            # grouping by the key itself.
            n_rows, n_hashes, lo, hi = con.execute(
                f"""SELECT count(*), count(DISTINCT hash({_KEY})), min(period_start), max(period_start)
                    FROM incoming_arrow"""
            ).fetchall()[0]
            repeated = n_rows - n_hashes
            # Rows already held for the incoming keys. The period range is bound as constants so
            # that DuckDB skips the row groups outside it (with subqueries it read the whole
            # table for every chunk, a load time growing with the square of the data).
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE ex AS
                    SELECT r.* FROM readings r SEMI JOIN incoming_arrow k USING ({_KEY})
                    WHERE r.period_start BETWEEN $lo AND $hi""",
                {"lo": lo, "hi": hi},
            )
            held = _scalar(con, "SELECT count(*) FROM ex")
            cols = ", ".join(READINGS_SCHEMA.names) + ", batch_id"
            if repeated == 0 and held == 0:
                # The common case (fresh data, backfills): every row is new, insert straight through.
                con.execute(f"INSERT INTO readings ({cols}) SELECT {cols} FROM incoming_arrow")
                counts = {bid: (t.num_rows, t.num_rows, 0) for bid, (_, t) in zip(ids, chunk, strict=True)}
            else:
                counts = _insert_resolving_duplicates(con, cols, now)
            ledger, loads = [], []
            for bid, (relpath, _) in zip(ids, chunk, strict=True):
                rows_in, inserted, conflict = counts.get(bid, (0, 0, 0))
                load = BatchLoad(relpath, rows_in, inserted, rows_in - inserted - conflict, conflict)
                ledger.append((bid, READINGS, landing.source_kind_of(relpath), relpath, load.rows_in,
                               load.rows_inserted, load.rows_duplicate, load.rows_conflict, now))  # fmt: skip
                loads.append(load)
            insert_rows(con, "INSERT INTO load_ledger", ledger, 9)
        report.loaded += loads  # only once committed (a failed chunk is retried batch by batch)
    finally:
        con.unregister("incoming_arrow")
        for temp in ("inc", "ex", "ins", "kept", "conf"):
            con.execute(f"DROP TABLE IF EXISTS {temp}")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _insert_resolving_duplicates(
    con: duckdb.DuckDBPyConnection, cols: str, now: datetime
) -> dict[str, tuple[int, int, int]]:
    """First row of a key wins; identical repeats collapse; differing ones become conflicts.

    Returns per batch: (rows in, rows inserted, rows in conflict).
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE inc AS
            SELECT *, row_number() OVER (PARTITION BY {_KEY} ORDER BY batch_id, received_at) AS rn
            FROM incoming_arrow"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ins AS
            SELECT inc.* EXCLUDE (rn) FROM inc ANTI JOIN ex USING ({_KEY}) WHERE inc.rn = 1"""
    )
    con.execute(f"INSERT INTO readings ({cols}) SELECT {cols} FROM ins")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE kept AS
            SELECT {_KEY}, {", ".join(_VALUES)}, batch_id FROM ex
            UNION ALL SELECT {_KEY}, {", ".join(_VALUES)}, batch_id FROM ins"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE conf AS
            SELECT i.*, k.value AS kept_value, k.flag AS kept_flag, k.batch_id AS kept_batch_id
            FROM inc i JOIN kept k ON {_KEY_JOIN}
            WHERE NOT (i.batch_id = k.batch_id AND i.rn = 1) AND NOT ({_SAME_VALUES})"""
    )
    con.execute(
        """INSERT INTO reading_conflicts
           SELECT site_id, parameter, period_start, interval_s, source_kind, kept_value, kept_flag,
                  kept_batch_id, value, flag, batch_id, origin, received_at, ?
           FROM conf""",
        [now],
    )
    return {
        bid: (rows_in, ins, conflict)
        for bid, rows_in, ins, conflict in con.execute(
            """SELECT b.batch_id, b.n,
                      coalesce((SELECT count(*) FROM ins WHERE ins.batch_id = b.batch_id), 0),
                      coalesce((SELECT count(*) FROM conf WHERE conf.batch_id = b.batch_id), 0)
               FROM (SELECT batch_id, count(*) AS n FROM inc GROUP BY batch_id) b"""
        ).fetchall()
    }


def _load_dead_letters(
    con: duckdb.DuckDBPyConnection,
    landing: LandingZone,
    pending: list[str],
    quarantine_dir: Path,
    report: LoadReport,
) -> None:
    now = datetime.now(UTC)
    for relpath in pending:
        try:
            rows = _load_dead_letter_batch(con, landing, relpath, now)
        except _TooBig as exc:
            quarantine_batch(con, landing, relpath, quarantine_dir, str(exc), report)
            continue
        except (OSError, pa.ArrowException, ValueError) as exc:
            if _is_disk_full(exc):
                fail_batch(con, landing, relpath, quarantine_dir, "dead-letter", exc, report)
            _stop_if_read_failed(landing, relpath, "dead-letter", exc)
            quarantine_batch(con, landing, relpath, quarantine_dir, f"unreadable dead-letter batch: {exc}", report)
            continue
        except duckdb.Error as exc:
            fail_batch(con, landing, relpath, quarantine_dir, "dead-letter", exc, report)
            continue
        report.dead_letter_batches += 1
        report.dead_letters += rows


def _load_dead_letter_batch(con: duckdb.DuckDBPyConnection, landing: LandingZone, relpath: str, now: datetime) -> int:
    """Insert one dead-letter batch in slices, in one transaction; returns its row count.

    The batch is read DEAD_LETTER_READ_ROWS rows at a time (Parquet metadata cannot tell how big
    a dictionary-encoded raw column decodes to) and inserted whenever DEAD_LETTER_SLICE_BYTES
    have gathered, so Python never holds much more than a slice.
    """
    bid = batch_id_from_path(relpath)
    rows = 0

    def insert(batches: list[pa.RecordBatch]) -> None:
        table = conform(pa.Table.from_batches(batches), DEAD_LETTER_SCHEMA)
        con.register("dl_arrow", table)
        con.execute(
            """INSERT INTO dead_letters (dead_letter_id, source_kind, origin, reason, raw, received_at, batch_id)
               SELECT dead_letter_id, source_kind, origin, reason, raw, received_at, ? FROM dl_arrow
               ON CONFLICT DO NOTHING""",
            [bid],
        )
        con.unregister("dl_arrow")

    with landing.fs.open_input_file(landing.full_path(relpath)) as fh:
        parquet = pq.ParquetFile(fh)
        raw_bytes = 0
        for batch in parquet.iter_batches(batch_size=DEAD_LETTER_READ_ROWS, columns=["raw"]):
            raw_bytes += pc.sum(pc.binary_length(batch.column(0))).as_py() or 0
        budget = int(_memory_limit_bytes(con) * DEAD_LETTER_MEMORY_SHARE)
        if budget and raw_bytes > budget:
            raise _TooBig(
                f"this dead-letter batch carries {raw_bytes:,} bytes of raw payloads ({parquet.metadata.num_rows:,} "
                f"rows), more than {budget:,} ({DEAD_LETTER_MEMORY_SHARE:.4g} of duckdb_memory_limit "
                f"{_memory_limit(con)}): DuckDB would run out of memory storing it. Not loaded; the other batches "
                "still load. To load it, raise ENVMON_DUCKDB_MEMORY_LIMIT (duckdb_memory_limit). The batch is kept "
                "in quarantine."
            )
        try:
            with transaction(con):
                pending: list[pa.RecordBatch] = []
                size = 0
                for batch in parquet.iter_batches(batch_size=DEAD_LETTER_READ_ROWS):
                    pending.append(batch)
                    size += batch.nbytes
                    rows += batch.num_rows
                    if size >= DEAD_LETTER_SLICE_BYTES:
                        insert(pending)
                        pending, size = [], 0
                if pending:
                    insert(pending)
                del pending
                con.execute(
                    "INSERT INTO load_ledger VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?)",
                    [bid, DEAD_LETTERS, landing.source_kind_of(relpath), relpath, rows, now],
                )
        finally:
            # after a failed statement DuckDB refuses even this until the ROLLBACK (done by now)
            con.unregister("dl_arrow")
    return rows


def quarantine_batch(
    con: duckdb.DuckDBPyConnection,
    landing: LandingZone,
    relpath: str,
    quarantine_dir: Path,
    reason: str,
    report: LoadReport,
) -> None:
    """Move a bad batch out of the landing zone, with its reason beside it, and record it.

    On a local landing zone the batch is renamed (no copy, whatever its size; a copy and delete
    only across filesystems); from an object store it is streamed down in blocks, then deleted.
    """
    target = _move_to_quarantine(landing, relpath, quarantine_dir, reason)
    con.execute(
        "INSERT INTO quarantined_batches VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [relpath, str(target), reason, datetime.now(UTC)],
    )
    report.quarantined.append((relpath, reason))


def _move_to_quarantine(landing: LandingZone, relpath: str, quarantine_dir: Path, reason: str) -> Path:
    target = quarantine_dir / "landing" / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    if landing.local:
        shutil.move(landing.full_path(relpath), target)  # os.rename on the same filesystem
    else:
        tmp = target.with_name(target.name + ".part")
        with landing.fs.open_input_stream(landing.full_path(relpath)) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 8 << 20)
        os.replace(tmp, target)
        landing.remove(relpath)
    return target
