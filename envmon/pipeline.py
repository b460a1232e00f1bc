"""The pipeline's stages and the one table of which DAG runs which of them, in what order
(`DAGS`): the Airflow tasks call the stages through it, and so does `envmon run ...`.

Every stage works on the data interval it is given (a half-open UTC range, or a local day or
month), never on "now", so re-running a date or backfilling a month gives the same result as
running it on time. Each stage opens the warehouse itself (under the writer lock), so a task is
one call, and returns a small JSON-able summary for the task log.

Heavy imports happen inside the stages: DAG files import this module at parse time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core import periods
from core.settings import Settings, get_settings

# Assets (data-aware scheduling) the tasks update: the file DAG's landing batches start the
# load DAG. Here, not in envmon.dag_defaults, so that `envmon` starts without pendulum.
LANDING_URI = "envmon://landing/readings"
AQI_DAILY_URI = "envmon://warehouse/aqi_daily"


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
    from transforms.derive import derive_hourly

    return _summary(derive_hourly(settings or get_settings(), periods.utc(start), periods.utc(end)))


def derive_days(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Daily aggregates, daily AQI, noise day/night, water class, emission totals per local day."""
    from transforms.derive import derive_daily

    settings = settings or get_settings()
    days = periods.local_days(start, end, settings.tz)
    now = datetime.now(UTC)  # a scheduled run starts after its interval: never refused
    for d in days:
        lo, hi = periods.local_day_range(d, settings.tz)
        periods.require_ended(lo, hi, now, f"the day {d.isoformat()}", settings.tz)
    return {d.isoformat(): _summary(derive_daily(settings, d)) for d in days}


def derive_month(start: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Monthly statistics and indices (HJ 663), water class and emission totals of the month."""
    from transforms.derive import derive_monthly

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


# --------------------------------------------------------------------------- province partitions
def region_partitions(start: datetime, end: datetime, settings: Settings | None = None) -> list[str]:
    """The region of every (region, local day) partition of [start, end): what the province DAG
    maps its derivation over."""
    from transforms.derive.partitioned import partitions_for

    return [p["region"] for p in partitions_for(settings, start, end)]


def derive_region(region: str, start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """One region's hourly and daily rows of [start, end), written as Parquet partitions (reads
    the warehouse read-only, so the regions run at once)."""
    from transforms.derive.partitioned import compute_partition

    return compute_partition(settings, region, start, end)


def write_region_aggregates(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Replace the rows of [start, end) with every region's partition (the one writer)."""
    from transforms.derive.partitioned import write_partitions

    return write_partitions(settings, start, end)


# --------------------------------------------------------------------------- the DAGs' tasks
@dataclass(frozen=True)
class Task:
    """A task of the DAGs: its id, the stage it calls, and how Airflow runs it."""

    task_id: str
    stage: Callable[..., Any]  # a stage above; `call` gives it what it names of start, end, region
    writes: bool = True  # writes the warehouse: runs in the single-slot `warehouse` pool
    outlet: str | None = None  # URI of the Asset the task updates


SCAN_INBOX = Task("scan_inbox", ingest_inbox, writes=False, outlet=LANDING_URI)
LOAD = Task("load", load_and_validate)
QC = Task("qc", qc_interval)
AGGREGATE_HOURS = Task("aggregate_hours", derive_hours)
AGGREGATE_DAY = Task("aggregate_day", derive_days, outlet=AQI_DAILY_URI)
AGGREGATE_MONTH = Task("aggregate_month", derive_month)
AVAILABILITY = Task("availability", availability)
TRANSMISSION_EFFICIENCY = Task("transmission_efficiency", transmission_efficiency)
ALERTS = Task("alerts", evaluate_alerts)
PUBLISH_REALTIME = Task("publish", publish_realtime, writes=False)
PUBLISH_DAY = Task("publish", publish_day, writes=False)
PUBLISH_MONTH = Task("publish", publish_month, writes=False)
COMPACT_AND_CHECKPOINT = Task("compact_and_checkpoint", maintain)
PARTITIONS = Task("partitions", region_partitions, writes=False)
AGGREGATE_REGION = Task("aggregate_region", derive_region, writes=False)
WRITE_AGGREGATES = Task("write_aggregates", write_region_aggregates, outlet=AQI_DAILY_URI)


@dataclass(frozen=True)
class Step:
    """A task's place in a DAG: the tasks it waits for."""

    task: Task
    after: tuple[str, ...] = ()  # task ids of this DAG that finish first
    per_region: bool = False  # one task per region of the list its one upstream task returns
    key: str | None = None  # its summary's name in `envmon run` output, where not the task id


# The one definition of each DAG's tasks and their order: the DAG files build their tasks from
# it (`envmon.dag_tasks.add_tasks`) and `run_stage` runs it. Steps are listed in an order that
# honours `after`: the order `envmon run` runs them in, one at a time.
DAGS: dict[str, tuple[Step, ...]] = {
    "ingest_files": (Step(SCAN_INBOX),),
    "load_landing": (Step(LOAD),),
    "hourly": (
        Step(LOAD),
        Step(QC, after=("load",)),
        Step(AGGREGATE_HOURS, after=("qc",), key="derive"),
        Step(ALERTS, after=("aggregate_hours",)),
        Step(PUBLISH_REALTIME, after=("alerts",)),
    ),
    "daily": (
        Step(LOAD),
        Step(QC, after=("load",)),
        Step(AGGREGATE_HOURS, after=("qc",), key="derive_hours"),
        Step(AGGREGATE_DAY, after=("aggregate_hours",), key="derive_days"),
        Step(AVAILABILITY, after=("aggregate_day",)),
        Step(ALERTS, after=("aggregate_day",)),
        Step(PUBLISH_DAY, after=("aggregate_day",)),
    ),
    "province_daily": (
        Step(LOAD),
        Step(QC, after=("load",)),
        Step(PARTITIONS, after=("qc",)),
        Step(AGGREGATE_REGION, after=("partitions",), per_region=True),
        Step(WRITE_AGGREGATES, after=("aggregate_region",)),
        Step(AVAILABILITY, after=("write_aggregates",)),
        Step(ALERTS, after=("write_aggregates",)),
        Step(PUBLISH_DAY, after=("write_aggregates",)),
    ),
    "monthly": (
        Step(AGGREGATE_MONTH, key="derive_month"),
        Step(TRANSMISSION_EFFICIENCY),
        Step(ALERTS, after=("aggregate_month", "transmission_efficiency")),
        Step(PUBLISH_MONTH, after=("alerts",)),
    ),
    "maintenance": (Step(COMPACT_AND_CHECKPOINT, key="maintenance"),),
}
# The DAGs `envmon run` runs without Airflow (province_daily is daily, partitioned).
STAGES = ("hourly", "daily", "monthly", "maintenance")


def check_dags(dags: dict[str, tuple[Step, ...]]) -> None:
    """Refuse a table whose DAG repeats a task id, waits for a task not listed before it, or maps
    a task over anything but one upstream task."""
    for dag_id, steps in dags.items():
        seen: set[str] = set()
        for step in steps:
            task_id = step.task.task_id
            if task_id in seen:
                raise ValueError(f"DAG {dag_id}: task {task_id!r} twice")
            unknown = [t for t in step.after if t not in seen]
            if unknown:
                raise ValueError(f"DAG {dag_id}: {task_id!r} waits for {unknown}, not listed before it")
            if step.per_region and len(step.after) != 1:
                raise ValueError(f"DAG {dag_id}: {task_id!r} is mapped over one upstream task, not {step.after}")
            seen.add(task_id)


check_dags(DAGS)


def call(task: Task, start: datetime | None, end: datetime | None, settings: Settings | None = None,
         region: str | None = None) -> Any:
    """Call a task's stage with what its signature names of the interval's bounds, the settings
    and (for a mapped task) its region: the one way both Airflow and `envmon run` call it."""
    given = {"region": region, "start": start, "end": end, "settings": settings}
    wanted = inspect.signature(task.stage).parameters
    return task.stage(**{name: value for name, value in given.items() if name in wanted})


def run_stage(stage: str, start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Run a DAG's tasks in the order of `DAGS` without Airflow (the `envmon run` command)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    settings = settings or get_settings()
    return {step.key or step.task.task_id: call(step.task, start, end, settings) for step in DAGS[stage]}


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
