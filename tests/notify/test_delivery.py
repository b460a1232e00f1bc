"""notify.delivery: over a real local SMTP sink and HTTP server (delivery, one SMTP session per
run, retries, no loss), the retry policy (`settle`), and a pipeline failure sent at once."""

from __future__ import annotations

import email
import json
import shutil
import socket
import socketserver
import threading
from datetime import timedelta
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _alerts_helpers import add_aggregates, hours, local, rows

from alerts.jobs import evaluate_rules, send_notifications
from core.settings import reset_settings_cache
from notify.config import LogChannel, load_notification_config
from notify.delivery import DeliveryReport, Settled, send_now, send_one, settle
from notify.notice import Message, pipeline_failure

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
network = pytest.mark.network


class SmtpSink(socketserver.ThreadingTCPServer):
    """A minimal SMTP server on loopback that keeps every message it accepts."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.sessions = 0
        super().__init__(("127.0.0.1", port), _SmtpHandler)


class HangUp(socketserver.ThreadingTCPServer):
    """Accepts a connection and closes it at once (a server that is up but not answering)."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int) -> None:
        self.connections = 0
        super().__init__(("127.0.0.1", port), _HangUpHandler)


class _HangUpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]


class _SmtpHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.server.sessions += 1  # type: ignore[attr-defined]

        def say(line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        say("220 sink ESMTP")
        while line := self.rfile.readline():
            cmd = line.decode("utf-8", "replace").strip().upper()
            if cmd.startswith("EHLO"):
                say("250-sink")
                say("250 8BITMIME")
            elif cmd.startswith(("HELO", "MAIL", "RCPT", "RSET", "NOOP")):
                say("250 ok")
            elif cmd == "DATA":
                say("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append(email.message_from_bytes(data, policy=default_policy))  # type: ignore[attr-defined]
                say("250 queued")
            elif cmd == "QUIT":
                say("221 bye")
                return
            else:
                say("502 not implemented")


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def channels(wh, tmp_path, monkeypatch):
    """A copy of the configuration whose channels point at this test's ports."""
    config = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, config)
    smtp_port, http_port = _free_port(), _free_port()
    text = (config / "notifications.yaml").read_text(encoding="utf-8")
    text = text.replace("smtp_port: 25", f"smtp_port: {smtp_port}").replace(
        "127.0.0.1:8089", f"127.0.0.1:{http_port}"
    )
    (config / "notifications.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(config))
    reset_settings_cache()
    from core.settings import get_settings

    return get_settings(), smtp_port, http_port


def _fire(settings) -> None:
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        settings,
        "huaneng_gaobeidian_da001",
        "so2",
        "hour_avg_o2",
        list(zip(hours(t0, 1), [75.0], strict=True)),
    )
    evaluate_rules(settings, t0, t0 + timedelta(hours=1), rule_ids=["flue_gas_hour_over_permit"])


@network
def test_email_webhook_and_log_delivered(channels):
    settings, smtp_port, http_port = channels
    _fire(settings)
    smtp, http = SmtpSink(smtp_port), ThreadingHTTPServer(("127.0.0.1", http_port), Hook)
    Hook.received = []
    _serve(smtp), _serve(http)
    try:
        report = send_notifications(settings)
    finally:
        smtp.shutdown(), http.shutdown(), smtp.server_close(), http.server_close()
    assert (report.sent, report.retried, report.failed) == (
        6,
        0,
        0,
    )  # case_opened + alert_firing × 3 channels
    assert (
        sorted(m["To"] for m in smtp.messages)
        == ["key.enterprises.responsible@eeb.example.gov.cn"] * 2
    )
    assert all(  # the subject names the enterprise, not the outlet alone
        "华能北京热电厂 燃煤机组烟囱1号" in m["Subject"] for m in smtp.messages
    )
    assert sorted(p["event"] for p in Hook.received) == ["alert_firing", "case_opened"]
    assert {p["max_multiple"] for p in Hook.received} == {1.5}
    lines = (Path(settings.log_dir) / "alerts.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["site_id"] == "huaneng_gaobeidian_da001"
    assert rows(settings, "SELECT DISTINCT status FROM notifications") == [("sent",)]
    assert smtp.sessions == 1  # both e-mails in one SMTP session


@network
def test_a_channel_that_cannot_be_reached_is_tried_once_per_run(channels):
    settings, smtp_port, _ = channels  # the webhook's port: nothing listens (refused)
    _fire(settings)
    smtp = HangUp(smtp_port)  # the SMTP port accepts and hangs up: no greeting
    _serve(smtp)
    try:
        report = send_notifications(settings, now=local(2025, 3, 3, 12))
    finally:
        smtp.shutdown(), smtp.server_close()
    assert (report.sent, report.retried, report.failed) == (2, 4, 0)  # the log channel works
    assert smtp.connections == 1  # not once per e-mail
    errors = rows(
        settings,
        """SELECT channel_id, last_error FROM notifications WHERE status = 'pending'
           ORDER BY channel_id, queued_for, notification_id""",
    )
    for channel in ("duty_webhook", "officer_email"):
        first, second = [e for c, e in errors if c == channel]
        assert "not tried" not in first and first  # the failure itself: refused / disconnected
        assert second.startswith(f"OSError: not tried: {channel} could not be reached")
        assert first in second  # with the reason of the first


@network
def test_servers_down_then_up_retries_and_loses_nothing(channels):
    settings, smtp_port, http_port = channels
    _fire(settings)
    first = local(2025, 3, 3, 12)
    report = send_notifications(settings, now=first)  # nothing listens on either port
    assert (report.sent, report.retried) == (2, 4)  # the log channel works; email and webhook wait
    assert rows(
        settings,
        "SELECT count(*) FROM notifications WHERE status = 'pending' AND attempts = 1 "
        "AND last_error IS NOT NULL",
    ) == [(4,)]
    assert (
        send_notifications(settings, now=first + timedelta(seconds=30)).retried == 0
    )  # backoff 60 s not over
    smtp, http = SmtpSink(smtp_port), ThreadingHTTPServer(("127.0.0.1", http_port), Hook)
    Hook.received = []
    _serve(smtp), _serve(http)
    try:
        report = send_notifications(settings, now=first + timedelta(seconds=61))
    finally:
        smtp.shutdown(), http.shutdown(), smtp.server_close(), http.server_close()
    assert (report.sent, report.retried, report.failed) == (4, 0, 0)
    assert len(smtp.messages) == 2 and len(Hook.received) == 2
    assert rows(
        settings, "SELECT status, count(*), max(attempts) FROM notifications GROUP BY 1"
    ) == [("sent", 6, 2)]


@network
def test_gives_up_after_max_attempts_but_keeps_the_message(channels):
    settings, _, _ = channels
    _fire(settings)
    now = local(2025, 3, 3, 12)
    for _ in range(8):  # retry.max_attempts: 8; backoff capped at an hour
        send_notifications(settings, now=now)
        now += timedelta(hours=2)
    assert rows(settings, "SELECT status, count(*) FROM notifications GROUP BY 1 ORDER BY 1") == [
        ("failed", 4),
        ("sent", 2),
    ]
    assert rows(settings, "SELECT count(*) FROM alerts WHERE state = 'firing'") == [(1,)]


def _message(nid: str, attempts: int) -> Message:
    return Message(nid, "alert_log", "alerts.log", "subject", "{}", attempts)


def test_settle_retries_with_backoff_then_gives_up() -> None:
    config = load_notification_config(REPO_CONFIG)  # max_attempts 8, backoff 60 s × 2^n
    now = local(2025, 3, 3, 12)
    messages = [_message("Nsent", 0), _message("Nfirst", 0), _message("Nseventh", 6)]
    messages += [_message("Nlast", 7), _message("Nskipped", 0)]
    outcome = {"Nsent": None, "Nfirst": "OSError: down", "Nseventh": "OSError: down"}
    outcome["Nlast"] = "OSError: down"  # Nskipped: no outcome (the run stopped before it)
    settled, report = settle(config, messages, outcome, now)
    assert settled == [
        Settled("Nsent", "sent", 1, now, None, None),
        Settled("Nfirst", "pending", 1, None, now + timedelta(seconds=60), "OSError: down"),
        Settled("Nseventh", "pending", 7, None, now + timedelta(seconds=3600), "OSError: down"),
        Settled("Nlast", "failed", 8, None, None, "OSError: down"),
        Settled("Nskipped", "pending", 1, None, now + timedelta(seconds=60), "not attempted"),
    ]
    assert (report.sent, report.retried, report.failed) == (1, 3, 1)
    assert report.errors[0] == "Nfirst (alert_log → alerts.log): OSError: down; will retry"
    assert report.errors[2] == "Nlast (alert_log → alerts.log): OSError: down; gave up"
    assert settle(config, [], {}, now) == ([], DeliveryReport(0, 0, 0, []))


def test_log_channel_appends_one_json_line(tmp_path) -> None:
    channel = LogChannel(channel_id="log", kind="log", events=["alert_firing"])
    message = Message("N1", "log", "alerts.log", "主题", '{"site_id": "s1", "value": 1.5}', 0)
    send_one(channel, message, tmp_path)
    send_one(channel, message, tmp_path)
    lines = (tmp_path / "alerts.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {
        "notification_id": "N1",
        "subject": "主题",
        "site_id": "s1",
        "value": 1.5,
    }


def test_pipeline_failure_sent_at_once_and_a_down_channel_reported(tmp_path) -> None:
    config = load_notification_config(REPO_CONFIG)  # the shipped webhook: nothing listens
    failure = {"dag_id": "daily", "task_id": "aggregate_day", "error": "disk full"}
    outcome = send_now(pipeline_failure(failure, local(2026, 3, 10, 9)), config, tmp_path)
    assert outcome["alert_log:alerts.log"] is None
    assert outcome["duty_webhook:http://127.0.0.1:8089/envmon/alerts"].startswith("URLError")
    (line,) = (tmp_path / "alerts.log").read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    assert (entry["subject"], entry["error"]) == (
        "envmon pipeline: daily.aggregate_day failed",
        "disk full",
    )
