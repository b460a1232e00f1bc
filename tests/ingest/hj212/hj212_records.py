"""Test helpers: recorded HJ 212 traffic as records, as on the wire (CRLF-separated)."""

from __future__ import annotations

import gzip
from pathlib import Path

from ingest.hj212.bulk import BulkResult, parse_records


def split_records(buffer: bytes) -> list[bytes]:
    """CRLF-separated records (a bare LF stays inside its record, as on the wire)."""
    records = buffer.split(b"\r\n")
    if records and records[-1] == b"":
        records.pop()
    return records


def parse_file(path: str | Path, **kw) -> BulkResult:  # type: ignore[no-untyped-def]
    """parse_records over a file of CRLF-separated packets (gzip read transparently)."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return parse_records(split_records(data), **kw)
