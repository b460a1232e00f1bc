"""Data status of a site's local day: provisional until audited.

A day becomes audited when staff review it (`audit_day`), or automatically (`auto_audit`) once
the configured grace period has passed with no open question: no reading of the day still
suspect without a review over it, and none not yet QC-evaluated. Absence of a row in
`day_status` means provisional.

A flag, unflag or revert over readings of an audited day re-opens it (`reopen_days`: status
'reopened', provisional again, and left to a person to audit again: auto-audit passes it by).
Every audit and re-opening is appended to `day_status_events`, so a second audit keeps the
first one's note (`day_history`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from core import periods
from core.settings import Settings, get_settings
from transforms.qc.review import require, site_timezone
from transforms.qc.run import qc_config_for
from warehouse.db import connect

PROVISIONAL = "provisional"
AUDITED = "audited"
REOPENED = "reopened"  # audited, then a review changed its readings: to be audited again
AUTO = "auto"


def data_status_for(con: duckdb.DuckDBPyConnection, site_id: str, day: date) -> str:
    """'audited' or 'provisional' for a site's local date."""
    row = con.execute("SELECT status FROM day_status WHERE site_id = ? AND local_date = ?", [site_id, day]).fetchall()
    return AUDITED if row and row[0][0] == AUDITED else PROVISIONAL


def audit_day(con: duckdb.DuckDBPyConnection, site_id: str, day: date, by: str, note: str | None = None,
              *, at: datetime | None = None) -> None:
    """Staff mark a site's day as reviewed (audited); refused for a day that has not ended at
    `at` (default now). An earlier audit's note is kept in the day's history."""
    tz = site_timezone(con, site_id)
    at = periods.utc(at or datetime.now(UTC), "at")
    lo, hi = periods.local_day_range(day, tz)
    periods.require_ended(lo, hi, at, f"the day {day.isoformat()} of {site_id}", tz,
                          "a day is audited once it has ended")
    _set_status(con, site_id, day, AUDITED, require(by, "a reviewer (--by)"), at, note)


def _set_status(con: duckdb.DuckDBPyConnection, site_id: str, day: date, status: str, by: str, at: datetime,
                note: str | None, review_id: str | None = None) -> None:
    con.execute(
        """INSERT INTO day_status VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (site_id, local_date) DO UPDATE SET status = excluded.status, status_by = excluded.status_by,
               status_at = excluded.status_at, note = excluded.note""",
        [site_id, day, status, by, at, note],
    )
    con.execute("INSERT INTO day_status_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [site_id, day, status, by, at, note, review_id])


def reopen_days(con: duckdb.DuckDBPyConnection, site_id: str, period_from: datetime, period_to: datetime,
                by: str, at: datetime, review_id: str) -> list[date]:
    """Re-open the audited local days of a site that [period_from, period_to) touches: a review
    changed their readings, so they are provisional until audited again. Returns those days."""
    tz = site_timezone(con, site_id)
    days = periods.local_days(period_from, period_to, tz)
    audited = [d for (d,) in con.execute(
        "SELECT local_date FROM day_status WHERE site_id = ? AND status = 'audited' AND local_date IN (SELECT unnest(?))"
        " ORDER BY 1", [site_id, days]).fetchall()]
    for d in audited:
        _set_status(con, site_id, d, REOPENED, by, at, f"re-opened by review {review_id}", review_id)
    return audited


@dataclass(frozen=True)
class DayStatusEvent:
    status: str  # audited | reopened
    status_by: str  # a person's id, or 'auto'
    status_at: datetime
    note: str | None
    review_id: str | None


def day_history(con: duckdb.DuckDBPyConnection, site_id: str, day: date) -> list[DayStatusEvent]:
    """Every audit and re-opening of a site's day, oldest first."""
    rows = con.execute(
        """SELECT status, status_by, status_at, note, review_id FROM day_status_events
           WHERE site_id = ? AND local_date = ? ORDER BY status_at, rowid""", [site_id, day]).fetchall()
    return [DayStatusEvent(r[0], r[1], periods.from_stored(r[2]), r[3], r[4]) for r in rows]


@dataclass(frozen=True)
class AutoAuditReport:
    audited: list[tuple[str, date]]
    held: list[tuple[str, date, int]]  # (site, day, open questions)


def auto_audit_on(con: duckdb.DuckDBPyConnection, as_of: date, grace_days: int) -> AutoAuditReport:
    """Audit every provisional site-day older than the grace period with no open question."""
    cutoff = as_of - timedelta(days=grace_days)
    rows = con.execute(
        """WITH days AS (
               SELECT v.site_id, CAST(timezone(s.timezone, v.period_start) AS DATE) AS local_date,
                      count(*) FILTER (WHERE v.effective_flag IS NULL
                                          OR (v.effective_flag = 1 AND v.review_id IS NULL)) AS open_questions
               FROM v_readings_qc v JOIN sites s USING (site_id)
               WHERE v.period_start < CAST($cutoff AS TIMESTAMP) + INTERVAL 2 DAY
               GROUP BY ALL)
           SELECT d.site_id, d.local_date, d.open_questions FROM days d
           WHERE d.local_date <= $cutoff
             AND NOT EXISTS (SELECT 1 FROM day_status t WHERE t.site_id = d.site_id AND t.local_date = d.local_date)
           ORDER BY 1, 2""",
        {"cutoff": cutoff},
    ).fetchall()
    now = datetime.now(UTC)
    audited = [(s, d) for s, d, n in rows if n == 0]
    if audited:
        new = [(s, d, AUDITED, AUTO, now, f"no open question {grace_days} days after the day") for s, d in audited]
        con.executemany("INSERT INTO day_status VALUES (?, ?, ?, ?, ?, ?)", new)
        con.executemany("INSERT INTO day_status_events VALUES (?, ?, ?, ?, ?, ?, NULL)", new)
    return AutoAuditReport(audited, [(s, d, int(n)) for s, d, n in rows if n])


def auto_audit(settings: Settings | None, as_of: date) -> AutoAuditReport:
    settings = settings or get_settings()
    with connect(settings, purpose="envmon review auto-audit") as con:
        grace = qc_config_for(con, settings).file.auto_audit_grace_days
        return auto_audit_on(con, as_of, grace)
