"""Review I5/I6/I7/I8: the reading contract applies on every HJ 212 path, not only the server's.

- I5: a non-finite value ("Infinity", "NaN", "-inf", a number past the float range) never
  becomes a NULL reading: `packet_to_readings` carries it and the contract refuses it.
- I6: `process_records` (`envmon hj212 ingest`, `envmon deadletters retry`) applies the contract:
  before `reading_earliest`, later than arrival + `reading_max_future_s`, non-finite.
- I7: the time window is checked on the period start the readings get (an end label shifted
  back by the logger's interval), as the server's bulk lane does.
- I8: a masked password (PW=******) never matches; only a letter whose login was checked on
  arrival passes without one.

The window is the settings' defaults (core/settings.py: reading_earliest 2000-01-01,
reading_max_future_s 600 s).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.contract import ReadingContract, reading_flags
from core.registry.config import load_registry
from ingest.hj212.onboarding import process_records
from ingest.hj212.protocol import DEFAULT_TZ, format_time, frame, try_parse
from ingest.hj212.readings import packet_to_readings

CONFIG = Path(__file__).resolve().parents[3] / "config"
# the first demo outlet (config/registry/enterprises.yaml): a coal-fired stack, 1-minute logger
MN, PW = "G11010001883490606930", "956850"
# datang_gaojing_da001: a 10-minute logger labelling its periods by their end
MN_END, PW_END = "G11010006744365446081", "941258"
CONTRACT = ReadingContract(
    earliest=datetime(2000, 1, 1, tzinfo=UTC),
    max_future=timedelta(seconds=600),
    flags=frozenset(reading_flags()),
)
RECEIVED = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(CONFIG)


def packet(at: datetime, so2: str = "20.5", mn: str = MN, pw: str = PW, qn: str = "1") -> bytes:
    cp = f"DataTime={format_time(at)};a21026-Avg={so2},a21026-Flag=N;a19001-Avg=8.1,a19001-Flag=N"
    seg = f"QN=2026120200000000{qn};ST=31;CN=2051;PW={pw};MN={mn};Flag=4;CP=&&{cp}&&"
    return frame(seg.encode())[:-2]


@pytest.mark.parametrize(
    ("text", "column", "want"),
    [
        ("Infinity", "value", math.inf),
        ("-inf", "value", -math.inf),
        ("NaN", "value", math.nan),
        ("1e999", "value", math.inf),  # a number past the float range (IEEE 754 double)
    ],
)
def test_non_finite_value_is_carried_and_refused(text: str, column: str, want: float) -> None:
    at = RECEIVED.astimezone(DEFAULT_TZ) - timedelta(minutes=5)
    p = try_parse(packet(at, so2=text) + b"\r\n", max_future=None).packet
    assert p is not None
    rows = packet_to_readings(p, {MN: "s"}, RECEIVED).rows
    so2, o2 = rows
    got = so2[column]
    assert got is not None and (math.isnan(got) if math.isnan(want) else got == want)
    problem = CONTRACT.row_problem(so2, RECEIVED)
    assert problem is not None and "is not a finite number" in problem and column in problem
    assert CONTRACT.row_problem(o2, RECEIVED) is None  # the other side: a finite value passes


def test_non_finite_in_a_field_without_a_column_refuses_the_reading() -> None:
    at = RECEIVED.astimezone(DEFAULT_TZ) - timedelta(minutes=5)
    raw = packet(at).replace(b"a21026-Avg=20.5", b"a21026-Avg=20.5,a21026-ZsMin=Infinity")
    p = try_parse(frame(raw[6:-4]), max_future=None).packet
    assert p is not None
    so2 = packet_to_readings(p, {MN: "s"}, RECEIVED).rows[0]
    assert math.isnan(so2["value"]) and '"ZsMin": "Infinity"' in so2["extra"]
    assert "is not a finite number" in (CONTRACT.row_problem(so2, RECEIVED) or "")


def _run(registry, records, **kw):  # type: ignore[no-untyped-def]
    return process_records(
        records, registry, lambda i, mn: f"test:{i + 1}", RECEIVED, contract=CONTRACT, **kw
    )


def test_offline_ingest_applies_the_time_window_on_both_sides(registry) -> None:  # type: ignore[no-untyped-def]
    local = RECEIVED.astimezone(DEFAULT_TZ)
    cases = [
        datetime(1970, 1, 1, 8, tzinfo=DEFAULT_TZ),  # 1970-01-01 00:00 UTC: a reset clock
        datetime(1999, 12, 31, 23, 59, tzinfo=UTC).astimezone(DEFAULT_TZ),  # a minute before
        datetime(2000, 1, 1, 0, 0, tzinfo=UTC).astimezone(DEFAULT_TZ),  # the earliest: lands
        local + timedelta(seconds=660),  # 11 min ahead of its arrival: refused
        local + timedelta(seconds=600),  # exactly the drift allowed: lands
    ]
    got = _run(registry, [packet(at, qn=str(k)) for k, at in enumerate(cases)])
    assert got.status == ["dead", "dead", "landed", "dead", "landed"]
    reasons = {d["record"]: d["reason"] for d in got.dead}
    assert reasons[0].startswith("time: DataTime 19700101080000 refused by the reading contract: "
                                 "1970-01-01T00:00:00+00:00 is before 2000-01-01")  # fmt: skip
    assert "1999-12-31T23:59:00+00:00 is before 2000-01-01" in reasons[1]
    assert "is in the future (later than 2026-12-02T04:10:00+00:00" in reasons[3]
    assert got.readings.num_rows == 4


def test_offline_ingest_refuses_non_finite_values_with_the_reason(registry) -> None:  # type: ignore[no-untyped-def]
    at = RECEIVED.astimezone(DEFAULT_TZ) - timedelta(minutes=5)
    got = _run(registry, [packet(at, so2="Infinity", qn="1"), packet(at, so2="1e300", qn="2")])
    assert got.status == ["landed", "landed"]  # the Infinity packet's O2 landed
    (dead,) = got.dead
    assert dead["record"] == 0 and dead["reason"].startswith(
        "contract: so2 (a21026): field 'value': inf is not a finite number "
        "(the packet's other values landed)"
    )
    rows = got.readings.to_pylist()
    assert sorted((r["parameter"], r["value"]) for r in rows) == [
        ("o2", 8.1), ("o2", 8.1), ("so2", 1e300)]  # fmt: skip


def test_the_window_is_checked_on_the_labelled_period_start(registry) -> None:  # type: ignore[no-untyped-def]
    """An end-labelled 600 s logger's packet labelled 15 min ahead covers a period starting
    5 min ahead (inside 600 s): it lands; labelled 21 min ahead (start 11 min ahead) it does not."""
    local = RECEIVED.astimezone(DEFAULT_TZ)
    records = [
        packet(local + timedelta(minutes=15), mn=MN_END, pw=PW_END, qn="1"),
        packet(local + timedelta(minutes=21), mn=MN_END, pw=PW_END, qn="2"),
    ]
    got = _run(registry, records)
    assert got.status == ["landed", "dead"]
    starts = {r["period_start"] for r in got.readings.to_pylist()}
    assert starts == {RECEIVED + timedelta(minutes=5)}
    assert "2026-12-02T04:11:00+00:00 is in the future" in got.dead[0]["reason"]


def test_a_masked_password_never_matches_unless_its_login_was_checked(registry) -> None:  # type: ignore[no-untyped-def]
    at = RECEIVED.astimezone(DEFAULT_TZ) - timedelta(minutes=5)
    masked = packet(at, pw="******")
    got = _run(registry, [masked, masked])
    assert got.status == ["dead", "dead"]
    assert all(d["reason"].startswith(f"wrong password for MN '{MN}'") for d in got.dead)
    # the other side: a dead letter the server refused after the login (retry says so)
    got = _run(registry, [masked], authenticated={0})
    assert got.status == ["landed"] and got.readings.num_rows == 2
