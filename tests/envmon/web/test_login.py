"""Signing in and out of the staff console: sessions, cookies, refusals, expiry."""

from __future__ import annotations

import logging

import pytest
from _web_helpers import ACCOUNTS, client, csrf_of, login, session_csrf, signed_in

from envmon.web.sessions import SESSION_COOKIE
from warehouse.db import connect


def sessions(settings) -> list[tuple]:
    with connect(settings, write=False) as con:
        return con.execute("SELECT username, token_hash FROM web_sessions ORDER BY created_at").fetchall()


def test_login_then_logout(wh, clock) -> None:
    c = client(wh, clock)
    r = c.get("/cases")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fcases"
    r = login(c, "hujun", next_url="/cases")
    assert r.status_code == 303 and r.headers["location"] == "/cases"
    cookie = r.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # http: no Secure (the browser would drop it)
    token = c.cookies[SESSION_COOKIE]
    ((username, stored),) = sessions(wh)
    assert username == "hujun" and stored != token and token not in stored  # only the token's hash
    page = c.get("/cases")
    assert page.status_code == 200 and "胡军" in page.text
    r = c.post("/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert sessions(wh) == []
    assert c.get("/cases").status_code == 303
    # the old token, replayed, opens nothing
    c.cookies.set(SESSION_COOKIE, token)
    assert c.get("/cases").status_code == 303


def test_a_session_cookie_is_secure_when_the_console_is_served_over_https(wh, clock) -> None:
    c = client(wh, clock, base_url="https://console.eeb.example.gov.cn")
    c.base_url = c.base_url.copy_with(scheme="https")  # the browser talks https to the proxy
    r = login(c, "hujun")
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


@pytest.mark.parametrize("username,password", [("hujun", "Hu-Jun pass 9f3c1f"), ("nobody", "whatever pass 1")])
def test_a_wrong_password_or_unknown_name_is_refused_alike(wh, clock, username: str, password: str) -> None:
    c = client(wh, clock)
    r = login(c, username, password)
    assert r.status_code == 401 and "用户名或密码错误" in r.text and "Wrong username or password" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert sessions(wh) == []


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(wh, clock) -> None:
    from envmon.web.users import disable_user

    c = signed_in(wh, clock, "hujun")
    assert c.get("/cases").status_code == 200
    with connect(wh) as con:
        disable_user(con, "hujun", by="admin_zhou", at=clock())
    assert c.get("/cases").status_code == 303  # its session ended
    r = login(client(wh, clock), "hujun")
    assert r.status_code == 401 and "此账号已停用" in r.text and "disabled" in r.text


def test_the_login_form_needs_its_csrf_token(wh, clock) -> None:
    c = client(wh, clock)
    c.get("/login")
    for token in ("", "forged-token-forged-token-forged"):
        r = c.post("/login", data={"username": "hujun", "password": ACCOUNTS["hujun"][1], "csrf": token})
        assert r.status_code == 403 and "登录表单已过期" in r.text
    assert sessions(wh) == []


def test_a_session_expires_after_its_idle_time_and_is_moved_on_by_use(wh, clock) -> None:
    c = signed_in(wh, clock, "hujun", session_minutes=60)
    clock.advance(minutes=50)
    assert c.get("/cases").status_code == 200  # used: its expiry moves on to 50 + 60 minutes
    clock.advance(minutes=50)
    assert c.get("/cases").status_code == 200
    clock.advance(minutes=61)  # idle longer than 60 minutes
    r = c.get("/cases")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_session_ends_12_hours_after_login_however_used(wh, clock) -> None:
    c = signed_in(wh, clock, "hujun", session_minutes=240)
    for _ in range(4):  # used every 2 h 30 for 10 h: never idle for 4 h
        clock.advance(hours=2, minutes=30)
        assert c.get("/cases").status_code == 200, clock.now
    clock.advance(hours=2, minutes=30)  # 12 h 30 after login: ended, though used 2 h 30 ago
    assert c.get("/cases").status_code == 303


def test_an_expired_session_cannot_post(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun", session_minutes=30)
    token = session_csrf(c)
    clock.advance(minutes=31)
    r = c.post(f"/cases/{case_id}/note", data={"csrf": token, "note": "late"})
    assert r.status_code == 401 and "nothing was saved" in r.text


def test_no_password_is_logged(wh, clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = client(wh, clock)
    login(c, "hujun", "Hu-Jun wrong 123456")
    login(c, "hujun")
    assert "login refused: wrong password for 'hujun'" in caplog.text and "login: hujun" in caplog.text
    assert "Hu-Jun" not in caplog.text


def test_repeated_failures_slow_sign_ins_down(wh, clock) -> None:
    c = client(wh, clock)
    for _ in range(10):
        assert login(c, "hujun", "Hu-Jun guess 000000").status_code == 401
    r = login(c, "hujun")  # the right password, too soon: not even checked
    assert r.status_code == 429 and "登录失败次数过多" in r.text and "2025-03-04 09:15+08:00" in r.text
    assert r.headers["retry-after"] == "900"
    assert login(c, "xuming").status_code == 303  # another account signs in from here
    clock.advance(minutes=15)
    assert login(c, "hujun").status_code == 303
