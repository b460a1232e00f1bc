"""Boundaries of the per-packet parser: each rule tested on both sides."""

from datetime import UTC, datetime, timedelta

import pytest

from ingest.hj212 import Packet, PacketError, StreamFramer, frame, parse_packet, try_parse
from ingest.hj212.crc import crc16
from ingest.hj212.protocol import DEFAULT_TZ, parse_time

NOW = datetime(2024, 1, 2, tzinfo=DEFAULT_TZ)


def pkt(seg: str) -> bytes:
    return frame(seg.encode())


def seg(flag="4", dt="20240101080000", cp_extra="a21026-Avg=1.5,a21026-Flag=N", head=None):
    h = head if head is not None else f"QN=20240101080000123;ST=31;CN=2061;PW=123456;MN=M1;Flag={flag};"
    return f"{h}CP=&&DataTime={dt};{cp_extra}&&"


def reason(raw: bytes, **kw) -> str:
    r = try_parse(raw, now=NOW, **kw)
    assert not r.ok
    assert r.error
    return r.error


def test_ok_with_and_without_crlf():
    raw = pkt(seg())
    assert raw.endswith(b"\r\n")
    assert parse_packet(raw, now=NOW) == parse_packet(raw[:-2], now=NOW)


@pytest.mark.parametrize(("n", "note"), [(1024, False), (1025, True)])
def test_length_1024_boundary(n, note):
    base = seg(cp_extra="x-Info=")
    body = seg(cp_extra="x-Info=" + "A" * (n - len(base)))
    assert len(body) == n
    p = parse_packet(pkt(body), now=NOW)
    assert any("longer than 1024" in s for s in p.notes) is note


def test_length_mismatch_and_char_count():
    raw = pkt(seg())
    bad = raw[:2] + b"%04d" % (int(raw[2:6]) + 1) + raw[6:]
    assert reason(bad).startswith("length mismatch: header")
    # UTF-8 text: length written as characters (caoyiliang/HJ212) is tolerated and noted
    s = seg(cp_extra="i11001-Info=数采仪正常").encode()
    chars = len(s.decode())
    raw = b"##%04d" % chars + s + b"%04X" % crc16(s)
    p = parse_packet(raw, now=NOW)
    assert p.get("i11001-Info") == "数采仪正常"
    assert any("counts characters" in n for n in p.notes)


def test_crc_upper_lower_and_bad():
    raw = pkt(seg())[:-2]
    lower = raw[:-4] + raw[-4:].lower()
    if lower != raw:
        assert "CRC in lower-case hex" in parse_packet(lower, now=NOW).notes
    flipped = raw[:-4] + b"%04X" % (int(raw[-4:], 16) ^ 1)
    msg = reason(flipped)
    assert msg.startswith("bad CRC: packet says ") and "computed" in msg
    assert reason(raw[:-4] + b"XYZ!").startswith("not an HJ 212 frame: CRC field")


@pytest.mark.parametrize("raw", [b"", b"#", b"##", b"##12", b"hello", b"##abcdQN=1&&0000", b"##0000"])
def test_not_frames(raw):
    r = try_parse(raw)
    assert not r.ok and r.kind == "frame" and r.error


@pytest.mark.parametrize(
    ("dt", "ok"),
    [("20240101080000", True), ("20240101080000123", True), ("2024010108000", False),
     ("202401010800001", False), ("2024010108000012", False), ("202401010800001234", False),
     ("20241301080000", False), ("20240230080000", False), ("2024010124000", False),
     ("2024010108000a", False)],
)  # fmt: skip
def test_datatime_digits(dt, ok):
    r = try_parse(pkt(seg(dt=dt)), now=NOW)
    assert r.ok is ok, r.error
    if ok:
        assert r.packet.datatime == datetime(2024, 1, 1, 8, 0, 0, 123000 if len(dt) == 17 else 0, tzinfo=DEFAULT_TZ)
        assert ("DataTime with milliseconds (17 digits)" in r.packet.notes) is (len(dt) == 17)
    else:
        assert r.error.startswith(f"DataTime '{dt}' not a valid time")


def test_datatime_timezone_parameter():
    utc8 = parse_packet(pkt(seg()), now=NOW).datatime
    assert utc8.utcoffset() == timedelta(hours=8)
    assert utc8.astimezone(UTC).hour == 0
    p = parse_packet(pkt(seg()), tz=UTC, now=NOW)
    assert p.datatime.isoformat() == "2024-01-01T08:00:00+00:00"


def test_future_timestamp():
    raw = pkt(seg(dt="20240102003000"))
    assert try_parse(raw, now=NOW).ok  # 30 min ahead: clock drift
    raw = pkt(seg(dt="20240102013000"))
    assert reason(raw).startswith("future timestamp: DataTime 2024-01-02T01:30:00+08:00")
    assert try_parse(raw, now=NOW, max_future=None).ok


@pytest.mark.parametrize(
    ("flag", "version", "ack", "split"),
    [("0", 0, False, False), ("1", 0, True, False), ("4", 1, False, False), ("5", 1, True, False),
     ("8", 2, False, False), ("9", 2, True, False), ("252", 63, False, False)],
)  # fmt: skip
def test_flag_bits(flag, version, ack, split):
    p = parse_packet(pkt(seg(flag=flag)), now=NOW)
    assert (p.flag, p.version, p.ack_requested, p.is_split) == (int(flag), version, ack, split)
    assert any("version bits" in n for n in p.notes) is (version > 1)


@pytest.mark.parametrize("flag", ["256", "-1", "x", ""])
def test_flag_invalid(flag):
    assert "Flag" in reason(pkt(seg(flag=flag)))


def test_split_flag_needs_pnum_pno():
    assert "PNUM/PNO missing" in reason(pkt(seg(flag="6")))
    head = "QN=20240101080000123;ST=31;CN=2061;PW=1;MN=M1;Flag=7;PNUM=0002;PNO=0001;"
    p = parse_packet(pkt(seg(head=head)), now=NOW)
    assert (p.pnum, p.pno, p.is_split, p.ack_requested) == (2, 1, True, True)
    head = "QN=20240101080000123;ST=31;CN=2061;PW=1;MN=M1;Flag=7;PNUM=0002;PNO=0003;"
    assert "PNO 3 outside" in reason(pkt(seg(head=head)))


def test_header_errors():
    assert reason(pkt("ST=31;PW=1;MN=M;CP=&&&&")) == "CN missing"
    assert reason(pkt("ST=31;CN=20;PW=1;MN=M;CP=&&&&")) == "CN '20' is not 4 digits"
    assert reason(pkt("ST=31;CN=2011;PW=1;MN=M;")) == "no data area: 'CP=&&' missing"
    assert reason(pkt("ST=31;CN=2011;PW=1;MN=M;CP=&&a=1")) == "data area not closed by '&&'"
    assert reason(pkt("ST=31;CN=2011;XX=1;CP=&&&&")) == "unknown header field 'XX'"
    assert reason(pkt("ST=31;CN=2011;CN=2011;CP=&&&&")) == "header field 'CN' repeated"
    assert reason(pkt("ST=3 1;CN=2011;CP=&&&&")) == "ST '3 1' is not a system code"


def test_cp_errors_and_tolerances():
    msg = reason(pkt(seg(cp_extra="a21026-Avg=1,xx")))
    assert msg.startswith("malformed CP item 'xx' at position ")
    p = parse_packet(pkt(seg(cp_extra="a21026-Avg=abc,a21026-Flag=N")), now=NOW)
    assert p.pollutants()["a21026"]["Avg"].value is None
    assert any("non-numeric value 'abc'" in n for n in p.notes)
    p = parse_packet(pkt(seg(cp_extra="a21026-Avg=1,,a21026-Flag=N")), now=NOW)
    assert any("empty data-area item" in n for n in p.notes)
    assert parse_packet(pkt("ST=31;CN=2011;PW=1;MN=M;CP=&&&&"), now=NOW).cp == ()


def test_field_suffixes_kept():
    extra = (
        "a21026-Rtd=1,a21026-Min=2,a21026-Avg=3,a21026-Max=4,a21026-Cou=5,a21026-ZsRtd=6,"
        "a21026-ZsMin=7,a21026-ZsAvg=8,a21026-ZsMax=9,a21026-Flag=T,a21026-EFlag=A1,"
        "a21026-SampleTime=20240101075500,a21026-Weird=x"
    )
    p = parse_packet(pkt(seg(cp_extra=extra)), now=NOW)
    f = p.pollutants()["a21026"]
    assert [f[k].value for k in ("Rtd", "Min", "Avg", "Max", "Cou", "ZsRtd", "ZsMin", "ZsAvg", "ZsMax")] == list(
        map(float, range(1, 10))
    )
    assert (f["Flag"].text, f["EFlag"].text, f["SampleTime"].text, f["Weird"].text) == (
        "T", "A1", "20240101075500", "x",
    )  # fmt: skip
    assert f["Weird"].value is None


def test_nul_st_and_control_chars():
    p = parse_packet(pkt(seg(head="ST=\x00\x00;CN=2051;PW=1;MN=M;")), now=NOW)
    assert p.st is None
    assert "control character 0x00" in reason(pkt(seg(head="ST=31;CN=2051;PW=\x00;MN=M;")))


def test_parse_time_helper():
    assert parse_time("20160824003817000").isoformat() == "2016-08-24T00:38:17+08:00"
    with pytest.raises(ValueError):
        parse_time("2016082400381")


def test_stream_framer_split_reads():
    a, b = pkt(seg()), pkt(seg(flag="5"))
    framer = StreamFramer()
    data = a + b
    got = []
    for i in range(0, len(data), 7):
        got += framer.feed(data[i : i + 7])
    assert got == [a[:-2], b[:-2]]


def test_non_bytes_input():
    with pytest.raises(PacketError):
        parse_packet("##0000")  # type: ignore[arg-type]
    assert isinstance(Packet(cn="2011"), Packet)
