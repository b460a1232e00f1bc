"""The fast HJ 212 parser: many packets at once into columnar tables (and readings), with the
same results as the per-packet parser (`protocol.parse_packet`, `readings.packet_to_readings`).

Entry points: `parse_records(list[bytes])` -> BulkResult (packets and values tables +
rejections); `parse_batch(list[bytes], site_of=...)` -> BatchResult (readings table in
READINGS_SCHEMA + rejections; unpacks as (readings, rejected)), for the TCP server's bulk lane
(`bulk.lane`) and for recorded traffic (`onboarding`).

Its modules mirror the per-packet ones: `bulk.parse` (protocol.py: numpy over a whole chunk),
`bulk.crc` (crc.py), `bulk.readings` (readings.py). Whatever the vectorised path does not take
(every rejection, split packets, tolerated deviations, unusual layouts) goes through the
per-packet parser, so reasons are always its reasons. The equality of both paths is tested on
the samples, generated batches, a real day of traffic and Hypothesis-made packets and
corruptions (tests/ingest/hj212/test_hj212_bulk_vectorised.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from core.schema import INTERVAL_MINUTE_S
from ingest.hj212.bulk.parse import PACKET_SCHEMA, VALUE_SCHEMA, parse_chunk
from ingest.hj212.bulk.readings import SiteLookup, readings_from_tables
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import DEFAULT_TZ, MAX_FUTURE, try_parse
from ingest.hj212.readings import FactsLookup

CHUNK = 16384


@dataclass(frozen=True)
class Rejected:
    record: int  # position in the input
    reason: str
    kind: str
    crc_ok: bool | None
    raw: bytes


@dataclass
class BulkResult:
    """packets: one row per accepted packet (datatime in UTC); values: one row per data-area
    field (the DataTime used for `datatime` excluded), grouped by record; rejected: the rest."""

    packets: pl.DataFrame
    values: pl.DataFrame
    rejected: list[Rejected]

    @property
    def n_ok(self) -> int:
        return self.packets.height


# --- shared table form ------------------------------------------------------------------------


def packets_to_frames(items: Sequence[tuple[int, Packet]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The table form of per-packet results (used for fallback records and for tests)."""
    prow: dict[str, list] = {k: [] for k in PACKET_SCHEMA}
    vrow: dict[str, list] = {k: [] for k in VALUE_SCHEMA}
    for record, p in items:
        for k, v in (
            ("record", record), ("qn", p.qn), ("st", p.st), ("cn", p.cn), ("pw", p.pw),
            ("mn", p.mn), ("flag", p.flag), ("pnum", p.pnum), ("pno", p.pno),
            # in UTC here: a local DataTime that its zone skipped (a DST change, e.g. Asia/Shanghai
            # 1986-05-04 02:00) has no offset polars can build a zoned column with
            ("datatime", p.datatime.astimezone(UTC) if p.datatime else None), ("notes", list(p.notes)),
        ):  # fmt: skip
            prow[k].append(v)
        skipped_dt = False
        for seq, f in enumerate(p.fields()):
            if f.key == "DataTime" and not skipped_dt:
                skipped_dt = True
                continue
            for k, v in (
                ("record", record), ("seq", seq), ("key", f.key), ("code", f.code),
                ("field", f.field), ("text", f.text), ("value", f.value),
            ):  # fmt: skip
                vrow[k].append(v)
    return pl.DataFrame(prow, schema=PACKET_SCHEMA), pl.DataFrame(vrow, schema=VALUE_SCHEMA)


# --- entry points -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What `parse_batch` gives; unpacks as (readings, rejected).

    readings: READINGS_SCHEMA table of every accepted data packet with a site;
    packets: the accepted packets (PACKET_SCHEMA: qn, flag, ... for acknowledgements);
    rejected: every refused packet with the per-packet parser's reason and the raw bytes;
    unknown_codes / unknown_mn / skipped: (record, detail) of what gave no readings and why.
    """

    readings: pa.Table
    rejected: list[Rejected]
    packets: pl.DataFrame
    unknown_codes: list[tuple[int, str]]
    unknown_mn: list[tuple[int, str | None]]
    skipped: list[tuple[int, str]]

    def __iter__(self) -> Iterator:
        yield self.readings
        yield self.rejected


def parse_batch(
    records: Sequence[bytes],
    site_of: SiteLookup | None = None,
    received_at: datetime | None = None,
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    max_future: timedelta | None = MAX_FUTURE,
    minute_interval_s: int = INTERVAL_MINUTE_S,
    hour_label: str = "start",
    facts_of: FactsLookup | None = None,
) -> BatchResult:
    """Packets (bytes, CRLF optional) -> readings table + rejections, for a server batch or a file.

    The same readings as `try_parse` + `readings.packet_to_readings` packet by packet, and the
    same rejections and reasons; `site_of` maps MN -> site_id (dict or callable; None = the MN
    itself); `facts_of` maps MN -> the logger's facts (minute interval, period label; None =
    `minute_interval_s` / `hour_label`); `record` numbers in the details are positions in `records`.
    """
    received = (received_at or datetime.now(UTC)).astimezone(UTC)
    bulk = parse_records(records, tz=tz, now=now, max_future=max_future)
    got = readings_from_tables(
        bulk.packets, bulk.values, records.__getitem__, received, tz, site_of, now, max_future,
        minute_interval_s, hour_label, facts_of,
    )  # fmt: skip
    return BatchResult(
        got.table, bulk.rejected, bulk.packets, got.unknown_codes, got.unknown_mn, got.skipped
    )


def parse_records(
    records: Sequence[bytes],
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    max_future: timedelta | None = MAX_FUTURE,
    chunk: int = CHUNK,
) -> BulkResult:
    """Parse a batch of packets (each without its CRLF) into tables plus rejections."""
    if not isinstance(tz, ZoneInfo):
        raise ValueError("bulk parsing needs a zoneinfo.ZoneInfo time zone")
    limit = None
    if max_future is not None:
        limit = ((now or datetime.now(tz)) + max_future).astimezone(UTC)
    pframes, vframes, rejected = [], [], []
    for c0 in range(0, len(records), chunk):
        p, v, r = _parse_chunk(records[c0 : c0 + chunk], c0, tz, now, max_future, limit)
        pframes += p
        vframes += v
        rejected += r
    packets = pl.concat(pframes, how="vertical") if pframes else pl.DataFrame(schema=PACKET_SCHEMA)
    values = pl.concat(vframes, how="vertical") if vframes else pl.DataFrame(schema=VALUE_SCHEMA)
    return BulkResult(packets.sort("record"), values, rejected)


# --- one chunk: the vectorised path, then the per-packet parser for what it left ---------------


def _parse_chunk(records, base, tz, now, max_future, limit):
    fast = parse_chunk(list(records), tz, limit)
    packets = fast.packets.with_columns(pl.col("record") + base)
    values = fast.values.with_columns(pl.col("record") + base)
    slow_ok, rejected = [], []
    for i in fast.slow.tolist():
        res = try_parse(records[i], tz, now, max_future)
        if res.ok:
            slow_ok.append((i + base, res.packet))
        else:
            rejected.append(
                Rejected(i + base, res.error or "", res.kind or "", res.crc_ok, records[i])
            )
    pframes, vframes = [packets], [values]
    if slow_ok:
        p, v = packets_to_frames(slow_ok)
        pframes.append(p.with_columns(pl.col("datatime").dt.convert_time_zone("UTC")))
        vframes.append(v)
    return pframes, vframes, rejected


__all__ = [
    "BatchResult",
    "BulkResult",
    "Rejected",
    "packets_to_frames",
    "parse_batch",
    "parse_records",
]  # fmt: skip
