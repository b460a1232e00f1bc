"""Vectorised parsing of a chunk of HJ 212 packets (the fast path of `bulk`).

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

from ingest.hj212.codes import field_kinds
from ingest.hj212.fast_crc import crc16_segments
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
_HEXVAL = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEXVAL[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEXVAL[_c] = 10 + _i
_LOW = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)  # k low bytes kept
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


def _text_views(u64: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 Arrow string views of buf[start:start+length] (data buffer 0): up to 12
    bytes inline and zero-padded, longer ones as 4-byte prefix + offset."""
    out = np.empty((len(start), 2), dtype=np.uint64)
    if len(start) == 0:
        return out
    a = u64[start] & _LOW[np.minimum(length, 8)]
    v0 = out[:, 0]
    np.left_shift(a, np.uint64(32), out=v0)
    v0 |= length.astype(np.uint64)
    v1 = a >> np.uint64(32)
    if length.max() > 8:
        v1 |= (u64[start + 8] & _LOW[np.clip(length - 8, 0, 4)]) << np.uint64(32)
        long = np.flatnonzero(length > 12)
        v1[long] = start[long].astype(np.uint64) << np.uint64(32)
    out[:, 1] = v1
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
    u64 = np.ndarray(shape=(len(joined) - 8,), dtype="<u8", buffer=joined, offset=0, strides=(1,))
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
    special = (buf - np.uint8(32)) > 94  # control bytes and non-ASCII
    for c in b"=;,&":
        special |= buf == c
    sp = np.flatnonzero(special)
    del special
    a = np.searchsorted(sp, starts)
    count = np.searchsorted(sp, rec_end) - a
    ch = _CLASS[buf[sp]]

    hv_s = np.zeros((len(HEADER_KINDS), n), dtype=np.int64)
    hv_l = np.full((len(HEADER_KINDS), n), -1, dtype=np.int64)
    d = _Dict()
    acc: dict[str, list[np.ndarray]] = {
        k: [] for k in ("rec", "seq", "vs", "vl", "kind", "key", "code", "cvalid", "field")
    }
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
        P = sp[a[grp][:, None] + np.arange(k)]
        C = ch[a[grp][:, None] + np.arange(k)]
        wk = _HASH[0, :k]
        hc = (C * wk).sum(axis=1)
        cid, _ = pd.factorize(hc)
        for c_u in range(int(cid.max()) + 1):
            sub = np.flatnonzero(cid == c_u)
            cseq = C[sub[0]].tobytes()
            if not (C[sub] == C[sub[0]]).all(axis=1).all():  # hash collision: keep the equal ones
                sub = sub[(C[sub] == C[sub[0]]).all(axis=1)]
            shape = _analyse_classes(cseq)
            if shape is None:
                continue
            _layout_rows(shape, grp[sub], P[sub], buf, u64, joined, seg_start, seg_end, fast,
                         hv_s, hv_l, d, acc, meta_cache)  # fmt: skip

    rec_ix = np.flatnonzero(fast)
    data = [pa.py_buffer(joined), pa.py_buffer(bytes(d.data))]

    # ---- header columns and DataTime of the fast records, checked as parse_packet checks them
    def header(j: int) -> pl.Series:
        ln = hv_l[j, rec_ix]
        have = ln >= 0
        views = _text_views(u64, hv_s[j, rec_ix], np.maximum(ln, 0))
        views[~have] = 0
        return _string_column(views, data[:1], have)

    hdr = pl.DataFrame({k: header(j) for j, k in enumerate(HEADER_KINDS)})
    hdr = hdr.with_columns(
        flag_i=pl.col("Flag").cast(pl.Int64, strict=False),
        dt_local=pl.col("DataTime").str.slice(0, 14).str.to_datetime("%Y%m%d%H%M%S", strict=False, time_unit="us")
        + pl.duration(milliseconds=pl.col("DataTime").str.slice(14, 3).cast(pl.Int64, strict=False).fill_null(0)),
    )  # fmt: skip
    hdr = hdr.with_columns(
        datatime=pl.col("dt_local").dt.replace_time_zone(tz.key, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )  # fmt: skip
    dt = pl.col("DataTime")
    good = (
        pl.col("CN").str.contains(r"^[0-9]{4}$")
        & (pl.col("ST").is_null() | pl.col("ST").str.contains(r"^[0-9A-Za-z]{2}$"))
        & (pl.col("QN").is_null() | pl.col("QN").str.contains(r"^[0-9]{17}$"))
        & (pl.col("Flag").is_null() | (pl.col("Flag").str.contains(r"^[0-9]+$") & (pl.col("flag_i") <= 7) & ((pl.col("flag_i") & 2) == 0)))
        & (dt.is_null() | (dt.str.contains(r"^([0-9]{14}|[0-9]{17})$") & (dt.str.slice(12, 2).cast(pl.Int64, strict=False) <= 59)
            & dt.str.slice(0, 4).cast(pl.Int64, strict=False).is_between(1970, 9999) & pl.col("datatime").is_not_null()))
    )  # fmt: skip
    if limit is not None:
        good = good & (pl.col("datatime").is_null() | (pl.col("datatime") <= limit))
    goodmask = hdr.select(good.fill_null(False)).to_series().to_numpy()
    fast[rec_ix[~goodmask]] = False

    # ---- data-area values
    if acc["rec"]:
        cat = {k: np.concatenate(v) for k, v in acc.items()}
    else:
        cat = {k: np.zeros(0, dtype=np.int64) for k in ("rec", "seq", "vs", "vl", "kind", "cvalid")}
        cat.update({k: np.zeros((0, 2), dtype=np.uint64) for k in ("key", "code", "field")})
        cat["cvalid"] = cat["cvalid"].astype(bool)
    text = _string_column(_text_views(u64, cat["vs"], cat["vl"]), data[:1])
    kind = cat["kind"]
    want = kind >= _NUMERIC
    num = np.array(text.cast(pl.Float64, strict=False).to_numpy(), dtype=np.float64, copy=True)
    num[~want] = np.nan
    has = want & ~np.isnan(num)
    # polars also reads inf/nan/infinity words that NUMBER_RE refuses; those and every
    # unreadable numeric text are decided by parse_number itself
    recheck = np.flatnonzero(want & ~np.isfinite(num))
    if len(recheck):
        for j, t in zip(recheck, text.gather(recheck).to_list(), strict=True):
            val = parse_number(t)
            if val is None and kind[j] == _NUMERIC:  # parse_packet notes this: go slow
                fast[cat["rec"][j]] = False
            has[j] = val is not None
            num[j] = val if val is not None else np.nan
    keep = fast[cat["rec"]]
    num[~has] = np.nan  # NUMBER_RE admits no NaN, so NaN can only mean "no value"
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


def _split_layouts(w0, w1, w2, klc) -> tuple[np.ndarray, np.ndarray]:
    """Layout id of each row (by a hash of its keys) and the first row of each layout."""
    nt = w0.shape[1]
    h = _HASH[:, :nt]
    hsh = (w0 * h[0] + w1 * h[1] + w2 * h[2] + klc.astype(np.uint64) * h[3]).sum(axis=1)
    lid, uniq = pd.factorize(hsh)
    rep = np.empty(len(uniq), dtype=np.int64)
    rep[lid[::-1]] = np.arange(len(lid) - 1, -1, -1)  # first row of each layout
    return lid.astype(np.int64), rep


def _layout_rows(
    shape, rows, P, buf, u64, joined, seg_start, seg_end, fast, hv_s, hv_l, d, acc, meta_cache
):
    """Rows of one separator sequence: split by keys into layouts, check, collect values."""
    hdr, cp, body = shape
    g, k = P.shape
    eqc = np.array([*hdr, cp, *body], dtype=np.int64)
    nt, n_hdr = len(eqc), len(hdr)
    ok = (P[:, cp + 1] == P[:, cp] + 1) & (P[:, cp + 2] == P[:, cp] + 2)
    ok &= (P[:, k - 2] == seg_end[rows] - 2) & (P[:, k - 1] == seg_end[rows] - 1)
    ks = np.empty((g, nt), dtype=np.int64)
    ks[:, 0] = seg_start[rows]
    ks[:, 1:] = P[:, eqc[1:] - 1] + 1
    eqpos = P[:, eqc]
    kl = eqpos - ks
    ok &= ((kl >= 1) & (kl <= MAX_KEY)).all(axis=1)
    klc = np.clip(kl, 0, MAX_KEY)
    w0 = u64[ks] & _LOW[np.minimum(klc, 8)]
    w1 = u64[ks + 8] & _LOW[np.clip(klc - 8, 0, 8)]
    longer = klc > 16
    w2 = np.zeros_like(w0)
    if longer.any():
        w2[longer] = u64[ks[longer] + 16] & _LOW[klc[longer] - 16]
    if ((w0 == w0[0]) & (w1 == w1[0]) & (w2 == w2[0]) & (klc == klc[0])).all():
        lid, rep = np.zeros(g, dtype=np.int64), np.zeros(1, dtype=np.int64)  # one layout
    else:
        lid, rep = _split_layouts(w0, w1, w2, klc)
        r = rep[lid]
        ok &= ((w0 == w0[r]) & (w1 == w1[r]) & (w2 == w2[r]) & (klc == klc[r])).all(axis=1)
    metas = []
    for u, row in enumerate(rep):
        keys = tuple(
            joined[s : s + ln].decode("ascii")
            for s, ln in zip(ks[row].tolist(), klc[row].tolist(), strict=True)
        )
        ck = (n_hdr, keys)
        meta = meta_cache.get(ck)
        if meta is None:
            meta = meta_cache[ck] = _layout_meta(list(keys), n_hdr, d)
        metas.append(meta)
        if not meta.ok:
            ok &= lid != u
    sel = np.flatnonzero(ok)
    if len(sel) == 0:
        return
    rows, lid, eqpos, P = rows[sel], lid[sel], eqpos[sel], P[sel]
    g = len(sel)
    fast[rows] = True
    vs = eqpos + 1
    ve = P[:, eqc + 1]
    ar = np.arange(g)
    hcol = np.array([m.hcol if m.ok else [-1] * len(HEADER_KINDS) for m in metas], dtype=np.int64)
    for j in range(len(HEADER_KINDS)):
        c = hcol[lid, j]
        have = c >= 0
        cc = np.maximum(c, 0)
        hv_s[j, rows[have]] = vs[ar, cc][have]
        hv_l[j, rows[have]] = (ve[ar, cc] - vs[ar, cc])[have]
    nb = len(body)
    if nb == 0:
        return
    ob = n_hdr + 1

    def table(attr: str, width: int | None = None, dtype=np.int64) -> np.ndarray:
        empty = [0] * nb if width is None else [(0, 0)] * nb
        return np.array([getattr(m, attr) if m.ok else empty for m in metas], dtype=dtype)

    ktab = table("kind")
    ntab = {name: table(name, 2, np.uint64) for name in ("key", "code", "field")}
    vtab = table("code_valid", dtype=bool)
    if (ktab == ktab[0]).all():  # the usual case: the DataTime column is the same for all
        cols = np.flatnonzero(ktab[0] != _SKIP)
        m = len(cols)
        acc["rec"].append(np.repeat(rows, m))
        acc["seq"].append(np.tile(cols, g))
        acc["vs"].append(vs[:, ob + cols].ravel())
        acc["vl"].append((ve[:, ob + cols] - vs[:, ob + cols]).ravel())
        acc["kind"].append(np.tile(ktab[0, cols], g))
        single = len(metas) == 1
        for name, tab in ntab.items():
            acc[name].append(
                np.tile(tab[0, cols], (g, 1)) if single else tab[lid][:, cols].reshape(-1, 2)
            )
        acc["cvalid"].append(np.tile(vtab[0, cols], g) if single else vtab[lid][:, cols].ravel())
        return
    keep = np.flatnonzero(ktab[lid].ravel() != _SKIP)
    acc["rec"].append(np.repeat(rows, nb)[keep])
    acc["seq"].append(np.tile(np.arange(nb), g)[keep])
    acc["vs"].append(vs[:, ob:].ravel()[keep])
    acc["vl"].append((ve[:, ob:] - vs[:, ob:]).ravel()[keep])
    acc["kind"].append(ktab[lid].ravel()[keep])
    for name, tab in ntab.items():
        acc[name].append(tab[lid].reshape(-1, 2)[keep])
    acc["cvalid"].append(vtab[lid].ravel()[keep])
