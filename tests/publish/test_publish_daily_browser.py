"""The published daily, real-time, station and archive pages in a real headless Chromium with
the network blocked: content, layout on a 390 px phone and a 1280 px desktop (no sideways
scrolling), the map, the staleness notice with and without scripts, and the archive's links.
Screenshots go to test-artifacts/publish/ (git-ignored; the path is printed)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from _daily_fixture import (
    DAY,
    HOUR,
    HOURLY_SHORT_STATION,
    INSUFFICIENT_IAQIS,
    INSUFFICIENT_STATION,
    NO_DATA_STATION,
    PM25_BY_SITE,
    expected,
    load_day,
    load_hours,
)
from _publish_helpers import ARTIFACTS, air_station_ids, open_offline

from publish.jobs import publish_daily, publish_hourly, publish_monthly

pytestmark = pytest.mark.slow
PAGES = (
    "index.html",
    "daily/2016-11-30.html",
    "realtime.html",
    "station/city.html",
    f"station/{INSUFFICIENT_STATION}.html",
    "archive.html",
    "disclosure/2016-11/index.html",
)


@pytest.fixture
def site(warehouse, tmp_path) -> Path:
    """The fixture day and its hours, published as the jobs do: the real-time page at 09:30
    local (its hour, 08:00, has ended and is fresh), then the days (by the clock: long over)."""
    load_day(warehouse)
    load_hours(warehouse)
    out = tmp_path / "site"
    publish_hourly(warehouse, None, out=str(out), now=HOUR + dt.timedelta(minutes=90))
    publish_daily(warehouse, DAY - dt.timedelta(days=1), out=str(out))
    publish_daily(warehouse, DAY, out=str(out))
    publish_monthly(warehouse, DAY - dt.timedelta(days=1), out=str(out))  # November's tables
    shutil.copytree(out, ARTIFACTS / "site", dirs_exist_ok=True)  # the pages, to look at
    return out


def test_daily_page_in_headless_chromium(warehouse, site, browser):
    context, page, attempted, errors = open_offline(browser, (site / "index.html").as_uri())

    rows = page.locator("table#report tbody tr.site")
    stations = air_station_ids(warehouse)
    assert rows.count() == len(stations) + 1 == 13
    ids = [rows.nth(i).get_attribute("data-site-id") for i in range(rows.count())]
    assert ids == ["city", *stations]

    for i, site_id in enumerate(ids):
        row = rows.nth(i)
        badge = row.locator("td.category .badge")
        # the station's name links to its page
        assert row.locator("th a").get_attribute("href") == f"station/{site_id}.html"
        if site_id == NO_DATA_STATION:
            assert row.locator("td.aqi").inner_text() == "—"
            assert "未报送数据" in row.locator("td.category").inner_text()
            assert badge.count() == 0
            continue
        if site_id == INSUFFICIENT_STATION:
            assert row.locator("td.aqi").inner_text() == "—"
            assert row.locator("td.category").inner_text().startswith("数据不足")
            continue
        aqi, level, category, rgb = expected(site_id)
        assert row.locator("td.aqi").inner_text() == str(aqi)
        assert row.get_attribute("data-level") == str(level)
        assert category in badge.inner_text()  # the text, not only the colour
        style = badge.evaluate(
            "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
        )
        assert style[0] == rgb
        # dark text on light colours, white on dark ones
        assert style[1] == ("rgb(255, 255, 255)" if level in (5, 6) else "rgb(0, 0, 0)")
        if PM25_BY_SITE[site_id] > 20:
            assert "PM₂.₅" in row.locator("td.primary").inner_text()

    # 数据不足 with its reason, the IAQIs the row holds and the edition's rule; never "无数据"
    note = page.locator(f"tr.detail[data-detail-of='{INSUFFICIENT_STATION}']").inner_text()
    assert (
        "数据不足" in note
        and "SO₂ 有效小时数 17 < 20" in note
        and "SO₂: 17 valid hours < 20 required" in note
    )
    for name, value in INSUFFICIENT_IAQIS.items():
        assert f"{name} {value}" in note
    assert "HJ 633-2012 规定：任一污染物数据不足时不发布AQI。" in note
    body = page.locator("body").inner_text()
    for internal in ("无数据", "no data", "待核实", "UNCONFIRMED", "texts_status", "nan", "None"):
        assert internal not in body, internal

    # the health effects and advice: once per level, in the levels section, not in every row
    assert page.locator("table#levels tbody tr").count() == 6
    assert page.locator("table#report").inner_text().count("进一步加剧易感人群症状") == 0
    levels = page.locator("table#levels").inner_text()
    assert (
        levels.count("进一步加剧易感人群症状") == 1
        and "Symptoms of sensitive people worsen further" in levels
    )
    assert "一般人群适量减少户外运动" in page.locator("section.summary").inner_text()

    # the name with <script> is shown as text and never runs
    name = page.locator("tr[data-site-id='aotizhongxin'] th").inner_text()
    assert "<script>window.__pwned = 1</script>" in name
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator("script").count() == 0  # the daily page needs no script at all

    # 30 bars with their values printed, on axes with the level bands; the calendar
    chart = page.locator("svg#chart-days")
    assert chart.locator("g.bar").count() == 30
    values = chart.locator("g.bar text.value").all_text_contents()
    assert values[-1] == "152" and values.count("—") == 1  # 24 Nov has no report
    # the highest AQI of the 30 days: PM2.5 213 (29 days before) -> level V, so the axis ends at 300
    assert chart.locator("g.tick text").all_text_contents() == [
        "0",
        "50",
        "100",
        "150",
        "200",
        "300",
    ]
    assert chart.locator("g.band text").all_text_contents() == [
        "优",
        "良",
        "轻度污染",
        "中度污染",
        "重度污染",
    ]
    cell = page.locator("table.calendar td.today")
    assert "152" in cell.inner_text() and "中度污染" in cell.inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("table#report caption").count() == 1

    # the map: every station, its level in words (the marker's title, repeated in the list)
    the_map = page.locator("section.map")
    assert the_map.locator("svg").count() >= 1
    for site_id in stations:
        title = the_map.locator(f"g.cm-marker[data-site-id='{site_id}'] title").first.text_content()
        if site_id == INSUFFICIENT_STATION:
            assert "数据不足 Insufficient data" in title
        elif site_id == NO_DATA_STATION:
            assert "未报送数据 No data reported" in title
        else:
            aqi, _level, category, _rgb = expected(site_id)
            assert f"AQI {aqi} {category}" in title, (site_id, title)
    context.close()
    assert attempted == [], "the page tried to reach the network"
    assert errors == []


@pytest.mark.parametrize("width", [390, 1280])
def test_no_page_scrolls_sideways(site, browser, width):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = []
    for name in PAGES:
        context, page, attempted, errors = open_offline(
            browser, (site / name).as_uri(), width=width
        )
        # what a person reads: no snake_case id, internal status or nan on any page
        text = page.locator("body").inner_text()
        assert not re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text), (
            name,
            re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text),
        )
        assert not re.findall(r"\b(nan|None|UNCONFIRMED)\b|待核实|无数据", text), name
        overflow = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], (name, overflow)
        # nothing inside scrolls sideways either (the visually hidden 1 px table heads aside)
        boxes = page.evaluate(
            """() => [...document.querySelectorAll('main *')].filter(e => e.clientWidth > 1 && e.scrollWidth > e.clientWidth + 1
                 && getComputedStyle(e).overflowX !== 'visible').map(e => e.tagName + '.' + e.className)"""
        )
        assert boxes == [], (name, boxes)
        if width == 390:  # chart labels readable on a phone: at least 9 CSS pixels high
            heights = page.evaluate(
                """() => [...document.querySelectorAll('svg.chart text.tick-label, svg.chart text.x-label')]
                     .map(t => t.getBoundingClientRect().height)"""
            )
            assert not heights or min(heights) >= 9, (name, min(heights))
        shot = ARTIFACTS / f"{name.replace('/', '_').removesuffix('.html')}_{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        shots.append(shot)
        context.close()
        assert attempted == [] and errors == [], (name, attempted, errors)
    print(f"screenshots ({width} px): {ARTIFACTS}: {', '.join(s.name for s in shots)}")


def test_realtime_page_and_its_staleness_notice(site, browser, warehouse):
    url = (site / "realtime.html").as_uri()
    # published at 09:30, fresh: without scripts the notice stays hidden ...
    context, page, attempted, errors = open_offline(browser, url, scripts=False)
    assert not page.locator("#stale").is_visible()
    rows = page.locator("table#report tbody tr.site")
    assert rows.count() == 13
    assert rows.nth(0).locator("td.aqi").inner_text() == "80"  # 08:00: 40 + 8 * 5
    short = page.locator(f"tr[data-site-id='{HOURLY_SHORT_STATION}']")
    assert short.locator("td.category").inner_text().startswith("数据不足")
    assert (
        "PM₂.₅ 无有效数据"
        in page.locator(f"tr[data-detail-of='{HOURLY_SHORT_STATION}']").inner_text()
    )
    assert page.locator("svg#chart-hours g.bar").count() == 24
    assert page.locator("section.map svg").count() >= 1
    context.close()
    # ... with scripts, the reader's clock (years later) shows it
    context, page, attempted2, errors2 = open_offline(browser, url)
    assert page.locator("#stale").is_visible()
    assert "2016-12-01 08:00（UTC+08:00）" in page.locator("#stale").inner_text()
    context.close()
    # published late (more than two hours after the hour began): shown without any script
    publish_hourly(warehouse, None, out=str(site), now=HOUR + dt.timedelta(hours=3))
    context, page, attempted3, errors3 = open_offline(browser, url, scripts=False)
    assert page.locator("#stale").is_visible()
    context.close()
    assert attempted == attempted2 == attempted3 == [] and errors == errors2 == errors3 == []


def test_archive_and_navigation_links_all_lead_somewhere(site, browser):
    context, page, attempted, errors = open_offline(browser, (site / "archive.html").as_uri())
    days = page.locator("a.day-link")
    hrefs = [days.nth(i).get_attribute("href") for i in range(days.count())]
    assert hrefs == ["daily/2016-12-01.html", "daily/2016-11-30.html"]
    for href in hrefs:  # follow each
        page.goto((site / "archive.html").as_uri())
        page.click(f"a.day-link[href='{href}']")
        assert page.url.endswith(href) and page.locator("table#report").count() == 1
        # and from every page, the navigation reaches today, real-time and the archive
        for target, check in (("index.html", "table#report"), ("realtime.html", "#stale"),
                              ("archive.html", "a.day-link")):  # fmt: skip
            here = page.url
            page.click(f"nav a[href$='{target}']")
            assert page.locator(check).count() >= 1, (here, target)
            page.goto(here)
    # a station page from the daily table, and back to a day from the station's table
    page.goto((site / "index.html").as_uri())
    page.click(f"tr[data-site-id='{INSUFFICIENT_STATION}'] th a")
    assert page.url.endswith(f"station/{INSUFFICIENT_STATION}.html")
    assert page.locator("svg#chart-hours g.bar").count() == 24
    assert page.locator("svg#chart-days g.bar").count() == 30
    assert "数据不足" in page.locator("body").inner_text()
    page.click("a[href='../daily/2016-12-01.html']")
    assert page.locator("time[datetime='2016-12-01']").count() == 1
    context.close()
    assert attempted == [] and errors == []
