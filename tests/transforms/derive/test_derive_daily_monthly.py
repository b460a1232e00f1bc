"""derive_daily / derive_monthly on a real warehouse: 20 vs 19 valid hours, invalid days stored
with their reason, emission day totals against the pro-rata permit, noise energy means, water
class, HJ 663 monthly statistics with the composite index and the station rank."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from derivedata import query, reading

from transforms.derive.jobs import derive_daily, derive_monthly
from transforms.standards import tables

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


def _month_rows(site: str, pm25: float, skip_days: int = 0) -> list[dict]:
    start = datetime(2024, 1, 31, 16, tzinfo=UTC)  # 2024-02-01 local
    values = {"so2": 10.0, "no2": 20.0, "pm10": 50.0, "co": 0.5, "o3": 60.0}
    rows = []
    for h in range(29 * 24):
        t = start + h * HOUR
        for p, v in values.items():
            rows.append(reading(site, p, t, v, "mg/m3" if p == "co" else "ug/m3"))
        if h >= skip_days * 24:
            rows.append(reading(site, "pm25", t, pm25, "ug/m3"))
    return rows


def test_monthly_statistics_index_and_rank(wh, insert) -> None:  # type: ignore[no-untyped-def]
    rows = (
        _month_rows("aotizhongxin", 35.0)
        + _month_rows("changping", 75.0)
        + _month_rows("dingling", 20.0, 5)
    )
    insert(rows, datetime(2024, 1, 31, 16, tzinfo=UTC), datetime(2024, 2, 29, 16, tzinfo=UTC))
    derive_monthly(wh, date(2024, 2, 1))
    got = {
        r[0]: r[1:]
        for r in query(
            wh,
            """SELECT site_id, aqi_days, good_days, days_level_1, days_level_2,
        pm25_mean_ugm3, co_p95_mgm3, o3_8h_p90_ugm3, composite_index, rank, valid, invalid_reasons, scope
        FROM air_period_stats WHERE period = 'month' AND period_start = DATE '2024-02-01'""",
        )
    }
    s = {
        p: float(
            tables.one(
                "composite_index", edition="GB3095-2012", phase="", pollutant=p, statistic=st
            )["limit"]
        )
        for p, st in (
            ("so2", "mean"),
            ("no2", "mean"),
            ("pm10", "mean"),
            ("pm25", "mean"),
            ("co", "p95"),
            ("o3", "p90"),
        )
    }

    def index(pm25: float) -> float:
        return (
            10 / s["so2"]
            + 20 / s["no2"]
            + 50 / s["pm10"]
            + pm25 / s["pm25"]
            + 0.5 / s["co"]
            + 60 / s["o3"]
        )

    a = got["aotizhongxin"]  # PM2.5 35 -> IAQI 50 -> AQI 50 (优) every day
    assert (
        a[:7] == (29, 29, 29, 0, 35.0, 0.5, 60.0)
        and abs(a[7] - index(35.0)) < 1e-9
        and a[8] == 1
        and a[9]
    )
    b = got["changping"]  # PM2.5 75 -> IAQI 100 -> 良 every day
    assert b[:5] == (29, 29, 0, 29, 75.0) and abs(b[7] - index(75.0)) < 1e-9 and b[8] == 2
    d = got["dingling"]  # 24 valid PM2.5 days < 25 required in February: no mean, no index, no rank
    assert d[4] is None and d[7] is None and d[8] is None and d[9] is False
    assert "pm25: 24 valid days < 25 required" in d[10]
    city = got[
        "city"
    ]  # the city's day: mean of the stations' valid daily values (dingling absent 5 days)
    expected = (5 * (35 + 75) / 2 + 24 * (35 + 75 + 20) / 3) / 29
    assert city[11] == "city" and city[8] is None and abs(city[4] - expected) < 1e-9
    month_avg = query(
        wh,
        """SELECT value, valid, n_valid FROM aggregates WHERE site_id = 'dingling'
                             AND parameter = 'pm25' AND statistic = 'month_avg'""",
    )
    assert month_avg == [(None, False, 24)]
