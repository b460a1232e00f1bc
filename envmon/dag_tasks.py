"""The Airflow tasks the DAG files put together: each one call into `envmon.pipeline` on the
run's data interval. Defined once here so that the DAGs share them; a DAG file only chooses
which tasks run, in what order, on what schedule.

Writers of the warehouse run in the single-slot pool `warehouse`; the publishing tasks only
read it, and the inbox scan never opens it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, task

from envmon.dag_defaults import AQI_DAILY_URI, LANDING_URI, WAREHOUSE_POOL

Interval = Any  # Airflow passes pendulum datetimes (tz-aware); the pipeline checks them


@task(outlets=[Asset(LANDING_URI)])
def scan_inbox() -> dict:
    from envmon.pipeline import ingest_inbox

    return ingest_inbox()


@task(pool=WAREHOUSE_POOL)
def load() -> dict:
    from envmon.pipeline import load_and_validate

    return load_and_validate()


@task(pool=WAREHOUSE_POOL)
def qc(data_interval_start: Interval = None, data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import qc_interval

    return qc_interval(data_interval_start, data_interval_end)


@task(pool=WAREHOUSE_POOL)
def aggregate_hours(data_interval_start: Interval = None, data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import derive_hours

    return derive_hours(data_interval_start, data_interval_end)


@task(pool=WAREHOUSE_POOL, outlets=[Asset(AQI_DAILY_URI)])
def aggregate_day(data_interval_start: Interval = None, data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import derive_days

    return derive_days(data_interval_start, data_interval_end)


@task(pool=WAREHOUSE_POOL)
def aggregate_month(data_interval_start: Interval = None) -> dict:
    from envmon.pipeline import derive_month

    return derive_month(data_interval_start)


@task(pool=WAREHOUSE_POOL)
def availability(data_interval_start: Interval = None, data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import availability as compute

    return compute(data_interval_start, data_interval_end)


@task(pool=WAREHOUSE_POOL)
def transmission_efficiency(data_interval_start: Interval = None) -> dict:
    from envmon.pipeline import transmission_efficiency as compute

    return compute(data_interval_start)


@task(pool=WAREHOUSE_POOL)
def alerts(data_interval_start: Interval = None, data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import evaluate_alerts

    return evaluate_alerts(data_interval_start, data_interval_end)


@task(task_id="publish")
def publish_realtime(data_interval_start: Interval = None, data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import publish_realtime as publish

    return publish(data_interval_start, data_interval_end)


@task(task_id="publish")
def publish_day(data_interval_start: Interval = None, data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import publish_day as publish

    return publish(data_interval_start, data_interval_end)


@task(task_id="publish")
def publish_month(data_interval_start: Interval = None) -> dict:
    from envmon.pipeline import publish_month as publish

    return publish(data_interval_start)


@task(pool=WAREHOUSE_POOL)
def compact_and_checkpoint(data_interval_end: Interval = None) -> dict:
    from envmon.pipeline import maintain

    return maintain(data_interval_end)
