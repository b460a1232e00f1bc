"""envmon.run_summary: what `envmon run` shows a person per interval — a heading in local time
with the offset, one line of plain words per task, unknown keys shown as "key: value", and failed
notification deliveries grouped by channel and error (issue #20)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from envmon.run_summary import escalated_to, failure_groups, heading, summary_lines

SH = ZoneInfo("Asia/Shanghai")
HOOK = "http://127.0.0.1:8089/envmon/alerts"


def _derived(stage: str, start: str, end: str, rows: dict[str, int]) -> dict:
    return {"stage": stage, "range_start": start, "range_end": end, "rows": rows}


def _alerts(errors: list[str], sent: int = 0, retried: int = 0, failed: int = 0) -> dict:
    return {
        "evaluation": {"range_start": "2026-11-29T16:00:00+00:00", "range_end": "2026-11-30T16:00:00+00:00",
                       "rules_hash": "1cf0712b7bef", "rules_evaluated": 20, "periods_evaluated": 12503,
                       "alerts_opened": ["A1", "A2"], "alerts_resolved": [], "cases_opened": ["C1"],
                       "notifications_queued": 3},
        "escalation": {"at": "2026-11-30T16:00:00+00:00", "escalated": [], "continuing_days": {}},
        "notifications": {"sent": sent, "retried": retried, "failed": failed, "errors": errors},
    }


# a daily run's summary as envmon.pipeline.run_stage returns it (taken from a real run)
DAILY = {
    "load": {"batches_loaded": 1, "rows_inserted": 144, "rows_duplicate": 0, "rows_conflict": 0,
             "quarantined": 0, "batches_validated": 1},
    "qc": {"readings": 144, "flags": 144, "inserted": 144, "deleted": 0},
    "derive_hours": _derived("hourly", "2026-11-29T16:00:00+00:00", "2026-11-30T16:00:00+00:00",
                             {"aggregates": 17544, "aqi_hourly": 312, "outlet_hours": 9072}),
    "derive_days": {"2026-11-30": _derived("daily", "2026-11-29T16:00:00+00:00", "2026-11-30T16:00:00+00:00",
                                           {"aggregates": 712, "aqi_daily": 13})},
    "availability": {"rows": 21714},
    "alerts": _alerts([], sent=3),
    "publish": {"kind": "daily", "period": "2026-11-30", "out": "/srv/envmon/site",
                "files": ["daily/2026-11-30.html", "daily/2026-11-30.json", "index.html"],
                "changed": ["daily/2026-11-30.html"], "has_data": True},
}


def test_the_heading_is_the_interval_in_local_time_with_its_offset() -> None:
    day = (datetime(2026, 11, 29, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))
    assert heading("daily", *day, SH) == "daily 2026-11-30 (00:00+08:00 → 2026-12-01 00:00+08:00)"
    hour = (datetime(2026, 11, 30, 0, tzinfo=UTC), datetime(2026, 11, 30, 1, tzinfo=UTC))
    assert heading("hourly", *hour, SH) == "hourly 2026-11-30 (08:00+08:00 → 09:00+08:00)"
    last_hour = (datetime(2026, 11, 30, 15, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))
    assert heading("hourly", *last_hour, SH) == "hourly 2026-11-30 (23:00+08:00 → 2026-12-01 00:00+08:00)"
    month = (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))
    assert heading("monthly", *month, SH) == "monthly 2026-11 (2026-11-01 00:00+08:00 → 2026-12-01 00:00+08:00)"


def test_a_daily_run_is_one_line_of_plain_words_per_task() -> None:
    assert summary_lines("daily", DAILY) == [
        "load: 1 landing batch loaded (144 new readings, 0 already held, 0 conflicting), 0 quarantined; "
        "1 batch validated",
        "QC: 144 readings checked, 144 QC flags (144 new, 0 removed)",
        "hourly values: 24 hours computed, rows written: aggregates 17,544, hourly AQI 312, outlet hours 9,072",
        "daily values: 1 day computed (2026-11-30), rows written: aggregates 712, daily AQI 13",
        "data availability: 21,714 rows rebuilt",
        "alerts: 20 rules over 12,503 periods: 2 alerts opened (A1, A2), 0 resolved; 1 case opened (C1); "
        "3 notifications queued",
        "escalation: no overdue case escalated",
        "notifications: 3 sent",
        "publish: daily air quality report 2026-11-30: 3 files in /srv/envmon/site (1 changed)",
    ]


def test_monthly_and_maintenance_summaries() -> None:
    below = [f"outlet_{k:02d}" for k in range(7)]
    monthly = {
        "derive_month": _derived("monthly", "2026-10-31T16:00:00+00:00", "2026-11-30T16:00:00+00:00",
                                 {"air_period_stats": 13}),
        "transmission_efficiency": {"month": "2026-11-01", "outlets": 49, "below_requirement": below},
        "publish": {"kind": "monthly", "period": "2026-11", "out": "/site", "files": [], "changed": [],
                    "has_data": False},
    }
    assert summary_lines("monthly", monthly) == [
        "monthly values: month computed, rows written: air period statistics 13",
        "transmission efficiency: 2026-11: 49 outlets, 7 below the requirement "
        "(outlet_00, outlet_01, outlet_02, outlet_03, outlet_04 and 2 more)",
        "publish: monthly disclosure tables 2026-11: 0 files in /site (0 changed); the warehouse held no data for it",
    ]
    maintenance = {"maintenance": {"as_of": "2026-11-30T16:00:00+00:00", "partitions_compacted": 2,
                                   "batches_merged": 31, "batches_removed_after_crash": 0,
                                   "partitions_expired": ["readings/source=mqtt/date=2026-08-01"],
                                   "inbox_files_expired": 4, "tmp_files_removed": []}}
    assert summary_lines("maintenance", maintenance) == [
        "maintenance: 2 landing partitions compacted (31 batches merged), 0 batches of an interrupted run "
        "removed, 1 partition past retention removed (readings/source=mqtt/date=2026-08-01), 4 inbox files "
        "expired, 0 temporary files removed",
    ]


def test_the_file_dag_inbox_scan() -> None:
    assert summary_lines("ingest_files", {"scan_inbox": {"files": 3, "accepted": 2, "rejected": 1, "waiting": 0}}) == [
        "file inbox: 3 files taken in (2 accepted, 1 rejected), 0 still being written"]


def test_keys_it_does_not_know_are_shown_never_dropped() -> None:
    result = {
        "qc": {"readings": 6, "flags": 6, "inserted": 0, "deleted": 0, "seconds": 1.5},
        "new_task": {"things_done": 3, "ids": ["x1", "x2"]},
        "load": {"batches_loaded": "?"},  # a shape the formatter does not read: shown as it is
        "empty": {},
    }
    assert summary_lines("hourly", result) == [
        "QC: 6 readings checked, 6 QC flags (0 new, 0 removed); seconds: 1.5",
        "new_task: things_done: 3; ids: x1, x2",
        "load: batches_loaded: ?",
        "empty: nothing reported",
    ]
    alerts = _alerts([])
    alerts["evaluation"]["alerts_suppressed"] = ["A9"]
    alerts["quiet_hours"] = True
    lines = summary_lines("hourly", {"alerts": alerts})
    assert lines[0].endswith("3 notifications queued; alerts_suppressed: A9")
    assert lines[-1] == "quiet_hours: yes"


def _refused(n: int, channel: str, to: str) -> list[str]:
    """`n` messages to a channel that refused the first: the rest are not tried (notify.delivery)."""
    cause = "URLError: <urlopen error [Errno 111] Connection refused>" if channel == "duty_webhook" else \
        "ConnectionRefusedError: [Errno 111] Connection refused"
    first = f"N{channel}0 ({channel} → {to}): {cause}; will retry"
    rest = [f"N{channel}{k} ({channel} → {to}): OSError: not tried: {channel} could not be reached earlier "
            f"in this run ({cause}); {'gave up' if k % 2 else 'will retry'}" for k in range(1, n)]
    return [first, *rest]


def test_failed_deliveries_to_one_webhook_are_one_line() -> None:
    errors = _refused(12, "duty_webhook", HOOK)
    lines = summary_lines("daily", {"alerts": _alerts(errors, retried=6, failed=6)})
    assert lines[2] == ("notifications: 0 sent; 12 notifications failed (6 to retry, 6 given up): "
                        f"12 × duty_webhook {HOOK}: URLError: [Errno 111] Connection refused")
    assert len(lines) == 3


def test_failed_deliveries_are_grouped_by_channel_and_error_most_first() -> None:
    errors = _refused(3, "duty_webhook", HOOK) + _refused(5, "officer_email", "a@x.cn")
    errors += [f"N{k} (officer_email → {to}): SMTPRecipientsRefused: {{'{to}': (550, b'no such user')}}; will retry"
               for k, to in enumerate(["b@x.cn", "b@x.cn"])]
    errors += [f"N{k} (officer_email → c{k}@x.cn): ConnectionRefusedError: [Errno 111] Connection refused; "
               "will retry" for k in range(2)]
    assert failure_groups(errors) == [
        "7 × officer_email (3 recipients): ConnectionRefusedError: [Errno 111] Connection refused",
        f"3 × duty_webhook {HOOK}: URLError: [Errno 111] Connection refused",
        "2 × officer_email b@x.cn: SMTPRecipientsRefused: {'b@x.cn': (550, b'no such user')}",
    ]
    lines = summary_lines("daily", {"alerts": _alerts(errors, sent=1, retried=12)})
    assert lines[2:] == ["notifications: 1 sent; 12 notifications failed (12 to retry, 0 given up)",
                         *[f"  {g}" for g in failure_groups(errors)]]
    assert failure_groups(["something else entirely", "something else entirely"]) == ["2 × something else entirely"]


def test_escalations_name_the_leader() -> None:
    alerts = _alerts([])
    alerts["escalation"] = {"at": "2026-11-30T16:00:00+00:00", "escalated": [["C1", "daxing_leader"], ["C2", None]],
                            "continuing_days": {"C3": 2}}
    result = {"alerts": alerts}
    assert escalated_to(result) == {"daxing_leader"}
    assert escalated_to({"qc": {}}) == set()
    line = summary_lines("daily", result, {"daxing_leader": "王敏 Wang Min"})[1]
    assert line == ("escalation: 2 overdue cases escalated (C1 to 王敏 Wang Min (daxing_leader), C2); exceedance "
                    "after a rectification order counted for 1 case (C3 2 days)")
    assert "C1 to daxing_leader" in summary_lines("daily", result)[1]  # no name known: the id
