"""Server-side sessions and CSRF tokens.

The session cookie holds a random token (256 bits); the warehouse holds only its SHA-256, so a
copy of the warehouse opens no session. Each session has its own CSRF token, which every form
carries and every POST must present (compared in constant time). Before login, the login form is
protected by a double-submit token: a cookie and the form's field must match.

A session expires `session_minutes` after its last use (moved on at most every few minutes, when
the warehouse can be written without waiting) and at the latest SESSION_MAX_HOURS after login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from envmon.web.config import SESSION_MAX_HOURS
from envmon.web.users import Account, person_in_warehouse

SESSION_COOKIE = "envmon_session"
LOGIN_CSRF_COOKIE = "envmon_login_csrf"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens; False when either is missing."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True)
class Session:
    token_hash: str
    account: Account
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    csrf_token: str

    def refresh_due(self, now: datetime, minutes: int) -> bool:
        """Whether its expiry should be moved on now (at most every min(5, minutes/4) minutes)."""
        step = timedelta(minutes=min(5.0, minutes / 4))
        return now - self.last_seen_at >= step and self.expires_at < self.created_at + timedelta(hours=SESSION_MAX_HOURS)


def create_session(
    con: duckdb.DuckDBPyConnection, account: Account, now: datetime, minutes: int
) -> tuple[str, Session]:
    """A new session (a new token at every login); returns the cookie's token and the session."""
    token, csrf = new_token(), new_token()
    expires = min(now + timedelta(minutes=minutes), now + timedelta(hours=SESSION_MAX_HOURS))
    con.execute(
        "INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, ?)",
        [token_hash(token), account.username, now, expires, now, csrf],
    )
    con.execute("DELETE FROM web_sessions WHERE expires_at <= ?", [now])  # tidy ended ones
    return token, Session(token_hash(token), account, now, expires, now, csrf)


def find_session(con: duckdb.DuckDBPyConnection, token: str | None, now: datetime) -> Session | None:
    """The live session of a cookie's token: not expired, its account enabled, its person still
    in the registry; None otherwise."""
    if not token or len(token) > 200:
        return None
    row = con.execute(
        "SELECT s.token_hash, s.username, s.created_at, s.expires_at, s.last_seen_at, s.csrf_token, u.person_id, "
        "u.role FROM web_sessions s JOIN web_users u USING (username) "
        "WHERE s.token_hash = ? AND NOT u.disabled",
        [token_hash(token)],
    ).fetchall()
    if not row:
        return None
    th, username, created, expires, seen, csrf, person_id, role = row[0]
    if now >= expires or now >= created + timedelta(hours=SESSION_MAX_HOURS):
        return None
    person = person_in_warehouse(con, person_id)
    if person is None:
        return None
    return Session(th, Account(username, person, role), created, expires, seen, csrf)


def refresh_session(con: duckdb.DuckDBPyConnection, session: Session, now: datetime, minutes: int) -> None:
    expires = min(now + timedelta(minutes=minutes), session.created_at + timedelta(hours=SESSION_MAX_HOURS))
    con.execute(
        "UPDATE web_sessions SET last_seen_at = ?, expires_at = greatest(expires_at, ?) WHERE token_hash = ?",
        [now, expires, session.token_hash],
    )


def end_session(con: duckdb.DuckDBPyConnection, hashes: list[str]) -> None:
    for th in hashes:
        con.execute("DELETE FROM web_sessions WHERE token_hash = ?", [th])
