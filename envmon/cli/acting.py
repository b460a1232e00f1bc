"""Who acts and when, for every staff command: `--by` (checked against the registry's people,
core.identity) and `--at` (local time; not later than now, so a past scenario can be replayed
with the times it happened, and nothing is recorded as done in the future)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from core.errors import EnvmonError
from core.identity import Person, acting_person, load_people
from core.periods import from_local_input, has_ended, local_text
from core.settings import get_settings

TIME_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M%z",
]

By = Annotated[str | None, typer.Option(
    "--by", help="who acts: your id or name in the registry (default: the person your login is mapped to)")]
At = Annotated[datetime | None, typer.Option(
    "--at", formats=TIME_FORMATS,
    help="when it was done, local time unless an offset is given (default: now; not later than now)")]


def now() -> datetime:
    """Now, read once at a command's boundary (tests replace it)."""
    return datetime.now(UTC)


def actor(by: str | None) -> Person:
    """The acting person: --by checked against the registry, else the login's person."""
    return acting_person(load_people(get_settings().config_dir), by)


def action_time(at: datetime | None, current: datetime | None = None) -> datetime:
    """The UTC instant of an action: --at read as local time, refused when later than now."""
    current = now() if current is None else current
    if at is None:
        return current
    tz = get_settings().tz
    when = from_local_input(at, tz)
    if not has_ended(when, current):
        raise EnvmonError(f"--at {local_text(when, tz)} is later than now ({local_text(current, tz)}): "
                          "an action is recorded at a time that has come")
    return when
