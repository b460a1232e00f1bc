"""The console's options: from the settings' web_* keys when they exist, defaults otherwise,
the command line's --host/--port over both; cookies Secure exactly when served over https."""

from __future__ import annotations

from types import SimpleNamespace

from envmon.web.config import WebConfig


def test_defaults_bind_the_loopback_address() -> None:
    web = WebConfig.from_settings(SimpleNamespace())
    assert (web.host, web.port, web.public_url, web.secure_cookies) == ("127.0.0.1", 8700, "http://127.0.0.1:8700", False)


def test_settings_keys_then_the_command_line() -> None:
    settings = SimpleNamespace(web_host="0.0.0.0", web_port=9000, web_base_url="https://console.eeb.example.gov.cn/",
                               web_session_minutes=30, web_upload_max_bytes=2048)
    web = WebConfig.from_settings(settings, host=None, port=9100)
    assert (web.host, web.port, web.session_minutes, web.upload_max_bytes) == ("0.0.0.0", 9100, 30, 2048)
    assert web.public_url == "https://console.eeb.example.gov.cn" and web.secure_cookies
    assert not WebConfig(base_url="http://intranet:8700").secure_cookies
