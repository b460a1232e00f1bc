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

from core.landing import BatchRef, LandingZone
from core.registry.config import Registry
from ingest.hj212.onboarding import (
    UNKNOWN_MN_PREFIX,
    LandReport,
    process_records,
    tried_password_hash,
    unmask_frame,
    write_processed,
)
from warehouse.db import transaction


@dataclass
class RetryReport:
    waiting: int = 0  # HJ 212 dead letters waiting before the retry
    replayed: int = 0  # landed again and marked replayed
    still_dead: int = 0  # kept waiting
    landed: LandReport = field(default_factory=LandReport)
    batches: list[BatchRef] = field(default_factory=list)


# the note of a masked dead letter (auth.MASK_NOTE; letters written before the CRC was masked
# too carry the older note, which begins alike)
_MASKED = "[raw bytes: password values replaced by ******"
# reasons of dead letters that parsed (CRC right) on arrival: their masked bytes are framed again
_PARSED_ON_ARRIVAL = (UNKNOWN_MN_PREFIX, "wrong password for MN", "login refused unchecked",
                      "time: ", "contract: ", "unknown pollutant code", "split: ")  # fmt: skip
# ... of which these had passed the login (MN and password checked) before they were refused
_LOGGED_IN = ("time: ", "contract: ", "unknown pollutant code", "split: ")
PAGE_ROWS = 5000  # dead letters read and retried at a time (bounded memory after a flood)


def retry_dead_letters(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    landing: LandingZone,
    state_dir: Path,
    tz: tzinfo,
    password_key: bytes | None = None,
    page_rows: int | None = None,
) -> RetryReport:
    """Retry the waiting HJ 212 dead letters, `page_rows` at a time (oldest first).

    Every masked letter that parsed on arrival is framed again (`unmask_frame`: the masked PW
    and CRC; a letter refused for its frame — CRC, length, header — is not, so it still fails).
    Its masked password never matches a registry password; instead an unknown-MN letter's
    password is checked by the keyed hash its reason noted, and a letter refused after its
    login (time window, contract, unknown code, split) counts as logged in."""
    report = RetryReport()
    page_rows = page_rows or PAGE_ROWS
    after: tuple | None = None  # (received_at, dead_letter_id) of the last row read
    query = """SELECT dead_letter_id, origin, reason, raw, received_at FROM dead_letters
               WHERE status = 'waiting' AND source_kind = 'hj212' AND raw IS NOT NULL {}
               ORDER BY received_at, dead_letter_id LIMIT ?"""
    while True:
        if after is None:
            rows = con.execute(query.format(""), [page_rows]).fetchall()
        else:
            rows = con.execute(
                query.format("AND (received_at > ? OR (received_at = ? AND dead_letter_id > ?))"),
                [after[0], after[0], after[1], page_rows],
            ).fetchall()
        if not rows:
            break
        after = (rows[-1][4], rows[-1][0])
        _retry_page(rows, report, registry, landing, state_dir, tz, password_key, con)
        if len(rows) < page_rows:
            break
    return report


def _retry_page(rows, report, registry, landing, state_dir, tz, password_key, con) -> None:  # type: ignore[no-untyped-def]
    report.waiting += len(rows)
    records, tried, logged_in = [], {}, set()
    for i, r in enumerate(rows):
        raw, reason = bytes(r[3]), r[2]
        if _MASKED in reason and reason.startswith(_PARSED_ON_ARRIVAL):
            raw = unmask_frame(raw)  # it parsed on arrival; the masking broke its CRC
            if reason.startswith(UNKNOWN_MN_PREFIX):
                if (h := tried_password_hash(reason)) is not None:
                    tried[i] = h  # the password tried, as a keyed hash: checked instead of PW
            elif reason.startswith(_LOGGED_IN):
                logged_in.add(i)
        records.append(raw)
    received = [r[4] for r in rows]
    first = process_records(records, registry, lambda i, mn: rows[i][1], received, tz,
                            password_key=password_key, tried_passwords=tried,
                            authenticated=logged_in)  # fmt: skip
    residual: dict[int, set[str]] = defaultdict(set)
    for d in first.dead:
        residual[d["record"]].add(d["reason"])
    passing = [
        i for i, s in enumerate(first.status) if s != "dead" and rows[i][2] not in residual[i]
    ]
    report.still_dead += len(rows) - len(passing)
    if not passing:
        return
    # the passing ones alone, so that nothing of the others is landed again
    again = first.subset(set(passing))
    report.landed.add(again)
    batches = write_processed(again, landing, state_dir)
    report.batches += batches
    note = f"retried {datetime.now(UTC).isoformat()}: landed again in " + ", ".join(
        b.batch_id for b in batches
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
    report.replayed += len(passing)
