"""The Airflow side of the DAG table `envmon.pipeline.DAGS`: `add_tasks(dag_id)` puts a DAG's
tasks, in their order, into the DAG being defined, so a DAG file only says when its DAG runs.

Each task is one `envmon.pipeline.call` of its stage on the run's data interval. Writers of the
warehouse run in the single-slot pool `warehouse`; the publishing tasks and the province's region
partitions only read it, and the inbox scan never opens it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, task

from envmon.dag_defaults import WAREHOUSE_POOL
from envmon.pipeline import DAGS, Step, call

Interval = Any  # Airflow passes pendulum datetimes (tz-aware); the pipeline checks them


def _operator(step: Step) -> Any:
    """The TaskFlow task of a step: its stage called on the run's data interval."""
    t = step.task
    options: dict[str, Any] = {"task_id": t.task_id}
    if t.writes:
        options["pool"] = WAREHOUSE_POOL
    if t.outlet is not None:
        options["outlets"] = [Asset(t.outlet)]
    if step.per_region:

        def run_region(region: str, data_interval_start: Interval = None, data_interval_end: Interval = None) -> Any:
            return call(t, data_interval_start, data_interval_end, region=region)

        return task(**options)(run_region)

    def run(data_interval_start: Interval = None, data_interval_end: Interval = None) -> Any:
        return call(t, data_interval_start, data_interval_end)

    return task(**options)(run)


def add_tasks(dag_id: str) -> None:
    """Add the tasks of `DAGS[dag_id]` and their dependencies to the DAG being defined (call it
    inside the @dag function); a per-region step is mapped over its upstream task's list."""
    made: dict[str, Any] = {}
    for step in DAGS[dag_id]:
        operator = _operator(step)
        if step.per_region:
            made[step.task.task_id] = operator.expand(region=made[step.after[0]])
            continue
        made[step.task.task_id] = node = operator()
        for upstream in step.after:
            made[upstream] >> node
