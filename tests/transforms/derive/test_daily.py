"""transforms.derive.daily: derive_daily on a real warehouse — 20 vs 19 valid hours, invalid days
stored with their reason, emission day totals against the pro-rata permit, noise energy means,
water class, identical re-runs — and the day's hour range and means on their own."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from derivedata import query, reading

from transforms.derive.daily import _air_day_rows, daily_hours_range, daily_means, derive_daily
from transforms.standards import daily_air_values, tables
from transforms.standards.emissions import min_count as hj75_min_count
from transforms.standards.noise import rule as noise_rule

HOUR = timedelta(hours=1)
DAY = date(2024, 3, 1)
T0 = datetime(2024, 2, 29, 16, tzinfo=UTC)  # local midnight of DAY (Asia/Shanghai)
OUTLET = "huaneng_gaobeidian_da001"  # permitted so2: 240 000 kg a year (registry)


def _hours(
    site: str, parameter: str, value: float, unit: str, n: int, start: datetime = T0
) -> list[dict]:
    return [reading(site, parameter, start + i * HOUR, value, unit) for i in range(n)]


def test_daily_validity_totals_noise_water_and_rerun(wh, insert) -> None:  # type: ignore[no-untyped-def]
    rows = _hours("aotizhongxin", "pm25", 50.0, "ug/m3", 20) + _hours(
        "changping", "pm25", 70.0, "ug/m3", 19
    )
    rows += _hours(OUTLET, "so2", 30.0, "mg/m3", 24) + _hours(
        OUTLET, "flue_flow", 400000.0, "m3/h", 24
    )
    rows += _hours(OUTLET, "nox", 50.0, "mg/m3", 19)
    # noise: day hours 06..21 local at 60 and 70 dB(A) alternately; night 22..06 at 50
    rows += [
        reading("nz_dongsi_res", "leq", T0 + h * HOUR, 60.0 if h % 2 else 70.0, "dB(A)")
        for h in range(6, 22)
    ]
    rows += [reading("nz_dongsi_res", "leq", T0 + h * HOUR, 50.0, "dB(A)") for h in range(22, 30)]
    rows += [
        reading("ws_chaobai_shunyi", "nh3n", T0 + h * 4 * HOUR, 1.2, "mg/L", interval_s=14400)
        for h in range(6)
    ]
    rows += [
        reading("ws_chaobai_shunyi", "do", T0 + h * 4 * HOUR, 7.0, "mg/L", interval_s=14400)
        for h in range(6)
    ]
    insert(rows, T0, T0 + 30 * HOUR)
    derive_daily(wh, DAY)

    need = int(
        tables.one("air_validity", edition="GB3095-2012", statistic="daily_mean")["min_count"]
    )
    assert need == 20
    day_avg = dict(
        (r[0], r[1:])
        for r in query(
            wh,
            """SELECT site_id, value, valid, n_valid, invalid_reason
        FROM aggregates WHERE parameter = 'pm25' AND statistic = 'day_avg'""",
        )
    )
    assert day_avg["aotizhongxin"] == (50.0, True, 20, None)
    assert day_avg["changping"] == (None, False, 19, "pm25: 19 valid hours < 20 required")
    aqi = dict(
        (r[0], r[1:])
        for r in query(wh, "SELECT site_id, valid, invalid_reasons, pm25_24h_ugm3 FROM aqi_daily")
    )
    assert "pm25: 19 valid hours < 20 required" in aqi["changping"][1]
    assert aqi["city"][2] == 50.0  # the city's daily PM2.5: mean of the stations with a valid day

    # emission total: 24 h × 12 kg; permit 240 000 kg / 366 days (2024) for the day
    total = query(
        wh,
        """SELECT total_kg, n_valid_hours, valid, permitted_kg, share_of_permit, over_permit
                         FROM emission_totals WHERE site_id = ? AND parameter = ? AND period = 'day'""",
        [OUTLET, "so2"],
    )
    t, n, ok, permit, share, over = total[0]
    assert ok and n == 24 and abs(t - 288.0) < 1e-9 and abs(permit - 240000 / 366) < 1e-9
    assert abs(share - 288.0 / (240000 / 366)) < 1e-12 and over is False
    assert query(
        wh,
        """SELECT total_kg, n_valid_hours, valid FROM emission_totals
                        WHERE site_id = ? AND parameter = 'nox'""",
        [OUTLET],
    ) == [(None, 19, False)]

    # noise: Ld = 10 lg((10^6 + 10^7) / 2) = 67.4 dB(A); Ln = 50.0; zone 1 limits 55 / 45
    nd = query(
        wh,
        """SELECT zone, ld_dba, ln_dba, ld_limit_dba, ln_limit_dba, day_exceeds, night_exceeds,
                             n_day_hours, n_night_hours FROM noise_daily WHERE site_id = 'nz_dongsi_res'""",
    )
    expected_ld = round(10 * math.log10((10**6 + 10**7) / 2), 1)
    assert nd == [("1", expected_ld, 50.0, 55.0, 45.0, True, True, 16, 8)]

    # water: NH3-N 1.2 mg/L is class IV in a river whose target is III: (1.2 − 1.0) / 1.0 = 0.20
    wc = query(
        wh,
        """SELECT water_class, target_class, compliant, limiting_parameters, exceeding_parameters,
                             exceedance_multiples, n_parameters FROM water_class WHERE site_id = 'ws_chaobai_shunyi'""",
    )
    assert wc == [("IV", "III", False, "nh3n", "nh3n", "nh3n=0.20", 2)]

    cols = "* EXCLUDE (computed_at)"
    tables_ = ("aggregates", "aqi_daily", "emission_totals", "noise_daily", "water_class")
    before = {t: query(wh, f"SELECT {cols} FROM {t} ORDER BY ALL") for t in tables_}
    derive_daily(wh, DAY)
    assert {t: query(wh, f"SELECT {cols} FROM {t} ORDER BY ALL") for t in tables_} == before


def test_the_days_hours_run_to_the_noise_standards_day_start_of_the_next_morning() -> None:
    day_start = int(noise_rule("GB3096-2008", "day_start_hour"))
    assert day_start == 6  # GB 3096-2008: day 06:00-22:00
    assert daily_hours_range(DAY, "Asia/Shanghai") == (T0, T0 + timedelta(days=1) + 6 * HOUR)


def _day_hours(valid: int, shut_down: int = 0) -> pl.DataFrame:
    return pl.DataFrame({
        "site_id": ["o1"] * 24, "parameter": ["so2"] * 24, "local_date": [DAY] * 24, "unit": ["mg/m3"] * 24,
        "value": [10.0] * valid + [None] * (24 - valid), "valid": [True] * valid + [False] * (24 - valid),
        "shut_down": [False] * (24 - shut_down) + [True] * shut_down,
    })  # fmt: skip


def test_daily_means_need_the_count_less_the_shut_down_hours() -> None:
    need = hj75_min_count("daily_mean")
    assert need == 20  # HJ 75-2017
    ok = daily_means(_day_hours(need), "day_avg", need, "valid hours", 24).row(0, named=True)
    assert (ok["value"], ok["valid"], ok["n_valid"], ok["statistic"]) == (10.0, True, 20, "day_avg")
    short = daily_means(_day_hours(need - 1), "day_avg", need, "valid hours", 24).row(0, named=True)
    assert (short["valid"], short["invalid_reason"]) == (False, "so2: 19 valid hours < 20 required")
    # 8 shut-down hours excused: 12 valid hours are needed, 11 are not enough
    excused = daily_means(_day_hours(12, shut_down=8), "day_avg", need, "valid hours", 24)
    assert excused["valid"].to_list() == [True]
    assert daily_means(_day_hours(11, shut_down=8), "day_avg", need, "valid hours", 24)[
        "invalid_reason"
    ].to_list() == ["so2: 11 valid hours < 12 required"]


def _o3_day(peak: float) -> pl.DataFrame:
    """One station day, O3 missing 00..05 (13 valid 8-h means < 14) and `peak` at 12..19."""
    t0 = datetime(2024, 6, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    o3 = [None] * 6 + [60.0] * 6 + [peak] * 8 + [60.0] * 4
    values = {"so2_ugm3": 10.0, "no2_ugm3": 20.0, "pm10_ugm3": 50.0, "pm25_ugm3": 35.0,
              "co_mgm3": 0.5}  # fmt: skip
    return pl.DataFrame(
        {"site": ["s1"] * 24, "period_start": [t0 + h * HOUR for h in range(24)],
         **{c: [v] * 24 for c, v in values.items()}, "o3_ugm3": o3},
        schema_overrides={"o3_ugm3": pl.Float64},
    )  # fmt: skip


def test_an_o3_day_with_13_windows_over_the_limit_says_it_is_an_exceedance_day() -> None:
    # HJ 663-2013: fewer than 14 valid 8-h means, maximum 200 > 160 (GB 3095-2012 Grade II):
    # no MDA8 value (never a partial one), but the day counts as exceeding; 150 does not
    def o3_row(peak: float) -> dict:
        rows = _air_day_rows(daily_air_values(_o3_day(peak)), lambda s, p: "ug/m3")
        return rows.filter(pl.col("statistic") == "o3_8h_max").row(0, named=True)

    over = o3_row(200.0)
    assert (over["value"], over["valid"], over["n_valid"]) == (None, False, 13)
    assert over["invalid_reason"] == (
        "o3_8h: 13 valid 8-h windows < 14 required; 最大值 200.0 > 160.0 计为超标日 "
        "(maximum 200.0 > 160.0: an exceedance day, HJ 663-2013)"
    )
    under = o3_row(150.0)
    assert (under["value"], under["valid"]) == (None, False)
    assert under["invalid_reason"] == "o3_8h: 13 valid 8-h windows < 14 required"
