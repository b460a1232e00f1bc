"""Staff actions on alerts: acknowledge, silence, declare maintenance, revoke; and the case
export (XLSX / CSV). Each action is recorded with who and when."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from alerts.queries import as_text, list_cases
from core.errors import EnvmonError
from core.spreadsheet import safe_cell


class AlertActionError(EnvmonError):
    """A staff action on alerts that cannot be done."""


def acknowledge(con: duckdb.DuckDBPyConnection, alert_id: str, *, by: str, at: datetime) -> None:
    row = con.execute(
        "SELECT state, acknowledged_by FROM alerts WHERE alert_id = ?", [alert_id]
    ).fetchall()
    if not row:
        raise AlertActionError(f"no alert {alert_id!r} (see `envmon alerts list`)")
    if row[0][1]:
        raise AlertActionError(f"alert {alert_id} was already acknowledged by {row[0][1]}")
    con.execute(
        "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE alert_id = ?",
        [by, at, alert_id],
    )


def add_silence(
    con: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    site_id: str | None,
    rule_id: str | None,
    parameter: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    by: str,
    at: datetime,
    known_rules: set[str] | None = None,
) -> str:
    """A silence (alerts recorded, not notified, no case) or a maintenance window (periods inside
    are not evaluated); both need a reason and expire at ends_at."""
    if kind not in ("silence", "maintenance"):
        raise AlertActionError(f"kind must be silence or maintenance, got {kind!r}")
    if not reason.strip():
        raise AlertActionError("a silence or maintenance window needs a reason (--reason)")
    if ends_at <= starts_at:
        raise AlertActionError(
            f"expiry {ends_at:%Y-%m-%d %H:%M} must be after the start {starts_at:%Y-%m-%d %H:%M}"
        )
    if kind == "maintenance" and site_id is None:
        raise AlertActionError("a maintenance window is declared for one site (--site)")
    if site_id is None and rule_id is None:
        raise AlertActionError(
            "silence a site (--site), a rule (--rule) or both; silencing everything is not allowed"
        )
    if (
        site_id is not None
        and not con.execute("SELECT 1 FROM sites WHERE site_id = ?", [site_id]).fetchall()
    ):
        raise AlertActionError(f"unknown site {site_id!r}")
    if rule_id is not None and known_rules is not None and rule_id not in known_rules:
        raise AlertActionError(f"unknown rule {rule_id!r}; rules: {', '.join(sorted(known_rules))}")
    key = f"{kind}|{site_id}|{rule_id}|{parameter}|{starts_at.isoformat()}|{ends_at.isoformat()}|{by}|{at.isoformat()}"
    silence_id = ("S" if kind == "silence" else "M") + hashlib.sha256(key.encode()).hexdigest()[:10]
    con.execute(
        "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
        [silence_id, kind, site_id, rule_id, parameter, starts_at, ends_at, reason, by, at],
    )
    return silence_id


def revoke_silence(
    con: duckdb.DuckDBPyConnection, silence_id: str, *, by: str, at: datetime
) -> None:
    row = con.execute(
        "SELECT revoked_at FROM silences WHERE silence_id = ?", [silence_id]
    ).fetchall()
    if not row:
        raise AlertActionError(f"no silence or maintenance window {silence_id!r}")
    if row[0][0] is not None:
        raise AlertActionError(f"{silence_id} was already revoked")
    con.execute(
        "UPDATE silences SET revoked_by = ?, revoked_at = ? WHERE silence_id = ?",
        [by, at, silence_id],
    )


EXPORT_COLUMNS = (
    "case_id",
    "state",
    "site_id",
    "site_name_zh",
    "site_name_en",
    "rule_family",
    "parameter",
    "severity",
    "grid_id",
    "grid_name_zh",
    "officer_id",
    "officer_name_zh",
    "routed_by",
    "opened_at",
    "deadline",
    "rectification_ordered_at",
    "closed_at",
    "dismissed_reason",
    "escalated_to",
    "escalated_at",
    "alerts",
    "periods_exceeded",
    "hours_exceeded",
    "max_multiple",
    "continuing_days",
    "title",
)


def export_cases(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    state: str | None = None,
    grid_id: str | None = None,
) -> int:
    """Write the case list to .xlsx (with an events sheet) or .csv (UTF-8 with BOM for Excel)."""
    rows = list_cases(con, state=state, grid_id=grid_id)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS)
            for r in rows:
                writer.writerow([safe_cell(as_text(r[c])) for c in EXPORT_COLUMNS])
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "cases"
        ws.append(list(EXPORT_COLUMNS))
        for r in rows:
            ws.append([_cell(r[c]) for c in EXPORT_COLUMNS])
        ev = wb.create_sheet("events")
        ev.append(
            ["case_id", "seq", "event_at", "actor", "action", "from_state", "to_state", "note"]
        )
        ids = [r["case_id"] for r in rows]
        if ids:
            for e in con.execute(
                "SELECT case_id, seq, event_at, actor, action, from_state, to_state, note FROM case_events "
                "WHERE case_id IN (SELECT unnest(?)) ORDER BY case_id, seq",
                [ids],
            ).fetchall():
                ev.append([_cell(v) for v in e])
        wb.save(path)
    else:
        raise AlertActionError(f"{path}: export to .xlsx or .csv, not {suffix or 'no suffix'!r}")
    return len(rows)


def _cell(value: Any) -> Any:
    if isinstance(
        value, datetime
    ):  # Excel has no time zones: write UTC wall time, labelled in the header
        return (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else value.astimezone(UTC).replace(tzinfo=None)
        )
    return safe_cell(value)  # text a spreadsheet would run as a formula gets a leading '
