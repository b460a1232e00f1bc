"""Inspection cases: one open case per site and rule family, its workflow and its event log.

States: open → assigned → under_inspection → rectification_ordered (with a deadline) →
verified → closed; any state before closed may end as dismissed (with the reason, e.g. an
instrument fault confirmed on site). Every change appends a case_event (who, when, what,
note); events are never updated or deleted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from alerts.routing import Router, leader_of
from core.errors import EnvmonError
from warehouse.bulk import insert_rows

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
SYSTEM = "system"


class CaseError(EnvmonError):
    """A case action that the workflow does not allow."""


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


def get_case(con: duckdb.DuckDBPyConnection, case_id: str) -> CaseRow:
    row = con.execute(
        "SELECT case_id, site_id, rule_family, grid_id, officer_id, state, title, opened_at, deadline, closed_at "
        "FROM cases WHERE case_id = ?",
        [case_id],
    ).fetchall()
    if not row:
        raise CaseError(f"no case {case_id!r} (see `envmon cases list`)")
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


class CaseBatch:
    """Opening or attaching to cases, and adding events, for one evaluation, which may attach thousands of alerts:
    the open cases are read once, event numbers are kept in memory and the events are written
    in bulk by flush(). Same rows, same order, as the one-at-a-time functions above; the
    alerts' case_id is left to the caller, which writes the alert rows itself."""

    def __init__(self, con: duckdb.DuckDBPyConnection, router: Router) -> None:
        self.con, self.router = con, router
        self.open: dict[tuple[str, str], str] = {}
        for case_id, site_id, family in con.execute(
            "SELECT case_id, site_id, rule_family FROM cases WHERE state NOT IN ('closed', 'dismissed') "
            "ORDER BY opened_at, case_id"
        ).fetchall():
            self.open.setdefault((site_id, family), case_id)
        self.last_seq: dict[str, int] = {}
        self.events: list[tuple[Any, ...]] = []

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
        existing = self.open.get((site_id, family))
        if existing:
            self.add_event(
                existing, at, SYSTEM, "evidence_attached", note=f"alert {alert_id}: {message}"
            )
            return existing, False
        route = self.router.route(site_id)
        case_id = (
            f"C{at:%Y%m%d}-"
            + hashlib.sha256(f"{site_id}|{family}|{at.isoformat()}".encode()).hexdigest()[:8]
        )
        self.con.execute(
            "INSERT INTO cases (case_id, site_id, rule_family, grid_id, officer_id, state, title, opened_at, deadline, "
            "closed_at, parameter, severity, routed_by) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, NULL, NULL, ?, ?, ?)",
            [case_id, site_id, family, route.grid_id, route.officer_id, title, at, parameter, severity,
             route.routed_by],
        )  # fmt: skip
        self.open[(site_id, family)] = case_id
        self.last_seq[case_id] = 0
        self.add_event(
            case_id,
            at,
            SYSTEM,
            "opened",
            None,
            "open",
            f"routed to grid {route.grid_id} ({route.routed_by}), officer {route.officer_id or '(none)'}; alert {alert_id}: {message}",
        )
        return case_id, True

    def flush(self) -> None:
        insert_rows(self.con, "INSERT INTO case_events", self.events, 8)
        self.events = []


# ---------------------------------------------------------------------------- staff actions
def move(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    to_state: str,
    *,
    by: str,
    at: datetime,
    note: str | None = None,
    deadline: datetime | None = None,
) -> int:
    """Change a case's state if the workflow allows it; returns the event's seq."""
    if to_state not in STATES:
        raise CaseError(f"unknown state {to_state!r}; states: {', '.join(STATES)}")
    case = get_case(con, case_id)
    allowed = TRANSITIONS[case.state]
    if to_state not in allowed:
        choices = ", ".join(allowed) if allowed else "none (the case is finished)"
        raise CaseError(
            f"case {case_id} is {case.state}: cannot move to {to_state}; allowed: {choices}"
        )
    if to_state == "rectification_ordered" and deadline is None:
        raise CaseError("a rectification order needs a deadline (--deadline)")
    if to_state == "dismissed" and not (note and note.strip()):
        raise CaseError(
            "dismissing a case needs the reason (--note), e.g. instrument fault confirmed on site"
        )
    if deadline is not None and to_state != "rectification_ordered":
        raise CaseError("--deadline goes with rectification_ordered only")
    sets, params = ["state = ?"], [to_state]
    if to_state == "rectification_ordered":
        if deadline <= at:  # type: ignore[operator]
            raise CaseError(
                f"the deadline {deadline:%Y-%m-%d %H:%M} is not after the order ({at:%Y-%m-%d %H:%M})"
            )
        sets += ["deadline = ?", "rectification_ordered_at = ?"]
        params += [deadline, at]
    if to_state in TERMINAL:
        sets.append("closed_at = ?")
        params.append(at)
    if to_state == "dismissed":
        sets.append("dismissed_reason = ?")
        params.append(note)
    con.execute(f"UPDATE cases SET {', '.join(sets)} WHERE case_id = ?", [*params, case_id])
    text = note
    if deadline is not None:
        text = f"deadline {deadline.isoformat()}" + (f"; {note}" if note else "")
    return add_event(con, case_id, at, by, "state_changed", case.state, to_state, text)


def assign(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    officer_id: str,
    *,
    by: str,
    at: datetime,
    note: str | None = None,
) -> int:
    case = get_case(con, case_id)
    if case.state in TERMINAL:
        raise CaseError(f"case {case_id} is {case.state}: it cannot be assigned")
    found = con.execute(
        "SELECT grid_id FROM officers WHERE officer_id = ?", [officer_id]
    ).fetchall()
    if not found:
        raise CaseError(
            f"unknown officer {officer_id!r} (officers are in config/registry/grids.yaml)"
        )
    to_state = "assigned" if case.state == "open" else case.state
    con.execute(
        "UPDATE cases SET officer_id = ?, state = ? WHERE case_id = ?",
        [officer_id, to_state, case_id],
    )
    text = f"assigned to {officer_id} (was {case.officer_id or 'nobody'})" + (
        f"; {note}" if note else ""
    )
    return add_event(con, case_id, at, by, "assigned", case.state, to_state, text)


def add_note(
    con: duckdb.DuckDBPyConnection, case_id: str, note: str, *, by: str, at: datetime
) -> int:
    get_case(con, case_id)
    if not note.strip():
        raise CaseError("an empty note says nothing: give --note TEXT")
    return add_event(con, case_id, at, by, "note", note=note)


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
        f"{reason}; escalated to {leader or '(no leader up the grid tree)'}",
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
