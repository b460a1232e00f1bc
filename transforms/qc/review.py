"""Staff review events: flag, unflag and revert, each kept with who, when and why.

Events are only ever inserted (review_events); the effective verdict of a reading is in the
view `v_readings_qc`: the latest event in force over it wins (flag -> fail, unflag -> pass),
and a revert cancels the event it names. Ranges are half-open: [period_from, period_to).

A review over a range where the site (and parameter) has no reading is refused, naming the
site's nearest readings; a review that changes readings of an audited day re-opens that day
(transforms.qc.status), so it is audited again. `reviewed_by` is a person's id (the CLI checks
it against the registry); `person_names` names them as people read them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from core import periods
from core.errors import EnvmonError
from warehouse.ids import UnknownIdError, resolve_id

ACTIONS = ("flag", "unflag")


class ReviewError(EnvmonError):
    """A review that cannot be recorded (unknown site or review, bad range...)."""


@dataclass(frozen=True)
class ReviewEvent:
    review_id: str
    action: str
    site_id: str
    parameter: str | None
    period_from: datetime
    period_to: datetime
    reason: str
    reviewed_by: str
    reviewed_at: datetime
    reverts_review_id: str | None


def _new_id(at: datetime) -> str:
    # Time-ordered, so ids sort like the events (ties in reviewed_at are broken by id).
    return f"rv-{at:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"


def require(text: str, what: str) -> str:
    """`text` stripped; a `ReviewError` naming `what` is missing when it is empty."""
    if not text or not text.strip():
        raise ReviewError(f"a review needs {what}")
    return text.strip()


def record_review(
    con: duckdb.DuckDBPyConnection,
    action: str,
    site_id: str,
    parameter: str | None,
    period_from: datetime,
    period_to: datetime,
    reason: str,
    reviewed_by: str,
    *,
    at: datetime | None = None,
) -> ReviewEvent:
    """Flag (force fail) or unflag (force pass) a site's parameter (None: all) over a range."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown review action {action!r}; valid actions: {', '.join(ACTIONS)}, revert")
    if period_from.tzinfo is None or period_to.tzinfo is None:
        raise ReviewError("review ranges need a time zone (e.g. 2024-05-01T08:00+08:00)")
    if period_to <= period_from:
        raise ReviewError(f"empty review range: --to {period_to.isoformat()} is not after --from {period_from.isoformat()}")
    if not con.execute("SELECT 1 FROM sites WHERE site_id = ?", [site_id]).fetchall():
        raise ReviewError(f"unknown site {site_id!r}")
    if parameter is not None and not con.execute(
        "SELECT 1 FROM site_parameters WHERE site_id = ? AND parameter = ?", [site_id, parameter]
    ).fetchall():
        raise ReviewError(f"site {site_id!r} does not report parameter {parameter!r}")
    at = periods.utc(at or datetime.now(UTC), "at")
    event = ReviewEvent(_new_id(at), action, site_id, parameter, period_from.astimezone(UTC), period_to.astimezone(UTC),
                        require(reason, "a reason"), require(reviewed_by, "a reviewer (--by)"), at, None)
    _require_readings(con, event)
    _insert(con, event)
    _reopen(con, event)
    return event


def site_timezone(con: duckdb.DuckDBPyConnection, site_id: str) -> str:
    row = con.execute("SELECT timezone FROM sites WHERE site_id = ?", [site_id]).fetchone()
    if row is None:
        raise ReviewError(f"unknown site {site_id!r}")
    return row[0]


def _require_readings(con: duckdb.DuckDBPyConnection, e: ReviewEvent) -> None:
    """Refuse a review over a range where the site (and parameter) has no reading, naming the
    range in local time and the site's nearest readings before and after it."""
    p = {"site": e.site_id, "param": e.parameter, "lo": e.period_from, "hi": e.period_to}
    match = "site_id = $site AND ($param IS NULL OR parameter = $param)"
    if con.execute(f"SELECT 1 FROM readings WHERE {match} AND period_start >= $lo AND period_start < $hi LIMIT 1",
                   p).fetchall():
        return
    before, after = con.execute(
        f"""SELECT (SELECT max(period_start) FROM readings WHERE {match} AND period_start < $lo),
                   (SELECT min(period_start) FROM readings WHERE {match} AND period_start >= $hi)""", p).fetchone()
    tz = site_timezone(con, e.site_id)
    what = f"{e.site_id} {e.parameter}" if e.parameter else e.site_id
    if before is None and after is None:
        nearest = f"{what} has no readings at all"
    else:
        nearest = "its nearest readings: " + ", ".join(
            text for text in (f"{periods.local_minute(before, tz)} (before)" if before else "",
                              f"{periods.local_minute(after, tz)} (after)" if after else "") if text)
    raise ReviewError(f"no readings of {what} from {periods.local_minute(e.period_from, tz)} to "
                      f"{periods.local_minute(e.period_to, tz)}: nothing to {e.action}; {nearest}")


def _reopen(con: duckdb.DuckDBPyConnection, e: ReviewEvent) -> None:
    from transforms.qc.status import reopen_days  # status builds on reviews

    reopen_days(con, e.site_id, e.period_from, e.period_to, e.reviewed_by, e.reviewed_at, e.review_id)


def revert_review(con: duckdb.DuckDBPyConnection, review_id: str, reason: str, reviewed_by: str,
                  *, at: datetime | None = None) -> ReviewEvent:
    """Cancel a flag/unflag event, named by its id or a unique prefix of it; the revert is
    itself an event, so the history stays whole."""
    try:
        review_id = resolve_id(con, "review_events", "review_id", review_id, "review",
                               "`envmon review list` lists the reviews")
    except UnknownIdError as exc:
        raise ReviewError(str(exc)) from None
    row = con.execute(
        "SELECT action, site_id, parameter, period_from, period_to FROM review_events WHERE review_id = ?", [review_id]
    ).fetchall()[0]
    if row[0] not in ACTIONS:
        raise ReviewError(f"review {review_id} is a {row[0]}; only flag and unflag events can be reverted")
    if con.execute("SELECT review_id FROM review_events WHERE reverts_review_id = ?", [review_id]).fetchall():
        raise ReviewError(f"review {review_id} is already reverted")
    at = periods.utc(at or datetime.now(UTC), "at")
    event = ReviewEvent(_new_id(at), "revert", row[1], row[2], row[3], row[4], require(reason, "a reason"),
                        require(reviewed_by, "a reviewer (--by)"), at, review_id)
    _insert(con, event)
    _reopen(con, event)
    return event


def _insert(con: duckdb.DuckDBPyConnection, e: ReviewEvent) -> None:
    con.execute(
        "INSERT INTO review_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [e.review_id, e.action, e.site_id, e.parameter, e.period_from, e.period_to, e.reason, e.reviewed_by,
         e.reviewed_at, e.reverts_review_id],
    )


def list_reviews(con: duckdb.DuckDBPyConnection, site_id: str | None = None) -> list[tuple[ReviewEvent, bool]]:
    """Every event (oldest first) with whether it is still in force."""
    rows = con.execute(
        """SELECT e.*, e.action <> 'revert' AND NOT EXISTS (
                  SELECT 1 FROM review_events r WHERE r.reverts_review_id = e.review_id) AS in_force
           FROM review_events e WHERE ($site IS NULL OR e.site_id = $site)
           ORDER BY e.reviewed_at, e.reverts_review_id IS NOT NULL, e.review_id""",
        {"site": site_id},
    ).fetchall()
    return [(ReviewEvent(*r[:10]), bool(r[10])) for r in rows]


def person_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Person id -> "李艳 Li Yan" for every officer and staff member of the registry (v_people)."""
    if not con.execute("SELECT 1 FROM duckdb_views() WHERE view_name = 'v_people'").fetchall():
        return {}
    return {pid: f"{zh} {en}" for pid, zh, en in con.execute("SELECT person_id, name_zh, name_en FROM v_people").fetchall()}
