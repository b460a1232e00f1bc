"""`envmon.dag_tasks.add_tasks`, run in an Airflow child process (Airflow reads its configuration
on import): each task it adds calls its stage through `envmon.pipeline.call` with the run's data
interval (a per-region task with its region too), in the table's pool, updating the table's
Asset. That the DAG files use it for every DAG is tests/dags/test_dag_integrity.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.settings import get_settings
from envmon.airflow_runner import airflow_env
from envmon.pipeline import DAGS

CHILD = r"""
import json
from datetime import UTC, datetime

import pendulum
from airflow.sdk import dag

from envmon import dag_tasks, pipeline

calls = []
dag_tasks.call = lambda task, start, end, region=None: calls.append(
    [task.task_id, start.isoformat(), end.isoformat(), region]) or {}
start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)


def body(dag_id):
    def tasks():
        dag_tasks.add_tasks(dag_id)
    return tasks


out = {}
for dag_id in pipeline.DAGS:
    built = dag(dag_id=f"probe_{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1))(body(dag_id))()
    tasks = {}
    for t in built.tasks:
        calls.clear()
        kwargs = {"region": "north"} if t.is_mapped else {}
        t.python_callable(data_interval_start=start, data_interval_end=end, **kwargs)
        tasks[t.task_id] = {"pool": t.pool, "outlets": sorted(o.uri for o in t.outlets), "mapped": bool(t.is_mapped),
                            "upstream": sorted(t.upstream_task_ids), "calls": list(calls)}
    out[dag_id] = tasks
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def built() -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD], env=airflow_env(get_settings()), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dag_id", sorted(DAGS))
def test_add_tasks_builds_the_table(built: dict, dag_id: str) -> None:
    tasks = built[dag_id]
    assert list(tasks) == [s.task.task_id for s in DAGS[dag_id]]
    for step in DAGS[dag_id]:
        task = tasks[step.task.task_id]
        assert task["upstream"] == sorted(step.after)
        assert task["mapped"] == step.per_region
        assert task["pool"] == ("warehouse" if step.task.writes else "default_pool")
        assert task["outlets"] == ([step.task.outlet] if step.task.outlet else [])
        region = "north" if step.per_region else None
        assert task["calls"] == [[step.task.task_id, "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00", region]]


def test_the_pools_and_assets_are_the_house_ones(built: dict) -> None:
    assert {t["pool"] for tasks in built.values() for t in tasks.values()} == {"warehouse", "default_pool"}
    assert built["ingest_files"]["scan_inbox"]["outlets"] == ["envmon://landing/readings"]
    assert built["daily"]["aggregate_day"]["outlets"] == ["envmon://warehouse/aqi_daily"]
    assert built["province_daily"]["write_aggregates"]["outlets"] == ["envmon://warehouse/aqi_daily"]
    assert built["province_daily"]["aggregate_region"]["mapped"] is True
