"""Errors shared by every part of envmon, with messages meant for the person who must act."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class EnvmonError(Exception):
    """Base of envmon's own errors: the message is complete and shown to the user as is."""


class ConfigError(EnvmonError):
    """Configuration that cannot be used: names the file, the key path and the valid choices."""


class WarehouseLockedError(EnvmonError):
    """Another writer holds the warehouse and did not release it in time."""


class MigrationError(EnvmonError):
    """A migration was edited after it was applied, or failed to apply."""


def key_path(loc: tuple[Any, ...]) -> str:
    """('sites', 3, 'grid') -> 'sites[3].grid'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(source: str, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    """One line per problem: '<file>: <key path>: <reason>'."""
    lines = []
    for err in exc.errors():
        loc = key_path((*prefix, *err["loc"]))
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "missing required field"
        elif err["type"] in ("literal_error", "enum"):
            msg = f"{msg} (got {err.get('input')!r})"
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{source}: {loc}: {msg}")
    return "\n".join(lines)
