"""The console's options, fed from the settings (web_host, web_port, web_base_url,
web_session_minutes, web_upload_max_bytes) or given explicitly (tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
DEFAULT_SESSION_MINUTES = 60
DEFAULT_UPLOAD_MAX_BYTES = 10 << 20
# A session ends this long after its login whatever its use (the idle expiry is session_minutes).
SESSION_MAX_HOURS = 12


@dataclass(frozen=True)
class WebConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    base_url: str = ""  # the public address (https://… behind a proxy); "" = http://host:port
    session_minutes: int = DEFAULT_SESSION_MINUTES  # idle expiry of a session
    upload_max_bytes: int = DEFAULT_UPLOAD_MAX_BYTES
    read_timeout_s: float = 2.0  # a page waits this long for a pipeline run's write, then says busy
    write_timeout_s: float = 15.0  # an action waits this long to be saved, then is NOT saved
    retry_after_s: int = 10  # the Retry-After of a busy answer

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when the public address is https."""
        return self.public_url.lower().startswith("https://")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> WebConfig:
        """The settings' web_* keys (their defaults while a key is absent), then `overrides`
        (the command line's --host/--port) where not None."""
        values = {
            "host": getattr(settings, "web_host", DEFAULT_HOST),
            "port": getattr(settings, "web_port", DEFAULT_PORT),
            "base_url": getattr(settings, "web_base_url", "") or "",
            "session_minutes": getattr(settings, "web_session_minutes", DEFAULT_SESSION_MINUTES),
            "upload_max_bytes": getattr(settings, "web_upload_max_bytes", DEFAULT_UPLOAD_MAX_BYTES),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
