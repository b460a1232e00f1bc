"""Fixture rows for the alerts tests: aggregates, readings and daily results inserted directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from warehouse.db import connect

SH = ZoneInfo("Asia/Shanghai")
COMPUTED = datetime(2025, 1, 1, tzinfo=UTC)


def local(*args: int) -> datetime:
    """A local (Asia/Shanghai) time as UTC."""
    return datetime(*args, tzinfo=SH).astimezone(UTC)


def hours(start: datetime, n: int) -> list[datetime]:
    return [start + timedelta(hours=k) for k in range(n)]


def add_aggregates(
    settings,
    site: str,
    parameter: str,
    statistic: str,
    values: list[tuple[datetime, float | None]],
    unit: str = "mg/m3",
    interval_s: int = 3600,
) -> None:
    with connect(settings) as con:
        for ps, v in values:
            # replace the key's row (aggregates has no key index since migration 0081)
            con.execute(
                "DELETE FROM aggregates WHERE site_id = ? AND parameter = ? AND statistic = ? AND period_start = ?",
                [site, parameter, statistic, ps],
            )
            con.execute(
                "INSERT INTO aggregates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    site,
                    parameter,
                    statistic,
                    ps,
                    interval_s,
                    v,
                    unit,
                    v is not None,
                    60 if v is not None else 10,
                    60,
                    None if v is not None else "10 valid minutes < 45",
                    None,
                    "provisional",
                    COMPUTED,
                ],
            )


def add_readings(
    settings,
    site: str,
    parameter: str,
    values: list[tuple[datetime, float | None]],
    *,
    interval_s: int = 3600,
    unit: str = "mg/m3",
    flag: str | None = "N",
    source_kind: str = "hj212",
) -> None:
    with connect(settings) as con:
        con.executemany(
            "INSERT INTO readings (site_id, parameter, period_start, interval_s, source_kind, value, unit, flag, "
            "received_at, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    site,
                    parameter,
                    ps,
                    interval_s,
                    source_kind,
                    v,
                    unit,
                    flag,
                    COMPUTED,
                    "test-batch",
                ]
                for ps, v in values
            ],
        )


def rows(settings, sql: str, params=None) -> list[tuple]:
    with connect(settings, write=False) as con:
        return con.execute(sql, params or []).fetchall()


def dump(settings) -> dict[str, list[tuple]]:
    """Every alerts/cases table, ordered, for byte-identical comparisons."""
    tables = {
        "alerts": "alert_id",
        "alert_periods": "alert_id, period_start",
        "alert_cursors": "rule_id, site_id, parameter",
        "cases": "case_id",
        "case_events": "case_id, seq",
        "notifications": "notification_id",
        "alert_evaluations": "range_start",
    }
    return {t: rows(settings, f"SELECT * FROM {t} ORDER BY {o}") for t, o in tables.items()}
