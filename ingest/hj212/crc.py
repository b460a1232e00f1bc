"""CRC16 of HJ 212-2017 Appendix A, one buffer at a time (bulk/crc.py: a whole batch at once).

Not CRC-16/MODBUS: each step first drops the register's low byte (`reg >> 8`) and XORs the
data byte into what is left (hj212.md section 3). So between bytes only the register's HIGH
byte matters, which the bulk parser's CRC relies on.
"""

from __future__ import annotations

POLY = 0xA001
INIT = 0xFFFF


def _byte_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


CRC_TABLE = _byte_table()


def crc16(data: bytes) -> int:
    """CRC16 of one data segment: the bit-by-bit C code of Appendix A, one table lookup a byte."""
    table = CRC_TABLE
    reg = INIT
    for b in data:
        reg = table[(reg >> 8) ^ b]
    return reg


def crc16_hex(data: bytes) -> str:
    """The CRC as the packet carries it: 4 upper-case hex digits, high byte first."""
    return f"{crc16(data):04X}"
