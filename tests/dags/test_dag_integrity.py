"""Every DAG imports without errors or warnings, quickly, and follows the house rules:
owner, tags, retries, a timeout, the failure callback, and warehouse writers in the
single-slot `warehouse` pool; and each DAG is the table `envmon.pipeline.DAGS` that
`envmon run` runs too."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import get_settings
from envmon import pipeline
from envmon.airflow_runner import DAGS_FOLDER, airflow_env
from envmon.pipeline import DAGS, STAGES

EXPECTED_DAGS = {"ingest_files", "load_landing", "hourly", "daily", "monthly", "maintenance", "province_daily"}
# Tasks that only read the warehouse or never open it; every other task writes it.
NOT_WRITERS = {("ingest_files", "scan_inbox"), ("hourly", "publish"), ("daily", "publish"), ("monthly", "publish"),
               ("province_daily", "partitions"), ("province_daily", "aggregate_region"), ("province_daily", "publish")}
PROBE = Path(__file__).with_name("_dag_probe.py")


@pytest.fixture(scope="module")
def probe() -> dict:
    env = airflow_env(get_settings())
    done = subprocess.run([sys.executable, str(PROBE), str(DAGS_FOLDER)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_dag_imports_without_errors_or_warnings(probe: dict) -> None:
    assert probe["import_errors"] == {}
    assert probe["captured_warnings"] == {}
    assert probe["python_warnings"] == []
    assert set(probe["dags"]) == EXPECTED_DAGS


def test_each_dag_file_parses_well_under_a_second(probe: dict) -> None:
    assert set(probe["files"]) == {p.name for p in DAGS_FOLDER.glob("*.py")}
    slow = {f: s for f, s in probe["files"].items() if s >= 0.5}
    assert slow == {}, f"DAG files taking half a second or more to parse: {slow}"


def test_owner_tags_retries_timeouts_and_failure_callback(probe: dict) -> None:
    for dag_id, dag in probe["dags"].items():
        assert dag["owner"] == "envmon", dag_id
        assert "envmon" in dag["tags"] and len(dag["tags"]) >= 2, dag_id
        assert dag["max_active_runs"] == 1, dag_id
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 2, (dag_id, task_id)
            assert task["timeout_s"] and task["timeout_s"] <= 7200, (dag_id, task_id)
            assert task["on_failure"] == ["envmon.dag_defaults.on_task_failure"], (dag_id, task_id)


def test_warehouse_writers_run_in_the_single_slot_pool(probe: dict) -> None:
    for dag_id, dag in probe["dags"].items():
        for task_id, task in dag["tasks"].items():
            expected = "default_pool" if (dag_id, task_id) in NOT_WRITERS else "warehouse"
            assert task["pool"] == expected, (dag_id, task_id, task["pool"])


def test_interval_dags_use_data_interval_timetables(probe: dict) -> None:
    # hourly/daily/monthly/maintenance work on their run's data interval, never on "now"
    for dag_id in ("hourly", "daily", "monthly", "maintenance"):
        assert probe["dags"][dag_id]["timetable"] == "CronDataIntervalTimetable"
    assert probe["dags"]["load_landing"]["timetable"] == "AssetTriggeredTimetable"


def test_load_landing_runs_on_the_asset_the_inbox_scan_updates(probe: dict) -> None:
    # the file DAG's landing batches start the load DAG: one URI, the table's, on both ends
    assert probe["dags"]["load_landing"]["schedule_assets"] == [pipeline.LANDING_URI]
    assert probe["dags"]["ingest_files"]["tasks"]["scan_inbox"]["outlets"] == [pipeline.LANDING_URI]


def test_hourly_order(probe: dict) -> None:
    tasks = probe["dags"]["hourly"]["tasks"]
    assert tasks["qc"]["upstream"] == ["load"]
    assert tasks["aggregate_hours"]["upstream"] == ["qc"]
    assert tasks["alerts"]["upstream"] == ["aggregate_hours"]
    assert tasks["publish"]["upstream"] == ["alerts"]


def test_dag_files_are_thin() -> None:
    # no business logic in DAG files: each task body is an import and one call
    for path in DAGS_FOLDER.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import duckdb" not in text and "import polars" not in text and "SELECT" not in text, path
        assert len(text.splitlines()) < 80, path


def test_each_dag_is_the_pipeline_table(probe: dict) -> None:
    # the DAGs Airflow parses have exactly the tasks, dependencies, pools and Assets of
    # envmon.pipeline.DAGS: the one definition that `envmon run` runs too
    assert set(probe["dags"]) == set(DAGS)
    for dag_id, steps in DAGS.items():
        parsed = {task_id: (t["upstream"], t["mapped"], t["pool"], t["outlets"])
                  for task_id, t in probe["dags"][dag_id]["tasks"].items()}
        table = {s.task.task_id: (sorted(s.after), s.per_region, "warehouse" if s.task.writes else "default_pool",
                                  [s.task.outlet] if s.task.outlet else [])
                 for s in steps}
        assert parsed == table, dag_id


@pytest.mark.parametrize("stage", STAGES)
def test_envmon_run_runs_the_dag_tasks_in_an_order_airflow_allows(
        probe: dict, stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(pipeline, "call", lambda task, *_a, **_k: ran.append(task.task_id) or {})
    start = datetime(2026, 3, 1, tzinfo=UTC)
    pipeline.run_stage(stage, start, start + timedelta(days=1), get_settings())
    tasks = probe["dags"][stage]["tasks"]
    assert sorted(ran) == sorted(tasks)  # every task of the DAG, once
    for n, task_id in enumerate(ran):
        assert set(tasks[task_id]["upstream"]) <= set(ran[:n]), (stage, task_id)
