"""`envmon users add|disable|enable|reset-password|list`: the staff console's accounts, one per
person of the registry (config/registry/grids.yaml officers and staff). Passwords are typed at a
hidden prompt or given on standard input (--password-stdin), never on the command line, and are
stored as argon2id hashes only."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import EnvmonError
from core.identity import acting_person, current_login, load_people
from core.periods import local_minute
from core.settings import get_settings
from envmon.cli.acting import By, now

console = Console()
users_app = typer.Typer(help="Staff console accounts: add, disable, enable, reset-password, list.",
                        no_args_is_help=True)

PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="read the password from standard input (one line) instead of a prompt")]


def _password(from_stdin: bool) -> str:
    from envmon.web.users import check_new_password

    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        if not password:
            raise EnvmonError("--password-stdin: standard input gave no password")
    else:
        password = typer.prompt("password 密码", hide_input=True, confirmation_prompt=True)
    return check_new_password(password)


def _by(by: str | None) -> str:
    """Who manages the accounts: --by (checked), else the login's person, else the login."""
    people = load_people(get_settings().config_dir)
    if by:
        return acting_person(people, by).person_id
    login = current_login()
    mapped = people.for_login(login)
    return mapped.person_id if mapped else f"login:{login}"


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="the login name: lower case letters, digits, . _ -")],
    person: Annotated[str, typer.Option("--person", help="the registry's person: id (or a unique name)")],
    role: Annotated[str | None, typer.Option(
        "--role", help="administrator | station_staff | officer | leader | viewer (default: from the "
        "registry: leader→leader, responsible/inspector→officer, station_staff/data_reviewer→station_staff, "
        "administrator→administrator)")] = None,
    password_stdin: PasswordStdin = False,
    by: By = None,
) -> None:
    """Add an account for a person of the registry."""
    from envmon.web.users import ROLE_LABELS, add_user, normal_username, role_for
    from warehouse.db import connect, transaction
    from warehouse.migrate import migrate

    who = load_people(get_settings().config_dir).find(person)
    name, role = normal_username(username), role_for(who, role)
    creator, password = _by(by), _password(password_stdin)
    with connect(purpose="envmon users add") as con:
        migrate(con)  # an older warehouse gets the accounts' tables (migration 0108)
    with connect(purpose="envmon users add") as con, transaction(con):
        account = add_user(con, name, who, password, role=role, by=creator, at=now())
    console.print(f"account {account.username}: {who} — {ROLE_LABELS[account.role]}")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()], by: By = None) -> None:
    """Disable an account (its sessions end at once)."""
    from envmon.web.users import disable_user
    from warehouse.db import connect, transaction

    creator = _by(by)
    with connect(purpose="envmon users disable") as con, transaction(con):
        name = disable_user(con, username, by=creator, at=now())
    console.print(f"account {name} disabled 已停用")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument()]) -> None:
    """Enable a disabled account again."""
    from envmon.web.users import enable_user
    from warehouse.db import connect, transaction

    with connect(purpose="envmon users enable") as con, transaction(con):
        name = enable_user(con, username)
    console.print(f"account {name} enabled 已启用")


@users_app.command("reset-password")
def users_reset_password(username: Annotated[str, typer.Argument()], password_stdin: PasswordStdin = False) -> None:
    """Set a new password (its sessions end: every device signs in again)."""
    from envmon.web.users import reset_password
    from warehouse.db import connect, transaction

    password = _password(password_stdin)
    with connect(purpose="envmon users reset-password") as con, transaction(con):
        name = reset_password(con, username, password, at=now())
    console.print(f"account {name}: password changed 密码已更新")


@users_app.command("list")
def users_list() -> None:
    """The accounts, the person each belongs to (Chinese name first), role and state."""
    from envmon.web.users import ROLE_LABELS, list_users
    from warehouse.db import connect

    tz = get_settings().tz
    with connect(write=False, purpose="envmon users list") as con:
        rows = list_users(con)
    table = Table(title=f"{len(rows)} account(s) (times {tz})")
    table.add_column("username", no_wrap=True)
    for col in ("person", "role", "state", "password changed"):
        table.add_column(col, overflow="fold")
    for r in rows:
        person = (f"{r['name_zh']} {r['name_en']} ({r['person_id']})" if r["name_zh"]
                  else f"{r['person_id']} (not in the registry)")
        table.add_row(r["username"], person, ROLE_LABELS.get(r["role"], r["role"]),
                      "停用 disabled" if r["disabled"] else "启用 active",
                      local_minute(r["password_changed_at"], tz))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
