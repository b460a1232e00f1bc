"""Packets the platform sends: answers to a logger's packets and commands to a logger.

Codes per HJ 212-2017 Table 9 (CN) and Tables 6/7 (ExeRtn, QnRtn); see hj212.md section 5.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo

from ingest.hj212.packet import VERSION_2017, Packet
from ingest.hj212.protocol import DEFAULT_TZ, format_time, serialize
from ingest.hj212.protocol import encode_cp as encode_cp

ST_SYSTEM = "91"  # system interaction (Table 5)
CN_REQUEST_ANSWER = "9011"
CN_EXECUTION_RESULT = "9012"
CN_NOTICE_ANSWER = "9013"
CN_DATA_ANSWER = "9014"
CN_GET_TIME = "1011"
CN_SET_TIME = "1012"
CN_REALTIME = "2011"
CN_STATUS = "2021"
CN_DAY = "2031"
CN_MINUTE = "2051"
CN_HOUR = "2061"
# the platform's answers: never answered in turn
ANSWER_CNS = frozenset({CN_REQUEST_ANSWER, CN_EXECUTION_RESULT, CN_NOTICE_ANSWER, CN_DATA_ANSWER})
QN_READY, QN_REJECTED, QN_PW_ERROR, QN_CRC_ERROR = 1, 2, 3, 9
EXE_SUCCESS, EXE_FAILED, EXE_NO_DATA = 1, 2, 100


def _flag(ack: bool, version: int = VERSION_2017) -> int:
    return (version << 2) | (1 if ack else 0)


def new_qn(at: datetime | None = None, tz: tzinfo = DEFAULT_TZ) -> str:
    """A request id: local time with milliseconds, 17 digits."""
    return format_time(at or datetime.now(tz), tz, millis=True)


def _reply(to: Packet, cn: str, cp: list[tuple[str, str]], with_qn_in_cp: bool) -> bytes:
    items = ([("QN", to.qn)] if with_qn_in_cp and to.qn else []) + cp
    version = to.version if to.version is not None else 0
    return serialize(
        Packet(
            cn=cn, qn=to.qn, st=ST_SYSTEM, pw=to.pw, mn=to.mn, flag=_flag(False, min(version, 1)),
            cp=(tuple(_fields(items)),) if items else (),
        )
    )  # fmt: skip


def _fields(items: Iterable[tuple[str, str]]):
    from ingest.hj212.packet import CpField

    return [CpField(k, str(v)) for k, v in items]


def data_answer(to: Packet) -> bytes:
    """9014: answer to an upload whose Flag has A=1, echoing its QN, PW and MN; CP=&&&&."""
    return _reply(to, CN_DATA_ANSWER, [], with_qn_in_cp=False)


def notice_answer(to: Packet) -> bytes:
    """9013: answer to a notice (e.g. 1013 time-calibration request)."""
    return _reply(to, CN_NOTICE_ANSWER, [], with_qn_in_cp=False)


def request_answer(to: Packet, qn_rtn: int = QN_READY) -> bytes:
    """9011: answer to a request (QnRtn, Table 7)."""
    return _reply(to, CN_REQUEST_ANSWER, [("QnRtn", str(qn_rtn))], with_qn_in_cp=False)


def execution_result(to: Packet, exe_rtn: int = EXE_SUCCESS) -> bytes:
    """9012: result of executing a request (ExeRtn, Table 6)."""
    return _reply(to, CN_EXECUTION_RESULT, [("ExeRtn", str(exe_rtn))], with_qn_in_cp=False)


def reply_for(packet: Packet) -> bytes | None:
    """The answer the platform owes `packet`, or None: 9014 for data uploads with A=1."""
    if not packet.ack_requested:
        return None
    if packet.cn in ("1013",):
        return notice_answer(packet)
    return data_answer(packet)


def command(
    cn: str, mn: str, pw: str, st: str, cp: Iterable[tuple[str, str]] = (),
    qn: str | None = None, ack: bool = True, tz: tzinfo = DEFAULT_TZ,
) -> bytes:  # fmt: skip
    """A platform -> logger request with a fresh QN (A=1 asks the logger to answer 9011)."""
    items = list(cp)
    return serialize(
        Packet(
            cn=cn, qn=qn or new_qn(tz=tz), st=st, pw=pw, mn=mn, flag=_flag(ack),
            cp=(tuple(_fields(items)),) if items else (),
        )
    )  # fmt: skip


def set_clock(mn: str, pw: str, st: str, at: datetime, tz: tzinfo = DEFAULT_TZ, **kw) -> bytes:
    """1012: set the logger's clock to `at` (sent as local time in tz)."""
    return command(CN_SET_TIME, mn, pw, st, [("SystemTime", format_time(at, tz))], tz=tz, **kw)


def read_clock(mn: str, pw: str, st: str, pol_id: str | None = None, **kw) -> bytes:
    """1011: ask the logger (or one instrument, PolId) for its time."""
    return command(CN_GET_TIME, mn, pw, st, [("PolId", pol_id)] if pol_id else [], **kw)


def request_history(
    cn: str, mn: str, pw: str, st: str, begin: datetime, end: datetime,
    tz: tzinfo = DEFAULT_TZ, **kw,
) -> bytes:  # fmt: skip
    """2051/2061/2031: ask for minute/hourly/daily data of [begin, end] (BeginTime/EndTime)."""
    if cn not in (CN_MINUTE, CN_HOUR, CN_DAY):
        raise ValueError(f"history requests are CN 2051, 2061 or 2031, not {cn}")
    cp = [("BeginTime", format_time(begin, tz)), ("EndTime", format_time(end, tz))]
    return command(cn, mn, pw, st, cp, tz=tz, **kw)
