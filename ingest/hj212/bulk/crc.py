"""CRC16 of HJ 212 (Appendix A) for a whole batch of segments with a few numpy passes
(mirrors crc.py, the one-buffer CRC; the bulk parser's `bulk.parse` calls it).

Between bytes the register's high byte alone carries state (crc.py): s' = H(s ^ byte), where
H (the table's high bytes) is linear over GF(2) and H**8 is the identity. So the state before
the last byte is H**(n-1)(0xFF) xor the sum of H**d(byte) over the bytes, d = distance from
the segment's last byte, and because H**8 = I the bytes combine in 8-byte blocks aligned on
the segment's end: XOR all those blocks (one `reduceat` over the buffer as uint64 words),
then apply the block map once per segment. Same values as `crc.crc16`, tested with Hypothesis.
"""

from __future__ import annotations

import numpy as np

from ingest.hj212.crc import CRC_TABLE, INIT

_T16 = np.array(CRC_TABLE, dtype=np.uint16)
_H = (_T16 >> 8).astype(np.uint8)


def _powers() -> np.ndarray:
    """_POW[k] = the table of H**k, k = 0..8; checks the H**8 = I the method relies on."""
    p = [np.arange(256, dtype=np.uint8)]
    for _ in range(8):
        p.append(_H[p[-1]])
    if not (p[8] == p[0]).all():  # pragma: no cover - a property of the standard's CRC
        raise AssertionError("HJ 212 CRC: H**8 is not the identity")
    return np.stack(p)


_POW = _powers()
# Byte j of a little-endian word is 7 - j bytes before the block's last byte.
_BLOCK = np.stack([_POW[7 - j] for j in range(8)])
_START = np.array([_POW[k][0xFF] for k in range(8)], dtype=np.uint8)  # H**k(initial state)
_LOW = np.array([(1 << (8 * k)) - 1 for k in range(8)], dtype=np.uint64)


def _fold_bytes(data: bytes) -> int:
    """The folded word of one segment without the buffer trick (for the buffer's edge)."""
    padded = bytes(-len(data) % 8) + data
    acc = 0
    for k in range(0, len(padded), 8):
        acc ^= int.from_bytes(padded[k : k + 8], "little")
    return acc


def crc16_segments(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """CRC16 of every buf[starts[i]:ends[i]] (uint16 array); slices must lie inside buf.

    One XOR pass over the buffer per distinct `ends % 8` (callers that align segment ends on
    a common residue pay one pass).
    """
    buf = np.ascontiguousarray(buf, dtype=np.uint8).ravel()
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    out = np.full(len(starts), INIT, dtype=np.uint16)
    lengths = ends - starts
    live = lengths > 0
    if not live.any():
        return out
    folded = np.zeros(len(starts), dtype=np.uint64)
    residue = ends % 8
    for r in np.unique(residue[live]):
        sel = np.flatnonzero(live & (residue == r))
        words = buf[r : r + 8 * ((len(buf) - r) // 8)].view("<u8")  # no copy
        s, e = starts[sel] - r, ends[sel] - r  # offsets in this word view
        inside = s >= 0  # a segment starting before the first word is folded byte by byte
        for i in sel[~inside]:
            folded[i] = _fold_bytes(buf[starts[i] : ends[i]].tobytes())
        sel, s, e = sel[inside], s[inside], e[inside]
        if len(sel) == 0:
            continue
        w_end, w_start = e // 8 - 1, s // 8  # last and first word of the segment
        # one pass, nothing written per word: reduceat XORs words[w_start:w_end] for each
        # (w_start, w_end) pair of bounds (an empty range gives words[w_start]: zeroed)
        acc = np.bitwise_xor.reduceat(words, np.stack([w_start, w_end], axis=1).ravel())[::2]
        acc[w_start == w_end] = 0
        acc ^= words[w_end]
        acc ^= words[w_start] & _LOW[s % 8]  # bytes of the first word before the segment
        folded[sel] = acc
    b = folded.view(np.uint8).reshape(-1, 8)
    c = _BLOCK[0][b[:, 0]]
    for j in range(1, 8):
        c ^= _BLOCK[j][b[:, j]]
    c ^= _START[(lengths - 1) % 8]
    out[live] = _T16[c[live]]
    return out
