"""HJ 212 packets carried over MQTT (topic envmon/v1/hj212/{mn}, payload = the raw packet).

Parsing and the packet -> readings mapping are the HJ 212 library's (ingest/hj212/protocol.py
and readings.py); this adapter only adds what MQTT transport needs: the topic's MN must be
the packet's, the MN must be a registered outlet's logger, the packet's PW must be that
logger's password (config/registry/enterprises.yaml), and every problem becomes a reason for
a dead letter. If the library cannot be imported, every such message is dead-lettered with
reason "HJ 212 parser unavailable": nothing is lost, and it can be replayed later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from warehouse.registry.config import Registry

PARSER_UNAVAILABLE = "HJ 212 parser unavailable"

try:
    from ingest.hj212.packet import PacketError
    from ingest.hj212.protocol import parse_packet
    from ingest.hj212.readings import packet_to_readings
except ImportError:  # the library is optional for this ingestor
    parse_packet = None  # type: ignore[assignment]


def hj212_payload_to_readings(
    payload: bytes,
    registry: Registry,
    *,
    mn: str | None = None,
    received_at: datetime | None = None,
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Readings rows (READINGS_SCHEMA dicts, source_kind hj212) and the reasons for dead letters."""
    if parse_packet is None:
        return [], [PARSER_UNAVAILABLE]
    try:
        packet = parse_packet(payload)
    except PacketError as exc:
        return [], [f"invalid HJ 212 packet: {exc}"]
    if mn is not None and packet.mn != mn:
        return [], [f"HJ 212 packet MN {packet.mn!r} does not match the topic's MN {mn!r}"]
    site_id = registry.outlet_by_mn.get(packet.mn or "")
    if site_id is None:
        return [], [f"unknown HJ 212 logger MN {packet.mn!r}: no outlet in the registry has it"]
    if packet.pw != registry.outlets[site_id][1].logger.password:
        return [], [
            f"HJ 212 packet of logger MN {packet.mn!r} (outlet {site_id!r}): wrong password (PW)"
        ]
    result = packet_to_readings(packet, registry.outlet_by_mn, received_at)
    if result.skipped and not result.rows:
        return [], [f"HJ 212 packet carries no readings: {result.skipped}"]
    reasons = [f"HJ 212 code {code!r}: no parameter mapping" for code in result.unknown_codes]
    return result.rows, reasons
