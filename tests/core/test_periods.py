"""core.periods: the one rule for zone-less datetimes, local days and calendar periods.

Asia/Shanghai has no daylight saving (UTC+8 all year); Europe/Berlin has it, so its local days
of the clock changes are 23 and 25 hours long: the local-midnight logic must give those, not 24.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core import periods
from core.periods import (
    from_local_input,
    from_stored,
    hour_start,
    local_day,
    local_day_range,
    local_days,
    local_days_range,
    local_midnight,
    local_text,
    next_month,
    period_dates,
    period_range,
    utc,
    zone,
)

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)


def z(*args: int) -> datetime:
    """A UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- zone, utc --------------------------------------------------------------------------------


def test_zone_takes_a_name_or_a_tzinfo() -> None:
    assert zone("Asia/Shanghai") == SH
    assert zone(BERLIN) is BERLIN
    fixed = timezone(timedelta(hours=8))
    assert zone(fixed) is fixed


def test_utc_converts_an_aware_time() -> None:
    assert utc(datetime(2024, 3, 1, 8, 0, tzinfo=SH)) == z(2024, 3, 1, 0, 0)
    assert utc(datetime(2024, 7, 1, 2, 0, tzinfo=BERLIN)) == z(2024, 7, 1, 0, 0)  # CEST, +02:00
    assert utc(datetime(2024, 1, 1, 1, 0, tzinfo=BERLIN)) == z(2024, 1, 1, 0, 0)  # CET, +01:00
    out = utc(datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=SH))
    assert out.tzinfo is UTC and out.microsecond == 123456


def test_utc_refuses_a_naive_time_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^data_interval_start 2024-03-01T08:00:00 has no time zone: give it "
                                         r"in UTC or with an offset$"):
        utc(datetime(2024, 3, 1, 8, 0), "data_interval_start")
    with pytest.raises(ValueError, match=r"^time 2024-03-01T08:00:00 has no time zone"):
        utc(datetime(2024, 3, 1, 8, 0))  # the default name


def test_utc_refuses_none_naming_it() -> None:
    with pytest.raises(TypeError, match=r"^end is required \(a datetime with a time zone\)$"):
        utc(None, "end")  # type: ignore[arg-type]


def test_utc_of_a_pendulum_time_is_a_plain_datetime() -> None:
    pendulum = pytest.importorskip("pendulum")
    out = utc(pendulum.datetime(2024, 3, 1, 8, tz="Asia/Shanghai"))
    assert type(out) is datetime and out == z(2024, 3, 1, 0) and out.tzinfo is UTC


# -- from_stored, from_local_input ------------------------------------------------------------


def test_from_stored_reads_naive_as_utc() -> None:
    out = from_stored(datetime(2024, 3, 1, 16, 0))
    assert out == z(2024, 3, 1, 16, 0) and out.tzinfo is UTC
    assert from_stored(datetime(2024, 3, 2, 0, 0, tzinfo=SH)) == z(2024, 3, 1, 16, 0)


def test_from_local_input_reads_naive_as_local() -> None:
    assert from_local_input(datetime(2024, 3, 1, 8, 0), "Asia/Shanghai") == z(2024, 3, 1, 0, 0)
    assert from_local_input(datetime(2024, 3, 1, 8, 0), SH) == z(2024, 3, 1, 0, 0)
    # Berlin: winter +01:00, summer +02:00
    assert from_local_input(datetime(2024, 1, 15, 8, 0), BERLIN) == z(2024, 1, 15, 7, 0)
    assert from_local_input(datetime(2024, 7, 15, 8, 0), BERLIN) == z(2024, 7, 15, 6, 0)


def test_from_local_input_keeps_a_given_offset() -> None:
    typed = datetime.fromisoformat("2024-03-01T08:00+00:00")
    assert from_local_input(typed, SH) == z(2024, 3, 1, 8, 0)  # not read as Shanghai time
    typed = datetime.fromisoformat("2024-03-01T08:00+05:30")
    assert from_local_input(typed, BERLIN) == z(2024, 3, 1, 2, 30)


# -- local days -------------------------------------------------------------------------------


def test_local_day_either_side_of_local_midnight() -> None:
    assert local_day(z(2024, 2, 29, 15, 59, 59), SH) == date(2024, 2, 29)
    assert local_day(z(2024, 2, 29, 16, 0), SH) == date(2024, 3, 1)
    # Berlin in summer: midnight is 22:00 UTC
    assert local_day(z(2024, 7, 1, 21, 59), BERLIN) == date(2024, 7, 1)
    assert local_day(z(2024, 7, 1, 22, 0), BERLIN) == date(2024, 7, 2)


def test_local_day_refuses_naive() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        local_day(datetime(2024, 3, 1, 8), SH)


def test_local_midnight() -> None:
    assert local_midnight(date(2024, 3, 1), SH) == z(2024, 2, 29, 16)
    assert local_midnight(date(2024, 3, 1), "Asia/Shanghai") == z(2024, 2, 29, 16)
    assert local_midnight(date(2024, 1, 10), BERLIN) == z(2024, 1, 9, 23)  # CET
    assert local_midnight(date(2024, 7, 10), BERLIN) == z(2024, 7, 9, 22)  # CEST


def test_local_day_range_is_24_hours_without_dst() -> None:
    lo, hi = local_day_range(date(2024, 3, 31), SH)
    assert (lo, hi) == (z(2024, 3, 30, 16), z(2024, 3, 31, 16))
    assert hi - lo == 24 * H


def test_local_day_range_on_the_dst_days_is_23_and_25_hours() -> None:
    # 2024-03-31: clocks go 02:00 CET -> 03:00 CEST
    lo, hi = local_day_range(date(2024, 3, 31), BERLIN)
    assert (lo, hi) == (z(2024, 3, 30, 23), z(2024, 3, 31, 22)) and hi - lo == 23 * H
    # 2024-10-27: clocks go 03:00 CEST -> 02:00 CET
    lo, hi = local_day_range(date(2024, 10, 27), BERLIN)
    assert (lo, hi) == (z(2024, 10, 26, 22), z(2024, 10, 27, 23)) and hi - lo == 25 * H
    # the day before and after are ordinary
    lo, hi = local_day_range(date(2024, 3, 30), BERLIN)
    assert hi - lo == 24 * H


def test_local_days_range_includes_both_ends() -> None:
    assert local_days_range(date(2024, 3, 1), date(2024, 3, 3), SH) == (z(2024, 2, 29, 16), z(2024, 3, 3, 16))
    assert local_days_range(date(2024, 3, 1), date(2024, 3, 1), SH) == local_day_range(date(2024, 3, 1), SH)
    lo, hi = local_days_range(date(2024, 3, 30), date(2024, 4, 1), BERLIN)
    assert hi - lo == (3 * 24 - 1) * H  # one 23-hour day among them


def test_local_days_end_is_excluded() -> None:
    lo, hi = local_day_range(date(2024, 3, 1), SH)
    assert local_days(lo, hi, SH) == [date(2024, 3, 1)]
    assert local_days(lo, hi + timedelta(microseconds=1), SH) == [date(2024, 3, 1), date(2024, 3, 2)]
    assert local_days(lo - timedelta(microseconds=1), hi, SH) == [date(2024, 2, 29), date(2024, 3, 1)]
    # one UTC day touches two Shanghai days
    assert local_days(z(2024, 3, 1), z(2024, 3, 2), SH) == [date(2024, 3, 1), date(2024, 3, 2)]


def test_local_days_over_a_dst_change_and_a_naive_end() -> None:
    lo, hi = local_days_range(date(2024, 10, 26), date(2024, 10, 28), BERLIN)
    assert local_days(lo, hi, BERLIN) == [date(2024, 10, 26), date(2024, 10, 27), date(2024, 10, 28)]
    with pytest.raises(ValueError, match=r"^end 2024-03-02T00:00:00 has no time zone"):
        local_days(z(2024, 3, 1), datetime(2024, 3, 2), SH)


# -- months and years -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "expected"),
    [(date(2024, 1, 1), date(2024, 2, 1)), (date(2024, 11, 1), date(2024, 12, 1)),
     (date(2024, 12, 1), date(2025, 1, 1)), (date(2024, 2, 1), date(2024, 3, 1))],
)
def test_next_month(first: date, expected: date) -> None:
    assert next_month(first) == expected


@pytest.mark.parametrize(
    ("first", "period", "lo", "hi", "days"),
    [
        (date(2024, 3, 15), "month", date(2024, 3, 1), date(2024, 4, 1), 31),
        (date(2024, 4, 30), "month", date(2024, 4, 1), date(2024, 5, 1), 30),
        (date(2024, 12, 31), "month", date(2024, 12, 1), date(2025, 1, 1), 31),  # December: next year
        (date(2024, 2, 10), "month", date(2024, 2, 1), date(2024, 3, 1), 29),  # leap February
        (date(2023, 2, 10), "month", date(2023, 2, 1), date(2023, 3, 1), 28),
        (date(1900, 2, 1), "month", date(1900, 2, 1), date(1900, 3, 1), 28),  # century: not leap
        (date(2000, 2, 1), "month", date(2000, 2, 1), date(2000, 3, 1), 29),  # 400th year: leap
        (date(2024, 7, 4), "year", date(2024, 1, 1), date(2025, 1, 1), 366),
        (date(2023, 12, 31), "year", date(2023, 1, 1), date(2024, 1, 1), 365),
    ],
)
def test_period_dates(first: date, period: str, lo: date, hi: date, days: int) -> None:
    assert period_dates(first, period) == (lo, hi)
    assert (hi - lo).days == days


def test_period_dates_refuses_an_unknown_period_naming_the_choices() -> None:
    assert periods.PERIODS == ("month", "year")
    with pytest.raises(ValueError, match=r"^period 'week': valid choices are month, year$"):
        period_dates(date(2024, 3, 1), "week")
    with pytest.raises(ValueError, match=r"period 'Month'"):  # case matters
        period_dates(date(2024, 3, 1), "Month")


def test_period_range_local_month_and_year() -> None:
    assert period_range(date(2024, 3, 1), "month", SH) == (z(2024, 2, 29, 16), z(2024, 3, 31, 16))
    # Berlin March: starts in CET, ends in CEST (one hour short)
    lo, hi = period_range(date(2024, 3, 1), "month", BERLIN)
    assert (lo, hi) == (z(2024, 2, 29, 23), z(2024, 3, 31, 22)) and hi - lo == (31 * 24 - 1) * H
    lo, hi = period_range(date(2024, 12, 5), "month", "Asia/Shanghai")
    assert (lo, hi) == (z(2024, 11, 30, 16), z(2024, 12, 31, 16))
    assert period_range(date(2024, 6, 1), "year", BERLIN) == (z(2023, 12, 31, 23), z(2024, 12, 31, 23))


# -- hours and text ---------------------------------------------------------------------------


def test_hour_start_accepts_the_start_of_an_hour() -> None:
    assert hour_start(datetime(2024, 3, 1, 8, tzinfo=SH)) == z(2024, 3, 1, 0)
    # half-hour zone: the start of a UTC hour is what counts
    assert hour_start(datetime.fromisoformat("2024-03-01T05:30+05:30")) == z(2024, 3, 1, 0)


@pytest.mark.parametrize("late", [timedelta(minutes=1), timedelta(seconds=1), timedelta(microseconds=1)])
def test_hour_start_refuses_any_other_instant_naming_it(late: timedelta) -> None:
    ts = datetime(2024, 3, 1, 8, tzinfo=SH) + late
    with pytest.raises(ValueError, match=f"^period_start {re.escape(ts.isoformat())} is not the start of an hour$"):
        hour_start(ts, "period_start")


def test_hour_start_refuses_naive_and_half_hour_offsets() -> None:
    with pytest.raises(ValueError, match=r"^hour_start 2024-03-01T08:00:00 has no time zone"):
        hour_start(datetime(2024, 3, 1, 8))
    with pytest.raises(ValueError, match="is not the start of an hour"):
        hour_start(datetime.fromisoformat("2024-03-01T06:00+05:30"))  # 00:30 UTC


def test_local_text() -> None:
    assert local_text(None, SH) is None
    assert local_text(datetime(2024, 3, 1, 0, 0), SH) == "2024-03-01T08:00:00+08:00"  # naive = stored = UTC
    assert local_text(z(2024, 3, 1, 0, 0, 0), "Asia/Shanghai") == "2024-03-01T08:00:00+08:00"
    assert local_text(z(2024, 7, 1, 0, 0, 0), BERLIN) == "2024-07-01T02:00:00+02:00"
    assert local_text(z(2024, 1, 1, 0, 0, 0), BERLIN) == "2024-01-01T01:00:00+01:00"
    assert local_text(datetime(2024, 3, 1, 0, 0, 59, 999999, tzinfo=UTC), SH) == "2024-03-01T08:00:59+08:00"


# -- periods that have not ended (require_ended, has_ended, elapsed_end) ----------------------
# December 2016 in Beijing is [2016-11-30T16:00Z, 2016-12-31T16:00Z); its last instant is
# 2016-12-31T23:59:59+08:00.


def test_a_month_whose_last_instant_is_one_second_past_has_ended() -> None:
    lo, hi = period_range(date(2016, 12, 1), "month", SH)
    assert hi == z(2016, 12, 31, 16, 0)
    now = hi + timedelta(seconds=1)  # 2017-01-01T00:00:01+08:00
    assert periods.has_ended(hi, now)
    periods.require_ended(lo, hi, now, "the month", SH)  # no error
    periods.require_ended(lo, hi, hi, "the month", SH)  # at its end exactly: ended (half-open)


def test_a_month_whose_last_instant_is_one_second_ahead_is_refused() -> None:
    lo, hi = period_range(date(2016, 12, 1), "month", SH)
    now = hi - timedelta(seconds=1)  # 2016-12-31T23:59:59+08:00: its last second still to come
    assert not periods.has_ended(hi, now)
    with pytest.raises(periods.PeriodNotEndedError) as exc:
        periods.require_ended(lo, hi, now, "the month 2016-12", SH, "wait for it")
    assert str(exc.value) == (
        "the month 2016-12 (2016-12-01T00:00:00+08:00 to 2017-01-01T00:00:00+08:00) has not "
        "ended: it ends at 2017-01-01T00:00:00+08:00 local time, and it is now "
        "2016-12-31T23:59:59+08:00; wait for it"
    )


def test_require_ended_refuses_a_naive_now() -> None:
    lo, hi = period_range(date(2016, 12, 1), "month", SH)
    with pytest.raises(ValueError, match="now 2017-02-01T00:00:00 has no time zone"):
        periods.require_ended(lo, hi, datetime(2017, 2, 1), "the month", SH)


def test_elapsed_end_is_the_earlier_of_end_and_now_never_before_start() -> None:
    lo, hi = local_day_range(date(2016, 12, 5), SH)  # [12-04T16:00Z, 12-05T16:00Z)
    assert periods.elapsed_end(lo, hi, lo + 12 * H) == z(2016, 12, 5, 4, 0)  # half the day
    assert periods.elapsed_end(lo, hi, hi + H) == hi  # over: the whole day
    assert periods.elapsed_end(lo, hi, lo - H) == lo  # not begun: nothing elapsed


def test_local_minute_writes_local_time_with_its_offset() -> None:
    # the deadline typed as 2026-12-05 (local midnight) is stored as 12-04T16:00Z: read back local
    assert periods.local_minute(z(2026, 12, 4, 16, 0), SH) == "2026-12-05 00:00+08:00"
    assert periods.local_minute(z(2026, 12, 4, 15, 59), SH) == "2026-12-04 23:59+08:00"
    assert periods.local_minute(datetime(2026, 12, 4, 16, 0), SH) == "2026-12-05 00:00+08:00"  # stored naive = UTC
    assert periods.local_minute(z(2026, 12, 4, 16, 0), ZoneInfo("America/St_Johns")) == "2026-12-04 12:30-03:30"
    assert periods.local_minute(None, SH) == ""
