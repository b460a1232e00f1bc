"""In headless Chromium (Debian's, as the publishing tests use) on a 390 px phone screen: an
officer signs in, opens the case from the inbox and orders rectification with a deadline; no page
scrolls sideways. Screenshots are kept in the test's tmp folder."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _web_helpers import ACCOUNTS, Clock

from envmon.web.app import create_app
from envmon.web.config import WebConfig

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.network  # a real server on a loopback port


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium package is needed (run.sh test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()


@pytest.fixture
def served(wh) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(wh, web=WebConfig(port=port), clock=Clock())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width} px wide"


def test_an_officer_orders_rectification_on_a_phone(served: str, browser, case_id: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{served}/cases")
    assert "/login" in page.url
    page.fill("input[name=username]", "hujun")
    page.fill("input[name=password]", ACCOUNTS["hujun"][1])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{served}/cases")
    no_sideways_scroll(page)
    page.screenshot(path=str(tmp_path / "inbox-390.png"), full_page=True)

    page.click(f"a.case-link[href='/cases/{case_id}']")
    page.wait_for_url(f"{served}/cases/{case_id}")
    assert "华能北京热电厂" in page.content()
    no_sideways_scroll(page)
    page.select_option("select[name=officer]", "key_enterprises_inspector")
    page.click("form[action$='/assign'] button[type=submit]")
    page.wait_for_url(f"**/cases/{case_id}?saved=*")
    page.select_option("select[name=to_state]", "under_inspection")
    assert page.is_hidden("fieldset.deadline")  # only for a rectification order (console.js)
    page.click("form[action$='/move'] button[type=submit]")
    page.wait_for_selector("text=核查中 under_inspection")
    page.select_option("select[name=to_state]", "rectification_ordered")
    assert page.is_visible("fieldset.deadline")
    page.fill("input[name=deadline_date]", "2025-03-05")
    page.fill("form[action$='/move'] textarea[name=note]", "限期整改脱硫设施")
    page.click("form[action$='/move'] button[type=submit]")
    page.wait_for_selector("text=2025-03-05 24:00 (2025-03-06 00:00+08:00)")
    text = page.inner_text("main")
    assert "整改中 rectification_ordered" in text and "限期整改脱硫设施" in text and "胡军 Hu Jun" in text
    no_sideways_scroll(page)
    page.screenshot(path=str(tmp_path / "case-390.png"), full_page=True)
    assert (tmp_path / "case-390.png").stat().st_size > 10_000
