"""Ordered, numbered SQL migrations, each applied once and never edited afterwards.

`migrations/NNNN_name.sql` are applied in number order inside one transaction each; their
checksum is recorded, and a migration whose file changed after it was applied is refused.
`views/*.sql` hold CREATE OR REPLACE VIEW statements and are re-applied on every migrate, in
name order: every view is defined there (a view a migration first created included).

The schema they add up to is written out in `warehouse/schema.sql` (`python -m
warehouse.schema_dump`; tests/warehouse/test_schema_dump.py fails when it is stale).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from core.errors import MigrationError
from warehouse.db import transaction

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def package_dir(sub: str) -> Path:
    return Path(str(resources.files("warehouse") / sub))


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or package_dir("migrations")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_case_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version:04d} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def _ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,
               checksum VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"""
    )


def migrate(
    con: duckdb.DuckDBPyConnection,
    migrations_dir: Path | None = None,
    views_dir: Path | None = None,
) -> list[str]:
    """Apply pending migrations, then re-create the views. Returns the names applied."""
    _ensure_ledger(con)
    applied = {
        version: (name, checksum)
        for version, name, checksum in con.execute(
            "SELECT version, name, checksum FROM schema_migrations"
        ).fetchall()
    }
    done = []
    for mig in discover(migrations_dir):
        if mig.version in applied:
            _, checksum = applied[mig.version]
            if checksum != mig.checksum:
                raise MigrationError(
                    f"migration {mig.version:04d}_{mig.name}.sql was edited after it was applied "
                    f"(recorded checksum {checksum[:12]}…, file now {mig.checksum[:12]}…). "
                    "Landed migrations are never edited: restore it and add a new migration."
                )
            continue
        try:
            with transaction(con):
                con.execute(mig.sql)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                    [mig.version, mig.name, mig.checksum, datetime.now(UTC)],
                )
        except duckdb.Error as exc:
            raise MigrationError(f"migration {mig.version:04d}_{mig.name}.sql failed: {exc}") from exc
        done.append(f"{mig.version:04d}_{mig.name}")
    apply_views(con, views_dir)
    return done


def apply_views(con: duckdb.DuckDBPyConnection, views_dir: Path | None = None) -> None:
    views_dir = views_dir or package_dir("views")
    for path in sorted(views_dir.glob("*.sql")):
        try:
            con.execute(path.read_text(encoding="utf-8"))
        except duckdb.Error as exc:
            raise MigrationError(f"view file {path.name} failed: {exc}") from exc
