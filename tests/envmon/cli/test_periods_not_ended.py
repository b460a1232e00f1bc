"""Dates that have not happened are refused up front with one line naming the period or time in
local time (core.periods.require_ended / has_ended): `envmon run` and `envmon dags run` for an
interval that has not ended run no task, `alerts escalate --at` a later time than now writes no
event, and `simulate loggers --start` in the future sends nothing (issue #20)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from _alerts_helpers import add_aggregates, local, rows
from _cli_run import envmon, main_exit

from envmon.cli import alerts as alerts_cli
from envmon.cli import pipeline as pipeline_cli
from envmon.cli import simulate as simulate_cli

SH = ZoneInfo("Asia/Shanghai")


def _at(local_text: str) -> datetime:
    return datetime.fromisoformat(local_text).replace(tzinfo=SH).astimezone(UTC)


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The task ids `envmon run` called (none runs for real) and the DAG runs `dags run` started."""
    import envmon.airflow_runner as runner
    import envmon.pipeline as pipeline

    called: list[str] = []
    monkeypatch.setattr(pipeline, "call", lambda task, *a, **k: called.append(task.task_id) or {})
    monkeypatch.setattr(runner, "run_dags", lambda runs, *a, **k: called.extend(d for d, _ in runs) or [])
    return called


def _clock(monkeypatch: pytest.MonkeyPatch, module: object, local_text: str) -> None:
    monkeypatch.setattr(module, "_clock", lambda: _at(local_text), raising=False)


def test_run_daily_of_a_day_under_way_runs_no_task(wh, ran, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, pipeline_cli, "2030-03-01T23:59:59")
    code, out, err = main_exit(monkeypatch, capsys, "run", "daily", "--date", "2030-03-01")
    assert (code, out, ran) == (2, "", [])
    assert err == ("envmon: error: the day 2030-03-01 (2030-03-01T00:00:00+08:00 to 2030-03-02T00:00:00+08:00) "
                   "has not ended: it ends at 2030-03-02T00:00:00+08:00 local time, and it is now "
                   "2030-03-01T23:59:59+08:00; run it once it has ended\n")


def test_run_daily_of_a_day_that_has_just_ended_runs_every_task(wh, ran, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, pipeline_cli, "2030-03-02T00:00:00")
    code, _out, err = main_exit(monkeypatch, capsys, "run", "daily", "--date", "2030-03-01")
    assert (code, err) == (0, "")
    assert ran == ["load", "qc", "aggregate_hours", "aggregate_day", "availability", "alerts", "publish"]


def test_run_daily_over_days_refuses_when_the_last_has_not_ended(wh, ran, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, pipeline_cli, "2030-03-02T12:00:00")
    code, _out, err = main_exit(monkeypatch, capsys, "run", "daily", "--date", "2030-03-01", "--to", "2030-03-02")
    assert (code, ran) == (2, [])  # not even the day that has ended: the whole run is refused
    assert err.startswith("envmon: error: the day 2030-03-02 (2030-03-02T00:00:00+08:00 to ")


def test_run_monthly_mid_month_runs_no_task(wh, ran, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, pipeline_cli, "2030-03-15T08:00:00")
    code, _out, err = main_exit(monkeypatch, capsys, "run", "monthly", "--month", "2030-03")
    assert (code, ran) == (2, [])
    assert err.startswith("envmon: error: the month 2030-03 (2030-03-01T00:00:00+08:00 to "
                          "2030-04-01T00:00:00+08:00) has not ended: it ends at 2030-04-01T00:00:00+08:00")
    _clock(monkeypatch, pipeline_cli, "2030-04-01T00:00:00")
    code, _out, err = main_exit(monkeypatch, capsys, "run", "monthly", "--month", "2030-03")
    assert (code, err, ran) == (0, "", ["aggregate_month", "transmission_efficiency", "alerts", "publish"])


def test_run_hourly_of_the_hour_under_way_runs_no_task(wh, ran, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, pipeline_cli, "2030-03-01T08:59:59")
    code, _out, err = main_exit(monkeypatch, capsys, "run", "hourly", "--hour", "2030-03-01T08")
    assert (code, ran) == (2, [])
    assert err.startswith("envmon: error: the hour 2030-03-01T08 (2030-03-01T08:00:00+08:00 to ")


def test_dags_run_of_a_day_under_way_starts_no_dag(wh, ran, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, pipeline_cli, "2030-03-01T12:00:00")
    code, _out, err = main_exit(monkeypatch, capsys, "dags", "run", "daily", "--date", "2030-03-01")
    assert (code, ran) == (2, [])
    assert err.startswith("envmon: error: the day 2030-03-01 (")
    _clock(monkeypatch, pipeline_cli, "2030-03-02T00:00:00")
    code, _out, err = main_exit(monkeypatch, capsys, "dags", "run", "daily", "--date", "2030-03-01")
    assert (code, err, ran) == (0, "", ["daily"])


OUTLET = "huaneng_gaobeidian_da001"  # so2 limit 50 mg/m3 (hour_avg_o2), as tests/envmon/cli/test_alerts.py


def test_escalate_at_a_time_later_than_now_writes_no_event(wh, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(local(2025, 3, 3, 9), 75.0)])
    envmon("alerts", "evaluate", "--from", "2025-03-03 09:00", "--to", "2025-03-03 10:00")
    events = rows(wh, "SELECT count(*) FROM case_events")
    monkeypatch.setattr(alerts_cli, "now", lambda: _at("2025-03-04T09:59:59"))
    code, out, err = main_exit(monkeypatch, capsys, "alerts", "escalate", "--at", "2025-03-04 10:00")
    assert (code, out) == (2, "")
    assert err == ("envmon: error: --at 2025-03-04T10:00:00+08:00 is later than now (2025-03-04T09:59:59+08:00): "
                   "cases are escalated as of a time that has come\n")
    assert rows(wh, "SELECT count(*) FROM case_events") == events
    monkeypatch.setattr(alerts_cli, "now", lambda: _at("2025-03-04T10:00:00"))
    code, out, err = main_exit(monkeypatch, capsys, "alerts", "escalate", "--at", "2025-03-04 10:00")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "1 case(s) escalated"


def test_simulate_loggers_from_an_hour_under_way_is_one_line(wh, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, simulate_cli, "2030-03-01T08:30:00")
    code, out, err = main_exit(monkeypatch, capsys, "simulate", "loggers", "--port", "1", "--reconnect-max-s", "0",
                               "--start", "2030-03-01T00:00:00+00:00")
    assert (code, out) == (2, "")
    assert err == ("envmon: error: the first hour of --start (2030-03-01T08:00:00+08:00 to 2030-03-01T09:00:00+08:00) "
                   "has not ended: it ends at 2030-03-01T09:00:00+08:00 local time, and it is now "
                   "2030-03-01T08:30:00+08:00; the loggers send the data of hours that have ended\n")


def test_simulate_stations_from_a_time_to_come_is_one_line(wh, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _clock(monkeypatch, simulate_cli, "2030-03-01T08:30:00")  # the start is refused before any broker is sought
    code, out, err = main_exit(monkeypatch, capsys, "simulate", "stations", "--port", "1",
                               "--start", "2030-03-01T08:30:01")
    assert (code, out) == (2, "")
    assert err == ("envmon: error: --start 2030-03-01T08:30:01+08:00 is later than now (2030-03-01T08:30:00+08:00): "
                   "the stations publish readings of times that have come; give a start before now\n")
