"""Onboarding real loggers (issue 17): `envmon hj212 ingest | detect | unknown`, `envmon registry
enrol`, `envmon deadletters retry`, logger events (CN 2021 / 2072) in the warehouse."""

from __future__ import annotations

import gzip
import json
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from core.errors import ConfigError
from core.landing import LandingZone
from core.registry.config import load_registry
from core.settings import get_settings, reset_settings_cache
from envmon.cli import app
from ingest.hj212.bulk import parse_records
from ingest.hj212.detect import detect_habits
from ingest.hj212.protocol import DEFAULT_TZ, frame

CONFIG = Path(__file__).resolve().parents[3] / "config"
MN = "LD130199000001"  # a 2005-style 14-character MN, not in the demo registry
PW = "123456"


def pkt(segment: str) -> bytes:
    return frame(segment.encode())[:-2]


def local(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=DEFAULT_TZ)


def traffic(mn: str = MN, pw: str = PW) -> list[bytes]:
    """Two hours of a 10-minute, end-labelled waste-water logger (as the 2016 capture's), its
    running status, an alarm, a heartbeat, plus a wrong password and a bad CRC."""
    out = []
    # minute records labelled by their end: 08:10 ... 10:00 cover 08:00-10:00
    values = [10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 30.0, 30.0, 36.0, 36.0, 42.0, 42.0]
    for k, v in enumerate(values):
        at = local("20160824080000") + timedelta(minutes=10 * (k + 1))
        out.append(pkt(f"ST=32;CN=2051;PW={pw};MN={mn};CP=&&DataTime={at:%Y%m%d%H%M%S};"
                       f"011-Min={v},011-Avg={v},011-Max={v},011-Cou=1.0&&"))  # fmt: skip
    # hourly values labelled by the end: 09:00 = mean of 08:00-09:00 = 15, 10:00 -> 36
    for end, v in (("20160824090000", 15.0), ("20160824100000", 36.0)):
        out.append(pkt(f"ST=32;CN=2061;PW={pw};MN={mn};CP=&&DataTime={end};011-Avg={v}&&"))
    out.append(
        pkt(f"ST=32;CN=2021;PW={pw};MN={mn};CP=&&DataTime=20160824083000;SB1-RS=1;SB2-RS=0&&")
    )
    out.append(pkt(f"QN=20160824083500000;ST=32;CN=2072;PW={pw};MN={mn};Flag=1;"
                   f"CP=&&AlarmTime=20160824083500;B01-Ala=16.00,AlarmType=1&&"))  # fmt: skip
    out.append(pkt(f"ST=32;CN=8013;PW={pw};MN={mn};Flag=0;CP=&&HeartbeatTime=120&&"))
    out.append(pkt(f"ST=32;CN=2061;PW=999999;MN={mn};CP=&&DataTime=20160824110000;011-Avg=1.0&&"))
    bad = pkt(f"ST=32;CN=2061;PW={pw};MN={mn};CP=&&DataTime=20160824120000;011-Avg=1.0&&")
    out.append(bad[:-4] + b"0000")
    return out


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(target))
    reset_settings_cache()
    return target


def run(*args: str) -> str:
    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def write(path: Path, records: list[bytes], sep: bytes = b"\r\n", gz: bool = False) -> Path:
    data = sep.join(records) + sep
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def q(sql: str) -> list[tuple]:
    con = duckdb.connect(str(get_settings().warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_unknown_logger_enrolled_retried_and_loaded_end_to_end(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("init")
    run("registry", "load")
    src = write(tmp_path / "traffic.h212.gz", traffic(), sep=b"\n", gz=True)  # LF, gzip
    out = run("hj212", "ingest", str(src))
    # every record of the unknown logger is refused like the server refuses it
    assert "19 records" in out and "19 dead-lettered" in out and "unknown_mn: 18" in out
    assert "crc: 1" in out

    listed = run("hj212", "unknown")
    line = next(x for x in listed.splitlines() if x.startswith(MN))
    _mn, first, last, packets, cns, codes, minute, label = line.split("\t")
    # DataTime of its packets in local time with the offset; the detected habits
    assert (first, last) == ("2016-08-24T08:10:00+08:00", "2016-08-24T11:00:00+08:00")
    assert packets == "18" and cns == "2021,2051,2061,2072,8013" and "011" in codes.split(",")
    assert (minute, label) == ("600", "end")

    # dead letters keep no password (masked like the server's), only its keyed hash
    landing = LandingZone(get_settings().landing_root)
    dead = pa.concat_tables([landing.read(p) for p in landing.list_batches("deadletters")])
    assert not any(PW.encode() in r or b"999999" in r for r in dead["raw"].to_pylist())
    assert all(
        "[pw hmac-sha256:" in r for r in dead["reason"].to_pylist() if r.startswith("unknown MN")
    )
    # each dead letter names its file and line (and the MN when there is one)
    origins = dead["origin"].to_pylist()
    assert f"file://{src}:1/{MN}" in origins and f"file://{src}:19" in origins
    # without the traffic the stub's password is unknown; with it, the commonest one
    run("registry", "enrol", "--out", str(tmp_path / "nopw"))
    nopw = yaml.safe_load(
        (tmp_path / "nopw" / "enterprises.enrolled.yaml").read_text(encoding="utf-8")
    )
    # a placeholder the registry refuses, never the mask ****** (review I8)
    assert nopw["enterprises"][0]["outlets"][0]["logger"]["password"] == "CHANGE-ME"
    shutil.copy(tmp_path / "nopw" / "enterprises.enrolled.yaml", config_dir / "registry")
    with pytest.raises(ConfigError, match=r"logger\.password.*placeholder"):
        load_registry(config_dir)
    (config_dir / "registry" / "enterprises.enrolled.yaml").unlink()
    run("registry", "enrol", "--out", str(tmp_path / "stubs"), "--traffic", str(src))
    stub = tmp_path / "stubs" / "enterprises.enrolled.yaml"
    assert stat.S_IMODE(stub.stat().st_mode) == 0o600  # it holds passwords (review I18)
    ent = yaml.safe_load(stub.read_text(encoding="utf-8"))["enterprises"][0]
    logger = ent["outlets"][0]["logger"]
    assert logger == {"mn": MN, "password": PW, "protocol_edition": "HJ212-2005",
                      "minute_interval_s": 600, "hour_label": "end"}  # fmt: skip
    assert ent["grid_id"] == "city" and ent["outlets"][0]["outlet_type"] == "waste_water"
    assert {"parameter": "cod", "interval_s": 600} in ent["outlets"][0]["parameters"]
    # the round trip: the stub, placed in the config folder, is a valid registry
    shutil.copy(stub, config_dir / "registry")
    reg = load_registry(config_dir)
    site = reg.outlet_by_mn[MN]
    assert reg.logger_facts(MN).minute_interval_s == 600
    assert "registry loaded" in run("registry", "load")

    # read 4 at a time: the 19 letters in 5 pages, as the retry pages through a flood (review I15)
    monkeypatch.setattr("ingest.hj212.deadletter_retry.PAGE_ROWS", 4)
    out = run("deadletters", "retry")
    # 17 now pass (12 minute and 2 hourly records, run status, alarm, heartbeat); the wrong
    # password (now refused for that reason) and the bad CRC stay
    assert "19 HJ 212 dead letters waiting: 17 landed again" in out and "2 kept" in out
    run("load")
    rows = q(f"SELECT period_start, interval_s, value, extra FROM readings WHERE site_id = '{site}' "
             "ORDER BY interval_s, period_start")  # fmt: skip
    minute = [r for r in rows if r[1] == 600]
    hour = [r for r in rows if r[1] == 3600]
    # end-labelled: the record sent at 08:10 local starts at 08:00 local = 00:00 UTC
    assert minute[0][0] == datetime(2016, 8, 24, 0, 0, tzinfo=UTC)
    assert json.loads(minute[0][3])["DataTime"] == "20160824081000"
    assert len(minute) == 12 and [h[0] for h in hour] == [
        datetime(2016, 8, 24, 0, tzinfo=UTC), datetime(2016, 8, 24, 1, tzinfo=UTC)]  # fmt: skip
    events = q(f"SELECT kind, code, status_code, alarm_type, event_time FROM logger_events "
               f"WHERE site_id = '{site}' ORDER BY kind, code")  # fmt: skip
    assert events == [
        ("alarm", "B01", None, "1", datetime(2016, 8, 24, 0, 35, tzinfo=UTC)),
        ("run_status", "SB1", 1, None, datetime(2016, 8, 24, 0, 30, tzinfo=UTC)),
        ("run_status", "SB2", 0, None, datetime(2016, 8, 24, 0, 30, tzinfo=UTC)),
    ]
    kept = q("SELECT reason FROM dead_letters WHERE status = 'waiting' ORDER BY reason")
    assert len(kept) == 2 and kept[0][0].startswith("crc: bad CRC")
    assert kept[1][0].startswith(f"unknown MN {MN!r}")  # kept with its first reason

    # a second retry lands nothing again; landing the same traffic again adds no event twice
    assert "2 HJ 212 dead letters waiting: 0 landed again" in run("deadletters", "retry")
    run("hj212", "ingest", str(src))
    run("load")
    assert q(f"SELECT count(*) FROM logger_events WHERE site_id = '{site}'") == [(3,)]
    assert q(f"SELECT count(*) FROM readings WHERE site_id = '{site}' AND interval_s = 600") == [
        (12,)
    ]


def test_detect_minute_interval_and_label(tmp_path: Path) -> None:
    """End-labelled 600 s traffic: the end label makes the minute means equal the hourly values
    (15 and 36: the means of 10..20 and 30..42 above), the start label does not."""
    bulk = parse_records(traffic("M-END"), max_future=None)
    h = detect_habits(bulk.packets, bulk.values)["M-END"]
    assert (h.minute_interval_s, h.hour_label) == (600, "end")
    assert h.agree_end == 1.0 and h.agree_start is not None and h.agree_start < 1.0

    # a 300 s logger labelling by the start: 08:00 .. 08:55 -> hour 08:00 = mean
    recs = []
    for k in range(24):
        at = local("20160824080000") + timedelta(minutes=5 * k)
        recs.append(
            pkt(f"ST=32;CN=2051;PW=1;MN=M-START;CP=&&DataTime={at:%Y%m%d%H%M%S};011-Avg={k}&&")
        )
    recs.append(pkt("ST=32;CN=2061;PW=1;MN=M-START;CP=&&DataTime=20160824080000;011-Avg=5.5&&"))
    recs.append(pkt("ST=32;CN=2061;PW=1;MN=M-START;CP=&&DataTime=20160824090000;011-Avg=17.5&&"))
    bulk = parse_records(recs, max_future=None)
    h = detect_habits(bulk.packets, bulk.values)["M-START"]
    assert (h.minute_interval_s, h.hour_label, h.agree_start, h.pairs) == (300, "start", 1.0, 2)
    # 1 % relative tolerance (detect.DEFAULT_TOLERANCE): 0.99 % off agrees, 1.1 % off does not
    for hourly, agrees in ((5.5 * 1.0099, True), (5.5 * 1.011, False)):
        got = [
            *recs[:-2],
            pkt(f"ST=32;CN=2061;PW=1;MN=M-START;CP=&&DataTime=20160824080000;011-Avg={hourly}&&"),
        ]
        bulk = parse_records(got, max_future=None)
        h = detect_habits(bulk.packets, bulk.values)["M-START"]
        assert (h.agree_start == 1.0) is agrees


def test_detect_command_prints_the_summary(tmp_path: Path) -> None:
    src = write(tmp_path / "t.h212", traffic())
    out = run("hj212", "detect", str(src))
    assert f"{MN}\t600\t11\tend\t2\t" in out
    assert "1 loggers; minute intervals: 600 s: 1; hour labels: start 0, end 1" in out


def test_logger_events_load_idempotently_and_bad_batches_are_quarantined(config_dir: Path) -> None:
    """CN 2021 / 2072 events: a redelivered event is a no-op (natural key site, cn, event_time,
    kind, code); a batch that does not fit LOGGER_EVENTS_SCHEMA goes to quarantine."""
    from ingest.hj212.events import events_table, packet_to_events
    from ingest.hj212.protocol import parse_packet
    from warehouse.jobs import init_warehouse, load_landing_job

    init_warehouse()
    status = parse_packet(traffic()[14], max_future=None)
    alarm = parse_packet(traffic()[15], max_future=None)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = packet_to_events(status, "site_a", at) + packet_to_events(alarm, "site_a", at)
    assert [(r["kind"], r["code"], r["status_code"], r["alarm_type"]) for r in rows] == [
        ("run_status", "SB1", 1, None), ("run_status", "SB2", 0, None), ("alarm", "B01", None, "1")]  # fmt: skip
    landing = LandingZone(get_settings().landing_root)
    landing.write_logger_events(events_table(rows), "hj212")
    landing.write_logger_events(events_table(rows), "hj212")  # the same events, redelivered
    bad = events_table(rows).drop_columns(["event_time"])
    landing._write("loggerevents", bad, "hj212")  # a writer bug: no event_time
    report = load_landing_job()
    assert report.logger_events == (6, 3)
    assert len(report.quarantined) == 1 and "event_time" in report.quarantined[0][1]
    assert q("SELECT count(*) FROM logger_events") == [(3,)]
    assert load_landing_job().logger_events == (0, 0)  # loaded batches are never loaded again


def test_logger_event_batch_duckdb_refuses_is_quarantined_alone(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logger-event batch that DuckDB fails on (out of memory, say) is rolled back and
    quarantined with the reason; the next batch still loads (issue 18 item 1)."""
    import duckdb

    from ingest.hj212.events import events_table, packet_to_events
    from ingest.hj212.protocol import parse_packet
    from warehouse import event_loader
    from warehouse.jobs import init_warehouse, load_landing_job

    init_warehouse()
    status = parse_packet(traffic()[14], max_future=None)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    landing = LandingZone(get_settings().landing_root)
    first = landing.write_logger_events(events_table(packet_to_events(status, "site_a", at)), "hj212")
    landing.write_logger_events(events_table(packet_to_events(status, "site_b", at)), "hj212")
    real_insert = event_loader._insert

    def failing(con, table, batch_id, source_kind, relpath):  # type: ignore[no-untyped-def]
        if relpath == first.relpath:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")
        return real_insert(con, table, batch_id, source_kind, relpath)

    monkeypatch.setattr(event_loader, "_insert", failing)
    report = load_landing_job()
    assert report.logger_events == (2, 2)  # site_b's two facilities
    [(path, reason)] = report.quarantined
    assert first.batch_id in str(path) and "ran out of memory" in reason
    assert "ENVMON_DUCKDB_MEMORY_LIMIT" in reason
    assert q("SELECT DISTINCT site_id FROM logger_events") == [("site_b",)]


def test_split_packets_are_joined_and_incomplete_ones_dead_lettered(config_dir: Path) -> None:
    """A 2061 packet split in two (Flag D bit, PNUM/PNO: HJ 212-2017 6.3.2) lands once joined,
    as the server joins it; a lone part of another one is dead-lettered with the reason."""
    from ingest.hj212.onboarding import process_records

    reg = load_registry(config_dir)
    mn, logger = next((o.logger.mn, o.logger) for _, o in reg.outlets.values())
    head = f"QN=20160824090000001;ST=31;CN=2061;PW={logger.password};MN={mn};Flag=7"
    parts = [
        pkt(f"{head};PNUM=2;PNO=1;CP=&&DataTime=20160824080000;a21026-Avg=20.0&&"),
        pkt(f"{head};PNUM=2;PNO=2;CP=&&a19001-Avg=8.0&&"),
        pkt(
            f"{head.replace('0001;', '0002;')};PNUM=3;PNO=1;CP=&&DataTime=20160824080000;a21026-Avg=1.0&&"
        ),
    ]
    got = process_records(
        parts, reg, lambda i, m: f"test:{i + 1}", datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert got.status == ["landed", "landed", "dead"]
    rows = got.readings.to_pylist()
    assert sorted((r["parameter"], r["value"]) for r in rows) == [("o2", 8.0), ("so2", 20.0)]
    assert len(got.dead) == 1 and got.dead[0]["reason"].startswith("split: split packet incomplete")
    assert "missing parts [2, 3] of 3" in got.dead[0]["reason"]


def test_capture_registry_with_detected_habits(tmp_path: Path) -> None:
    """Replay's registry of a capture (sim/hj212_replay.py) can carry each logger's detected
    habits, so the server files its readings at their true periods."""
    from sim.hj212_replay import capture_registry

    capture_registry(traffic(), CONFIG, tmp_path / "config", habits=True)
    reg = load_registry(tmp_path / "config")
    facts = reg.logger_facts(MN)
    assert (facts.minute_interval_s, facts.hour_label) == (600, "end")
    capture_registry(traffic("M-OTHER"), CONFIG, tmp_path / "plain")  # without: edition default
    plain = load_registry(tmp_path / "plain")
    logger = plain.outlets[plain.outlet_by_mn["M-OTHER"]][1].logger
    assert (logger.minute_interval_s, logger.hour_label) == (None, None)
    assert reg.outlets[reg.outlet_by_mn[MN]][1].logger.minute_interval_s == 600  # written out
