"""While a pipeline run writes the warehouse: pages answer 503 with Retry-After at once instead
of hanging, an action is NOT saved and says so (never applied late), and the same form sent
again once the warehouse is free is saved once."""

from __future__ import annotations

import time
from pathlib import Path

from _web_helpers import action_of, csrf_of, signed_in

from warehouse.db import connect
from warehouse.lock import warehouse_lock


def notes(settings, case_id: str) -> list[str]:
    with connect(settings, write=False) as con:
        return [n for (n,) in con.execute(
            "SELECT note FROM case_events WHERE case_id = ? AND action = 'note' ORDER BY seq", [case_id]).fetchall()]


def test_a_page_says_busy_at_once_while_a_run_writes(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun", read_timeout_s=0.3, retry_after_s=7)
    with warehouse_lock(Path(wh.warehouse_path), exclusive=True, timeout_s=1, purpose="envmon dags run hourly"):
        started = time.monotonic()
        r = c.get(f"/cases/{case_id}")
        assert time.monotonic() - started < 3
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    assert "数据库正忙" in r.text and "A pipeline run is writing the warehouse" in r.text
    assert c.get(f"/cases/{case_id}").status_code == 200  # free again


def test_an_action_during_a_run_is_not_saved_and_can_be_sent_again(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun", read_timeout_s=0.3, write_timeout_s=0.5)
    page = c.get(f"/cases/{case_id}").text
    form = {"csrf": csrf_of(page), "action_id": action_of(page), "note": "现场检查：<b>烟气</b>"}
    with warehouse_lock(Path(wh.warehouse_path), exclusive=True, timeout_s=1, purpose="envmon dags run hourly"):
        r = c.post(f"/cases/{case_id}/note", data=form)
    assert r.status_code == 503 and "Retry-After" in r.headers
    assert "您的操作未保存" in r.text and "Your action was NOT saved" in r.text
    assert "现场检查：&lt;b&gt;烟气&lt;/b&gt;" in r.text  # what was typed is kept, as text
    assert f'value="{form["action_id"]}"' in r.text  # the same form, to send again
    time.sleep(0.6)
    assert notes(wh, case_id) == []  # and nothing was applied later
    again = c.post(f"/cases/{case_id}/note", data=form)
    assert again.status_code == 303
    assert c.post(f"/cases/{case_id}/note", data=form).headers["location"] == again.headers["location"]
    assert notes(wh, case_id) == ["现场检查：<b>烟气</b>"]


def test_a_sign_in_during_a_run_says_busy(wh, clock) -> None:
    from _web_helpers import client, login

    c = client(wh, clock, read_timeout_s=0.3, write_timeout_s=0.3)
    with warehouse_lock(Path(wh.warehouse_path), exclusive=True, timeout_s=1):
        r = login(c, "hujun")
    assert r.status_code == 503 and "数据库正忙" in r.text and "Retry-After" in r.headers
    assert "Hu-Jun" not in r.text  # the password is not put back into the page


def test_a_sign_out_during_a_run_still_ends_the_session(wh, clock) -> None:
    from envmon.web.sessions import SESSION_COOKIE

    c = signed_in(wh, clock, "hujun", read_timeout_s=0.3, write_timeout_s=0.3)
    token = c.cookies[SESSION_COOKIE]
    page = c.get("/cases").text
    with warehouse_lock(Path(wh.warehouse_path), exclusive=True, timeout_s=1):
        r = c.post("/logout", data={"csrf": csrf_of(page)})
    assert r.status_code == 303
    c.cookies.set(SESSION_COOKIE, token)  # replayed: refused, though its row waits to be deleted
    assert c.get("/cases").status_code == 303


def test_an_action_that_cannot_be_written_in_time_is_not_saved(wh, clock, case_id: str) -> None:
    """The read part of the action passes (a long reader shares the lock) but the write waits for
    that reader longer than write_timeout_s: not saved, and said so, then not applied later."""
    c = signed_in(wh, clock, "hujun", read_timeout_s=0.3, write_timeout_s=0.4)
    page = c.get(f"/cases/{case_id}").text
    form = {"csrf": csrf_of(page), "action_id": action_of(page), "note": "写入超时 timed out"}
    with warehouse_lock(Path(wh.warehouse_path), exclusive=False, timeout_s=1, purpose="envmon cases export"):
        started = time.monotonic()
        r = c.post(f"/cases/{case_id}/note", data=form)
        waited = time.monotonic() - started
    assert r.status_code == 503 and "Your action was NOT saved" in r.text and "写入超时 timed out" in r.text
    assert 0.4 <= waited < 3
    time.sleep(0.5)
    assert notes(wh, case_id) == []
