"""CN 1063 (read) / CN 1064 (set) the logger's minute-data interval, over a real TCP socket on
loopback (HJ 212-2017 Table 9; MinInterval in minutes: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)."""

from __future__ import annotations

import asyncio

import pytest

from ingest.hj212 import builders
from ingest.hj212.commands import (
    CommandChannel,
    LoggerAddress,
    minute_interval_of,
    read_minute_interval,
    set_minute_interval,
)
from ingest.hj212.packet import CpField, Packet
from ingest.hj212.protocol import StreamFramer, parse_packet, serialize

LOGGER = LoggerAddress(mn="LD130199000001", pw="123456", st="32")


async def fake_logger(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: dict
) -> None:
    """A data logger: answers 9011, uploads 1063 MinInterval, applies 1064, answers 9012."""
    framer = StreamFramer()
    while data := await reader.read(4096):
        for record in framer.feed(data):
            req = parse_packet(record, max_future=None)
            state["requests"].append((req.cn, req.get("MinInterval")))
            writer.write(builders.request_answer(req, builders.QN_READY))
            if req.cn == "1064":
                state["minutes"] = int(req.get("MinInterval") or 0)
            elif req.cn == "1063":
                up = Packet(cn="1063", qn=req.qn, st=req.st, pw=req.pw, mn=req.mn, flag=4,
                            cp=((CpField("MinInterval", str(state["minutes"])),),))  # fmt: skip
                writer.write(serialize(up))
            writer.write(builders.execution_result(req, builders.EXE_SUCCESS))
            await writer.drain()


async def platform_session(state: dict) -> tuple:
    """The platform listens on 127.0.0.1 (a free port); the logger connects to it."""
    connected: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set_result((reader, writer))
        await asyncio.sleep(3600)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lreader, lwriter = await asyncio.open_connection("127.0.0.1", port)
    logger_task = asyncio.create_task(fake_logger(lreader, lwriter, state))
    preader, pwriter = await connected
    channel = CommandChannel(pwriter.write, timeout_s=2.0, retries=1, result_timeout_s=2.0)

    async def pump() -> None:
        framer = StreamFramer()
        while data := await preader.read(4096):
            for record in framer.feed(data):
                channel.on_packet(parse_packet(record, max_future=None))

    pump_task = asyncio.create_task(pump())
    try:
        before = await read_minute_interval(channel, LOGGER)
        setting = await set_minute_interval(channel, LOGGER, 600)
        after = await read_minute_interval(channel, LOGGER)
        return before, setting, after
    finally:
        for task in (pump_task, logger_task):
            task.cancel()
        lwriter.close()
        pwriter.close()
        server.close()


def test_read_set_read_minute_interval_over_tcp() -> None:
    state = {"minutes": 1, "requests": []}
    before, setting, after = asyncio.run(platform_session(state))
    assert before.ok and minute_interval_of(before) == 60
    assert setting.ok and setting.cn == "1064"
    assert after.ok and minute_interval_of(after) == 600
    # what the logger received: 1063, 1064 with MinInterval=10 (minutes), 1063
    assert state["requests"] == [("1063", None), ("1064", "10"), ("1063", None)]


@pytest.mark.parametrize("seconds", [0, 59, 420, 1801, 3600])
def test_set_minute_interval_refuses_what_hj212_does_not_allow(seconds: int) -> None:
    sent: list[bytes] = []
    channel = CommandChannel(sent.append, timeout_s=0.01, retries=0)
    with pytest.raises(ValueError, match=r"valid choices: 60, 120, .*1800"):
        asyncio.run(set_minute_interval(channel, LOGGER, seconds))
    assert sent == []  # nothing went to the logger


@pytest.mark.parametrize("seconds", [60, 1800])
def test_set_minute_interval_accepts_the_ends(seconds: int) -> None:
    sent: list[bytes] = []
    channel = CommandChannel(sent.append, timeout_s=0.01, retries=0)
    res = asyncio.run(set_minute_interval(channel, LOGGER, seconds))
    assert res.error and "timeout" in res.error  # nobody answers here; the request went out
    assert parse_packet(sent[0], max_future=None).get("MinInterval") == str(seconds // 60)
