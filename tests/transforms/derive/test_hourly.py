"""transforms.derive.hourly: derive_hourly on a real warehouse — HJ 75 minute validity (45 vs
44), staff reviews, O2 correction and loads, O3 8-h windows (6 vs 5), the city mean, invalid
hours with reasons, identical re-runs — and the range it is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from derivedata import LOADED_AT, query, reading

from transforms.derive.hourly import derive_hourly
from transforms.qc.review import record_review
from transforms.standards import tables
from warehouse.db import connect

OUTLET = "huaneng_gaobeidian_da001"  # reference O2 6 % (registry), so2 in mg/m3, flue_flow m3/h
H = datetime(2024, 3, 1, 2, tzinfo=UTC)  # 10:00 local
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)


def _minutes(parameter: str, value: float, unit: str, n: int, start: datetime = H) -> list[dict]:
    return [
        reading(OUTLET, parameter, start + i * MIN, value, unit, interval_s=60) for i in range(n)
    ]


def _agg(wh, site, parameter, statistic, start=H):  # type: ignore[no-untyped-def]
    rows = query(
        wh,
        """SELECT value, valid, n_valid, n_expected, invalid_reason, unit FROM aggregates
                        WHERE site_id = ? AND parameter = ? AND statistic = ? AND period_start = ?""",
        [site, parameter, statistic, start],
    )
    assert len(rows) == 1, rows
    return rows[0]


def test_minute_validity_both_sides_of_the_threshold(wh, insert) -> None:  # type: ignore[no-untyped-def]
    need = int(
        tables.one("emission_validity", standard="HJ75-2017", statistic="hourly_mean")["min_count"]
    )
    assert need == 45
    rows = (
        _minutes("so2", 30.0, "mg/m3", need)
        + _minutes("nox", 50.0, "mg/m3", need - 1)
        + _minutes("o2", 9.0, "%", 60)
        + _minutes("flue_flow", 400000.0, "m3/h", 60)
    )
    insert(rows, H, H + HOUR)
    report = derive_hourly(wh, H, H + HOUR)
    assert report.rows["aggregates"] > 0
    value, valid, n_valid, n_expected, reason, unit = _agg(wh, OUTLET, "so2", "hour_avg")
    assert (value, valid, n_valid, n_expected, reason, unit) == (30.0, True, 45, 60, None, "mg/m3")
    value, valid, n_valid, _, reason, _ = _agg(wh, OUTLET, "nox", "hour_avg")
    assert (value, valid, n_valid, reason) == (
        None,
        False,
        44,
        "nox: 44 valid minutes < 45 required",
    )
    # O2 correction with the outlet's reference 6 %: 30 × (21 − 6) / (21 − 9) = 37.5
    value, valid, *_ = _agg(wh, OUTLET, "so2", "hour_avg_o2")
    assert valid and abs(value - 37.5) < 1e-9
    assert _agg(wh, OUTLET, "nox", "hour_avg_o2")[1:2] == (False,)
    # load: the sum of the 45 one-minute slices with data (HJ 212-2017 Appendix D), never scaled
    # up to 60 minutes: 45 × 30 mg/m3 × 400 000 m3/h × 1e-6 × 1/60 h = 9 kg (not 12)
    value, valid, _, _, _, unit = _agg(wh, OUTLET, "so2", "hour_load_kg")
    assert valid and abs(value - 9.0) < 1e-9 and unit == "kg"
    # an expected parameter without any data is an invalid hour with its reason
    assert _agg(wh, OUTLET, "dust", "hour_avg")[1:] == (False, 0, 1, "dust: no data", "mg/m3")


def test_staff_review_excludes_flagged_minutes(wh, insert) -> None:  # type: ignore[no-untyped-def]
    insert(_minutes("so2", 30.0, "mg/m3", 60) + _minutes("o2", 9.0, "%", 60), H, H + HOUR)
    derive_hourly(wh, H, H + HOUR)
    assert _agg(wh, OUTLET, "so2", "hour_avg")[1:3] == (True, 60)
    with connect(wh) as con:  # staff flag 16 minutes: 44 valid minutes remain
        record_review(
            con, "flag", OUTLET, "so2", H + 10 * MIN, H + 26 * MIN, "calibration drift", "staff1"
        )
    derive_hourly(wh, H, H + HOUR)
    assert _agg(wh, OUTLET, "so2", "hour_avg")[:5] == (
        None,
        False,
        44,
        60,
        "so2: 44 valid minutes < 45 required",
    )
    assert _agg(wh, OUTLET, "o2", "hour_avg")[1] is True  # only the flagged parameter


def _station_hours(
    site: str, parameter: str, values: list[float | None], unit: str, start: datetime
) -> list[dict]:
    return [
        reading(site, parameter, start + i * HOUR, v, unit)
        for i, v in enumerate(values)
        if v is not None
    ]


def test_o3_8h_window_counts_and_city_mean_and_reruns(wh, insert) -> None:  # type: ignore[no-untyped-def]
    t0 = datetime(2024, 3, 1, 0, tzinfo=UTC)
    # window ending at t0+7h: 6 valid hours (two missing) -> valid mean; at t0+8h: 5 valid
    o3 = [60.0, None, 80.0, None, 100.0, 120.0, 140.0, 160.0, None]
    rows = _station_hours("aotizhongxin", "o3", o3, "ug/m3", t0)
    rows += _station_hours("aotizhongxin", "pm25", [40.0] * 9, "ug/m3", t0)
    rows += _station_hours("changping", "pm25", [60.0] * 9, "ug/m3", t0)
    insert(rows, t0, t0 + 9 * HOUR)
    derive_hourly(wh, t0, t0 + 9 * HOUR)
    value, valid, n_valid, n_expected, reason, _ = _agg(
        wh, "aotizhongxin", "o3", "o3_8h", t0 + 7 * HOUR
    )
    assert valid and n_valid == 6 and n_expected == 8
    assert abs(value - (60 + 80 + 100 + 120 + 140 + 160) / 6) < 1e-9
    value, valid, n_valid, _, reason, _ = _agg(wh, "aotizhongxin", "o3", "o3_8h", t0 + 8 * HOUR)
    assert (value, valid, n_valid) == (None, False, 5)
    assert reason == "o3: 5 valid hours in the 8-h window < 6 required"
    # the city's hourly PM2.5 is the mean of the assessed stations' valid values: (40 + 60) / 2
    city = query(
        wh,
        "SELECT scope, pm25_1h_ugm3 FROM aqi_hourly WHERE site_id = 'city' AND period_start = ?",
        [t0 + 3 * HOUR],
    )
    assert city == [("city", 50.0)]
    # a re-run and a backfill in two pieces give identical rows (except computed_at)
    cols = "* EXCLUDE (computed_at)"
    before_agg = query(wh, f"SELECT {cols} FROM aggregates ORDER BY ALL")
    before_aqi = query(wh, f"SELECT {cols} FROM aqi_hourly ORDER BY ALL")
    derive_hourly(wh, t0, t0 + 9 * HOUR)
    derive_hourly(wh, t0, t0 + 4 * HOUR)
    derive_hourly(wh, t0 + 4 * HOUR, t0 + 9 * HOUR)
    assert query(wh, f"SELECT {cols} FROM aggregates ORDER BY ALL") == before_agg
    assert query(wh, f"SELECT {cols} FROM aqi_hourly ORDER BY ALL") == before_aqi
    assert query(wh, "SELECT count(*), min(stage) FROM derivation_runs") == [(4, "hourly")]


def test_minutes_from_two_sources_count_once_valid_first_then_by_priority(wh, insert) -> None:  # type: ignore[no-untyped-def]
    # Hour 1: MQTT sends minutes 0-39 at 30 mg/m3, HJ 212 minutes 30-49 at 60; the overlap
    # (30-39) takes HJ 212's value (SOURCE_PRIORITY), except minute 35, where HJ 212's value
    # failed QC and MQTT's valid one counts. 50 distinct minutes, not 60 readings.
    # Hour 2: MQTT alone, 45 minutes (the single-source path of the same query).
    def minutes(
        source: str, first: int, last: int, value: float, start: datetime = H
    ) -> list[dict]:
        return [reading(OUTLET, "so2", start + i * MIN, value, "mg/m3", interval_s=60, source_kind=source)
                for i in range(first, last + 1)]  # fmt: skip

    rows = minutes("mqtt", 0, 39, 30.0) + minutes("hj212", 30, 49, 60.0)
    rows += minutes("mqtt", 0, 44, 20.0, start=H + HOUR)
    insert(rows, H, H + 2 * HOUR)
    with connect(wh) as con:
        con.execute(
            "INSERT INTO qc_flags VALUES (?, 'so2', ?, 60, 'hj212', 'range', 2, 'test', 'h', ?)",
            [OUTLET, H + 35 * MIN, LOADED_AT],
        )
    derive_hourly(wh, H, H + 2 * HOUR)
    value, valid, n_valid, n_expected, reason, _ = _agg(wh, OUTLET, "so2", "hour_avg")
    assert (valid, n_valid, n_expected, reason) == (True, 50, 60, None)
    assert abs(value - (31 * 30.0 + 19 * 60.0) / 50) < 1e-9  # 41.4; 40.0 if readings were summed
    value, valid, n_valid, *_ = _agg(wh, OUTLET, "so2", "hour_avg", H + HOUR)
    assert (value, valid, n_valid) == (20.0, True, 45)


def test_the_range_must_be_given_with_a_zone_and_not_empty(wh) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="derive_hourly needs start and end"):
        derive_hourly(wh, H, None)
    with pytest.raises(ValueError, match=r"^start 2024-03-01T02:00:00 has no time zone"):
        derive_hourly(wh, H.replace(tzinfo=None), H + HOUR)
    with pytest.raises(ValueError, match=r"empty range: end .* is not after start"):
        derive_hourly(wh, H, H)
    # an offset is kept: 10:00+08:00 is 02:00 UTC
    report = derive_hourly(wh, H.astimezone(ZoneInfo("Asia/Shanghai")), H + HOUR)
    assert (report.stage, report.range_start, report.range_end) == ("hourly", H, H + HOUR)
    assert report.range_start.tzinfo is UTC


def test_aqi_hourly_follows_the_realtime_reading_setting(wh, insert) -> None:  # type: ignore[no-untyped-def]
    # 3 hours (2024, HJ 633-2012) of SO2 10, NO2 20, PM10 160, PM2.5 76, CO 0.5, O3 60 at one
    # station. National practice (default; CNEMC, HJ 633-2026): PM from the 1-h values on the
    # 24-h breakpoints — PM2.5 76 → 100 + 50·1/40 = 101.25 → 102, PM10 160 → 100 + 50·10/100 = 105
    # — O3 from its 1-h value only. Literal (HJ 633-2012 §5): PM from the 24-h moving means,
    # which 3 hours cannot give (20 needed), so no AQI.
    t0 = datetime(2024, 3, 1, 0, tzinfo=UTC)
    values = {"so2": 10.0, "no2": 20.0, "pm10": 160.0, "pm25": 76.0, "o3": 60.0}
    rows = [r for p, v in values.items() for r in _station_hours("dongsi", p, [v] * 3, "ug/m3", t0)]
    rows += _station_hours("dongsi", "co", [0.5] * 3, "mg/m3", t0)
    insert(rows, t0, t0 + 3 * HOUR)
    sql = (
        "SELECT realtime_reading, aqi, iaqi_pm25, iaqi_pm10, iaqi_o3_8h, primary_pollutants "
        "FROM aqi_hourly WHERE site_id = 'dongsi' ORDER BY period_start"
    )
    assert wh.aqi_realtime_reading == "national_practice"
    derive_hourly(wh, t0, t0 + 3 * HOUR)
    assert query(wh, sql) == [("national_practice", 105, 102, 105, None, "PM10")] * 3
    literal = wh.model_copy(update={"aqi_realtime_reading": "literal"})
    derive_hourly(literal, t0, t0 + 3 * HOUR)
    assert query(wh, sql) == [("literal", None, None, None, None, None)] * 3


def test_a_bad_realtime_reading_fails_at_load_naming_the_choices(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.errors import ConfigError
    from core.settings import load_settings

    env = {"ENVMON_HOME": str(tmp_path), "ENVMON_AQI_REALTIME_READING": "letter"}
    with pytest.raises(ConfigError, match=r"aqi_realtime_reading: .*'national_practice' or 'literal'"):
        load_settings(env)
    assert load_settings({**env, "ENVMON_AQI_REALTIME_READING": "literal"}).aqi_realtime_reading == "literal"
