"""`envmon deadletters retry`: land again the HJ 212 dead letters that now pass.

Every waiting HJ 212 dead letter (table `dead_letters`, status 'waiting') is run again through
the server's checks (ingest/hj212/onboarding.process_records) against the registry as it is
now (for instance after `envmon registry enrol`). One that now passes — accepted and filed as
readings, a logger event or an event-log entry, with no dead letter left for the reason it had
— is landed again (its original origin and received_at kept) and marked 'replayed' with a note
naming the batch, so a second retry does not land it twice; the others stay 'waiting', and
nothing new is dead-lettered for them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.hj212.auth import MASK_NOTE
from ingest.hj212.onboarding import (
    UNKNOWN_MN_PREFIX,
    LandReport,
    process_records,
    tried_password_hash,
    unmask_frame,
    write_processed,
)
from ingest.landing import BatchRef, LandingZone
from warehouse.db import transaction
from warehouse.registry.config import Registry


@dataclass
class RetryReport:
    waiting: int = 0  # HJ 212 dead letters waiting before the retry
    replayed: int = 0  # landed again and marked replayed
    still_dead: int = 0  # kept waiting
    landed: LandReport = field(default_factory=LandReport)
    batches: list[BatchRef] = field(default_factory=list)


def retry_dead_letters(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    landing: LandingZone,
    state_dir: Path,
    tz: tzinfo,
    password_key: bytes | None = None,
) -> RetryReport:
    report = RetryReport()
    rows = con.execute(
        """SELECT dead_letter_id, origin, reason, raw, received_at FROM dead_letters
           WHERE status = 'waiting' AND source_kind = 'hj212' AND raw IS NOT NULL
           ORDER BY received_at, dead_letter_id"""
    ).fetchall()
    report.waiting = len(rows)
    if not rows:
        return report
    records, tried = [], {}
    for i, r in enumerate(rows):
        raw = bytes(r[3])
        if r[2].startswith(UNKNOWN_MN_PREFIX) and MASK_NOTE in r[2]:
            raw = unmask_frame(raw)  # it parsed on arrival; the masking broke its CRC
            if (h := tried_password_hash(r[2])) is not None:
                tried[i] = h  # the password tried, as a keyed hash: checked instead of PW
        records.append(raw)
    received = [r[4] for r in rows]
    first = process_records(records, registry, lambda i, mn: rows[i][1], received, tz,
                            password_key=password_key, tried_passwords=tried)  # fmt: skip
    residual: dict[int, set[str]] = defaultdict(set)
    for d in first.dead:
        residual[d["record"]].add(d["reason"])
    passing = [
        i for i, s in enumerate(first.status) if s != "dead" and rows[i][2] not in residual[i]
    ]
    report.still_dead = len(rows) - len(passing)
    if not passing:
        return report
    # the passing ones alone, so that nothing of the others is landed again
    again = first.subset(set(passing))
    report.landed.add(again)
    report.batches = write_processed(again, landing, state_dir)
    note = f"retried {datetime.now(UTC).isoformat()}: landed again in " + ", ".join(
        b.batch_id for b in report.batches
    )
    ids = pa.table({"dead_letter_id": [rows[i][0] for i in passing]})
    con.register("retried_ids", ids)
    try:
        with transaction(con):
            con.execute(
                """UPDATE dead_letters SET status = 'replayed', resolved_note = ?
                   WHERE dead_letter_id IN (SELECT dead_letter_id FROM retried_ids)""",
                [note],
            )
    finally:
        con.unregister("retried_ids")
    report.replayed = len(passing)
    return report
