"""Recorded HJ 212 traffic, offline: land it with the server's checks, and onboard its loggers.

- `process_records` files each record exactly where the TCP server files it (ingest/hj212/
  server.py), without answering anybody: too long, unparseable (the per-packet parser's
  reasons), no MN, unknown MN, wrong password -> dead letters with the raw bytes; split packets
  joined (incomplete ones dead-lettered); data packets -> readings (the logger's minute interval
  and period label from the registry, values in the outlet's units), unknown pollutant codes
  -> a dead letter beside the packet's landed values; CN 2021 / 2072 -> logger events; other
  packets (heartbeats, answers, notices) -> the server's event log.
- `land_files` does that for files (one packet per line, CRLF or LF, gzip allowed).
- `unknown_loggers` lists the MNs of the unknown-MN dead letters (from their raw bytes), with
  what their traffic shows (ingest/hj212/detect.py); `enrol_yaml` writes registry stubs for them.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import polars as pl
import pyarrow as pa

from core.contract import ReadingContract
from core.installation_key import password_hmac, same_hash
from core.landing import BatchRef, LandingZone
from core.registry.config import Registry
from core.registry.models import ENROLLED_ID_PREFIX, PASSWORD_PLACEHOLDER
from core.schema import READINGS_SCHEMA
from ingest.hj212 import builders
from ingest.hj212.auth import MASK, MASK_NOTE, mask_passwords
from ingest.hj212.bulk import parse_records
from ingest.hj212.bulk.readings import readings_from_tables
from ingest.hj212.codes import map_code
from ingest.hj212.detect import LoggerHabits, detect_habits
from ingest.hj212.events import (
    EVENT_CNS,
    EventError,
    append_event_log,
    events_table,
    packet_to_events,
)
from ingest.hj212.packet_outcome import reading_code, refused_time
from ingest.hj212.protocol import DEFAULT_TZ, MAX_PACKET_BYTES, frame, try_parse
from ingest.hj212.readings import INTERVAL_BY_CN, SOURCE_KIND, labelled_start, packet_to_readings
from ingest.hj212.reassembly import Reassembler
from ingest.site_units import SiteUnits, convert_table

# the server's limits offline: a record's length is protocol.MAX_PACKET_BYTES (ServerConfig's
# default); the time window and the values are the reading contract's (core/contract.py)
UNKNOWN_MN_PREFIX = "unknown MN "


_DATATIME = re.compile(rb"DataTime=([^;,&]*)")
_MN = re.compile(rb"[;&]MN=([^;&]*)")


def _masked(pw: str | None) -> bool:
    """A password value that is only asterisks (as masked in dead letters), or none at all."""
    return not pw or pw.strip("*") == ""


def read_file_records(path: str | Path) -> list[bytes]:
    """The records of a recorded-traffic file: CRLF-separated (as on the wire), or LF-separated
    when the file has no CRLF; gzip read transparently; empty lines skipped."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    sep = b"\r\n" if b"\r\n" in data else b"\n"
    return [r for r in data.split(sep) if r]


@dataclass
class Processed:
    """Where each record went (status per record) and what is to be written."""

    status: list[str]  # per record: landed | event | logged | dead
    readings: pa.Table
    events: list[dict] = field(default_factory=list)  # logger-event rows (CN 2021/2072)
    dead: list[dict] = field(default_factory=list)  # dead-letter rows (+ "record", "kind")
    log: list[dict] = field(default_factory=list)  # the server's event-log entries
    reading_records: list[int] = field(default_factory=list)  # the record of each reading row

    def count(self, status: str) -> int:
        return sum(1 for s in self.status if s == status)

    def subset(self, keep: set[int]) -> Processed:
        """What the records in `keep` alone give (statuses of the others become 'skipped')."""
        rows = [j for j, r in enumerate(self.reading_records) if r in keep]
        return Processed(
            [s if i in keep else "skipped" for i, s in enumerate(self.status)],
            self.readings.take(pa.array(rows, pa.int64())),
            [e for e in self.events if e["record"] in keep],
            [d for d in self.dead if d["record"] in keep],
            [e for e in self.log if e["record"] in keep],
            [self.reading_records[j] for j in rows],
        )


def process_records(
    records: Sequence[bytes],
    registry: Registry,
    origin_of: Callable[[int, str | None], str],
    received_at: datetime | Sequence[datetime],
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    max_packet_bytes: int = MAX_PACKET_BYTES,
    contract: ReadingContract | None = None,
    password_key: bytes | None = None,
    tried_passwords: dict[int, str] | None = None,
    authenticated: frozenset[int] | set[int] = frozenset(),
) -> Processed:
    """File every record as the HJ 212 server would (no answers); nothing is written here.

    `password_key` (the installation key): an unknown-MN dead letter's reason then carries the
    keyed hash of the password tried (`[pw hmac-sha256:...]`; the raw bytes keep none), so that
    a retry after enrolment can check it. `tried_passwords`: record -> that hash, for records
    whose PW is masked (`envmon deadletters retry`): the hash is checked instead.
    `authenticated`: records whose masked PW was checked when they arrived (dead letters the
    server refused after the login: contract, time, unknown code, split); any other masked PW
    never matches.

    The reading contract (`contract`, default the settings'; as the server) applies: a packet
    whose period start (an end label shifted back, `labelled_start`) is before
    `reading_earliest` or later than its arrival + `reading_max_future_s` is refused whole
    ("time: ..."); a reading with a non-finite value, an unknown flag or no unit is refused
    ("contract: ...", the packet's other readings land).
    """
    contract = contract or ReadingContract.from_settings()
    tried = tried_passwords or {}
    n = len(records)
    received = (
        [received_at.astimezone(UTC)] * n
        if isinstance(received_at, datetime)
        else [r.astimezone(UTC) for r in received_at]
    )
    loggers = {o.logger.mn: (site, o.logger.password) for site, (_, o) in registry.outlets.items()}
    status = ["dead"] * n
    dead: list[dict] = []
    log: list[dict] = []
    events: list[dict] = []
    split_rows: list[dict] = []  # readings of joined split packets

    def kill(i: int, reason: str, kind: str, mn: str | None = None, whole: bool = True) -> None:
        raw, masked = mask_passwords(records[i])  # as the server: no password is ever kept
        if masked:
            reason = f"{reason} {MASK_NOTE}"
        dead.append({"record": i, "kind": kind, "origin": origin_of(i, mn), "reason": reason,
                     "raw": raw, "received_at": received[i]})  # fmt: skip
        if whole:
            status[i] = "dead"

    keep = []
    for i, r in enumerate(records):
        if len(r) > max_packet_bytes:
            kill(i, f"packet too long: {len(r)} bytes, maximum {max_packet_bytes}", "too_long")
        else:
            keep.append(i)
    sub = [records[i] for i in keep]
    bulk = parse_records(sub, tz=tz, now=now, max_future=None)  # the contract's window: below
    for rej in bulk.rejected:
        kind = rej.kind or None
        kill(keep[rej.record], f"{kind}: {rej.reason}", kind or "frame")

    data_recs: list[int] = []  # positions in `sub`
    splits = Reassembler(timeout_s=0.0)
    split_raw: dict[tuple, list[int]] = defaultdict(list)
    pk = bulk.packets.select("record", "qn", "st", "cn", "pw", "mn", "pnum", "datatime")
    for rec, qn, st, cn, pw, mn, pnum, dt in pk.iter_rows():
        i = keep[rec]
        if not mn:
            kill(i, "no MN in the packet: cannot tell which logger sent it", "unknown_mn")
            continue
        entry = loggers.get(mn)
        if entry is None:
            reason = f"unknown MN {mn!r}: no outlet in the registry has this logger"
            if password_key is not None and pw and pw != MASK.decode():
                reason += f" [pw {password_hmac(password_key, mn, pw)}]"
            elif i in tried:
                reason += f" [pw {tried[i]}]"
            kill(i, reason, "unknown_mn", mn)
            continue
        site_id, password = entry
        masked_ok = (
            i in tried and pw == MASK.decode() and password_key is not None
            and same_hash(tried[i], password_hmac(password_key, mn, password))
        )  # fmt: skip
        # a masked PW (******) never matches by itself, whatever the registry holds (review I8)
        if _masked(pw) and i in authenticated:
            masked_ok = True  # its login was checked on arrival (the server's dead letter)
        if (pw != password or _masked(pw)) and not masked_ok:
            kill(
                i, f"wrong password for MN {mn!r} (logger of outlet {site_id})", "bad_password", mn
            )
            continue
        if dt is not None and cn not in builders.ANSWER_CNS:  # per_packet.PerPacket.time_problem
            start = labelled_start(cn, dt, registry.logger_facts(mn))
            if (problem := contract.time_problem(start, now or received[i])) is not None:
                raw_dt = _DATATIME.search(sub[rec])
                sent = raw_dt[1].decode("ascii", "replace") if raw_dt else dt.isoformat()
                kill(i, f"time: {refused_time(f'DataTime {sent}', problem)}", "time", mn)
                continue
        if pnum is not None:
            packet = try_parse(sub[rec], tz, now, None).packet
            assert packet is not None
            split_raw[(mn, qn)].append(i)
            joined = splits.add(packet)
            if joined is not None:
                parts = split_raw.pop((mn, qn))
                _per_packet(joined, parts, site_id, registry, received, status, events, log, kill, tz,
                            split_rows)  # fmt: skip
            continue
        if cn in INTERVAL_BY_CN:
            data_recs.append(rec)
        elif cn in EVENT_CNS:
            packet = try_parse(sub[rec], tz, now, None).packet
            assert packet is not None
            _event_or_log(packet, i, site_id, registry, received[i], status, events, log, tz)
        else:
            status[i] = "logged"
            log.append(_log_entry(i, mn, site_id, st, cn, qn, dt, f"CN {cn} carries no readings",
                                  records[i], received[i]))  # fmt: skip
    for evicted in splits.drain():
        for i in split_raw.pop(evicted.key, []):
            kill(i, f"split: {evicted.reason}", "split", evicted.key[0])

    # the data packets, in bulk (the same readings as the per-packet conversion)
    data = bulk.packets.filter(pl.col("record").is_in(data_recs))
    got = readings_from_tables(
        data, bulk.values, sub.__getitem__, received[0] if received else datetime.now(UTC), tz,
        registry.outlet_by_mn, now, None, facts_of=registry.logger_facts,
    )  # fmt: skip
    table = got.table
    landed = {keep[r] for r in got.records}
    if len(set(received)) > 1 and table.num_rows:  # each row keeps its own record's time
        times = pa.array(
            [received[keep[r]] for r in got.records], READINGS_SCHEMA.field("received_at").type
        )
        table = table.set_column(table.schema.get_field_index("received_at"), "received_at", times)
    for i in landed:
        status[i] = "landed"
    unknown: dict[int, list[str]] = defaultdict(list)
    for rec, code in got.unknown_codes:
        unknown[rec].append(code)
    info = {r: (mn, st, cn, qn, dt) for r, mn, st, cn, qn, dt in
            data.select("record", "mn", "st", "cn", "qn", "datatime").iter_rows()}  # fmt: skip
    for rec, codes in unknown.items():
        i, mn = keep[rec], info[rec][0]
        names = ", ".join(map(repr, codes))
        if i in landed:
            kill(i, f"unknown pollutant code(s) {names}: no parameter mapping (the packet's other "
                 "values landed)", "unknown_code", mn, whole=False)  # fmt: skip
        else:
            kill(i, f"unknown pollutant code(s) {names}: no parameter mapping, no value could be "
                 "used", "unknown_code", mn)  # fmt: skip
    for rec in data_recs:
        i = keep[rec]
        if i not in landed and rec not in unknown:
            mn, st, cn, qn, dt = info[rec]
            why = dict(got.skipped).get(rec, "data packet without values")
            status[i] = "logged"
            log.append(_log_entry(i, mn, registry.outlet_by_mn.get(mn or ""), st, cn, qn, dt, why,
                                  records[i], received[i]))  # fmt: skip
    row_records = [keep[r] for r in got.records]
    if split_rows:
        table = pa.concat_tables([table, pa.Table.from_pylist(split_rows, schema=READINGS_SCHEMA)])
        row_records += [r["record"] for r in split_rows]
    table, row_records = _apply_contract(
        table, row_records, contract, now or max(received, default=datetime.now(UTC)), status,
        kill, records,
    )  # fmt: skip
    return Processed(status, table_to_site_units(table, registry), events, dead, log, row_records)


def _apply_contract(table, row_records, contract, now, status, kill, records):  # type: ignore[no-untyped-def]
    """The reading contract on the readings (finite values, flags, unit; the time window was
    checked per packet): refused readings go to a dead letter of their packet with the reasons,
    as the server files them ("contract: ..."; "(the packet's other values landed)" when some did)."""
    kept, refused = contract.split(table, now)
    if not refused:
        return kept, row_records
    bad_rows = {j for j, _ in refused}
    reasons: dict[int, list[str]] = defaultdict(list)
    for j, why in refused:
        row = table.slice(j, 1).to_pylist()[0]
        reasons[row_records[j]].append(f"{row['parameter']} ({reading_code(row)}): {why}")
    left = [r for j, r in enumerate(row_records) if j not in bad_rows]
    still = set(left)
    for i, why in reasons.items():
        mn = try_mn(records[i])
        if i in still:
            kill(i, "contract: " + "; ".join(why) + " (the packet's other values landed)",
                 "contract", mn, whole=False)  # fmt: skip
        else:
            kill(i, "contract: " + "; ".join(why), "contract", mn)
    return kept, left


def try_mn(raw: bytes) -> str | None:
    m = _MN.search(raw)
    return m[1].decode("ascii", "replace") if m else None


def _log_entry(i, mn, site_id, st, cn, qn, dt, note, raw, received_at) -> dict:
    return {
        "received_at": received_at.isoformat(), "peer": None, "mn": mn, "site_id": site_id,
        "st": st, "cn": cn, "qn": qn, "datatime": dt.isoformat() if dt else None, "note": note,
        "raw": mask_passwords(raw)[0].decode("utf-8", errors="backslashreplace"), "record": i,
    }  # fmt: skip


def _event_or_log(packet, i, site_id, registry, received_at, status, events, log, tz) -> None:
    try:
        rows = packet_to_events(
            packet, site_id, received_at, registry.logger_facts(packet.mn or ""), tz
        )
    except EventError as exc:
        status[i] = "logged"
        log.append(_log_entry(i, packet.mn, site_id, packet.st, packet.cn, packet.qn, packet.datatime,
                              str(exc), b"", received_at))  # fmt: skip
        return
    status[i] = "event"
    events.extend({**r, "record": i} for r in rows)


def _per_packet(
    packet, parts, site_id, registry, received, status, events, log, kill, tz, rows
) -> None:
    """A joined split packet: readings, event or log entry, per packet (as the server)."""
    i = parts[0]
    if packet.cn in INTERVAL_BY_CN:
        res = packet_to_readings(
            packet, {packet.mn: site_id}, received[i], facts_of=registry.logger_facts
        )
        if res.rows:
            for j in parts:
                status[j] = "landed"
            rows.extend({**r, "record": i} for r in res.rows)
            if res.unknown_codes:
                kill(i, f"unknown pollutant code(s) {', '.join(map(repr, res.unknown_codes))}: no "
                     "parameter mapping (the packet's other values landed)", "unknown_code",
                     packet.mn, whole=False)  # fmt: skip
            return
        for j in parts:
            status[j] = "logged"
        log.append(_log_entry(i, packet.mn, site_id, packet.st, packet.cn, packet.qn, packet.datatime,
                              res.skipped or "data packet without values", b"", received[i]))  # fmt: skip
    elif packet.cn in EVENT_CNS:
        _event_or_log(packet, i, site_id, registry, received[i], status, events, log, tz)
        for j in parts:
            status[j] = status[i]


def table_to_site_units(table: pa.Table, registry: Registry) -> pa.Table:
    """Values in the unit the registry gives the outlet's parameter (the server's conversion)."""
    if not table.num_rows:
        return table
    rows = pl.from_arrow(table)
    assert isinstance(rows, pl.DataFrame)
    converted = convert_table(rows, SiteUnits(registry))
    return converted.to_arrow().cast(READINGS_SCHEMA)


# --- writing ------------------------------------------------------------------------------------


@dataclass
class LandReport:
    records: int = 0
    landed: int = 0  # packets whose readings landed
    readings: int = 0
    event_packets: int = 0  # CN 2021/2072 packets that gave logger events
    events: int = 0  # logger-event rows
    logged: int = 0  # packets kept in the event log (heartbeats, answers, notices...)
    dead: int = 0  # packets dead-lettered whole
    dead_letters: int = 0  # dead-letter rows (also one per partly-unknown packet that landed)
    dead_reasons: Counter = field(default_factory=Counter)
    batches: list[BatchRef] = field(default_factory=list)

    def add(self, p: Processed) -> None:
        self.records += sum(1 for s in p.status if s != "skipped")
        self.landed += p.count("landed")
        self.event_packets += p.count("event")
        self.logged += p.count("logged")
        self.dead += p.count("dead")
        self.readings += p.readings.num_rows
        self.events += len(p.events)
        self.dead_letters += len(p.dead)
        self.dead_reasons.update(d["kind"] for d in p.dead)


def write_processed(p: Processed, landing: LandingZone, state_dir: Path) -> list[BatchRef]:
    """Readings, dead letters and logger events as landing batches; the event log appended."""
    refs = []
    if p.readings.num_rows:
        refs.append(landing.write_readings(p.readings, SOURCE_KIND))
    if p.dead:
        rows = [{k: v for k, v in d.items() if k not in ("record", "kind")} for d in p.dead]
        refs.append(landing.write_dead_letters(rows, SOURCE_KIND))
    if p.events:
        refs.append(landing.write_logger_events(events_table(p.events), SOURCE_KIND))
    append_event_log(state_dir, [{k: v for k, v in e.items() if k != "record"} for e in p.log])
    return refs


def land_files(
    paths: Sequence[str | Path],
    registry: Registry,
    landing: LandingZone,
    state_dir: Path,
    tz: tzinfo = DEFAULT_TZ,
    received_at: datetime | None = None,
    password_key: bytes | None = None,
) -> LandReport:
    """`envmon hj212 ingest`: land recorded packets file by file, with the server's checks."""
    report = LandReport()
    for path in paths:
        records = read_file_records(path)
        name = str(Path(path).absolute())

        def origin(i: int, mn: str | None, name: str = name) -> str:
            return f"file://{name}:{i + 1}" + (f"/{mn}" if mn else "")

        p = process_records(records, registry, origin, received_at or datetime.now(UTC), tz,
                            password_key=password_key)  # fmt: skip
        report.add(p)
        report.batches += write_processed(p, landing, state_dir)
    return report


# --- unknown loggers and their registry stubs ---------------------------------------------------


@dataclass
class UnknownLogger:
    mn: str
    packets: int
    first_seen: datetime | None  # DataTime of its packets, local time
    last_seen: datetime | None
    cns: list[str]
    codes: list[str]
    password: str
    st: str | None
    habits: LoggerHabits | None


def unknown_loggers(
    raws: Sequence[bytes], registry: Registry, tz: tzinfo = DEFAULT_TZ
) -> list[UnknownLogger]:
    """Loggers whose packets (raw bytes of unknown-MN dead letters) name an MN the registry lacks."""
    bulk = parse_records(list(raws), tz=tz, max_future=None)
    pk = bulk.packets.filter(pl.col("mn").is_not_null() & (pl.col("mn") != ""))
    pk = pk.filter(~pl.col("mn").is_in(list(registry.outlet_by_mn)))
    if pk.height == 0:
        return []
    habits = detect_habits(pk, bulk.values)
    codes = (
        bulk.values.join(pk.select("record", "mn"), on="record")
        .filter(pl.col("code").is_not_null())
        .group_by("mn")
        .agg(pl.col("code").unique().sort())
    )
    codes_of = dict(codes.iter_rows())
    out = []
    summary = pk.group_by("mn").agg(
        packets=pl.len(),
        first=pl.col("datatime").min(),
        last=pl.col("datatime").max(),
        cns=pl.col("cn").unique().sort(),
        pw=pl.col("pw").mode().first(),
        st=pl.col("st").filter(pl.col("st").is_in(["31", "32"])).mode().first(),
    )
    for mn, packets, first, last, cns, pw, st in summary.sort("mn").iter_rows():
        out.append(UnknownLogger(
            mn, packets, first.astimezone(tz) if first else None, last.astimezone(tz) if last else None,
            [c for c in cns if c], codes_of.get(mn, []), pw or "", st, habits.get(mn),
        ))  # fmt: skip
    return out


def _slug(mn: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", mn.lower()).strip("_")[:40] or "logger"


def enrol_yaml(
    loggers: Sequence[UnknownLogger],
    registry: Registry,
    grid_id: str | None = None,
    passwords: dict[str, str] | None = None,
) -> dict:
    """Registry stubs (enterprises.<name>.yaml content): an enterprise and an outlet per MN, in
    `grid_id` (else the registry's city grid), its parameters from the codes sent, its password
    and habits from the traffic. Placeholders the administrator then corrects."""
    from core.registry.logger_facts import allowed_minute_intervals

    if grid_id is None:
        grid_id = next(g for g, v in registry.grids.items() if v.level == "city")
    elif grid_id not in registry.grids:
        raise ValueError(
            f"unknown grid {grid_id!r}; valid choices: {', '.join(sorted(registry.grids))}"
        )
    taken = set(registry.site_ids) | set(registry.enterprises)
    enterprises = []
    for lg in loggers:
        slug, n = _slug(lg.mn), 1
        base = f"{ENROLLED_ID_PREFIX}{slug}"
        while base in taken or f"{base}_outlet" in taken:
            n += 1
            base = f"{ENROLLED_ID_PREFIX}{slug}_{n}"
        taken |= {base, f"{base}_outlet"}
        flue = lg.st == "31" or any(c in ("B02", "S01", "S03") for c in lg.codes)
        params: dict[str, str] = {}
        for code in lg.codes:
            info = map_code(code, "31" if flue else (lg.st or "32"), lg.codes).info
            if info is None or info.parameter not in registry.parameters:
                continue
            params.setdefault(info.parameter, info.unit)
        h = lg.habits
        minute = (
            h.minute_interval_s if h and h.minute_interval_s in allowed_minute_intervals() else None
        )
        password = (passwords or {}).get(lg.mn) or lg.password  # masked in dead letters: ******
        if not password or password.strip("*") == "":  # unknown: a value the registry refuses
            password = PASSWORD_PLACEHOLDER
        logger: dict = {"mn": lg.mn, "password": password, "protocol_edition": _edition(lg)}
        if minute is not None:
            logger["minute_interval_s"] = minute
        if h is not None and h.hour_label is not None:
            logger["hour_label"] = h.hour_label
        measured = []
        for parameter, unit in params.items():
            default = registry.parameters[parameter].unit
            extra = (
                {"unit": unit} if unit != default and registry.convertible(unit, default) else {}
            )
            if "2051" in lg.cns:
                measured.append({"parameter": parameter, "interval_s": minute or 60, **extra})
            if "2061" in lg.cns or "2051" not in lg.cns:
                measured.append({"parameter": parameter, "interval_s": 3600, **extra})
        seen = ""
        if lg.first_seen and lg.last_seen:
            seen = f"{lg.first_seen.isoformat()} .. {lg.last_seen.isoformat()}"
        enterprises.append({
            "enterprise_id": base,
            "name_zh": f"待核实企业 {lg.mn}",
            "name_en": f"enterprise to be confirmed (logger {lg.mn}; seen {seen}; {lg.packets} packets)",
            "grid_id": grid_id,
            "industry": "unknown",
            "outlets": [{
                "site_id": f"{base}_outlet",
                "name_zh": f"待核实排口 {lg.mn}",
                "name_en": f"outlet to be confirmed (logger {lg.mn})",
                "outlet_type": "flue_gas" if flue else "waste_water",
                "logger": logger,
                "parameters": measured,
            }],
        })  # fmt: skip
    return {"enterprises": enterprises}


def _edition(lg: UnknownLogger) -> str:
    """HJ212-2005 when the logger sends 2005-edition codes (or a 14-character MN)."""
    from ingest.hj212.codes import code_table

    editions = {r.edition for c in lg.codes for r in code_table().get(c, ())}
    if "2005" in editions and "2017" not in editions:
        return "HJ212-2005"
    if not editions and len(lg.mn) == 14:
        return "HJ212-2005"
    return "HJ212-2017"


def unknown_mn_raws(landing: LandingZone) -> list[bytes]:
    """Raw bytes of every HJ 212 dead letter refused for an unknown MN (landing zone)."""
    import pyarrow.compute as pc

    from core.landing import DEAD_LETTERS

    raws: list[bytes] = []
    for relpath in landing.list_batches(DEAD_LETTERS):
        if landing.source_kind_of(relpath) != SOURCE_KIND:
            continue
        table = landing.read(relpath).select(["reason", "raw"])
        hit = table.filter(pc.starts_with(table["reason"], UNKNOWN_MN_PREFIX))
        raws += [unmask_frame(r) for r in hit["raw"].to_pylist() if r is not None]
    return raws


def unmask_frame(raw: bytes) -> bytes:
    """A dead letter refused for its MN or password passed the CRC check on arrival; its
    password was then masked (`auth.mask_passwords`), which breaks the CRC. Framed again with
    the CRC of the masked segment so that it parses; other records unchanged."""
    if MASK not in raw or len(raw) < 10 or not raw.startswith(b"##"):
        return raw
    segment = raw[6:-4]
    if b"PW=" + MASK not in segment:
        return raw
    return frame(segment)[:-2]


def passwords_from_files(paths: Sequence[str | Path], tz: tzinfo = DEFAULT_TZ) -> dict[str, str]:
    """MN -> the password its packets carry most often, in recorded traffic files (dead letters
    keep no password: `envmon registry enrol --traffic FILE` reads them from the traffic)."""
    frames = []
    for path in paths:
        bulk = parse_records(read_file_records(path), tz=tz, max_future=None)
        frames.append(bulk.packets.select("mn", "pw"))
    if not frames:
        return {}
    pk = pl.concat(frames).filter(pl.col("mn").is_not_null() & pl.col("pw").is_not_null())
    best = pk.group_by("mn", "pw").len().sort("mn", "len", "pw", descending=[False, True, False])
    return dict(best.unique(subset="mn", keep="first").select("mn", "pw").iter_rows())


_PW_HASH = re.compile(r"\[pw (hmac-sha256:[0-9a-f]+)\]")


def tried_password_hash(reason: str) -> str | None:
    """The keyed hash of the password an unknown-MN dead letter's packet carried, if noted."""
    m = _PW_HASH.search(reason)
    return m[1] if m else None
