"""The HJ 212 adapter of the MQTT ingestor, packet by packet (no broker): the reading contract's
time window applies to the labelled period start (as the TCP server's bulk lane), on both sides
of its bounds; CN 2072 alarms are logger events; packets that give nothing say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.contract import ReadingContract
from core.registry.config import Registry
from ingest.hj212.protocol import DEFAULT_TZ, format_time, frame
from ingest.mqtt.hj212_adapter import Hj212Records, hj212_payload_to_records

END_SITE = "datang_gaojing_da001"  # 600 s minutes, end-labelled (config/registry/enterprises.yaml)
START_SITE = "huaneng_gaobeidian_da001"  # 60 s minutes, start-labelled (HJ 212-2017 default)
NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
CONTRACT = ReadingContract(
    earliest=datetime(2000, 1, 1, tzinfo=UTC),
    max_future=timedelta(seconds=300),
    flags=ReadingContract.from_settings().flags,
)


def records(registry: Registry, site_id: str, cn: str, at: datetime, cp: str) -> Hj212Records:
    lg = registry.outlets[site_id][1].logger
    text = (
        f"QN=1;ST=31;CN={cn};PW={lg.password};MN={lg.mn};Flag=4;"
        f"CP=&&DataTime={format_time(at.astimezone(DEFAULT_TZ))};{cp}&&"
    )
    return hj212_payload_to_records(
        frame(text.encode()), registry, CONTRACT, received_at=NOW, mn=lg.mn
    )


@pytest.mark.parametrize(
    ("site_id", "cn", "label_after_now_s", "lands"),
    [
        # a start-labelled minute: its DataTime is its start; now + 300 s is the last allowed
        (START_SITE, "2051", 300, True),
        (START_SITE, "2051", 360, False),
        # an end-labelled 600 s minute: the start is DataTime - 600 s
        (END_SITE, "2051", 900, True),
        (END_SITE, "2051", 960, False),
        # an end-labelled hour: the start is DataTime - 3600 s
        (END_SITE, "2061", 3900, True),
        (END_SITE, "2061", 3960, False),
    ],
)
def test_future_bound_applies_to_the_period_start(
    registry: Registry, site_id: str, cn: str, label_after_now_s: int, lands: bool
) -> None:
    got = records(
        registry, site_id, cn, NOW + timedelta(seconds=label_after_now_s), "a21026-Avg=1.5"
    )
    if lands:
        assert got.reasons == [] and len(got.rows) == 1
        assert got.rows[0]["period_start"] <= NOW + timedelta(seconds=300)
    else:
        assert got.rows == [] and len(got.reasons) == 1
        assert "refused by the reading contract" in got.reasons[0]
        assert "is in the future" in got.reasons[0]


def test_earliest_bound(registry: Registry) -> None:
    on = records(registry, START_SITE, "2061", datetime(2000, 1, 1, tzinfo=UTC), "a21026-Avg=1")
    assert on.reasons == [] and len(on.rows) == 1
    before = datetime(2000, 1, 1, tzinfo=UTC) - timedelta(hours=1)
    got = records(registry, START_SITE, "2061", before, "a21026-Avg=1")
    assert got.rows == [] and "is before 2000-01-01" in got.reasons[0]
    reset = records(
        registry, START_SITE, "2061", datetime(1970, 1, 1, 8, tzinfo=UTC), "a21026-Avg=1"
    )
    assert reset.rows == [] and "a reset logger clock?" in reset.reasons[0]


def test_alarm_is_a_logger_event(registry: Registry) -> None:
    at = NOW - timedelta(minutes=5)
    alarm = f"AlarmTime={format_time(at.astimezone(DEFAULT_TZ))};AlarmType=1;a21026-Ala=160.5"
    got = records(registry, START_SITE, "2072", at, alarm)
    assert got.reasons == [] and got.rows == []
    assert [(e["kind"], e["code"], e["alarm_type"], e["event_time"]) for e in got.events] == [
        ("alarm", "a21026", "1", at)
    ]
    # an alarm of a reset clock is refused like a reading
    old = "AlarmTime=19700101080000;AlarmType=1;a21026-Ala=160.5"
    got = records(registry, START_SITE, "2072", at, old)
    assert got.events == [] and "alarm time refused by the reading contract" in got.reasons[0]


def test_packets_that_give_nothing_say_why(registry: Registry) -> None:
    at = NOW - timedelta(minutes=5)
    got = records(registry, START_SITE, "2021", at, "SB1-XX=1")
    assert got.events == [] and got.reasons == [
        "HJ 212 packet gives no logger event: CN 2021 run status without any SBn-RS field"
    ]
    got = records(registry, START_SITE, "3020", at, "a21026-Info=1")
    assert got.rows == [] and got.reasons == [
        "HJ 212 packet carries no readings: CN 3020 carries no readings"
    ]
