"""The HJ 212 server's per-packet lane: one record of a connection, filed on arrival.

A record is refused when too long or unparseable (the parser's reasons); an answer to one of
our commands is consumed by the connection's command channel (and kept in the event log); any
other packet needs a login (connections.py). An authenticated packet whose period start breaks
the reading contract's time window is refused whole; the parts of a split packet (PNUM/PNO)
wait for the rest; a whole packet then goes through `packet_outcome` — the one per-packet path,
which HJ 212 over MQTT takes too — and lands as readings or logger events, goes to the event log
(heartbeats, notices, packets without values), or to the dead letters, with the answer it asked
for: 9014/9013 when taken, 9011 QnRtn=2 when the contract refuses it whole, 9011 QnRtn=3 for a
refused login. Every record ends in exactly one place (ServerStats counts them so they add up).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from ingest.hj212 import builders
from ingest.hj212.auth import mask_passwords
from ingest.hj212.backfill import BACKFILL_INTERVAL_S
from ingest.hj212.packet import Packet
from ingest.hj212.packet_outcome import packet_outcome, refused_time
from ingest.hj212.protocol import try_parse
from ingest.hj212.readings import INTERVAL_BY_CN, labelled_start
from ingest.hj212.reassembly import Evicted

if TYPE_CHECKING:
    from ingest.hj212.connections import Connection
    from ingest.hj212.server import Hj212Server

log = logging.getLogger("envmon.hj212")


class PerPacket:
    """Files records one by one into the writer's current batch."""

    def __init__(self, server: Hj212Server):
        self.server = server
        self.config = server.config
        self.stats = server.stats

    def handle(self, conn: Connection, record: bytes, received_at: datetime) -> None:
        """`process`, except that an unexpected error dead-letters the record: nothing in a
        packet can crash the server."""
        try:
            self.process(conn, record, received_at)
        except Exception as exc:
            log.exception("%s: unexpected error handling a packet", conn.origin())
            self.dead(
                conn,
                record,
                f"internal error while handling the packet: {exc!r}",
                "internal",
                received_at,
            )

    def process(self, conn: Connection, record: bytes, received_at: datetime) -> None:
        server, cfg = self.server, self.config
        if len(record) > cfg.max_packet_bytes:
            self.dead(
                conn,
                record,
                f"packet too long: {len(record)} bytes, maximum {cfg.max_packet_bytes}",
                "too_long",
                received_at,
            )
            return
        # the time window is the reading contract's, checked once the logger is known
        result = try_parse(record, server.tz, max_future=None)
        if not result.ok or result.packet is None:
            self.dead(
                conn, record, f"{result.kind}: {result.error}", result.kind or "frame", received_at
            )
            return
        packet = result.packet
        if packet.mn == conn.mn and conn.channel.on_packet(packet):
            self.event(conn, packet, record, received_at, "answer to a platform command")
            return
        refusal = server.connections.authenticate(conn, packet)
        if refusal is not None:
            kind, reason = refusal
            self.stats.auth_failures += 1
            conn.auth_failures += 1
            self.dead(conn, record, reason, kind, received_at, mn=packet.mn)
            if packet.ack_requested and packet.qn and packet.cn not in builders.ANSWER_CNS:
                # one answer for an unknown MN, a wrong password and a locked login alike
                # (QnRtn 3), sent at the batch's time like every answer: a guesser learns nothing
                reply = builders.request_answer(packet, builders.QN_PW_ERROR)
                server.writer.current.replies.append((conn, reply))
            if conn.auth_failures >= cfg.max_auth_failures and not conn.refused:
                log.info(  # WARNING is for lockouts and throttles: a flood must not flood the log
                    "%s: %d refused packets in a row, closing",
                    conn.origin(packet.mn),
                    conn.auth_failures,
                )
                conn.refused = True
            return
        conn.auth_failures = 0
        if server.connections.bind(conn, packet):
            server.commands.logged_in(conn)
        problem = self.time_problem(packet, received_at)
        if problem is not None:
            self.refuse(conn, packet, [record], f"time: {problem}", "time", received_at)
            return
        if packet.pnum is not None:
            key = (packet.mn, packet.qn)
            conn.split_raw.setdefault(key, []).append(record)
            joined = conn.reassembler.add(packet)
            for evicted in conn.reassembler.evict():
                self.evicted(conn, evicted, received_at)
            if joined is None:
                return
            raws = conn.split_raw.pop(key, [record])
            self.accept(conn, joined, raws, received_at, parts=len(raws))
            return
        self.accept(conn, packet, [record], received_at, parts=1)

    def time_problem(self, packet: Packet, now: datetime) -> str | None:
        """Why the packet's DataTime breaks the reading contract (before `reading_earliest`,
        later than now + `reading_max_future_s`), or None. The period start its readings get is
        checked (an end-labelled packet's DataTime shifted back by its period), as the bulk lane
        checks its readings' period_start: both lanes take and refuse the same packets. Checked
        on each part of a split packet, before it is joined."""
        if packet.datatime is None or packet.cn in builders.ANSWER_CNS:
            return None
        server = self.server
        start = labelled_start(
            packet.cn, packet.datatime, server.registry.logger_facts(packet.mn or "")
        )
        problem = server.contract.time_problem(start, now)
        if problem is None:
            return None
        return refused_time(f"DataTime {packet.get('DataTime')}", problem)

    def accept(
        self, conn: Connection, packet: Packet, raws: list[bytes], received_at: datetime, parts: int
    ) -> None:
        """An authenticated, whole packet: readings, event or dead letter, and its answer."""
        server = self.server
        b = server.writer.current
        mn = packet.mn or ""
        site_id = server.connections.sites[mn]
        raw = b"\r\n".join(raws)  # the parts of a split packet, one per line
        got = packet_outcome(
            packet, site_id, server.registry, server.contract, received_at, server.tz,
            server.units,
        )  # fmt: skip
        if got.time_problem is not None:  # an event's own time (AlarmTime) outside the window
            self.refuse(conn, packet, raws, f"time: {got.time_problem}", "time", received_at)
            return
        unknown = ", ".join(map(repr, got.unknown_codes))
        if packet.cn in INTERVAL_BY_CN and got.refused and not got.rows:
            # nothing of it may land: refused, and told so
            reasons = got.refused + ([f"unknown pollutant code(s) {unknown}"] if unknown else [])
            self.refuse(
                conn, packet, raws, "contract: " + "; ".join(reasons), "contract", received_at
            )
            return
        if got.rows:
            b.rows.extend(got.rows)
            b.landed += parts
            if unknown or got.refused:  # one dead letter for the packet, all its reasons
                reasons = got.refused + (
                    [f"unknown pollutant code(s) {unknown}: no parameter mapping"]
                    if unknown
                    else []
                )
                if got.refused:
                    self.stats.contract_refused += 1
                self.dead_row(
                    conn,
                    raw,
                    ("contract: " if got.refused else "")
                    + "; ".join(reasons)
                    + " (the packet's other values landed)",
                    "contract" if got.refused else "unknown_code",
                    received_at,
                    mn,
                )
            if packet.cn in BACKFILL_INTERVAL_S and packet.datatime is not None:
                b.observed.append((conn, mn, packet.cn, packet.datatime))
        elif unknown:
            self.dead(
                conn,
                raw,
                f"unknown pollutant code(s) {unknown}: no parameter mapping, no value could be used",
                "unknown_code",
                received_at,
                mn=mn,
                records=parts,
            )
        elif got.events:  # running status and alarms land as logger events
            b.logger_events.extend(got.events)
            b.landed += parts
        else:  # kept in the event log with the reason, as offline ingest does
            self.event(conn, packet, raw, received_at, got.note, parts)
        if packet.cn not in builders.ANSWER_CNS and packet.ack_requested:
            if parts == 1:
                reply = builders.reply_for(packet)
                if reply is not None:
                    b.replies.append((conn, reply))
            else:  # split packets are answered per part, each echoing its own QN
                for part_raw in raws:
                    part = try_parse(part_raw, server.tz, max_future=None).packet
                    if part is not None and (reply := builders.reply_for(part)) is not None:
                        b.replies.append((conn, reply))

    def refuse(
        self,
        conn: Connection,
        packet: Packet,
        raws: list[bytes],
        reason: str,
        kind: str,
        received_at: datetime,
    ) -> None:
        """An authenticated packet the reading contract refuses whole: one dead letter with its
        reasons, and (when it asked for an answer) the refusal answer 9011 QnRtn=2 — not the
        data answer 9014, which would tell the logger its data were taken, and not silence,
        which leaves it resending the same packet for ever (issue 18 item 12)."""
        raw = b"\r\n".join(raws)
        self.stats.contract_refused += len(raws)
        self.dead(conn, raw, reason, kind, received_at, mn=packet.mn, records=len(raws))
        if packet.ack_requested and packet.qn and packet.cn not in builders.ANSWER_CNS:
            reply = builders.request_answer(packet, builders.QN_REJECTED)
            self.server.writer.current.replies.append((conn, reply))

    # -- where records end: dead letters and the event log ----------------------------------
    def dead_row(
        self,
        conn: Connection,
        raw: bytes,
        reason: str,
        kind: str,
        received_at: datetime,
        mn: str | None = None,
    ) -> None:
        """A dead letter beside what the record landed."""
        self.server.writer.current.dead_letter(conn.origin(mn), raw, reason, kind, received_at)

    def dead(
        self,
        conn: Connection,
        raw: bytes,
        reason: str,
        kind: str,
        received_at: datetime,
        mn: str | None = None,
        records: int = 1,
    ) -> None:
        """A whole record (or `records` split parts) goes to the dead letters."""
        self.dead_row(conn, raw, reason, kind, received_at, mn)
        self.server.writer.current.n_dead += records
        self.server.connections.refused_record(conn)

    def evicted(self, conn: Connection, evicted: Evicted, received_at: datetime) -> None:
        """The parts of a split packet that was never completed: dead letters."""
        for raw in conn.split_raw.pop(evicted.key, []):
            self.dead(
                conn, raw, f"split: {evicted.reason}", "split", received_at, mn=evicted.key[0]
            )

    def event(
        self,
        conn: Connection,
        packet: Packet,
        raw: bytes,
        received_at: datetime,
        note: str | None,
        records: int = 1,
    ) -> None:
        """The record goes to the event log (a packet that carries no readings), with a note."""
        b = self.server.writer.current
        b.events.append({
            "received_at": received_at.isoformat(), "peer": conn.peer, "mn": packet.mn,
            "site_id": self.server.connections.site_of(packet.mn), "st": packet.st,
            "cn": packet.cn, "qn": packet.qn,
            "datatime": packet.datatime.isoformat() if packet.datatime else None,
            "note": note, "raw": mask_passwords(raw)[0].decode("utf-8", errors="backslashreplace"),
        })  # fmt: skip
        b.n_events += records
