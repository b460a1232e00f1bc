"""`envmon publish daily|hourly|monthly`: the daily air quality website, the real-time page
and the monthly disclosure tables (the same functions the DAGs call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from core.settings import get_settings

publish_app = typer.Typer(
    help="Publish the daily air quality report, the real-time page and the monthly disclosure.",
    no_args_is_help=True,
)

Out = Annotated[
    str | None,
    typer.Option("--out", help="output folder or URL (file://, s3://); default: settings site_dir"),
]


def _summary(report) -> None:
    state = "" if report.has_data else " (no data in the warehouse for this period)"
    typer.echo(
        f"{report.kind} {report.period}: {len(report.files)} files, {len(report.changed)} changed "
        f"-> {report.out}{state}"
    )


@publish_app.command("daily")
def publish_daily_cmd(
    day: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="local date; default: the latest day"),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option(
            "--to", formats=["%Y-%m-%d"], help="publish every day from --date to this one"
        ),
    ] = None,
    out: Out = None,
) -> None:
    """The daily report: daily/<date>.html|json|csv, index.html (the latest day that has
    ended), the station pages and archive.html. A day that has not ended is refused."""
    from publish.jobs import PublishError, publish_daily

    now = _clock()
    if to is not None and day is None:
        raise PublishError("--to needs --date (the first day)")
    first = day.date() if day else None
    last = to.date() if to else first
    current = first
    while True:
        _summary(publish_daily(None, current, out, now=now))
        if current is None or last is None or current >= last:
            break
        current += timedelta(days=1)


@publish_app.command("hourly")
def publish_hourly_cmd(
    hour: Annotated[
        str | None,
        typer.Option(
            "--hour", help="start of the hour, ISO 8601 (no zone = local); default: latest"
        ),
    ] = None,
    out: Out = None,
) -> None:
    """The real-time page (realtime.html, realtime.json), the station pages and archive.html;
    an hour that has not ended is refused."""
    from publish.jobs import PublishError, publish_hourly

    hour_start = None
    if hour is not None:
        try:
            hour_start = datetime.fromisoformat(hour)
        except ValueError:
            raise PublishError(
                f"--hour {hour!r}: expected ISO 8601, e.g. 2016-12-01T08:00"
            ) from None
    _summary(publish_hourly(None, hour_start, out, now=_clock()))


def _clock() -> datetime:
    """Now, read once at the command's boundary (tests replace it)."""
    return datetime.now(UTC)


@publish_app.command("monthly")
def publish_monthly_cmd(
    month: Annotated[
        str | None,
        typer.Option("--month", help="YYYY-MM; default: the last complete month (local time)"),
    ] = None,
    out: Out = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="publish a month that has not ended, to date, marked provisional on every page and file",
        ),
    ] = False,
) -> None:
    """The monthly disclosure: disclosure/<YYYY-MM>/index.html, one CSV per table, one XLSX.
    A month that has not ended is refused unless --allow-partial."""
    from publish.jobs import publish_monthly

    now = _clock()
    if month is None:
        today = now.astimezone(get_settings().tz).date()
        month = f"{(today.replace(day=1) - timedelta(days=1)):%Y-%m}"
    _summary(publish_monthly(None, month, out, now=now, allow_partial=allow_partial))


def register(app: typer.Typer) -> None:
    app.add_typer(publish_app, name="publish")


__all__ = ["register"]
