"""Reading recorded HJ 212 traffic for a replay: CRLF-separated records as stored (gzip read
transparently, empty lines dropped), grouped by the MN written in each (None: none readable),
and each logger's password and ST taken from its well-formed packets, the commonest winning
(ST 32 where the logger sent no data packet with 31 or 32)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
from pathlib import Path

from ingest.hj212.protocol import frame
from sim.hj212_replay import capture_loggers, group_by_mn, read_records, replay


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


def test_a_connection_the_server_resets_is_reported_and_the_others_go_on() -> None:
    """A logger's connection reset mid-send (the failure of a listen backlog too small, issue 22's
    CI run) is named in the report; the other logger's records are all sent."""
    good, doomed = packet("MN01", "1")[:-2], packet("RESET", "2")[:-2]
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(65536)
        if b"MN=RESET" in first:  # close with unread data and no linger: the peer gets a reset
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        data = first
        while chunk := await reader.read(65536):
            data += chunk
        received.append(data)
        writer.close()

    async def scenario():  # type: ignore[no-untyped-def]
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # more than the kernel's socket buffers hold, so the reset meets the sender mid-send
        report = await replay([good] * 10 + [doomed] * 400_000, "127.0.0.1", port, answer_wait_s=5)
        server.close()
        await server.wait_closed()
        return report

    report = asyncio.run(scenario())
    assert report.records == 10 and report.connections == 2
    assert len(report.lost) == 1 and report.lost[0].startswith("400000 records of MN RESET: ")
    assert received == [b"".join(r + b"\r\n" for r in [good] * 10)]
