"""The warehouse of the status tests (tests/warehouse/test_status_job.py and
tests/envmon/cli/test_status_cli.py): two outlets with minute data (one with a five-hour hole),
dongsi hourly, a stored daily-AQI reason, an invalid outlet day and a QC flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.settings import Settings
from warehouse.db import connect

AT = datetime(2026, 12, 2, 6, tzinfo=UTC)  # 14:00 in Beijing
OUTLET, FULL = "huaneng_gaobeidian_da001", "huaneng_gaobeidian_da002"
OUTLET_PARAMS = ("so2", "nox", "o2")


def _minutes(con, site: str, params: tuple[str, ...], start: datetime, end: datetime,  # type: ignore[no-untyped-def]
             hole: tuple[datetime, datetime] | None = None) -> None:
    """Minute readings of `params` over [start, end) except the hole [a, b)."""
    a, b = hole or (end, end)
    for p in params:
        con.execute(
            """INSERT INTO readings (site_id, parameter, period_start, interval_s, source_kind, value, unit,
                                     received_at, batch_id)
               SELECT $site, $p, t, 60, 'hj212', 10.0, 'mg/m3', t + INTERVAL 1 MINUTE, 'b1'
               FROM unnest(range($start, $end, INTERVAL 1 MINUTE)) AS x(t) WHERE NOT (t >= $a AND t < $b)""",
            {"site": site, "p": p, "start": start, "end": end, "a": a, "b": b},
        )


def _hours(con, site: str, params: tuple[str, ...], start: datetime, end: datetime) -> None:  # type: ignore[no-untyped-def]
    for p in params:
        con.execute(
            """INSERT INTO readings (site_id, parameter, period_start, interval_s, source_kind, value, unit,
                                     received_at, batch_id)
               SELECT $site, $p, t, 3600, 'sim', 30.0, 'ug/m3', t + INTERVAL 1 HOUR, 'b2'
               FROM unnest(range($start, $end, INTERVAL 1 HOUR)) AS x(t)""",
            {"site": site, "p": p, "start": start, "end": end},
        )


def fill(wh: Settings) -> Settings:
    """Up to 08:00 UTC (two hours after AT): outlet 1 with a five-hour hole in its minute data,
    outlet 2 whole; dongsi hourly with no daily AQI for 12-01 (stored reason); a QC flag and an
    invalid outlet day."""
    with connect(wh) as con:
        start, end = AT - timedelta(hours=30), AT + timedelta(hours=2)
        _minutes(con, OUTLET, OUTLET_PARAMS, start, end, hole=(AT - timedelta(hours=6), AT - timedelta(hours=1)))
        _minutes(con, FULL, OUTLET_PARAMS, start, end)
        _hours(con, "dongsi", ("so2", "no2", "pm10", "pm25", "co", "o3"), start, end)
        con.execute(
            """INSERT INTO aqi_daily (site_id, scope, local_date, edition, valid, invalid_reasons, computed_at)
               VALUES ('dongsi', 'station', DATE '2026-12-01', 'GB 3095-2012', false,
                       'pm25: 17 valid hours < 20 required', now())""")
        con.execute(
            """INSERT INTO aqi_daily (site_id, scope, local_date, edition, aqi, valid, computed_at)
               VALUES ('tiantan', 'station', DATE '2026-12-01', 'GB 3095-2012', 57, true, now())""")
        con.execute(
            """INSERT INTO aggregates VALUES ($site, 'so2', 'day_avg', TIMESTAMPTZ '2026-11-30 16:00:00+00', 86400,
                   NULL, 'mg/m3', false, 18, 24, 'so2: 18 valid hours < 20 required', 'HJ 75-2017', 'provisional',
                   now())""", {"site": OUTLET})
        con.execute(
            """INSERT INTO qc_flags VALUES ($site, 'so2', $t, 60, 'hj212', 'flat_line', 1, 'same value', 'h', now())""",
            {"site": OUTLET, "t": AT - timedelta(hours=10)})
    return wh
