"""Which edition of a standard applies to a date (data: tables/editions.csv).

Families: HJ633 (AQI), GB3095 (limits, with 2026 phases), HJ663, GB3838, GB3096, GB12348, HJ75,
GB13223. Edition codes look like "HJ633-2012".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from transforms.standards import tables


@dataclass(frozen=True)
class Edition:
    """One edition (and phase, for GB 3095-2026) of a standard and when it applies."""

    family: str
    code: str
    phase: str  # "" unless the edition has phases (GB 3095-2026: transitional / final)
    in_force_from: dt.date
    in_force_to: dt.date | None  # inclusive; None = still in force
    companion: str  # the edition of the sister standard published with it ("" if none)
    source: str

    def covers(self, day: dt.date) -> bool:
        return self.in_force_from <= day and (self.in_force_to is None or day <= self.in_force_to)


def _parse(row: dict[str, str]) -> Edition:
    return Edition(
        family=row["family"],
        code=row["code"],
        phase=row["phase"],
        in_force_from=dt.date.fromisoformat(row["in_force_from"]),
        in_force_to=dt.date.fromisoformat(row["in_force_to"]) if row["in_force_to"] else None,
        companion=row["companion"],
        source=row["source"],
    )


def all_editions(family: str | None = None) -> list[Edition]:
    """Every edition row (optionally of one family), oldest first."""
    eds = [_parse(r) for r in tables.load("editions")]
    if family is not None:
        eds = [e for e in eds if e.family == family]
    return sorted(eds, key=lambda e: e.in_force_from)


def _as_date(when: dt.date | dt.datetime) -> dt.date:
    return when.date() if isinstance(when, dt.datetime) else when


def edition_for(when: dt.date | dt.datetime, family: str) -> Edition:
    """The edition of `family` in force on `when` (a local date; datetimes use their own date).

    >>> edition_for(dt.date(2026, 2, 28), "HJ633").code
    'HJ633-2012'
    """
    day = _as_date(when)
    for ed in all_editions(family):
        if ed.covers(day):
            return ed
    known = ", ".join(f"{e.code} {e.phase}".strip() for e in all_editions(family)) or "none"
    raise LookupError(f"no edition of {family} is in force on {day} (editions known: {known})")


def edition_named(code: str, when: dt.date | dt.datetime | None = None) -> Edition:
    """The edition with this code; for a phased edition the phase in force on `when`
    (default: its first phase)."""
    found = [e for e in all_editions() if e.code == code]
    if not found:
        codes = sorted({e.code for e in all_editions()})
        raise LookupError(f"unknown edition {code!r}; known: {', '.join(codes)}")
    if when is not None:
        day = _as_date(when)
        for ed in found:
            if ed.covers(day):
                return ed
    return found[0]


def resolve(code: str | None, when: dt.date | dt.datetime, family: str) -> Edition:
    """`code` if given (an edition of `family` or of its companion family), else by date.

    Lets callers pass "HJ633-2026" where a GB 3095 edition is needed: the companion is used.
    """
    if code is None:
        return edition_for(when, family)
    ed = edition_named(code, when)
    if ed.family != family:
        if not ed.companion:
            raise LookupError(f"{code} is not an edition of {family}")
        ed = edition_named(ed.companion, when)
        if ed.family != family:
            raise LookupError(f"{code} is not an edition of {family}")
    return ed
