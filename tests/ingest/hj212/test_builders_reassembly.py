from datetime import datetime

import pytest

from ingest.hj212 import CpField, Packet, Reassembler, parse_packet
from ingest.hj212.builders import (
    data_answer,
    execution_result,
    new_qn,
    notice_answer,
    read_clock,
    reply_for,
    request_answer,
    request_history,
    set_clock,
)  # fmt: skip
from ingest.hj212.protocol import DEFAULT_TZ

UPLOAD = b"##0285QN=20190925181031464;ST=22;CN=2061;PW=BF470F88957588DE902D1A52;MN=Z13401000010301;Flag=5;CP=&&DataTime=20190924220000;a34006-Avg=2.69700,a34006-Flag=N;a34007-Avg=7.96600,a34007-Flag=N;a34048-Avg=3.30600,a34048-Flag=N;a34047-Avg=7.35700,a34047-Flag=N;a34049-Avg=10.66300,a34049-Flag=N&&C181"


def test_data_answer_echoes_upload():
    up = parse_packet(UPLOAD)
    raw = reply_for(up)
    assert raw == data_answer(up)
    assert raw.endswith(b"\r\n")
    ans = parse_packet(raw)
    assert (ans.qn, ans.st, ans.cn, ans.pw, ans.mn, ans.flag, ans.cp) == (
        up.qn, "91", "9014", up.pw, up.mn, 4, (),
    )  # fmt: skip
    assert b"CP=&&&&" in raw


def test_no_reply_without_ack_bit():
    assert reply_for(Packet(cn="2011", flag=4)) is None
    assert reply_for(Packet(cn="2011", flag=None)) is None


def test_answers():
    up = parse_packet(UPLOAD)
    assert parse_packet(request_answer(up, 1)).get("QnRtn") == "1"
    assert parse_packet(execution_result(up, 100)).get("ExeRtn") == "100"
    n = parse_packet(notice_answer(up))
    assert n.cn == "9013" and n.qn == up.qn


def test_upstream_commands():
    at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=DEFAULT_TZ)
    p = parse_packet(set_clock("M1", "123456", "31", at, qn="20240506070809000"), max_future=None)
    assert (p.cn, p.qn, p.mn, p.flag, p.get("SystemTime")) == ("1012", "20240506070809000", "M1", 5, "20240506070809")
    assert parse_packet(read_clock("M1", "1", "31")).cn == "1011"
    assert parse_packet(read_clock("M1", "1", "31", pol_id="a21026")).get("PolId") == "a21026"
    h = parse_packet(request_history("2061", "M1", "1", "31", at, at.replace(hour=9)))
    assert (h.cn, h.get("BeginTime"), h.get("EndTime")) == ("2061", "20240506070809", "20240506090809")
    assert len(h.qn) == 17 and len(new_qn()) == 17
    with pytest.raises(ValueError):
        request_history("2011", "M1", "1", "31", at, at)


def part(pno: int, pnum: int = 3, qn: str = "20240101080000001", mn: str = "M1") -> Packet:
    return Packet(cn="2051", qn=qn, mn=mn, flag=6, pnum=pnum, pno=pno,
                  cp=((CpField(f"c{pno}-Avg", str(pno), float(pno)),),))  # fmt: skip


def test_reassembly_out_of_order():
    clock = [0.0]
    r = Reassembler(timeout_s=10, clock=lambda: clock[0])
    assert r.add(part(3)) is None
    assert r.add(part(1)) is None
    assert r.add(part(1, qn="20240101080000002")) is None  # other QN: separate
    whole = r.add(part(2))
    assert whole is not None and [f.key for f in whole.fields()] == ["c1-Avg", "c2-Avg", "c3-Avg"]
    assert whole.pnum is None and whole.flag == 4
    assert len(r) == 1


def test_reassembly_evicts_incomplete():
    clock = [0.0]
    r = Reassembler(timeout_s=10, clock=lambda: clock[0])
    r.add(part(1))
    r.add(part(3))
    clock[0] = 9.9
    assert r.evict() == []
    clock[0] = 10.0
    (ev,) = r.evict()
    assert ev.key == ("M1", "20240101080000001")
    assert [p.pno for p in ev.parts] == [1, 3] and ev.missing == (2,)
    assert "missing parts [2] of 3" in ev.reason
    assert len(r) == 0
    r.add(part(1))
    assert len(r.drain()) == 1


def test_unsplit_passes_through():
    p = Packet(cn="2011")
    assert Reassembler().add(p) is p
