"""HJ 212 packets carried over MQTT (topic envmon/v1/hj212/{mn}, payload = the raw packet).

Parsing and the packet -> readings / events mapping are the HJ 212 library's
(ingest/hj212/protocol.py, and packet_outcome.py: the logger's facts, the reading contract,
the site's units, CN 2021/2072 as logger events), so one packet gives the same rows over MQTT
as over TCP. This adapter only adds what MQTT transport needs: the topic's MN must be the
packet's, the MN must be a registered outlet's logger, the packet's PW must be that logger's
password (config/registry/enterprises.yaml), and every problem becomes a reason for a dead
letter. If the library cannot be imported, every such message is dead-lettered with reason
"HJ 212 parser unavailable": nothing is lost, and it can be replayed later.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from core.contract import ReadingContract
from core.registry.config import Registry
from ingest.site_units import Conversion

PARSER_UNAVAILABLE = "HJ 212 parser unavailable"

try:
    from ingest.hj212.events import EVENT_CNS
    from ingest.hj212.packet import PacketError
    from ingest.hj212.packet_outcome import packet_outcome
    from ingest.hj212.protocol import DEFAULT_TZ, parse_packet
except ImportError:  # the library is optional for this ingestor
    parse_packet = None  # type: ignore[assignment]
    DEFAULT_TZ = None  # type: ignore[assignment]


@dataclass
class Hj212Records:
    """What one HJ 212 message gives: readings, logger events, and the reasons for a dead letter."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # READINGS_SCHEMA, source hj212
    events: list[dict[str, Any]] = field(default_factory=list)  # LOGGER_EVENTS_SCHEMA
    reasons: list[str] = field(default_factory=list)


def hj212_payload_to_records(
    payload: bytes,
    registry: Registry,
    contract: ReadingContract,
    *,
    received_at: datetime,
    mn: str | None = None,
    tz: tzinfo | None = None,
    conversion: Conversion | None = None,
) -> Hj212Records:
    """Readings (in the site's units, keeping the contract), logger events, and dead-letter
    reasons of one HJ 212 packet received at `received_at` (UTC) on the topic of logger `mn`."""
    out = Hj212Records()
    if parse_packet is None:
        out.reasons.append(PARSER_UNAVAILABLE)
        return out
    try:
        # the time window is the reading contract's, applied to the labelled period start
        packet = parse_packet(payload, tz or DEFAULT_TZ, max_future=None)
    except PacketError as exc:
        out.reasons.append(f"invalid HJ 212 packet: {exc}")
        return out
    if mn is not None and packet.mn != mn:
        out.reasons.append(f"HJ 212 packet MN {packet.mn!r} does not match the topic's MN {mn!r}")
        return out
    site_id = registry.outlet_by_mn.get(packet.mn or "")
    if site_id is None:
        out.reasons.append(
            f"unknown HJ 212 logger MN {packet.mn!r}: no outlet in the registry has it"
        )
        return out
    expected = registry.outlets[site_id][1].logger.password
    if not hmac.compare_digest((packet.pw or "").encode(), expected.encode()):
        out.reasons.append(
            f"HJ 212 packet of logger MN {packet.mn!r} (outlet {site_id!r}): wrong password (PW)"
        )
        return out
    got = packet_outcome(
        packet, site_id, registry, contract, received_at, tz or DEFAULT_TZ, conversion
    )
    if got.time_problem is not None:
        out.reasons.append(got.time_problem)
        return out
    out.rows, out.events = got.rows, got.events
    out.reasons.extend(f"parameter {r}" for r in got.refused)
    out.reasons.extend(f"HJ 212 code {code!r}: no parameter mapping" for code in got.unknown_codes)
    if got.note is not None:
        what = "gives no logger event" if packet.cn in EVENT_CNS else "carries no readings"
        out.reasons.append(f"HJ 212 packet {what}: {got.note}")
    return out
