"""The parsed form of an HJ 212 packet and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Flag bits (HJ 212-2017 Table 3): V5..V0 D A, MSB first.
FLAG_ACK = 0x01  # A: the receiver must answer
FLAG_SPLIT = 0x02  # D: the packet carries PNUM/PNO
VERSION_2005 = 0
VERSION_2017 = 1


class PacketError(ValueError):
    """A packet that cannot be used; `reason` says why, `kind` groups reasons for counting.

    kind: frame, length, crc, header, cp, time.
    """

    def __init__(self, reason: str, kind: str = "header", crc_ok: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.crc_ok = crc_ok


@dataclass(frozen=True)
class CpField:
    """One `key=value` of the data area."""

    key: str  # as sent, e.g. "a21026-Avg" or "DataTime"
    text: str  # the value as sent
    value: float | None = None  # the number, for numeric fields whose text is a number

    @property
    def code(self) -> str | None:
        """Pollutant/device code before the first '-', or None for plain keys."""
        code, dash, _ = self.key.partition("-")
        return code if dash else None

    @property
    def field(self) -> str:
        """Suffix after the first '-' ('Avg', 'ZsRtd', 'Flag'...), or the whole plain key."""
        _, dash, suffix = self.key.partition("-")
        return suffix if dash else self.key


@dataclass(frozen=True)
class Packet:
    cn: str
    qn: str | None = None
    st: str | None = None
    pw: str | None = None
    mn: str | None = None
    flag: int | None = None
    pnum: int | None = None
    pno: int | None = None
    cp: tuple[tuple[CpField, ...], ...] = ()  # ';'-separated groups of ','-separated fields
    datatime: datetime | None = None  # DataTime as an aware datetime (logger local time)
    crc: int | None = None  # CRC as computed over the received data segment
    notes: tuple[str, ...] = field(default=(), compare=False)  # tolerated deviations

    @property
    def version(self) -> int | None:
        """Protocol version bits: 0 = HJ/T 212-2005, 1 = HJ 212-2017, 2+ = newer."""
        return None if self.flag is None else self.flag >> 2

    @property
    def ack_requested(self) -> bool:
        return self.flag is not None and bool(self.flag & FLAG_ACK)

    @property
    def is_split(self) -> bool:
        return self.flag is not None and bool(self.flag & FLAG_SPLIT)

    def fields(self) -> list[CpField]:
        """All data-area fields in packet order."""
        return [f for group in self.cp for f in group]

    def get(self, key: str) -> str | None:
        """Text of the first data-area field named `key`."""
        for f in self.fields():
            if f.key == key:
                return f.text
        return None

    def pollutants(self) -> dict[str, dict[str, CpField]]:
        """code -> {suffix: field}, codes in first-seen order (a repeated key keeps the first)."""
        out: dict[str, dict[str, CpField]] = {}
        for f in self.fields():
            code = f.code
            if code is not None:
                out.setdefault(code, {}).setdefault(f.field, f)
        return out


@dataclass(frozen=True)
class ParseResult:
    ok: bool
    packet: Packet | None
    error: str | None = None
    kind: str | None = None  # PacketError.kind when not ok
    crc_ok: bool | None = None
