"""envmon.cli.publish: `envmon publish daily|hourly|monthly` write the website from the
warehouse (one local day of the AQI worked example at dongsi: AQI 107, PM2.5, 轻度污染), name
periods in local time, and refuse bad options with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from _cli_run import envmon, load_worked_day, main_exit

from envmon.cli import publish as publish_cli


@pytest.fixture
def derived(wh, tmp_path: Path):  # type: ignore[no-untyped-def]
    load_worked_day(tmp_path)
    envmon("aggregate", "daily", "--date", "2024-03-01")
    envmon("aggregate", "hourly", "--start", "2024-03-01T22:00+08:00", "--end", "2024-03-02T00:00+08:00")
    return wh


def test_register_adds_the_publish_group() -> None:
    app = typer.Typer()
    publish_cli.register(app)
    assert [g.name for g in app.registered_groups] == ["publish"]
    assert [c.name for c in publish_cli.publish_app.registered_commands] == ["daily", "hourly", "monthly"]


def test_daily_report_of_a_local_day_then_nothing_changed(derived, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    first = envmon("publish", "daily", "--date", "2024-03-01", "--out", str(site))
    n = int(first.split(": ")[1].split(" ")[0])
    assert first == f"daily 2024-03-01: {n} files, {n} changed -> {site}\n"
    assert {"2024-03-01.json", "2024-03-01.html", "2024-03-01.csv"} <= {p.name for p in (site / "daily").iterdir()}
    assert (site / "index.html").is_file()  # the latest day
    report = json.loads((site / "daily" / "2024-03-01.json").read_text(encoding="utf-8"))
    assert report["local_date"] == "2024-03-01"
    city = next(r for r in report["rows"] if r["site_id"] == "city")
    assert (city["name_zh"], city["aqi"], city["category"], city["primary_pollutants"]) == ("全市", 107, "轻度污染",
                                                                                          "PM2.5")
    dongsi = next(r for r in report["rows"] if r["site_id"] == "dongsi")
    assert (dongsi["name_zh"], dongsi["aqi"], dongsi["pm25_24h_ugm3"]) == ("东四", 107, "80")
    assert "东四" in (site / "daily" / "2024-03-01.html").read_text(encoding="utf-8")
    # the same again: the files are rewritten only when they change
    assert envmon("publish", "daily", "--date", "2024-03-01", "--out", str(site)) == (
        f"daily 2024-03-01: {n} files, 0 changed -> {site}\n")


def test_daily_to_publishes_every_day(derived, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    out = envmon("publish", "daily", "--date", "2024-02-29", "--to", "2024-03-01", "--out", str(site))
    assert [line.split(":")[0] for line in out.splitlines()] == ["daily 2024-02-29", "daily 2024-03-01"]
    assert out.splitlines()[0].endswith("(no data in the warehouse for this period)")
    assert sorted(p.name for p in (site / "daily").glob("*.json")) == ["2024-02-29.json", "2024-03-01.json"]


def test_hourly_reads_a_time_without_zone_as_local(derived, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    # realtime.html|json, station/<site_id>.html of the city and 12 stations, archive.html
    assert envmon("publish", "hourly", "--hour", "2024-03-01T23:00", "--out", str(site)) == (
        f"hourly 2024-03-01T23:00+08:00: 16 files, 16 changed -> {site}\n")
    assert (site / "realtime.html").is_file() and (site / "station" / "dongsi.html").is_file()
    page = json.loads((site / "realtime.json").read_text(encoding="utf-8"))
    assert page["period_start"] == "2024-03-01T23:00+08:00"
    city = next(r for r in page["rows"] if r["site_id"] == "city")
    assert (city["aqi"], city["pm25_1h_ugm3"], city["period_start"]) == (107, "80", "2024-03-01T23:00+08:00")
    # the same hour given in UTC
    assert envmon("publish", "hourly", "--hour", "2024-03-01T15:00Z", "--out", str(site)) == (
        f"hourly 2024-03-01T23:00+08:00: 16 files, 0 changed -> {site}\n")


def test_monthly_disclosure(derived, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    out = envmon("publish", "monthly", "--month", "2024-03", "--out", str(site))
    assert out.startswith("monthly 2024-03: ") and out.rstrip().endswith(f"-> {site}")
    folder = site / "disclosure" / "2024-03"
    assert (folder / "index.html").is_file() and (folder / "disclosure_2024-03.xlsx").is_file()
    assert (folder / "table1_air.csv").read_text(encoding="utf-8-sig").count("\n") >= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["daily", "--to", "2024-03-01"], "--to needs --date (the first day)"),
        (["hourly", "--hour", "8 o'clock"], "--hour \"8 o'clock\": expected ISO 8601, e.g. 2016-12-01T08:00"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = main_exit(monkeypatch, capsys, "publish", *args)
    assert (code, out, err) == (2, "", f"envmon: error: {message}\n")


# -- the monthly disclosure of a month that has not ended (the clock read at the command) ------
def _clock_at(monkeypatch: pytest.MonkeyPatch, local: str) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    at = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    monkeypatch.setattr(publish_cli, "_clock", lambda: at)


def test_monthly_of_a_month_under_way_is_refused(derived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _clock_at(monkeypatch, "2024-03-31T23:59:59")
    code, out, err = main_exit(monkeypatch, capsys, "publish", "monthly", "--month", "2024-03",
                               "--out", str(tmp_path / "site"))
    assert (code, out) == (2, "")
    assert err == ("envmon: error: the month 2024-03 (2024-03-01T00:00:00+08:00 to 2024-04-01T00:00:00+08:00) "
                   "has not ended: it ends at 2024-04-01T00:00:00+08:00 local time, and it is now "
                   "2024-03-31T23:59:59+08:00; its disclosure is published once it has ended (--allow-partial "
                   "publishes it to date, marked provisional)\n")
    assert not (tmp_path / "site").exists()


def test_monthly_allow_partial_publishes_the_month_to_date(derived, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _clock_at(monkeypatch, "2024-03-02T08:30:00")
    site = tmp_path / "site"
    out = envmon("publish", "monthly", "--month", "2024-03", "--allow-partial", "--out", str(site))
    assert out.startswith("monthly 2024-03: 8 files, 8 changed")  # the tables, page, workbook and archive.html
    csv_text = (site / "disclosure" / "2024-03" / "table1_air.csv").read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[1].startswith(
        '"临时数据（截至 2024-03-02T08:30:00+08:00） Provisional, data to 2024-03-02T08:30:00+08:00",')


def test_monthly_defaults_to_the_last_complete_local_month(derived, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _clock_at(monkeypatch, "2024-04-01T00:00:01")  # 31 Mar 16:00:01 UTC: already April in Beijing
    out = envmon("publish", "monthly", "--out", str(tmp_path / "site"))
    assert out.startswith("monthly 2024-03: ")
