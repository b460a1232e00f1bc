"""Every verified sample and every public packet: accepted with the right fields, or rejected
with the right reason."""

import pytest

from ingest.hj212 import parse_packet, try_parse

pytestmark = pytest.mark.filterwarnings("ignore")


def test_sample_section1_all_valid(sample_packets):
    results = [try_parse(p, max_future=None) for p in sample_packets]
    assert [r.ok for r in results] == [True] * 18 + [False] * 5


def test_sample_fields(sample_packets):
    p = parse_packet(sample_packets[0])
    assert (p.qn, p.st, p.cn, p.pw, p.mn, p.flag) == (
        "20160801085857223", "32", "1062", "100000", "010000A8900016F000169DC0", 5,
    )  # fmt: skip
    assert p.version == 1 and p.ack_requested and not p.is_split
    assert p.get("RtdInterval") == "30"
    amb = parse_packet(sample_packets[1])
    assert "CRC in lower-case hex" in amb.notes
    assert amb.pollutants()["a21002"]["Rtd"].value == 49.2
    assert amb.pollutants()["a21002"]["Flag"].text == "N"
    v2 = parse_packet(sample_packets[2])
    assert v2.flag == 8 and v2.version == 2 and any("version bits 2" in n for n in v2.notes)
    old = parse_packet(sample_packets[3])
    assert old.qn is None and old.flag is None and old.datatime.isoformat() == "2021-03-05T00:38:17+08:00"
    hourly = parse_packet(sample_packets[7])
    assert hourly.cn == "2061" and len(hourly.pw) == 24
    assert hourly.pollutants()["a34006"]["Avg"].value == 2.697
    bare = parse_packet(sample_packets[13])
    assert any("bare 'Flag=N'" in n for n in bare.notes)
    stray = parse_packet(sample_packets[14])
    assert stray.mn == "88888881234567" and stray.flag == 0
    assert any("stray ','" in n for n in stray.notes) and any("'FLAG'" in n for n in stray.notes)
    assert stray.pollutants()["B00"]["Rtd"].value == 156720160.0
    zs = parse_packet(sample_packets[15])
    assert zs.pollutants()["a21026"]["ZsRtd"].value == 0.0 and zs.pollutants()["a21026"]["Flag"].text == "D"
    split2 = parse_packet(sample_packets[16])
    assert (split2.flag, split2.pnum, split2.pno, split2.is_split) == (6, 2, 2, True)
    assert split2.pollutants()["a21018"]["ZsMax"].text == "0.00"
    assert "ZsMax" not in split2.pollutants()["w01018"]
    long = parse_packet(sample_packets[17])
    assert long.pnum == 2 and long.pno == 1 and long.flag == 2 and long.version == 0
    assert "data segment longer than 1024 (1045 bytes)" in long.notes


def test_sample_rejections(sample_packets):
    errors = [try_parse(p).error for p in sample_packets[18:]]  # section 2
    assert errors == [
        "bad CRC: packet says 1100, computed 2D00",
        "bad CRC: packet says 4980, computed 3C00",
        "bad CRC: packet says 2800, computed D801",
        "bad CRC: packet says A6EC, computed 0440",
        "length mismatch: header 0121, data segment 0119 bytes",
    ]


# (index in packets.txt, expected error or None)
PUBLIC_REJECTED = {
    32: "length mismatch: header 0219, data segment 0215 bytes",
    33: "bad CRC: packet says 47C0, computed 2BC0",
    34: "length mismatch: header 0377, data segment 0404 bytes; CRC also wrong",
    35: "length mismatch: header 0091, data segment 0118 bytes; CRC also wrong",
    36: "length mismatch: header 0139, data segment 0135 bytes; CRC also wrong",
    37: "length mismatch: header 0097, data segment 0093 bytes; CRC also wrong",
    38: "length mismatch: header 0293, data segment 0015 bytes; CRC also wrong",
    39: "length mismatch: header 0615, data segment 0612 bytes; CRC also wrong",
    40: "bad CRC: packet says 4980, computed 3C00",
    42: "bad CRC: packet says 4981, computed 4980",
    43: "length mismatch: header 0139, data segment 0136 bytes; CRC also wrong",
    49: "bad CRC: packet says 1100, computed 2D00",
    50: "bad CRC: packet says f9c1, computed 7340",
    53: "bad CRC: packet says 2800, computed D801",
    60: "length mismatch: header 0121, data segment 0119 bytes",
    61: "length mismatch: header 0215, data segment 0202 bytes; CRC also wrong",
    66: "bad CRC: packet says A6EC, computed 0440",
    67: "bad CRC: packet says 7865, computed C841",
    68: "bad CRC: packet says 0681, computed 6C00",
}


def test_public_packets(public_packets):
    assert len(public_packets) == 69
    for i, raw in enumerate(public_packets):
        r = try_parse(raw, max_future=None)
        if i in PUBLIC_REJECTED:
            assert not r.ok and r.error.startswith(PUBLIC_REJECTED[i]), (i, r.error)
        else:
            assert r.ok, (i, r.error)


def test_public_nul_st(public_packets):
    p = parse_packet(public_packets[0])
    assert p.st is None and "ST is NUL bytes (read as absent)" in p.notes
    assert p.cn == "2031" and p.pollutants()["B02"]["Cou"].value == 165698.52


def test_public_alarm_heartbeat_answers(public_packets):
    alarm = parse_packet(public_packets[13])
    assert alarm.cn == "2072" and alarm.pollutants()["B01"]["Ala"].value == 16.0
    assert alarm.get("AlarmType") == "1"
    beat = parse_packet(public_packets[7])
    assert beat.cn == "8013" and beat.get("HeartbeatTime") == "180"
    ans = parse_packet(public_packets[17])
    assert ans.cn == "9011" and ans.get("QnRtn") == "1" and ans.get("QN") == "20160824000504006"
