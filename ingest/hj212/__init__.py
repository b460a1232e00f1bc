"""HJ 212-2017 (and HJ/T 212-2005) data-logger protocol: framing, CRC, parsing, replies.

Per-packet API: parse_packet / try_parse / serialize (protocol), replies and commands
(builders), split-packet joining (Reassembler), code mapping (codes), readings (readings).
Batch API (the fast parser): ingest.hj212.bulk.parse_records / parse_batch.
"""

from ingest.hj212.crc import crc16, crc16_hex
from ingest.hj212.packet import CpField, Packet, PacketError, ParseResult
from ingest.hj212.protocol import (
    DEFAULT_TZ,
    StreamFramer,
    frame,
    parse_packet,
    parse_time,
    serialize,
    try_parse,
)
from ingest.hj212.reassembly import Evicted, Reassembler

__all__ = [
    "DEFAULT_TZ", "CpField", "Evicted", "Packet", "PacketError", "ParseResult", "Reassembler",
    "StreamFramer", "crc16", "crc16_hex", "frame", "parse_packet", "parse_time",
    "serialize", "try_parse",
]  # fmt: skip
