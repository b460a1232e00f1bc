"""`envmon simulate stations|loggers --start`: a time typed without an offset is local time (the
settings' zone), as `--help` says, and a start that has not come is refused with one line, exit 2,
before anything is sent (issue #20)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import typer
from _cli_run import main_exit

from envmon.cli import app
from envmon.cli import simulate as simulate_cli

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2030, 3, 1, 9, 30, tzinfo=SH)  # 01:30 UTC


class _Publisher:
    refused = 0

    def wait_connected(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def stations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[datetime, datetime]]:
    """`simulate stations` at NOW with no broker: the ranges the simulator was asked for."""
    import sim.publisher
    import sim.station_simulator

    asked: list[tuple[datetime, datetime]] = []

    def messages(self, start: datetime, end: datetime) -> list:  # type: ignore[no-untyped-def]
        asked.append((start, end))
        return []

    monkeypatch.setattr(simulate_cli, "_clock", lambda: NOW.astimezone(UTC))
    monkeypatch.setattr(sim.station_simulator.StationSimulator, "messages", messages)
    monkeypatch.setattr(simulate_cli, "station_publisher", lambda *a, **k: _Publisher())
    monkeypatch.setattr(sim.publisher, "publish_paced", lambda publisher, stream, **k: sim.publisher.PublishResult(
        sum(1 for _ in stream), 0.0))
    return asked


def test_stations_start_without_an_offset_is_local_time(stations, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = main_exit(monkeypatch, capsys, "simulate", "stations", "--start", "2030-03-01T09:00",
                               "--days", "1")
    assert (code, err) == (0, "")
    assert out.startswith("published 0 messages")
    # 09:00 local is 01:00 UTC (not 09:00 UTC, which has not come): up to now
    assert stations == [(datetime(2030, 3, 1, 1, tzinfo=UTC), datetime(2030, 3, 1, 1, 30, tzinfo=UTC))]
    code, _out, err = main_exit(monkeypatch, capsys, "simulate", "stations", "--start", "2030-03-01T00:00:00+00:00")
    assert (code, err) == (0, "")
    assert stations[-1][0] == datetime(2030, 3, 1, 0, tzinfo=UTC)  # an offset given is kept


def test_stations_start_later_than_now_is_one_line(stations, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = main_exit(monkeypatch, capsys, "simulate", "stations", "--start", "2030-03-01T09:31")
    assert (code, out, stations) == (2, "", [])
    assert err == ("envmon: error: --start 2030-03-01T09:31:00+08:00 is later than now (2030-03-01T09:30:00+08:00): "
                   "the stations publish readings of times that have come; give a start before now\n")
    code, _out, _err = main_exit(monkeypatch, capsys, "simulate", "stations", "--start", "2030-03-01T09:30")
    assert code == 0  # now itself has come


class _Stop(Exception):
    pass


@pytest.fixture
def loggers(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """`simulate loggers` at NOW: the first period start the simulator was given (then it stops)."""
    import sim.hj212_simulator

    begins: list[datetime] = []

    def simulator(registry, begin, stop, opts, chosen):  # type: ignore[no-untyped-def]
        begins.append(begin)
        raise _Stop

    monkeypatch.setattr(simulate_cli, "_clock", lambda: NOW.astimezone(UTC))
    monkeypatch.setattr(sim.hj212_simulator, "LoggerSimulator", simulator)
    return begins


def test_loggers_start_without_an_offset_is_local_time(loggers, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(_Stop):
        main_exit(monkeypatch, capsys, "simulate", "loggers", "--start", "2030-03-01T08:00")
    assert loggers == [datetime(2030, 3, 1, 0, tzinfo=UTC)]  # 08:00 local: its hour ended at 09:00 local


def test_loggers_start_in_the_hour_under_way_local_is_refused(loggers, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = main_exit(monkeypatch, capsys, "simulate", "loggers", "--start", "2030-03-01T09:00")
    assert (code, out, loggers) == (2, "", [])
    assert err.startswith("envmon: error: the first hour of --start (2030-03-01T09:00:00+08:00 to "
                          "2030-03-01T10:00:00+08:00) has not ended")


@pytest.mark.parametrize("command", ["stations", "loggers"])
def test_help_says_start_is_local_time(command: str) -> None:
    group = typer.main.get_command(app).commands["simulate"]  # type: ignore[attr-defined]
    start = next(p for p in group.commands[command].params if p.name == "start")
    assert "local time" in start.help and "unless an offset is given" in start.help
    assert "UTC" not in start.help
