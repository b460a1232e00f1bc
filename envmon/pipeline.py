"""The pipeline's stages: what each Airflow task calls, and what `envmon run ...` calls.

Every stage works on the data interval it is given (a half-open UTC range, or a local day or
month), never on "now", so re-running a date or backfilling a month gives the same result as
running it on time. Each stage opens the warehouse itself (under the writer lock), so a task is
one call, and returns a small JSON-able summary for the task log.

Heavy imports happen inside the stages: DAG files import this module at parse time.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core import periods
from core.settings import Settings, get_settings


def _summary(value: Any) -> Any:
    """A JSON-able view of a job's report (dataclasses, lists, dates)."""
    if is_dataclass(value) and not isinstance(value, type):
        return _summary(asdict(value))
    if isinstance(value, dict):
        return {str(k): _summary(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_summary(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- ingest and load
def ingest_inbox(settings: Settings | None = None) -> dict[str, Any]:
    """Scan the file inbox once into the landing zone (files are the interval's input)."""
    from ingest.files.inbox import scan_inbox

    settings = settings or get_settings()
    report = scan_inbox(settings)
    return {
        "files": len(report.files),
        "accepted": sum(1 for f in report.files if f.status != "rejected"),
        "rejected": sum(1 for f in report.files if f.status == "rejected"),
        "waiting": len(report.waiting),
    }


def load_and_validate(settings: Settings | None = None) -> dict[str, Any]:
    """Load every new landing batch (ledger-driven, so interval-free) and validate it with GX."""
    from transforms.qc.gx_suite import validate_batches
    from warehouse.jobs import load_landing_job

    settings = settings or get_settings()
    report = load_landing_job(settings)
    validations = validate_batches(settings)
    return {
        "batches_loaded": len(report.loaded),
        "rows_inserted": report.rows_inserted,
        "rows_duplicate": report.rows_duplicate,
        "rows_conflict": report.rows_conflict,
        "quarantined": len(report.quarantined),
        "batches_validated": len(validations),
    }


# --------------------------------------------------------------------------- QC
def qc_interval(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """QC every reading whose period starts in [start, end); the future is judged from `end`."""
    from transforms.qc.run import run_qc_on
    from warehouse.db import connect

    settings = settings or get_settings()
    lo, hi = periods.utc(start), periods.utc(end)
    with connect(settings, purpose=f"qc {lo:%Y-%m-%dT%H:%M}Z") as con:
        report = run_qc_on(con, settings, lo, hi, now=hi)
    return {"readings": report.readings, "flags": report.flags, "inserted": report.inserted,
            "deleted": report.deleted}


def availability(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Rebuild data availability for the local days of the interval."""
    from transforms.qc.availability import compute_availability

    settings = settings or get_settings()
    days = periods.local_days(start, end, settings.tz)
    return {"rows": compute_availability(settings, days[0], days[-1])}


def transmission_efficiency(start: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """The month's data transmission efficiency per outlet (the month the interval starts in)."""
    from transforms.qc.availability import compute_transmission_efficiency

    settings = settings or get_settings()
    month = periods.local_day(start, settings.tz).replace(day=1)
    rows = compute_transmission_efficiency(settings, month)
    below = [r.site_id for r in rows if r.meets_requirement is False]
    return {"month": month.isoformat(), "outlets": len(rows), "below_requirement": below}


# --------------------------------------------------------------------------- derivations
def derive_hours(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Hourly aggregates, O3 8-h means and the real-time AQI for the hours of [start, end)."""
    from transforms.derive.jobs import derive_hourly

    return _summary(derive_hourly(settings or get_settings(), periods.utc(start), periods.utc(end)))


def derive_days(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Daily aggregates, daily AQI, noise day/night, water class, emission totals per local day."""
    from transforms.derive.jobs import derive_daily

    settings = settings or get_settings()
    return {d.isoformat(): _summary(derive_daily(settings, d)) for d in periods.local_days(start, end, settings.tz)}


def derive_month(start: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Monthly statistics and indices (HJ 663), water class and emission totals of the month."""
    from transforms.derive.jobs import derive_monthly

    settings = settings or get_settings()
    month = periods.local_day(start, settings.tz).replace(day=1)
    return _summary(derive_monthly(settings, month))


# --------------------------------------------------------------------------- alerts and cases
def evaluate_alerts(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Evaluate the threshold rules for the periods ending in [start, end), open or update cases,
    escalate cases overdue at `end`, then deliver queued notifications."""
    from alerts.jobs import escalate_overdue, evaluate_rules, send_notifications

    settings = settings or get_settings()
    lo, hi = periods.utc(start), periods.utc(end)
    evaluation = evaluate_rules(settings, lo, hi)
    escalation = escalate_overdue(settings, hi)
    delivery = send_notifications(settings)
    return {"evaluation": _summary(evaluation), "escalation": _summary(escalation),
            "notifications": _summary(delivery)}


# --------------------------------------------------------------------------- publishing
def publish_realtime(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """The real-time page for the last hour of the interval."""
    from publish.jobs import publish_hourly

    return _summary(publish_hourly(settings or get_settings(), periods.utc(end) - timedelta(hours=1)))


def publish_day(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """The daily air quality report for the local day the interval starts on."""
    from publish.jobs import publish_daily

    settings = settings or get_settings()
    return _summary(publish_daily(settings, periods.local_day(start, settings.tz)))


def publish_month(start: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """The monthly disclosure tables for the month the interval starts in."""
    from publish.jobs import publish_monthly

    settings = settings or get_settings()
    return _summary(publish_monthly(settings, periods.local_day(start, settings.tz).replace(day=1)))


# --------------------------------------------------------------------------- maintenance
def maintain(end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Landing-zone compaction and retention as of the interval's end, then a checkpoint."""
    from warehouse.maintenance import run_maintenance

    return _summary(run_maintenance(settings or get_settings(), periods.utc(end)))


# --------------------------------------------------------------------------- whole runs
STAGES = ("hourly", "daily", "monthly", "maintenance")


def run_stage(stage: str, start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Run a DAG's tasks in order without Airflow (the `envmon run` command; same functions)."""
    settings = settings or get_settings()
    if stage == "hourly":
        steps = [
            ("load", lambda: load_and_validate(settings)),
            ("qc", lambda: qc_interval(start, end, settings)),
            ("derive", lambda: derive_hours(start, end, settings)),
            ("alerts", lambda: evaluate_alerts(start, end, settings)),
            ("publish", lambda: publish_realtime(start, end, settings)),
        ]
    elif stage == "daily":
        steps = [
            ("load", lambda: load_and_validate(settings)),
            ("qc", lambda: qc_interval(start, end, settings)),
            ("derive_hours", lambda: derive_hours(start, end, settings)),
            ("derive_days", lambda: derive_days(start, end, settings)),
            ("availability", lambda: availability(start, end, settings)),
            ("alerts", lambda: evaluate_alerts(start, end, settings)),
            ("publish", lambda: publish_day(start, end, settings)),
        ]
    elif stage == "monthly":
        steps = [
            ("derive_month", lambda: derive_month(start, settings)),
            ("transmission_efficiency", lambda: transmission_efficiency(start, settings)),
            ("alerts", lambda: evaluate_alerts(start, end, settings)),
            ("publish", lambda: publish_month(start, settings)),
        ]
    elif stage == "maintenance":
        steps = [("maintenance", lambda: maintain(end, settings))]
    else:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    return {name: step() for name, step in steps}


# --------------------------------------------------------------------------- data intervals
def hour_interval(settings: Settings, local_hour: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a local hour (naive = local time)."""
    start = local_hour if local_hour.tzinfo else local_hour.replace(tzinfo=settings.tz)
    start = start.replace(minute=0, second=0, microsecond=0)
    return periods.utc(start), periods.utc(start) + timedelta(hours=1)


def day_interval(settings: Settings, day: date) -> tuple[datetime, datetime]:
    """[start, end) of a local day (23 or 25 hours long where clocks change)."""
    start = datetime(day.year, day.month, day.day, tzinfo=settings.tz)
    nxt = day + timedelta(days=1)
    return periods.utc(start), periods.utc(datetime(nxt.year, nxt.month, nxt.day, tzinfo=settings.tz))


def month_interval(settings: Settings, month: date) -> tuple[datetime, datetime]:
    """[start, end) of the local month containing `month`."""
    first = month.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return day_interval(settings, first)[0], day_interval(settings, nxt)[0]
