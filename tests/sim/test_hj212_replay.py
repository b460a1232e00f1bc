"""Reading recorded HJ 212 traffic for a replay: CRLF-separated records as stored (gzip read
transparently, empty lines dropped), grouped by the MN written in each (None: none readable),
and each logger's password and ST taken from its well-formed packets, the commonest winning
(ST 32 where the logger sent no data packet with 31 or 32)."""

from __future__ import annotations

import gzip
from pathlib import Path

from ingest.hj212.protocol import frame
from sim.hj212_replay import capture_loggers, group_by_mn, read_records


def packet(mn: str, pw: str, st: str = "32", cn: str = "2011") -> bytes:
    segment = f"QN=20160824000000000;ST={st};CN={cn};PW={pw};MN={mn};Flag=4;CP=&&DataTime=20160824000000;" \
              "a21026-Rtd=12.5,a21026-Flag=N&&"
    return frame(segment.encode())


def test_records_are_read_as_stored(tmp_path: Path) -> None:
    a, b = packet("MN01", "111111"), packet("MN02", "222222")
    (tmp_path / "one.log").write_bytes(a + b"\r\n" + b"noise without a frame\r\n")
    (tmp_path / "two.log.gz").write_bytes(gzip.compress(b + a))
    records = read_records([tmp_path / "one.log", str(tmp_path / "two.log.gz")])
    assert records == [a[:-2], b"noise without a frame", b[:-2], a[:-2]]


def test_records_grouped_by_mn() -> None:
    a, b, junk = packet("MN01", "1")[:-2], packet("MN02", "2")[:-2], b"##0005hello"
    assert group_by_mn([a, junk, b, a]) == {b"MN01": [a, a], None: [junk], b"MN02": [b]}


def test_each_logger_password_and_st_from_its_packets() -> None:
    records = [
        packet("MN01", "111111", "31"), packet("MN01", "111111", "31"), packet("MN01", "999999", "32"),
        packet("MN02", "222222", "22", cn="9014"),  # no data packet with ST 31 or 32
        b"##9999broken",
    ]
    assert capture_loggers([r[:-2] for r in records]) == {"MN01": ("111111", "31"), "MN02": ("222222", "32")}
