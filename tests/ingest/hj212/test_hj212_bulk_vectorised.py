"""The vectorised bulk path (ingest/hj212/bulk: parse, crc, readings) gives exactly what the
per-packet parser gives: packets, values, readings, and rejections with the same reasons."""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hj212_records import split_records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.registry.logger_facts import LoggerFacts
from core.schema import READINGS_SCHEMA
from ingest.hj212.bulk import packets_to_frames, parse_batch, parse_records
from ingest.hj212.bulk.parse import parse_chunk
from ingest.hj212.protocol import DEFAULT_TZ, frame, try_parse
from ingest.hj212.readings import packet_to_readings

sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
from hj212_parse import hourly_packets

CAPTURE = Path(__file__).resolve().parents[3].parent / "shared" / "data/hj212_capture_2016-08-24"
NOW = datetime(2026, 1, 1, tzinfo=DEFAULT_TZ)
RECEIVED = datetime(2026, 1, 1, 1, tzinfo=UTC)


def loop(records, site_of=None, facts_of=None, **kw):
    """The per-packet reference: frames, readings and rejections."""
    ok, rejected, rows = [], [], []
    for i, raw in enumerate(records):
        r = try_parse(raw, **kw)
        if r.ok:
            ok.append((i, r.packet))
            rows += packet_to_readings(r.packet, site_of, RECEIVED, facts_of=facts_of).rows
        else:
            rejected.append((i, r.error, r.kind, r.crc_ok))
    p, v = packets_to_frames(ok)
    p = p.with_columns(pl.col("datatime").dt.convert_time_zone("UTC"))
    return p, v, rejected, pa.Table.from_pylist(rows, schema=READINGS_SCHEMA)


def assert_same(records, site_of=None, chunk=None, facts_of=None, **kw):
    extra = {} if chunk is None else {"chunk": chunk}
    bulk = parse_records(records, **kw, **extra)
    p, v, rejected, readings = loop(records, site_of, facts_of, **kw)
    assert bulk.packets.equals(p)
    assert bulk.values.sort("record", "seq").equals(v.sort("record", "seq"))
    assert [(r.record, r.reason, r.kind, r.crc_ok) for r in bulk.rejected] == rejected
    assert all(r.raw == records[r.record] for r in bulk.rejected)
    batch = parse_batch(records, site_of=site_of, received_at=RECEIVED, facts_of=facts_of, **kw)
    table, rej = batch  # unpacks as (readings, rejected)
    # same schema and same values; NaN (a non-finite value the contract will refuse) equals NaN
    assert table.schema.equals(readings.schema)
    assert pl.from_arrow(table).equals(pl.from_arrow(readings))
    assert [r.reason for r in rej] == [r[1] for r in rejected]
    return bulk, batch


def fast_share(records, limit=None):
    """How many records the vectorised path took itself (not the per-packet fallback)."""
    res = parse_chunk(list(records), DEFAULT_TZ, limit)
    return len(records) - len(res.slow)


def test_samples_and_public(sample_packets, public_packets):
    records = sample_packets + public_packets
    bulk, _batch = assert_same(records, now=NOW)
    assert bulk.n_ok == 68
    assert fast_share(records) > 0


def test_generated_hourly_all_fast_and_readings():
    records = hourly_packets(3000)
    assert fast_share(records) == 3000  # the benchmark's packets never fall back
    bulk, batch = assert_same(records, max_future=None, chunk=1000)
    assert bulk.values.height == 3000 * 40
    assert batch.readings.num_rows == 3000 * 8  # 8 pollutants, one reading each
    first = pl.from_arrow(batch.readings).row(0, named=True)
    assert first["interval_s"] == 3600 and first["flag"] == "N"
    # a21026 with ST=31 maps to SO2 in mg/m3 (codes.csv, HJ 212-2017 Table B.2)
    assert (first["parameter"], first["unit"]) == ("so2", "mg/m3")


def test_corruptions_get_the_per_packet_reasons():
    good = hourly_packets(40, seed=7)
    crlf = [p + b"\r\n" for p in good[:3]]
    seg = good[3][6:-4]
    bad = [
        good[0][:-4] + b"0000",  # bad CRC
        good[1][:100] + good[1][101:],  # a byte lost: length and CRC wrong
        b"##0005" + seg + good[2][-4:],  # length field wrong
        good[4][:-4] + good[4][-4:].lower(),  # lower-case CRC: accepted with a note
        frame(seg.replace(b"CN=2061", b"CN=20X1"))[:-2],  # CN not 4 digits
        frame(seg.replace(b"Flag=5", b"Flag=7"))[:-2],  # split flag without PNUM/PNO
        frame(seg.replace(b"a21026-Avg=", b"a21026-Avg=x"))[:-2],  # non-numeric: note
        frame(seg.replace(b"DataTime=2024", b"DataTime=2099"))[:-2],  # future
        frame(seg.replace(b"DataTime=20240101", b"DataTime=20240231"))[:-2],  # no such day
        frame(seg.replace(b";CP=", b";PNUM=2;PNO=1;CP="))[:-2],  # split packet
        frame(seg.replace(b"ST=31", b"St=31"))[:-2],  # header name case: note
        frame(seg.replace(b"MN=", b"MN=\xe6\x95\xb0"))[:-2],  # UTF-8 MN
        frame(seg + b"x")[:-2],  # data area not closed
        b"",
        b"##",
    ]
    records = good + crlf + bad
    bulk, _ = assert_same(records, now=NOW, chunk=17)
    kinds = {r.kind for r in bulk.rejected}
    assert {"crc", "length", "header", "time", "frame", "cp"} <= kinds


def test_site_lookup_and_unknown_codes():
    records = hourly_packets(50)
    mns = sorted({try_parse(r, max_future=None).packet.mn for r in records})
    site_of = {mn: f"site-{mn[-2:]}" for mn in mns[::2]}
    _, batch = assert_same(records, site_of=site_of, max_future=None)
    assert batch.unknown_mn and all(mn not in site_of for _, mn in batch.unknown_mn)
    seg = records[0][6:-4].replace(b"a21026-", b"zz999-")
    _, batch = assert_same([frame(seg)[:-2]], max_future=None)
    assert batch.unknown_codes == [(0, "zz999")]


def capture_slice():
    files = sorted(CAPTURE.glob("*.h212.gz"))
    if not files:
        pytest.skip("capture not available")
    return split_records(gzip.decompress(files[5].read_bytes()))


def test_real_capture_hour():
    records = capture_slice()
    _bulk, batch = assert_same(records, max_future=None)
    assert fast_share(records) > 0.9 * len(records)
    assert batch.readings.num_rows > 10_000


def test_real_capture_hour_with_logger_facts():
    """600 s end-labelled loggers (the capture's habit) beside 60 s start-labelled ones: both
    paths give the same readings, minute rows carry interval_s = 600 and start one interval
    before the DataTime sent (HJ 212-2017 6.3.3 reads DataTime as the start; the 2005-era
    loggers of the capture label the end: core/registry/logger_defaults.csv)."""
    records = capture_slice()
    parsed = [try_parse(x, max_future=None) for x in records]
    mns = sorted({r.packet.mn for r in parsed if r.ok and r.packet.mn})
    odd = set(mns[1::2])

    def facts_of(mn):
        return LoggerFacts(60, "start") if mn in odd else LoggerFacts(600, "end")

    _bulk, batch = assert_same(records, facts_of=facts_of, max_future=None)
    rows = pl.from_arrow(batch.readings)
    minute = rows.filter(pl.col("origin").str.split(":").list.get(1).is_in(list(odd)).not_())
    minute = minute.filter(pl.col("interval_s") == 600)
    assert minute.height > 1000
    shifted = minute.row(0, named=True)
    sent = json.loads(shifted["extra"])["DataTime"]
    local = datetime.strptime(sent[:14], "%Y%m%d%H%M%S").replace(tzinfo=DEFAULT_TZ)
    assert shifted["period_start"] == local.astimezone(UTC) - timedelta(seconds=600)
    # the start-labelled loggers keep their DataTime as the start and no DataTime in extra
    kept = rows.filter(pl.col("origin").str.split(":").list.get(1).is_in(list(odd)))
    assert kept.height > 0 and not kept["extra"].str.contains("DataTime").any()
    sub_hour = kept.filter(pl.col("interval_s").is_between(1, 3599))["interval_s"]
    assert set(sub_hour.to_list()) <= {60}


def test_end_label_shifts_each_period_by_its_length():
    """An end-labelled 2051 / 2061 / 2031 packet at 08:00 local: the minute record covers
    07:50-08:00 (600 s logger), the hour 07:00-08:00, the day the day before (HJ 212-2017
    6.3.3: DataTime names the period; end-label practice: logger_defaults.csv)."""
    base = (
        "ST=31;CN={cn};PW=123456;MN=M600;CP=&&DataTime=20240101080000;"
        "a21026-Avg=10.0,a21026-Flag=N&&"
    )
    recs = [frame(base.format(cn=cn).encode())[:-2] for cn in ("2051", "2061", "2031", "2011")]
    facts = {"M600": LoggerFacts(600, "end")}
    _, batch = assert_same(recs, facts_of=facts.get, max_future=None)
    got = pl.from_arrow(batch.readings).select("period_start", "interval_s").rows()
    at = datetime(2024, 1, 1, 8, tzinfo=DEFAULT_TZ).astimezone(UTC)
    assert got == [
        (at - timedelta(seconds=600), 600),
        (at - timedelta(hours=1), 3600),
        (at - timedelta(days=1), 86400),
        (at, 0),  # real-time data names an instant: never shifted
    ]
    # the same packets from a start-labelled 300 s logger: no shift, interval 300
    _, batch = assert_same(recs, facts_of={"M600": LoggerFacts(300, "start")}.get, max_future=None)
    got = pl.from_arrow(batch.readings).select("period_start", "interval_s").rows()
    assert got == [(at, 300), (at, 3600), (at, 86400), (at, 0)]


# --- Hypothesis: random layouts, values and corruptions ----------------------------------------

CODES = st.sampled_from(["a21026", "a34013", "01", "B02", "S03", "011", "x9", "w01018"])
SUFFIXES = st.sampled_from(
    ["Rtd", "Avg", "Min", "Max", "Cou", "ZsAvg", "Flag", "EFlag", "SampleTime", "Odd"]
)
VALUES = st.one_of(
    st.decimals(-1e6, 1e6, places=3, allow_nan=False).map(str),
    st.sampled_from(["N", "D", "", "1e5", ".5", "5.", "-0", "inf", "nan", "1e400", "x", "1_0"]),
)
HEADERS = st.permutations(
    ["QN=20240101080000123", "ST=31", "CN=2061", "PW=123456", "MN=M1", "Flag=5"]
)


@st.composite
def segments(draw):
    head = draw(HEADERS)[: draw(st.integers(1, 6))]
    if not any(h.startswith("CN=") for h in head):
        head.append(draw(st.sampled_from(["CN=2011", "CN=2051", "CN=2031", "CN=9014"])))
    if draw(st.booleans()):
        head.append(
            draw(st.sampled_from(["St=32", "QN=1", "PNUM=2;PNO=1", "Flag=9", "ST=", "CN=2061"]))
        )
    items = []
    if draw(st.booleans()):
        items.append(
            "DataTime="
            + draw(
                st.sampled_from(
                    [
                        "20240101080000",
                        "20240101080000500",
                        "20241301080000",
                        "20240101086000",
                        "2099010100000",
                    ]
                )
            )
        )
    for _ in range(draw(st.integers(0, 6))):
        items.append(f"{draw(CODES)}-{draw(SUFFIXES)}={draw(VALUES)}")
    seps = [draw(st.sampled_from([";", ","])) for _ in items]
    body = "".join(i + s for i, s in zip(items, seps, strict=True))[:-1] if items else ""
    return (";".join(head) + ";CP=&&" + body + "&&").encode()


def corrupt(raw: bytes, how: int, pos: int) -> bytes:
    if not raw or how == 0:
        return raw
    pos %= len(raw)
    if how == 1:
        return raw[:pos] + bytes([raw[pos] ^ 0x21]) + raw[pos + 1 :]
    if how == 2:
        return raw[:pos] + raw[pos + 1 :]
    return raw[:pos] + b";" + raw[pos:]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(segments(), st.integers(0, 6), st.integers(0, 2000)), min_size=1, max_size=12
    )
)
def test_hypothesis_batches_equal_per_packet(drawn):
    records = [corrupt(frame(seg)[:-2], how if how <= 3 else 0, pos) for seg, how, pos in drawn]
    records += hourly_packets(3)  # a fast layout in every batch
    assert_same(records, now=NOW, chunk=5)
    # and with an end-labelled 600 s logger M1 (the segments' MN): shifted alike on both paths
    assert_same(records, now=NOW, chunk=5, facts_of={"M1": LoggerFacts(600, "end")}.get)


