"""Data status of a site's local day: provisional until audited.

A day becomes audited when staff review it (`audit_day`), or automatically (`auto_audit`) once
the configured grace period has passed with no open question: no reading of the day still
suspect without a review over it, and none not yet QC-evaluated. Absence of a row in
`day_status` means provisional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from core.settings import Settings, get_settings
from transforms.qc.review import ReviewError, require
from transforms.qc.run import qc_config_for
from warehouse.db import connect

PROVISIONAL = "provisional"
AUDITED = "audited"
AUTO = "auto"


def data_status_for(con: duckdb.DuckDBPyConnection, site_id: str, day: date) -> str:
    """'audited' or 'provisional' for a site's local date."""
    row = con.execute("SELECT status FROM day_status WHERE site_id = ? AND local_date = ?", [site_id, day]).fetchall()
    return AUDITED if row and row[0][0] == AUDITED else PROVISIONAL


def audit_day(con: duckdb.DuckDBPyConnection, site_id: str, day: date, by: str, note: str | None = None,
              *, at: datetime | None = None) -> None:
    """Staff mark a site's day as reviewed (audited)."""
    if not con.execute("SELECT 1 FROM sites WHERE site_id = ?", [site_id]).fetchall():
        raise ReviewError(f"unknown site {site_id!r}")
    con.execute(
        """INSERT INTO day_status VALUES (?, ?, 'audited', ?, ?, ?)
           ON CONFLICT (site_id, local_date) DO UPDATE SET status = 'audited', status_by = excluded.status_by,
               status_at = excluded.status_at, note = excluded.note""",
        [site_id, day, require(by, "a reviewer (--by)"), (at or datetime.now(UTC)), note],
    )


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
        con.executemany(
            "INSERT INTO day_status VALUES (?, ?, 'audited', ?, ?, ?)",
            [(s, d, AUTO, now, f"no open question {grace_days} days after the day") for s, d in audited],
        )
    return AutoAuditReport(audited, [(s, d, int(n)) for s, d, n in rows if n])


def auto_audit(settings: Settings | None, as_of: date) -> AutoAuditReport:
    settings = settings or get_settings()
    with connect(settings, purpose="envmon review auto-audit") as con:
        grace = qc_config_for(con, settings).file.auto_audit_grace_days
        return auto_audit_on(con, as_of, grace)
