"""The logger simulator's real habits (issue #17): minute interval, period label, the logger's own
hourly/daily and O2-corrected values, running status, a logger whose hourly values disagree with
its minute data, and a shut-down. Packets are parsed back with the protocol parser and checked
against values worked out from the simulator's own minute data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.registry.config import load_registry
from core.settings import load_settings
from ingest.hj212.events import packet_to_events
from ingest.hj212.protocol import DEFAULT_TZ, format_time, try_parse
from sim.hj212_simulator import (
    Episode,
    LoggerHabits,
    LoggerSimOptions,
    SimLogger,
    registry_habits,
)

SITE = "huaneng_gaobeidian_da001"  # coal-fired stack: SO2, NOx, dust, O2, flow; reference O2 6 %
START = datetime(2026, 11, 30, 16, tzinfo=UTC)  # local midnight, 2026-12-01 00:00 +08:00


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(load_settings().config_dir)


def make(registry, interval_s=600, label="end", episodes=(), hours=24, **kw):  # type: ignore[no-untyped-def]
    opts = LoggerSimOptions(seed=3, gap_rate=0.0, exceed_rate=0.0, stuck_rate=0.0, maintenance_rate=0.0,
                            calibration_hour=None, habits={SITE: LoggerHabits(interval_s, label)},
                            episodes=tuple(episodes), **kw)  # fmt: skip
    return SimLogger(registry, SITE, START, START + timedelta(hours=hours), opts, 0)


def parsed(raw: bytes):  # type: ignore[no-untyped-def]
    res = try_parse(raw, max_future=None)
    assert res.ok, res.error
    return res.packet


def num(p, key: str) -> float:  # type: ignore[no-untyped-def]
    text = p.get(key)
    assert text is not None, f"{key} missing in {p}"
    return float(text)


def test_habits_come_from_the_registry_and_are_checked(registry) -> None:
    _, outlet = registry.outlets[SITE]
    lg = SimLogger(registry, SITE, START, START + timedelta(hours=1), LoggerSimOptions(), 0)
    # the demo stack's logger sets nothing: the HJ 212-2017 default (logger_defaults.csv: 1 min, start)
    assert outlet.logger.minute_interval_s is None and outlet.logger.hour_label is None
    assert (lg.interval_s, lg.end_label) == (60, False)
    own = outlet.logger.model_copy(update={"minute_interval_s": 300, "hour_label": "end"})
    assert registry_habits(outlet.model_copy(update={"logger": own})) == LoggerHabits(300, "end")
    # an HJ/T 212-2005 logger that sets nothing: national practice, 10 min, end-labelled
    old = outlet.logger.model_copy(update={"protocol_edition": "HJ212-2005"})
    assert registry_habits(outlet.model_copy(update={"logger": old})) == LoggerHabits(600, "end")
    with pytest.raises(ValueError, match="minute interval 420 s; valid"):
        LoggerHabits(420, "end")
    with pytest.raises(ValueError, match="hour label 'middle'; valid: start, end"):
        LoggerHabits(600, "middle")


@pytest.mark.parametrize(("interval_s", "per_hour"), [(60, 60), (300, 12), (600, 6)])
def test_minute_interval_sets_the_packets_per_hour(registry, interval_s, per_hour) -> None:
    lg = make(registry, interval_s, "start", hours=2)
    kinds = [kind for _, kind, _ in lg._schedule()]
    assert kinds.count("min") == 2 * per_hour and kinds.count("hour") == 2
    sent = sum(1 for c in lg.channels if c is not None)
    assert lg.expected_readings() == (2 * per_hour + 2) * sent


def test_ten_minute_end_labelled_minute_and_hour_packets(registry) -> None:
    lg = make(registry, 600, "end")
    v, so2 = lg.values, lg.values.params.index("so2")
    first = parsed(lg.minute_packet(0)[0])
    # end label: the first 10-minute period (00:00-00:10 local) is written 00:10
    assert first.get("DataTime") == "20261201001000"
    assert num(first, "a21026-Avg") == pytest.approx(v.avg[0:10, so2].mean(), abs=0.06)
    assert num(first, "a21026-Max") == pytest.approx(v.max[0:10, so2].max(), abs=0.06)
    hour = parsed(lg.hour_packet(0)[0])
    assert hour.get("DataTime") == "20261201010000"  # 00:00-01:00 written 01:00
    assert num(hour, "a21026-Avg") == pytest.approx(v.avg[0:60, so2].mean(), abs=0.06)
    # flow: the volume of the period (m3) = mean flow (m3/s) x 600 s
    assert num(first, "a00000-Cou") == pytest.approx(num(first, "a00000-Avg") * 600, rel=1e-4)
    start_labelled = make(registry, 600, "start")
    assert parsed(start_labelled.minute_packet(0)[0]).get("DataTime") == "20261201000000"
    assert parsed(start_labelled.hour_packet(0)[0]).get("DataTime") == "20261201000000"


def test_hourly_zsavg_is_the_o2_correction_of_the_hour_means(registry) -> None:
    """HJ 75-2017 (and GB 13223-2011 5.2): C_zs = C x (21 - O2_ref) / (21 - O2), the hour's mean
    concentration and mean O2; the reference O2 of this coal-fired stack is 6 %."""
    lg = make(registry, 600, "end")
    assert lg.outlet.reference_o2_pct == 6.0
    hour = parsed(lg.hour_packet(5)[0])
    c, o2 = num(hour, "a21026-Avg"), num(hour, "a19001-Avg")
    assert num(hour, "a21026-ZsAvg") == pytest.approx(c * 15.0 / (21.0 - o2), rel=0.02)


def test_daily_values_from_the_logger_own_minute_data(registry) -> None:
    lg = make(registry, 600, "end", daily=True)
    assert lg.days == [0]
    day = parsed(lg.day_packet(0)[0])
    assert day.cn == "2031"
    assert day.get("DataTime") == "20261202000000"  # the day 12-01, end-labelled: next midnight
    so2 = lg.values.params.index("so2")
    assert num(day, "a21026-Avg") == pytest.approx(lg.periods.avg[:, so2].mean(), abs=0.06)
    assert (
        make(registry, 600, "start", daily=True).day_packet(0)[0].count(b"DataTime=20261201000000")
        == 1
    )
    # a run shorter than a whole local day sends no daily value
    assert make(registry, 600, "end", daily=True, hours=23).days == []


def test_hourly_mismatch_episode_both_sides_of_its_window(registry) -> None:
    """A logger whose hourly SO2 is 0.6 x what its own minute data give, 06:00-09:00 local only."""
    ep = Episode(SITE, "hourly_mismatch", START + timedelta(hours=6), 180, "so2", 0.6)
    lg = make(registry, 600, "end", episodes=[ep])
    so2 = lg.values.params.index("so2")
    for h, factor in ((5, 1.0), (6, 0.6), (8, 0.6), (9, 1.0)):
        hour = parsed(lg.hour_packet(h)[0])
        own = lg.periods.avg[h * 6 : h * 6 + 6, so2].mean()
        assert num(hour, "a21026-Avg") == pytest.approx(own * factor, abs=0.06), h
        # the other pollutants stay consistent
        nox = lg.values.params.index("nox")
        assert num(hour, "a21002-Avg") == pytest.approx(
            lg.periods.avg[h * 6 : h * 6 + 6, nox].mean(), abs=0.06
        )
    # the minute data themselves are not touched
    assert num(parsed(lg.minute_packet(36)[0]), "a21026-Avg") == pytest.approx(
        lg.periods.avg[36, so2], abs=0.06
    )


def test_shutdown_o2_near_21_low_flow_and_stopped_status(registry) -> None:
    ep = Episode(SITE, "shutdown", START + timedelta(hours=3), 120)
    lg = make(registry, 600, "end", episodes=[ep], running_status_s=600)
    o2, flow = lg.values.params.index("o2"), lg.values.params.index("flue_flow")
    inside, before = lg.periods.avg[18:30], lg.periods.avg[12:18]
    assert (inside[:, o2] > 20.5).all() and (inside[:, o2] < 21.0).all()
    assert (before[:, o2] < 12).all()
    assert inside[:, flow].max() < 0.05 * before[:, flow].min()
    # CN 2021 running status of the production facility: 0 stopped (HJ 212-2017), 1 running;
    # DataTime is when the state holds from (2021 carries no period label): stopped 03:00-05:00
    status = {p.get("DataTime"): p.get("SB1-RS") for p in
              (parsed(lg.status_packet(s)) for s in range(0, 24 * 3600, 600))}  # fmt: skip
    assert status["20261201025000"] == "1" and status["20261201030000"] == "0"
    assert status["20261201045000"] == "0" and status["20261201050000"] == "1"
    # as the ingest path reads it (ingest/hj212/events.py): a run_status event of SB1 at 03:00 local
    (event,) = packet_to_events(parsed(lg.status_packet(3 * 3600)), SITE, START, None)
    assert (event["kind"], event["code"], event["status_code"]) == ("run_status", "SB1", 0)
    assert event["event_time"] == START + timedelta(hours=3)
    assert list(status.values()).count("0") == 12
    # the logger's own O2-corrected value blows up near 21 % O2: what must not become an exceedance
    hour = parsed(lg.hour_packet(3)[0])
    assert num(hour, "a21026-ZsAvg") > 10 * num(hour, "a21026-Avg")


def test_history_request_by_label(registry) -> None:
    """An end-labelled 10-minute logger asked for 2051 data of [00:10, 00:30] sends the periods
    written 00:10, 00:20 and 00:30 (00:00-00:30 local)."""
    lg = make(registry, 600, "end")
    local = START.astimezone(DEFAULT_TZ)
    got = lg._labelled_in(
        local + timedelta(minutes=10), local + timedelta(minutes=30), 600, lg.periods.n
    )
    assert list(got) == [0, 1, 2]
    assert [format_time(lg._label(i * 600, 600)) for i in got] == [
        "20261201001000", "20261201002000", "20261201003000"]  # fmt: skip
    start = make(registry, 600, "start")
    assert list(start._labelled_in(local + timedelta(minutes=10), local + timedelta(minutes=30), 600,
                                   start.periods.n)) == [1, 2, 3]  # fmt: skip


def test_ten_minute_periods_average_only_present_minutes(registry) -> None:
    opts = LoggerSimOptions(seed=3, gap_rate=0.3, habits={SITE: LoggerHabits(600, "end")})
    lg = SimLogger(registry, SITE, START, START + timedelta(hours=2), opts, 0)
    so2 = lg.values.params.index("so2")
    present = lg.values.present[:10]
    assert 0 < present.sum() < 10
    assert lg.periods.avg[0, so2] == pytest.approx(lg.values.avg[:10, so2][present].mean())
    assert np.array_equal(lg.periods.present, lg.values.present[:120].reshape(12, 10).any(axis=1))
