"""Staff actions on alerts: acknowledge, silence, declare maintenance, revoke; and the case
export (XLSX / CSV). Each action is recorded with who and when."""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from alerts.queries import as_text, list_cases
from core.errors import EnvmonError
from core.spreadsheet import safe_cell


class AlertActionError(EnvmonError):
    """A staff action on alerts that cannot be done."""


def _person(con: duckdb.DuckDBPyConnection, person_id: str) -> str:
    """A recorded actor as people know them ("李艳 Li Yan (city_responsible)"; the id alone when
    the registry no longer has it)."""
    found = con.execute(
        "SELECT name_zh || ' ' || name_en FROM v_people WHERE person_id = ? LIMIT 1", [person_id]
    ).fetchall()
    return f"{found[0][0]} ({person_id})" if found else person_id


def acknowledge(con: duckdb.DuckDBPyConnection, alert_id: str, *, by: str, at: datetime) -> None:
    """Acknowledge the alert as the person `by` (a person id of the registry) at `at`."""
    row = con.execute(
        "SELECT state, acknowledged_by, acknowledged_at FROM alerts WHERE alert_id = ?", [alert_id]
    ).fetchall()
    if not row:
        raise AlertActionError(f"no alert {alert_id!r} (see `envmon alerts list`)")
    if row[0][1]:
        raise AlertActionError(f"alert {alert_id} was already acknowledged by {_person(con, row[0][1])} "
                               f"at {_local(row[0][2])}")
    con.execute(
        "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE alert_id = ?",
        [by, at, alert_id],
    )


def _local(ts: datetime | None) -> str:
    """An instant in a message: local time to the minute with its offset."""
    from core.periods import local_minute
    from core.settings import get_settings

    return local_minute(ts, get_settings().tz)


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
        raise AlertActionError(f"expiry {_local(ends_at)} must be after the start {_local(starts_at)}")
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
    """Revoke the silence or maintenance window as the person `by` (a person id) at `at`."""
    row = con.execute(
        "SELECT revoked_at, revoked_by FROM silences WHERE silence_id = ?", [silence_id]
    ).fetchall()
    if not row:
        raise AlertActionError(f"no silence or maintenance window {silence_id!r}")
    if row[0][0] is not None:
        raise AlertActionError(f"{silence_id} was already revoked by {_person(con, row[0][1])} at {_local(row[0][0])}")
    con.execute(
        "UPDATE silences SET revoked_by = ?, revoked_at = ? WHERE silence_id = ?",
        [by, at, silence_id],
    )


# The export's columns: (key in list_cases, Chinese header). Headers are bilingual, Chinese
# first and the column's key beside ("案件编号 case_id"), as the published files; time columns
# name the zone their local wall time is in.
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "案件编号"),
    ("state_label", "状态"),
    ("enterprise_name_zh", "企业名称"),
    ("enterprise_name_en", "企业名称(英文)"),
    ("credit_code", "统一社会信用代码"),
    ("enterprise_address", "注册地址"),
    ("site_id", "点位编号"),
    ("site_name_zh", "排放口/点位"),
    ("site_name_en", "排放口/点位(英文)"),
    ("rule_family", "规则类别"),
    ("parameter", "监测项目"),
    ("severity", "级别"),
    ("grid_id", "网格编号"),
    ("grid_name_zh", "网格"),
    ("grid_name_en", "网格(英文)"),
    ("officer_id", "网格员编号"),
    ("officer_name_zh", "网格员"),
    ("officer_name_en", "网格员(英文)"),
    ("officer_phone", "网格员电话"),
    ("routed_by", "派发依据"),
    ("opened_at", "立案时间"),
    ("deadline", "整改期限"),
    ("rectification_ordered_at", "责令整改时间"),
    ("closed_at", "结案时间"),
    ("dismissed_reason", "撤销理由"),
    ("escalated_to", "升级至编号"),
    ("escalated_to_name_zh", "升级至"),
    ("escalated_to_name_en", "升级至(英文)"),
    ("escalated_at", "升级时间"),
    ("reopened", "重新打开次数"),
    ("alerts", "告警数"),
    ("periods_exceeded", "超标时段数"),
    ("hours_exceeded", "超标小时数"),
    ("max_multiple", "最大倍数"),
    ("continuing_days", "整改后持续超标天数"),
    ("title", "标题"),
)
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "案件编号"),
    ("seq", "序号"),
    ("event_at", "时间"),
    ("actor_label", "经办人"),
    ("actor", "经办人编号"),
    ("action", "动作"),
    ("from_label", "原状态"),
    ("to_label", "新状态"),
    ("note", "说明"),
)
TIME_COLUMNS = {"opened_at", "deadline", "rectification_ordered_at", "closed_at", "escalated_at", "event_at"}


def _zone_text(tz: Any) -> str:
    """"Asia/Shanghai, UTC+08:00": the zone a time column is in."""
    from core.periods import zone

    offset = datetime.now(zone(tz)).strftime("%z")
    return f"{tz}, UTC{offset[:3]}:{offset[3:]}"


def _headers(columns: tuple[tuple[str, str], ...], tz: Any) -> list[str]:
    return [f"{zh} {key}" + (f" ({_zone_text(tz)})" if key in TIME_COLUMNS else "")
            for key, zh in columns]


def export_cases(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    state: str | None = None,
    grid_id: str | None = None,
    tz: Any = None,
) -> int:
    """Write the case list to .xlsx (with an events sheet) or .csv (UTF-8 with BOM for Excel).
    Headers bilingual; times as local wall time in `tz` (the settings' zone by default), the
    zone named in the header; in CSV with the offset too ("2026-12-05 00:00+08:00"). The
    enterprise (registered name, credit code, address), outlet, grid and officer (name and
    phone) are named; states carry their Chinese label; event actors are named."""
    from alerts.cases import actor_label, state_label

    if tz is None:
        from core.settings import get_settings

        tz = get_settings().tz
    rows = list_cases(con, state=state, grid_id=grid_id)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(_headers(EXPORT_COLUMNS, tz))
            for r in rows:
                writer.writerow([safe_cell(_text(r[c], tz)) for c, _ in EXPORT_COLUMNS])
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "cases"
        ws.append(_headers(EXPORT_COLUMNS, tz))
        for r in rows:
            ws.append([_cell(r[c], tz) for c, _ in EXPORT_COLUMNS])
        ev = wb.create_sheet("events")
        ev.append(_headers(EVENT_COLUMNS, tz))
        ids = [r["case_id"] for r in rows]
        if ids:
            cur = con.execute(
                "SELECT e.case_id, e.seq, e.event_at, e.actor, p.name_zh, p.name_en, e.action, e.from_state, "
                "e.to_state, e.note FROM case_events e LEFT JOIN v_people p ON p.person_id = e.actor "
                "WHERE e.case_id IN (SELECT unnest(?)) ORDER BY e.case_id, e.seq",
                [ids],
            )
            for case_id, seq, at, who, zh, en, action, from_state, to_state, note in cur.fetchall():
                e = {"case_id": case_id, "seq": seq, "event_at": at, "actor_label": actor_label(who, zh, en),
                     "actor": who, "action": action, "from_label": state_label(from_state),
                     "to_label": state_label(to_state), "note": note}
                ev.append([_cell(e[c], tz) for c, _ in EVENT_COLUMNS])
        wb.save(path)
    else:
        raise AlertActionError(f"{path}: export to .xlsx or .csv, not {suffix or 'no suffix'!r}")
    return len(rows)


def _text(value: Any, tz: Any) -> str:
    """A CSV cell: a time as local text with its offset."""
    from core.periods import local_minute

    if isinstance(value, datetime):
        return local_minute(value, tz)
    return as_text(value)


def _cell(value: Any, tz: Any = None) -> Any:
    """An XLSX cell: Excel has no time zones, so a time is written as local wall time in `tz`
    (named in the header); text a spreadsheet would run as a formula gets a leading '."""
    if isinstance(value, datetime):
        from core.periods import from_stored, zone

        if tz is None:
            from core.settings import get_settings

            tz = get_settings().tz
        return from_stored(value).astimezone(zone(tz)).replace(tzinfo=None)
    return safe_cell(value)
