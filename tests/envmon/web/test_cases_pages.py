"""The cases pages: the inbox of the person's grids, the case page, the workflow actions with
the authenticated person, refusals (another grid's case, no session, no CSRF token), and text
shown as text."""

from __future__ import annotations

import re

import pytest
from _web_helpers import OTHER_CASE, action_of, client, csrf_of, session_csrf, signed_in
from fastapi.routing import APIRoute

from envmon.web.app import create_app
from envmon.web.config import WebConfig
from warehouse.db import connect


def events(settings, case_id: str) -> list[tuple]:
    with connect(settings, write=False) as con:
        return con.execute(
            "SELECT seq, actor, action, to_state, note FROM case_events WHERE case_id = ? ORDER BY seq", [case_id]
        ).fetchall()


def test_the_inbox_lists_the_cases_of_the_persons_grids(wh, clock, case_id: str) -> None:
    page = signed_in(wh, clock, "hujun").get("/cases").text  # key_enterprises' inspector
    assert case_id in page and OTHER_CASE not in page
    assert "华能北京热电厂 燃煤机组烟囱1号" in page and "重点排污单位专项网格" in page
    assert "2025-03-03 10:00+08:00" in page  # opened, local with its offset
    page = signed_in(wh, clock, "zhangping").get("/cases").text  # Dongcheng's leader
    assert OTHER_CASE in page and case_id not in page
    for above in ("liyan", "zhouhao", "sunfang"):  # the city's officer (grids below), administrator, viewer
        page = signed_in(wh, clock, above).get("/cases").text
        assert case_id in page and OTHER_CASE in page, above
    r = signed_in(wh, clock, "zhaolei").get("/cases")  # station staff: no cases pages
    assert r.status_code == 403 and "站点运维账号不处理案件" in r.text


def test_the_inbox_filters_by_state(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "liyan")
    assert OTHER_CASE in c.get("/cases?state=已派发").text and case_id not in c.get("/cases?state=已派发").text
    r = c.get("/cases?state=nonsense")
    assert r.status_code == 400 and "unknown state" in r.text and "待派发 open" in r.text


def test_the_case_page_names_the_enterprise_the_officer_and_the_times(wh, clock, case_id: str) -> None:
    page = signed_in(wh, clock, "hujun").get(f"/cases/{case_id}").text
    for text in ("华能北京热电厂", "Huaneng Beijing Thermal Power Plant", "91110105950647043T",
                 "北京市朝阳区高碑店乡西店村甲1号", "燃煤机组烟囱1号", "待派发 open", "2025-03-03 10:00+08:00",
                 "系统 system"):
        assert text in page, text


def test_an_officer_walks_the_case_to_a_rectification_order_and_the_leader_closes_it(wh, clock, case_id) -> None:
    c = signed_in(wh, clock, "hujun")
    page = c.get(f"/cases/{case_id}").text
    r = c.post(f"/cases/{case_id}/assign", data={"csrf": csrf_of(page), "action_id": action_of(page),
                                                 "officer": "key_enterprises_inspector"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/cases/{case_id}?saved=")
    for to_state, extra in (("under_inspection", {}),
                            ("rectification_ordered", {"deadline_date": "2025-03-05", "note": "整改脱硫设施"})):
        clock.advance(minutes=20)
        page = c.get(f"/cases/{case_id}").text
        r = c.post(f"/cases/{case_id}/move", data={"csrf": csrf_of(page), "action_id": action_of(page),
                                                   "to_state": to_state, **extra})
        assert r.status_code == 303, r.text
    page = c.get(r.headers["location"]).text
    assert "已保存" in page and "整改中 rectification_ordered" in page
    assert "2025-03-05 24:00 (2025-03-06 00:00+08:00)" in page  # the deadline: through the 5th
    assert "2025-03-04 09:40+08:00" in page  # the order's time: the clock's, local
    assert "胡军 Hu Jun" in page and "010-64584185" in page
    clock.advance(minutes=20)
    page = c.get(f"/cases/{case_id}").text
    c.post(f"/cases/{case_id}/move", data={"csrf": csrf_of(page), "action_id": action_of(page),
                                           "to_state": "verified", "note": "复测达标"})
    # the officer may not close (销号): a leader's decision; the refusal is shown, 403
    page = c.get(f"/cases/{case_id}").text
    r = c.post(f"/cases/{case_id}/move", data={"csrf": csrf_of(page), "action_id": action_of(page),
                                               "to_state": "closed", "note": "想销号"})
    assert r.status_code == 403 and "only a leader of its grid" in r.text and "想销号" in r.text
    leader = signed_in(wh, clock, "xuming")
    page = leader.get(f"/cases/{case_id}").text
    r = leader.post(f"/cases/{case_id}/move", data={"csrf": csrf_of(page), "action_id": action_of(page),
                                                    "to_state": "closed", "note": "整改报告已审核"})
    assert r.status_code == 303
    trail = events(wh, case_id)
    assert [(a, act, s) for _, a, act, s, _ in trail[-5:]] == [
        ("key_enterprises_inspector", "assigned", "assigned"),
        ("key_enterprises_inspector", "state_changed", "under_inspection"),
        ("key_enterprises_inspector", "state_changed", "rectification_ordered"),
        ("key_enterprises_inspector", "state_changed", "verified"),
        ("key_enterprises_leader", "state_changed", "closed"),
    ]
    actors = [a for _, a, act, *_ in trail if act != "opened" and a != "system"]
    assert set(actors) == {"key_enterprises_inspector", "key_enterprises_leader"}  # person ids, authenticated
    with connect(wh, write=False) as con:
        assert con.execute("SELECT state FROM cases WHERE case_id = ?", [case_id]).fetchall() == [("closed",)]
        assert con.execute("SELECT count(*) FROM web_actions").fetchall() == [(5,)]


def test_a_workflow_error_is_shown_with_what_was_typed(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun")
    page = c.get(f"/cases/{case_id}").text
    r = c.post(f"/cases/{case_id}/move", data={"csrf": csrf_of(page), "action_id": action_of(page),
                                               "to_state": "dismissed", "note": ""})
    assert r.status_code == 400 and "needs the reason" in r.text
    assert {e[1] for e in events(wh, case_id)} == {"system"}  # nothing of the person's saved


def test_another_grids_case_is_refused_by_url_and_by_form(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "zhangping")  # Dongcheng's leader
    r = c.get(f"/cases/{case_id}")
    assert r.status_code == 403 and "不在您的网格范围内" in r.text
    assert "华能北京热电厂" not in r.text and "91110105950647043T" not in r.text  # not the case
    before = events(wh, case_id)
    token = session_csrf(c)
    for action, data in (("note", {"note": "看看"}), ("assign", {"officer": "dongcheng_leader"}),
                         ("move", {"to_state": "dismissed", "note": "x"}), ("reopen", {"note": "x"})):
        r = c.post(f"/cases/{case_id}/{action}", data={"csrf": token, "action_id": f"x-{action}", **data})
        assert r.status_code == 403, (action, r.status_code)
    assert events(wh, case_id) == before
    assert c.get("/cases/C20990101-nothing").status_code == 404


def test_a_viewer_reads_but_does_not_act(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "sunfang")
    page = c.get(f"/cases/{case_id}").text
    assert "华能北京热电厂" in page and 'action="/cases/' not in page  # no action forms
    r = c.post(f"/cases/{case_id}/note", data={"csrf": csrf_of(page), "note": "x"})
    assert r.status_code == 403 and "只读账号" in r.text


def test_every_post_needs_the_sessions_csrf_token(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun")
    before = events(wh, case_id)
    for token in (None, "", "x" * 43, csrf_of(signed_in(wh, clock, "xuming").get("/cases").text)):
        data = {"note": "csrf?"} | ({} if token is None else {"csrf": token})
        r = c.post(f"/cases/{case_id}/note", data=data)
        assert r.status_code == 403 and "Nothing was saved" in r.text
    assert events(wh, case_id) == before
    r = c.post("/logout", data={"csrf": "wrong"})
    assert r.status_code == 403 and c.get("/cases").status_code == 200  # still signed in


def test_every_route_is_refused_without_a_session(wh, clock, case_id: str) -> None:
    app = create_app(wh, web=WebConfig(), clock=clock)
    c = client(wh, clock)
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 8
    for route in routes:
        path = route.path.replace("{case_id}", case_id)
        for method in route.methods:
            if route.path == "/login":
                continue
            if method == "GET":
                r = c.get(path)
                assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
            elif route.path == "/logout":  # nothing to sign out of: back to the login page
                assert c.post(path, data={}).status_code == 303
            else:
                r = c.post(path, data={"csrf": "x", "note": "x", "to_state": "verified", "officer": "x"})
                assert r.status_code == 401, (method, path)
    # a forged cookie is no session either
    c.cookies.set("envmon_session", "forged")
    assert c.get("/cases").status_code == 303


@pytest.mark.parametrize("where", ["note", "title"])
def test_script_in_a_note_or_a_name_is_shown_as_text(wh, clock, case_id: str, where: str) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    c = signed_in(wh, clock, "hujun")
    if where == "note":
        page = c.get(f"/cases/{case_id}").text
        r = c.post(f"/cases/{case_id}/note", data={"csrf": csrf_of(page), "action_id": action_of(page), "note": evil})
        assert r.status_code == 303
    else:
        with connect(wh) as con:
            con.execute("UPDATE cases SET title = ? WHERE case_id = ?", [evil, case_id])
    for path in (f"/cases/{case_id}", "/cases"):
        page = c.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page
        if path != "/cases":  # the case page shows the note and the title
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts == ['<script src="/static/console.js" defer>']
    assert "script-src 'self'" in c.get("/cases").headers["content-security-policy"]


def test_a_form_sent_twice_is_saved_once(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun")
    page = c.get(f"/cases/{case_id}").text
    form = {"csrf": csrf_of(page), "action_id": action_of(page), "note": "一次 once"}
    first, second = c.post(f"/cases/{case_id}/note", data=form), c.post(f"/cases/{case_id}/note", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert [e for e in events(wh, case_id) if e[4] == "一次 once"] and \
        len([e for e in events(wh, case_id) if e[4] == "一次 once"]) == 1


def test_an_unknown_address_is_a_page_not_json(wh, clock) -> None:
    r = client(wh, clock).get("/nothing/<script>")
    assert r.status_code == 404 and "未找到 Not found" in r.text and "<script>" not in r.text
    assert client(wh, clock).get("/static/console.css").status_code == 200  # styles need no session
