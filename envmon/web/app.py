"""The staff console's application: `create_app(settings, web=WebConfig(...), clock=...)`.

Every page needs a live session (else: a page redirects to the login page, an action answers
401); every POST carries its CSRF token; every answer carries a strict Content-Security-Policy
(only this application's own scripts and styles, envmon/web/static). Pages read the warehouse
through short read-only connections and answer 503 "数据库正忙" while a pipeline run writes
(envmon.web.access; docs/console.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.periods import local_minute
from core.settings import Settings, get_settings
from envmon.web import attachments, cases
from envmon.web.access import WarehouseBusy
from envmon.web.common import (
    HERE,
    Console,
    NotSignedIn,
    Refused,
    busy,
    check_csrf,
    console_of,
    log,
    login_url,
    make_templates,
    refresh_later,
    render,
    require_session,
)
from envmon.web.config import WebConfig
from envmon.web.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    create_session,
    find_session,
    new_token,
    same,
    token_hash,
)
from envmon.web.users import LoginRefused, authenticate

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    web: WebConfig | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The console over the warehouse of `settings` (default: the settings of this process),
    with the web options `web` (default: from the settings) and a clock (tests pass their own)."""
    settings = settings or get_settings()
    web = web or WebConfig.from_settings(settings)
    app = FastAPI(title="envmon staff console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = Console(settings, web, clock or _utc_now, make_templates())
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(cases.router)
    app.include_router(attachments.router)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NotSignedIn)
    def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.method in ("GET", "HEAD"):
            response: Response = RedirectResponse(login_url(request), status_code=303)
        else:
            response = render(request, "message.html", status=401, title="请先登录 Sign in first",
                              message="您的登录已过期或尚未登录，操作未保存。Your session has ended or you are not signed in: "
                              "nothing was saved. Sign in and send it again.", link="/login")
        if SESSION_COOKIE in request.cookies:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        title = {403: "无权访问 Not allowed", 404: "未找到 Not found"}.get(exc.status, "无法办理 Cannot be done")
        return render(request, "message.html", status=exc.status, title=title, message=exc.message, link="/")

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "未找到 Not found", 405: "不支持 Not allowed"}.get(exc.status_code, f"HTTP {exc.status_code}")
        return render(request, "message.html", status=exc.status_code, title=title,
                      message=f"{request.method} {request.url.path}", link="/")

    @app.exception_handler(WarehouseBusy)
    def warehouse_busy(request: Request, exc: WarehouseBusy) -> Response:
        return busy(request, writing=exc.writing)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        with console_of(request).read() as con:
            session = require_session(request, con)
        if session.account.works_cases:
            return RedirectResponse("/cases", status_code=303)
        return render(request, "home.html", session=session, background=refresh_later(request, session))

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        return _login_form(request, next_url=_safe_next(next))

    @app.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        console = console_of(request)
        next_url = _safe_next(next)
        if not same(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
            return _login_form(request, next_url, username, status=403,
                               problem="登录表单已过期，请重试。The login form expired: sign in again.")
        address = request.client.host if request.client else ""
        now = console.clock()
        until = console.throttle.blocked_until(username, address, now)
        if until is not None:
            log.warning("login refused: too many failures for %r or from %s", username.strip().lower(), address)
            wait = max(1, int((until - now).total_seconds()))
            return _login_form(request, next_url, username, status=429, headers={"Retry-After": str(wait)}, problem=(
                f"登录失败次数过多，请于 {local_minute(until, console.tz)} 后再试。Too many failed sign-ins: "
                f"try again after {local_minute(until, console.tz)}."))
        try:
            with console.read() as con:
                account = authenticate(con, username, password)
            with console.write() as con:
                token, _session = create_session(con, account, console.clock(), console.web.session_minutes)
        except LoginRefused as exc:
            log.warning("login refused: %s", exc.reason)
            console.throttle.failed(username, address, now)
            disabled = exc.reason.endswith("is disabled")
            return _login_form(request, next_url, username, status=401, problem=(
                "此账号已停用，请联系系统管理员。This account is disabled: ask an administrator."
                if disabled else "用户名或密码错误。Wrong username or password."))
        except WarehouseBusy:
            return _login_form(request, next_url, username, status=503, headers={
                "Retry-After": str(console.web.retry_after_s)}, problem=(
                "数据库正忙（数据处理任务正在写入），请稍后再登录。The warehouse is busy (a pipeline run is "
                f"writing): sign in again in {console.web.retry_after_s} seconds."))
        console.throttle.succeeded(account.username)
        log.info("login: %s (%s)", account.username, account.person.person_id)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=console.web.secure_cookies,
                            path="/", max_age=None)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        console = console_of(request)
        token = request.cookies.get(SESSION_COOKIE)
        response = RedirectResponse("/login", status_code=303)
        try:
            with console.read() as con:
                session = find_session(con, token, console.clock())
        except WarehouseBusy:
            session = None
            if token:  # cannot check it now: refuse the token here until it is deleted
                console.revoked.add(token_hash(token))
        if session is not None:
            check_csrf(session, csrf)
            console.revoked.add(session.token_hash)
            try:
                with console.write(timeout_s=console.web.read_timeout_s):
                    pass  # the write deletes the revoked sessions (Console.write)
            except WarehouseBusy:
                log.info("logout of %s recorded, deletion waits for the warehouse", session.account.username)
            log.info("logout: %s", session.account.username)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return app


def _safe_next(target: str) -> str:
    """Only a path of this site (no //host, no scheme): no open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or target.startswith("/login"):
        return "/"
    return target


def _login_form(
    request: Request,
    next_url: str,
    username: str = "",
    status: int = 200,
    problem: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if len(token) < 20 or len(token) > 100:
        token = new_token()
    response = render(request, "login.html", status=status, headers=headers, login_csrf=token,
                      next_url=next_url, username=username, problem=problem)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=console_of(request).web.secure_cookies, path="/login")
    return response
