"""Run in an Airflow child process: load dags/ and print what the integrity tests check."""

import json
import sys
import time
import warnings

started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag  # noqa: E402

airflow_import_s = time.perf_counter() - started

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bag = DagBag(sys.argv[1])


def _callbacks(cb):
    """A mapped task (.expand) keeps its callback as given: one function, not a list."""
    return cb if isinstance(cb, list) else [cb] if cb else []


def _asset_uris(condition):
    """URIs of the Assets in a schedule's Asset condition (an Asset, or AssetAll/AssetAny of them)."""
    if condition is None:
        return []
    if hasattr(condition, "uri"):
        return [condition.uri]
    return [uri for part in condition.objects for uri in _asset_uris(part)]


out = {
    "airflow_import_s": airflow_import_s,
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "captured_warnings": {str(k): [str(w) for w in v] for k, v in bag.captured_warnings.items()},
    "python_warnings": [f"{w.filename}:{w.lineno}: {w.message}" for w in caught if "/dags/" in w.filename],
    "files": {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},
    "dags": {},
}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "owner": dag.owner,
        "tags": sorted(dag.tags),
        "max_active_runs": dag.max_active_runs,
        "timetable": type(dag.timetable).__name__,
        "schedule_assets": sorted(_asset_uris(getattr(dag.timetable, "asset_condition", None))),
        "tasks": {
            t.task_id: {
                "pool": t.pool,
                "retries": t.retries,
                "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "on_failure": [f.__module__ + "." + f.__name__ for f in _callbacks(t.on_failure_callback)],
                "upstream": sorted(t.upstream_task_ids),
                "mapped": bool(t.is_mapped),
                "outlets": sorted(o.uri for o in t.outlets),
            }
            for t in dag.tasks
        },
    }
print(json.dumps(out))
