"""`envmon alerts ...` in-process on a real warehouse: times typed without an offset are local
time, with an offset they are kept; the outbox is listed and failed messages queued again."""

from __future__ import annotations

import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _alerts_helpers import add_aggregates, local, rows
from typer.testing import CliRunner, Result

from core.settings import REPO_ROOT, reset_settings_cache
from envmon.cli import app

OUTLET = "huaneng_gaobeidian_da001"  # so2 limit 50 mg/m3 (hour_avg_o2); grid key_enterprises


def envmon(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def fire(wh) -> tuple[str, str]:
    """An SO2 exceedance at 09:00 local on 3 March 2025, evaluated from the command line in
    local time; returns (alert id, case id)."""
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(local(2025, 3, 3, 9), 75.0)])
    out = envmon("alerts", "evaluate", "--from", "2025-03-03 09:00", "--to", "2025-03-03 10:00")
    assert "1 alerts opened, 0 resolved, 1 cases opened, 6 notifications queued" in out.output
    ((alert_id, case_id),) = rows(wh, "SELECT alert_id, case_id FROM alerts")
    return alert_id, case_id


def test_evaluate_reads_local_time_and_an_offset_alike(wh) -> None:
    alert_id, case_id = fire(wh)
    assert rows(wh, "SELECT first_period FROM alerts") == [(local(2025, 3, 3, 9),)]
    # the same hour given in UTC: already evaluated, nothing new
    out = envmon(
        "alerts", "evaluate", "--from", "2025-03-03T01:00+0000", "--to", "2025-03-03T02:00+0000"
    )
    assert "0 alerts opened, 0 resolved, 0 cases opened, 0 notifications queued" in out.output
    listed = envmon("alerts", "list").output
    assert "1 alert(s)" in listed
    lines = listed.splitlines()
    at = next(k for k, line in enumerate(lines) if alert_id in line)
    line, second = lines[at], lines[at + 1]  # a row: alert id, then its case id below it
    for cell in ("firing", "major", "1.50×", "华能北京热电厂 燃煤机组烟囱1号 so2", "2025-03-03"):
        assert cell in line
    for cell in (case_id, "flue_gas_hour_over_permit", "09:00"):
        assert cell in second
    assert "0 alert(s)" in envmon("alerts", "list", "--state", "resolved").output
    alarms = envmon("alerts", "list", "--with-alarms").output
    assert "0 logger alarm(s) 数采仪报警 (HJ 212 CN 2072)" in alarms


def test_ack_and_silence_then_unsilence(wh) -> None:
    alert_id, _ = fire(wh)
    assert (
        f"{alert_id} acknowledged by 赵磊 Zhao Lei at "
        in envmon("alerts", "ack", alert_id, "--by", "station_tech_zhao").output
    )
    assert rows(wh, "SELECT acknowledged_by FROM alerts") == [("station_tech_zhao",)]
    out = envmon(
        "alerts", "silence", "--site", OUTLET, "--from", "2025-03-03 12:00",
        "--until", "2025-03-04 00:00", "--reason", "calibration", "--by", "赵磊",
    ).output  # fmt: skip
    ((silence_id, starts, ends),) = rows(wh, "SELECT silence_id, starts_at, ends_at FROM silences")
    assert (starts, ends) == (local(2025, 3, 3, 12), local(2025, 3, 4, 0))
    assert out.strip() == (f"{silence_id}: silence {OUTLET} 华能北京热电厂 燃煤机组烟囱1号 (every rule) "
                           "from 2025-03-03 12:00+08:00 until 2025-03-04 00:00+08:00, by 赵磊 Zhao Lei")
    out = envmon(
        "alerts", "silence", "--rule", "flue_gas_hour_over_permit", "--from", "2025-03-03T00:00+0000",
        "--until", "2025-03-04T00:00+0000", "--reason", "r", "--by", "station_tech_zhao",
    ).output  # fmt: skip
    assert out.strip().endswith("(every site) flue_gas_hour_over_permit from 2025-03-03 08:00+08:00 "
                                "until 2025-03-04 08:00+08:00, by 赵磊 Zhao Lei")
    assert rows(wh, "SELECT max(ends_at) FROM silences") == [(datetime(2025, 3, 4, tzinfo=UTC),)]
    assert (
        f"{silence_id} revoked by 周浩 Zhou Hao"
        in envmon("alerts", "unsilence", silence_id, "--by", "admin_zhou").output
    )
    assert rows(wh, "SELECT revoked_by FROM silences WHERE silence_id = ?", [silence_id]) == [
        ("admin_zhou",)
    ]


def test_maintenance_window_for_one_site(wh) -> None:
    out = envmon(
        "alerts", "maintenance", "--site", OUTLET, "--parameter", "so2", "--from", "2025-03-03 08:00",
        "--until", "2025-03-03 18:00", "--reason", "CEMS maintenance", "--by", "station_tech_zhao",
    ).output  # fmt: skip
    assert f"maintenance {OUTLET} 华能北京热电厂 燃煤机组烟囱1号 (every rule) so2 from 2025-03-03 08:00+08:00 until 2025-03-03 18:00+08:00" in out
    assert rows(wh, "SELECT kind, site_id, parameter, starts_at, ends_at FROM silences") == [
        ("maintenance", OUTLET, "so2", local(2025, 3, 3, 8), local(2025, 3, 3, 18))
    ]


def test_escalate_on_both_sides_of_the_response_deadline(wh) -> None:
    _, case_id = fire(wh)  # opened at 10:00 local, the end of the hour; response_hours: 24
    out = envmon("alerts", "escalate", "--at", "2025-03-04 09:59").output
    assert out.splitlines() == ["as of 2025-03-04 09:59+08:00:", "0 case(s) escalated"]
    out = envmon("alerts", "escalate", "--at", "2025-03-04 10:00").output
    leader = rows(wh, "SELECT name_zh || ' ' || name_en FROM officers WHERE officer_id = 'key_enterprises_leader'")[0][0]
    assert out.splitlines() == [
        "as of 2025-03-04 10:00+08:00:",
        f"{case_id} 华能北京热电厂 燃煤机组烟囱1号: escalated to {leader} (key_enterprises_leader)",
        "1 case(s) escalated",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nothing_listens(wh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The shipped channels, with the SMTP server and webhook on ports where nothing listens."""
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    text = (config / "notifications.yaml").read_text(encoding="utf-8")
    text = text.replace("smtp_port: 25", f"smtp_port: {_free_port()}")
    text = text.replace("127.0.0.1:8089", f"127.0.0.1:{_free_port()}")
    (config / "notifications.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(config))
    reset_settings_cache()
    return wh


@pytest.mark.network
def test_send_outbox_and_retry_failed(nothing_listens) -> None:
    wh = nothing_listens
    fire(wh)
    listed = envmon("alerts", "outbox").output
    assert "6 message(s)" in listed and listed.count("pending") == 6
    out = envmon("alerts", "send").output.splitlines()
    assert out[-1] == "2 sent, 4 to retry, 0 failed"  # the log channel works; e-mail, webhook wait
    assert sum("will retry" in line for line in out) == 4
    sent = envmon("alerts", "outbox", "--status", "sent").output
    assert "2 message(s)" in sent and sent.count("alerts.log") == 2
    assert "0 failed message(s) queued again" in envmon("alerts", "outbox", "--retry-failed").output
    with_attempts = rows(
        wh, "SELECT count(*) FROM notifications WHERE attempts = 1 AND status = 'pending'"
    )
    assert with_attempts == [(4,)]
    from warehouse.db import connect

    with connect(wh) as con:
        con.execute("UPDATE notifications SET status = 'failed' WHERE status = 'pending'")
    failed = envmon("alerts", "outbox", "--status", "failed").output
    assert "4 message(s)" in failed and failed.count("│ failed") == 4
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert "4 failed message(s) queued again" in envmon("alerts", "outbox", "--retry-failed").output
    ((n, attempts, due),) = rows(
        wh,
        "SELECT count(*), max(attempts), min(next_attempt_at) FROM notifications WHERE status = 'pending'",
    )
    assert (n, attempts) == (4, 0) and due >= before
