"""Comparing the derived tables with a snapshot of them, row by row: how the benchmarks and
tests/transforms/derive/test_partitioned.py show that the partitioned derivations
(transforms.derive.partitioned) write the very tables the unpartitioned jobs write."""

from __future__ import annotations

from core.settings import Settings, get_settings
from warehouse.db import connect

# primary keys of the derived tables (migration 0050 / 0001)
KEYS = {
    "aggregates": ("site_id", "parameter", "statistic", "period_start"),
    "aqi_hourly": ("site_id", "period_start"),
    "aqi_daily": ("site_id", "local_date"),
    "water_class": ("site_id", "period", "period_start"),
    "noise_daily": ("site_id", "local_date"),
    "emission_totals": ("site_id", "parameter", "period", "period_start"),
    "outlet_hours": ("site_id", "parameter", "period_start"),  # migration 0090
    "outlet_days": ("site_id", "parameter", "period_start"),  # migration 0091
}
# Floating-point sums taken in another order (per region instead of all at once) may differ in
# the last bit; anything beyond this relative difference is a real difference.
REL_TOLERANCE = 1e-9
DERIVED_TABLES = tuple(KEYS)


def snapshot_tables(settings: Settings | None, directory: str) -> dict[str, int]:
    """Copy every derived table (all columns but `computed_at`) to `directory`/<table>.parquet."""
    settings = settings or get_settings()
    rows = {}
    with connect(settings, write=False, purpose="envmon snapshot derived tables") as con:
        for table in DERIVED_TABLES:
            con.execute(
                f"COPY (SELECT * EXCLUDE (computed_at) FROM {table}) TO '{directory}/{table}.parquet' (FORMAT parquet)"
            )
            rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return rows


def compare_tables(settings: Settings | None, directory: str) -> dict[str, dict[str, object]]:
    """Compare the derived tables with a snapshot, row by row on the primary key: rows only on
    one side, rows whose non-float columns differ, and float columns beyond REL_TOLERANCE."""
    settings = settings or get_settings()
    out: dict[str, dict[str, object]] = {}
    with connect(settings, write=False, purpose="envmon compare derived tables") as con:
        for table, key in KEYS.items():
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                "AND column_name <> 'computed_at' ORDER BY ordinal_position", [table]).fetchall()  # fmt: skip
            on = " AND ".join(f"a.{k} = b.{k}" for k in key)
            floats = [c for c, t in cols if t == "DOUBLE"]
            exact = [c for c, t in cols if t != "DOUBLE" and c not in key]
            differs = (
                " OR ".join(
                    [f"a.{c} IS DISTINCT FROM b.{c}" for c in exact]
                    + [
                        f"(a.{c} IS NULL) <> (b.{c} IS NULL) OR abs(a.{c} - b.{c}) > {REL_TOLERANCE} * greatest(abs(a.{c}), abs(b.{c}))"
                        for c in floats
                    ]
                )
                or "false"
            )
            rel = ", ".join(
                f"coalesce(abs(a.{c} - b.{c}) / nullif(greatest(abs(a.{c}), abs(b.{c})), 0), 0)"
                for c in floats
            )
            max_rel = f"max(greatest({rel}, 0))" if floats else "0"
            snap = f"read_parquet('{directory}/{table}.parquet')"
            only_a, only_b, diff, bitwise, worst, n = con.execute(f"""
                SELECT count(*) FILTER (WHERE b.{key[0]} IS NULL), count(*) FILTER (WHERE a.{key[0]} IS NULL),
                       count(*) FILTER (WHERE a.{key[0]} IS NOT NULL AND b.{key[0]} IS NOT NULL AND ({differs})),
                       count(*) FILTER (WHERE a.{key[0]} IS NOT NULL AND b.{key[0]} IS NOT NULL
                                        AND ({" OR ".join(f"a.{c} IS DISTINCT FROM b.{c}" for c in floats) or "false"})),
                       {max_rel}, count(*)
                FROM (SELECT * EXCLUDE (computed_at) FROM {table}) a FULL OUTER JOIN {snap} b ON {on}""").fetchall()[0]
            out[table] = {"rows": int(n), "only_now": int(only_a), "only_snapshot": int(only_b), "differing": int(diff),
                          "float_not_bitwise": int(bitwise), "max_rel_diff": float(worst or 0.0),
                          "identical": only_a == 0 and only_b == 0 and diff == 0}  # fmt: skip
    return out
