"""The cases pages: the inbox of the person's grids and the case page with its workflow
actions, on alerts.queries (what is read) and alerts.cases (what may be done, by whom)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from urllib.parse import quote

import duckdb
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts import cases as workflow
from alerts.queries import case_file, list_cases
from core.periods import zone
from envmon.web import files
from envmon.web.access import WarehouseBusy
from envmon.web.common import (
    Refused,
    action_id,
    busy,
    check_csrf,
    console_of,
    log,
    refresh_later,
    render,
    require_session,
)
from envmon.web.sessions import Session
from envmon.web.users import Account

router = APIRouter()
UNFINISHED = "unfinished"
ALL = "all"


# ---------------------------------------------------------------------------- scope
def grids_below(con: duckdb.DuckDBPyConnection, grid_id: str) -> set[str]:
    """The grid and every grid below it."""
    children: dict[str | None, list[str]] = {}
    for grid, parent in con.execute("SELECT grid_id, parent_id FROM grids").fetchall():
        children.setdefault(parent, []).append(grid)
    found, todo = set(), [grid_id]
    while todo:
        grid = todo.pop()
        if grid not in found:
            found.add(grid)
            todo += children.get(grid, [])
    return found


def case_grids(con: duckdb.DuckDBPyConnection, account: Account) -> set[str] | None:
    """The grids whose cases the account sees (None: all)."""
    if not account.works_cases:
        raise Refused(f"{account.person.name}: 站点运维账号不处理案件 a station staff account has no cases pages "
                      "(the data review pages are for station staff)")
    if account.sees_all_grids:
        return None
    if account.person.grid_id is None:
        return set()
    return grids_below(con, account.person.grid_id)


def in_scope(grids: set[str] | None, account: Account, grid_id: str, officer_id: str | None) -> bool:
    return grids is None or grid_id in grids or officer_id == account.person.person_id


def the_case(con: duckdb.DuckDBPyConnection, account: Account, case_id: str) -> workflow.CaseRow:
    """The case by its whole id, if the account may see it: 404 unknown, 403 another grid's."""
    grids = case_grids(con, account)
    row = con.execute("SELECT 1 FROM cases WHERE case_id = ?", [case_id]).fetchall()
    if not row:
        raise Refused(f"没有案件 {case_id} — no case {case_id!r}", status=404)
    case = workflow.get_case(con, case_id)
    if not in_scope(grids, account, case.grid_id, case.officer_id):
        log.warning("%s refused case %s of grid %s", account.username, case_id, case.grid_id)
        raise Refused(
            f"案件 {case_id} 属于 {workflow.grid_label(con, case.grid_id)}，不在您的网格范围内。"
            f" Case {case_id} is of the grid {workflow.grid_label(con, case.grid_id)}, not of your grid "
            f"{workflow.grid_label(con, account.person.grid_id)} or a grid below it."
        )
    return case


# ---------------------------------------------------------------------------- inbox
@router.get("/cases", response_class=HTMLResponse)
def inbox(request: Request, state: str = UNFINISHED) -> Response:
    console = console_of(request)
    with console.read() as con:
        session = require_session(request, con)
        account = session.account
        grids = case_grids(con, account)
        problem = ""
        wanted = None
        if state not in (UNFINISHED, ALL):
            try:
                wanted = workflow.resolve_state(state)
            except workflow.CaseError as exc:
                problem, state = str(exc), UNFINISHED
        rows = list_cases(con, state=wanted)
        rows = [r for r in rows if in_scope(grids, account, r["grid_id"], r["officer_id"])]
        if state == UNFINISHED:
            rows = [r for r in rows if r["state"] not in workflow.TERMINAL]
        for r in rows:
            tz = zone(r["timezone"]) if r["timezone"] else console.tz
            r["deadline_text"] = workflow.deadline_text(r["deadline"], tz)
            r["tz"] = tz
        scope = ("全部网格 all grids" if grids is None
                 else workflow.grid_label(con, account.person.grid_id) + " 及下级网格 and the grids below it")
    return render(
        request, "cases.html", status=400 if problem else 200, session=session,
        background=refresh_later(request, session), rows=rows, state=state, scope=scope, problem=problem,
        states=[(s, workflow.state_label(s)) for s in workflow.STATES],
    )  # fmt: skip


# ---------------------------------------------------------------------------- the case page
def _case_page(
    request: Request,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    case_id: str,
    *,
    status: int = 200,
    message: str = "",
    saved: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    console = console_of(request)
    the_case(con, session.account, case_id)
    f = case_file(con, case_id)
    c = f["case"]
    tz = zone(c["timezone"]) if c["timezone"] else console.tz
    chain = workflow.grid_chain(con, c["grid_id"])
    officers = con.execute(
        "SELECT o.officer_id, o.name_zh, o.name_en, o.role, o.grid_id, g.name_zh FROM officers o "
        "JOIN grids g USING (grid_id) WHERE o.grid_id IN (SELECT unnest(?)) ORDER BY o.grid_id = ? DESC, o.role, o.officer_id",
        [chain, c["grid_id"]],
    ).fetchall()
    return render(
        request, "case.html", status=status, session=session,
        background=refresh_later(request, session),
        c=c, f=f, case_tz=tz, deadline=workflow.deadline_text(c["deadline"], tz),
        moves=[(s, workflow.state_label(s)) for s in workflow.TRANSITIONS[c["state"]]],
        officers=officers, terminal=c["state"] in workflow.TERMINAL,
        message=message, saved=saved, form=form or {}, action_id=action_id(),
        evidence=[e for e in f["evidence"] if e["exceeded"]][:48],
        attachments=files.case_attachments(con, case_id), upload_max=console.web.upload_max_bytes,
        upload_max_text=files.size_text(console.web.upload_max_bytes),
    )  # fmt: skip


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, saved: str = "") -> Response:
    console = console_of(request)
    with console.read() as con:
        session = require_session(request, con)
        return _case_page(request, con, session, case_id, saved=saved[:80])


# ---------------------------------------------------------------------------- actions
def _deadline(day: str, at: str) -> date | datetime | None:
    """The deadline typed: a date means by the end of that local day; a date and a time is that
    local instant (alerts.cases reads a naive time in the site's zone)."""
    if not day.strip():
        if at.strip():
            raise workflow.CaseError("整改期限需要日期 a deadline needs its date (the time alone is not enough)")
        return None
    try:
        d = date.fromisoformat(day.strip())
        return datetime.combine(d, time.fromisoformat(at.strip())) if at.strip() else d
    except ValueError as exc:
        raise workflow.CaseError(f"期限 deadline {day} {at}: not a date (2026-12-05) and time (17:00)") from exc


def _act(request: Request, case_id: str, action: str, fields: dict[str, str]) -> Response:
    """One workflow action: the session and its CSRF token, the case in the person's scope,
    then alerts.cases in one write transaction with the time it is saved; the form's one-time id
    recorded with it (a form sent again is not saved twice)."""
    console = console_of(request)
    submitted = console.clock()
    sent_id = fields.get("action_id", "")[:64]
    resubmit = {k: v for k, v in fields.items() if v is not None}
    try:
        with console.read() as con:
            session = require_session(request, con)
            check_csrf(session, fields.get("csrf"))
            the_case(con, session.account, case_id)
            if not session.account.may_act_on_cases:
                raise Refused(f"{role_text(session.account)}: 只读账号 a read-only account does not change cases")
            done = _already(con, sent_id)
            if done is not None:
                return _saved(case_id, done)
    except WarehouseBusy:
        return busy(request, writing=True, resubmit=resubmit)
    message, status = "", 200
    try:
        with console.write() as con:
            session = require_session(request, con)  # still signed in when it is saved
            done = _already(con, sent_id)
            if done is not None:
                return _saved(case_id, done)
            at = console.clock()
            seq = _apply(con, case_id, action, fields, session, at)
            if sent_id:
                con.execute(
                    "INSERT INTO web_actions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [sent_id, session.account.username, session.account.person.person_id, case_id, action,
                     submitted, at, seq],
                )
            log.info("%s (%s) %s case %s: event %s", session.account.username,
                     session.account.person.person_id, action, case_id, seq)
        return _saved(case_id, seq)
    except WarehouseBusy:
        return busy(request, writing=True, resubmit=resubmit, session=session)
    except workflow.CasePermissionError as exc:
        message, status = str(exc), 403
    except workflow.CaseError as exc:
        message, status = str(exc), 400
    with console.read() as con:  # the refusal, on the case page, with what was typed kept
        session = require_session(request, con)
        return _case_page(request, con, session, case_id, status=status, message=message, form=fields)


def role_text(account: Account) -> str:
    return f"{account.person.name} ({account.username})"


def _already(con: duckdb.DuckDBPyConnection, sent_id: str) -> int | None:
    if not sent_id:
        return None
    row = con.execute("SELECT event_seq FROM web_actions WHERE action_id = ?", [sent_id]).fetchall()
    return None if not row else (row[0][0] or 0)


def _saved(case_id: str, seq: int) -> RedirectResponse:
    return RedirectResponse(f"/cases/{quote(case_id)}?saved={seq}", status_code=303)


def _apply(
    con: duckdb.DuckDBPyConnection, case_id: str, action: str, fields: dict[str, str], session: Session, at: datetime
) -> int:
    by = session.account.person.person_id
    the_case(con, session.account, case_id)
    note = (fields.get("note") or "").strip() or None
    if action == "assign":
        return workflow.assign(con, case_id, fields.get("officer") or "", by=by, at=at, note=note)
    if action == "move":
        deadline = _deadline(fields.get("deadline_date") or "", fields.get("deadline_time") or "")
        return workflow.move(con, case_id, fields.get("to_state") or "", by=by, at=at, note=note, deadline=deadline)
    if action == "note":
        return workflow.add_note(con, case_id, note or "", by=by, at=at)
    if action == "reopen":
        return workflow.reopen(con, case_id, by=by, at=at, note=note)
    raise Refused(f"unknown action {action!r}", status=404)


Text = Annotated[str, Form()]


@router.post("/cases/{case_id}/assign")
def act_assign(request: Request, case_id: str, csrf: Text = "", action_id: Text = "", officer: Text = "",
               note: Text = "") -> Response:
    return _act(request, case_id, "assign", {"csrf": csrf, "action_id": action_id, "officer": officer, "note": note})


@router.post("/cases/{case_id}/move")
def act_move(request: Request, case_id: str, csrf: Text = "", action_id: Text = "", to_state: Text = "",
             note: Text = "", deadline_date: Text = "", deadline_time: Text = "") -> Response:
    return _act(request, case_id, "move", {"csrf": csrf, "action_id": action_id, "to_state": to_state, "note": note,
                                           "deadline_date": deadline_date, "deadline_time": deadline_time})


@router.post("/cases/{case_id}/note")
def act_note(request: Request, case_id: str, csrf: Text = "", action_id: Text = "", note: Text = "") -> Response:
    return _act(request, case_id, "note", {"csrf": csrf, "action_id": action_id, "note": note})


@router.post("/cases/{case_id}/reopen")
def act_reopen(request: Request, case_id: str, csrf: Text = "", action_id: Text = "", note: Text = "") -> Response:
    return _act(request, case_id, "reopen", {"csrf": csrf, "action_id": action_id, "note": note})


