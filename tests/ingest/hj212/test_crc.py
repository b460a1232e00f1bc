"""ingest.hj212.crc: the CRC16 of HJ 212-2017 Appendix A (the batch CRC: bulk/test_crc.py)."""

from hypothesis import given
from hypothesis import strategies as st

from ingest.hj212.crc import INIT, POLY, crc16, crc16_hex

APPENDIX_A = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&"
)


def crc16_reference(data: bytes) -> int:
    """Bit-by-bit transcription of the standard's Appendix A C code (slow; the definition)."""
    reg = INIT
    for b in data:
        reg = (reg >> 8) ^ b
        for _ in range(8):
            lsb = reg & 1
            reg >>= 1
            if lsb:
                reg ^= POLY
    return reg


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


def test_every_sample_crc(sample_packets):
    verified = [p for p in sample_packets[:18]]
    for p in verified:
        assert crc16_hex(p[6:-4]) == p[-4:].decode().upper()


@given(st.binary(max_size=300))
def test_table_equals_reference(data):
    assert crc16(data) == crc16_reference(data)
