"""Pipeline commands: `envmon run hourly|daily|monthly|maintenance` runs a DAG's tasks directly
(the same functions, no Airflow), and `envmon dags setup|run` runs the real DAGs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from core import periods
from core.errors import EnvmonError
from core.settings import get_settings

console = Console()
run_app = typer.Typer(help="Run a pipeline stage for a data interval without Airflow.", no_args_is_help=True)
dags_app = typer.Typer(help="The Airflow DAGs: set up Airflow, run DAGs for data intervals.", no_args_is_help=True)

Hour = Annotated[datetime | None, typer.Option("--hour", formats=["%Y-%m-%dT%H", "%Y-%m-%dT%H:%M"],
                                               help="local hour, e.g. 2026-03-01T08")]
Day = Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="local date")]
To = Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d", "%Y-%m-%dT%H", "%Y-%m"],
                                             help="last date/hour/month included (default: the first)")]
Month = Annotated[datetime | None, typer.Option("--month", formats=["%Y-%m"], help="month, YYYY-MM")]
AsJson = Annotated[bool, typer.Option("--json", help="print each interval's summary as one JSON object a line "
                                                   "(stage, start, end in UTC, result) instead of the text")]


def _clock() -> datetime:
    """Now, read once at the command's boundary (tests replace it)."""
    return datetime.now(UTC)


# How a stage's interval is named in a refusal: its local start, to the hour, day or month.
_NAMES = {"hourly": ("the hour", "%Y-%m-%dT%H"), "daily": ("the day", "%Y-%m-%d"),
          "maintenance": ("the day", "%Y-%m-%d"), "monthly": ("the month", "%Y-%m")}


def _intervals(stage: str, hour: datetime | None, day: datetime | None, month: datetime | None,
               to: datetime | None) -> list[tuple[datetime, datetime]]:
    """The intervals to run, in order; refused whole, before any task runs, unless the last one
    has ended (core.periods.require_ended): a scheduled run's interval always has."""
    out = _listed(stage, hour, day, month, to)
    if out:
        tz = get_settings().tz
        start, end = out[-1]
        label, fmt = _NAMES[stage]
        periods.require_ended(start, end, _clock(), f"{label} {start.astimezone(tz):{fmt}}", tz,
                              "run it once it has ended")
    return out


def _listed(stage: str, hour: datetime | None, day: datetime | None, month: datetime | None,
            to: datetime | None) -> list[tuple[datetime, datetime]]:
    from envmon.pipeline import STAGES, day_interval, hour_interval, month_interval

    settings = get_settings()
    if stage == "hourly":
        if hour is None:
            raise EnvmonError("hourly needs --hour YYYY-MM-DDTHH (local)")
        last = to or hour
        out, h = [], hour
        while h <= last:
            out.append(hour_interval(settings, h))
            h += timedelta(hours=1)
        return out
    if stage in ("daily", "maintenance"):
        if day is None:
            raise EnvmonError(f"{stage} needs --date YYYY-MM-DD (local)")
        first, last = day.date(), (to or day).date()
        return [day_interval(settings, first + timedelta(days=n)) for n in range((last - first).days + 1)]
    if stage == "monthly":
        if month is None:
            raise EnvmonError("monthly needs --month YYYY-MM")
        out, m = [], month.date().replace(day=1)
        last_m = (to or month).date().replace(day=1)
        while m <= last_m:
            out.append(month_interval(settings, m))
            m = (m + timedelta(days=32)).replace(day=1)
        return out
    raise EnvmonError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")


@contextmanager
def _deliveries_reported_here() -> Iterator[None]:
    """The run's summary names its failed deliveries (grouped by channel and error), so the
    delivery log's warnings, which say the same, are not printed beside it."""
    delivery_log = logging.getLogger("notify.delivery")
    level = delivery_log.level
    delivery_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        delivery_log.setLevel(level)


def _names(person_ids: set[str]) -> dict[str, str]:
    """Person id -> "李艳 Li Yan" of the officers named (the registry is read only when any is)."""
    if not person_ids:
        return {}
    from core.registry.config import load_registry

    registry = load_registry(get_settings().config_dir)
    return {o.officer_id: f"{o.name_zh} {o.name_en}" for g in registry.grids.values() for o in g.officers
            if o.officer_id in person_ids}  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(run_app, name="run")
    app.add_typer(dags_app, name="dags")

    from envmon.pipeline import STAGES

    for stage in STAGES:
        def command(hour: Hour = None, day: Day = None, month: Month = None, to: To = None,
                    as_json: AsJson = False, _stage: str = stage) -> None:
            from envmon.pipeline import run_stage
            from envmon.run_summary import escalated_to, heading, summary_lines

            tz = get_settings().tz
            for start, end in _intervals(_stage, hour, day, month, to):
                with _deliveries_reported_here():
                    result = run_stage(_stage, start, end)
                if as_json:  # one object per interval, on one line: its bounds and the summary
                    typer.echo(json.dumps({"stage": _stage, "start": start.isoformat(), "end": end.isoformat(),
                                           "result": result}, ensure_ascii=False, default=str))
                    continue
                console.print(heading(_stage, start, end, tz), style="bold", markup=False, highlight=False)
                for line in summary_lines(_stage, result, _names(escalated_to(result))):
                    console.print("  " + line, markup=False, highlight=False, soft_wrap=True)

        command.__doc__ = f"Run the {stage} DAG's tasks in order for the given interval(s), without Airflow."
        run_app.command(stage)(command)


@dags_app.command("setup")
def dags_setup() -> None:
    """Create Airflow's metadata DB under ENVMON_HOME/airflow and the `warehouse` pool (1 slot)."""
    from envmon.airflow_runner import ensure_airflow

    env = ensure_airflow(get_settings())
    console.print(f"Airflow ready: AIRFLOW_HOME={env['AIRFLOW_HOME']}, dags {env['AIRFLOW__CORE__DAGS_FOLDER']}")
    console.print("export these two variables to run `airflow standalone` or the scheduler on this home")


@dags_app.command("run")
def dags_run(
    dag_id: Annotated[str, typer.Argument(help="hourly | daily | monthly | maintenance")],
    hour: Hour = None, day: Day = None, month: Month = None, to: To = None,
) -> None:
    """Run a real DAG (dag.test, as `airflow dags test`) for each interval, in order."""
    from envmon.airflow_runner import run_dags
    from envmon.run_summary import heading

    runs = [(dag_id, end) for _start, end in _intervals(dag_id, hour, day, month, to)]
    failed = 0
    tz = get_settings().tz
    for r in run_dags(runs):
        try:  # the run's interval in local time (Airflow's bounds carry their offset: UTC)
            bounds = [periods.from_stored(datetime.fromisoformat(t)) for t in (r.interval_start, r.interval_end)]
            interval = heading(r.dag_id, *bounds, tz)
        except (TypeError, ValueError):
            interval = f"{r.dag_id} {r.interval_start}..{r.interval_end}"
        console.print(f"{interval}: {r.state} ({r.seconds} s) " + ", ".join(f"{k}={v}" for k, v in r.task_states.items()),
                      markup=False, highlight=False, soft_wrap=True)
        failed += r.state != "success"
    if failed:
        raise typer.Exit(1)

