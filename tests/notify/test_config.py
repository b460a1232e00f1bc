"""notify.config: the shipped channels load; a bad file is refused naming the file, the key
and the choices; the retry backoff doubles up to its cap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import ConfigError
from notify.config import (
    EmailChannel,
    LogChannel,
    Retry,
    WebhookChannel,
    load_notification_config,
)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def _write(folder: Path, text: str) -> Path:
    (folder / "notifications.yaml").write_text(text, encoding="utf-8")
    return folder


def test_shipped_channels_load() -> None:
    config = load_notification_config(REPO_CONFIG)
    kinds = {c.channel_id: type(c) for c in config.channels}
    assert kinds == {
        "officer_email": EmailChannel,
        "leader_email": EmailChannel,
        "duty_webhook": WebhookChannel,
        "alert_log": LogChannel,
    }
    webhook = next(c for c in config.channels if c.channel_id == "duty_webhook")
    assert webhook.min_severity == "major" and "pipeline_failed" in webhook.events
    assert (config.retry.max_attempts, config.retry.backoff_s, config.retry.factor) == (8, 60, 2)
    assert config.retry.max_backoff_s == 3600


def test_bad_channel_config_names_file_key_and_choices(tmp_path: Path) -> None:
    _write(tmp_path, "channels:\n- {channel_id: x, kind: pager, events: [alert_firing]}\n")
    with pytest.raises(
        ConfigError, match=r"notifications.yaml: channels\[0\]: .*'email', 'webhook', 'log'"
    ):
        load_notification_config(tmp_path)
    _write(tmp_path, "channels:\n- {channel_id: x, kind: log, events: [alert_fired]}\n")
    with pytest.raises(
        ConfigError, match=r"channels\[0\]\.log\.events\[0\]: Input should be 'alert_firing'"
    ):
        load_notification_config(tmp_path)


def test_bad_severity_names_the_key_and_the_choices(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "channels:\n- {channel_id: x, kind: log, events: [alert_firing], min_severity: high}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_notification_config(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / 'notifications.yaml'}: channels[0].log.min_severity" in message
    assert "'info', 'minor', 'major' or 'critical' (got 'high')" in message


def test_out_of_range_values_name_the_key(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "channels:\n- {channel_id: x, kind: email, events: [alert_firing], smtp_host: h, "
        "smtp_port: 0, sender: s}\n",
    )
    with pytest.raises(ConfigError, match=r"notifications.yaml: channels\[0\]\.email\.smtp_port"):
        load_notification_config(tmp_path)
    _write(tmp_path, "channels: []\nretry: {max_attempts: 0}\n")
    with pytest.raises(ConfigError, match=r"notifications.yaml: retry\.max_attempts: .* 1"):
        load_notification_config(tmp_path)


def test_duplicate_channel_id_is_named(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "channels:\n- {channel_id: x, kind: log, events: [alert_firing]}\n"
        "- {channel_id: x, kind: log, events: [case_opened]}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_notification_config(tmp_path)
    assert (
        str(caught.value)
        == f"{tmp_path / 'notifications.yaml'}: channels: channel_id x given twice"
    )


def test_missing_and_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_notification_config(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'notifications.yaml'}: missing")
    _write(tmp_path, "channels: [\n")
    with pytest.raises(ConfigError, match=r"notifications.yaml: not valid YAML"):
        load_notification_config(tmp_path)


def test_retry_backoff_doubles_up_to_its_cap() -> None:
    retry = Retry(backoff_s=60, factor=2, max_backoff_s=3600)
    assert retry.delay(1) == timedelta(seconds=60)
    assert retry.delay(2) == timedelta(seconds=120)
    assert retry.delay(6) == timedelta(seconds=1920)  # 60 × 2^5, under the cap
    assert retry.delay(7) == timedelta(seconds=3600)  # 60 × 2^6 = 3840, capped
