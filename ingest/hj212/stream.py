"""`envmon hj212 parse`: one JSON object per packet, for staff looking at logger traffic."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import TextIO

from ingest.hj212.packet import Packet, PacketError
from ingest.hj212.protocol import DEFAULT_TZ, MAX_FUTURE, is_numeric_field, parse_packet

_TEXT_FIELDS = ("EFlag", "SampleTime")


def read_lines(path: str | Path | None) -> Iterator[bytes]:
    """Records of a file ('-' or None = stdin), split on CRLF; gzip files are read transparently."""
    data = sys.stdin.buffer.read() if path is None or str(path) == "-" else Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    # CRLF ends a record; a lone LF (files edited on Unix) does too.
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r")
        if line:
            yield line


def packet_json(packet: Packet) -> dict:
    values = []
    for code, fields in packet.pollutants().items():
        flag = fields["Flag"].text if "Flag" in fields else None
        extra = {k: fields[k].text for k in _TEXT_FIELDS if k in fields}
        for f in packet.fields():
            if f.code == code and f.field != "Flag" and is_numeric_field(f.field, f.text):
                values.append({"code": code, "field": f.field, "value": f.value, "flag": flag, **extra})
    return {
        "ok": True, "qn": packet.qn, "st": packet.st, "cn": packet.cn, "mn": packet.mn,
        "flag": packet.flag,
        "datatime": packet.datatime.isoformat() if packet.datatime else None,
        "crc_ok": True, "values": values, "notes": list(packet.notes),
    }  # fmt: skip


def parse_stream(
    lines: Iterable[bytes],
    out: TextIO,
    tz: tzinfo = DEFAULT_TZ,
    max_future: timedelta | None = MAX_FUTURE,
) -> int:
    """Write one JSON line per packet; return 0 when all parsed, else 1."""
    status = 0
    for line in lines:
        line = line.rstrip(b"\r\n")
        try:
            obj = packet_json(parse_packet(line, tz, max_future=max_future))
        except PacketError as exc:
            status = 1
            obj = {"ok": False, "error": exc.reason, "kind": exc.kind, "crc_ok": bool(exc.crc_ok),
                   "raw": line.decode("utf-8", errors="replace")[:200]}  # fmt: skip
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return status
