"""`envmon aggregate hourly|daily|monthly|yearly`: rebuild the derived tables for a period
(the same jobs the Airflow DAGs call; re-runs give the same rows).

A day, month or year that has not ended (by the clock, read here at the command's boundary) is
refused with a message naming it and when it ends in local time (core.periods.require_ended);
`--allow-partial` derives a month or year to date, for a provisional disclosure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from core import periods
from core.errors import EnvmonError
from core.settings import get_settings

console = Console()
aggregate_app = typer.Typer(
    help="Derive aggregates, AQI and period statistics from QC-passed readings.",
    no_args_is_help=True,
)


AllowPartial = Annotated[
    bool,
    typer.Option(
        "--allow-partial",
        help="derive a period that has not ended, to date (for a provisional disclosure)",
    ),
]


def _clock() -> datetime:
    """Now: the one place the aggregate commands read the clock (tests replace it)."""
    return datetime.now(UTC)


def _iso(text: str, what: str) -> datetime:
    """A time a person typed: ISO 8601, local time (the settings' zone) unless an offset is given."""
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EnvmonError(
            f"{what}: {text!r} is not an ISO 8601 time (e.g. 2024-03-01T00:00, local time, or 2024-03-01T00:00+08:00)"
        ) from exc
    return periods.from_local_input(ts, get_settings().tz)


def _show(report) -> None:  # type: ignore[no-untyped-def]
    tz = get_settings().tz
    rows = ", ".join(f"{t} {n}" for t, n in report.rows.items())
    console.print(
        f"{report.stage} {periods.local_minute(report.range_start, tz)} → {periods.local_minute(report.range_end, tz)}: "
        f"{report.rows_written} rows ({rows})"
    )


@aggregate_app.command("hourly")
def hourly(
    start: Annotated[str, typer.Option("--start", help="first hour, ISO 8601; local time unless an offset is given")],
    end: Annotated[str, typer.Option("--end", help="end hour (excluded), ISO 8601; local time unless an offset is given")],
) -> None:
    """Hourly aggregates and the real-time AQI for the hours in [START, END); the last hour must
    have ended."""
    from transforms.derive import derive_hourly

    lo, hi = _iso(start, "--start"), _iso(end, "--end")
    tz = get_settings().tz
    periods.require_ended(lo, hi, _clock(), "the range of hours", tz, "an hour is derived once it has ended")
    try:
        _show(derive_hourly(None, lo, hi))
    except ValueError as exc:
        raise EnvmonError(str(exc)) from exc


@aggregate_app.command("daily")
def daily(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="local date")],
    to: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="last local date (included)"),
    ] = None,
) -> None:
    """Daily aggregates, daily AQI, noise levels, water classes and emission totals."""
    from transforms.derive import derive_daily

    first, last = day.date(), (to or day).date()
    if last < first:
        raise EnvmonError(f"--to {last} is before --date {first}")
    tz = get_settings().timezone
    lo, hi = periods.local_day_range(last, tz)
    periods.require_ended(lo, hi, _clock(), f"the day {last}", tz,
                          "a day is derived once it has ended")  # fmt: skip
    d: date = first
    while d <= last:
        _show(derive_daily(None, d))
        d += timedelta(days=1)


@aggregate_app.command("monthly")
def monthly(
    month: Annotated[
        datetime, typer.Option("--month", formats=["%Y-%m"], help="the month, YYYY-MM")
    ],
    allow_partial: AllowPartial = False,
) -> None:
    """Monthly aggregates, HJ 663 statistics and rank, monthly water classes and emission totals."""
    from transforms.derive import derive_monthly

    first = month.date().replace(day=1)
    _show(derive_monthly(None, first, now=_clock(), allow_partial=allow_partial))


@aggregate_app.command("yearly")
def yearly(
    year: Annotated[int, typer.Option("--year", help="the year, YYYY")],
    allow_partial: AllowPartial = False,
) -> None:
    """Annual means and HJ 663 annual statistics of air stations and the city."""
    from transforms.derive import derive_yearly

    _show(derive_yearly(None, year, now=_clock(), allow_partial=allow_partial))


def register(app: typer.Typer) -> None:
    app.add_typer(aggregate_app, name="aggregate")
