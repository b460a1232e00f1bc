"""Hypothesis: serialize -> parse round trip, and no exception but PacketError on junk."""

import random
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.hj212 import CpField, Packet, PacketError, parse_packet, serialize, try_parse
from ingest.hj212.protocol import DEFAULT_TZ, format_time, parse_number

codes = st.sampled_from(["a21026", "a21002", "w01018", "B01", "011", "S01", "a34004", "xyz99"])
suffixes = st.sampled_from(["Rtd", "Min", "Avg", "Max", "Cou", "ZsAvg", "ZsRtd", "ZsMin", "ZsMax"])
numbers = st.decimals(min_value=-1e9, max_value=1e9, places=4, allow_nan=False).map(str)
alnum = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=24)


@st.composite
def packets(draw):
    fields = []
    for _ in range(draw(st.integers(0, 6))):
        code = draw(codes)
        group = [CpField(f"{code}-{draw(suffixes)}", t, float(t)) for t in draw(st.lists(numbers, min_size=1, max_size=3))]
        if draw(st.booleans()):
            group.append(CpField(f"{code}-Flag", draw(st.sampled_from("NFMSDCTB"))))
        fields.append(tuple(group))
    dt = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1))).replace(
        microsecond=0, tzinfo=DEFAULT_TZ
    )
    cp = ((CpField("DataTime", format_time(dt)),), *fields)
    flag = draw(st.sampled_from([None, 0, 1, 4, 5, 8, 9]))
    split = draw(st.booleans()) and flag is not None
    pnum = draw(st.integers(1, 20)) if split else None
    return Packet(
        cn=draw(st.sampled_from(["2011", "2051", "2061", "2031"])),
        qn=draw(st.one_of(st.none(), st.from_regex(r"\A[0-9]{17}\Z"))),
        st=draw(st.sampled_from([None, "21", "22", "31", "32", "39"])),
        pw=draw(st.one_of(st.none(), alnum)),
        mn=draw(alnum),
        flag=(flag | 2) if split else flag,
        pnum=pnum,
        pno=draw(st.integers(1, pnum)) if split else None,
        cp=cp,
        datatime=dt,
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(packets())
def test_round_trip(p):
    raw = serialize(p)
    back = parse_packet(raw, max_future=None)
    assert back == Packet(**{**p.__dict__, "crc": back.crc})
    assert serialize(back) == raw


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes(raw):
    r = try_parse(raw)
    assert r.ok or r.error
    try:
        parse_packet(raw)
    except PacketError as exc:
        assert exc.reason


VALID = serialize(
    Packet(cn="2061", qn="20240101080000123", st="31", pw="123456", mn="M1", flag=5,
           cp=((CpField("DataTime", "20240101080000"),), (CpField("a21026-Avg", "1.5", 1.5), CpField("a21026-Flag", "N"))))
)  # fmt: skip


@settings(max_examples=1000)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.sampled_from(["set", "del", "ins"])), min_size=1, max_size=4))
def test_mutated_valid_packets(mutations):
    raw = bytearray(VALID)
    for pos, byte, op in mutations:
        pos = min(pos, len(raw) - 1) if raw else 0
        if op == "set" and raw:
            raw[pos] = byte
        elif op == "del" and raw:
            del raw[pos]
        else:
            raw.insert(pos, byte)
    r = try_parse(bytes(raw), max_future=None)
    assert r.ok or (r.error and r.kind)


@settings(max_examples=300)
@given(st.text(alphabet="0123456789.+-eEinfa_ x", max_size=8))
def test_number_grammar(text):
    v = parse_number(text)
    if v is not None:
        assert v == float(text)


def test_mutations_give_reasons_for_every_single_byte_flip():
    rng = random.Random(0)
    for _ in range(300):
        raw = bytearray(VALID[:-2])
        i = rng.randrange(len(raw))
        raw[i] = rng.choice(b"#=;,&0AZ\x00\xff")
        r = try_parse(bytes(raw), now=datetime(2024, 1, 2, tzinfo=DEFAULT_TZ) + timedelta(0))
        assert r.ok or r.error
