"""`envmon users …`: accounts tied to the registry's people; passwords from a hidden prompt or
standard input, stored as argon2id hashes only — never in clear in the warehouse or a log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import typer
from _web_helpers import client, login
from typer.testing import CliRunner, Result

from envmon.cli import users as users_cli
from envmon.cli import web as web_cli
from envmon.web.users import AccountError
from warehouse.db import connect

SECRET = "Liu-Jing s3cret 8e1f"


def cli() -> typer.Typer:
    # registered here; the lead adds "envmon.cli.users" and "envmon.cli.web" to COMMAND_MODULES
    app = typer.Typer()
    users_cli.register(app)
    web_cli.register(app)
    return app


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli(), list(args), input=input)


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_cli.console, "width", 200)


def test_add_an_account_with_the_role_from_the_registry(wh) -> None:
    r = run("users", "add", "LiuJing", "--person", "dongcheng_responsible", "--password-stdin", "--by", "admin_zhou",
            input=SECRET + "\n")
    assert r.exit_code == 0, (r.output, r.exception)
    assert "account liujing: 刘静 Liu Jing (dongcheng_responsible) — 网格员 grid officer" in r.output
    assert SECRET not in r.output
    with connect(wh, write=False) as con:
        ((role, stored, by),) = con.execute(
            "SELECT role, password_hash, created_by FROM web_users WHERE username = 'liujing'").fetchall()
    assert role == "officer" and stored.startswith("$argon2id$") and by == "admin_zhou"
    listed = run("users", "list").output
    line = next(line for line in listed.splitlines() if "liujing" in line)
    assert "刘静 Liu Jing (dongcheng_responsible)" in line and "启用 active" in line


@pytest.mark.parametrize("person,role,says", [
    ("dongcheng_leader", None, "网格长 grid leader"),
    ("station_tech_qian", None, "站点运维 station staff"),
    ("data_reviewer_sun", None, "站点运维 station staff"),
    ("admin_zhou", None, "系统管理员 administrator"),
    ("dongcheng_leader", "viewer", "只读 viewer"),
])
def test_default_and_chosen_roles(wh, person: str, role: str | None, says: str) -> None:
    args = ["users", "add", f"u-{person.replace('_', '-')}"[:30], "--person", person, "--password-stdin", "--by",
            "admin_zhou"] + (["--role", role] if role else [])
    # the fixture's accounts already hold some of these people: remove them first
    with connect(wh) as con:
        con.execute("DELETE FROM web_users WHERE person_id = ?", [person])
    r = run(*args, input=SECRET + "\n")
    assert r.exit_code == 0, (r.output, r.exception)
    assert says in r.output


@pytest.mark.parametrize("args,says", [
    (["--person", "station_tech_qian", "--role", "officer"], "roles for this person: station_staff, viewer"),
    (["--person", "dongcheng_responsible", "--role", "leader"], "roles for this person: officer, viewer"),
    (["--person", "dongcheng_responsible", "--role", "boss"], "unknown role 'boss'; roles: administrator"),
    (["--person", "nobody_at_all"], "unknown person 'nobody_at_all'"),
    (["--person", "key_enterprises_inspector"], "already has the account 'hujun'"),
])
def test_an_account_that_does_not_fit_is_refused(wh, args: list[str], says: str) -> None:
    r = run("users", "add", "newuser", *args, "--password-stdin", "--by", "admin_zhou", input=SECRET + "\n")
    assert r.exit_code != 0 and says in str(r.exception), (r.output, r.exception)
    with connect(wh, write=False) as con:
        assert con.execute("SELECT count(*) FROM web_users WHERE username = 'newuser'").fetchall() == [(0,)]


def test_a_short_password_and_a_taken_name_are_refused(wh) -> None:
    r = run("users", "add", "newuser", "--person", "dongcheng_responsible", "--password-stdin", "--by", "admin_zhou",
            input="short\n")
    assert isinstance(r.exception, AccountError) and "at least 10 characters" in str(r.exception)
    r = run("users", "add", "hujun", "--person", "dongcheng_responsible", "--password-stdin", "--by", "admin_zhou",
            input=SECRET + "\n")
    assert isinstance(r.exception, AccountError) and "account 'hujun' exists" in str(r.exception)
    r = run("users", "add", "Bad Name!", "--person", "dongcheng_responsible", "--password-stdin", input=SECRET + "\n")
    assert isinstance(r.exception, AccountError) and "lower-case letters" in str(r.exception)


def test_the_password_prompt_is_hidden_and_confirmed(wh, clock) -> None:
    r = run("users", "add", "liujing", "--person", "dongcheng_responsible", "--by", "admin_zhou",
            input=f"{SECRET}\n{SECRET}\n")
    assert r.exit_code == 0, (r.output, r.exception)
    assert SECRET not in r.output  # hidden input: not echoed
    assert login(client(wh, clock), "liujing", SECRET).status_code == 303


def test_disable_enable_and_reset_password(wh, clock) -> None:
    from _web_helpers import signed_in

    c = signed_in(wh, clock, "hujun")
    assert run("users", "disable", "hujun", "--by", "admin_zhou").exit_code == 0
    assert c.get("/cases").status_code == 303  # its sessions ended
    assert "停用 disabled" in next(line for line in run("users", "list").output.splitlines() if "hujun" in line)
    assert login(client(wh, clock), "hujun").status_code == 401
    assert run("users", "enable", "hujun").exit_code == 0
    c = signed_in(wh, clock, "hujun")
    r = run("users", "reset-password", "hujun", "--password-stdin", input="Hu-Jun new pass 42\n")
    assert r.exit_code == 0 and "Hu-Jun new pass" not in r.output
    assert c.get("/cases").status_code == 303  # a new password ends the sessions
    assert login(client(wh, clock), "hujun").status_code == 401  # the old one
    assert login(client(wh, clock), "hujun", "Hu-Jun new pass 42").status_code == 303
    r = run("users", "disable", "nobody")
    assert isinstance(r.exception, AccountError) and "no account 'nobody'; accounts: " in str(r.exception)
    assert "hujun" in str(r.exception)


def test_no_password_is_stored_or_logged_in_clear(wh, clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    run("users", "add", "liujing", "--person", "dongcheng_responsible", "--password-stdin", "--by", "admin_zhou",
        input=SECRET + "\n")
    run("users", "reset-password", "liujing", "--password-stdin", input=SECRET + " two\n")
    c = client(wh, clock)
    login(c, "liujing", SECRET)  # the old one: refused
    assert login(c, "liujing", SECRET + " two").status_code == 303
    # the control: a text stored in clear beside the hash is found by the same search
    canary = "Canary c1ear text 5d0b"
    with connect(wh) as con:
        con.execute("UPDATE web_users SET created_by = ? WHERE username = 'liujing'", [canary])
        con.execute("CHECKPOINT")
    files = [p for p in Path(wh.home).rglob("*") if p.is_file()]
    assert any(canary.encode() in p.read_bytes() for p in files)
    needle = SECRET.encode("utf-8")
    for path in files:
        assert needle not in path.read_bytes(), path  # the warehouse, its WAL, logs, everything
    assert SECRET not in caplog.text and "login: liujing" in caplog.text


def test_web_serve_binds_loopback_by_default(wh, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {}

    def fake_run(app, **kw):
        calls.update(kw)
        calls["app"] = app

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    r = run("web", "serve")
    assert r.exit_code == 0, (r.output, r.exception)
    assert calls["host"] == "127.0.0.1" and "http://127.0.0.1:8700/" in r.output
    run("web", "serve", "--port", "9100")
    assert calls["port"] == 9100 and calls["host"] == "127.0.0.1"
