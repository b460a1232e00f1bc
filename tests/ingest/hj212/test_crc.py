import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ingest.hj212.crc import crc16, crc16_hex, crc16_list, crc16_many, crc16_reference

APPENDIX_A = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&"
)


def modbus(data: bytes) -> int:
    reg = 0xFFFF
    for b in data:
        reg ^= b
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
    return reg


def test_standard_check_value():
    assert crc16_hex(APPENDIX_A) == "1C80"
    assert crc16_reference(APPENDIX_A) == 0x1C80
    assert modbus(APPENDIX_A) == 0x0759  # not MODBUS


def test_empty_segment():
    assert crc16(b"") == 0xFFFF
    assert crc16_list([b""]).tolist() == [0xFFFF]


def test_every_sample_crc(sample_packets):
    verified = [p for p in sample_packets[:18]]
    for p in verified:
        assert crc16_hex(p[6:-4]) == p[-4:].decode().upper()


@given(st.binary(max_size=300))
def test_table_equals_reference(data):
    assert crc16(data) == crc16_reference(data)


@given(st.lists(st.binary(max_size=80), max_size=40))
def test_bulk_equals_single(segments):
    assert crc16_list(segments).tolist() == [crc16(s) for s in segments]


def test_bulk_long_and_odd_lengths():
    rng = random.Random(3)
    segs = [bytes(rng.randrange(256) for _ in range(n)) for n in (0, 1, 2, 3, 1023, 1024, 1025, 1623)]
    segs += [bytes([0xAB] * n) for n in (1, 2, 5)]  # the pad byte itself
    assert crc16_list(segs).tolist() == [crc16(s) for s in segs]
    buf = np.frombuffer(b"xx" + segs[4] + b"yy", dtype=np.uint8)
    assert crc16_many(buf, np.array([2]), np.array([2 + 1023])).tolist() == [crc16(segs[4])]
