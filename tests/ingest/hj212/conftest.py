"""Shared fixtures of the HJ 212 tests: the reference packets in shared/ beside the clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[4] / "shared"  # shared/ beside the clone
SAMPLES = SHARED / "reference" / "hj212_samples.txt"
PUBLIC = SHARED / "data" / "hj212_public_packets" / "packets.txt"
CAPTURE = SHARED / "data" / "hj212_capture_2016-08-24"


def unescape(line: bytes) -> bytes:
    """packets.txt writes non-printable bytes as \\xHH."""
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), line)


def packet_lines(path: Path) -> list[bytes]:
    if not path.exists():
        pytest.skip(f"{path} not available")
    return [unescape(x.rstrip(b"\r\n")) for x in path.read_bytes().splitlines() if x.startswith(b"##")]


@pytest.fixture(scope="session")
def sample_packets() -> list[bytes]:
    return packet_lines(SAMPLES)


@pytest.fixture(scope="session")
def public_packets() -> list[bytes]:
    return packet_lines(PUBLIC)
