"""transforms.derive.frames: each site's own local date and day start, the edition in force by
date (GB 3095-2012 until GB 3095-2026), the audited / provisional status, the `aggregates` shape."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import duckdb
import polars as pl
from derivedata import network

from transforms.derive import frames

_BASE = network([("sh", "air"), ("ld", "air")], tz="Asia/Shanghai")
NET = replace(_BASE, sites=_BASE.sites.with_columns(
    pl.when(pl.col("site_id") == "ld").then(pl.lit("Europe/London")).otherwise(pl.col("timezone")).alias("timezone")
))  # fmt: skip


def test_local_date_is_each_sites_own_and_the_city_takes_the_default() -> None:
    t = datetime(2024, 3, 1, 16, tzinfo=UTC)  # 00:00 on 2 March in Shanghai, 16:00 on 1 March in London
    df = pl.DataFrame({"site_id": ["sh", "ld", "city"], "period_start": [t, t, t]},
                      schema_overrides={"period_start": pl.Datetime("us", "UTC")})  # fmt: skip
    out = frames.with_local_date(df, NET, "Asia/Shanghai")
    assert out["local_date"].to_list() == [date(2024, 3, 2), date(2024, 3, 1), date(2024, 3, 2)]
    before = frames.with_local_date(
        df.with_columns(pl.col("period_start") - pl.duration(microseconds=1)), NET, "Asia/Shanghai"
    )
    assert before["local_date"].to_list() == [date(2024, 3, 1)] * 3


def test_day_start_is_the_local_midnight_in_utc() -> None:
    df = pl.DataFrame({"site_id": ["sh", "ld"], "local_date": [date(2024, 3, 1), date(2024, 7, 1)]})
    out = frames.with_day_start(df, NET, "Asia/Shanghai")
    assert out.schema["period_start"] == frames.UTC_US
    assert out["period_start"].to_list() == [
        datetime(2024, 2, 29, 16, tzinfo=UTC),  # UTC+8
        datetime(2024, 6, 30, 23, tzinfo=UTC),  # British Summer Time, UTC+1
    ]


def test_edition_codes_change_on_the_day_the_new_edition_comes_into_force() -> None:
    # GB 3095-2026 (and HJ 633-2026) in force from 2026-03-01 (tables/editions.csv)
    df = pl.DataFrame({"local_date": [date(2026, 2, 28), date(2026, 3, 1)]})
    codes = df.with_columns(frames.gb3095_code().alias("ed"))["ed"].to_list()
    assert codes == ["GB3095-2012", "GB3095-2026"]
    hj75 = df.with_columns(frames.hj75_code().alias("ed"))["ed"].to_list()
    assert hj75 == ["HJ75-2017", "HJ75-2017"]


def test_data_status_is_audited_only_for_an_audited_site_day() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE day_status (site_id VARCHAR, local_date DATE, status VARCHAR)")
    con.execute("INSERT INTO day_status VALUES ('sh', '2024-03-01', 'audited'), ('sh', '2024-03-02', 'open')")
    df = pl.DataFrame({"site_id": ["sh", "sh", "ld"], "local_date": [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 1)]})
    out = frames.with_data_status(con, df)
    assert out["data_status"].to_list() == ["audited", "provisional", "provisional"]
    assert frames.with_data_status(con, df.head(0)).columns == [*df.columns, "data_status"]


def test_agg_frame_keeps_a_value_only_when_valid_and_a_reason_only_when_not() -> None:
    t = datetime(2024, 3, 1, tzinfo=UTC)
    rows = pl.DataFrame({
        "site_id": ["sh", "sh"], "parameter": ["pm25", "pm25"], "statistic": ["hour_avg"] * 2,
        "period_start": [t, t], "interval_s": [3600, 3600], "value": [35.0, 80.0], "unit": ["ug/m3"] * 2,
        "valid": [True, False], "n_valid": [60, 10], "n_expected": [60, 60],
        "invalid_reason": ["ignored", "pm25: 10 valid minutes < 45 required"], "edition": ["GB3095-2012"] * 2,
        "data_status": ["provisional"] * 2, "extra": [1, 2],
    }, schema_overrides={"period_start": pl.Datetime("us", "UTC")})  # fmt: skip
    out = frames.agg_frame(rows)
    assert out.columns == frames.AGG_COLUMNS
    assert out["value"].to_list() == [35.0, None]
    assert out["invalid_reason"].to_list() == [None, "pm25: 10 valid minutes < 45 required"]
    assert frames.empty_agg().columns == frames.AGG_COLUMNS and frames.empty_agg().schema == out.schema


def test_stack_rows_skips_empty_parts_and_gives_the_parts_one_type() -> None:
    cols = frames.DAY_ROW_COLUMNS
    row = {"site_id": "sh", "parameter": "pm25", "statistic": "day_avg", "local_date": date(2024, 3, 1),
           "value": 1.0, "unit": "ug/m3", "valid": True, "invalid_reason": None}  # fmt: skip
    a = pl.DataFrame([row | {"n_valid": 20, "n_expected": 24, "edition": "GB3095-2012"}])  # Int64
    b = pl.DataFrame([row | {"n_valid": 1, "n_expected": 6}]).with_columns(
        pl.col("n_valid").cast(pl.Int32), pl.lit(None).alias("edition")  # an all-null edition
    )
    out = frames.stack_rows([a, a.clear(), b], cols)
    assert out is not None and out.columns == cols and out.height == 2
    assert (out.schema["n_valid"], out.schema["n_expected"], out.schema["edition"]) == (pl.Int32, pl.Int32, pl.String)
    assert frames.stack_rows([a.clear(), b.clear()], cols) is None
