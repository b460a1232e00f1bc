"""The bulk path gives exactly what the per-packet parser gives."""

import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hj212_records import parse_file, split_records

from ingest.hj212.bulk import packets_to_frames, parse_records
from ingest.hj212.protocol import DEFAULT_TZ, frame, try_parse

CAPTURE = Path(__file__).resolve().parents[3].parent / "shared" / "data/hj212_capture_2016-08-24"

NOW = datetime(2026, 1, 1, tzinfo=DEFAULT_TZ)


def assert_same_as_loop(records, chunk=None, **kw):
    bulk = (
        parse_records(records, **kw) if chunk is None else parse_records(records, chunk=chunk, **kw)
    )
    ok, rejected = [], []
    for i, raw in enumerate(records):
        r = try_parse(raw, **kw)
        if r.ok:
            ok.append((i, r.packet))
        else:
            rejected.append((i, r.error, r.kind, r.crc_ok))
    p, v = packets_to_frames(ok)
    p = p.with_columns(pl.col("datatime").dt.convert_time_zone("UTC"))
    assert bulk.packets.equals(p)
    assert bulk.values.sort("record", "seq").equals(v.sort("record", "seq"))
    assert [(r.record, r.reason, r.kind, r.crc_ok) for r in bulk.rejected] == rejected
    return bulk


def test_samples_and_public(sample_packets, public_packets):
    bulk = assert_same_as_loop(sample_packets + public_packets, now=NOW)
    assert bulk.n_ok == 18 + 50


def test_edge_cases_small_chunks():
    segs = [
        "QN=20240101080000123;ST=31;CN=2061;PW=1;MN=M;Flag=5;CP=&&DataTime=20240101080000;a-Avg=1,a-Flag=N&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&DataTime=20240101080000123;a-Avg=-.5e2;b-Rtd=inf,b-X=nan&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&DataTime=20240231080000;a-Avg=1&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&DataTime=20990101080000;a-Avg=1&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&a-Avg=1;;a-Min=2&&",
        "ST=31;CN=2061;PW=1;MN=M;Flag=9;CP=&&a-Avg=x,a-Weird=1.5,a-W2=y&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&a-Avg=1;Flag=N&&",
        "ST=31;CN=2061;PW=1;,MN=M;FLAG=4;CP=&&a-Avg=1&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&QN=20240101080000123;ExeRtn=1&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&averyveryverylongkey-Avg=1&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&DataTime=20240101080000;DataTime=20240101090000&&",
        "CN=2061;CP=&&a=1=2&&",
        "ST=31;CN=2061;PW=1;MN=M;CP=&&i-Info=数据&&",
    ]
    records = [frame(s.encode())[:-2] for s in segs]
    records += [b"", b"##", b"garbage\nwith LF", records[0][:-4] + b"0000", records[0].lower()]
    for chunk in (1, 3, 64):
        assert_same_as_loop(records, now=NOW, chunk=chunk)


def test_generated_hourly():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
    from hj212_parse import hourly_packets

    bulk = assert_same_as_loop(hourly_packets(3000), max_future=None, chunk=1024)
    assert bulk.values.height == 3000 * 40


def capture_files():
    files = sorted(CAPTURE.glob("*.h212.gz"))
    if len(files) != 21:
        pytest.skip("capture not available")
    return files


def test_capture_counts():
    kinds = Counter()
    ok = total = 0
    for f in capture_files():
        res = parse_file(f, max_future=None)
        ok += res.n_ok
        total += res.n_ok + len(res.rejected)
        for r in res.rejected:
            kinds[(r.kind, r.crc_ok)] += 1
            assert r.reason
    assert total == 190_451
    assert ok == 190_365
    assert kinds == {
        ("length", False): 70,
        ("frame", None): 14,
        ("crc", False): 1,
        ("length", True): 1,
    }


@pytest.mark.slow
def test_capture_equivalence():
    for f in capture_files()[:3]:
        assert_same_as_loop(split_records(gzip.decompress(f.read_bytes())), max_future=None)


def test_a_local_time_skipped_by_a_dst_change_is_parsed_not_a_crash():
    # Asia/Shanghai kept summer time 1986-1991: 1986-05-04 02:00 local never happened. The
    # per-packet fallback gives it the offset before the change (UTC+8), as Python does.
    seg = ("QN=19860504020000001;ST=22;CN=2011;PW=123456;MN=88888880000001;Flag=5;"
           "CP=&&DataTime=19860504020000;a21026-Rtd=12.5,a21026-Flag=N&&")  # fmt: skip
    result = parse_records([frame(seg.encode())], DEFAULT_TZ)
    assert result.rejected == []
    assert result.packets["datatime"].to_list() == [datetime(1986, 5, 3, 18, tzinfo=UTC)]
