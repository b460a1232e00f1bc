"""The warehouse schema in one readable file, `warehouse/schema.sql`: what a warehouse holds after
every migration and view file (tables with their columns, types and constraints, indexes,
sequences, views), as DuckDB itself writes each object back, in a fixed order. It is generated,
never edited; tests/warehouse/test_schema_dump.py fails when it is stale.

    python -m warehouse.schema_dump            # rewrite warehouse/schema.sql
    python -m warehouse.schema_dump --check    # exit 1 when warehouse/schema.sql is stale
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb

from warehouse.migrate import migrate

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
REFRESH_COMMAND = "python -m warehouse.schema_dump"
HEADER = f"""\
-- The envmon warehouse schema: what every migration in warehouse/migrations/ and every view in
-- warehouse/views/ leave in a new warehouse. Generated, do not edit; refresh it with
--     {REFRESH_COMMAND}
-- Tables by name, then indexes, sequences, and views by name but each after the views it reads,
-- each view under a list of its columns.
"""
_OBJECTS = "database_name = current_database() AND schema_name = current_schema()"


class SchemaDumpError(RuntimeError):
    """The warehouse holds a kind of object the dump does not write."""


def _scan(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, parenthesis depth) of each character outside 'strings' and
    "identifiers" (a doubled quote inside one closes and reopens it: the same result)."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
            continue
        if ch in "'\"":
            quote = ch
            continue
        depth += ch == "("
        yield i, ch, depth
        depth -= ch == ")"


def split_top_level(text: str) -> list[str]:
    """`text` split at each comma outside parentheses, strings and quoted identifiers."""
    cuts = [i for i, ch, depth in _scan(text) if ch == "," and depth == 0]
    return [text[a + 1:b].strip() for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)]


def table_sql(create: str) -> str:
    """DuckDB's one-line CREATE TABLE laid out one column or constraint a line."""
    statement = create.strip().removesuffix(";")
    opening = next((i for i, ch, _ in _scan(statement) if ch == "("), None)
    if opening is None or not statement.endswith(")"):
        raise SchemaDumpError(f"not a CREATE TABLE statement: {create}")
    lines = split_top_level(statement[opening + 1:-1])
    return f"{statement[:opening].strip()} (\n" + ",\n".join(f"    {line}" for line in lines) + "\n);"


def view_order(views: dict[str, str]) -> list[str]:
    """View names, each after the views its SQL names, else by name (catalog ids are no order:
    DuckDB numbers the objects afresh when it opens a file)."""
    reads = {name: {other for other in views if other != name and re.search(rf"\b{re.escape(other)}\b", sql)}
             for name, sql in views.items()}
    order: list[str] = []
    while len(order) < len(views):
        ready = sorted(n for n in views if n not in order and reads[n] <= set(order))
        if not ready:
            raise SchemaDumpError(f"views that read each other: {sorted(set(views) - set(order))}")
        order.append(ready[0])
    return order


def schema_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The schema of the connection's database as the text of `warehouse/schema.sql`."""
    unsupported = con.execute(
        f"""SELECT 'type ' || type_name FROM duckdb_types() WHERE NOT internal AND {_OBJECTS}
            UNION ALL
            SELECT 'macro ' || function_name FROM duckdb_functions() WHERE NOT internal AND {_OBJECTS}
            ORDER BY 1"""
    ).fetchall()
    if unsupported:
        raise SchemaDumpError(
            f"the warehouse has {', '.join(r[0] for r in unsupported)}: teach warehouse/schema_dump.py "
            "to write them"
        )
    out = [HEADER.rstrip()]
    for (create,) in con.execute(
        f"SELECT sql FROM duckdb_tables() WHERE {_OBJECTS} ORDER BY table_name"
    ).fetchall():
        out.append(table_sql(create))
    for (create,) in con.execute(
        f"SELECT sql FROM duckdb_indexes() WHERE {_OBJECTS} ORDER BY table_name, index_name"
    ).fetchall():
        out.append(create.strip())
    for (create,) in con.execute(
        f"SELECT sql FROM duckdb_sequences() WHERE {_OBJECTS} ORDER BY sequence_name"
    ).fetchall():
        out.append(create.strip())
    views = dict(con.execute(f"SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND {_OBJECTS}").fetchall())
    for name in view_order(views):
        create = views[name]
        columns = con.execute(
            f"""SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = $name AND {_OBJECTS}
                ORDER BY column_index""",
            {"name": name},
        ).fetchall()
        out.append("\n".join([f"-- {name}:", *(f"--     {c} {t}" for c, t in columns), create.strip()]))
    return "\n\n".join(out) + "\n"


def fresh_schema_sql() -> str:
    """The schema of a new warehouse (an empty in-memory database, migrated)."""
    con = duckdb.connect(":memory:")
    try:
        migrate(con)
        return schema_sql(con)
    finally:
        con.close()


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print(f"usage: {REFRESH_COMMAND} [--check]", file=sys.stderr)
        return 2
    text = fresh_schema_sql()
    current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    if argv == ["--check"]:
        if text != current:
            print(f"{SCHEMA_FILE} is stale: run `{REFRESH_COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if text != current:
        SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"{SCHEMA_FILE}: {'rewritten' if text != current else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
