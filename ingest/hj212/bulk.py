"""Fast path: many packets at once into columnar tables, same results as `parse_packet`.

Packets that look ordinary (printable ASCII, canonical header and data area) are checked and
tokenised with numpy across the whole batch and their values parsed by polars; anything else
(and every rejection, to get its reason) goes through the per-packet parser. The equality of
both paths is tested on the samples and on a real day of traffic.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from ingest.hj212.codes import field_kinds
from ingest.hj212.crc import crc16_many
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import (
    DEFAULT_TZ,
    KEY_RE,
    MAX_FUTURE,
    NUMBER_RE,
    STANDARD_MAX_SEGMENT,
    is_numeric_field,
    parse_number,
    try_parse,
)

CHUNK = 32768
_HEADER_KINDS = ("QN", "ST", "CN", "PW", "MN", "Flag")
_KEY_WINDOW = 16

PACKET_SCHEMA = {
    "record": pl.Int64, "qn": pl.String, "st": pl.String, "cn": pl.String, "pw": pl.String,
    "mn": pl.String, "flag": pl.Int64, "pnum": pl.Int64, "pno": pl.Int64,
    "datatime": pl.Datetime("us", "UTC"), "notes": pl.List(pl.String),
}  # fmt: skip
VALUE_SCHEMA = {
    "record": pl.Int64, "seq": pl.Int64, "key": pl.String, "code": pl.String,
    "field": pl.String, "text": pl.String, "value": pl.Float64,
}  # fmt: skip


@dataclass(frozen=True)
class Rejected:
    record: int  # position in the input
    reason: str
    kind: str
    crc_ok: bool | None
    raw: bytes


@dataclass
class BulkResult:
    """packets: one row per accepted packet (datatime in UTC); values: one row per data-area
    field (the DataTime used for `datatime` excluded), grouped by record; rejected: the rest."""

    packets: pl.DataFrame
    values: pl.DataFrame
    rejected: list[Rejected]

    @property
    def n_ok(self) -> int:
        return self.packets.height


# --- shared table form ------------------------------------------------------------------------


def packets_to_frames(items: Sequence[tuple[int, Packet]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The table form of per-packet results (used for fallback records and for tests)."""
    prow: dict[str, list] = {k: [] for k in PACKET_SCHEMA}
    vrow: dict[str, list] = {k: [] for k in VALUE_SCHEMA}
    for record, p in items:
        for k, v in (
            ("record", record), ("qn", p.qn), ("st", p.st), ("cn", p.cn), ("pw", p.pw),
            ("mn", p.mn), ("flag", p.flag), ("pnum", p.pnum), ("pno", p.pno),
            ("datatime", p.datatime), ("notes", list(p.notes)),
        ):  # fmt: skip
            prow[k].append(v)
        skipped_dt = False
        for seq, f in enumerate(p.fields()):
            if f.key == "DataTime" and not skipped_dt:
                skipped_dt = True
                continue
            for k, v in (
                ("record", record), ("seq", seq), ("key", f.key), ("code", f.code),
                ("field", f.field), ("text", f.text), ("value", f.value),
            ):  # fmt: skip
                vrow[k].append(v)
    return pl.DataFrame(prow, schema=PACKET_SCHEMA), pl.DataFrame(vrow, schema=VALUE_SCHEMA)


# --- entry points -----------------------------------------------------------------------------


def split_records(buffer: bytes) -> list[bytes]:
    """CRLF-separated records (a bare LF stays inside its record, as on the wire)."""
    records = buffer.split(b"\r\n")
    if records and records[-1] == b"":
        records.pop()
    return records


def parse_file(path: str | Path, **kw) -> BulkResult:
    """parse_records over a file of CRLF-separated packets (gzip read transparently)."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return parse_records(split_records(data), **kw)


def parse_buffer(buffer: bytes, **kw) -> BulkResult:
    return parse_records(split_records(buffer), **kw)


def parse_records(
    records: Sequence[bytes],
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    max_future: timedelta | None = MAX_FUTURE,
    chunk: int = CHUNK,
) -> BulkResult:
    """Parse a batch of packets (each without its CRLF) into tables plus rejections."""
    if not isinstance(tz, ZoneInfo):
        raise ValueError("bulk parsing needs a zoneinfo.ZoneInfo time zone")
    limit = None
    if max_future is not None:
        limit = ((now or datetime.now(tz)) + max_future).astimezone(UTC)
    pframes, vframes, rejected = [], [], []
    for c0 in range(0, len(records), chunk):
        p, v, r = _parse_chunk(records[c0 : c0 + chunk], c0, tz, now, max_future, limit)
        pframes += p
        vframes += v
        rejected += r
    packets = pl.concat(pframes, how="vertical") if pframes else pl.DataFrame(schema=PACKET_SCHEMA)
    values = pl.concat(vframes, how="vertical") if vframes else pl.DataFrame(schema=VALUE_SCHEMA)
    return BulkResult(packets.sort("record"), values, rejected)


# --- the vectorised chunk -----------------------------------------------------------------------

_HEXVAL = np.full(256, -1, dtype=np.int32)
for _i, _c in enumerate(b"0123456789"):
    _HEXVAL[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEXVAL[_c] = 10 + _i
    _HEXVAL[_c - 32] = 10 + _i
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[list(b"=;,&")] = True
_EQ, _SEMI, _COMMA, _AMP = (ord(c) for c in "=;,&")


def _views(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, data: pa.Buffer) -> pl.Series:
    """A polars String series of buf[starts[i]:starts[i]+lengths[i]] without copying long ones
    (Arrow string_view: inline up to 12 bytes, else prefix + offset into `data`)."""
    n = len(starts)
    views = np.zeros((n, 16), dtype=np.uint8)
    views[:, 0:4] = lengths.astype("<i4").view(np.uint8).reshape(n, 4)
    padded = np.concatenate([buf, np.zeros(12, np.uint8)])
    win = np.lib.stride_tricks.sliding_window_view(padded, 12)[starts]
    win[np.arange(12)[None, :] >= lengths[:, None]] = 0  # inline strings are zero-padded
    views[:, 4:16] = win
    long = np.flatnonzero(lengths > 12)
    if len(long):
        views[long, 8:12] = 0  # buffer index 0, then the offset into it
        views[long, 12:16] = starts[long].astype("<i4").view(np.uint8).reshape(-1, 4)
    arr = pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), data])
    return pl.from_arrow(arr)  # type: ignore[return-value]


def _parse_chunk(records, base, tz, now, max_future, limit):
    n = len(records)
    lens = np.fromiter(map(len, records), dtype=np.int64, count=n)
    joined = b"".join(records)
    buf = np.frombuffer(joined, dtype=np.uint8)
    ends = np.cumsum(lens)
    starts = ends - lens
    fast = lens >= 10
    head = [buf[np.minimum(starts + k, len(buf) - 1)] if len(buf) else np.zeros(n, np.uint8)
            for k in range(6)]  # fmt: skip
    fast &= (head[0] == 35) & (head[1] == 35)
    declared = np.zeros(n, dtype=np.int64)
    for k in range(2, 6):
        d = head[k].astype(np.int64) - 48
        fast &= (d >= 0) & (d <= 9)
        declared = declared * 10 + d
    crc_field = np.zeros(n, dtype=np.int64)
    lower = np.zeros(n, dtype=bool)
    for k in range(4):
        c = buf[np.clip(ends - 4 + k, 0, max(len(buf) - 1, 0))] if len(buf) else np.zeros(n, np.uint8)
        v = _HEXVAL[c]
        fast &= v >= 0
        lower |= c >= 97
        crc_field = crc_field * 16 + v
    seg_start, seg_end = starts + 6, ends - 4
    seglen = seg_end - seg_start
    fast &= seglen == declared
    ix = np.flatnonzero(fast)
    crc = crc16_many(buf, seg_start[ix], seg_end[ix])
    fast[ix[crc != crc_field[ix]]] = False
    # printable ASCII only (NUL ST, UTF-8 text, stray CR/LF go the slow way)
    bad = np.flatnonzero((buf < 32) | (buf > 126))
    if len(bad):
        fast[np.unique(np.searchsorted(ends, bad, side="right"))] = False

    # ---- tokens: every '=' with the special characters around it
    sp = np.flatnonzero(_SPECIAL[buf])
    rid = np.searchsorted(ends, sp, side="right")
    keep = fast[rid] & (sp >= seg_start[rid]) & (sp < seg_end[rid])
    sp, rid = sp[keep], rid[keep]
    ch = buf[sp]
    m = len(sp)
    first = np.ones(m, dtype=bool)
    first[1:] = rid[1:] != rid[:-1]
    prev = np.empty(m, dtype=np.uint8)
    prev[0:1] = 0
    prev[1:] = ch[:-1]
    prev[first] = 0
    is_amp = ch == _AMP
    amp_cum = np.cumsum(is_amp)
    rec_first_ix = np.flatnonzero(first)
    amp_before_rec = np.zeros(m, dtype=np.int64)
    if m:
        counts = np.diff(np.append(rec_first_ix, m))
        amp_before_rec = np.repeat(amp_cum[rec_first_ix] - is_amp[rec_first_ix], counts)
    amp_ord = amp_cum - amp_before_rec - is_amp  # '&' seen before this special in its record
    is_eq = ch == _EQ
    prevpos = np.empty(m, dtype=np.int64)
    prevpos[1:] = sp[:-1]
    if m:
        prevpos[0] = -1
    prevpos[first] = seg_start[rid[first]] - 1
    nextpos = np.empty(m, dtype=np.int64)
    nextpos[:-1] = sp[1:]
    if m:
        nextpos[-1] = 0
    last = np.ones(m, dtype=bool)
    last[:-1] = rid[:-1] != rid[1:]
    nextpos[last] = seg_end[rid[last]]
    in_cp = amp_ord >= 2
    ok = np.ones(m, dtype=bool)
    # grammar: key '=' value, ';' between header fields, ';' or ',' in CP, CP=&& ... &&
    ok &= ~is_eq | (prev == 0) | (prev == _SEMI) | ((prev == _COMMA) & in_cp) | ((prev == _AMP) & (amp_ord == 2))
    ok &= ~((ch == _SEMI) | (ch == _COMMA)) | (prev == _EQ)
    ok &= ~((ch == _COMMA) & ~in_cp)
    ok &= ~is_amp | (
        ((amp_ord == 0) & (prev == _EQ) & (prevpos == sp - 1))
        | ((amp_ord == 1) & (prevpos == sp - 1))
        | ((amp_ord == 2) & (sp == seg_end[rid] - 2) & ((prev == _EQ) | ((prev == _AMP) & (prevpos == sp - 1))))
        | ((amp_ord == 3) & (sp == seg_end[rid] - 1))
    )  # fmt: skip
    n_amp = np.bincount(rid[is_amp], minlength=n)
    badrec = np.bincount(rid[~ok], minlength=n) > 0
    fast &= ~badrec & (n_amp == 4)

    # ---- key/value tokens of the fast records
    tsel = is_eq & fast[rid]
    t_pos, t_rid = sp[tsel], rid[tsel]
    t_ks, t_ve, t_cp = prevpos[tsel] + 1, nextpos[tsel], in_cp[tsel]
    t_klen = t_pos - t_ks
    toolong = (t_klen > _KEY_WINDOW) | (t_klen < 1)
    if toolong.any():
        fast[np.unique(t_rid[toolong])] = False
    kpad = np.concatenate([buf, np.zeros(_KEY_WINDOW, np.uint8)])
    kwin = np.lib.stride_tricks.sliding_window_view(kpad, _KEY_WINDOW)[t_ks]
    kwin = np.where(np.arange(_KEY_WINDOW)[None, :] < t_klen[:, None], kwin, 0)
    k2 = np.ascontiguousarray(kwin).view(np.uint64)
    h = k2[:, 0] * np.uint64(0x9E3779B97F4A7C15) ^ k2[:, 1]
    key_id, uniq = pd.factorize(h)
    rep = np.empty(len(uniq), dtype=np.int64)
    rep[key_id[::-1]] = np.arange(len(key_id) - 1, -1, -1)
    if not (k2[rep[key_id]] == k2).all():  # hash collision: identify keys exactly instead
        _, key_id = np.unique(k2, axis=0, return_inverse=True)
        key_id = key_id.ravel()
        rep = np.empty(key_id.max() + 1 if len(key_id) else 0, dtype=np.int64)
        rep[key_id[::-1]] = np.arange(len(key_id) - 1, -1, -1)
    keys = [bytes(kwin[r, : t_klen[r]]).decode("ascii") for r in rep]
    kinds = field_kinds()
    # per distinct key: header kind index (-1 none), is DataTime, allowed in CP, numeric kind
    hk = np.array([_HEADER_KINDS.index(k) if k in _HEADER_KINDS else -1 for k in keys] + [-1])
    is_cpkey = np.array([k == "CP" for k in keys] + [False])
    is_dt = np.array([k == "DataTime" for k in keys] + [False])
    cp_ok = np.array([bool(KEY_RE.fullmatch(k)) and k != "Flag" for k in keys] + [False])
    suffixes = [k.partition("-")[2] if "-" in k else None for k in keys]
    numeric = np.array([s is not None and kinds.get(s) == "numeric" for s in suffixes] + [False])
    maybe_num = np.array([s is not None and s not in kinds for s in suffixes] + [False])
    codes = [k.partition("-")[0] if "-" in k else None for k in keys]
    fields = [s if s is not None else k for k, s in zip(keys, suffixes, strict=True)]

    t_hdr = ~t_cp & ~is_cpkey[key_id]
    bad_tok = (t_hdr & (hk[key_id] < 0)) | (t_cp & ~cp_ok[key_id]) | (~t_cp & is_cpkey[key_id] & (t_ve != t_pos + 1))
    cp_count = np.bincount(t_rid[is_cpkey[key_id] & ~t_cp], minlength=n)
    dt_tok = t_cp & is_dt[key_id]
    dt_count = np.bincount(t_rid[dt_tok], minlength=n)
    hkind = hk[key_id]
    dup = np.zeros(n, dtype=bool)
    hdr_ix = np.full((len(_HEADER_KINDS), n), -1, dtype=np.int64)
    for j in range(len(_HEADER_KINDS)):
        sel = np.flatnonzero(t_hdr & (hkind == j))
        dup |= np.bincount(t_rid[sel], minlength=n) > 1
        hdr_ix[j, t_rid[sel]] = sel
    fast &= (np.bincount(t_rid[bad_tok], minlength=n) == 0) & (cp_count == 1) & (dt_count <= 1) & ~dup
    fast &= hdr_ix[_HEADER_KINDS.index("CN")] >= 0

    data = pa.py_buffer(joined)
    texts = _views(buf, t_pos + 1, t_ve - t_pos - 1, data)
    rec_ix = np.flatnonzero(fast)

    def header(kind: str) -> pl.Series:
        ix = hdr_ix[_HEADER_KINDS.index(kind)][rec_ix]
        idx = pl.Series(ix).set(pl.Series(ix < 0), None)
        return texts.gather(idx)

    hdr = pl.DataFrame({k: header(k) for k in _HEADER_KINDS})
    dt_ix = np.full(n, -1, dtype=np.int64)
    dt_ix[t_rid[dt_tok]] = np.flatnonzero(dt_tok)
    dsel = dt_ix[rec_ix]
    hdr = hdr.with_columns(dt=texts.gather(pl.Series(dsel).set(pl.Series(dsel < 0), None)))
    tzname = tz.key
    hdr = hdr.with_columns(
        flag_i=pl.col("Flag").cast(pl.Int64, strict=False),
        dt_local=pl.col("dt").str.slice(0, 14).str.to_datetime("%Y%m%d%H%M%S", strict=False, time_unit="us")
        + pl.duration(milliseconds=pl.col("dt").str.slice(14, 3).cast(pl.Int64, strict=False).fill_null(0)),
    )  # fmt: skip
    hdr = hdr.with_columns(
        datatime=pl.col("dt_local").dt.replace_time_zone(tzname, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )  # fmt: skip
    good = (
        pl.col("CN").str.contains(r"^[0-9]{4}$")
        & (pl.col("ST").is_null() | pl.col("ST").str.contains(r"^[0-9A-Za-z]{2}$"))
        & (pl.col("QN").is_null() | pl.col("QN").str.contains(r"^[0-9]{17}$"))
        & (pl.col("Flag").is_null() | (pl.col("Flag").str.contains(r"^[0-9]+$") & (pl.col("flag_i") <= 7) & ((pl.col("flag_i") & 2) == 0)))
        & (pl.col("dt").is_null() | (pl.col("dt").str.contains(r"^([0-9]{14}|[0-9]{17})$") & pl.col("datatime").is_not_null()))
    )  # fmt: skip
    if limit is not None:
        good = good & (pl.col("datatime").is_null() | (pl.col("datatime") <= limit))
    goodmask = hdr.select(good.fill_null(False)).to_series().to_numpy()
    fast[rec_ix[~goodmask]] = False

    # ---- values of CP fields (DataTime excluded)
    vsel = t_cp & ~dt_tok & fast[t_rid]
    v_ix = np.flatnonzero(vsel)
    v_key = key_id[v_ix]
    vt = texts.gather(v_ix)
    want = numeric[v_key] | maybe_num[v_key]
    num = vt.cast(pl.Float64, strict=False).to_numpy(allow_copy=True).astype(np.float64, copy=True)
    num[~want] = np.nan
    has = want & ~np.isnan(num)
    recheck = np.flatnonzero(want & ~np.isfinite(num))
    vt_list = None
    if len(recheck):
        vt_list = vt.gather(recheck).to_list()
        for j, text in zip(recheck, vt_list, strict=True):
            val = parse_number(text)
            if val is None and numeric[v_key[j]]:  # per-packet parser notes this: go slow
                fast[t_rid[v_ix[j]]] = False
            has[j] = val is not None
            num[j] = val if val is not None else math.nan
    # records demoted above lose their rows
    vkeep = fast[t_rid[v_ix]]
    # seq: ordinal of the field within the data area
    cp_tok = np.flatnonzero(t_cp)
    cp_first = np.full(n, 0, dtype=np.int64)
    if len(cp_tok):
        firsts = cp_tok[np.r_[True, t_rid[cp_tok][1:] != t_rid[cp_tok][:-1]]]
        cp_first[t_rid[firsts]] = firsts
    seq = v_ix - cp_first[t_rid[v_ix]]
    uk = pl.Series("key", keys, dtype=pl.String)
    values = pl.DataFrame(
        {
            "record": t_rid[v_ix] + base,
            "seq": seq,
            "key": uk.gather(v_key),
            "code": pl.Series(codes, dtype=pl.String).gather(v_key),
            "field": pl.Series(fields, dtype=pl.String).gather(v_key),
            "text": vt,
            "value": pl.Series(np.where(has, num, 0.0)).set(pl.Series(~has), None),
        },
        schema=VALUE_SCHEMA,
    ).filter(pl.Series(vkeep))

    # ---- packets of the fast records
    goodfast = fast[rec_ix]
    # notes the per-packet parser writes for packets of this shape, in its order
    note_cols = pl.DataFrame(
        {"lower": lower[rec_ix], "seglen": seglen[rec_ix], "dtl": hdr["dt"].str.len_bytes()}
    ).select(
        pl.concat_list(
            pl.when(pl.col("lower")).then(pl.lit("CRC in lower-case hex")),
            pl.when(pl.col("seglen") > STANDARD_MAX_SEGMENT).then(
                pl.format(f"data segment longer than {STANDARD_MAX_SEGMENT} ({{}} bytes)", "seglen")
            ),
            pl.when(pl.col("dtl") == 17).then(pl.lit("DataTime with milliseconds (17 digits)")),
        ).list.drop_nulls().alias("notes")
    )["notes"]
    packets = pl.DataFrame(
        {
            "record": rec_ix + base, "qn": hdr["QN"], "st": hdr["ST"], "cn": hdr["CN"],
            "pw": hdr["PW"], "mn": hdr["MN"], "flag": hdr["flag_i"],
            "pnum": pl.Series([None] * len(rec_ix), dtype=pl.Int64),
            "pno": pl.Series([None] * len(rec_ix), dtype=pl.Int64),
            "datatime": hdr["datatime"], "notes": note_cols,
        },
        schema=PACKET_SCHEMA,
    ).filter(pl.Series(goodfast))  # fmt: skip

    # ---- everything else: the per-packet parser decides (and explains rejections)
    slow_ok, rejected = [], []
    for i in np.flatnonzero(~fast):
        res = try_parse(records[i], tz, now, max_future)
        if res.ok:
            slow_ok.append((int(i) + base, res.packet))
        else:
            rejected.append(Rejected(int(i) + base, res.error or "", res.kind or "", res.crc_ok, records[i]))
    pframes, vframes = [packets], [values]
    if slow_ok:
        p, v = packets_to_frames(slow_ok)
        pframes.append(p.with_columns(pl.col("datatime").dt.convert_time_zone("UTC")))
        vframes.append(v)
    return pframes, vframes, rejected


__all__ = [
    "NUMBER_RE",
    "BulkResult",
    "Rejected",
    "is_numeric_field",
    "packets_to_frames",
    "parse_buffer",
    "parse_file",
    "parse_records",
    "split_records",
]  # fmt: skip
