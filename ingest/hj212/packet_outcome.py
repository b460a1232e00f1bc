"""What one authenticated HJ 212 packet gives: readings, logger events, and the reasons for the rest.

The one per-packet path: the TCP server's per-packet lane (`per_packet.PerPacket.accept`) and
HJ 212 over MQTT (ingest/mqtt/hj212_adapter.py) both call `packet_outcome`, so that one packet
gives the same rows whichever way it came:
- the logger's facts (registry `logger_facts`: minute interval, start or end label) place the
  period: an end-labelled 2051/2061/2031 packet lands one period before its DataTime
  (`readings.packet_to_readings`, `readings.labelled_start`);
- the reading contract (core/contract.py: time window, finite values — a non-finite value is
  carried by its row, readings.py —, flags, unit) refuses readings with their reasons; a
  DataTime outside the window refuses the whole packet;
- readings are converted to the units the registry gives the site's parameters
  (ingest/site_units.py);
- CN 2021 (running status) and 2072 (alarms) give logger events (`events.packet_to_events`).
Pure: no I/O; the caller writes what it gets and dead-letters the raw packet with the reasons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from core.contract import ReadingContract, normalise_flag
from ingest.hj212.events import EVENT_CNS, EventError, packet_to_events
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import DEFAULT_TZ
from ingest.hj212.readings import INTERVAL_BY_CN, labelled_start, packet_to_readings
from ingest.site_units import Conversion, SiteUnits, convert_row

if TYPE_CHECKING:
    from core.registry.config import Registry

_FIELD = "field 'period_start': "  # the contract's field name; a packet's field is DataTime


@dataclass
class PacketOutcome:
    rows: list[dict] = field(default_factory=list)  # readings keeping the contract, site units
    events: list[dict] = field(default_factory=list)  # logger events (LOGGER_EVENTS_SCHEMA dicts)
    refused: list[str] = field(default_factory=list)  # "parameter (code): why", per reading
    unknown_codes: list[str] = field(default_factory=list)  # codes no parameter maps to
    time_problem: str | None = None  # the whole packet is outside the contract's time window
    note: str | None = None  # why the packet gave nothing to land (not data, no usable event...)

    @property
    def landed(self) -> bool:
        return bool(self.rows or self.events)


def refused_time(what: str, problem: str) -> str:
    """A time the reading contract refuses (`ReadingContract.time_problem`), named as the packet
    names it ("DataTime 20240101000000", "alarm time"): the one wording of the per-packet lane,
    HJ 212 over MQTT and recorded traffic."""
    return f"{what} refused by the reading contract: {problem.replace(_FIELD, '')}"


def reading_code(row: dict) -> str:
    """The pollutant code a reading was sent under (kept in its `extra`)."""
    try:
        return str(json.loads(row.get("extra") or "{}").get("code", "?"))
    except ValueError:
        return "?"


def packet_outcome(
    packet: Packet,
    site_id: str,
    registry: Registry,
    contract: ReadingContract,
    received_at: datetime,
    tz: tzinfo = DEFAULT_TZ,
    conversion: Conversion | None = None,
) -> PacketOutcome:
    """Readings and events of one packet of the registered logger of outlet `site_id`."""
    out = PacketOutcome()
    mn = packet.mn or ""
    facts = registry.logger_facts(mn)
    if packet.datatime is not None and (packet.cn in INTERVAL_BY_CN or packet.cn in EVENT_CNS):
        start = labelled_start(packet.cn, packet.datatime, facts)
        problem = contract.time_problem(start, received_at)
        if problem is not None:
            out.time_problem = refused_time(f"DataTime {packet.get('DataTime')}", problem)
            return out
    if packet.cn in INTERVAL_BY_CN:
        res = packet_to_readings(
            packet, lambda _mn: site_id, received_at, facts_of=registry.logger_facts
        )
        out.unknown_codes = list(res.unknown_codes)
        convert = conversion or SiteUnits(registry)
        for row in res.rows:
            problem = contract.row_problem(row, received_at)
            if problem is not None:
                out.refused.append(f"{row['parameter']} ({reading_code(row)}): {problem}")
                continue
            row["flag"] = normalise_flag(row.get("flag"))
            out.rows.append(convert_row(row, convert))
        if not res.rows and not res.unknown_codes:
            out.note = res.skipped or "data packet without values"
        return out
    if packet.cn in EVENT_CNS:
        try:
            events = packet_to_events(packet, site_id, received_at, facts, tz)
        except EventError as exc:
            out.note = str(exc)
            return out
        for event in events:
            problem = contract.time_problem(event["event_time"], received_at)
            if problem is not None:  # an AlarmTime of a reset clock, or in the future
                out.time_problem = refused_time(f"{event['kind']} time", problem)
                return out
        out.events = events
        return out
    out.note = f"CN {packet.cn} carries no readings"
    return out
