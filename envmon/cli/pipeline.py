"""Pipeline commands: `envmon run hourly|daily|monthly|maintenance` runs a DAG's tasks directly
(the same functions, no Airflow), and `envmon dags setup|run` runs the real DAGs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

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
    from core import periods

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


def register(app: typer.Typer) -> None:
    app.add_typer(run_app, name="run")
    app.add_typer(dags_app, name="dags")

    from envmon.pipeline import STAGES

    for stage in STAGES:
        def command(hour: Hour = None, day: Day = None, month: Month = None, to: To = None,
                    _stage: str = stage) -> None:
            from envmon.pipeline import run_stage

            for start, end in _intervals(_stage, hour, day, month, to):
                result = run_stage(_stage, start, end)
                console.print(f"[bold]{_stage}[/] {start:%Y-%m-%d %H:%M}Z..{end:%Y-%m-%d %H:%M}Z")
                console.print_json(json.dumps(result, ensure_ascii=False, default=str))

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

    runs = [(dag_id, end) for _start, end in _intervals(dag_id, hour, day, month, to)]
    failed = 0
    for r in run_dags(runs):
        console.print(f"{r.dag_id} {r.interval_start}..{r.interval_end}: {r.state} ({r.seconds} s) "
                      + ", ".join(f"{k}={v}" for k, v in r.task_states.items()))
        failed += r.state != "success"
    if failed:
        raise typer.Exit(1)

