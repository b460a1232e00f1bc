"""A task that fails for good is written to the pipeline log and sent to the channels that
subscribe to `pipeline_failed`; a channel that is down never masks the task's own failure."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from core.settings import REPO_ROOT, get_settings, reset_settings_cache
from envmon.dag_defaults import on_task_failure


def context(error: str) -> dict:
    ti = SimpleNamespace(dag_id="daily", task_id="aggregate_day", run_id="scheduled__2026-03-10", try_number=4)
    return {"ti": ti, "exception": RuntimeError(error)}


def test_failure_is_logged_and_sent_to_the_log_channel_even_with_the_webhook_down() -> None:
    on_task_failure(context("disk full"))  # the shipped webhook (127.0.0.1:8089) is not listening
    log_dir = Path(get_settings().log_dir)
    failures = [json.loads(line) for line in (log_dir / "pipeline_failures.jsonl").read_text().splitlines()]
    assert [(f["dag_id"], f["task_id"], f["error"]) for f in failures] == [("daily", "aggregate_day", "disk full")]
    notices = [json.loads(line) for line in (log_dir / "alerts.log").read_text().splitlines()]
    assert len(notices) == 1 and notices[0]["error"] == "disk full"
    assert notices[0]["subject"] == "envmon pipeline: daily.aggregate_day failed"


def test_failure_notice_reaches_a_webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "config"
    import shutil

    shutil.copytree(REPO_ROOT / "config", config)
    notifications = yaml.safe_load((config / "notifications.yaml").read_text())
    for channel in notifications["channels"]:
        if channel["kind"] == "webhook":
            channel["url"] = f"http://127.0.0.1:{server.server_port}/hook"
    (config / "notifications.yaml").write_text(yaml.safe_dump(notifications, allow_unicode=True))
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(config))
    reset_settings_cache()
    try:
        on_task_failure(context("lock timeout"))
    finally:
        server.shutdown()
    assert [(r["dag_id"], r["error"]) for r in received] == [("daily", "lock timeout")]
