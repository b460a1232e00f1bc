"""The daily report's files (HTML, JSON, CSV), the index, the real-time page, byte-identical
re-publication, and the command line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from _daily_fixture import (
    DAY,
    INSUFFICIENT_REASON,
    INSUFFICIENT_STATION,
    SCRIPT_NAME,
    load_day,
)
from _publish_helpers import COMPUTED_AT, REPO, insert_daily, insert_rows

from publish.jobs import PublishError, publish_daily, publish_hourly
from publish.vocabulary import contrast_ratio, levels_of, text_colour_on
from warehouse.db import connect

SH = ZoneInfo("Asia/Shanghai")


def tree(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_json_and_csv_hold_the_same_rows(warehouse, tmp_path):
    load_day(warehouse)
    report = publish_daily(warehouse, DAY, out=str(tmp_path))
    assert report.has_data and "index.html" in report.files
    data = json.loads((tmp_path / "daily" / "2016-12-01.json").read_text(encoding="utf-8"))
    assert data["local_date"] == "2016-12-01" and data["editions"] == ["HJ633-2012"]
    assert data["computed_at"] == "2017-01-02T11:04:05+08:00"  # the data's time, not the clock's
    by_site = {r["site_id"]: r for r in data["rows"]}
    assert len(by_site) == 13 and next(iter(by_site)) == "city"
    city = by_site["city"]
    assert (city["aqi"], city["level"], city["category"], city["colour_hex"]) == (
        152,
        4,
        "中度污染",
        "#FF0000",
    )
    assert (city["pm25_24h_ugm3"], city["co_24h_mgm3"]) == ("116", "0.5")
    assert city["advice_en"].startswith("Children, the elderly")
    assert by_site["aotizhongxin"]["name_zh"] == SCRIPT_NAME
    assert by_site["wanshouxigong"]["aqi"] is None
    assert by_site["wanshouxigong"]["data_note_en"] == "No data reported"
    # a station with a report but too few valid SO2 hours says why, in words
    short = by_site[INSUFFICIENT_STATION]
    assert INSUFFICIENT_REASON == "so2: 17 valid hours < 20 required"
    assert short["aqi"] is None and short["data_note_zh"].startswith(
        "数据不足；SO₂ 有效小时数 17 < 20；"
    )
    assert "SO₂: 17 valid hours < 20 required" in short["data_note_en"]
    assert (
        "HJ 633-2012: no AQI is published when any pollutant lacks data." in short["data_note_en"]
    )
    assert city["data_note_zh"] is None
    # nothing internal reaches the public
    text = (tmp_path / "daily" / "2016-12-01.json").read_text(encoding="utf-8")
    assert "texts_status" not in text and "UNCONFIRMED" not in text and "nan" not in text.lower()
    raw = (tmp_path / "daily" / "2016-12-01.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))
    assert rows[0][:3] == [
        "名称 Name (Chinese)",
        "英文名称 Name (English)",
        "站点编号 Site ID",
    ]
    assert len(rows) == 14 and not any("texts_status" in h for h in rows[0])
    assert rows[1][rows[0].index("空气质量指数 AQI")] == "152"


def test_html_escapes_and_page_for_a_day_ignores_later_days(warehouse, tmp_path):
    load_day(warehouse)
    insert_daily(warehouse, {("city", DAY + dt.timedelta(days=1)): 20})  # 2 Dec: AQI 30
    publish_daily(warehouse, DAY, out=str(tmp_path))
    page = (tmp_path / "daily" / "2016-12-01.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;奥体中心" in page
    assert 'href="2016-12-02.html"' not in page and "daily/2016-12-02.html" not in page
    # the index shows the latest day the warehouse holds, and its files exist
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<time datetime="2016-12-02">' in index
    assert (tmp_path / "daily" / "2016-12-02.json").exists()
    assert 'href="daily/2016-12-01.html"' in index  # the calendar links the earlier day


def test_publishing_twice_gives_identical_bytes(warehouse, tmp_path):
    load_day(warehouse)
    publish_daily(warehouse, DAY, out=str(tmp_path / "a"))
    again = publish_daily(warehouse, DAY, out=str(tmp_path / "a"))
    assert again.changed == ()
    publish_daily(warehouse, DAY, out=(tmp_path / "b").as_uri())
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert not [p for p in (tmp_path / "a").rglob(".tmp-*")]


def test_a_day_without_data_still_gets_a_page(warehouse, tmp_path):
    report = publish_daily(warehouse, dt.date(2020, 1, 1), out=str(tmp_path))
    assert not report.has_data
    page = (tmp_path / "daily" / "2020-01-01.html").read_text(encoding="utf-8")
    assert (
        page.count('<span class="state state-absent">未报送数据') == 14
    )  # summary, city + 12 stations
    with pytest.raises(PublishError, match="aqi_daily holds no day that has ended"):
        publish_daily(warehouse, None, out=str(tmp_path))


def test_a_day_that_has_not_ended_is_refused_and_never_the_home_page(warehouse, tmp_path):
    load_day(warehouse)
    nxt = DAY + dt.timedelta(days=1)
    insert_daily(warehouse, {("city", nxt): 20})  # 2 Dec, partly measured
    noon = dt.datetime(2016, 12, 2, 12, tzinfo=SH)
    with pytest.raises(PublishError) as refused:
        publish_daily(warehouse, nxt, out=str(tmp_path), now=noon)
    assert str(refused.value) == (
        "the day 2016-12-02 (2016-12-02T00:00:00+08:00 to 2016-12-03T00:00:00+08:00) has not ended: "
        "it ends at 2016-12-03T00:00:00+08:00 local time, and it is now 2016-12-02T12:00:00+08:00; "
        "a day's report is published once the day is over (index.html shows the latest day that has)"
    )
    # one second before midnight the day has still not ended; at midnight it has
    with pytest.raises(PublishError, match=r"the day 2016-12-02 \(.*\) has not ended"):
        publish_daily(
            warehouse, nxt, out=str(tmp_path), now=dt.datetime(2016, 12, 2, 23, 59, 59, tzinfo=SH)
        )
    report = publish_daily(warehouse, None, out=str(tmp_path), now=noon)  # the latest ENDED day
    assert report.period == "2016-12-01"
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<time datetime="2016-12-01">' in index
    assert not (tmp_path / "daily" / "2016-12-02.html").exists()
    publish_daily(warehouse, nxt, out=str(tmp_path), now=dt.datetime(2016, 12, 3, tzinfo=SH))
    assert '<time datetime="2016-12-02">' in (tmp_path / "index.html").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="now 2016-12-03T00:00:00 has no time zone"):
        publish_daily(warehouse, DAY, out=str(tmp_path), now=dt.datetime(2016, 12, 3))


def test_station_pages_and_the_archive(warehouse, tmp_path):
    load_day(warehouse)
    publish_daily(warehouse, DAY - dt.timedelta(days=1), out=str(tmp_path))
    publish_daily(warehouse, DAY, out=str(tmp_path))
    stations = sorted(p.stem for p in (tmp_path / "station").glob("*.html"))
    assert len(stations) == 13 and "city" in stations and INSUFFICIENT_STATION in stations
    page = (tmp_path / "station" / f"{INSUFFICIENT_STATION}.html").read_text(encoding="utf-8")
    assert "怀柔" in page and "数据不足" in page and "SO₂ 有效小时数 17 &lt; 20" in page
    assert 'href="../daily/2016-12-01.html"' in page and page.count('class="bar"') == 30
    city = (tmp_path / "station" / "city.html").read_text(encoding="utf-8")
    assert "全市" in city and ">152<" in city
    daily_page = (tmp_path / "daily" / "2016-12-01.html").read_text(encoding="utf-8")
    assert f'href="../station/{INSUFFICIENT_STATION}.html"' in daily_page
    archive = (tmp_path / "archive.html").read_text(encoding="utf-8")
    assert archive.index('href="daily/2016-12-01.html"') < archive.index(
        'href="daily/2016-11-30.html"'
    )
    assert 'data-month="2016-12"' in archive and 'data-month="2016-11"' in archive
    for page in ("index.html", "archive.html", "daily/2016-12-01.html", "station/city.html"):
        assert 'archive.html">历史日报及月报' in (tmp_path / page).read_text(encoding="utf-8"), page


def test_level_colours_have_readable_text():
    for edition in ("HJ633-2012", "HJ633-2026"):
        for lv in levels_of(edition):
            assert contrast_ratio(text_colour_on(lv.colour_hex), lv.colour_hex) >= 4.5, lv
    assert text_colour_on("#FFFF00") == "#000000" and text_colour_on("#7E0023") == "#FFFFFF"


def _hourly_row(site_id, scope, hour, aqi, level, category, colour):
    return {
        "site_id": site_id, "scope": scope, "period_start": hour, "local_date": hour.astimezone(SH).date(),
        "edition": "HJ633-2012", "aqi": aqi, "level": level, "category": category,
        "category_en": None, "colour_hex": colour, "primary_pollutants": "PM2.5" if aqi > 50 else None,
        "pm25_1h_ugm3": 80.4, "co_1h_mgm3": 1.25, "valid": True, "computed_at": COMPUTED_AT,
        "realtime_reading": "literal",
    }  # fmt: skip


def test_realtime_page(warehouse, tmp_path):
    hour = dt.datetime(2016, 12, 1, 8, tzinfo=SH)
    with connect(warehouse, purpose="fixture") as con:
        insert_rows(con, "aqi_hourly", [
            _hourly_row("city", "city", hour, 105, 3, "轻度污染", "#FF7E00"),
            _hourly_row("city", "city", hour - dt.timedelta(hours=1), 95, 2, "良", "#FFFF00"),
            _hourly_row("dongsi", "station", hour, 45, 1, "优", "#00E400"),
        ])  # fmt: skip
    report = publish_hourly(
        warehouse, dt.datetime(2016, 12, 1, 8), out=str(tmp_path)
    )  # naive = local
    assert report.period == "2016-12-01T08:00+08:00" and report.has_data
    data = json.loads((tmp_path / "realtime.json").read_text(encoding="utf-8"))
    rows = {r["site_id"]: r for r in data["rows"]}
    assert len(rows) == 13 and rows["city"]["aqi"] == 105 and rows["dongsi"]["aqi"] == 45
    assert rows["city"]["pm25_1h_ugm3"] == "80" and rows["city"]["co_1h_mgm3"] == "1.2"  # half-even
    assert rows["city"]["category_en"] == "light pollution"  # filled from the levels table
    assert "texts_status" not in json.dumps(data)
    page = (tmp_path / "realtime.html").read_text(encoding="utf-8")
    assert "2016-12-01 08:00 (UTC+08:00)" in page and page.count('class="bar"') == 24
    # published years later: the notice that the data are old is on the page, script or not
    assert (
        '<p id="stale" class="stale" role="status" data-hour-start="2016-12-01T08:00:00+08:00"'
        in page
    )
    assert 'data-stale-after-ms="7200000">' in page
    latest = publish_hourly(warehouse, None, out=str(tmp_path))
    assert latest.period == report.period and latest.changed == ()
    with pytest.raises(PublishError, match="not the start of an hour"):
        publish_hourly(warehouse, dt.datetime(2016, 12, 1, 8, 30), out=str(tmp_path))
    # published within two hours of the hour's start: the notice is there but hidden
    publish_hourly(warehouse, None, out=str(tmp_path), now=hour + dt.timedelta(hours=2))
    page = (tmp_path / "realtime.html").read_text(encoding="utf-8")
    assert 'data-stale-after-ms="7200000" hidden>' in page
    publish_hourly(warehouse, None, out=str(tmp_path), now=hour + dt.timedelta(hours=2, seconds=1))
    assert 'data-stale-after-ms="7200000">' in (tmp_path / "realtime.html").read_text(
        encoding="utf-8"
    )
    # the latest hour that has ended: at 08:59 that is 07:00
    early = publish_hourly(warehouse, None, out=str(tmp_path), now=hour + dt.timedelta(minutes=59))
    assert early.period == "2016-12-01T07:00+08:00"
    with pytest.raises(
        PublishError,
        match=r"the hour \(2016-12-01T08:00:00\+08:00 to 2016-12-01T09:00:00\+08:00\) has not ended",
    ):
        publish_hourly(
            warehouse,
            dt.datetime(2016, 12, 1, 8),
            out=str(tmp_path),
            now=hour + dt.timedelta(minutes=59),
        )


def envmon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envmon", *args], capture_output=True, text=True,
        env=dict(os.environ) | {"COLUMNS": "200"}, cwd=REPO, timeout=300,
    )  # fmt: skip


def test_command_line(warehouse, tmp_path):
    from typer.testing import CliRunner

    from envmon.cli import app

    load_day(warehouse)
    out = tmp_path / "cli"
    runner = CliRunner()
    done = runner.invoke(
        app, ["publish", "daily", "--date", "2016-11-30", "--to", "2016-12-01", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert (
        "daily 2016-11-30: 21 files" in done.output and "daily 2016-12-01: 18 files" in done.output
    )
    assert (out / "daily" / "2016-11-30.html").exists() and (out / "index.html").exists()
    monthly = runner.invoke(app, ["publish", "monthly", "--month", "2016-12", "--out", str(out)])
    assert monthly.exit_code == 0, monthly.output
    assert (out / "disclosure" / "2016-12" / "disclosure_2016-12.xlsx").exists()
    future = runner.invoke(app, ["publish", "daily", "--date", "2999-01-01", "--out", str(out)])
    assert isinstance(future.exception, PublishError)
    assert (
        "the day 2999-01-01 (2999-01-01T00:00:00+08:00 to 2999-01-02T00:00:00+08:00) has not ended"
        in str(future.exception)
    )
    bad_hour = runner.invoke(app, ["publish", "hourly", "--hour", "soon", "--out", str(out)])
    assert isinstance(bad_hour.exception, PublishError) and "expected ISO 8601" in str(
        bad_hour.exception
    )
    # as staff see it: a clear error and exit status 2, not a traceback
    bad = envmon("publish", "monthly", "--month", "12/2016", "--out", str(out))
    assert bad.returncode == 2 and "envmon: error: month '12/2016': expected YYYY-MM" in bad.stderr
    assert "Traceback" not in bad.stderr
