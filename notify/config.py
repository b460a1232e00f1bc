"""The notification channels (config/notifications.yaml): loaded, validated, or refused naming
the file, the key and the choices.

Each channel (e-mail, webhook, log) subscribes to events and a least severity; `retry` is the
backoff of a delivery that failed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, get_args

import yaml
from pydantic import Field, ValidationError

from core.errors import ConfigError, format_validation_error
from core.strict import StrictModel

Event = Literal[
    "alert_firing",
    "alert_repeat",
    "alert_resolved",
    "case_opened",
    "case_escalated",
    "pipeline_failed",
]
# the one severity scale, least first: a rule's (alerts.rules) and a channel's min_severity
Severity = Literal["info", "minor", "major", "critical"]
SEVERITY_RANK: dict[str, int] = {s: rank for rank, s in enumerate(get_args(Severity))}


class _Channel(StrictModel):
    channel_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    events: list[Event] = Field(min_length=1)
    min_severity: Severity = "info"


class EmailChannel(_Channel):
    kind: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(ge=1, le=65535)
    sender: str
    to: list[Literal["officer", "leader"]] = ["officer"]
    cc: list[str] = []
    timeout_s: float = Field(default=10.0, gt=0)
    starttls: bool = False


class WebhookChannel(_Channel):
    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0)


class LogChannel(_Channel):
    kind: Literal["log"]
    path: str = "alerts.log"  # relative to the log folder ($ENVMON_HOME/log)


AnyChannel = EmailChannel | WebhookChannel | LogChannel
Channel = Annotated[AnyChannel, Field(discriminator="kind")]


class Retry(StrictModel):
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=60.0, ge=0)
    factor: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=3600.0, ge=0)
    claim_timeout_s: float = Field(default=600.0, gt=0)

    def delay(self, attempts: int) -> timedelta:
        """The wait before the next try after `attempts` failed ones: backoff × factor^(n-1),
        capped at max_backoff_s."""
        return timedelta(
            seconds=min(self.backoff_s * self.factor ** max(attempts - 1, 0), self.max_backoff_s)
        )


class NotificationConfig(StrictModel):
    channels: list[Channel]
    retry: Retry = Retry()


def load_notification_config(config_dir: Path) -> NotificationConfig:
    """config_dir/notifications.yaml, validated; ConfigError naming the file and key otherwise."""
    path = Path(config_dir) / "notifications.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: missing; it lists the notification channels (email, webhook, log)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        config = NotificationConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            "notification channels are invalid:\n" + format_validation_error(str(path), exc)
        ) from None
    ids = [c.channel_id for c in config.channels]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{path}: channels: channel_id {', '.join(dupes)} given twice")
    return config
