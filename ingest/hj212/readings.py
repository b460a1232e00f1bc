"""Turn parsed data packets into rows of core.schema.READINGS_SCHEMA."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from core.registry.logger_facts import LoggerFacts
from core.schema import (
    INTERVAL_DAY_S,
    INTERVAL_HOUR_S,
    INTERVAL_MINUTE_S,
    INTERVAL_REALTIME_S,
    READINGS_SCHEMA,
)
from ingest.hj212.codes import map_code
from ingest.hj212.packet import Packet

SOURCE_KIND = "hj212"  # the source_kind of HJ 212 readings, and of their landing batches
# CN -> averaging interval. Minute data take the logger's minute interval (registry logger
# facts; HJ 212 minute data may be 1..30 min: MinInterval, CN 1063/1064), 1 minute when unknown.
INTERVAL_BY_CN = {
    "2011": INTERVAL_REALTIME_S,
    "2051": INTERVAL_MINUTE_S,
    "2061": INTERVAL_HOUR_S,
    "2031": INTERVAL_DAY_S,
}
# value suffix -> its READINGS_SCHEMA column (the first of Rtd/Avg, of ZsRtd/ZsAvg, fills it;
# a second goes to `extra`); the bulk parser's readings (bulk/readings.py) take the same map
SUFFIX_COLUMNS = {
    "Rtd": "value", "Avg": "value", "ZsRtd": "value_zs", "ZsAvg": "value_zs",
    "Min": "value_min", "Max": "value_max", "Cou": "value_cou",
}  # fmt: skip

SiteLookup = Mapping[str, str] | Callable[[str], str | None]
# MN -> the logger's facts (minute interval, period label); None = the call's defaults
FactsLookup = Callable[[str], LoggerFacts | None]
# data CNs whose DataTime labels a period (not an instant): an end label is shifted back by
# the period's length (2051: the minute interval)
LABELLED_CNS = frozenset({"2051", "2061", "2031"})
# A value whose text is a non-finite word ("Infinity", "-inf", "NaN"): the parser leaves its
# number empty, but it must not become a NULL reading (issue 18 item 11, review I5). The row
# carries the non-finite number instead, and the reading contract (core/contract.py, which
# every caller applies) refuses it with its reason: the caller dead-letters the packet.
NON_FINITE_TEXT = re.compile(r"[+-]?(?:inf(?:inity)?|nan)", re.IGNORECASE)
# value suffixes without a column of their own: a non-finite one marks the row's value
_OTHER_VALUE_SUFFIXES = frozenset({"ZsMin", "ZsMax"})


@dataclass
class ReadingsResult:
    rows: list[dict] = field(default_factory=list)
    unknown_codes: list[str] = field(default_factory=list)  # codes with no parameter mapping
    unknown_mn: str | None = None  # set when the MN has no site: no rows were made
    skipped: str | None = None  # why the packet gave no readings (not a data packet...)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=READINGS_SCHEMA)


def labelled_start(cn: str | None, datatime: datetime, facts: LoggerFacts | None) -> datetime:
    """The period start a reading of this packet gets (its DataTime, shifted back by the
    period's length for an end-labelled 2051/2061/2031 packet); as packet_to_readings."""
    if facts is None or facts.hour_label != "end" or cn not in LABELLED_CNS:
        return datatime
    length = facts.minute_interval_s if cn == "2051" else INTERVAL_BY_CN[cn]
    return datatime - timedelta(seconds=length)


def reading_origin(mn: str | None, qn: str | None) -> str:
    """The `origin` of the readings and logger events of a packet: `hj212:<MN>:<QN>` (a
    reading is traced to its packet by origin and period_start; bulk/readings.py builds the
    same text as a polars expression)."""
    return f"hj212:{mn}:{qn or ''}"


def site_of_mn(site_of: SiteLookup | None, mn: str) -> str | None:
    """The site of logger `mn` by `site_of` (a dict or a callable; None: the MN itself)."""
    if site_of is None:
        return mn
    if callable(site_of):
        return site_of(mn)
    return site_of.get(mn)


def packet_to_readings(
    packet: Packet,
    site_of: SiteLookup | None = None,
    received_at: datetime | None = None,
    minute_interval_s: int = INTERVAL_MINUTE_S,
    hour_label: str = "start",
    facts_of: FactsLookup | None = None,
) -> ReadingsResult:
    """Readings of one data packet (CN 2011/2051/2061/2031), one row per mapped pollutant.

    site_of maps MN -> site_id (dict or callable; None = use the MN itself). The logger's
    minute interval and period label come from `facts_of(MN)` when it knows the MN, else from
    `minute_interval_s` / `hour_label`. `period_start` is always the start of the period: an
    end-labelled 2051/2061/2031 packet is shifted back by its interval, and its DataTime as
    sent is kept in `extra` as "DataTime".

    A non-finite value ("Infinity", "NaN", or a number too large for a float) is never made
    NULL: the row carries it (a non-finite value of a field without a column of its own makes
    the row's value NaN, the text staying in `extra`), so the reading contract that every
    caller applies (`ReadingContract.row_problem` / `split`) refuses the reading with its
    reason and the caller dead-letters it.
    """
    out = ReadingsResult()
    interval = INTERVAL_BY_CN.get(packet.cn)
    if interval is None:
        out.skipped = f"CN {packet.cn} carries no readings"
        return out
    facts = facts_of(packet.mn or "") if facts_of is not None else None
    if facts is not None:
        minute_interval_s, hour_label = facts.minute_interval_s, facts.hour_label
    if packet.cn == "2051":
        interval = minute_interval_s
    if packet.datatime is None:
        out.skipped = "data packet without DataTime"
        return out
    site = site_of_mn(site_of, packet.mn or "")
    if site is None:
        out.unknown_mn = packet.mn
        return out
    received = (received_at or datetime.now(UTC)).astimezone(UTC)
    start = packet.datatime.astimezone(UTC)
    sent_datatime = None
    if hour_label == "end" and packet.cn in LABELLED_CNS:
        start = start - timedelta(seconds=interval)
        sent_datatime = packet.get("DataTime")
    pollutants = packet.pollutants()
    for code, fields in pollutants.items():
        mapping = map_code(code, packet.st, pollutants)
        if mapping.info is None:
            out.unknown_codes.append(code)
            continue
        row: dict = {
            "site_id": site, "parameter": mapping.info.parameter, "period_start": start,
            "interval_s": interval, "source_kind": SOURCE_KIND, "unit": mapping.info.unit,
            "value": None, "value_min": None, "value_max": None, "value_zs": None,
            "value_cou": None, "flag": None, "received_at": received,
            "origin": reading_origin(packet.mn, packet.qn),
        }  # fmt: skip
        extra: dict[str, str] = {}
        for suffix, f in fields.items():
            column = SUFFIX_COLUMNS.get(suffix)
            non_finite = f.value is None and NON_FINITE_TEXT.fullmatch(f.text.strip()) is not None
            if suffix == "Flag":
                row["flag"] = f.text
            elif column is not None and row[column] is None and f.value is not None:
                row[column] = f.value
            elif column is not None and row[column] is None and non_finite:
                row[column] = float(f.text.strip())  # refused by the reading contract
            else:
                extra[suffix] = f.text
                if non_finite and (column is not None or suffix in _OTHER_VALUE_SUFFIXES):
                    row["value"] = float("nan")  # refused by the contract; the text is in extra
        extra["code"] = code  # the raw code as sent (2005 or 2017 edition)
        if sent_datatime is not None:
            extra["DataTime"] = sent_datatime  # the end label as sent
        row["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True)
        out.rows.append(row)
    return out
