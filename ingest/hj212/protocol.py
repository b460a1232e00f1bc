"""HJ 212 framing and packet parsing/serialisation (one packet at a time).

Strict where the standard is clear (frame shape, length, CRC), tolerant where real traffic
differs (hj212.md sections 1, 2 and 9); every tolerated deviation is written to Packet.notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from ingest.hj212.codes import field_kinds
from ingest.hj212.crc import crc16
from ingest.hj212.packet import FLAG_SPLIT, CpField, Packet, PacketError, ParseResult

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")  # HJ 212 times are the logger's local time
MAX_FUTURE = timedelta(hours=1)  # clock drift accepted before a DataTime counts as future
STANDARD_MAX_SEGMENT = 1024  # HJ 212-2017 Table 2: data segment 0-1024 chars
# envmon's limit on one record (a frame without its CRLF), past the standard's for the loggers
# that send longer: the TCP server's (ServerConfig) and recorded traffic's (onboarding)
MAX_PACKET_BYTES = 16384
HEADER_KEYS = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")

_FRAME_HEAD = re.compile(rb"##[0-9]{4}")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
KEY_RE = re.compile(r"[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_time(text: str, tz: tzinfo = DEFAULT_TZ) -> datetime:
    """'YYYYMMDDhhmmss' or with milliseconds 'YYYYMMDDhhmmsszzz' -> aware datetime in tz."""
    if len(text) not in (14, 17) or not text.isascii() or not text.isdigit():
        raise ValueError(text)
    ms = int(text[14:]) if len(text) == 17 else 0
    return datetime(
        int(text[0:4]), int(text[4:6]), int(text[6:8]),
        int(text[8:10]), int(text[10:12]), int(text[12:14]), ms * 1000, tzinfo=tz,
    )  # fmt: skip


def format_time(dt: datetime, tz: tzinfo = DEFAULT_TZ, millis: bool = False) -> str:
    """Aware datetime -> HJ 212 local time text (14 digits, or 17 with milliseconds)."""
    local = dt.astimezone(tz) if dt.tzinfo else dt
    text = local.strftime("%Y%m%d%H%M%S")
    return text + f"{local.microsecond // 1000:03d}" if millis else text


def parse_number(text: str) -> float | None:
    """A decimal number as HJ 212 sends it (N14.2 etc.; exponent tolerated), else None."""
    return float(text) if NUMBER_RE.fullmatch(text) else None


def is_numeric_field(suffix: str, text: str) -> bool:
    """Known numeric suffixes are numeric; unknown suffixes are when their text is a number."""
    kind = field_kinds().get(suffix)
    return kind == "numeric" or (kind is None and NUMBER_RE.fullmatch(text) is not None)


# --- framing --------------------------------------------------------------------------------


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split a TCP receive buffer into complete CRLF-terminated records and the unfinished rest."""
    parts = buffer.split(b"\r\n")
    return parts[:-1], parts[-1]


class StreamFramer:
    """Feed TCP reads, get whole records (without CRLF); partial records wait for more bytes."""

    def __init__(self, max_record: int = 65536) -> None:
        self._buf = b""
        self.max_record = max_record

    def feed(self, data: bytes) -> Iterator[bytes]:
        records, self._buf = split_frames(self._buf + data)
        if len(self._buf) > self.max_record:  # no CRLF in sight: hand the junk over as a record
            records.append(self._buf)
            self._buf = b""
        yield from (r for r in records if r)


def frame(segment: bytes) -> bytes:
    """Wrap a data segment: '##' + 4-digit byte length + segment + CRC + CRLF."""
    if len(segment) > 9999:
        raise ValueError(f"data segment of {len(segment)} bytes does not fit a 4-digit length")
    return b"##%04d%s%04X\r\n" % (len(segment), segment, crc16(segment))


# --- parsing --------------------------------------------------------------------------------


def _unframe(raw: bytes, notes: list[str]) -> tuple[bytes, int]:
    """Check frame shape, length and CRC; return (data segment, computed CRC)."""
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    if not _FRAME_HEAD.match(raw):
        shown = raw[:20]
        raise PacketError(f"not an HJ 212 frame: does not start with '##' and 4 digits: {shown!r}", "frame")
    if len(raw) < 10:
        raise PacketError(f"not an HJ 212 frame: {len(raw)} bytes is too short", "frame")
    crc_text = raw[-4:]
    if not _HEX4.fullmatch(crc_text):
        raise PacketError(f"not an HJ 212 frame: CRC field {crc_text!r} is not 4 hex digits", "frame")
    segment = raw[6:-4]
    declared = int(raw[2:6])
    computed = crc16(segment)
    crc_ok = int(crc_text, 16) == computed
    if declared != len(segment):
        chars = len(segment.decode("utf-8", errors="replace"))
        if declared != chars:
            also = "" if crc_ok else f"; CRC also wrong (packet says {crc_text.decode()}, computed {computed:04X})"
            raise PacketError(
                f"length mismatch: header {declared:04d}, data segment {len(segment):04d} bytes{also}",
                "length", crc_ok,
            )  # fmt: skip
        notes.append(f"length counts characters ({chars}) not bytes ({len(segment)})")
    if not crc_ok:
        raise PacketError(
            f"bad CRC: packet says {crc_text.decode()}, computed {computed:04X}", "crc", False
        )
    if crc_text != crc_text.upper():
        notes.append("CRC in lower-case hex")
    if len(segment) > STANDARD_MAX_SEGMENT:
        notes.append(f"data segment longer than {STANDARD_MAX_SEGMENT} ({len(segment)} bytes)")
    return segment, computed


def _digits(name: str, text: str, width: int | None = None) -> int:
    if not (text.isascii() and text.isdigit()) or (width is not None and len(text) != width):
        want = f"{width} digits" if width else "digits"
        raise PacketError(f"{name} {text!r} is not {want}", "header")
    return int(text)


def _parse_header(text: str, notes: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for piece in text.split(";"):
        if not piece:
            continue
        if piece.startswith(","):
            notes.append(f"stray ',' before header field {piece[1:]!r}")
            piece = piece.lstrip(",")
        name, eq, value = piece.partition("=")
        if not eq:
            raise PacketError(f"malformed header field {piece!r}", "header")
        if name not in HEADER_KEYS:
            canonical = next((k for k in HEADER_KEYS if k.upper() == name.upper()), None)
            if canonical is None:
                raise PacketError(f"unknown header field {name!r}", "header")
            notes.append(f"header field {name!r} read as {canonical!r}")
            name = canonical
        if name in values:
            raise PacketError(f"header field {name!r} repeated", "header")
        values[name] = value
    return values


def _parse_cp(body: str, offset: int, notes: list[str]) -> tuple[tuple[CpField, ...], ...]:
    groups: list[tuple[CpField, ...]] = []
    pos = offset
    for group_text in body.split(";") if body else ():
        group: list[CpField] = []
        for item in group_text.split(","):
            if not item:
                notes.append(f"empty data-area item at position {pos}")
                pos += 1
                continue
            key, eq, text = item.partition("=")
            if not eq or not KEY_RE.fullmatch(key) or "=" in text:
                raise PacketError(f"malformed CP item {item!r} at position {pos}", "cp")
            suffix = key.partition("-")[2]
            value = None
            if suffix and is_numeric_field(suffix, text):
                value = parse_number(text)
                if value is None:
                    notes.append(f"non-numeric value {text!r} for {key}")
            elif key == "Flag":
                notes.append(f"bare 'Flag={text}' item (sender bug: code missing)")
            group.append(CpField(key, text, value))
            pos += len(item) + 1
        if group:
            groups.append(tuple(group))
        elif group_text:
            pass
    return tuple(groups)


def parse_packet(
    raw: bytes,
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    max_future: timedelta | None = MAX_FUTURE,
) -> Packet:
    """Parse one packet (with or without its CRLF). Raises PacketError only.

    `now` (default: the clock) and `max_future` bound DataTime: a DataTime later than
    now + max_future is rejected as a future timestamp; max_future=None disables the check.
    """
    try:
        return _parse(raw, tz, now, max_future)
    except PacketError:
        raise
    except Exception as exc:  # a bug or an input nobody foresaw: still only a PacketError
        raise PacketError(f"unparseable packet ({type(exc).__name__}: {exc})", "frame") from exc


def _parse(raw: bytes, tz: tzinfo, now: datetime | None, max_future: timedelta | None) -> Packet:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise PacketError(f"expected bytes, got {type(raw).__name__}", "frame")
    raw = bytes(raw)
    notes: list[str] = []
    segment, computed = _unframe(raw, notes)
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError:
        text = segment.decode("utf-8", errors="replace")
        notes.append("data segment is not valid UTF-8 (bad bytes replaced)")
    cp_at = text.find("CP=&&")
    if cp_at < 0:
        raise PacketError("no data area: 'CP=&&' missing", "header")
    if not text.endswith("&&") or len(text) < cp_at + 7:
        raise PacketError("data area not closed by '&&'", "cp")
    header_text = text[:cp_at]
    if header_text and not header_text.endswith(";"):
        raise PacketError(f"malformed header before CP: {header_text[-20:]!r}", "header")
    head = _parse_header(header_text, notes)
    st = head.get("ST")
    if st is not None and st and set(st) == {"\x00"}:
        notes.append("ST is NUL bytes (read as absent)")
        st = None
    control = _CONTROL.search(text)
    if control and not (control.start() < cp_at and st is None and "ST" in head):
        raise PacketError(
            f"control character 0x{ord(control.group()):02X} at position {control.start()}", "header"
        )
    if control and _CONTROL.search(text, cp_at):
        raise PacketError("control character in the data area", "cp")
    if "CN" not in head:
        raise PacketError("CN missing", "header")
    cn = head["CN"]
    _digits("CN", cn, 4)
    if st is not None:
        if not st or not st.isascii() or not st.isalnum():
            raise PacketError(f"ST {st!r} is not a system code", "header")
        if len(st) != 2:
            notes.append(f"non-standard ST {st!r}")
    qn = head.get("QN")
    if qn is not None:
        _digits("QN", qn)
        if len(qn) != 17:
            notes.append(f"QN has {len(qn)} digits, not 17")
    flag = None
    if "Flag" in head:
        flag = _digits("Flag", head["Flag"])
        if flag > 255:
            raise PacketError(f"Flag {flag} is not 0-255", "header")
        if flag >> 2 > 1:
            notes.append(f"protocol version bits {flag >> 2} unknown (read as HJ 212-2017 compatible)")
    pnum = pno = None
    if "PNUM" in head or "PNO" in head:
        if "PNUM" not in head or "PNO" not in head:
            raise PacketError("split packet needs both PNUM and PNO", "header")
        pnum, pno = _digits("PNUM", head["PNUM"]), _digits("PNO", head["PNO"])
        if not 1 <= pno <= pnum:
            raise PacketError(f"PNO {pno} outside 1..PNUM {pnum}", "header")
        if flag is None or not flag & FLAG_SPLIT:
            notes.append("PNUM/PNO present but Flag bit D not set")
    elif flag is not None and flag & FLAG_SPLIT:
        raise PacketError("Flag bit D (split packet) set but PNUM/PNO missing", "header")
    cp = _parse_cp(text[cp_at + 5 : -2], cp_at + 5, notes)
    datatime = None
    dt_text = next((f.text for g in cp for f in g if f.key == "DataTime"), None)
    if dt_text is not None:
        try:
            datatime = parse_time(dt_text, tz)
        except ValueError:
            raise PacketError(
                f"DataTime {dt_text!r} not a valid time (YYYYMMDDhhmmss or with 3 ms digits)", "time"
            ) from None
        if len(dt_text) == 17:
            notes.append("DataTime with milliseconds (17 digits)")
        if max_future is not None:
            limit = (now or datetime.now(tz)) + max_future
            if datatime > limit:
                raise PacketError(
                    f"future timestamp: DataTime {datatime.isoformat()} is after {limit.isoformat()}",
                    "time",
                )
    return Packet(
        cn=cn, qn=qn, st=st, pw=head.get("PW"), mn=head.get("MN"), flag=flag, pnum=pnum, pno=pno,
        cp=cp, datatime=datatime, crc=computed, notes=tuple(notes),
    )  # fmt: skip


def try_parse(
    raw: bytes,
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    max_future: timedelta | None = MAX_FUTURE,
) -> ParseResult:
    """Like parse_packet, but returns the outcome instead of raising."""
    try:
        packet = parse_packet(raw, tz, now, max_future)
    except PacketError as exc:
        return ParseResult(False, None, exc.reason, exc.kind, exc.crc_ok)
    return ParseResult(True, packet, None, None, True)


# --- serialisation --------------------------------------------------------------------------


def encode_cp(groups: Iterable[Iterable[tuple[str, str]]]) -> str:
    """[[(key, text), ...], ...] -> 'k=v,k=v;k=v' (the inside of CP=&&...&&)."""
    return ";".join(",".join(f"{k}={v}" for k, v in g) for g in groups)


def data_segment(packet: Packet) -> bytes:
    """The data segment of `packet`: header fields present, then CP=&&...&&."""
    parts = []
    for name, value in (
        ("QN", packet.qn), ("ST", packet.st), ("CN", packet.cn), ("PW", packet.pw),
        ("MN", packet.mn), ("Flag", packet.flag),
    ):  # fmt: skip
        if value is not None:
            parts.append(f"{name}={value}")
    if packet.pnum is not None and packet.pno is not None:
        parts.append(f"PNUM={packet.pnum:04d}")
        parts.append(f"PNO={packet.pno:04d}")
    body = encode_cp(((f.key, f.text) for f in g) for g in packet.cp)
    parts.append(f"CP=&&{body}&&")
    return ";".join(parts).encode("utf-8")


def serialize(packet: Packet) -> bytes:
    """A complete frame for `packet`, CRLF included."""
    return frame(data_segment(packet))
