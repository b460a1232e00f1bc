"""Vectorised parsing of a chunk of HJ 212 packets (mirrors protocol.py, the per-packet parser).

How it stays cheap: a logger sends the same packet *layout* (the same keys in the same order,
only the values change) again and again. One numpy pass classifies every byte of the chunk
(`=`, `;`, `,`, `&`, or a byte the fast path does not take); records with the same sequence of
separators form a group whose separator positions are one 2-D array, and rows of that group
whose keys are byte-for-byte the same form a layout. The grammar and the keys are checked once
per layout in Python against the same rules as `protocol.parse_packet`; every row then only
needs column arithmetic. Strings (keys, codes, values) become Arrow string views pointing into
the chunk's buffer, so nothing is copied per value.

Anything this path does not reproduce exactly is left to the per-packet parser: the caller
gets the indices of those records (`ChunkResult.slow`). That covers every rejection (so the
reason is the per-packet parser's), split packets, header deviations that earn a note, bytes
outside printable ASCII, non-numeric values in numeric fields, and unusual layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from ingest.hj212.bulk.crc import crc16_segments
from ingest.hj212.codes import field_kinds
from ingest.hj212.protocol import KEY_RE, STANDARD_MAX_SEGMENT, parse_number

HEADER_KINDS = ("QN", "ST", "CN", "PW", "MN", "Flag", "DataTime")  # DataTime comes from CP
_N_HDR = 6  # the first six are header fields
MAX_KEY = 24  # longer keys go the slow way

PACKET_SCHEMA = {
    "record": pl.Int64, "qn": pl.String, "st": pl.String, "cn": pl.String, "pw": pl.String,
    "mn": pl.String, "flag": pl.Int64, "pnum": pl.Int64, "pno": pl.Int64,
    "datatime": pl.Datetime("us", "UTC"), "notes": pl.List(pl.String),
}  # fmt: skip
VALUE_SCHEMA = {
    "record": pl.Int64, "seq": pl.Int64, "key": pl.String, "code": pl.String,
    "field": pl.String, "text": pl.String, "value": pl.Float64,
}  # fmt: skip

# byte classes
_EQ, _SEMI, _COMMA, _AMP, _BAD = 1, 2, 3, 4, 5
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[:32] = _BAD
_CLASS[127:] = _BAD
for _c, _k in ((b"=", _EQ), (b";", _SEMI), (b",", _COMMA), (b"&", _AMP)):
    _CLASS[_c[0]] = _k
_CLASS_TABLE = _CLASS.tobytes()  # for bytes.translate: one C pass, faster than numpy compares
_HEXVAL = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEXVAL[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEXVAL[_c] = 10 + _i
_LOW = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)  # k low bytes kept
_KEY_WORDS = MAX_KEY // 8  # a key is read as three uint64 words
_KEY_MASK = np.array(
    [[_LOW[min(max(n - 8 * j, 0), 8)] for j in range(_KEY_WORDS)] for n in range(MAX_KEY + 1)],
    dtype=np.uint64,
)  # (key length, word) -> the bits of the key's bytes
_PADS = [b" " * k for k in range(8)]
_LEAD = 12  # bytes before the first record: 8 so every CRC word exists, 4 to align ends
_TAIL = 32  # bytes after the last record: 8-byte reads past any value stay inside
_HASH = np.random.default_rng(212).integers(1, 2**63, size=(4, 4096), dtype=np.uint64) | np.uint64(
    1
)

# value kinds of data-area fields
_SKIP, _TEXT, _NUMERIC, _MAYBE = -1, 0, 1, 2


@dataclass
class ChunkResult:
    packets: pl.DataFrame  # PACKET_SCHEMA, records numbered within the chunk
    values: pl.DataFrame  # VALUE_SCHEMA, rows of one record together
    slow: np.ndarray  # chunk indices of records the per-packet parser must handle


def _analyse_classes(c: bytes) -> tuple[list[int], int, list[int]] | None:
    """Separator columns of a canonical packet: header '=' columns, the CP '=' column and the
    data-area '=' columns; None if the separator sequence is not `k=v;...;CP=&&k=v[;,]...&&`."""
    k, i, hdr = len(c), 0, []
    while i + 1 < k and c[i] == _EQ and c[i + 1] == _SEMI:
        hdr.append(i)
        i += 2
    if not (i + 2 < k and c[i] == _EQ and c[i + 1] == _AMP and c[i + 2] == _AMP):
        return None
    cp, i, body = i, i + 3, []
    if i + 2 == k:  # empty data area
        return (hdr, cp, body) if c[i:] == bytes((_AMP, _AMP)) else None
    while i + 1 < k and c[i] == _EQ and c[i + 1] in (_SEMI, _COMMA):
        body.append(i)
        i += 2
    if i + 3 == k and c[i] == _EQ and c[i + 1 :] == bytes((_AMP, _AMP)):
        body.append(i)
        return hdr, cp, body
    return None


class _Dict:
    """Arrow string-view templates for a few distinct strings (keys, codes, fields)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.cache: dict[str | None, tuple[int, int]] = {}

    def view(self, s: str | None) -> tuple[int, int]:
        got = self.cache.get(s)
        if got is None:
            if s is None:
                got = (0, 0)
            else:
                b = s.encode("ascii")
                v0 = len(b) | int.from_bytes(b[:4].ljust(4, b"\0"), "little") << 32
                if len(b) <= 12:
                    v1 = int.from_bytes(b[4:12].ljust(8, b"\0"), "little")
                else:  # data buffer 1 (buffer 0 is the chunk), at this offset
                    v1 = 1 | len(self.data) << 32
                    self.data += b
                got = (v0, v1)
            self.cache[s] = got
        return got


@dataclass
class _LayoutMeta:
    ok: bool
    hcol: list[int]  # token column of each of HEADER_KINDS (-1 absent)
    kind: list[int]  # per data-area column: _SKIP (the DataTime), _TEXT, _NUMERIC, _MAYBE
    key: list[tuple[int, int]]
    code: list[tuple[int, int]]
    code_valid: list[bool]
    field: list[tuple[int, int]]


def _layout_meta(keys: list[str], n_hdr: int, d: _Dict) -> _LayoutMeta:
    """Check one layout's keys as parse_packet would (no note, no error) and describe it."""
    bad = _LayoutMeta(False, [], [], [], [], [], [])
    hdr, cp, body = keys[:n_hdr], keys[n_hdr], keys[n_hdr + 1 :]
    if cp != "CP" or len(set(hdr)) != len(hdr) or "CN" not in hdr:
        return bad
    if any(h not in HEADER_KINDS[:_N_HDR] for h in hdr):
        return bad  # PNUM/PNO (split packets), unknown or mis-cased names
    if body.count("DataTime") > 1 or any(k == "Flag" or not KEY_RE.fullmatch(k) for k in body):
        return bad
    kinds = field_kinds()
    hcol = [hdr.index(h) if h in hdr else -1 for h in HEADER_KINDS[:_N_HDR]]
    hcol.append(n_hdr + 1 + body.index("DataTime") if "DataTime" in body else -1)
    meta = _LayoutMeta(True, hcol, [], [], [], [], [])
    seen_dt = False
    for k in body:
        code, dash, suffix = k.partition("-")
        if k == "DataTime" and not seen_dt:
            seen_dt = True
            kind = _SKIP
        elif not suffix:  # plain keys and 'code-' carry no number
            kind = _TEXT
        else:
            known = kinds.get(suffix)
            kind = _NUMERIC if known == "numeric" else _MAYBE if known is None else _TEXT
        meta.kind.append(kind)
        meta.key.append(d.view(k))
        meta.code.append(d.view(code if dash else None))
        meta.code_valid.append(bool(dash))
        meta.field.append(d.view(suffix if dash else k))
    return meta


def _words(data: bytes, pos: np.ndarray, n: int = 1) -> np.ndarray:
    """The 8*n bytes of data at each position as n little-endian uint64 (a last axis of n).
    Gathered as 'S' items of a byte-strided view: numpy gathers those about twice as fast
    as unaligned uint64."""
    win = np.ndarray((len(data) - 8 * n + 1,), dtype=f"S{8 * n}", buffer=data, strides=(1,))
    return win[pos].view("<u8").reshape(*pos.shape, n)


def _text_views(data: bytes, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 Arrow string views of buf[start:start+length] (data buffer 0): up to 12
    bytes inline and zero-padded, longer ones as 4-byte prefix + offset."""
    n = len(start)
    out = np.zeros((n, 2), dtype=np.uint64)
    if n == 0:
        return out
    # a view is the uint32 length then 12 inline bytes: write the first 8 bytes at byte 4
    longest = int(length.max())
    first8 = _words(data, start)[:, 0]
    first8 &= _LOW[length if longest <= 8 else np.minimum(length, 8)]
    lanes = out.view(np.uint32).reshape(n, 4)
    lanes[:, 0] = length
    np.ndarray((n,), dtype="<u8", buffer=out, offset=4, strides=(16,))[:] = first8
    if longest > 8:  # bytes 8..11 inline; over 12 bytes, buffer 0 and the offset instead
        over8 = np.flatnonzero(length > 8)
        s, ln = start[over8], length[over8]
        next4 = _words(data, s + 8)[:, 0] & _LOW[np.minimum(ln - 8, 4)]
        lanes[over8, 3] = next4.astype(np.uint32)
        over12 = over8[ln > 12]
        out[over12, 1] = start[over12].astype(np.uint64) << np.uint64(32)
    return out


def _string_column(
    views: np.ndarray, buffers: list[pa.Buffer], valid: np.ndarray | None = None
) -> pl.Series:
    n = len(views)
    validity = None
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    arr = pa.Array.from_buffers(
        pa.string_view(), n, [validity, pa.py_buffer(np.ascontiguousarray(views)), *buffers]
    )
    return pl.from_arrow(arr)  # type: ignore[return-value]


def _rows_of(arr: np.ndarray, first: np.ndarray, k: int) -> np.ndarray:
    """(len(first), k) array of arr[f : f + k] for each f: a view when the rows follow each
    other in arr (records of one layout side by side, the usual case), else a gather."""
    g = len(first)
    if first[-1] - first[0] == k * (g - 1) and (np.diff(first) == k).all():
        return arr[first[0] : first[0] + k * g].reshape(g, k)
    return arr[first[:, None] + np.arange(k)]


def _class_groups(seqs: np.ndarray) -> list:
    """Row subsets of `seqs` (a separator-class sequence per row) whose sequences are equal: one
    slice when all are (the usual case), else index arrays found by a hash, checked exactly."""
    if (seqs == seqs[0]).all():
        return [slice(None)]
    cid, _ = pd.factorize((seqs * _HASH[0, : seqs.shape[1]]).sum(axis=1))
    subs = []
    for c_u in range(int(cid.max()) + 1):
        sub = np.flatnonzero(cid == c_u)
        equal = (seqs[sub] == seqs[sub[0]]).all(axis=1)
        subs.append(sub if equal.all() else sub[equal])  # hash collision: keep the equal ones
    return subs


_BLOCK_DTYPES = {
    "rec": np.int64, "seq": np.int64, "vs": np.int64, "vl": np.int64, "kind": np.int8,
    "cvalid": bool, "key": np.uint64, "code": np.uint64, "field": np.uint64,
}  # fmt: skip
_VIEW_COLUMNS = ("key", "code", "field")  # (n, 2) string views


class _ValueBlocks:
    """Columns of a chunk's value rows, collected block by block: a block is g records x m
    fields, each column given as an array that broadcasts to (g, m) (or (g, m, 2) for views),
    so a layout's keys are one row, not a tiled copy; `build` writes each column once."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in _BLOCK_DTYPES}

    def add(self, g: int, m: int, **cols: np.ndarray) -> None:
        self.shapes.append((g, m))
        for name, part in cols.items():
            self.parts[name].append(part)

    def build(self) -> dict[str, np.ndarray]:
        total = sum(g * m for g, m in self.shapes)
        out = {}
        for name, dtype in _BLOCK_DTYPES.items():
            tail = (2,) if name in _VIEW_COLUMNS else ()
            parts = self.parts[name]
            if len(parts) == 1 and parts[0].shape == (*self.shapes[0], *tail):  # no copy
                out[name] = np.ascontiguousarray(parts[0], dtype=dtype).reshape(-1, *tail)
                continue
            col = out[name] = np.empty((total, *tail), dtype=dtype)
            o = 0
            for (g, m), part in zip(self.shapes, parts, strict=True):
                col[o : o + g * m].reshape(g, m, *tail)[...] = part
                o += g * m
        return out


_QN, _ST, _CN, _FLAG, _DT = (HEADER_KINDS.index(k) for k in ("QN", "ST", "CN", "Flag", "DataTime"))


def _bytes_at(buf: np.ndarray, start: np.ndarray, n: int) -> np.ndarray:
    """(n, len(start)) bytes buf[start + i]: one row per offset, so checks reduce along the
    long axis (numpy reduces short rows slowly)."""
    return buf[np.arange(n)[:, None] + start]


def _digits(buf: np.ndarray, start: np.ndarray, length: np.ndarray, n: int) -> np.ndarray:
    """Whether each value is exactly n ASCII digits."""
    ok = length == n
    rows = np.flatnonzero(ok)
    ok[rows] = ((_bytes_at(buf, start[rows], n) - np.uint8(48)) <= 9).all(axis=0)
    return ok


def _header_ok(buf: np.ndarray, s: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """Header values (start s, length ln, -1 absent, one row per HEADER_KINDS) that
    parse_packet takes without an error or a note: CN 4 digits; ST absent or 2 ASCII letters
    or digits; QN absent or 17 digits; Flag absent or one digit 0-7 without the split bit
    (longer ones go the slow way); DataTime absent or 14/17 digits, seconds <= 59, year from
    1970 (whether the time exists is left to its parse)."""
    absent = ln < 0
    ok = _digits(buf, s[_CN], ln[_CN], 4)
    st = _bytes_at(buf, s[_ST], 2)
    alnum = ((st - np.uint8(48)) <= 9) | (((st | np.uint8(32)) - np.uint8(97)) <= 25)
    ok &= absent[_ST] | ((ln[_ST] == 2) & alnum.all(axis=0))
    ok &= absent[_QN] | _digits(buf, s[_QN], ln[_QN], 17)
    flag = buf[s[_FLAG]]
    ok &= absent[_FLAG] | ((ln[_FLAG] == 1) & np.isin(flag, np.frombuffer(b"0145", np.uint8)))
    dt = (ln[_DT] == 14) | (ln[_DT] == 17)
    rows = np.flatnonzero(dt)
    b = _bytes_at(buf, s[_DT][rows], 17) - np.uint8(48)  # 3 bytes past 14 digits: still inside
    digits = (b[:14] <= 9).all(axis=0) & ((b[14:] <= 9).all(axis=0) | (ln[_DT][rows] == 14))
    year = np.array([1000, 100, 10, 1]) @ b[:4].astype(np.int64)
    dt[rows] = digits & (year >= 1970) & (b[12] * 10 + b[13] <= 59)
    return ok & (absent[_DT] | dt)


def parse_chunk(records: list[bytes], tz, limit: datetime | None) -> ChunkResult:
    """The fast path over one chunk; `limit` (UTC) bounds DataTime, None disables the check."""
    n = len(records)
    lens = np.fromiter(map(len, records), dtype=np.int64, count=n)
    pad = (-lens) % 8  # every record then ends at 4 mod 8, its data segment at 0 mod 8
    parts: list[bytes] = [b""] * (2 * n)
    parts[0::2] = [_PADS[p] for p in pad.tolist()]
    parts[1::2] = records
    joined = b"".join([_PADS[4] + _PADS[7] + b" ", *parts, b" " * _TAIL])
    buf = np.frombuffer(joined, dtype=np.uint8)
    ends = _LEAD + np.cumsum(pad + lens)
    starts = ends - lens
    crlf = (lens >= 2) & (buf[ends - 2] == 13) & (buf[ends - 1] == 10)  # parse_packet drops it
    rec_end = ends - 2 * crlf
    seg_start, seg_end = starts + 6, rec_end - 4

    # ---- frame: '##', 4 digits, 4 hex digits, length, CRC (all rejections go the slow way)
    fast = (rec_end - starts) >= 10
    fast &= (buf[starts] == 35) & (buf[starts + 1] == 35)
    declared = np.zeros(n, dtype=np.int64)
    for j in range(2, 6):
        dgt = buf[starts + j].astype(np.int64) - 48
        fast &= (dgt >= 0) & (dgt <= 9)
        declared = declared * 10 + dgt
    crc_field = np.zeros(n, dtype=np.int64)
    lower = np.zeros(n, dtype=bool)
    for j in range(4, 0, -1):
        ch = buf[rec_end - j]
        v = _HEXVAL[ch]
        fast &= v >= 0
        lower |= ch >= 97
        crc_field = crc_field * 16 + v
    seglen = seg_end - seg_start
    fast &= seglen == declared
    ix = np.flatnonzero(fast)
    fast[ix[crc16_segments(buf, seg_start[ix], seg_end[ix]) != crc_field[ix]]] = False

    # ---- separators of every record
    cls = np.frombuffer(joined.translate(_CLASS_TABLE), dtype=np.uint8)
    sp = np.flatnonzero(cls != 0)
    ch = cls[sp]
    del cls
    a = np.searchsorted(sp, starts)
    count = np.searchsorted(sp, rec_end) - a

    hv_s = np.zeros((len(HEADER_KINDS), n), dtype=np.int64)
    hv_l = np.full((len(HEADER_KINDS), n), -1, dtype=np.int64)
    d = _Dict()
    blocks = _ValueBlocks()
    meta_cache: dict[tuple, _LayoutMeta] = {}

    cand = np.flatnonzero(fast & (count >= 3))
    fast[:] = False  # set again for the rows of accepted layouts
    kc = count[cand]
    order = np.argsort(kc, kind="stable")
    cand, kc = cand[order], kc[order]
    bounds = np.flatnonzero(np.diff(kc)) + 1
    for grp in np.split(cand, bounds):
        if len(grp) == 0:
            continue
        k = int(count[grp[0]])
        P, C = _rows_of(sp, a[grp], k), _rows_of(ch, a[grp], k)
        for sub in _class_groups(C):
            shape = _analyse_classes(C[sub][0].tobytes())
            if shape is None:
                continue
            _layout_rows(shape, grp[sub], P[sub], joined, seg_start, seg_end, fast,
                         hv_s, hv_l, d, blocks, meta_cache)  # fmt: skip

    rec_ix = np.flatnonzero(fast)
    data = [pa.py_buffer(joined), pa.py_buffer(bytes(d.data))]

    # ---- header columns and DataTime of the fast records, checked as parse_packet checks them
    hs, hl = np.take(hv_s, rec_ix, axis=1), np.take(hv_l, rec_ix, axis=1)
    have = hl >= 0
    views = _text_views(joined, hs.ravel(), np.maximum(hl, 0).ravel()).reshape(*hs.shape, 2)
    views[~have] = 0
    hdr = pl.DataFrame(
        {k: _string_column(views[j], data[:1], have[j]) for j, k in enumerate(HEADER_KINDS)}
    )
    dt = pl.col("DataTime")
    local = dt.str.slice(0, 14).str.to_datetime("%Y%m%d%H%M%S", strict=False, time_unit="us")
    local += pl.duration(milliseconds=dt.str.slice(14, 3).cast(pl.Int64, strict=False).fill_null(0))
    hdr = hdr.with_columns(
        flag_i=pl.col("Flag").cast(pl.Int64, strict=False),
        datatime=local.dt.replace_time_zone(tz.key, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC"),
    )  # fmt: skip
    when = dt.is_null() | pl.col("datatime").is_not_null()  # a time that exists there
    if limit is not None:
        when = when & (pl.col("datatime").is_null() | (pl.col("datatime") <= limit))
    good = _header_ok(buf, hs, hl) & hdr.select(when.fill_null(False)).to_series().to_numpy()
    fast[rec_ix[~good]] = False

    # ---- data-area values
    cat = blocks.build()
    text = _string_column(_text_views(joined, cat["vs"], cat["vl"]), data[:1])
    kind = cat["kind"]
    want = kind >= _NUMERIC
    num = text.cast(pl.Float64, strict=False).to_numpy(writable=True)  # nulls are NaN
    num[~want] = np.nan
    # polars also reads inf/nan/infinity words that NUMBER_RE refuses; those and every
    # unreadable numeric text are decided by parse_number itself
    recheck = np.flatnonzero(want & ~np.isfinite(num))
    if len(recheck):
        for j, t in zip(recheck, text.gather(recheck).to_list(), strict=True):
            val = parse_number(t)
            if val is None and kind[j] == _NUMERIC:  # parse_packet notes this: go slow
                fast[cat["rec"][j]] = False
            num[j] = val if val is not None else np.nan
    keep = fast[cat["rec"]]
    # NUMBER_RE admits no NaN, so NaN can only mean "no value"
    value = pl.Series("value", num, nan_to_null=True)
    values = pl.DataFrame(
        {
            "record": cat["rec"], "seq": cat["seq"],
            "key": _string_column(cat["key"], data), "code": _string_column(cat["code"], data, cat["cvalid"]),
            "field": _string_column(cat["field"], data), "text": text, "value": value,
        },
        schema=VALUE_SCHEMA,
    )  # fmt: skip
    if not keep.all():
        values = values.filter(pl.Series(keep))

    # ---- packet rows, with the notes parse_packet writes for packets of this shape, in its order
    notes = pl.DataFrame(
        {"lower": lower[rec_ix], "seglen": seglen[rec_ix], "dtl": hdr["DataTime"].str.len_bytes()}
    ).select(
        pl.concat_list(
            pl.when(pl.col("lower")).then(pl.lit("CRC in lower-case hex")),
            pl.when(pl.col("seglen") > STANDARD_MAX_SEGMENT).then(
                pl.format(f"data segment longer than {STANDARD_MAX_SEGMENT} ({{}} bytes)", "seglen")
            ),
            pl.when(pl.col("dtl") == 17).then(pl.lit("DataTime with milliseconds (17 digits)")),
        )
        .list.drop_nulls()
        .alias("notes")
    )["notes"]
    nulls = pl.Series([None] * len(rec_ix), dtype=pl.Int64)
    packets = pl.DataFrame(
        {
            "record": rec_ix, "qn": hdr["QN"], "st": hdr["ST"], "cn": hdr["CN"], "pw": hdr["PW"],
            "mn": hdr["MN"], "flag": hdr["flag_i"], "pnum": nulls, "pno": nulls,
            "datatime": hdr["datatime"], "notes": notes,
        },
        schema=PACKET_SCHEMA,
    ).filter(pl.Series(fast[rec_ix]))  # fmt: skip
    return ChunkResult(packets, values, np.flatnonzero(~fast))


def _split_layouts(words, klc) -> tuple[np.ndarray, np.ndarray]:
    """Layout id of each row (by a hash of its keys) and the first row of each layout."""
    nt, nw = words.shape[1:]
    h = _HASH[: nw + 1, :nt]
    hsh = (words * h[:nw].T).sum(axis=(1, 2)) + (klc.astype(np.uint64) * h[nw]).sum(axis=1)
    lid, uniq = pd.factorize(hsh)
    rep = np.empty(len(uniq), dtype=np.int64)
    rep[lid[::-1]] = np.arange(len(lid) - 1, -1, -1)  # first row of each layout
    return lid.astype(np.int64), rep


def _equal_rows(w: np.ndarray, other: np.ndarray) -> np.ndarray:
    return (w == other).reshape(len(w), -1).all(axis=1)


def _key_layouts(joined, ks, ke) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layout id of each row, the first row of each layout, and whether a row's keys are
    usable (lengths 1..MAX_KEY, bytes those of its layout's first row). Keys are joined[ks:ke]
    per column, compared as masked uint64 words."""
    g = len(ks)
    kl = ke - ks
    ln = kl[0]
    if (kl == ln).all() and ((ln >= 1) & (ln <= MAX_KEY)).all():
        # the lengths of row 0 everywhere (the usual case): one row of masks, only the words
        # row 0's keys need; all keys equal is one layout
        nw = -(-int(ln.max()) // 8)
        words = _words(joined, ks, nw)
        words &= _KEY_MASK[ln, :nw]
        if (words == words[0]).all():
            return np.zeros(g, dtype=np.int64), np.zeros(1, dtype=np.int64), np.ones(g, bool)
    ok = ((kl >= 1) & (kl <= MAX_KEY)).all(axis=1)
    klc = np.clip(kl, 0, MAX_KEY)
    words = _words(joined, ks, _KEY_WORDS)
    words &= _KEY_MASK[klc]
    lid, rep = _split_layouts(words, klc)
    r = rep[lid]
    ok &= _equal_rows(words, words[r]) & _equal_rows(klc, klc[r])
    return lid, rep, ok


def _columns(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """a[:, idx]: a strided view (no copy) when idx is an arithmetic progression, else
    np.take, which keeps C order (a[:, idx] comes out Fortran-ordered and slows what follows)."""
    if len(idx) > 1:
        step = int(idx[1] - idx[0])
        if step > 0 and (np.diff(idx) == step).all():
            return a[:, idx[0] : idx[-1] + 1 : step]
    return np.take(a, idx, axis=1)


def _layout_rows(
    shape, rows, P, joined, seg_start, seg_end, fast, hv_s, hv_l, d, blocks, meta_cache
):
    """Rows of one separator sequence: split by keys into layouts, check, collect values."""
    hdr, cp, body = shape
    k = P.shape[1]
    eqc = np.array([*hdr, cp, *body], dtype=np.int64)
    n_hdr = len(hdr)
    ok = (P[:, cp + 1] == P[:, cp] + 1) & (P[:, cp + 2] == P[:, cp] + 2)
    ok &= (P[:, k - 2] == seg_end[rows] - 2) & (P[:, k - 1] == seg_end[rows] - 1)
    ks = np.take(P, np.maximum(eqc - 1, 0), axis=1)  # key starts (after the separator)
    ks += 1
    ks[:, 0] = seg_start[rows]
    eqpos = np.take(P, eqc, axis=1)  # key ends
    lid, rep, keys_ok = _key_layouts(joined, ks, eqpos)
    ok &= keys_ok
    metas = []
    for u, row in enumerate(rep.tolist()):
        ln = np.clip(eqpos[row] - ks[row], 0, MAX_KEY)
        keys = tuple(
            joined[s : s + n].decode("ascii")
            for s, n in zip(ks[row].tolist(), ln.tolist(), strict=True)
        )
        ck = (n_hdr, keys)
        meta = meta_cache.get(ck)
        if meta is None:
            meta = meta_cache[ck] = _layout_meta(list(keys), n_hdr, d)
        metas.append(meta)
        if not meta.ok:
            ok &= lid != u
    if not ok.all():
        sel = np.flatnonzero(ok)
        if len(sel) == 0:
            return
        rows, lid, eqpos, P = rows[sel], lid[sel], eqpos[sel], P[sel]
    fast[rows] = True
    _header_values(rows, lid, metas, eqc, eqpos, P, hv_s, hv_l)
    if body:
        _body_values(rows, lid, metas, eqc[n_hdr + 1 :], P, blocks)


def _header_values(rows, lid, metas, eqc, eqpos, P, hv_s, hv_l) -> None:
    """Start and length of each header value (and DataTime) of the rows into hv_s / hv_l."""
    hcol = np.array([m.hcol if m.ok else [-1] * len(HEADER_KINDS) for m in metas])
    if len(metas) == 1:  # one layout: whole columns
        for j, c in enumerate(hcol[0].tolist()):
            if c >= 0:
                s = eqpos[:, c] + 1
                hv_s[j, rows] = s
                hv_l[j, rows] = P[:, eqc[c] + 1] - s
        return
    ar = np.arange(len(rows))
    hcol = hcol[lid]
    for j in range(len(HEADER_KINDS)):
        c = hcol[:, j]
        have = c >= 0
        if not have.any():
            continue
        cc = np.maximum(c, 0)
        s = eqpos[ar, cc] + 1
        hv_s[j, rows[have]] = s[have]
        hv_l[j, rows[have]] = (P[ar, eqc[cc] + 1] - s)[have]


def _body_values(rows, lid, metas, beq, P, blocks: _ValueBlocks) -> None:
    """The data-area fields of the rows (`beq`: '=' column of each field in P) as a block."""
    g, nb = len(rows), len(beq)

    def table(attr: str, width: int | None = None, dtype=np.int64) -> np.ndarray:
        empty = [0] * nb if width is None else [(0, 0)] * nb
        return np.array([getattr(m, attr) if m.ok else empty for m in metas], dtype=dtype)

    ktab = table("kind")
    ntab = {name: table(name, 2, np.uint64) for name in _VIEW_COLUMNS}
    ntab["cvalid"] = table("code_valid", dtype=bool)
    if (ktab == ktab[0]).all():  # the usual case: the DataTime column is the same for all
        cols = np.flatnonzero(ktab[0] != _SKIP)
        vs = _columns(P, beq[cols]) + 1
        vl = _columns(P, beq[cols] + 1) - vs
        # one layout: its keys, codes, fields as one row that broadcasts over the records
        per_row = {
            n: t[:1, cols] if len(metas) == 1 else _columns(t[lid], cols) for n, t in ntab.items()
        }
        blocks.add(g, len(cols), rec=rows[:, None], seq=cols[None, :], vs=vs, vl=vl,
                   kind=ktab[:1, cols], **per_row)  # fmt: skip
        return
    keep = np.flatnonzero(ktab[lid].ravel() != _SKIP)

    def pick(x: np.ndarray) -> np.ndarray:  # (g, nb[, 2]) -> kept fields as (n, 1[, 2])
        return np.broadcast_to(x, (g, nb, *x.shape[2:])).reshape(g * nb, 1, *x.shape[2:])[keep]

    vs = _columns(P, beq) + 1
    blocks.add(len(keep), 1, rec=pick(rows[:, None]), seq=pick(np.arange(nb)[None, :]),
               vs=pick(vs), vl=pick(_columns(P, beq + 1) - vs), kind=pick(ktab[lid]),
               **{n: pick(t[lid]) for n, t in ntab.items()})  # fmt: skip
