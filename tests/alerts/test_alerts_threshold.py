"""Threshold rules on both sides of the limit and of the duration; hysteresis; dedupe; windows."""

from __future__ import annotations

from datetime import date, timedelta

from _alerts_helpers import add_aggregates, dump, hours, local, rows

from alerts.jobs import evaluate_rules
from warehouse.db import connect

OUTLET = "huaneng_gaobeidian_da001"  # so2 hour_avg_o2 permit limit 50 mg/m3 (GB 13223-2011 表2)
HOURLY = ["flue_gas_hour_over_permit"]


def test_permit_limit_both_sides_and_one_alert_per_episode(wh):
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        wh,
        OUTLET,
        "so2",
        "hour_avg_o2",
        list(zip(hours(t0, 6), [50.0, 50.1, 70.0, 60.0, 49.0, 48.0], strict=True)),
    )
    report = evaluate_rules(wh, t0, t0 + timedelta(hours=6), rule_ids=HOURLY)
    assert len(report.alerts_opened) == 1  # 3 exceeded hours, one alert (no storm of duplicates)
    (alert,) = rows(
        wh,
        "SELECT first_period, last_period, state, resolved_period, max_value, limit_value, max_multiple, "
        "periods_exceeded, hours_exceeded, grid_id, officer_id FROM alerts",
    )
    assert alert[0] == t0 + timedelta(hours=1)  # 50.0 equals the limit: not above it
    assert alert[1] == t0 + timedelta(hours=3)
    assert alert[2] == "resolved" and alert[3] == t0 + timedelta(
        hours=6
    )  # clear_after 2 normal hours
    assert (alert[4], alert[5]) == (70.0, 50.0)
    assert abs(alert[6] - 1.4) < 1e-12  # 70 / 50
    assert (alert[7], alert[8]) == (3, 3.0)
    assert (alert[9], alert[10]) == (
        "key_enterprises",
        "key_enterprises_responsible",
    )  # special grid first


def test_hysteresis_needs_k_normal_periods(wh):
    t0 = local(2025, 3, 3, 9)
    # exceed, normal, exceed, normal, normal: one normal hour is not enough to clear (clear_after: 2)
    add_aggregates(
        wh,
        OUTLET,
        "so2",
        "hour_avg_o2",
        list(zip(hours(t0, 5), [60.0, 40.0, 60.0, 40.0, 40.0], strict=True)),
    )
    evaluate_rules(wh, t0, t0 + timedelta(hours=4), rule_ids=HOURLY)
    assert rows(wh, "SELECT state, normal_streak FROM alerts") == [("firing", 1)]
    evaluate_rules(wh, t0 + timedelta(hours=4), t0 + timedelta(hours=5), rule_ids=HOURLY)
    assert rows(wh, "SELECT state, periods_exceeded, resolved_period FROM alerts") == [
        ("resolved", 2, t0 + timedelta(hours=5))
    ]


def test_invalid_hours_neither_exceed_nor_clear(wh):
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        wh,
        OUTLET,
        "so2",
        "hour_avg_o2",
        list(zip(hours(t0, 4), [60.0, None, None, 40.0], strict=True)),
    )
    evaluate_rules(wh, t0, t0 + timedelta(hours=4), rule_ids=HOURLY)
    assert rows(wh, "SELECT state, normal_streak, periods_exceeded FROM alerts") == [
        ("firing", 1, 1)
    ]


def test_units_are_converted_to_the_limit_unit(wh):
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        wh,
        OUTLET,
        "so2",
        "hour_avg_o2",
        [(t0, 50000.0), (t0 + timedelta(hours=1), 50100.0)],
        unit="ug/m3",
    )
    evaluate_rules(wh, t0, t0 + timedelta(hours=2), rule_ids=HOURLY)
    assert rows(wh, "SELECT first_period, max_value, unit FROM alerts") == [
        (t0 + timedelta(hours=1), 50.1, "mg/m3")
    ]


def test_same_hours_twice_change_nothing(wh):
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", list(zip(hours(t0, 3), [60.0, 61.0, 62.0], strict=True))
    )
    first = evaluate_rules(wh, t0, t0 + timedelta(hours=3))
    before = dump(wh)
    again = evaluate_rules(wh, t0, t0 + timedelta(hours=3))
    hour_again = evaluate_rules(wh, t0 + timedelta(hours=1), t0 + timedelta(hours=2))
    assert first.alerts_opened and first.cases_opened
    assert again.alerts_opened == again.cases_opened == hour_again.alerts_opened == []
    assert dump(wh) == before


def test_night_rule_two_of_three_hours_only_at_night_or_holidays(wh):
    rule = ["flue_gas_night_holiday_over_permit"]
    night = local(2025, 3, 4, 23)  # 23:00, 00:00, 01:00 local: exceed, normal, exceed -> 2 of 3
    add_aggregates(
        wh,
        OUTLET,
        "so2",
        "hour_avg_o2",
        list(zip(hours(night, 3), [60.0, 40.0, 60.0], strict=True)),
    )
    day = local(2025, 3, 5, 14)  # the same pattern on a working afternoon: outside the window
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", list(zip(hours(day, 3), [60.0, 40.0, 60.0], strict=True))
    )
    evaluate_rules(wh, night, day + timedelta(hours=3), rule_ids=rule)
    assert rows(wh, "SELECT first_period, last_period, severity FROM alerts") == [
        (night, night + timedelta(hours=2), "critical")
    ]


def test_night_rule_one_of_three_is_not_enough_and_holidays_count(wh):
    rule = ["flue_gas_night_holiday_over_permit"]
    night = local(2025, 3, 4, 23)
    add_aggregates(
        wh,
        OUTLET,
        "so2",
        "hour_avg_o2",
        list(zip(hours(night, 3), [60.0, 40.0, 40.0], strict=True)),
    )
    holiday = local(2025, 10, 2, 14)  # National Day holiday, afternoon
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", list(zip(hours(holiday, 2), [60.0, 60.0], strict=True))
    )
    evaluate_rules(wh, night, night + timedelta(hours=3), rule_ids=rule)
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]
    evaluate_rules(wh, holiday, holiday + timedelta(hours=2), rule_ids=rule)
    assert rows(wh, "SELECT first_period FROM alerts") == [(holiday,)]


def test_waste_water_daily_permit(wh):
    site = "yanshan_petrochem_dw001"  # cod day_avg limit 100 mg/L
    d1, d2 = local(2025, 3, 3, 0), local(2025, 3, 4, 0)
    add_aggregates(
        wh, site, "cod", "day_avg", [(d1, 100.0), (d2, 100.5)], unit="mg/L", interval_s=86400
    )
    report = evaluate_rules(
        wh, d1, d2 + timedelta(days=1), rule_ids=["waste_water_day_over_permit"]
    )
    assert rows(wh, "SELECT first_period, hours_exceeded, max_multiple FROM alerts") == [
        (d2, 24.0, 1.005)
    ]
    assert len(report.cases_opened) == 1


def test_water_section_against_target_class(wh):
    site = "ws_chaobai_shunyi"  # river, target class III: NH3-N <= 1.0 mg/L, DO >= 5 mg/L (GB 3838-2002)
    d1, d2 = local(2025, 3, 3, 0), local(2025, 3, 4, 0)
    add_aggregates(
        wh, site, "nh3n", "day_avg", [(d1, 1.0), (d2, 1.01)], unit="mg/L", interval_s=86400
    )
    add_aggregates(
        wh, site, "do", "day_avg", [(d1, 5.0), (d2, 4.99)], unit="mg/L", interval_s=86400
    )
    evaluate_rules(
        wh,
        d1,
        d2 + timedelta(days=1),
        rule_ids=["water_parameter_over_target_class", "water_do_below_target_class"],
    )
    got = rows(
        wh,
        "SELECT rule_id, parameter, first_period, max_value, limit_value FROM alerts ORDER BY rule_id",
    )
    assert got == [
        ("water_do_below_target_class", "do", d2, 4.99, 5.0),
        ("water_parameter_over_target_class", "nh3n", d2, 1.01, 1.0),
    ]


def _insert_daily(wh, sql: str, params: list) -> None:
    with connect(wh) as con:
        con.execute(sql, params)


def test_water_class_two_of_three_days_opens_case_in_drinking_water_grid(wh):
    site = "ws_miyun_res"  # lake, target II, special grid miyun_reservoir_src
    for day, cls in (
        (date(2025, 3, 3), "III"),
        (date(2025, 3, 4), "II"),
        (date(2025, 3, 5), "III"),
    ):
        _insert_daily(
            wh,
            "INSERT INTO water_class (site_id, period, period_start, waterbody, water_class, "
            "target_class, compliant, limiting_parameters, exceeding_parameters, "
            "exceedance_multiples, n_parameters, computed_at) "
            "VALUES (?, 'day', ?, 'lake', ?, 'II', ?, ?, ?, ?, 7, ?)",
            [
                site,
                day,
                cls,
                cls == "II",
                "tp",
                "tp" if cls == "III" else None,
                "tp=0.60" if cls == "III" else None,
                local(2025, 3, 6, 0),
            ],
        )
    evaluate_rules(
        wh,
        local(2025, 3, 3, 0),
        local(2025, 3, 5, 0),
        rule_ids=["water_section_below_target_class"],
    )
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]  # one bad day of three
    evaluate_rules(
        wh,
        local(2025, 3, 5, 0),
        local(2025, 3, 6, 0),
        rule_ids=["water_section_below_target_class"],
    )
    assert rows(wh, "SELECT c.grid_id, c.officer_id, c.routed_by FROM cases c") == [
        ("miyun_reservoir_src", "miyun_reservoir_src_responsible", "special_grid")
    ]


def test_noise_night_three_of_seven_days(wh):
    site = "nz_dongsi_res"  # GB 3096 zone 1: night limit 45 dB(A)
    levels = [45.0, 45.1, 44.0, 46.0, 44.0, 44.0, 47.0]
    for k, ln in enumerate(levels):
        _insert_daily(
            wh,
            "INSERT INTO noise_daily (site_id, local_date, zone, standard, ld_dba, ln_dba, "
            "ld_limit_dba, ln_limit_dba, day_exceeds, night_exceeds, n_day_hours, n_night_hours, "
            "computed_at) VALUES (?, ?, '1', 'GB3096-2008', 50, ?, 55, 45, false, ?, 16, 8, ?)",
            [site, date(2025, 3, 1) + timedelta(days=k), ln, ln > 45, local(2025, 3, 9, 0)],
        )
    evaluate_rules(
        wh, local(2025, 3, 1, 0), local(2025, 3, 7, 0), rule_ids=["noise_night_over_zone_limit"]
    )
    assert rows(wh, "SELECT count(*) FROM alerts") == [
        (0,)
    ]  # 45.0 is not above; only 2 of the first 6 days
    evaluate_rules(
        wh, local(2025, 3, 7, 0), local(2025, 3, 8, 0), rule_ids=["noise_night_over_zone_limit"]
    )
    assert rows(
        wh, "SELECT first_period, max_value, limit_value, periods_exceeded FROM alerts"
    ) == [(local(2025, 3, 2, 0), 47.0, 45.0, 3)]


def test_daily_aqi_above_200(wh):
    for site, aqi in (("dongsi", 200), ("tiantan", 201)):
        _insert_daily(
            wh,
            "INSERT INTO aqi_daily (site_id, scope, local_date, edition, aqi, valid, computed_at) "
            "VALUES (?, 'station', ?, 'HJ633-2012', ?, true, ?)",
            [site, date(2025, 3, 3), aqi, local(2025, 3, 4, 1)],
        )
    evaluate_rules(
        wh, local(2025, 3, 3, 0), local(2025, 3, 4, 0), rule_ids=["air_heavy_pollution_day"]
    )
    assert rows(wh, "SELECT site_id, max_value, case_id FROM alerts") == [("tiantan", 201.0, None)]
