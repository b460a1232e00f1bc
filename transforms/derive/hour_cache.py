"""The hourly values of the last hourly run, reused by the daily run while nothing they depend on
has changed (tables `hour_values`, `hour_value_runs`, migration 0083).

The daily run needs the day's hours again (late data must count), and deriving them from the
readings is most of its time at province scale. The hourly run stores the hours it derived with
a token of the warehouse's input state; the daily run reads them only when the token it computes
is the same, and derives whatever the stored range does not cover. The token changes with every
load (also one that adds nothing), QC run, GX validation, review and registry load, with the
views' definitions, with the logger events (running status, migration 0086) and with the code
and tables that make an hour; each is an insert into a
ledger or a rewrite that moves a timestamp, and the writer lock orders them. A warehouse whose
site units come from the configuration files (stored before migration 0080) is never cached:
those files are outside the token.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from transforms.derive.context import Network
from transforms.derive.hours import hour_values
from transforms.derive.outlet_hours import has_logger_events
from warehouse.db import transaction

_HERE = Path(__file__).resolve().parent
# what makes an hour besides the warehouse: its derivation, its constants, its validity table
_DEFINITION_FILES = (
    _HERE / "hours.py",
    _HERE / "outlet_hours.py",
    _HERE / "context.py",
    _HERE / "hour_cache.py",
    _HERE / "tables" / "hour_validity.csv",
)

_INPUT_STATE = """
SELECT
    (SELECT (count(*), max(loaded_at), sum(rows_inserted)) FROM load_ledger),
    (SELECT (count(*), max(evaluated_at), sum(readings), sum(flags)) FROM qc_coverage),
    (SELECT (count(*), max(evaluated_at)) FROM validation_runs),
    (SELECT (count(*), max(reviewed_at)) FROM review_events),
    (SELECT (count(*), max(loaded_at), arg_max(config_hash, loaded_at)) FROM registry_loads),
    (SELECT string_agg(sql, ';' ORDER BY view_name) FROM duckdb_views() WHERE NOT internal),
    (SELECT count(*) FROM site_parameters WHERE unit IS NULL)
"""

_EVENTS_STATE = "SELECT count(*), max(received_at) FROM logger_events"

_COLUMNS = (
    "site_id, parameter, period_start, value, unit, valid, n_valid, n_expected, invalid_reason, "
    "source_interval_s, domain, kind"
)


def _definition_digest() -> str:
    h = hashlib.sha256()
    for path in _DEFINITION_FILES:
        h.update(path.read_bytes())
    return h.hexdigest()


def inputs_token(con: duckdb.DuckDBPyConnection) -> str | None:
    """The input state the hours depend on, or None when it cannot be told (units from files)."""
    state = con.execute(_INPUT_STATE).fetchall()[0]
    if state[-1]:
        return None
    if has_logger_events(con):  # running status and alarms (issue #17, migration 0086)
        state = (*state, con.execute(_EVENTS_STATE).fetchall()[0])
    return hashlib.sha256(f"{state!r}|{_definition_digest()}".encode()).hexdigest()


def store(
    con: duckdb.DuckDBPyConnection, hours: pl.DataFrame, lo: datetime, hi: datetime, token: str | None
) -> int:
    """Keep the hours starting in [lo, hi), replacing what was kept; `token` is the input state
    read before the hours were derived (a change after it then only makes the entry stale)."""
    with transaction(con):
        con.execute("DELETE FROM hour_values")
        con.execute("DELETE FROM hour_value_runs")
        if token is None:
            return 0
        rows = hours.filter((pl.col("period_start") >= lo) & (pl.col("period_start") < hi))
        con.register("hour_rows", rows.select(_COLUMNS.split(", ")).to_arrow())
        try:
            con.execute(f"INSERT INTO hour_values ({_COLUMNS}) SELECT {_COLUMNS} FROM hour_rows")
        finally:
            con.unregister("hour_rows")
        con.execute(
            "INSERT INTO hour_value_runs VALUES (?, ?, ?, ?)", [lo, hi, token, datetime.now(UTC)]
        )
    return rows.height


def _read(con: duckdb.DuckDBPyConnection, lo: datetime, hi: datetime) -> pl.DataFrame:
    table = con.sql(
        f"""SELECT {_COLUMNS} FROM hour_values WHERE period_start >= $lo AND period_start < $hi
            ORDER BY site_id, parameter, period_start""",
        params={"lo": lo, "hi": hi},
    ).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def reusing_hour_values(
    con: duckdb.DuckDBPyConnection, net: Network, lo: datetime, hi: datetime
) -> pl.DataFrame:
    """`hour_values(con, net, lo, hi)` for every site, read from the kept hours where they are
    current and derived from the readings for the rest of [lo, hi)."""
    token = inputs_token(con)
    if token is None:
        return hour_values(con, net, lo, hi)
    kept = con.execute(
        """SELECT max(range_start), min(range_end) FROM hour_value_runs
           WHERE inputs_token = ? AND range_start < ? AND range_end > ?""",
        [token, hi, lo],
    ).fetchall()[0]
    if kept[0] is None:
        return hour_values(con, net, lo, hi)
    k_lo, k_hi = max(lo, kept[0]), min(hi, kept[1])
    derived = [hour_values(con, net, a, b) for a, b in ((lo, k_lo), (k_hi, hi)) if a < b]
    cached = _read(con, k_lo, k_hi)
    if not derived:
        return cached
    return (
        pl.concat([cached.cast(dict(derived[0].schema)), *derived])
        .sort("site_id", "parameter", "period_start")
    )
