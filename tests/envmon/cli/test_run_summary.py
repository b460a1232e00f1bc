"""`envmon run`: per interval a heading in local time and one line of plain words per task
(envmon.run_summary), the JSON behind `--json` (one object a line per interval), and a run whose
deliveries fail names the failure once, grouped, not once per message (issue #20)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from _cli_run import main_exit

from envmon.cli import pipeline as pipeline_cli

SH = ZoneInfo("Asia/Shanghai")

QC = {"readings": 6, "flags": 6, "inserted": 1, "deleted": 0}
LOAD = {"batches_loaded": 0, "rows_inserted": 0, "rows_duplicate": 0, "rows_conflict": 0, "quarantined": 0,
        "batches_validated": 0}  # fmt: skip


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, datetime, datetime]]:
    """`envmon run` with a clock in 2030 and run_stage answering a summary (no task runs)."""
    import envmon.pipeline as pipeline

    calls: list[tuple[str, datetime, datetime]] = []

    def run_stage(stage: str, start: datetime, end: datetime, settings: object = None) -> dict:
        calls.append((stage, start, end))
        return {"load": LOAD, "qc": QC, "surprise": {"count": 2}}

    monkeypatch.setattr(pipeline, "run_stage", run_stage)
    monkeypatch.setattr(pipeline_cli, "_clock", lambda: datetime(2030, 1, 1, tzinfo=UTC))
    return calls


def test_run_prints_a_local_heading_and_a_line_per_task(stages, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = main_exit(monkeypatch, capsys, "run", "daily", "--date", "2026-11-30")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "daily 2026-11-30 (00:00+08:00 → 2026-12-01 00:00+08:00)",
        "  load: 0 landing batches loaded (0 new readings, 0 already held, 0 conflicting), 0 quarantined; "
        "0 batches validated",
        "  QC: 6 readings checked, 6 QC flags (1 new, 0 removed)",
        "  surprise: count: 2",
    ]
    assert "{" not in out


def test_run_json_is_one_object_a_line_per_interval(stages, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = main_exit(monkeypatch, capsys, "run", "hourly", "--hour", "2026-11-30T23", "--to",
                               "2026-12-01T00", "--json")
    assert (code, err) == (0, "")
    objects = [json.loads(line) for line in out.splitlines()]
    assert objects == [
        {"stage": "hourly", "start": "2026-11-30T15:00:00+00:00", "end": "2026-11-30T16:00:00+00:00",
         "result": {"load": LOAD, "qc": QC, "surprise": {"count": 2}}},
        {"stage": "hourly", "start": "2026-11-30T16:00:00+00:00", "end": "2026-11-30T17:00:00+00:00",
         "result": {"load": LOAD, "qc": QC, "surprise": {"count": 2}}},
    ]
    assert [s for s, _, _ in stages] == ["hourly", "hourly"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.network
def test_deliveries_that_fail_are_named_once_grouped(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """12 messages to a webhook nobody listens on (loopback, refused): one line in the summary, and
    no line per message on stderr."""
    import envmon.pipeline as pipeline
    from notify.config import NotificationConfig, WebhookChannel
    from notify.delivery import deliver, settle
    from notify.notice import Message

    url = f"http://127.0.0.1:{_closed_port()}/hook"
    config = NotificationConfig(channels=[WebhookChannel(channel_id="duty_webhook", kind="webhook", url=url,
                                                         events=["alert_firing"], timeout_s=2)])
    messages = [Message(f"N{k:02d}", "duty_webhook", url, "s", "{}", 0) for k in range(12)]

    def run_stage(stage: str, start: datetime, end: datetime, settings: object = None) -> dict:
        now = datetime(2030, 1, 1, tzinfo=UTC)
        _settled, report = settle(config, messages, deliver(messages, config, settings_log_dir()), now)
        return {"alerts": {"evaluation": {"rules_evaluated": 1, "periods_evaluated": 1, "alerts_opened": [],
                                          "alerts_resolved": [], "cases_opened": [], "notifications_queued": 0},
                           "escalation": {"escalated": [], "continuing_days": {}},
                           "notifications": pipeline._summary(report)}}

    def settings_log_dir():  # type: ignore[no-untyped-def]
        from core.settings import get_settings

        return get_settings().log_dir

    monkeypatch.setattr(pipeline, "run_stage", run_stage)
    monkeypatch.setattr(pipeline_cli, "_clock", lambda: datetime(2030, 1, 1, tzinfo=UTC))
    code, out, err = main_exit(monkeypatch, capsys, "run", "daily", "--date", "2026-11-30")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    failed = [ln for ln in lines if "failed" in ln]
    assert failed == [f"  notifications: 0 sent; 12 notifications failed (12 to retry, 0 given up): "
                      f"12 × duty_webhook {url}: URLError: [Errno 111] Connection refused"]
    assert len(lines) == 4  # heading, alerts, escalation, notifications


def test_dags_run_names_each_run_in_local_time(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import envmon.airflow_runner as runner

    def run_dags(runs, *a, **k):  # type: ignore[no-untyped-def]
        return [runner.DagRunResult("daily", "2026-11-29T16:00:00+00:00", "2026-11-30T16:00:00+00:00", "success",
                                    {"load": "success", "qc": "success"}, {"load": 1, "qc": 1}, 12.5)]

    monkeypatch.setattr(runner, "run_dags", run_dags)
    monkeypatch.setattr(pipeline_cli, "_clock", lambda: datetime(2030, 1, 1, tzinfo=UTC))
    code, out, err = main_exit(monkeypatch, capsys, "dags", "run", "daily", "--date", "2026-11-30")
    assert (code, err) == (0, "")
    assert out == ("daily 2026-11-30 (00:00+08:00 → 2026-12-01 00:00+08:00): success (12.5 s) "
                   "load=success, qc=success\n")
