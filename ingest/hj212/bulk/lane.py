"""The HJ 212 server's bulk lane: plain data uploads parsed together when their batch is written.

A plain data upload on a connection whose logger already logged in (same MN, password and ST,
not split, no command of ours pending: checked on the raw header, `takes`) is only queued on
arrival. When its batch is written, all such records are parsed together with `parse_batch` in
a worker thread (CRC, grammar, readings), the reading contract applied and the readings put in
their sites' units (ingest/site_units.py). Whatever that does not land whole (rejections aside,
which keep the per-packet parser's reasons) takes the per-packet path (per_packet.py), so both
lanes file a record the same way and give the same answers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from ingest.hj212 import builders
from ingest.hj212.backfill import BACKFILL_INTERVAL_S
from ingest.hj212.bulk import Rejected, parse_batch
from ingest.hj212.packet import FLAG_SPLIT, Packet
from ingest.hj212.readings import INTERVAL_BY_CN, labelled_start, reading_origin
from ingest.site_units import convert_table

if TYPE_CHECKING:
    from ingest.hj212.connections import Connection
    from ingest.hj212.server import Hj212Server
    from ingest.hj212.writer import Batch

log = logging.getLogger("envmon.hj212")

# The header of a plain data upload, read from the raw bytes to pick the bulk lane (the CRC and
# everything else are still checked there, by the bulk parser).
UPLOAD_HEADER = re.compile(
    rb"##\d{4}QN=\d*;ST=([^;]*);CN=(\d{4});PW=([^;]*);MN=([^;]*);Flag=(\d{1,3});CP=&&"
)
DATA_CNS = frozenset(cn.encode() for cn in INTERVAL_BY_CN)

Item = tuple["Connection", bytes, datetime]  # a queued record: its connection, bytes, arrival


@dataclass
class BulkPlan:
    """What the bulk parse of a batch's bulk lane decided, by position in the lane."""

    rejected: dict[int, Rejected]
    packets: dict[int, tuple] = field(default_factory=dict)  # landed: qn, st, cn, pw, mn, flag, dt
    table: pa.Table | None = None  # their readings, in the site's units


class BulkLane:
    """Queues plain uploads in the current batch; parses and files them before it is written."""

    def __init__(self, server: Hj212Server):
        self.server = server
        self.enabled = isinstance(server.tz, ZoneInfo)  # the bulk parser needs a zoneinfo zone

    def takes(self, conn: Connection, record: bytes) -> bool:
        """A plain data upload of the logger this connection is bound to (same MN, password and
        ST, not split, no command of ours waiting for it): parsed in bulk when its batch is
        written. Anything else (first packet, logins, answers, split packets) is per packet."""
        if (
            not self.enabled
            or conn.upload_key is None
            or len(record) > self.server.config.max_packet_bytes
            or conn.channel.busy
        ):
            return False
        m = UPLOAD_HEADER.match(record)
        if m is None or m[2] not in DATA_CNS or int(m[5]) & FLAG_SPLIT:
            return False
        connections = self.server.connections
        return (m[4], m[3], m[1]) == conn.upload_key and connections.by_mn.get(
            conn.mn or ""
        ) is conn

    async def resolve(self, b: Batch) -> None:
        """Parse the batch's bulk-lane records together (in a thread), then file each one: its
        readings, its dead letter, or, for anything but a plain landed upload, the per-packet
        path (same reasons, events and answers as if it had been handled on arrival)."""
        items, b.fast = b.fast, []
        if not items:
            return
        try:
            plan: BulkPlan | None = await asyncio.to_thread(self.plan, items)
        except Exception:  # never lose records to a bulk-parser bug: the per-packet path takes them
            log.exception("bulk parse of %d records failed; handling them one by one", len(items))
            plan = None
        with self.server.writer.filing_into(b):  # the per-packet path files into batch b
            self.file(b, items, plan)

    def plan(self, items: list[Item]) -> BulkPlan:
        """The bulk parse of the queued records and which of them land whole (a worker thread)."""
        server = self.server
        registry, contract = server.registry, server.contract
        got = parse_batch(
            [raw for _, raw, _ in items],
            site_of=server.connections.site_of,
            facts_of=registry.logger_facts,
            tz=server.tz,
            max_future=None,  # the reading contract's time window is applied below
        )
        plan = BulkPlan(rejected={r.record: r for r in got.rejected})
        # only plain uploads whose readings all landed take the bulk lane to the end
        per_packet = {r for r, _ in got.unknown_codes}
        per_packet |= {r for r, _ in got.unknown_mn} | {r for r, _ in got.skipped}
        # a non-finite value ("Infinity") is carried by its reading (readings.py) and refused by
        # the contract below: the packet goes per packet, which files it with its reason
        pk = got.packets.select("record", "qn", "st", "cn", "pw", "mn", "flag", "pnum", "datatime")
        cand: dict[tuple[str, datetime], list[int]] = {}
        for rec, qn, st, cn, pw, mn, flag, pnum, dt in pk.iter_rows():
            key = items[rec][0].upload_key
            if (
                rec in per_packet or pnum is not None or dt is None or key is None
                or (mn or "").encode() != key[0] or (pw or "").encode() != key[1]
            ):  # fmt: skip
                continue
            plan.packets[rec] = (qn, st, cn, pw, mn, flag, dt)
            # its readings' start
            start = labelled_start(cn, dt, registry.logger_facts(mn or ""))
            cand.setdefault((reading_origin(mn, qn), start), []).append(rec)
        # a reading names its packet by (origin, period_start): ambiguous keys go per packet
        keys = [(k, recs[0]) for k, recs in cand.items() if len(recs) == 1]
        for recs in cand.values():
            if len(recs) > 1:
                for rec in recs:
                    del plan.packets[rec]
        readings = pl.from_arrow(got.readings)
        assert isinstance(readings, pl.DataFrame)
        ts = readings.schema["period_start"]
        index = pl.DataFrame(
            {
                "origin": [k[0] for k, _ in keys],
                "period_start": [k[1] for k, _ in keys],
                "_record": [rec for _, rec in keys],
                "_received_at": [items[rec][2] for _, rec in keys],
            },
            schema={"origin": pl.String, "period_start": ts, "_record": pl.Int64,
                    "_received_at": readings.schema["received_at"]},
        )  # fmt: skip
        rows = (
            readings.with_row_index("_i")
            .join(index, on=["origin", "period_start"], how="inner")
            .sort("_i")
        )
        # the reading contract (time window, finite values, flags, unit): a packet with any
        # refused reading goes per packet, which files it with its reasons and answers it
        if rows.height:
            now = min(received for _, _, received in items)  # as strict as the per-packet check
            kept, refused = contract.split(rows.to_arrow(), now)
            bad = rows[[i for i, _ in refused]]["_record"].unique().to_list() if refused else []
            kept_rows = pl.from_arrow(kept)  # blank flags as none, as the per-packet lane has them
            assert isinstance(kept_rows, pl.DataFrame)
            rows = kept_rows
            if bad:
                rows = rows.filter(~pl.col("_record").is_in(bad))
                for rec in bad:
                    plan.packets.pop(rec, None)
        landed = set(rows["_record"].unique().to_list())
        for rec in list(plan.packets):
            if rec not in landed:  # no readings after all (e.g. no values): per packet
                del plan.packets[rec]
        rows = rows.with_columns(received_at=pl.col("_received_at")).drop(
            "_i", "_record", "_received_at"
        )
        plan.table = convert_table(rows, server.units).to_arrow().cast(got.readings.schema)
        return plan

    def file(self, b: Batch, items: list[Item], plan: BulkPlan | None) -> None:
        """Each queued record where the plan puts it; the rest per packet."""
        server = self.server
        if plan is not None and plan.table is not None and plan.table.num_rows:
            b.tables.append(plan.table)
        for rec, (conn, raw, received_at) in enumerate(items):
            rejected = plan.rejected.get(rec) if plan is not None else None
            landed = plan.packets.get(rec) if plan is not None else None
            if rejected is not None:
                kind = rejected.kind or None
                server.per_packet.dead(
                    conn, raw, f"{kind}: {rejected.reason}", kind or "frame", received_at
                )
            elif landed is not None:
                qn, st, cn, pw, mn, flag, dt = landed
                b.landed += 1
                b.bulk_landed += 1
                if cn in BACKFILL_INTERVAL_S:
                    b.observed.append((conn, mn, cn, dt.astimezone(server.tz)))
                packet = Packet(cn=cn, qn=qn, st=st, pw=pw, mn=mn, flag=flag)
                if (reply := builders.reply_for(packet)) is not None:
                    b.replies.append((conn, reply))
            else:
                server.per_packet.handle(conn, raw, received_at)
