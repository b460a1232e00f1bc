"""`run_qc`: evaluate every reading of a date range and store the flags, idempotently.

Flags of the range are reconciled with what the checks produce now, inside one transaction:
rows no longer produced are deleted, new rows are inserted, identical rows are left as they
are. A re-run on the same readings and configuration therefore changes nothing and adds no
rows. Readings just outside the range are read as context (a flat line or spike crossing the
boundary) but only flags inside the range are written.

Readings are evaluated in chunks of whole sites (every check looks at one site's series, or
at parameters of the same site and period), so memory stays bounded at province scale and
the flags are those of one pass over everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pyarrow as pa

from core import periods
from core.schema import SOURCE_KINDS
from core.settings import Settings, get_settings
from transforms.qc.config import QcConfig, default_qc_path, load_qc_config
from transforms.qc.engine import SERIES_KEY, context_from_db, evaluate
from warehouse.db import connect, transaction

GX_PREFIX = "gx:"  # flags set by validate_batches; run_qc leaves them alone
# Readings held in memory at once (whole sites per chunk); ~0.5 KB a reading while checked.
QC_CHUNK_ROWS = 2_000_000
_READ_COLUMNS = (
    "site_id", "parameter", "period_start", "interval_s", "source_kind", "value", "value_zs", "unit", "flag",
)  # fmt: skip
# Text columns sorted and carried as small integer codes of the registry's names (the text of a
# name the registry lacks rides beside it): DuckDB's sort moved every row's strings, which cost
# more than the sort itself.
_CODED = ("site_id", "parameter", "source_kind", "unit")


@dataclass(frozen=True)
class QcRunReport:
    range_start: datetime
    range_end: datetime
    config_hash: str
    readings: int
    flags: int
    inserted: int
    deleted: int


def qc_config_for(con: duckdb.DuckDBPyConnection, settings: Settings) -> QcConfig:
    known = [r[0] for r in con.execute("SELECT parameter FROM parameters").fetchall()]
    return load_qc_config(default_qc_path(settings.config_dir), known)


def run_qc(
    settings: Settings | None, start: date, end: date, *, now: datetime | None = None
) -> QcRunReport:
    """QC every reading whose period starts in local days start..end (inclusive)."""
    settings = settings or get_settings()
    with connect(settings, purpose="envmon qc run") as con:
        return run_qc_on(con, settings, *periods.local_days_range(start, end, settings.tz), now=now)


def run_qc_on(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    range_start: datetime,
    range_end: datetime,
    *,
    now: datetime | None = None,
    chunk_rows: int = QC_CHUNK_ROWS,
) -> QcRunReport:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    cfg = qc_config_for(con, settings)
    ctx = context_from_db(con)
    inside = (pl.col("period_start") >= range_start) & (pl.col("period_start") < range_end)
    parts, in_range = [], 0
    for frame in _site_chunks(con, cfg, range_start, range_end, chunk_rows):
        parts.append(evaluate(frame, cfg, ctx, now, presorted=True).filter(inside))
        in_range += frame.filter(inside).height
        del frame
    flags = pl.concat(parts) if parts else evaluate(pl.DataFrame(), cfg, ctx, now)
    # Stored times are wall-clock (coverage is compared with load times); `now` only judges the future.
    return _store(con, flags, cfg.config_hash, range_start, range_end, in_range, datetime.now(UTC))


def _context_periods(cfg: QcConfig) -> int:
    """How many periods either side a check can look at (longest flat line, spike neighbours)."""
    longest = max(
        (
            cs.flat_line.periods
            for kinds in cfg.file.parameters.values()
            for cs in kinds.values()
            if cs.flat_line
        ),
        default=1,
    )
    return longest + 1


def _outer(
    con: duckdb.DuckDBPyConnection, cfg: QcConfig, lo: datetime, hi: datetime
) -> tuple[datetime, datetime]:
    """The range read: [lo, hi) widened by the context of the longest interval."""
    max_iv = con.execute("SELECT coalesce(max(interval_s), 0) FROM readings").fetchall()
    outer = timedelta(seconds=_context_periods(cfg) * int(max_iv[0][0] if max_iv else 0))
    return lo - outer, hi + outer


def _dictionaries(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    def names(sql: str) -> list[str]:
        return [r[0] for r in con.execute(sql).fetchall()]

    return {
        "site_id": names("SELECT site_id FROM sites ORDER BY site_id"),
        "parameter": names("SELECT parameter FROM parameters ORDER BY parameter"),
        "source_kind": sorted(SOURCE_KINDS),
        "unit": names("SELECT unit FROM units ORDER BY unit"),
    }


def _coded_read_sql() -> str:
    """The range's readings with `_CODED` columns as codes (1-based positions in the
    `$<column>` lists; NULL with the text in `<column>_other` for a name not in the list), in
    series order: by site, parameter, interval, source kind and period."""
    codes = ",\n".join(
        f"{c}_codes AS (SELECT unnest(CAST(${c} AS VARCHAR[])) AS {c}, "
        f"CAST(unnest(range(1, len(CAST(${c} AS VARCHAR[])) + 1)) AS INTEGER) AS {c}_code)"
        for c in _CODED
    )
    coded = ", ".join(f"{c}_code, CASE WHEN {c}_code IS NULL THEN r.{c} END AS {c}_other" for c in _CODED)
    plain = ", ".join(f"r.{c}" for c in _READ_COLUMNS if c not in _CODED)
    joins = " ".join(f"LEFT JOIN {c}_codes USING ({c})" for c in _CODED)
    order = ", ".join(
        f"{c}_code, {c}_other" if c in _CODED else c for c in (*SERIES_KEY, "period_start")
    )
    return f"""WITH {codes}
        SELECT {coded}, {plain} FROM readings r {joins}
        WHERE r.period_start >= $outer_lo AND r.period_start < $outer_hi
          AND r.period_start >= $lo - to_seconds(r.interval_s * $m)
          AND r.period_start <  $hi + to_seconds(r.interval_s * $m)
        ORDER BY {order}"""


def _decoded(frame: pl.DataFrame, dictionaries: dict[str, pl.Series]) -> pl.DataFrame:
    return frame.with_columns(
        pl.coalesce(pl.lit(names).gather(pl.col(f"{c}_code") - 1), pl.col(f"{c}_other")).alias(c)
        for c, names in dictionaries.items()
    ).select(_READ_COLUMNS)


def _site_chunks(
    con: duckdb.DuckDBPyConnection, cfg: QcConfig, lo: datetime, hi: datetime, chunk_rows: int
) -> Iterator[pl.DataFrame]:
    """The readings of [lo, hi) with their checks' context, in series order, in frames of about
    `chunk_rows` rows that never split a site (the consistency checks compare a site's
    parameters). One sorted read streamed in pieces: reading each chunk's sites with a filter
    scanned the whole table once per chunk, which grew with the square of the data."""
    outer_lo, outer_hi = _outer(con, cfg, lo, hi)
    names = _dictionaries(con)
    reader = con.sql(
        _coded_read_sql(),
        params={
            "outer_lo": outer_lo,
            "outer_hi": outer_hi,
            "lo": lo,
            "hi": hi,
            "m": _context_periods(cfg),
            **names,
        },
    ).to_arrow_reader(min(chunk_rows, 1_000_000))
    dictionaries = {c: pl.Series(c, names[c], dtype=pl.String) for c in _CODED}
    pending: list[pa.RecordBatch] = []
    carry = pl.DataFrame()  # the rows of the last site read so far
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        if rows < chunk_rows:
            continue
        frame = _joined(carry, pending, reader.schema, dictionaries)
        pending = []
        sites = frame.get_column("site_id")
        cut = frame.height - int(sites.reverse().rle_id().eq(0).sum())  # where the last site starts
        if cut == 0:  # a single site so far: read on
            carry = frame
            continue
        yield frame.slice(0, cut)
        carry = frame.slice(cut)
        rows = carry.height
    frame = _joined(carry, pending, reader.schema, dictionaries)
    if frame.height:
        yield frame


def _joined(
    carry: pl.DataFrame, batches: list[pa.RecordBatch], schema: pa.Schema, dictionaries: dict[str, pl.Series]
) -> pl.DataFrame:
    new = pl.from_arrow(pa.Table.from_batches(batches, schema=schema))
    assert isinstance(new, pl.DataFrame)
    new = _decoded(new, dictionaries)
    return pl.concat([carry, new], how="vertical") if carry.height else new


def _store(
    con: duckdb.DuckDBPyConnection,
    flags: pl.DataFrame,
    config_hash: str,
    lo: datetime,
    hi: datetime,
    readings: int,
    now: datetime,
) -> QcRunReport:
    new = flags.with_columns(config_hash=pl.lit(config_hash)).to_arrow()
    con.register("qc_new_arrow", new)
    same = """o.site_id = n.site_id AND o.parameter = n.parameter AND o.period_start = n.period_start
              AND o.interval_s = n.interval_s AND o.source_kind = n.source_kind AND o.check_name = n.check_name
              AND o.flag = n.flag AND o.detail IS NOT DISTINCT FROM n.detail AND o.config_hash = n.config_hash"""
    try:
        with transaction(con):
            con.execute("CREATE OR REPLACE TEMP TABLE qc_new AS SELECT * FROM qc_new_arrow")
            deleted = con.execute(
                f"""DELETE FROM qc_flags o
                    WHERE o.period_start >= $lo AND o.period_start < $hi AND NOT starts_with(o.check_name, $gx)
                      AND NOT EXISTS (SELECT 1 FROM qc_new n WHERE {same})""",
                {"lo": lo, "hi": hi, "gx": GX_PREFIX},
            ).fetchall()
            inserted = con.execute(
                f"""INSERT INTO qc_flags
                    SELECT n.site_id, n.parameter, n.period_start, n.interval_s, n.source_kind, n.check_name,
                           n.flag, n.detail, n.config_hash, $now
                    FROM qc_new n
                    WHERE NOT EXISTS (SELECT 1 FROM qc_flags o
                                      WHERE o.period_start >= $lo AND o.period_start < $hi AND {same})""",
                {"lo": lo, "hi": hi, "now": now},
            ).fetchall()
            con.execute(
                """INSERT INTO qc_coverage VALUES ($lo, $hi, $hash, $readings, $flags, $now)
                   ON CONFLICT (range_start, range_end) DO UPDATE SET config_hash = excluded.config_hash,
                       readings = excluded.readings, flags = excluded.flags, evaluated_at = excluded.evaluated_at""",
                {
                    "lo": lo,
                    "hi": hi,
                    "hash": config_hash,
                    "readings": readings,
                    "flags": flags.height,
                    "now": now,
                },
            )
    finally:
        con.unregister("qc_new_arrow")
        con.execute("DROP TABLE IF EXISTS qc_new")
    return QcRunReport(
        lo,
        hi,
        config_hash,
        readings,
        flags.height,
        int(inserted[0][0]) if inserted else 0,
        int(deleted[0][0]) if deleted else 0,
    )
