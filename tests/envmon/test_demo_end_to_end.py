"""`envmon demo` as a person runs it (its default four days): real broker, ingestors, HJ 212
server, simulators and Airflow DAGs, and the enforcement story worked through the staff
commands between the DAG runs. The summary names enterprises, shows local times and whole ids,
and checks every scripted expectation, the continuing days (按日连续处罚) among them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("demo")
    # not a terminal: the demo's console is 140 columns, as in a log file or a CI job
    out = subprocess.run([sys.executable, "-m", "envmon", "demo", "--home", str(home)], capture_output=True,
                         text=True, env=dict(os.environ), cwd=REPO, timeout=1500)
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-5000:]
    return home, out.stdout


def _summary(text: str) -> str:
    return text[text.index("─ summary ─"):]


def test_every_scripted_expectation_holds(demo: tuple[Path, str]) -> None:
    # the summary's check lines are prose wrapped at 140 columns: read them with the wraps undone
    text = " ".join(demo[1].split())
    assert "7 succeeded, 0 failed" in text  # ingest_files, load_landing, daily × 4, hourly
    for source in ("readings from hj212", "readings from mqtt", "readings from file"):
        assert source in text
    # five episodes on day 0 and the three days the exceedance went on, each its alert and case
    # (or none, for the shut-down); the shut-down hours; the 10-minute logger; the enforcement
    # story's commands, escalation and continuing days: thirteen checks
    assert "NOT as expected" not in text
    assert text.count("as expected") == 13
    for check in ("scenario shutdown", "shut-down hours", "10-minute logger", "enforcement:"):
        assert check in text
    assert "全市" in text  # the city's daily AQI row


def test_the_case_is_worked_by_the_commands_staff_type_at_past_local_times(demo: tuple[Path, str]) -> None:
    home, text = demo
    typed = re.findall(r"^    \$ (envmon .*)$", text, flags=re.M)
    assert [t.split()[1:3] for t in typed] == [["cases", "assign"], ["cases", "move"], ["cases", "move"],
                                               ["alerts", "escalate"], ["cases", "show"]]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        (case_id,) = con.execute("SELECT case_id FROM cases WHERE site_id = 'huaneng_gaobeidian_da001' "
                                 "AND rule_family = 'emission_exceedance'").fetchone()
        events = con.execute("SELECT actor, to_state, event_at FROM case_events WHERE case_id = ? "
                             "AND actor <> 'system' ORDER BY event_at", [case_id]).fetchall()
        days = [d for (d,) in con.execute("SELECT local_date FROM case_exceedance_days WHERE case_id = ? ORDER BY 1",
                                          [case_id]).fetchall()]
        escalated_to, ordered = con.execute("SELECT escalated_to, rectification_ordered_at FROM cases "
                                            "WHERE case_id = ?", [case_id]).fetchone()
    finally:
        con.close()
    # the whole id typed, never a prefix a person copied
    assert all(case_id in t for t in typed if t.split()[1] == "cases")
    assert [(a, s) for a, s, _ in events] == [("key_enterprises_leader", "assigned"),
                                              ("key_enterprises_responsible", "under_inspection"),
                                              ("key_enterprises_responsible", "rectification_ordered")]
    # the data's own days, not the wall clock: the order at 11:00 local on day 0 (whose daily run
    # opened the case), three days counted after it
    ordered_local = ordered.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (ordered_local.hour, ordered_local.minute) == (11, 0)
    assert len(days) == 3 and days == [ordered_local.date() + timedelta(days=n) for n in (1, 2, 3)]
    assert escalated_to == "key_enterprises_leader"
    # `cases show` printed the count and the days
    show = text[text.index("$ envmon cases show"):]
    assert re.search(r"continuing days after the order \(按日连续处罚\): 3 \(", show)
    assert all(str(d) in show for d in days)


def test_the_summary_names_enterprises_in_local_time_with_whole_ids(demo: tuple[Path, str]) -> None:
    home, text = demo
    summary = _summary(text)
    assert "华能北京热电厂 燃煤机组烟囱1号" in summary  # the registered name and the outlet
    # people by name with their whole ids (the registry has namesakes: two 徐明 Xu Ming)
    assert "孙伟 Sun Wei" in summary and "(key_enterprises_responsible)" in summary
    assert "escalated to 徐明 Xu Ming" in summary and "(key_enterprises_leader)" in summary
    assert "UTC" not in summary.replace("Etc/UTC", "")
    assert "+08:00" in summary
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        case_ids = [c for (c,) in con.execute("SELECT case_id FROM cases").fetchall()]
        alert_ids = [a for (a,) in con.execute("SELECT alert_id FROM alerts").fetchall()]
    finally:
        con.close()
    lines = summary.splitlines()
    for whole in case_ids + alert_ids:  # each on one line, not folded or cut with "…"
        assert any(whole in line for line in lines), whole
    # the DAG runs in local time with the offset
    assert re.search(r"daily\s+\d{4}-\d\d-\d\d 00:00\+08:00 → \d{4}-\d\d-\d\d 00:00\+08:00: success", text)
    assert all(len(line) <= 140 for line in lines)


def test_a_second_load_finds_nothing_new(demo: tuple[Path, str]) -> None:
    home, _ = demo
    assert (home / "site" / "index.html").is_file()
    again = subprocess.run([sys.executable, "-m", "envmon", "load"], capture_output=True, text=True,
                           env=dict(os.environ) | {"ENVMON_HOME": str(home)}, cwd=REPO, timeout=300)
    assert again.returncode == 0 and "loaded 0 batches" in again.stdout
