"""What every envmon DAG shares: owner, retries, timeouts, the warehouse pool, schedules in
local time, and the failure callback (the Assets that chain DAGs are in `envmon.pipeline`,
beside the tasks that update them).

Kept in the package (not in dags/) so that the DAG files stay thin and this is testable.
Importing it must stay cheap: Airflow parses DAG files often.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum

OWNER = "envmon"
# The single-slot pool every task that writes the warehouse runs in (DuckDB: one writer).
WAREHOUSE_POOL = "warehouse"
WAREHOUSE_POOL_SLOTS = 1
# Time zone of the schedules: local days and hours as the standards define them.
TIMEZONE = os.environ.get("ENVMON_TZ", "Asia/Shanghai")
# First data interval the DAGs know; backfills go back from here when asked.
START_DATE = pendulum.datetime(2016, 1, 1, tz=TIMEZONE)

# First retry after this long, doubling up to max_retry_delay (tests shorten it).
RETRY_DELAY_S = float(os.environ.get("ENVMON_RETRY_DELAY_S", "30"))

log = logging.getLogger("envmon.dags")


def default_args(*, retries: int = 3, timeout_min: int = 30) -> dict[str, Any]:
    """Retries with exponential backoff, a timeout and the failure callback, for every task."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": timedelta(seconds=RETRY_DELAY_S),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=timeout_min),
        "on_failure_callback": on_task_failure,
    }


def on_task_failure(context: dict[str, Any]) -> None:
    """A task failed for good (retries exhausted): tell the operators on the alert channels.

    Writes the failure to the pipeline log first (never lost), then sends its notice (the same
    `notify.notice.Notice` alerts use) straight to the channels subscribed to `pipeline_failed`;
    a delivery problem is logged, never raised (the task already failed).
    """
    ti = context.get("ti") or context.get("task_instance")
    failed_at = datetime.now(UTC)
    record = {
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "error": str(context.get("exception") or ""),
        "failed_at": failed_at.isoformat(),
    }
    log.error("envmon task failed: %s", record)
    try:
        from core.settings import get_settings

        settings = get_settings()
        log_dir = Path(settings.log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "pipeline_failures.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        from notify.config import load_notification_config
        from notify.delivery import send_now
        from notify.notice import pipeline_failure

        config = load_notification_config(settings.config_dir)
        send_now(pipeline_failure(record, failed_at), config, log_dir)
    except Exception:  # the callback must not mask the task's own failure
        log.exception("could not record or notify the failure of %s", record)
