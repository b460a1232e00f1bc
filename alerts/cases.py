"""Inspection cases: one open case per site and rule family, its workflow and its event log.

States: open → assigned → under_inspection → rectification_ordered (with a deadline) →
verified → closed; any state before closed may end as dismissed (with the reason, e.g. an
instrument fault confirmed on site). A closed case may be reopened within the case policy's
reopen_days of its closure (config/rules/calendar.yaml `cases:`), by a person or, when the
exceedance recurs, by the evaluation. Every change appends a case_event (who — a person_id of
the registry, or "system" — when, what, note); events are never updated or deleted, and a
person's event is never dated before the case's last one.

Who may do what (the checks live here, so every caller — the CLI, the staff console — gets
them):
  - assign, move along the workflow, reopen: an officer of the case's grid or of a grid up its
    tree (a district's officers act on its streets' cases), or the case's own officer;
  - close (销号) and dismiss (撤销 / 不予立案): a leader (role leader) of the case's grid or of a
    grid up its tree — both take a case out of the workflow, so both are a leader's decision,
    with a note (the closure's basis, the dismissal's reason);
  - note: anyone in the registry (bureau staff record what they know; they do not move cases,
    administrators included: they keep the system, the grids keep the cases);
  - an officer of another grid is refused, naming the case's grid and its officers.
Times: stored UTC; every text a person reads (event notes, refusals) is local time with its
offset (core.periods.local_minute) in the site's zone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from alerts.routing import Router, leader_of
from core.errors import EnvmonError
from core.identity import STAFF_ROLES, Person
from core.periods import from_stored, local_midnight, local_minute, utc, zone
from warehouse.bulk import insert_rows
from warehouse.ids import UnknownIdError, resolve_id

STATES = (
    "open",
    "assigned",
    "under_inspection",
    "rectification_ordered",
    "verified",
    "closed",
    "dismissed",
)
TERMINAL = ("closed", "dismissed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assigned", "dismissed"),
    "assigned": ("under_inspection", "dismissed"),
    "under_inspection": ("rectification_ordered", "dismissed"),
    "rectification_ordered": ("verified", "dismissed"),
    "verified": ("closed",),
    "closed": (),
    "dismissed": (),
}
# How people call the states (the one place: lists, case files, exports and --state read it).
STATE_LABELS: dict[str, tuple[str, str]] = {
    "open": ("待派发", "open"),
    "assigned": ("已派发", "assigned"),
    "under_inspection": ("核查中", "under inspection"),
    "rectification_ordered": ("整改中", "rectification ordered"),
    "verified": ("已核实", "verified"),
    "closed": ("已销号", "closed"),
    "dismissed": ("已撤销", "dismissed"),
}
STATE_ALIASES = {"不予立案": "dismissed", "撤销": "dismissed", "销号": "closed", "整改": "rectification_ordered"}
# Leaving the workflow is a leader's decision (see the module's docstring).
LEADER_MOVES = ("closed", "dismissed")
SYSTEM = "system"
SYSTEM_LABEL = "系统 system"


class CaseError(EnvmonError):
    """A case action that the workflow does not allow."""


class CasePermissionError(CaseError):
    """A person not allowed to do this to this case."""


def state_label(state: str | None) -> str:
    """A state as people read it: "整改中 rectification_ordered" (the id kept for commands)."""
    if state is None:
        return ""
    zh = STATE_LABELS.get(state, (None, None))[0]
    return f"{zh} {state}" if zh else state


def resolve_state(text: str) -> str:
    """The state id of what a person typed: the id, its Chinese or English label, or the
    Chinese label with the id ("已销号 closed"); refused naming the states."""
    key = text.strip()
    for state, (zh, en) in STATE_LABELS.items():
        if key in (state, zh, f"{zh} {state}") or key.casefold() == en.casefold():
            return state
    if key in STATE_ALIASES:
        return STATE_ALIASES[key]
    raise CaseError(f"unknown state {text!r}; states: " + ", ".join(state_label(s) for s in STATES))


def actor_label(person_id: str | None, name_zh: str | None = None, name_en: str | None = None) -> str:
    """The actor of an event as people read it: "李艳 Li Yan" ("系统 system" for the evaluation);
    an id the registry no longer knows is shown as it is."""
    if person_id == SYSTEM:
        return SYSTEM_LABEL
    if name_zh or name_en:
        return " ".join(n for n in (name_zh, name_en) if n)
    return person_id or ""


def deadline_text(deadline: datetime | None, tz: Any) -> str:
    """A deadline as people read it. A deadline at a local midnight is the end of the day
    before (a deadline typed as a date means through that day): "2026-12-05 24:00
    (2026-12-06 00:00+08:00)"; any other is the instant with its offset."""
    if deadline is None:
        return ""
    local = from_stored(deadline).astimezone(zone(tz))
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00 ({local_minute(deadline, tz)})"
    return local_minute(deadline, tz)


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    site_id: str
    rule_family: str
    grid_id: str
    officer_id: str | None
    state: str
    title: str
    opened_at: datetime
    deadline: datetime | None
    closed_at: datetime | None


def resolve_case_id(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """The whole case id of an id or a unique prefix of one (warehouse.ids.resolve_id)."""
    try:
        return resolve_id(con, "cases", "case_id", text, "case", "see `envmon cases list`")
    except UnknownIdError as exc:
        raise CaseError(str(exc)) from exc


def get_case(con: duckdb.DuckDBPyConnection, case_id: str) -> CaseRow:
    row = con.execute(
        "SELECT case_id, site_id, rule_family, grid_id, officer_id, state, title, opened_at, deadline, closed_at "
        "FROM cases WHERE case_id = ?",
        [case_id],
    ).fetchall()
    if not row:
        row = con.execute(
            "SELECT case_id, site_id, rule_family, grid_id, officer_id, state, title, opened_at, deadline, closed_at "
            "FROM cases WHERE case_id = ?",
            [resolve_case_id(con, case_id)],
        ).fetchall()
    return CaseRow(*row[0])


def add_event(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    at: datetime,
    actor: str,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    note: str | None = None,
) -> int:
    seq = con.execute(
        "SELECT coalesce(max(seq), 0) + 1 FROM case_events WHERE case_id = ?", [case_id]
    ).fetchall()[0][0]
    con.execute(
        "INSERT INTO case_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [case_id, seq, at, actor, action, from_state, to_state, note],
    )
    return seq


# ---------------------------------------------------------------------------- names and places
def site_zone(con: duckdb.DuckDBPyConnection, site_id: str) -> Any:
    """The site's time zone (its local dates and texts), or the settings' one."""
    row = con.execute("SELECT timezone FROM sites WHERE site_id = ?", [site_id]).fetchall()
    if row and row[0][0]:
        return zone(row[0][0])
    from core.settings import get_settings

    return get_settings().tz


def grid_chain(con: duckdb.DuckDBPyConnection, grid_id: str) -> list[str]:
    """The grid and its ancestors, nearest first."""
    parents = dict(con.execute("SELECT grid_id, parent_id FROM grids").fetchall())
    chain: list[str] = []
    current: str | None = grid_id
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def grid_label(con: duckdb.DuckDBPyConnection, grid_id: str | None) -> str:
    """"重点排污单位专项网格 Key monitored enterprises special grid (key_enterprises)"."""
    if grid_id is None:
        return "(no grid)"
    row = con.execute("SELECT name_zh, name_en FROM grids WHERE grid_id = ?", [grid_id]).fetchall()
    return f"{row[0][0]} {row[0][1]} ({grid_id})" if row else grid_id


def person_label(con: duckdb.DuckDBPyConnection, person_id: str | None, *, phone: bool = False) -> str:
    """"孙伟 Sun Wei (key_enterprises_responsible[, 010-…])" from v_people; "系统 system"."""
    if person_id is None:
        return "(nobody)"
    if person_id == SYSTEM:
        return SYSTEM_LABEL
    row = con.execute(
        "SELECT name_zh, name_en, phone FROM v_people WHERE person_id = ?", [person_id]
    ).fetchall()
    if not row:
        return person_id
    zh, en, tel = row[0]
    extra = f", {tel}" if phone and tel else ""
    return f"{zh} {en} ({person_id}{extra})"


def _officers_text(con: duckdb.DuckDBPyConnection, grid_id: str) -> str:
    rows = con.execute(
        "SELECT officer_id, name_zh, name_en, role FROM officers WHERE grid_id = ? ORDER BY role, officer_id",
        [grid_id],
    ).fetchall()
    return ", ".join(f"{zh} {en} ({oid}, {role})" for oid, zh, en, role in rows) or "none"


def find_grid(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """The grid id of an id, a Chinese name or an English name (any case); refused naming the
    grids."""
    key = text.strip()
    rows = con.execute("SELECT grid_id, name_zh, name_en FROM grids ORDER BY grid_id").fetchall()
    for grid_id, zh, en in rows:
        if key in (grid_id, zh) or key.casefold() == (en or "").casefold():
            return grid_id
    raise CaseError(
        f"unknown grid {text!r}; grids: " + ", ".join(f"{g} {zh}" for g, zh, _ in rows)
    )


def find_officer(
    con: duckdb.DuckDBPyConnection, text: str, prefer_grids: list[str] | None = None
) -> str:
    """The officer id of an id, a Chinese name or an English name (any case); a name two
    officers share is refused listing them, unless exactly one of them is of `prefer_grids`
    (a case's grid tree: "assign to 胡军" means the 胡军 of the case's grid); an unknown one
    names where officers are listed."""
    key = text.strip()
    rows = con.execute(
        "SELECT officer_id, name_zh, name_en, grid_id FROM officers ORDER BY officer_id"
    ).fetchall()
    if any(key == r[0] for r in rows):
        return key
    found = [r for r in rows if key == r[1] or key.casefold() == (r[2] or "").casefold()
             or key == f"{r[1]} {r[2]}"]
    if len(found) > 1 and prefer_grids:
        near = [r for r in found if r[3] in prefer_grids]
        found = near if len(near) == 1 else found
    if len(found) == 1:
        return found[0][0]
    if found:
        raise CaseError(
            f"{key!r} names {len(found)} officers: "
            + ", ".join(f"{zh} {en} ({oid}, grid {g})" for oid, zh, en, g in found)
            + "; give the id"
        )
    raise CaseError(
        f"unknown officer {text!r}: not in the registry (config/registry/grids.yaml; "
        "`envmon registry show` lists the officers)"
    )


def _person(con: duckdb.DuckDBPyConnection, by: Person | str) -> Person:
    """The acting person: a Person (core.identity) or a person_id checked in v_people."""
    if isinstance(by, Person):
        return by
    row = con.execute(
        "SELECT person_id, name_zh, name_en, role, grid_id, phone, email FROM v_people WHERE person_id = ?",
        [by],
    ).fetchall()
    if not row:
        raise CasePermissionError(
            f"unknown person {by!r}: case actions are recorded for people of the registry "
            "(config/registry/grids.yaml officers and staff)"
        )
    return Person(*row[0])


def _check_acts(con: duckdb.DuckDBPyConnection, case: CaseRow, person: Person, doing: str) -> None:
    """An officer of the case's grid tree, or its own officer, may move it; nobody else."""
    if person.role in STAFF_ROLES or not person.is_officer:
        raise CasePermissionError(
            f"{person} is bureau staff ({person.role}): staff may add notes to a case "
            f"(`envmon cases note`) but not {doing}; the officers of "
            f"{grid_label(con, case.grid_id)} do: {_officers_text(con, case.grid_id)}"
        )
    chain = grid_chain(con, case.grid_id)
    if person.grid_id in chain or person.person_id == case.officer_id:
        return
    raise CasePermissionError(
        f"{person} is an officer of {grid_label(con, person.grid_id)}, not of the case's grid "
        f"{grid_label(con, case.grid_id)} or a grid above it: cannot {doing} case {case.case_id}; "
        f"its officers: {_officers_text(con, case.grid_id)}"
    )


def _check_leader(
    con: duckdb.DuckDBPyConnection, case: CaseRow, person: Person, doing: str
) -> None:
    """A leader of the case's grid or a grid up its tree."""
    chain = grid_chain(con, case.grid_id)
    if person.role == "leader" and person.grid_id in chain:
        return
    nearest = Router(con).officer_up_tree(case.grid_id, "leader")[0]
    raise CasePermissionError(
        f"{person} cannot {doing} case {case.case_id}: only a leader of its grid "
        f"{grid_label(con, case.grid_id)} or of a grid above it may; the nearest is "
        + (person_label(con, nearest, phone=True) if nearest else "(no leader up the grid tree)")
    )


def _check_order(
    con: duckdb.DuckDBPyConnection, case: CaseRow, at: datetime, tz: Any
) -> None:
    """A person's event comes after the case's last one (the record stays in time order)."""
    last = con.execute(
        "SELECT seq, event_at, action FROM case_events WHERE case_id = ? ORDER BY event_at DESC, seq DESC LIMIT 1",
        [case.case_id],
    ).fetchall()
    if last and utc(at) < from_stored(last[0][1]):
        seq, when, action = last[0]
        raise CaseError(
            f"{local_minute(at, tz)} is before case {case.case_id}'s last event ({action}, event {seq}, "
            f"{local_minute(when, tz)}): events are recorded in order; give a later --at"
        )


def _needs_note(note: str | None, what: str) -> str:
    if not (note and note.strip()):
        raise CaseError(what)
    return note.strip()


def case_id_for(site_id: str, family: str, at: datetime, tz: Any) -> str:
    """C{the local date of opening}-{hash}: the date people know the case by."""
    day = from_stored(at).astimezone(zone(tz))
    return f"C{day:%Y%m%d}-" + hashlib.sha256(f"{site_id}|{family}|{at.isoformat()}".encode()).hexdigest()[:8]


class CaseBatch:
    """Opening or attaching to cases, and adding events, for one evaluation, which may attach thousands of alerts:
    the open cases are read once, event numbers are kept in memory and the events are written
    in bulk by flush(). Same rows, same order, as the one-at-a-time functions above; the
    alerts' case_id is left to the caller, which writes the alert rows itself.

    An alert of a site and family whose latest case was closed (销号, not dismissed) within
    reopen_days before the alert reopens that case (the system's "reopened" event naming the
    alert) instead of opening a new one."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, router: Router, reopen_days: float | None = None
    ) -> None:
        self.con, self.router = con, router
        self._reopen_days = reopen_days
        self.open: dict[tuple[str, str], str] = {}
        for case_id, site_id, family in con.execute(
            "SELECT case_id, site_id, rule_family FROM cases WHERE state NOT IN ('closed', 'dismissed') "
            "ORDER BY opened_at, case_id"
        ).fetchall():
            self.open.setdefault((site_id, family), case_id)
        # the latest case of each site and family, when it is closed (a reopening candidate)
        self.closed: dict[tuple[str, str], tuple[str, datetime, str | None]] = {}
        for case_id, site_id, family, state, closed_at, officer_id in con.execute(
            "SELECT arg_max(case_id, opened_at), site_id, rule_family, arg_max(state, opened_at), "
            "arg_max(closed_at, opened_at), arg_max(officer_id, opened_at) FROM cases GROUP BY site_id, rule_family"
        ).fetchall():
            if state == "closed" and closed_at is not None and (site_id, family) not in self.open:
                self.closed[(site_id, family)] = (case_id, closed_at, officer_id)
        self.names = {
            "grids": {g: f"{zh} {en}" for g, zh, en in con.execute("SELECT grid_id, name_zh, name_en FROM grids").fetchall()},
            "officers": {o: f"{zh} {en}" for o, zh, en in con.execute("SELECT officer_id, name_zh, name_en FROM officers").fetchall()},
            "zones": {s: tz for s, tz in con.execute("SELECT site_id, timezone FROM sites").fetchall()},
        }
        self.last_seq: dict[str, int] = {}
        self.events: list[tuple[Any, ...]] = []

    @property
    def reopen_days(self) -> float:
        if self._reopen_days is None:
            from alerts.rules import load_case_policy
            from core.settings import get_settings

            self._reopen_days = load_case_policy(get_settings().config_dir).reopen_days
        return self._reopen_days

    def _zone(self, site_id: str) -> Any:
        tz = self.names["zones"].get(site_id)
        if tz:
            return zone(tz)
        from core.settings import get_settings

        return get_settings().tz

    def add_event(
        self,
        case_id: str,
        at: datetime,
        actor: str,
        action: str,
        from_state: str | None = None,
        to_state: str | None = None,
        note: str | None = None,
    ) -> int:
        if case_id not in self.last_seq:
            self.last_seq[case_id] = self.con.execute(
                "SELECT coalesce(max(seq), 0) FROM case_events WHERE case_id = ?", [case_id]
            ).fetchall()[0][0]
        self.last_seq[case_id] += 1
        seq = self.last_seq[case_id]
        self.events.append((case_id, seq, at, actor, action, from_state, to_state, note))
        return seq

    def open_or_attach(
        self,
        *,
        alert_id: str,
        site_id: str,
        family: str,
        parameter: str | None,
        severity: str,
        title: str,
        message: str,
        at: datetime,
    ) -> tuple[str, bool]:
        """The case the alert belongs to, and whether it was opened now (a reopened case was
        not: it keeps its id and history)."""
        existing = self.open.get((site_id, family))
        if existing:
            self.add_event(
                existing, at, SYSTEM, "evidence_attached", note=f"alert {alert_id}: {message}"
            )
            return existing, False
        closed = self.closed.get((site_id, family))
        if closed is not None:
            case_id, closed_at, officer_id = closed
            closed_at = from_stored(closed_at)
            if closed_at <= utc(at) <= closed_at + timedelta(days=self.reopen_days):
                to_state = "assigned" if officer_id else "open"
                self.con.execute(
                    "UPDATE cases SET state = ?, closed_at = NULL, deadline = NULL WHERE case_id = ?",
                    [to_state, case_id],
                )
                tz = self._zone(site_id)
                self.add_event(
                    case_id, at, SYSTEM, "reopened", "closed", to_state,
                    f"the exceedance recurred {local_minute(at, tz)}, within {self.reopen_days:g} days of the "
                    f"closure ({local_minute(closed_at, tz)}): alert {alert_id}: {message}",
                )  # fmt: skip
                self.open[(site_id, family)] = case_id
                del self.closed[(site_id, family)]
                return case_id, False
        route = self.router.route(site_id)
        tz = self._zone(site_id)
        case_id = case_id_for(site_id, family, at, tz)
        self.con.execute(
            "INSERT INTO cases (case_id, site_id, rule_family, grid_id, officer_id, state, title, opened_at, deadline, "
            "closed_at, parameter, severity, routed_by) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, NULL, NULL, ?, ?, ?)",
            [case_id, site_id, family, route.grid_id, route.officer_id, title, at, parameter, severity,
             route.routed_by],
        )  # fmt: skip
        self.open[(site_id, family)] = case_id
        self.closed.pop((site_id, family), None)
        self.last_seq[case_id] = 0
        grid = self.names["grids"].get(route.grid_id, route.grid_id)
        officer = (
            f"{self.names['officers'].get(route.officer_id, '')} ({route.officer_id})".strip()
            if route.officer_id else "(none)"
        )  # fmt: skip
        self.add_event(
            case_id,
            at,
            SYSTEM,
            "opened",
            None,
            "open",
            f"routed to grid {grid} ({route.grid_id}, {route.routed_by}), officer {officer}; "
            f"alert {alert_id}: {message}",
        )
        return case_id, True

    def flush(self) -> None:
        insert_rows(self.con, "INSERT INTO case_events", self.events, 8)
        self.events = []


# ---------------------------------------------------------------------------- staff actions
def _deadline_instant(deadline: datetime | date, tz: Any) -> datetime:
    """A deadline typed as a date means through that day: the next local midnight. A time is
    that instant (naive: local)."""
    if isinstance(deadline, datetime):
        return utc(deadline if deadline.tzinfo is not None else deadline.replace(tzinfo=zone(tz)))
    return local_midnight(deadline + timedelta(days=1), tz)


def move(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    to_state: str,
    *,
    by: Person | str,
    at: datetime,
    note: str | None = None,
    deadline: datetime | date | None = None,
) -> int:
    """Change a case's state if the workflow and the person's place allow it; returns the
    event's seq. `to_state`: an id or a label (resolve_state). A deadline given as a date
    means by the end of that local day."""
    to_state = resolve_state(to_state)
    case = get_case(con, case_id)
    person = _person(con, by)
    tz = site_zone(con, case.site_id)
    allowed = TRANSITIONS[case.state]
    if to_state not in allowed:
        choices = ", ".join(allowed) if allowed else "none (the case is finished)"
        if case.state == "closed":
            choices += "; a closed case can be reopened (`envmon cases reopen`)"
        raise CaseError(
            f"case {case.case_id} is {state_label(case.state)}: cannot move to {to_state}; allowed: {choices}"
        )
    if to_state == "rectification_ordered" and deadline is None:
        raise CaseError("a rectification order needs a deadline (--deadline)")
    if to_state == "dismissed":
        note = _needs_note(
            note, "dismissing a case needs the reason (--note), e.g. instrument fault confirmed on site"
        )
    if to_state == "closed":
        note = _needs_note(
            note, "closing a case (销号) needs a note (--note): what was verified, e.g. the rectification report"
        )
    if deadline is not None and to_state != "rectification_ordered":
        raise CaseError("--deadline goes with rectification_ordered only")
    if to_state in LEADER_MOVES:
        _check_leader(con, case, person, "close" if to_state == "closed" else "dismiss")
    else:
        _check_acts(con, case, person, f"move cases (to {to_state})")
    _check_order(con, case, at, tz)
    sets, params = ["state = ?"], [to_state]
    text = note
    if to_state == "rectification_ordered":
        instant = _deadline_instant(deadline, tz)  # type: ignore[arg-type]
        if instant <= utc(at):
            raise CaseError(
                f"the deadline {deadline_text(instant, tz)} is not after the order ({local_minute(at, tz)})"
            )
        sets += ["deadline = ?", "rectification_ordered_at = ?"]
        params += [instant, at]
        text = f"deadline {deadline_text(instant, tz)}" + (f"; {note}" if note else "")
    if to_state in TERMINAL:
        sets.append("closed_at = ?")
        params.append(at)
    if to_state == "dismissed":
        sets.append("dismissed_reason = ?")
        params.append(note)
    con.execute(f"UPDATE cases SET {', '.join(sets)} WHERE case_id = ?", [*params, case.case_id])
    return add_event(con, case.case_id, at, person.person_id, "state_changed", case.state, to_state, text)


def assign(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    officer: str,
    *,
    by: Person | str,
    at: datetime,
    note: str | None = None,
) -> int:
    """Give the case to an officer (an id, or a Chinese or English name) of its grid or a grid
    above it; open → assigned."""
    case = get_case(con, case_id)
    person = _person(con, by)
    if case.state in TERMINAL:
        raise CaseError(f"case {case.case_id} is {state_label(case.state)}: it cannot be assigned")
    chain = grid_chain(con, case.grid_id)
    officer_id = find_officer(con, officer, chain)
    _check_acts(con, case, person, "assign cases")
    (grid_id,) = con.execute("SELECT grid_id FROM officers WHERE officer_id = ?", [officer_id]).fetchall()[0]
    if grid_id not in chain:
        raise CasePermissionError(
            f"{person_label(con, officer_id)} is an officer of {grid_label(con, grid_id)}, not of the case's "
            f"grid {grid_label(con, case.grid_id)} or a grid above it; its officers: "
            f"{_officers_text(con, case.grid_id)}"
        )
    tz = site_zone(con, case.site_id)
    _check_order(con, case, at, tz)
    to_state = "assigned" if case.state == "open" else case.state
    con.execute(
        "UPDATE cases SET officer_id = ?, state = ? WHERE case_id = ?",
        [officer_id, to_state, case.case_id],
    )
    text = f"assigned to {person_label(con, officer_id)} (was {person_label(con, case.officer_id)})" + (
        f"; {note}" if note else ""
    )
    return add_event(con, case.case_id, at, person.person_id, "assigned", case.state, to_state, text)


def add_note(
    con: duckdb.DuckDBPyConnection, case_id: str, note: str, *, by: Person | str, at: datetime
) -> int:
    """A note on the case's record, by anyone in the registry."""
    case = get_case(con, case_id)
    person = _person(con, by)
    if not note.strip():
        raise CaseError("an empty note says nothing: give --note TEXT")
    _check_order(con, case, at, site_zone(con, case.site_id))
    return add_event(con, case.case_id, at, person.person_id, "note", note=note)


ATTACHMENT_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


def add_attachment(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    *,
    sha256: str,
    name: str,
    size: int,
    media_type: str,
    by: Person | str,
    at: datetime,
) -> int:
    """A file attached to the case (a site photo, an inspection record, a rectification report),
    by anyone in the registry, as a note: an 'attachment' event whose note names the file and its
    whole SHA-256, and a case_attachments row. The file itself is stored by the caller under its
    hash (envmon.web.attachments). The same content on the same case: refused (it is there)."""
    case = get_case(con, case_id)
    person = _person(con, by)
    if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
        raise CaseError(f"sha256 {sha256!r}: 64 lower-case hex digits")
    if media_type not in ATTACHMENT_TYPES:
        raise CaseError(f"attachment type {media_type!r}: one of {', '.join(ATTACHMENT_TYPES)}")
    if size < 1:
        raise CaseError("an empty file is no attachment")
    name = name.strip() or "attachment"
    there = con.execute(
        "SELECT seq FROM case_attachments WHERE case_id = ? AND sha256 = ?", [case.case_id, sha256]
    ).fetchall()
    if there:
        raise CaseError(f"this file (sha256 {sha256}) is already attached to case {case.case_id} (event {there[0][0]})")
    _check_order(con, case, at, site_zone(con, case.site_id))
    note = f"附件 attachment: {name} ({media_type}, {size} bytes) sha256:{sha256}"
    seq = add_event(con, case.case_id, at, person.person_id, "attachment", note=note)
    con.execute(
        "INSERT INTO case_attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [case.case_id, seq, sha256, name, size, media_type, person.person_id, at],
    )
    return seq


def reopen(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    *,
    by: Person | str,
    at: datetime,
    note: str | None,
    reopen_days: float | None = None,
) -> int:
    """Reopen a closed case within reopen_days (the case policy's, config/rules/calendar.yaml)
    of its closure: closed → assigned (open when it has no officer), the closure kept in the
    events, closed_at and the old deadline cleared. After the period, or for a dismissed case,
    refused (a recurrence opens a new case)."""
    case = get_case(con, case_id)
    person = _person(con, by)
    tz = site_zone(con, case.site_id)
    if reopen_days is None:
        from alerts.rules import load_case_policy
        from core.settings import get_settings

        reopen_days = load_case_policy(get_settings().config_dir).reopen_days
    if case.state != "closed":
        raise CaseError(
            f"case {case.case_id} is {state_label(case.state)}: only a closed (已销号) case can be reopened"
            + ("; a dismissed case stays dismissed, a recurrence opens a new case" if case.state == "dismissed" else "")
        )
    note = _needs_note(note, "reopening a case needs a note (--note): why, e.g. the exceedance recurred")
    _check_acts(con, case, person, "reopen")
    closed_at = from_stored(case.closed_at)  # type: ignore[arg-type]
    if utc(at) > closed_at + timedelta(days=reopen_days):
        raise CaseError(
            f"case {case.case_id} was closed {local_minute(closed_at, tz)}, more than {reopen_days:g} days "
            f"before {local_minute(at, tz)} (reopen_days, config/rules/calendar.yaml): it stays closed; "
            "a recurrence opens a new case"
        )
    other = con.execute(
        "SELECT case_id FROM cases WHERE site_id = ? AND rule_family = ? AND state NOT IN ('closed', 'dismissed') "
        "AND case_id <> ?",
        [case.site_id, case.rule_family, case.case_id],
    ).fetchall()
    if other:
        raise CaseError(
            f"case {other[0][0]} is open for the same site and family: add to it (one open case per site and family)"
        )
    _check_order(con, case, at, tz)
    to_state = "assigned" if case.officer_id else "open"
    con.execute(
        "UPDATE cases SET state = ?, closed_at = NULL, deadline = NULL WHERE case_id = ?",
        [to_state, case.case_id],
    )
    text = f"reopened {local_minute(at, tz)}, closed {local_minute(closed_at, tz)}; {note}"
    return add_event(con, case.case_id, at, person.person_id, "reopened", "closed", to_state, text)


# ---------------------------------------------------------------------------- overdue
def open_at_sql(end: str, case: str = "c") -> str:
    """SQL condition: the case (table alias `case`) is unfinished at the instant `end` (an SQL
    expression of a TIMESTAMPTZ): opened before it, and neither closed nor dismissed before it."""
    return f"({case}.opened_at < {end} AND ({case}.closed_at IS NULL OR {case}.closed_at >= {end}))"


def overdue_at_sql(end: str, case: str = "c") -> str:
    """SQL condition: the case is overdue at the instant `end` — unfinished then (open_at_sql)
    and past its rectification deadline (set by rectification_ordered) before it. The one
    definition of the overdue cases the monthly figures count (publish.disclosure table 5,
    alerts.queries.cases_by_grid). Escalation runs on its own clocks (overdue_since)."""
    return f"({open_at_sql(end, case)} AND {case}.deadline < {end})"


def overdue_since(
    state: str,
    deadline: datetime | None,
    last_change: datetime,
    response_h: float,
    inspection_h: float,
) -> datetime | None:
    """When the case became (or becomes) overdue, or None if no clock runs in its state."""
    if state == "rectification_ordered":
        return deadline
    if state in ("open", "assigned"):
        return last_change + timedelta(hours=response_h)
    if state == "under_inspection":
        return last_change + timedelta(hours=inspection_h)
    return None


def escalate(
    con: duckdb.DuckDBPyConnection, case: CaseRow, since: datetime, at: datetime, reason: str
) -> str | None:
    """Escalate once per (case, missed deadline) to the grid's leader; returns the leader."""
    done = con.execute(
        "SELECT 1 FROM case_escalations WHERE case_id = ? AND overdue_since = ?",
        [case.case_id, since],
    ).fetchall()
    if done:
        return None
    leader = leader_of(con, case.grid_id)
    con.execute(
        "INSERT INTO case_escalations VALUES (?, ?, ?, ?, ?)",
        [case.case_id, since, at, leader, reason],
    )
    con.execute(
        "UPDATE cases SET escalated_to = ?, escalated_at = ? WHERE case_id = ?",
        [leader, at, case.case_id],
    )
    add_event(
        con,
        case.case_id,
        at,
        SYSTEM,
        "escalated",
        case.state,
        case.state,
        f"{reason}; escalated to {person_label(con, leader) if leader else '(no leader up the grid tree)'}",
    )
    return leader or ""


def count_continuing_days(con: duckdb.DuckDBPyConnection, case_id: str, until: datetime) -> int:
    """Rebuild the local days after the rectification order on which the exceedance continued
    (exceeded periods of the case's alerts, up to verification or `until`)."""
    con.execute("DELETE FROM case_exceedance_days WHERE case_id = ?", [case_id])
    con.execute(
        """
        INSERT INTO case_exceedance_days
        WITH c AS (
            SELECT c.case_id, c.site_id, c.rectification_ordered_at AS ordered_at, s.timezone,
                   least($until, coalesce((SELECT min(e.event_at) FROM case_events e WHERE e.case_id = c.case_id
                                           AND e.to_state IN ('verified', 'dismissed')
                                           AND e.event_at >= c.rectification_ordered_at), $until)) AS stop_at
            FROM cases c JOIN sites s USING (site_id)
            WHERE c.case_id = $case_id AND c.rectification_ordered_at IS NOT NULL
        ),
        p AS (  -- one row per exceeded period, even if two alerts of the case saw it
            SELECT DISTINCT c.case_id, c.timezone, a.parameter, ap.period_start, ap.interval_s, ap.multiple
            FROM c JOIN alerts a ON a.site_id = c.site_id AND a.case_id = c.case_id
            JOIN alert_periods ap ON ap.alert_id = a.alert_id
            WHERE ap.exceeded AND ap.period_start >= c.ordered_at AND ap.period_start < c.stop_at
        )
        SELECT case_id, CAST(timezone(timezone, period_start) AS DATE) AS local_date,
               count(DISTINCT period_start), sum(interval_s) / 3600.0, max(multiple)
        FROM (SELECT DISTINCT ON (case_id, period_start) * FROM p ORDER BY case_id, period_start, multiple DESC NULLS LAST)
        GROUP BY case_id, timezone, local_date
        """,
        {"case_id": case_id, "until": until},
    )
    return con.execute(
        "SELECT count(*) FROM case_exceedance_days WHERE case_id = ?", [case_id]
    ).fetchall()[0][0]
