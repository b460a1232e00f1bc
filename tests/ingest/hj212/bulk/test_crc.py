"""ingest.hj212.bulk.crc: the CRC16 of a whole batch of segments, equal to crc.crc16 of each."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ingest.hj212.bulk.crc import crc16_segments
from ingest.hj212.crc import INIT, crc16

APPENDIX_A = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&"
)


def crc16_batch(segments: list[bytes]) -> np.ndarray:
    """CRC16 of each byte string, the segments laid end to end in one buffer."""
    lengths = np.fromiter(map(len, segments), dtype=np.int64, count=len(segments))
    ends = np.cumsum(lengths)
    buf = np.frombuffer(b"".join(segments), dtype=np.uint8)
    return crc16_segments(buf, ends - lengths, ends)


def test_standard_check_value_and_empty_segment() -> None:
    assert crc16_batch([APPENDIX_A]).tolist() == [0x1C80]
    assert crc16_batch([b""]).tolist() == [INIT]
    assert crc16_batch([]).tolist() == []


@given(st.lists(st.binary(max_size=70), max_size=30), st.binary(max_size=9))
def test_crc_batch_equals_single(segs, gap):
    assert crc16_batch(segs).tolist() == [crc16(s) for s in segs]
    buf = gap.join(segs)
    starts, pos = [], 0
    for s in segs:
        starts.append(pos)
        pos += len(s) + len(gap)
    starts = np.array(starts, dtype=np.int64)
    ends = starts + np.array([len(s) for s in segs], dtype=np.int64)
    got = crc16_segments(np.frombuffer(buf, dtype=np.uint8), starts, ends)
    assert got.tolist() == [crc16(s) for s in segs]


def test_crc_long_and_odd_lengths() -> None:
    rng = random.Random(3)
    segs = [
        bytes(rng.randrange(256) for _ in range(n)) for n in (0, 1, 2, 3, 1023, 1024, 1025, 1623)
    ]
    segs += [bytes([0xAB] * n) for n in (1, 2, 5)]
    assert crc16_batch(segs).tolist() == [crc16(s) for s in segs]
    buf = np.frombuffer(b"xx" + segs[4] + b"yy", dtype=np.uint8)  # a slice inside a buffer
    assert crc16_segments(buf, np.array([2]), np.array([2 + 1023])).tolist() == [crc16(segs[4])]
    nrng = np.random.default_rng(5)
    more = [nrng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (1, 8, 9, 1023, 1024, 5000)]
    assert crc16_batch(more).tolist() == [crc16(s) for s in more]
