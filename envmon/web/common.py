"""What every page and action of the console shares: the app's state, rendering, the session
check, the CSRF check and the answers for a refused or busy request."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.background import BackgroundTask

from core.periods import local_minute
from core.settings import Settings
from envmon.web import access
from envmon.web.config import WebConfig
from envmon.web.sessions import (
    SESSION_COOKIE,
    Session,
    end_session,
    find_session,
    refresh_session,
    same,
)
from envmon.web.throttle import LoginThrottle
from envmon.web.users import ROLE_LABELS

log = logging.getLogger("envmon.web")
HERE = Path(__file__).resolve().parent


class NotSignedIn(Exception):
    """No live session: a page redirects to the login page, an action answers 401."""


class Refused(Exception):
    """Not this person's page or action (403), or a bad request (400), with a message."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Console:
    settings: Settings
    web: WebConfig
    clock: Callable[[], datetime]
    templates: jinja2.Environment
    # sessions signed out while the warehouse was busy: refused here, deleted at the next write
    revoked: set[str] = field(default_factory=set)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @property
    def tz(self) -> Any:
        return self.settings.tz

    def read(self) -> Any:
        return access.read(self.settings, self.web.read_timeout_s, purpose="envmon web (page)")

    def write(self, timeout_s: float | None = None) -> Any:
        return _Writer(self, self.web.write_timeout_s if timeout_s is None else timeout_s)


class _Writer:
    """access.write, also deleting the sessions signed out while the warehouse was busy."""

    def __init__(self, console: Console, timeout_s: float) -> None:
        self.console, self.timeout_s = console, timeout_s
        self._cm: Any = None

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self._cm = access.write(self.console.settings, self.timeout_s, purpose="envmon web (action)")
        con = self._cm.__enter__()
        self._flushed = list(self.console.revoked)
        end_session(con, self._flushed)
        return con

    def __exit__(self, *exc: Any) -> Any:
        result = self._cm.__exit__(*exc)
        if exc[0] is None:
            self.console.revoked.difference_update(self._flushed)
        return result


def console_of(request: Request) -> Console:
    return request.app.state.console


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # every value is HTML-escaped: a note's <script> is shown as text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_minute
    env.globals["role_label"] = lambda role: ROLE_LABELS.get(role, role)
    return env


def render(
    request: Request,
    template: str,
    status: int = 200,
    session: Session | None = None,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
    **context: Any,
) -> HTMLResponse:
    console = console_of(request)
    html = console.templates.get_template(template).render(
        request_path=request.url.path,
        session=session,
        account=session.account if session else None,
        csrf=session.csrf_token if session else "",
        tz=str(console.tz),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=headers, background=background)


def require_session(request: Request, con: duckdb.DuckDBPyConnection) -> Session:
    console = console_of(request)
    session = find_session(con, request.cookies.get(SESSION_COOKIE), console.clock())
    if session is None or session.token_hash in console.revoked:
        raise NotSignedIn()
    return session


def check_csrf(session: Session, sent: str | None) -> None:
    if not same(session.csrf_token, sent):
        log.warning("csrf token missing or wrong for %s", session.account.username)
        raise Refused("表单已失效，请刷新页面后重试 The form's security token is missing or out of date: "
                      "reload the page and try again. (Nothing was saved.)")


def action_id() -> str:
    """A form's one-time id (web_actions): a form sent twice is saved once."""
    return secrets.token_urlsafe(16)


def refresh_later(request: Request, session: Session) -> BackgroundTask | None:
    """Move the session's idle expiry on after the answer is sent, if due, without waiting for
    the warehouse (skipped when a writer holds it; the next page tries again)."""
    console = console_of(request)
    now = console.clock()
    if not session.refresh_due(now, console.web.session_minutes):
        return None

    def refresh() -> None:
        try:
            with console.write(timeout_s=0) as con:
                refresh_session(con, session, now, console.web.session_minutes)
        except access.WarehouseBusy:
            pass

    return BackgroundTask(refresh)


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def busy(
    request: Request,
    writing: bool,
    resubmit: dict[str, str] | None = None,
    session: Session | None = None,
) -> HTMLResponse:
    """503 with Retry-After: the warehouse is being written by a pipeline run. For an action:
    it was NOT saved; the page offers to send the same form again (same one-time id)."""
    console = console_of(request)
    return render(
        request,
        "busy.html",
        status=503,
        session=session,
        headers={"Retry-After": str(console.web.retry_after_s)},
        writing=writing,
        resubmit=resubmit,
        retry_after=console.web.retry_after_s,
        again_url=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )
