"""ingest.hj212.reassembly: split packets (Flag bit D, PNUM/PNO) joined back, or handed over as
dead letters when incomplete after the timeout; nothing is dropped silently."""

from __future__ import annotations

from datetime import datetime

from ingest.hj212.packet import FLAG_SPLIT, CpField, Packet
from ingest.hj212.protocol import DEFAULT_TZ, parse_packet, serialize
from ingest.hj212.reassembly import Evicted, Reassembler

QN = "20240101080000001"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def part(pno: int, pnum: int = 3, *, qn: str = QN, mn: str = "M1", flag: int | None = 6,
         datatime: datetime | None = None, notes: tuple[str, ...] = ()) -> Packet:
    group = (CpField(f"a{pno:05d}-Avg", f"{pno}.0", float(pno)),)
    return Packet(cn="2051", qn=qn, mn=mn, flag=flag, pnum=pnum, pno=pno, cp=(group,), datatime=datatime,
                  notes=notes)


def test_parts_in_any_order_join_into_one_packet_in_pno_order() -> None:
    r = Reassembler(timeout_s=10, clock=Clock())
    assert r.add(part(2)) is None
    assert len(r) == 1
    assert r.add(part(3)) is None
    whole = r.add(part(1))
    assert whole is not None and len(r) == 0
    assert [f.key for f in whole.fields()] == ["a00001-Avg", "a00002-Avg", "a00003-Avg"]
    assert (whole.pnum, whole.pno, whole.cn, whole.qn, whole.mn) == (None, None, "2051", QN, "M1")
    assert whole.flag == 4 and not whole.is_split  # bit D cleared, version and A kept
    assert whole.version == 1


def test_flag_keeps_its_other_bits_and_none_stays_none() -> None:
    r = Reassembler()
    assert r.add(part(1, 2, flag=7)) is None
    assert r.add(part(2, 2, flag=7)).flag == 7 & ~FLAG_SPLIT  # type: ignore[union-attr]
    assert r.add(part(1, 2, qn="q2", flag=None)) is None
    assert r.add(part(2, 2, qn="q2", flag=None)).flag is None  # type: ignore[union-attr]


def test_a_single_part_packet_is_complete_at_once() -> None:
    whole = Reassembler().add(part(1, 1))
    assert whole is not None and whole.pnum is None and [f.text for f in whole.fields()] == ["1.0"]


def test_unsplit_packets_pass_through_unchanged() -> None:
    r = Reassembler()
    p = Packet(cn="2011", mn="M1", qn=QN)
    assert r.add(p) is p
    only_pnum = Packet(cn="2011", pnum=2)  # PNO missing: not a part (the parser refuses these)
    assert r.add(only_pnum) is only_pnum
    assert len(r) == 0


def test_parts_are_keyed_by_mn_and_qn() -> None:
    r = Reassembler()
    assert r.add(part(1, 2, mn="M1")) is None
    assert r.add(part(2, 2, mn="M2")) is None  # another logger's part 2: no join
    assert r.add(part(2, 2, mn="M1", qn="other")) is None  # another packet of M1
    assert len(r) == 3
    whole = r.add(part(2, 2, mn="M1"))
    assert whole is not None and whole.mn == "M1" and len(r) == 2


def test_a_repeated_part_keeps_the_first_copy() -> None:
    r = Reassembler()
    first = part(1, 2)
    again = Packet(cn="2051", qn=QN, mn="M1", flag=6, pnum=2, pno=1, cp=((CpField("a00001-Avg", "9.0", 9.0),),))
    assert r.add(first) is None
    assert r.add(again) is None  # a resent part counts once
    whole = r.add(part(2, 2))
    assert whole is not None and [f.text for f in whole.fields()] == ["1.0", "2.0"]


def test_notes_are_joined_and_datatime_is_the_first_one_given() -> None:
    at = datetime(2024, 1, 1, 8, 0, tzinfo=DEFAULT_TZ)
    r = Reassembler()
    r.add(part(1, 3, notes=("note of 1",)))
    r.add(part(3, 3, datatime=at, notes=("note of 3",)))
    whole = r.add(part(2, 3, datatime=at.replace(hour=9)))
    assert whole is not None
    assert whole.notes == ("note of 1", "note of 3")  # in part order
    assert whole.datatime == at.replace(hour=9)  # part 2 is the first (in PNO order) to carry one


def test_evict_at_the_timeout_not_before() -> None:
    clock = Clock()
    r = Reassembler(timeout_s=300, clock=clock)
    r.add(part(3, 4))
    clock.now = 100.0
    r.add(part(1, 4))  # a later part does not restart the wait
    clock.now = 299.999
    assert r.evict() == []
    clock.now = 300.0
    (ev,) = r.evict()
    assert isinstance(ev, Evicted)
    assert ev.key == ("M1", QN)
    assert [p.pno for p in ev.parts] == [1, 3]
    assert ev.missing == (2, 4)
    assert ev.reason == "split packet incomplete after 300s: missing parts [2, 4] of 4"
    assert len(r) == 0 and r.evict() == []


def test_evict_takes_only_the_old_sets_and_an_explicit_now() -> None:
    clock = Clock()
    r = Reassembler(timeout_s=10, clock=clock)
    r.add(part(1, 2, qn="old"))
    clock.now = 5.0
    r.add(part(1, 2, qn="new"))
    (ev,) = r.evict(now=12.0)
    assert ev.key == ("M1", "old") and len(r) == 1
    assert r.add(part(2, 2, qn="new")) is not None


def test_drain_evicts_everything() -> None:
    r = Reassembler(timeout_s=1e9, clock=Clock())
    r.add(part(1, 2, qn="a"))
    r.add(part(2, 3, qn="b"))
    out = r.drain()
    assert sorted(e.key for e in out) == [("M1", "a"), ("M1", "b")]
    assert {e.key[1]: e.missing for e in out} == {"a": (2,), "b": (1, 3)}
    assert "incomplete after 1e+09s" in out[0].reason
    assert len(r) == 0


def test_parsed_parts_of_a_real_split_upload_join() -> None:
    """Two parts built and parsed as on the wire (CRC, PNUM=0002, PNO=000n) give one packet."""
    raws = [
        serialize(Packet(cn="2011", qn=QN, st="22", pw="123456", mn="M1", flag=7, pnum=2, pno=n,
                            cp=((CpField("DataTime", "20240101080000"),), (CpField(code, val, None),))))
        for n, code, val in ((1, "a21026-Rtd", "12.5"), (2, "a21004-Rtd", "40.1"))
    ]
    r = Reassembler()
    parts = [parse_packet(raw, max_future=None) for raw in raws]
    assert [(p.pnum, p.pno, p.is_split) for p in parts] == [(2, 1, True), (2, 2, True)]
    assert r.add(parts[1]) is None
    whole = r.add(parts[0])
    assert whole is not None
    assert whole.get("a21026-Rtd") == "12.5" and whole.get("a21004-Rtd") == "40.1"
    assert whole.flag == 5 and whole.datatime == datetime(2024, 1, 1, 8, tzinfo=DEFAULT_TZ)
