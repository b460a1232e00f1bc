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

pytestmark = pytest.mark.network  # a real server on a loopback port


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


def sign_in(page, served: str, username: str, target: str) -> None:
    page.goto(f"{served}{target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", ACCOUNTS[username][1])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{served}{target}")


def move(page, case_id: str, to_state: str, note: str = "", deadline: str = "") -> None:
    page.select_option("select[name=to_state]", to_state)
    if deadline:
        page.fill("input[name=deadline_date]", deadline)
    if note:
        page.fill("form[action$='/move'] textarea[name=note]", note)
    with page.expect_navigation():
        page.click("form[action$='/move'] button[type=submit]")
    assert "?saved=" in page.url, page.inner_text("main")


def test_an_officer_attaches_a_site_photo_and_the_leader_closes_the_case(
    served: str, browser, case_id: str, tmp_path: Path
) -> None:
    """The officer, on a 390 px phone, orders rectification, attaches a photo of the site
    (a JPEG) and records the verification; the leader then signs in and closes (销号) the case."""
    officer = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(officer, served, "hujun", f"/cases/{case_id}")
    officer.select_option("select[name=officer]", "key_enterprises_inspector")
    with officer.expect_navigation():
        officer.click("form[action$='/assign'] button[type=submit]")
    move(officer, case_id, "under_inspection")
    move(officer, case_id, "rectification_ordered", "限期整改脱硫设施", "2025-03-05")
    photo = officer.screenshot(type="jpeg", quality=70)  # a JPEG, as a phone's camera makes
    officer.set_input_files("input[type=file][name=file]", files=[
        {"name": "现场照片 site.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    with officer.expect_navigation():
        officer.click("form[action$='/attachments'] button[type=submit]")
    assert "?saved=" in officer.url, officer.inner_text("main")
    thumb = officer.locator("#attachments img")
    thumb.scroll_into_view_if_needed()  # loading="lazy": loaded when near the screen
    deadline = time.monotonic() + 5
    while not thumb.evaluate("img => img.complete && img.naturalWidth") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert thumb.evaluate("img => img.naturalWidth") > 0  # the thumbnail shows (the page's CSP allows it)
    assert "现场照片 site.jpg" in officer.inner_text("#attachments")
    timeline = officer.inner_text("ol.timeline")
    assert "attachment" in timeline and "sha256:" in timeline
    move(officer, case_id, "verified", "复测达标，照片已上传")
    no_sideways_scroll(officer)
    officer.screenshot(path=str(tmp_path / "case-attachment-390.png"), full_page=True)
    officer.locator("#attachments").screenshot(path=str(tmp_path / "attachments-390.png"))

    leader = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(leader, served, "xuming", f"/cases/{case_id}")
    assert "现场照片 site.jpg" in leader.inner_text("#attachments")
    move(leader, case_id, "closed", "整改报告与现场照片已审核")
    text = leader.inner_text("main")
    assert "已销号" in text and "整改报告与现场照片已审核" in text
    no_sideways_scroll(leader)
    leader.screenshot(path=str(tmp_path / "case-closed-390.png"), full_page=True)
    assert (tmp_path / "case-closed-390.png").stat().st_size > 10_000
