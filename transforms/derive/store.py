"""Writing derived rows: delete the period's rows and insert them again, in one transaction, and
record the run in `derivation_runs` (so a re-run or a backfill gives the same rows); a job's
`DeriveReport` says what it wrote."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import polars as pl

from warehouse.db import transaction

SIGNIFICANT_DIGITS = 12

# Tables whose key no index enforces (an index cost ten times the write at province scale,
# migration 0081): after the rows are written, the period they cover is checked for a key held
# twice, inside the transaction, so a bad write is rolled back as the index would have refused it.
UNINDEXED_KEYS = {"aggregates": ("site_id", "parameter", "statistic", "period_start")}


@dataclass(frozen=True)
class DeriveReport:
    """What one derivation job wrote: its stage, its UTC range and the rows per table."""

    stage: str
    range_start: datetime
    range_end: datetime
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return sum(self.rows.values())


@dataclass
class Replace:
    """One table's rows for the period: `delete_sql` (with $params) removes what `rows` replaces."""

    table: str
    rows: pl.DataFrame
    delete_sql: str
    params: dict[str, object] = field(default_factory=dict)


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _refuse_repeated_keys(
    con: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...], written: pl.DataFrame
) -> None:
    cols = ", ".join(key)
    repeated = con.execute(
        f"""SELECT {cols}, count(*) FROM {table} WHERE period_start BETWEEN $lo AND $hi
            GROUP BY {cols} HAVING count(*) > 1 LIMIT 1""",
        {"lo": written["period_start"].min(), "hi": written["period_start"].max()},
    ).fetchall()
    if repeated:
        *values, n = repeated[0]
        raise ValueError(f"{table}: key ({cols}) = {tuple(values)} would be held {n} times")


def write(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    range_start: datetime,
    range_end: datetime,
    replaces: list[Replace],
    started_at: datetime,
) -> dict[str, int]:
    """Replace every table's period rows and record the run; returns rows written per table."""
    computed_at = datetime.now(UTC)
    written: dict[str, int] = {}
    with transaction(con):
        for rep in replaces:
            cols = _table_columns(con, rep.table)
            frame = rep.rows.with_columns(
                # Parallel sums add in no fixed order: the last bits of a mean can differ from
                # run to run. 12 significant digits is far beyond any measurement and makes a
                # re-run or a backfill store the very same numbers.
                pl.col(pl.Float64, pl.Float32).round_sig_figs(SIGNIFICANT_DIGITS),
                pl.lit(computed_at).cast(pl.Datetime("us", "UTC")).alias("computed_at"),
            )
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise ValueError(f"{rep.table}: derived rows lack columns {missing}")
            con.execute(rep.delete_sql, rep.params)
            if frame.height:
                arrow = frame.select(cols).to_arrow()
                con.register("derive_rows", arrow)
                try:
                    con.execute(f"INSERT INTO {rep.table} SELECT * FROM derive_rows")
                finally:
                    con.unregister("derive_rows")
                if rep.table in UNINDEXED_KEYS:
                    _refuse_repeated_keys(con, rep.table, UNINDEXED_KEYS[rep.table], frame)
            written[rep.table] = written.get(rep.table, 0) + frame.height
        run_id = f"{stage}-{started_at:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"
        con.execute(
            "INSERT INTO derivation_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                stage,
                range_start,
                range_end,
                sum(written.values()),
                started_at,
                datetime.now(UTC),
            ],
        )
    return written
