"""notify.delivery logs a run's failed deliveries once per channel and cause, not once per
message: a webhook that is down with 12 queued messages is one warning (issue #20)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from notify.config import LogChannel, NotificationConfig, WebhookChannel
from notify.delivery import deliver
from notify.notice import Message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.network
def test_a_channel_that_is_down_is_one_warning_for_all_its_messages(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{_closed_port()}/hook"  # loopback, nobody listens: refused
    config = NotificationConfig(channels=[
        WebhookChannel(channel_id="duty_webhook", kind="webhook", url=url, events=["alert_firing"], timeout_s=2),
        LogChannel(channel_id="alert_log", kind="log", events=["alert_firing"]),
    ])  # fmt: skip
    messages = [Message(f"N{k:02d}", "duty_webhook", url, "s", "{}", 0) for k in range(12)]
    messages.append(Message("Nlog", "alert_log", "alerts.log", "s", "{}", 0))
    with caplog.at_level(logging.WARNING, logger="notify.delivery"):
        outcome = deliver(messages, config, tmp_path)
    assert outcome["Nlog"] is None and all(outcome[f"N{k:02d}"] for k in range(12))
    warnings = [r.getMessage() for r in caplog.records if r.name == "notify.delivery"]
    assert len(warnings) == 1
    assert warnings[0].startswith("12 notification(s) via duty_webhook failed: URLError: ")
    assert warnings[0].endswith("Connection refused> (first N00)")
