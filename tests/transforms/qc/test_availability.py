"""Data availability and the enterprise data transmission efficiency, hand-computed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from qcdata import AIR, OUTLET, reading

from core.settings import Settings
from transforms.qc.availability import compute_availability, compute_transmission_efficiency
from transforms.qc.review import record_review
from transforms.qc.run import run_qc
from warehouse.db import connect

LOCAL_MIDNIGHT = datetime(2024, 2, 29, 16, tzinfo=UTC)  # 2024-03-01 00:00 Asia/Shanghai


def test_transmission_efficiency_for_a_month_with_known_gaps(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    # March 2024 has 31 days: the outlet owes 2 parameters x 744 hours = 1488 hourly values.
    # so2: a 48-hour outage (no data) and 10 hours with flag M (maintenance -> fail).
    # o2: complete, but 20 hours flagged invalid by staff.
    hours = [LOCAL_MIDNIGHT + timedelta(hours=h) for h in range(744)]
    rows = []
    for h, t in enumerate(hours):
        if not 100 <= h < 148:
            rows.append(reading(OUTLET, "so2", t, 20.0 + (h % 7), flag="M" if 300 <= h < 310 else "N"))
        rows.append(reading(OUTLET, "o2", t, 8.0 + (h % 5) / 10, flag="N"))
    with connect(warehouse) as con:
        add_readings(con, rows)
    run_qc(warehouse, date(2024, 3, 1), date(2024, 3, 31), now=datetime(2024, 4, 2, tzinfo=UTC))
    with connect(warehouse) as con:
        record_review(con, "flag", OUTLET, "o2", hours[500], hours[520], "O2 analyser drift", "zhang")
    [eff] = compute_transmission_efficiency(warehouse, date(2024, 3, 1))
    # expected 1488; received 1488 - 48 = 1440; valid 1440 - 10 - 20 = 1410
    assert (eff.expected, eff.received, eff.valid) == (1488, 1440, 1410)
    assert abs(eff.transmission_rate - 1440 / 1488) < 1e-12
    assert abs(eff.validity_rate - 1410 / 1440) < 1e-12
    assert abs(eff.efficiency - 1410 / 1488) < 1e-12  # 94.76 %
    assert eff.meets_requirement is True
    with connect(warehouse, write=False) as con:
        stored = con.execute("SELECT expected, received, valid, round(efficiency, 4), meets_requirement "
                             "FROM transmission_efficiency").fetchall()
    assert stored == [(1488, 1440, 1410, 0.9476, True)]


def test_availability_hour_and_day_rows(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    rows = [reading(AIR, "pm25", LOCAL_MIDNIGHT + timedelta(hours=h), 10.0 + h) for h in range(24) if h != 5]
    rows[0]["value"] = -3.0  # fails non_positive / gross range
    with connect(warehouse) as con:
        add_readings(con, rows)
    run_qc(warehouse, date(2024, 3, 1), date(2024, 3, 1), now=datetime(2024, 4, 1, tzinfo=UTC))
    written = compute_availability(warehouse, date(2024, 3, 1), date(2024, 3, 1))
    assert written == 2 * (24 + 1) + 2 * (24 + 1)  # air pm25, pm10 + outlet so2, o2: 24 hours + 1 day each
    with connect(warehouse, write=False) as con:
        day = con.execute("""SELECT expected, received, valid FROM data_availability
                             WHERE site_id = ? AND parameter = 'pm25' AND period_kind = 'day'""", [AIR]).fetchall()
        hour5 = con.execute("""SELECT expected, received, valid FROM data_availability WHERE site_id = ? AND parameter = 'pm25'
                               AND period_kind = 'hour' AND period_start = ?""", [AIR, LOCAL_MIDNIGHT + timedelta(hours=5)]).fetchall()
    assert day == [(24, 23, 22)] and hour5 == [(1, 0, 0)]
    assert compute_availability(warehouse, date(2024, 3, 1), date(2024, 3, 1)) == written  # rebuilt, not added


def test_a_period_sent_by_two_sources_counts_once(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    # Hours 0-3 from MQTT; hours 2-5 from HJ 212 too (hours 2 and 3 twice). HJ 212's hour 3 fails
    # QC (negative) while MQTT's is fine: the period is valid (any source); MQTT's hour 0 fails
    # and is the only one: invalid. 6 received, 5 valid — not 8 and 7 (every reading counted).
    rows = [reading(AIR, "pm25", LOCAL_MIDNIGHT + timedelta(hours=h), -1.0 if h == 0 else 10.0, source_kind="mqtt")
            for h in range(4)]
    rows += [reading(AIR, "pm25", LOCAL_MIDNIGHT + timedelta(hours=h), -1.0 if h == 3 else 12.0, source_kind="hj212")
             for h in range(2, 6)]  # fmt: skip
    with connect(warehouse) as con:
        add_readings(con, rows)
    run_qc(warehouse, date(2024, 3, 1), date(2024, 3, 1), now=datetime(2024, 4, 1, tzinfo=UTC))
    compute_availability(warehouse, date(2024, 3, 1), date(2024, 3, 1))
    with connect(warehouse, write=False) as con:
        day = con.execute("""SELECT expected, received, valid FROM data_availability
                             WHERE site_id = ? AND parameter = 'pm25' AND period_kind = 'day'""", [AIR]).fetchall()
        hours = con.execute("""SELECT received, valid FROM data_availability WHERE site_id = ? AND parameter = 'pm25'
                               AND period_kind = 'hour' ORDER BY period_start LIMIT 6""", [AIR]).fetchall()
    assert day == [(24, 6, 5)]
    assert hours == [(1, 0), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)]


def _half_day(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    # 1 March 2024 local, hours 00..11 (the first half of the day): so2 misses hours 3 and 4,
    # o2 is complete; hour 7 of so2 is flagged M (maintenance -> not valid).
    rows = []
    for h in range(12):
        t = LOCAL_MIDNIGHT + timedelta(hours=h)
        if h not in (3, 4):
            rows.append(reading(OUTLET, "so2", t, 20.0, flag="M" if h == 7 else "N"))
        rows.append(reading(OUTLET, "o2", t, 8.0, flag="N"))
    with connect(warehouse) as con:
        add_readings(con, rows)
    run_qc(warehouse, date(2024, 3, 1), date(2024, 3, 1), now=LOCAL_MIDNIGHT + timedelta(hours=12))


def test_efficiency_of_a_month_half_a_day_old_counts_only_the_elapsed_hours(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    _half_day(warehouse, add_readings)
    noon = LOCAL_MIDNIGHT + timedelta(hours=12)  # 2024-03-01T12:00+08:00: hours 00..11 are over
    [eff] = compute_transmission_efficiency(warehouse, date(2024, 3, 1), now=noon)
    # expected so far 2 parameters x 12 hours = 24 (not 1488); received 10 + 12 = 22;
    # valid 22 - 1 (so2 hour 7, M) = 21; efficiency = 21 / 24 = 87.5 % < 90 %
    assert (eff.expected, eff.received, eff.valid) == (24, 22, 21)
    assert abs(eff.efficiency - 21 / 24) < 1e-12 and eff.meets_requirement is False


def test_efficiency_one_second_before_an_hour_ends_leaves_that_hour_out(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    _half_day(warehouse, add_readings)
    just_before = LOCAL_MIDNIGHT + timedelta(hours=12) - timedelta(seconds=1)  # hour 11 not over
    [eff] = compute_transmission_efficiency(warehouse, date(2024, 3, 1), now=just_before)
    # hours 00..10: expected 22; received so2 9 + o2 11 = 20; valid 20 - 1 = 19
    assert (eff.expected, eff.received, eff.valid) == (22, 20, 19)


def test_efficiency_of_a_month_that_has_ended_counts_the_whole_month(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    _half_day(warehouse, add_readings)
    april = datetime(2024, 3, 31, 16, tzinfo=UTC) + timedelta(seconds=1)  # 2024-04-01T00:00:01+08:00
    [eff] = compute_transmission_efficiency(warehouse, date(2024, 3, 1), now=april)
    # the whole of March is due: 2 x 744 = 1488 expected, of which 22 received, 21 valid
    assert (eff.expected, eff.received, eff.valid) == (1488, 22, 21)
