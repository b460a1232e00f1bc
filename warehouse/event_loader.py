"""Load the landing zone's logger-event batches (HJ 212 CN 2021 run status, CN 2072 alarms)
into `logger_events` (migration 0086); called by `warehouse.loader.load_landing`.

Idempotent like the readings: a batch in `load_ledger` is never loaded again; an event whose
natural key (site_id, cn, event_time, kind, code) is already held is a duplicate and collapses
(the first one kept). A batch that cannot be read or does not fit LOGGER_EVENTS_SCHEMA is
quarantined with its reason (as the loader does for readings) and the others still load.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from core.landing import LOGGER_EVENTS, LandingZone, batch_id_from_path, conform
from core.schema import LOGGER_EVENTS_SCHEMA
from warehouse.db import transaction

_COLUMNS = ", ".join(LOGGER_EVENTS_SCHEMA.names)
_KEY = ("site_id", "cn", "event_time", "kind", "code")


def load_logger_events(
    con: duckdb.DuckDBPyConnection, landing: LandingZone, quarantine_dir: Path, report: Any
) -> tuple[int, int]:
    """Load every logger-event batch not loaded yet; returns (events in, events inserted)."""
    from warehouse.loader import fail_batch, quarantine_batch  # the loader's, shared

    ledger = {r[0] for r in con.execute("SELECT batch_id FROM load_ledger").fetchall()}
    quarantined = {r[0] for r in con.execute("SELECT relpath FROM quarantined_batches").fetchall()}
    total_in = total_ins = 0
    for relpath in landing.list_batches(LOGGER_EVENTS):
        bid = batch_id_from_path(relpath)
        if bid in ledger or relpath in quarantined:
            continue
        try:
            table = conform(landing.read(relpath), LOGGER_EVENTS_SCHEMA)
            for name in ("site_id", "cn", "event_time", "kind", "received_at"):
                if table.column(name).null_count:
                    raise ValueError(f"{table.column(name).null_count} row(s) with no {name}")
        except (OSError, pa.ArrowException, ValueError) as exc:
            quarantine_batch(
                con,
                landing,
                relpath,
                quarantine_dir,
                f"unreadable logger-event batch: {exc}",
                report,
            )
            continue
        try:
            inserted = _insert(con, table, bid, landing.source_kind_of(relpath), relpath)
        except duckdb.Error as exc:  # rolled back: quarantined with a reason, the others load
            fail_batch(con, landing, relpath, quarantine_dir, "logger-event", exc, report)
            continue
        total_in += table.num_rows
        total_ins += inserted
    return total_in, total_ins


def _insert(
    con: duckdb.DuckDBPyConnection, table: pa.Table, batch_id: str, source_kind: str, relpath: str
) -> int:
    """The batch's new events and its ledger row, in one transaction."""
    key = ", ".join(_KEY)
    same = " AND ".join(f"e.{c} IS NOT DISTINCT FROM i.{c}" for c in _KEY)
    con.register("ev_arrow", table)
    try:
        with transaction(con):
            before = _count(con)
            con.execute(
                f"""INSERT INTO logger_events ({_COLUMNS}, batch_id)
                    SELECT {_COLUMNS}, ? FROM (
                        SELECT DISTINCT ON ({key}) * FROM ev_arrow ORDER BY {key}, received_at
                    ) i
                    WHERE NOT EXISTS (SELECT 1 FROM logger_events e WHERE {same})""",
                [batch_id],
            )
            inserted = _count(con) - before
            con.execute(
                "INSERT INTO load_ledger VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                [batch_id, LOGGER_EVENTS, source_kind, relpath, table.num_rows,
                 inserted, table.num_rows - inserted, datetime.now(UTC)],
            )  # fmt: skip
            return inserted
    finally:
        con.unregister("ev_arrow")


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM logger_events").fetchone()
    return int(row[0]) if row else 0
