"""Load new landing batches into the warehouse: idempotent, set-based, never overwriting.

- A batch recorded in `load_ledger` is never loaded again (loading twice changes nothing).
- Rows are keyed by (site_id, parameter, period_start, interval_s, source_kind). The first
  row of a key wins (the one already held, else the earliest batch's); an identical later row
  is collapsed as a duplicate; a later row with other values is recorded in
  `reading_conflicts`, never silently overwriting the value held.
- A batch that cannot be read or does not fit the readings schema is moved to quarantine with
  a reason file beside it, recorded in `quarantined_batches`, and the other batches still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from envmon.schema import DEAD_LETTER_SCHEMA, NATURAL_KEY, READINGS_SCHEMA
from ingest.landing import DEAD_LETTERS, READINGS, LandingZone, batch_id_from_path, conform
from warehouse.bulk import insert_rows
from warehouse.db import transaction

# Rows held in memory per transaction; bounds peak memory on large backfills.
CHUNK_ROWS = 1_500_000

_KEY = ", ".join(NATURAL_KEY)
_VALUES = ("value", "value_min", "value_max", "value_zs", "value_cou", "unit", "flag")
_SAME_VALUES = " AND ".join(f"i.{c} IS NOT DISTINCT FROM k.{c}" for c in _VALUES)
_KEY_JOIN = " AND ".join(f"i.{c} = k.{c}" for c in NATURAL_KEY)


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
) -> LoadReport:
    """Load every landing batch not loaded yet (readings and dead letters)."""
    report = LoadReport()
    ledger, quarantined = _known(con)
    for kind in (DEAD_LETTERS, READINGS):
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
            _quarantine(con, landing, relpath, quarantine_dir, f"unreadable readings batch: {exc}", report)
            continue
        chunk.append((relpath, table))
        rows += table.num_rows
        if rows >= chunk_rows:
            _load_chunk(con, chunk, landing, report)
            chunk, rows = [], 0
    if chunk:
        _load_chunk(con, chunk, landing, report)


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
            ledger = []
            for bid, (relpath, _) in zip(ids, chunk, strict=True):
                rows_in, inserted, conflict = counts.get(bid, (0, 0, 0))
                load = BatchLoad(relpath, rows_in, inserted, rows_in - inserted - conflict, conflict)
                ledger.append((bid, READINGS, landing.source_kind_of(relpath), relpath, load.rows_in,
                               load.rows_inserted, load.rows_duplicate, load.rows_conflict, now))  # fmt: skip
                report.loaded.append(load)
            insert_rows(con, "INSERT INTO load_ledger", ledger, 9)
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
            table = _read_batch(landing, relpath, DEAD_LETTER_SCHEMA)
        except (OSError, pa.ArrowException, ValueError) as exc:
            _quarantine(con, landing, relpath, quarantine_dir, f"unreadable dead-letter batch: {exc}", report)
            continue
        bid = batch_id_from_path(relpath)
        con.register("dl_arrow", table)
        try:
            with transaction(con):
                con.execute(
                    """INSERT INTO dead_letters (dead_letter_id, source_kind, origin, reason, raw, received_at, batch_id)
                       SELECT dead_letter_id, source_kind, origin, reason, raw, received_at, ? FROM dl_arrow
                       ON CONFLICT DO NOTHING""",
                    [bid],
                )
                con.execute(
                    "INSERT INTO load_ledger VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?)",
                    [bid, DEAD_LETTERS, landing.source_kind_of(relpath), relpath, table.num_rows, now],
                )
        finally:
            con.unregister("dl_arrow")
        report.dead_letter_batches += 1
        report.dead_letters += table.num_rows


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    landing: LandingZone,
    relpath: str,
    quarantine_dir: Path,
    reason: str,
    report: LoadReport,
) -> None:
    """Move a bad batch out of the landing zone, with its reason beside it, and record it."""
    target = quarantine_dir / "landing" / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    with landing.fs.open_input_stream(landing.full_path(relpath)) as src:
        target.write_bytes(src.read())
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    con.execute(
        "INSERT INTO quarantined_batches VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [relpath, str(target), reason, datetime.now(UTC)],
    )
    landing.remove(relpath)
    report.quarantined.append((relpath, reason))
