"""CRC16 of HJ 212-2017 Appendix A, one buffer at a time and for many buffers at once.

Not CRC-16/MODBUS: each step first drops the register's low byte (`reg >> 8`) and XORs the
data byte into what is left (hj212.md section 3). So between bytes only the register's HIGH
byte matters, which lets the bulk path carry an 8-bit state and consume two bytes per lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def crc16(data: bytes) -> int:
    """Table-driven CRC16 of one data segment (same result as `crc16_reference`)."""
    table = CRC_TABLE
    reg = INIT
    for b in data:
        reg = table[(reg >> 8) ^ b]
    return reg


def crc16_hex(data: bytes) -> str:
    """The CRC as the packet carries it: 4 upper-case hex digits, high byte first."""
    return f"{crc16(data):04X}"


# --- bulk -----------------------------------------------------------------------------------

_T16 = np.array(CRC_TABLE, dtype=np.uint16)
_HI = (_T16 >> 8).astype(np.uint16)  # next 8-bit state from (state ^ byte)
_ix = np.arange(65536, dtype=np.uint32)
# Two bytes per lookup: state' = HI[HI[state ^ b1] ^ b2], indexed by (state << 8) ^ (b1 << 8 | b2).
_PAIR = _HI[_HI[_ix >> 8] ^ (_ix & 0xFF)].astype(np.uint16)
del _ix
# A left-pad byte that leaves the initial state 0xFF unchanged: HI[0xFF ^ 0xAB] == 0xFF.
_NEUTRAL = 0xFF ^ int(np.flatnonzero(_HI == 0xFF)[0])
_CHUNK = 8192


def crc16_many(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """CRC16 of every slice buffer[starts[i]:ends[i]] at once (uint16 array).

    Rows are right-aligned and left-padded with a byte that keeps the state at its initial
    value, so all rows of a chunk advance together two bytes per table lookup.
    """
    buf = np.asarray(buffer, dtype=np.uint8)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    n = len(starts)
    out = np.full(n, INIT, dtype=np.uint16)
    lengths = ends - starts
    nonempty = np.flatnonzero(lengths > 0)
    if len(nonempty) == 0:
        return out
    # all bytes but the last go through the 8-bit state; the last gives the full 16 bits
    order = nonempty[np.argsort(lengths[nonempty], kind="stable")]
    prefix = lengths - 1
    max_w = int(prefix[order].max()) + 1
    pad = max_w + 2
    padded = np.empty(len(buf) + pad, dtype=np.uint8)
    padded[:pad] = _NEUTRAL
    padded[pad:] = buf
    windows = np.lib.stride_tricks.sliding_window_view
    for c0 in range(0, len(order), _CHUNK):
        rows_ix = order[c0 : c0 + _CHUNK]
        lp = prefix[rows_ix]
        width = int(lp.max())
        width += width & 1
        state = np.full(len(rows_ix), 0xFF, dtype=np.uint16)
        if width:
            last = ends[rows_ix] - 1 + pad
            rows = windows(padded, width)[last - width]
            rows = np.where(np.arange(width)[None, :] < (width - lp)[:, None], _NEUTRAL, rows)
            pairs = np.ascontiguousarray(rows).view(">u2").T.astype(np.uint16)
            tmp = np.empty_like(state)
            for k in range(pairs.shape[0]):
                np.left_shift(state, 8, out=tmp)
                np.bitwise_xor(tmp, pairs[k], out=tmp)
                np.take(_PAIR, tmp, out=state)
        out[rows_ix] = _T16[state ^ buf[ends[rows_ix] - 1]]
    return out


def crc16_list(segments: Sequence[bytes]) -> np.ndarray:
    """CRC16 of each byte string in `segments` (uint16 array)."""
    lengths = np.fromiter(map(len, segments), dtype=np.int64, count=len(segments))
    ends = np.cumsum(lengths)
    buf = np.frombuffer(b"".join(segments), dtype=np.uint8)
    return crc16_many(buf, ends - lengths, ends)
