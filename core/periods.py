"""Time in envmon, with one rule for datetimes that carry no zone.

Instants are stored and compared in UTC; people read and type local time (the settings' zone).
A datetime without a zone means one thing only, depending on where it comes from:

- passed between functions (a data interval, a rule window, a job's range): an error —
  `utc(ts)` raises, naming the argument, rather than guess;
- read from a warehouse TIMESTAMP column (DuckDB hands those back without a zone): UTC —
  `from_stored(ts)`;
- typed by a person (a CLI option, a form field): local time in the settings' zone —
  `from_local_input(ts, tz)`.

Local days and months are half-open UTC ranges: [local midnight, next local midnight).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from core.errors import EnvmonError

Zone = tzinfo | str

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PERIODS = ("month", "year")


def zone(tz: Zone) -> tzinfo:
    """A zone from a tzinfo or an IANA name ('Asia/Shanghai')."""
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def utc(ts: datetime, name: str = "time") -> datetime:
    """`ts` as a plain datetime in UTC; a naive `ts` is refused (say which zone it is in).

    Plain: Airflow passes pendulum DateTimes, whose arithmetic (pendulum 3.3) can drop the
    zone, after which comparisons with aware datetimes fail."""
    if ts is None:
        raise TypeError(f"{name} is required (a datetime with a time zone)")
    if ts.tzinfo is None:
        raise ValueError(
            f"{name} {ts.isoformat()} has no time zone: give it in UTC or with an offset"
        )
    u = ts.astimezone(UTC)
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=UTC)


def from_stored(ts: datetime) -> datetime:
    """A value read from a warehouse TIMESTAMP column: naive means UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else utc(ts)


def from_local_input(ts: datetime, tz: Zone) -> datetime:
    """A time a person typed: naive means local time in `tz`; an offset given is kept."""
    return utc(ts if ts.tzinfo is not None else ts.replace(tzinfo=zone(tz)))


def local_day(ts: datetime, tz: Zone) -> date:
    """The local date of an instant."""
    return utc(ts).astimezone(zone(tz)).date()


def local_midnight(day: date, tz: Zone) -> datetime:
    """The start of a local day, in UTC."""
    return utc(datetime.combine(day, time(0), tzinfo=zone(tz)))


def local_day_range(day: date, tz: Zone) -> tuple[datetime, datetime]:
    """A local day as a half-open UTC range."""
    return local_midnight(day, tz), local_midnight(day + DAY, tz)


def local_days_range(first: date, last: date, tz: Zone) -> tuple[datetime, datetime]:
    """Local days first..last (both included) as a half-open UTC range."""
    return local_midnight(first, tz), local_midnight(last + DAY, tz)


def local_days(start: datetime, end: datetime, tz: Zone) -> list[date]:
    """Every local date that the half-open interval [start, end) touches."""
    first = local_day(start, tz)
    last = local_day(utc(end, "end") - timedelta(microseconds=1), tz)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def next_month(first: date) -> date:
    """The first day of the month after `first`'s month."""
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def period_dates(first: date, period: str) -> tuple[date, date]:
    """A calendar month or year holding `first` as [first day, first day after)."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r}: valid choices are {', '.join(PERIODS)}")
    if period == "year":
        return date(first.year, 1, 1), date(first.year + 1, 1, 1)
    start = first.replace(day=1)
    return start, start + timedelta(days=calendar.monthrange(first.year, first.month)[1])


def period_range(first: date, period: str, tz: Zone) -> tuple[datetime, datetime]:
    """A local calendar month or year as a half-open UTC range."""
    lo, hi = period_dates(first, period)
    return local_midnight(lo, tz), local_midnight(hi, tz)


def hour_start(ts: datetime, name: str = "hour_start") -> datetime:
    """`ts` in UTC, refused unless it is the start of an hour."""
    u = utc(ts, name)
    if (u.minute, u.second, u.microsecond) != (0, 0, 0):
        raise ValueError(f"{name} {ts.isoformat()} is not the start of an hour")
    return u


def local_text(ts: datetime | None, tz: Zone) -> str | None:
    """An instant as people read it: local time with its offset, to the second."""
    return None if ts is None else from_stored(ts).astimezone(zone(tz)).isoformat(timespec="seconds")


def local_minute(ts: datetime | None, tz: Zone) -> str:
    """An instant in a sentence or a table cell a person reads: local time to the minute with
    its offset ("2026-12-05 00:00+08:00"); "" for None."""
    if ts is None:
        return ""
    local = from_stored(ts).astimezone(zone(tz))
    return f"{local:%Y-%m-%d %H:%M}{local:%z}"[:-2] + ":" + f"{local:%z}"[-2:]


# ---------------------------------------------------------------- periods that have not ended
class PeriodNotEndedError(EnvmonError, ValueError):
    """A period that has not ended was to be derived, evaluated or published."""


def has_ended(end: datetime, now: datetime) -> bool:
    """Whether the half-open period ending at `end` is over at `now` (its last instant past)."""
    return utc(now, "now") >= utc(end, "end")


def require_ended(
    start: datetime, end: datetime, now: datetime, what: str, tz: Zone, hint: str = ""
) -> None:
    """Refuse the period [start, end) unless it has ended at `now`: the one test of "has this
    period ended", used by every derivation, evaluation and publication of a period. The
    message names the period (`what`, e.g. "the month 2016-12") and when it ends in local
    time (`tz`), then `hint` (what to do instead)."""
    if has_ended(end, now):
        return
    raise PeriodNotEndedError(
        f"{what} ({local_text(start, tz)} to {local_text(end, tz)}) has not ended: it ends at "
        f"{local_text(end, tz)} local time, and it is now {local_text(utc(now, 'now'), tz)}"
        + (f"; {hint}" if hint else "")
    )


def elapsed_end(start: datetime, end: datetime, now: datetime) -> datetime:
    """The end of the part of [start, end) that has elapsed at `now`: min(end, now), never
    before `start` (a period that has not begun has no elapsed part)."""
    lo, hi, at = utc(start, "start"), utc(end, "end"), utc(now, "now")
    return max(lo, min(hi, at))
