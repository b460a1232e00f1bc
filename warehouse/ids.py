"""Whole ids from what a person typed: the id itself, or a prefix of it that names one row.

Lists print whole ids; commands accept them or any unique prefix (as git accepts a short
commit), so an id copied from a narrow terminal or read over the phone still works. One
definition for cases, alerts, silences and review events."""

from __future__ import annotations

import duckdb

from core.errors import EnvmonError

_SHOWN = 5  # candidates named in the refusal of an ambiguous prefix


class UnknownIdError(EnvmonError):
    """No row, or more than one, has the id or prefix given."""


def resolve_id(con: duckdb.DuckDBPyConnection, table: str, column: str, text: str, what: str,
               hint: str = "") -> str:
    """The whole id in `table.column` that is `text` or starts with it (case-insensitive for the
    prefix); refused, naming the candidates, when none or several match. `table` and `column`
    are the caller's constants, never user input."""
    typed = text.strip()
    if not typed:
        raise UnknownIdError(f"no {what} id given")
    exact = con.execute(f"SELECT {column} FROM {table} WHERE {column} = ? LIMIT 1", [typed]).fetchall()
    if exact:
        return exact[0][0]
    found = [r[0] for r in con.execute(
        f"SELECT {column} FROM {table} WHERE starts_with(lower({column}), lower(?)) ORDER BY {column} LIMIT {_SHOWN + 1}",
        [typed]).fetchall()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UnknownIdError(f"no {what} {typed!r}" + (f" ({hint})" if hint else ""))
    more = ", …" if len(found) > _SHOWN else ""
    raise UnknownIdError(f"{what} id {typed!r} is the start of several: {', '.join(found[:_SHOWN])}{more}; "
                         "give more of it")
