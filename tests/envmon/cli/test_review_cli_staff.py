"""`envmon review` as staff use it: the reviewer from the registry (--by checked, or the login's
person), named by name; local times in and out; whole review ids at 80 columns and prefixes
accepted; a review over a range with no readings refused; a second audit keeps the first note;
a flag on an audited day re-opens it; a day not yet ended cannot be audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from _cli_run import main_exit
from typer.testing import CliRunner

import core.identity
from core.settings import Settings
from envmon.cli import acting, app
from transforms.qc.status import data_status_for, day_history
from warehouse.db import connect

NOW = datetime(2026, 12, 3, 2, tzinfo=UTC)  # 10:00 on 12-03 in Beijing
T0 = datetime(2026, 11, 30, 16, tzinfo=UTC)  # 12-01 00:00 in Beijing
SUN, ZHAO = "data_reviewer_sun", "station_tech_zhao"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.fixture
def day(wh: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """dongsi pm25 and pm10 every hour of 12-01 local; now is 12-03 10:00 local; the login is
    nobody's (so --by is needed)."""
    monkeypatch.setattr(acting, "now", lambda: NOW)
    monkeypatch.setattr(core.identity, "current_login", lambda: "nobody")
    with connect(wh) as con:
        for p in ("pm25", "pm10"):
            con.execute(
                """INSERT INTO readings (site_id, parameter, period_start, interval_s, source_kind, value, unit,
                                         received_at, batch_id)
                   SELECT 'dongsi', $p, t, 3600, 'sim', 30.0, 'ug/m3', t + INTERVAL 1 HOUR, 'b1'
                   FROM unnest(range($lo, $hi, INTERVAL 1 HOUR)) AS x(t)""",
                {"p": p, "lo": T0, "hi": T0 + timedelta(days=1)})
    return wh


def test_flag_in_local_time_records_the_person_and_echoes_local_time(day: Settings) -> None:
    out = run("review", "flag", "--site", "东四", "--parameter", "pm25", "--from", "2026-12-01T08:00",
              "--to", "2026-12-01 10:00", "--reason", "calibration gas leak", "--by", "孙芳")
    review_id = out.split(":")[0]
    assert "from 2026-12-01 08:00+08:00 to 2026-12-01 10:00+08:00 by 孙芳 Sun Fang" in " ".join(out.split())
    assert "UTC" not in out
    with connect(day, write=False) as con:
        row = con.execute("SELECT reviewed_by, period_from, period_to, reviewed_at FROM review_events "
                          "WHERE review_id = ?", [review_id]).fetchone()
    assert row == (SUN, T0 + timedelta(hours=8), T0 + timedelta(hours=10), NOW)
    # an offset given is kept
    out = run("review", "unflag", "--site", "dongsi", "--from", "2026-12-01T02:00+00:00", "--to",
              "2026-12-01T03:00+00:00", "--reason", "checked", "--by", SUN)
    assert "from 2026-12-01 10:00+08:00 to 2026-12-01 11:00+08:00" in " ".join(out.split())


def test_by_is_checked_against_the_registry_or_taken_from_the_login(
    day: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("review", "flag", "--site", "dongsi", "--from", "2026-12-01T08:00", "--to", "2026-12-01T09:00",
            "--reason", "x")
    code, _out, err = main_exit(monkeypatch, capsys, *args, "--by", "wang")
    assert code == 2 and "wang" in err and "Traceback" not in err
    monkeypatch.setattr(core.identity, "current_login", lambda: "zhaolei")
    out = run(*args)  # no --by: the login's person
    assert "by 赵磊 Zhao Lei" in out
    with connect(day, write=False) as con:
        assert con.execute("SELECT reviewed_by FROM review_events").fetchall() == [(ZHAO,)]


def test_list_names_reviewers_in_local_time_with_whole_ids_at_80_columns(day: Settings) -> None:
    out = run("review", "flag", "--site", "dongsi", "--parameter", "pm25", "--from", "2026-12-01T08:00",
              "--to", "2026-12-01T10:00", "--reason", "calibration gas leak", "--by", SUN)
    review_id = out.split(":")[0]
    revert = run("review", "revert", "--review-id", review_id[:12], "--by", ZHAO)  # a unique prefix
    assert f"reverted {review_id} at 2026-12-03 10:00+08:00 by 赵磊 Zhao Lei" in " ".join(revert.split())
    revert_id = revert.split(":")[0]
    listing = run("review", "list", "--site", "东四")
    lines = listing.splitlines()
    assert any(line.startswith(review_id + "  flag") for line in lines)
    assert any(line.startswith(f"{revert_id}  revert {review_id}") for line in lines)
    assert "    by 孙芳 Sun Fang at 2026-12-03 10:00+08:00: calibration gas leak" in lines
    assert "    dongsi pm25  2026-12-01 08:00+08:00 to 2026-12-01 10:00+08:00" in lines
    assert "UTC" not in listing and all(len(line) <= 80 for line in lines)


def test_an_ambiguous_or_unknown_prefix_is_refused(
    day: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = main_exit(monkeypatch, capsys, "review", "revert", "--review-id", "rv-nothing", "--by", SUN)
    assert code == 2 and "no review 'rv-nothing'" in err


def test_a_review_over_a_range_without_readings_is_refused(
    day: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 12-02 has no reading of dongsi: the nearest are 12-01 23:00 (before); nothing after
    code, _out, err = main_exit(monkeypatch, capsys, "review", "flag", "--site", "dongsi", "--from", "2026-12-02T08:00",
                                "--to", "2026-12-02T10:00", "--reason", "x", "--by", SUN)
    assert code == 2
    assert err.strip() == ("envmon: error: no readings of dongsi from 2026-12-02 08:00+08:00 to 2026-12-02 "
                           "10:00+08:00: nothing to flag; its nearest readings: 2026-12-01 23:00+08:00 (before)")
    # a parameter the site reports, but not over the range
    code, _out, err = main_exit(monkeypatch, capsys, "review", "unflag", "--site", "dongsi", "--parameter", "so2",
                                "--from", "2026-12-01T08:00", "--to", "2026-12-01T10:00", "--reason", "x", "--by", SUN)
    assert code == 2 and "no readings of dongsi so2 from 2026-12-01 08:00+08:00" in err and "no readings at all" in err
    # the edge: [23:00, 24:00) holds the last reading, [24:00, ...) none
    run("review", "flag", "--site", "dongsi", "--from", "2026-12-01T23:00", "--to", "2026-12-02T00:00",
        "--reason", "x", "--by", SUN)
    code, _out, err = main_exit(monkeypatch, capsys, "review", "flag", "--site", "dongsi", "--from",
                                "2026-12-02T00:00", "--to", "2026-12-02T01:00", "--reason", "x", "--by", SUN)
    assert code == 2 and "nothing to flag" in err


def test_a_second_audit_keeps_the_first_note(day: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    run("review", "audit", "--site", "dongsi", "--date", "2026-12-01", "--by", ZHAO, "--note", "zero check ok")
    monkeypatch.setattr(acting, "now", lambda: NOW + timedelta(hours=1))
    out = run("review", "audit", "--site", "dongsi", "--date", "2026-12-01", "--by", SUN, "--note", "span check ok")
    assert out.splitlines()[0] == "dongsi 东四 2026-12-01: audited by 孙芳 Sun Fang"
    assert "  2026-12-03 10:00+08:00  audited by 赵磊 Zhao Lei: zero check ok" in out.splitlines()
    assert "  2026-12-03 11:00+08:00  audited by 孙芳 Sun Fang: span check ok" in out.splitlines()
    with connect(day, write=False) as con:
        assert [(h.status_by, h.note) for h in day_history(con, "dongsi", date(2026, 12, 1))] == [
            (ZHAO, "zero check ok"), (SUN, "span check ok")]


def test_a_flag_on_an_audited_day_reopens_it(day: Settings) -> None:
    run("review", "audit", "--site", "dongsi", "--date", "2026-12-01", "--by", ZHAO)
    with connect(day, write=False) as con:
        assert data_status_for(con, "dongsi", date(2026, 12, 1)) == "audited"
    out = run("review", "flag", "--site", "dongsi", "--from", "2026-12-01T08:00", "--to", "2026-12-01T09:00",
              "--reason", "drift", "--by", SUN)
    review_id = out.split(":")[0]
    with connect(day, write=False) as con:
        assert data_status_for(con, "dongsi", date(2026, 12, 1)) == "provisional"
        status = con.execute("SELECT status, status_by FROM day_status WHERE site_id = 'dongsi'").fetchall()
        assert status == [("reopened", SUN)]
        last = day_history(con, "dongsi", date(2026, 12, 1))[-1]
        assert (last.status, last.review_id) == ("reopened", review_id)
    # audited again by a person, who sees the day's history with the review that re-opened it
    out = run("review", "audit", "--site", "dongsi", "--date", "2026-12-01", "--by", ZHAO)
    assert out.splitlines()[1:] == ["history of the day:", "  2026-12-03 10:00+08:00  audited by 赵磊 Zhao Lei",
                                    "  2026-12-03 10:00+08:00  reopened by 孙芳 Sun Fang, review", f"    {review_id}",
                                    "  2026-12-03 10:00+08:00  audited by 赵磊 Zhao Lei"]
    with connect(day, write=False) as con:
        assert data_status_for(con, "dongsi", date(2026, 12, 1)) == "audited"


def test_a_day_not_yet_ended_is_not_audited(
    day: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = main_exit(monkeypatch, capsys, "review", "audit", "--site", "dongsi", "--date", "2026-12-03",
                                "--by", ZHAO)
    assert code == 2 and "the day 2026-12-03 of dongsi" in err and "has not ended" in err
    # the day before ended at midnight: audited
    run("review", "audit", "--site", "dongsi", "--date", "2026-12-02", "--by", ZHAO)
