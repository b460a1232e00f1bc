"""Run the real DAGs for given data intervals, the way `airflow dags test` does, in one process.

Airflow reads its configuration when it is first imported, so the DAG runs happen in a child
process whose environment points Airflow at a home under ENVMON_HOME (SQLite metadata DB,
dags/ of this repository, no examples). In that child every run is `dag.test()`: the real DAG,
its real tasks in dependency order, retries included, with the data interval that the
scheduler would give the run. Loading the DAGs once and running many intervals in the same
process keeps a day of hourly runs to seconds each.

    python -m envmon.airflow_runner hourly 2026-03-01T01:00:00+08:00 ...   (interval ends)

For a data-interval timetable, the interval of a run is the last whole interval ending at or
before the date given: to run the local day 2026-03-01, give 2026-03-02T00:00+08:00.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.errors import EnvmonError
from core.settings import REPO_ROOT, Settings, get_settings

DAGS_FOLDER = REPO_ROOT / "dags"
RESULT_PREFIX = "ENVMON-DAG-RUN "


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    interval_start: str
    interval_end: str
    state: str
    task_states: dict[str, str]
    task_tries: dict[str, int]
    seconds: float


def airflow_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an Airflow process serving this envmon home."""
    env = dict(os.environ if base is None else base)
    home = Path(settings.home) / "airflow"
    env.setdefault("AIRFLOW_HOME", str(home))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    env.setdefault("AIRFLOW__CORE__DEFAULT_TIMEZONE", settings.timezone)
    env["ENVMON_HOME"] = str(settings.home)
    env.setdefault("ENVMON_TZ", settings.timezone)
    return env


def _airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def ensure_airflow(settings: Settings) -> dict[str, str]:
    """Create Airflow's metadata DB and the single-slot `warehouse` pool when missing."""
    from envmon.dag_defaults import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS

    env = airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".envmon-ready"
    if marker.exists():
        return env
    for args in (
        ["db", "migrate"],
        ["pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS), "envmon warehouse: one DuckDB writer"],
    ):
        done = subprocess.run([_airflow_bin(), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise EnvmonError(f"`airflow {' '.join(args)}` failed:\n{done.stderr[-3000:]}")
    marker.write_text("ok\n")
    return env


def run_dags(
    runs: list[tuple[str, datetime]],
    settings: Settings | None = None,
    *,
    extra_env: dict[str, str] | None = None,
    echo: bool = False,
    on_result: Callable[[DagRunResult], None] | None = None,
) -> list[DagRunResult]:
    """Run each (dag_id, interval end) in order in one Airflow child process; `on_result` sees
    each run as it finishes."""
    settings = settings or get_settings()
    env = ensure_airflow(settings)
    env.update(extra_env or {})
    args = [sys.executable, "-m", "envmon.airflow_runner"]
    for dag_id, end in runs:
        if end.tzinfo is None:
            raise ValueError(f"interval end {end.isoformat()} has no time zone")
        args += [dag_id, end.isoformat()]
    log_path = Path(env["AIRFLOW_HOME"]) / "envmon_runner.log"
    results: list[DagRunResult] = []
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(RESULT_PREFIX):
                result = DagRunResult(**json.loads(line.removeprefix(RESULT_PREFIX)))
                results.append(result)
                if on_result is not None:
                    on_result(result)
        returncode = proc.wait()
    if echo or returncode != 0 or len(results) != len(runs):
        sys.stderr.write(log_path.read_text(encoding="utf-8", errors="replace")[-20000:])
    if returncode != 0 or len(results) != len(runs):
        raise EnvmonError(
            f"the Airflow runner stopped after {len(results)} of {len(runs)} DAG runs "
            f"(exit {returncode}); its log: {log_path}"
        )
    return results


def _main(argv: list[str]) -> int:
    if len(argv) % 2:
        print("usage: python -m envmon.airflow_runner DAG_ID INTERVAL_END [DAG_ID INTERVAL_END ...]",
              file=sys.stderr)
        return 2
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_FOLDER))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"{path}: {error}", file=sys.stderr)
        return 1
    failed = False
    for dag_id, end_text in zip(argv[::2], argv[1::2], strict=True):
        dag = bag.get_dag(dag_id)
        if dag is None:
            print(f"no DAG {dag_id!r}; known: {', '.join(sorted(bag.dag_ids))}", file=sys.stderr)
            return 2
        started = time.monotonic()
        run = dag.test(logical_date=pendulum.parse(end_text))
        instances = run.get_task_instances()
        tis = {ti.task_id: str(ti.state) for ti in instances}
        result = DagRunResult(
            dag_id=dag_id,
            interval_start=run.data_interval_start.isoformat(),
            interval_end=run.data_interval_end.isoformat(),
            state=str(run.state),
            task_states=tis,
            task_tries={ti.task_id: int(ti.try_number) for ti in instances},
            seconds=round(time.monotonic() - started, 2),
        )
        print(RESULT_PREFIX + json.dumps(result.__dict__), flush=True)
        failed = failed or result.state != "success"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
