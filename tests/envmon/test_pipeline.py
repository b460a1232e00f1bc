"""The DAG table `envmon.pipeline.DAGS` and `envmon run` (run_stage): each DAG's tasks in an
order that honours their dependencies, each stage given exactly the bounds it names, the
summary keys `envmon run` has always printed, and the data intervals of a local hour, day and
month. That the parsed Airflow DAGs are this table is tests/dags/test_dag_integrity.py."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.settings import Settings
from envmon import pipeline
from envmon.pipeline import DAGS, STAGES, Step, Task, call, check_dags, run_stage

START = datetime(2026, 3, 1, 16, tzinfo=UTC)
END = START + timedelta(days=1)


def test_the_table_is_well_formed() -> None:
    check_dags(DAGS)  # what the module does on import, here with the table as it is
    assert set(STAGES) < set(DAGS)
    assert set(DAGS) - set(STAGES) == {"ingest_files", "load_landing", "province_daily"}


def _task(task_id: str) -> Task:
    return Task(task_id, lambda settings=None: {})


@pytest.mark.parametrize(("steps", "message"), [
    ((Step(_task("a")), Step(_task("a"))), "'a' twice"),
    ((Step(_task("a"), after=("b",)), Step(_task("b"))), r"waits for \['b'\], not listed before it"),
    ((Step(_task("a")), Step(_task("b")), Step(_task("c"), after=("a", "b"), per_region=True)),
     "mapped over one upstream task"),
])
def test_a_malformed_table_is_refused(steps: tuple[Step, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_dags({"x": steps})


def test_every_stage_takes_only_what_call_gives_and_a_mapped_one_its_region() -> None:
    for dag_id, steps in DAGS.items():
        for step in steps:
            params = inspect.signature(step.task.stage).parameters
            assert set(params) <= {"region", "start", "end", "settings"}, (dag_id, step.task.task_id)
            assert ("region" in params) == step.per_region, (dag_id, step.task.task_id)
            assert params["settings"].default is None, (dag_id, step.task.task_id)


def test_call_gives_a_stage_the_bounds_it_names(settings: Settings) -> None:
    seen: list[dict[str, Any]] = []

    def start_only(start: datetime, settings: Settings | None = None) -> dict:
        seen.append({"start": start, "settings": settings})
        return {}

    def end_only(end: datetime, settings: Settings | None = None) -> dict:
        seen.append({"end": end, "settings": settings})
        return {}

    def interval_free(settings: Settings | None = None) -> dict:
        seen.append({"settings": settings})
        return {}

    def per_region(region: str, start: datetime, end: datetime, settings: Settings | None = None) -> dict:
        seen.append({"region": region, "start": start, "end": end, "settings": settings})
        return {}

    for stage in (start_only, end_only, interval_free, per_region):
        call(Task("t", stage), START, END, settings, region="north")
    assert seen == [
        {"start": START, "settings": settings},
        {"end": END, "settings": settings},
        {"settings": settings},
        {"region": "north", "start": START, "end": END, "settings": settings},
    ]
    assert call(Task("t", start_only), START, END) == {}  # Airflow's way: no settings, the stage finds them
    assert seen[-1] == {"start": START, "settings": None}


# The keys `envmon run` prints: the task ids, but for the derivations and maintenance the names
# the command printed before the table existed.
RUN_KEYS = {
    "hourly": ["load", "qc", "derive", "alerts", "publish"],
    "daily": ["load", "qc", "derive_hours", "derive_days", "availability", "alerts", "publish"],
    "monthly": ["derive_month", "transmission_efficiency", "alerts", "publish"],
    "maintenance": ["maintenance"],
}
RUN_STAGES = {
    "hourly": ["load_and_validate", "qc_interval", "derive_hours", "evaluate_alerts", "publish_realtime"],
    "daily": ["load_and_validate", "qc_interval", "derive_hours", "derive_days", "availability",
              "evaluate_alerts", "publish_day"],
    "monthly": ["derive_month", "transmission_efficiency", "evaluate_alerts", "publish_month"],
    "maintenance": ["maintain"],
}


@pytest.mark.parametrize("stage", STAGES)
def test_run_stage_runs_the_table_in_order(stage: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, datetime, datetime, Settings]] = []

    def record(task: Task, start: datetime, end: datetime, given: Settings) -> dict:
        ran.append((task.stage.__name__, start, end, given))
        return {"task": task.task_id}

    monkeypatch.setattr(pipeline, "call", record)
    result = run_stage(stage, START, END, settings)
    assert list(result) == RUN_KEYS[stage]
    assert [r[0] for r in ran] == RUN_STAGES[stage]
    assert [v["task"] for v in result.values()] == [s.task.task_id for s in DAGS[stage]]
    assert {(r[1], r[2], r[3]) for r in ran} == {(START, END, settings)}


def test_run_stage_refuses_a_dag_it_does_not_run(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown stage 'province_daily'; valid: hourly, daily, monthly, maintenance"):
        run_stage("province_daily", START, END, settings)


def test_intervals_of_a_local_hour_day_and_month(settings: Settings) -> None:
    assert settings.timezone == "Asia/Shanghai"  # UTC+8, no daylight saving
    assert pipeline.hour_interval(settings, datetime(2026, 3, 1, 8, 30)) == (
        datetime(2026, 3, 1, 0, tzinfo=UTC), datetime(2026, 3, 1, 1, tzinfo=UTC))
    assert pipeline.day_interval(settings, date(2026, 3, 1)) == (
        datetime(2026, 2, 28, 16, tzinfo=UTC), datetime(2026, 3, 1, 16, tzinfo=UTC))
    assert pipeline.month_interval(settings, date(2026, 2, 17)) == (
        datetime(2026, 1, 31, 16, tzinfo=UTC), datetime(2026, 2, 28, 16, tzinfo=UTC))
    assert pipeline.month_interval(settings, date(2024, 12, 31)) == (
        datetime(2024, 11, 30, 16, tzinfo=UTC), datetime(2024, 12, 31, 16, tzinfo=UTC))
