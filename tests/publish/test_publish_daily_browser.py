"""The published daily page in a real headless Chromium with the network blocked."""

from __future__ import annotations

from pathlib import Path

import pytest
from _daily_fixture import DAY, NO_DATA_STATION, PM25_BY_SITE, expected, load_day
from _publish_helpers import ARTIFACTS, air_station_ids

from publish.jobs import publish_daily

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium package is needed (run.sh test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()


def open_offline(browser, url: str, width: int = 1280):
    """A page whose every non-file request is aborted and recorded, with console errors kept."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    attempted: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(url, wait_until="load")
    return context, page, attempted, errors


def test_daily_page_in_headless_chromium(warehouse, tmp_path, browser):
    load_day(warehouse)
    out = tmp_path / "site"
    publish_daily(warehouse, DAY, out=str(out))
    context, page, attempted, errors = open_offline(browser, (out / "index.html").as_uri())

    rows = page.locator("table#report tbody tr")
    stations = air_station_ids(warehouse)
    assert rows.count() == len(stations) + 1 == 13
    ids = [rows.nth(i).get_attribute("data-site-id") for i in range(rows.count())]
    assert ids == ["city", *stations]

    for i, site_id in enumerate(ids):
        row = rows.nth(i)
        badge = row.locator("td.category .badge")
        if site_id == NO_DATA_STATION:
            assert row.locator("td.aqi").inner_text() == "—"
            assert "无数据" in row.locator("td.category").inner_text()
            assert badge.count() == 0
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
            assert "PM2.5" in row.locator("td.primary").inner_text()
        assert row.locator("td.health").inner_text().strip() != "—"

    city = rows.nth(0)
    assert "进一步加剧易感人群症状" in city.locator("td.health").inner_text()
    assert "一般人群适量减少户外运动" in city.locator("td.advice").inner_text()
    assert "Symptoms of sensitive people worsen further" in city.locator("td.health").inner_text()

    # the name with <script> is shown as text and never runs
    name = page.locator("tr[data-site-id='aotizhongxin'] th").inner_text()
    assert "<script>window.__pwned = 1</script>" in name
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator("script").count() == 0

    # 30 bars with their values printed; 1 Dec's calendar cell links to its page
    assert page.locator("svg.chart g.bar").count() == 30
    values = page.locator("svg.chart g.bar text:first-of-type").all_text_contents()
    assert values[-1] == "152" and values.count("—") == 1  # 24 Nov has no report
    assert all(v == "—" or v.isdigit() for v in values)
    cell = page.locator("table.calendar td.today")
    assert "152" in cell.inner_text() and "中度污染" in cell.inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("table#report caption").count() == 1
    assert page.locator("table#report thead th[scope=col]").count() == 14

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "daily_2016-12-01.png"
    page.screenshot(path=str(shot), full_page=True)
    context.close()
    _, phone, attempted_phone, errors_phone = open_offline(
        browser, (out / "daily" / "2016-12-01.html").as_uri(), width=390
    )
    # on a phone the wide table scrolls inside its box; the page itself does not
    assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.screenshot(path=str(ARTIFACTS / "daily_2016-12-01_phone.png"), full_page=True)
    print(f"screenshots: {shot} and {ARTIFACTS / 'daily_2016-12-01_phone.png'}")

    assert attempted == [] and attempted_phone == [], "the page tried to reach the network"
    assert errors == [] and errors_phone == []
