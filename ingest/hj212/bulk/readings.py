"""Readings (core.schema.READINGS_SCHEMA) of a whole batch from the bulk tables (mirrors
readings.py).

Same rows as `readings.packet_to_readings` packet by packet. The common pollutant entry —
distinct suffixes among Rtd/Avg, ZsRtd/ZsAvg, Min, Max, Cou, Flag, numbers where numbers are
due — is done with polars; a packet with any other entry (text fields, Rtd and Avg both, a
non-numeric value...) is re-parsed and converted by the per-packet functions, which decide
what goes to `extra`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import polars as pl
import pyarrow as pa

from core.schema import INTERVAL_MINUTE_S, READINGS_SCHEMA
from ingest.hj212.codes import FLUE_MARKERS, map_code
from ingest.hj212.protocol import try_parse
from ingest.hj212.readings import (
    INTERVAL_BY_CN,
    LABELLED_CNS,
    SOURCE_KIND,
    SUFFIX_COLUMNS,
    FactsLookup,
    SiteLookup,
    packet_to_readings,
    site_of_mn,
)

_DATATIME = re.compile(rb"DataTime=([^;,&]*)")
_SIMPLE = {**SUFFIX_COLUMNS, "Flag": "flag"}  # the per-packet columns, and the data flag


@dataclass
class ReadingsOutcome:
    table: pa.Table  # READINGS_SCHEMA, packets in input order, pollutants in packet order
    unknown_codes: list[tuple[int, str]] = field(default_factory=list)  # (record, code) unmapped
    unknown_mn: list[tuple[int, str | None]] = field(default_factory=list)  # (record, MN) no site
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (record, why no readings)
    records: list[int] = field(default_factory=list)  # the record of each row of `table`


def readings_from_tables(
    packets: pl.DataFrame,
    values: pl.DataFrame,
    raw_of: Callable[[int], bytes],
    received_at: datetime,
    tz: tzinfo,
    site_of: SiteLookup | None = None,
    now: datetime | None = None,
    max_future: timedelta | None = None,
    minute_interval_s: int = INTERVAL_MINUTE_S,
    hour_label: str = "start",
    facts_of: FactsLookup | None = None,
) -> ReadingsOutcome:
    """Readings of the accepted packets of a bulk parse (`raw_of(record)` gives the raw bytes
    of a record, for the packets the per-packet functions convert). Minute interval and period
    label per MN from `facts_of`, else `minute_interval_s` / `hour_label` (as packet_to_readings)."""
    out = ReadingsOutcome(pa.Table.from_pylist([], schema=READINGS_SCHEMA))
    interval = {**INTERVAL_BY_CN, "2051": minute_interval_s}
    pk = packets.with_columns(
        interval_s=pl.col("cn").replace_strict(interval, default=None, return_dtype=pl.Int32)
    )
    # per-logger facts: the minute interval of 2051 and whether the label is the period's end
    mns = pk["mn"].drop_nulls().unique().to_list()
    facts = {mn: facts_of(mn) for mn in mns} if facts_of is not None else {}
    minute_of = {mn: f.minute_interval_s for mn, f in facts.items() if f is not None}
    end_of = {mn: f.hour_label == "end" for mn, f in facts.items() if f is not None}
    pk = pk.with_columns(
        interval_s=pl.when(pl.col("cn") == "2051")
        .then(
            pl.col("mn").replace_strict(minute_of, default=minute_interval_s, return_dtype=pl.Int32)
        )
        .otherwise(pl.col("interval_s")),
        _end=pl.col("cn").is_in(list(LABELLED_CNS))
        & pl.col("mn").replace_strict(end_of, default=hour_label == "end", return_dtype=pl.Boolean),
    )
    pk = pk.with_columns(
        datatime=pl.when(pl.col("_end") & pl.col("interval_s").is_not_null())
        .then(pl.col("datatime") - pl.duration(seconds=pl.col("interval_s")))
        .otherwise(pl.col("datatime"))
    )
    no_rows = pk.filter(pl.col("interval_s").is_null() | pl.col("datatime").is_null())
    for rec, cn, dt in no_rows.select("record", "cn", "datatime").iter_rows():
        if cn not in interval:
            out.skipped.append((rec, f"CN {cn} carries no readings"))
        elif dt is None:
            out.skipped.append((rec, "data packet without DataTime"))
    pk = pk.filter(pl.col("interval_s").is_not_null() & pl.col("datatime").is_not_null())
    sites = {mn: site_of_mn(site_of, mn) for mn in pk["mn"].drop_nulls().unique().to_list()}
    pk = pk.with_columns(
        site_id=pl.when(pl.col("mn").is_null())
        .then(pl.lit(site_of_mn(site_of, ""), dtype=pl.String))  # parse_packet's `packet.mn or ""`
        .otherwise(pl.col("mn").replace_strict(sites, default=None, return_dtype=pl.String))
    )
    for rec, mn in pk.filter(pl.col("site_id").is_null()).select("record", "mn").iter_rows():
        out.unknown_mn.append((rec, mn))
    pk = pk.filter(pl.col("site_id").is_not_null())

    # first field of each suffix per pollutant, as Packet.pollutants() keeps it
    v = (
        values.filter(pl.col("code").is_not_null())
        .join(pk.select("record"), on="record", how="semi")
        .sort("record", "seq")
        .unique(subset=["record", "code", "field"], keep="first", maintain_order=True)
    )
    v = v.with_columns(
        column=pl.col("field").replace_strict(_SIMPLE, default=None, return_dtype=pl.String)
    )
    simple_entry = pl.col("column").is_not_null() & (
        (pl.col("field") == "Flag") | pl.col("value").is_not_null()
    )
    grp = v.group_by("record", "code", maintain_order=True).agg(
        first_seq=pl.col("seq").min(),
        simple=simple_entry.all()
        & ((pl.col("column") == "value").sum() <= 1)
        & ((pl.col("column") == "value_zs").sum() <= 1),
        **{c: pl.col("value").filter(pl.col("column") == c).first() for c in ("value", "value_zs", "value_min", "value_max", "value_cou")},
        flag=pl.col("text").filter(pl.col("column") == "flag").first(),
    )  # fmt: skip
    complex_recs = set(grp.filter(~pl.col("simple"))["record"].to_list())

    # code -> parameter, per (code, ST, flue-gas marker present in the packet)
    markers = v.group_by("record").agg(marker=pl.col("code").is_in(list(FLUE_MARKERS)).any())
    grp = grp.join(
        pk.select("record", "st", "mn", "qn", "site_id", "datatime", "interval_s", "_end"),
        on="record",
    )
    grp = grp.join(markers, on="record", how="left").filter(
        ~pl.col("record").is_in(list(complex_recs))
    )
    combos = grp.select("code", "st", "marker").unique()
    infos = [map_code(c, st, ["B02"] if m else []).info for c, st, m in combos.iter_rows()]
    combos = combos.with_columns(
        parameter=pl.Series([i.parameter if i else None for i in infos], dtype=pl.String),
        unit=pl.Series([i.unit if i else None for i in infos], dtype=pl.String),
    )
    grp = grp.join(combos, on=["code", "st", "marker"], how="left", nulls_equal=True)
    unknown = grp.filter(pl.col("parameter").is_null())
    grp = grp.filter(pl.col("parameter").is_not_null()).sort("record", "first_seq")
    fast = grp.select(
        "site_id", "parameter",
        period_start="datatime", interval_s="interval_s",
        source_kind=pl.lit(SOURCE_KIND),
        value="value", value_min="value_min", value_max="value_max", value_zs="value_zs",
        value_cou="value_cou", unit="unit", flag="flag",
        received_at=pl.lit(received_at).cast(pl.Datetime("us", "UTC")),
        # readings.reading_origin, as an expression
        origin=pl.format("hj212:{}:{}", pl.col("mn").fill_null("None"), pl.col("qn").fill_null("")),
        extra=pl.format('{{"code": "{}"}}', pl.col("code")),
        record="record",
        _end="_end",
        _code="code",
    )  # fmt: skip
    if fast.height and fast["_end"].any():
        # an end-labelled period keeps its DataTime as sent in extra (as packet_to_readings)
        sent = {}
        for rec in fast.filter(pl.col("_end"))["record"].unique().to_list():
            m = _DATATIME.search(raw_of(rec))
            sent[rec] = m[1].decode("ascii", "replace") if m else ""
        fast = fast.with_columns(
            extra=pl.when(pl.col("_end"))
            .then(
                pl.format(
                    '{{"DataTime": "{}", "code": "{}"}}',
                    pl.col("record").replace_strict(sent, default="", return_dtype=pl.String),
                    pl.col("_code"),
                )
            )
            .otherwise(pl.col("extra"))
        )
    fast = fast.drop("_end", "_code")
    out.unknown_codes = list(unknown.select("record", "code").iter_rows())

    # the others: per-packet conversion of a fresh parse
    rows: list[dict] = []
    recs: list[int] = []
    for rec in sorted(complex_recs):
        res = try_parse(raw_of(rec), tz, now, max_future)
        packet = res.packet
        assert packet is not None  # the bulk parse accepted this record
        got = packet_to_readings(
            packet, site_of, received_at, minute_interval_s, hour_label, facts_of
        )
        out.unknown_codes += [(rec, c) for c in got.unknown_codes]
        rows += got.rows
        recs += [rec] * len(got.rows)
    table = fast.drop("record").to_arrow().cast(READINGS_SCHEMA)
    records = fast["record"]
    if rows:
        slow = pa.Table.from_pylist(rows, schema=READINGS_SCHEMA)
        both = pl.concat(
            [fast, pl.from_arrow(slow).with_columns(record=pl.Series(recs, dtype=pl.Int64))],
            how="vertical_relaxed",
        )  # type: ignore[list-item]
        # stable: keeps pollutant order within a packet
        both = both.with_row_index("_i").sort("record", "_i").drop("_i")
        records = both["record"]
        table = both.drop("record").to_arrow().cast(READINGS_SCHEMA)
    out.records = records.cast(pl.Int64).to_list()
    out.unknown_codes.sort()
    out.table = table
    return out
