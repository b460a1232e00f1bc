"""The demo's scripted scenario (config/demo/scenario.yaml): four episodes that must open their
cases, a shut-down that must raise no exceedance, the night exceedance continuing on three more
days, and the enforcement story (按日连续处罚) worked through the staff commands between the
DAG runs; each checked by `envmon demo`'s summary (the whole demo: test_demo_end_to_end.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from core.errors import EnvmonError
from core.registry.config import load_registry
from core.settings import load_settings
from envmon.demo import (
    DEFAULT_DAYS,
    CaseStep,
    dag_interval_text,
    find_case,
    load_enforcement,
    load_scenario,
    plan_runs,
)
from sim.hj212_simulator import EPISODE_KINDS


def test_the_scenario_names_real_outlets_rules_and_grids() -> None:
    events = load_scenario()
    assert [e.kind for e in events] == [
        "exceedance",
        "stuck",
        "outage",
        "hourly_mismatch",
        "shutdown",
        "exceedance",
        "exceedance",
        "exceedance",
    ]
    registry = load_registry(load_settings().config_dir)
    rules = set()
    for path in (Path(load_settings().config_dir) / "rules").glob("*.yaml"):
        rules |= {line.split(":", 1)[1].strip() for line in path.read_text(encoding="utf-8").splitlines()
                  if line.startswith("- rule_id:")}  # fmt: skip
    for e in events:
        assert e.site_id in registry.outlets
        if e.expect_rule is not None:
            assert e.expect_rule in rules and e.expect_grid in registry.grids
    shutdown = events[4]
    assert (shutdown.expect_rule, shutdown.expect_no_family) == (None, "emission_exceedance")
    mismatch = events[3]
    assert (mismatch.parameter, mismatch.expect_rule) == ("so2", "outlet_logger_hour_inconsistent")


def test_the_demo_network_has_a_ten_minute_end_labelled_logger() -> None:
    registry = load_registry(load_settings().config_dir)
    facts = {registry.logger_facts(o.logger.mn) for _, o in registry.outlets.values()}
    assert any(f.minute_interval_s == 600 and f.hour_label == "end" for f in facts if f is not None)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("{site_id: a, kind: melt, start_hour: 1, hours: 1, expect: {no_alert_family: x}}",
         f"kind 'melt'; valid: {', '.join(EPISODE_KINDS)}"),
        ("{site_id: a, kind: shutdown, start_hour: 1, hours: 1, expect: {rule_id: r}}",
         "expect needs rule_id and grid_id, or no_alert_family"),
        ("{site_id: a, kind: stuck, hours: 1, expect: {rule_id: r, grid_id: g}}", "start_hour"),
    ],
)  # fmt: skip
def test_a_wrong_event_names_the_file_the_event_and_the_keys(tmp_path, event, message) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"events:\n- {event}\n", encoding="utf-8")
    with pytest.raises(EnvmonError) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"{path}: events[0]" in text and message in text and "expect.no_alert_family" in text


# --------------------------------------------------------------------------- 按日连续处罚
def test_the_night_exceedance_goes_on_for_three_more_days_at_the_same_outlet() -> None:
    events = load_scenario()
    night = events[0]
    later = [e for e in events[5:] if e.site_id == night.site_id]
    assert [e.day_offset for e in later] == [1, 2, 3]
    assert {(e.kind, e.parameter, e.expect_grid) for e in later} == {("exceedance", "so2", "key_enterprises")}
    # daytime hours: the hourly permit rule (not the night rule) fires, of the same rule family
    assert all(e.expect_rule == "flue_gas_hour_over_permit" and e.factor > 1 for e in later)


def test_the_enforcement_story_needs_the_demos_default_days() -> None:
    story = load_enforcement()
    assert story is not None
    assert (story.site_id, story.rule_family) == ("huaneng_gaobeidian_da001", "emission_exceedance")
    assert (story.continuing_days, story.escalated_to) == (3, "key_enterprises_leader")
    assert story.days_needed(load_scenario()) == DEFAULT_DAYS == 4
    # a registry person acts each time: the leader, then the grid's responsible officer
    people = [s.args[s.args.index("--by") + 1] for s in story.steps if "--by" in s.args]
    assert people == ["key_enterprises_leader", "key_enterprises_responsible", "key_enterprises_responsible"]


def test_the_steps_are_typed_with_the_whole_case_id_and_local_times_inside_the_data() -> None:
    story = load_enforcement()
    assert story is not None
    day0, day3 = date(2026, 11, 29), date(2026, 12, 2)
    commands = [s.command("C20261129-9275f773", day0 if s.day_offset == 0 else day3) for s in story.steps]
    assert commands[0][:3] == ["cases", "assign", "C20261129-9275f773"]
    assert commands[0][-2:] == ["--at", "2026-11-29 08:30"]
    assert commands[1][-2:] == ["--at", "2026-11-29 09:00"]
    order = commands[2]
    assert order[order.index("--to") + 1] == "rectification_ordered"
    assert order[order.index("--deadline") + 1] == "2026-11-29"  # a date: through the end of day 0
    assert order[-2:] == ["--at", "2026-11-29 11:00"]
    assert commands[3] == ["alerts", "escalate", "--at", "2026-12-02 23:59"]
    assert commands[4] == ["cases", "show", "C20261129-9275f773"]  # no --at: it only reads
    # the notes are one argument each (a comma inside a YAML flow list would split them)
    assert all(len(c) % 2 == 1 for c in commands[:3])


def test_the_dag_runs_and_the_staff_commands_interleave_in_time_order() -> None:
    story = load_enforcement()
    assert story is not None
    ends = [datetime(2026, 11, 28 + n, 16, tzinfo=UTC) for n in range(3)] + [datetime(2026, 12, 1, 16, tzinfo=UTC)]
    plan = plan_runs(ends, story.steps)
    assert [kind for kind, _ in plan] == ["dags", "steps", "dags", "steps"]
    assert plan[0][1] == [("ingest_files", ends[-1]), ("load_landing", ends[-1]), ("daily", ends[0])]
    assert plan[1][1][0] == 0 and len(plan[1][1][1]) == 3  # assign, inspect, order on day 0
    assert plan[2][1] == [("daily", ends[1]), ("daily", ends[2]), ("daily", ends[3]), ("hourly", ends[3])]
    assert plan[3][1][0] == 3 and [s.args[:2] for s in plan[3][1][1]] == [("alerts", "escalate"), ("cases", "show")]


def test_without_steps_the_runs_are_the_plain_backfill() -> None:
    # --days 1: the story is skipped; the DAG runs are what they always were, in one go
    end = datetime(2026, 11, 28, 16, tzinfo=UTC)
    assert plan_runs([end], ()) == [("dags", [("ingest_files", end), ("load_landing", end), ("daily", end),
                                              ("hourly", end)])]
    # a step on a later day than the demo has never runs
    late = (CaseStep(5, "10:00", ("alerts", "escalate")),)
    assert plan_runs([end], late) == plan_runs([end], ())


def test_a_step_time_that_is_not_hh_mm_is_refused_naming_the_keys(tmp_path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("events: []\nenforcement:\n  site_id: a\n  rule_family: f\n"
                    "  expect: {continuing_days: 3}\n  steps:\n  - {day_offset: 0, at: '8h30', args: [cases, show]}\n",
                    encoding="utf-8")
    with pytest.raises(EnvmonError) as err:
        load_enforcement(path)
    assert f"{path}: enforcement" in str(err.value) and "8h30" in str(err.value) and "steps[].at (HH:MM)" in str(err.value)
    path.write_text("events: []\n", encoding="utf-8")
    assert load_enforcement(path) is None


def test_the_case_is_found_by_its_site_and_family_not_closed() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE cases (case_id VARCHAR, site_id VARCHAR, rule_family VARCHAR, state VARCHAR, "
                "opened_at TIMESTAMPTZ)")
    t = datetime(2026, 11, 28, 18, tzinfo=UTC)
    con.executemany("INSERT INTO cases VALUES (?, ?, ?, ?, ?)", [
        ("C20261120-aaaaaaaa", "s1", "emission_exceedance", "closed", t - timedelta(days=8)),
        ("C20261129-bbbbbbbb", "s1", "emission_exceedance", "open", t),
        ("C20261129-cccccccc", "s1", "data_transmission", "open", t + timedelta(hours=1)),
        ("C20261129-dddddddd", "s2", "emission_exceedance", "open", t + timedelta(hours=2)),
    ])  # fmt: skip
    assert find_case(con, "s1", "emission_exceedance") == "C20261129-bbbbbbbb"
    con.execute("UPDATE cases SET state = 'dismissed' WHERE case_id = 'C20261129-bbbbbbbb'")
    assert find_case(con, "s1", "emission_exceedance") is None


def test_dag_run_lines_are_in_local_time_with_the_offset() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    assert dag_interval_text("2026-11-28T16:00:00+00:00", "2026-11-29T16:00:00+00:00", tz) == (
        "2026-11-29 00:00+08:00 → 2026-11-30 00:00+08:00")
    assert dag_interval_text("2026-11-29T15:00:00+00:00", "2026-11-29T16:00:00+00:00", tz) == (
        "2026-11-29 23:00+08:00 → 2026-11-30 00:00+08:00")
    assert dag_interval_text("2026-11-29T14:00:00+00:00", "2026-11-29T15:00:00+00:00", tz) == (
        "2026-11-29 22:00+08:00 → 23:00+08:00")
