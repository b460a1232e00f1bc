"""The demo's scripted scenario (config/demo/scenario.yaml): four episodes that must open their
cases and a shut-down that must raise no exceedance, each checked by `envmon demo`'s summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import EnvmonError
from core.registry.config import load_registry
from core.settings import load_settings
from envmon.demo import load_scenario
from sim.hj212_simulator import EPISODE_KINDS


def test_the_scenario_names_real_outlets_rules_and_grids() -> None:
    events = load_scenario()
    assert [e.kind for e in events] == [
        "exceedance",
        "stuck",
        "outage",
        "hourly_mismatch",
        "shutdown",
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
    shutdown = events[-1]
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
