"""Great Expectations (1.x) suite run on every loaded batch of readings.

`validate_batches` validates each readings batch of `load_ledger` that has no result yet (many
batches in one run, each with its own results):
schema and types, keys not null, timestamps in range, values within each parameter's
physically possible range (registry `parameters`), allowed data flags, units, sites and
parameters known. Each expectation's result is stored in `validation_runs`. A failing batch
is not dropped: its unexpected rows get a `gx:<expectation>` flag in `qc_flags`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import great_expectations as gx
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import pandas_execution_engine

from core.periods import local_midnight
from core.schema import NATURAL_KEY, READINGS_SCHEMA
from core.settings import Settings, get_settings
from transforms.qc.config import QcConfig
from transforms.qc.flags import Flag
from transforms.qc.run import GX_PREFIX, qc_config_for
from warehouse.bulk import insert_rows
from warehouse.db import connect, transaction

SUITE_NAME = "readings_batch"
# Numeric dtypes of the group frame. Text columns are categories (see _group_frame): their
# values are checked against the registry's sets below; GX 1.24 has no type name for them.
_TYPES = {
    "interval_s": ["int32", "int64"],
    "value": ["float64"],
}


@dataclass(frozen=True)
class BatchValidation:
    batch_id: str
    success: bool
    failed: list[str]
    rows_flagged: int


def build_suite(con: duckdb.DuckDBPyConnection, cfg: QcConfig, now: datetime, suite: gx.ExpectationSuite) -> gx.ExpectationSuite:
    """Add the expectations, with today's registry (ranges, units, sites) in their arguments."""
    gxc = cfg.file.great_expectations
    e = gx.expectations
    suite.add_expectation(e.ExpectTableColumnsToMatchSet(column_set=[*READINGS_SCHEMA.names, "batch_id", "value_std", "min_possible", "max_possible", "value_possible", "site_known"], exact_match=True))
    for col, types in _TYPES.items():
        suite.add_expectation(e.ExpectColumnValuesToBeInTypeList(column=col, type_list=types))
    for col in (*NATURAL_KEY, "unit", "received_at"):
        suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=col))
    earliest = local_midnight(gxc.earliest_timestamp, UTC)
    latest = now + timedelta(seconds=gxc.future_tolerance_s)
    suite.add_expectation(e.ExpectColumnValuesToBeBetween(column="period_start", min_value=earliest, max_value=latest))
    known = lambda sql: sorted(r[0] for r in con.execute(sql).fetchall())  # noqa: E731
    # Sites are known when the registry has them: `site_known` is computed beside each row. (A
    # province's thousands of site ids as a value set were copied and serialised by GX for every
    # run, a cost growing with sites x runs: the square of the province.)
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="site_known", value_set=[True]))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="parameter", value_set=known("SELECT parameter FROM parameters")))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="unit", value_set=known("SELECT unit FROM units")))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="flag", value_set=sorted(cfg.source_flags.flags)))
    # Physically possible range per parameter (registry `parameters`), on the value in the
    # parameter's own unit: `value_possible` is computed beside each row from its parameter's
    # range, so one expectation covers every parameter (one per parameter, each filtering the
    # frame by a row condition, cost half of a province's validation time).
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="value_possible", value_set=[True]))
    return suite


def suite_hash(suite: gx.ExpectationSuite) -> str:
    configs = [{"type": x.expectation_type, "kwargs": _kwargs(x)} for x in suite.expectations]
    return hashlib.sha256(json.dumps(configs, sort_keys=True, default=str).encode()).hexdigest()


def _kwargs(expectation: Any) -> dict[str, Any]:
    cfg = expectation.configuration
    return {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format")}


# Batches are validated together, up to this many rows per Great Expectations run: a run has a
# fixed cost of about two seconds, and a province's day lands in thousands of small batches.
GROUP_ROWS = 1_000_000


def _group_frame(con: duckdb.DuckDBPyConnection, group: _Group) -> pd.DataFrame:
    # value_std: the value in the parameter's registry unit (an outlet's so2 is mg/m3, the
    # parameter's unit ug/m3); null when the unit cannot be converted (the unit expectation says why).
    # value_possible: value_std within the parameter's physically possible range (null when
    # value_std is: the unit expectation reports those).
    table = con.sql(
        """WITH v AS (
           SELECT r.*, CASE WHEN r.unit = p.unit THEN r.value
                            WHEN uf.quantity = ut.quantity THEN r.value * uf.to_base / ut.to_base END AS value_std,
                  p.min_possible, p.max_possible, s.site_id IS NOT NULL AS site_known
           FROM readings r
           LEFT JOIN sites s USING (site_id)
           LEFT JOIN parameters p USING (parameter)
           LEFT JOIN units uf ON uf.unit = r.unit
           LEFT JOIN units ut ON ut.unit = p.unit
           WHERE r.batch_id IN (SELECT unnest($b)) AND r.rowid BETWEEN $first AND $last)
           SELECT v.*,
                  CASE WHEN v.value_std IS NOT NULL
                       THEN coalesce(v.value_std >= v.min_possible, true)
                            AND coalesce(v.value_std <= v.max_possible, true) END AS value_possible
           FROM v""",
        params={"b": group.batch_ids, "first": group.rowids[0] if group.rowids else 0,
                "last": group.rowids[1] if group.rowids else -1},
    ).to_arrow_table()
    # Text as categories, dictionary-encoded in Arrow: a group repeats a few thousand sites,
    # parameters and units over a million rows; GX's set and null checks on categories cost a
    # fraction of string columns, and building them this way skips a Python string per cell
    # (the frame was most of the validation time).
    columns = {
        name: pc.dictionary_encode(col) if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) else col
        for name, col in zip(table.column_names, table.columns, strict=True)
    }
    return pa.table(columns).to_pandas()


@dataclass(frozen=True)
class _Group:
    batch_ids: list[str]
    rowids: tuple[int, int] | None  # the row ids its readings lie between (None: no readings)


def _groups(con: duckdb.DuckDBPyConnection, pending: list[str]) -> list[_Group]:
    """Pending batches in groups of at most GROUP_ROWS readings (a bigger batch is a group
    alone), in the order their rows are stored, each with the span of row ids they lie in: a
    group's frame then reads those row groups of `readings` only. (Filtering the whole table by
    batch id for every group made validation grow with the square of the data.)"""
    spans = con.execute(
        """SELECT batch_id, count(*), min(rowid), max(rowid) FROM readings
           WHERE batch_id IN (SELECT unnest($b)) GROUP BY batch_id ORDER BY 3""",
        {"b": pending},
    ).fetchall()
    groups: list[_Group] = []
    ids: list[str] = []
    rows, first, last = 0, 0, 0
    for bid, n, lo, hi in spans:
        if ids and rows + n > GROUP_ROWS:
            groups.append(_Group(ids, (first, last)))
            ids, rows = [], 0
        if not ids:
            first, last = lo, hi
        ids.append(bid)
        rows += n
        last = max(last, hi)
    if ids:
        groups.append(_Group(ids, (first, last)))
    stored = {bid for bid, *_ in spans}
    empty = [b for b in pending if b not in stored]  # every row a duplicate: validated empty
    if empty:
        groups.append(_Group(empty, None))
    return groups


def _validate_group(con: duckdb.DuckDBPyConnection, batch_def: Any, suite: gx.ExpectationSuite, digest: str,
                    batch_ids: list[str], frame: pd.DataFrame) -> list[BatchValidation]:
    """One Great Expectations run over several batches; each batch gets its own results.

    Row-level (map) expectations report the unexpected rows' indices: a batch's unexpected count
    is the number of those rows it holds, its element count its own rows. Table-level expectations hold for every batch of the run alike.
    """
    result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format={"result_format": "COMPLETE"})
    evaluated_at = datetime.now(UTC)
    batch_of = frame["batch_id"].to_numpy()
    sizes = frame["batch_id"].value_counts().to_dict()
    rows: list[tuple] = []
    flagged: dict[str, list[tuple[int, str, str]]] = {b: [] for b in batch_ids}
    failed: dict[str, list[str]] = {b: [] for b in batch_ids}
    for r in result.results:
        cfg = r.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format")}
        res = r.result or {}
        column, args = kwargs.get("column"), json.dumps(kwargs, sort_keys=True, default=str)
        if "unexpected_index_list" in res:
            idx = [i if isinstance(i, int) else i.get("index", i) if isinstance(i, dict) else i
                   for i in res.get("unexpected_index_list") or []]
            idx = [i for i in idx if isinstance(i, int) and 0 <= i < len(frame)]
            unexpected = pd.Series(batch_of[idx]).value_counts().to_dict() if idx else {}
            in_domain = sizes  # no expectation has a row condition: its domain is every row
            for b in batch_ids:
                n_bad = int(unexpected.get(b, 0))
                rows.append((b, SUITE_NAME, digest, cfg.type, column, args, n_bad == 0,
                             int(in_domain.get(b, 0)), n_bad, evaluated_at))
                if n_bad:
                    failed[b].append(cfg.type)
            for i in idx:
                detail = (_range_detail(frame, i) if column == "value_possible"
                          else f"great expectations: site {frame.at[i, 'site_id']} is not in the registry"
                          if column == "site_known" else _detail(cfg.type, kwargs))
                flagged[batch_of[i]].append((i, f"{GX_PREFIX}{cfg.type}", detail))
        else:
            for b in batch_ids:
                rows.append((b, SUITE_NAME, digest, cfg.type, column, args, bool(r.success),
                             res.get("element_count"), res.get("unexpected_count"), evaluated_at))
                if not r.success:
                    failed[b].append(cfg.type)
    keyed = [(frame.at[i, "site_id"], frame.at[i, "parameter"], frame.at[i, "period_start"], int(frame.at[i, "interval_s"]),
              frame.at[i, "source_kind"], check, int(Flag.FAIL), detail, digest, evaluated_at)
             for b in batch_ids for i, check, detail in flagged[b] if _has_key(frame, i)]
    with transaction(con):
        insert_rows(con, "INSERT INTO validation_runs", rows, 10)
        insert_rows(con, "INSERT INTO qc_flags", keyed, 10)
    return [BatchValidation(b, not failed[b], failed[b], len({f[0] for f in flagged[b]})) for b in batch_ids]


@contextmanager
def no_batch_fingerprint() -> Iterator[None]:
    """GX's pandas engine fingerprints every batch under HASH_THRESHOLD bytes by hashing all of
    its cells, twice per validation, for a batch marker envmon never reads: a third of the
    validation time at province scale. The threshold is set to 0 for our validations only."""
    if not hasattr(pandas_execution_engine, "HASH_THRESHOLD"):  # a GX that no longer has it
        yield
        return
    before = pandas_execution_engine.HASH_THRESHOLD
    pandas_execution_engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        pandas_execution_engine.HASH_THRESHOLD = before


def validate_batches(settings: Settings | None = None, *, now: datetime | None = None) -> list[BatchValidation]:
    """Validate every loaded readings batch not validated yet."""
    settings = settings or get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    with connect(settings, purpose="envmon qc validate") as con:
        pending = [r[0] for r in con.execute(
            """SELECT batch_id FROM load_ledger l WHERE kind = 'readings'
               AND NOT EXISTS (SELECT 1 FROM validation_runs v WHERE v.batch_id = l.batch_id)
               ORDER BY batch_id""").fetchall()]
        if not pending:
            return []
        cfg = qc_config_for(con, settings)
        context = gx.get_context(mode="ephemeral")  # before the suite: expectations bind to it
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
        build_suite(con, cfg, now, suite)
        batch_def = context.data_sources.add_pandas("warehouse").add_dataframe_asset("readings").add_batch_definition_whole_dataframe("batch")
        digest = suite_hash(suite)
        groups = _groups(con, pending)
        done: list[BatchValidation] = []
        # The next group's frame is read (DuckDB and Arrow, off the GIL) on a second cursor
        # while Great Expectations (Python) validates this one: the two overlap on two cores.
        with ThreadPoolExecutor(max_workers=1) as reader, no_batch_fingerprint():
            cursor = con.cursor()
            upcoming = reader.submit(_group_frame, cursor, groups[0])
            for i, group in enumerate(groups):
                frame = upcoming.result()
                if i + 1 < len(groups):
                    upcoming = reader.submit(_group_frame, cursor, groups[i + 1])
                done.extend(_validate_group(con, batch_def, suite, digest, group.batch_ids, frame))
                del frame
        return done


def _has_key(frame: pd.DataFrame, i: int) -> bool:
    # A row with a null key cannot be stored in the warehouse (the loader refuses it); keep
    # the check honest anyway.
    return all(pd.notna(frame.at[i, c]) for c in NATURAL_KEY)


def _range_detail(frame: pd.DataFrame, i: int) -> str:
    row = frame.loc[i]
    lo = "−∞" if pd.isna(row["min_possible"]) else f"{row['min_possible']:g}"
    hi = "∞" if pd.isna(row["max_possible"]) else f"{row['max_possible']:g}"
    return (f"great expectations: {row['parameter']} {row['value_std']:g} (in its registry unit) outside "
            f"the physically possible range [{lo}, {hi}]")


def _detail(expectation: str, kwargs: dict[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("value_set", "column_set", "type_list")}
    return f"great expectations: {expectation} {json.dumps(shown, sort_keys=True, default=str)}"[:500]
