"""`envmon cases ...` in-process on a real warehouse: list, show, the workflow with a deadline
typed in local time, notes, export, and a refused move."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

from _alerts_helpers import SH, add_aggregates, local, rows
from typer.testing import CliRunner, Result

from alerts.cases import CaseError
from alerts.jobs import evaluate_rules
from envmon.cli import app

OUTLET = "huaneng_gaobeidian_da001"  # so2 limit 50 mg/m3 (hour_avg_o2); grid key_enterprises
INSPECTOR = "key_enterprises_inspector"


def envmon(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def open_case(wh) -> str:
    t0 = local(2025, 3, 3, 9)
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(t0, 75.0)])
    evaluate_rules(wh, t0, local(2025, 3, 3, 10), rule_ids=["flue_gas_hour_over_permit"])
    ((case_id,),) = rows(wh, "SELECT case_id FROM cases")
    return case_id


def test_list_and_show(wh) -> None:
    case_id = open_case(wh)
    listed = envmon("cases", "list").output
    assert "1 case(s)" in listed
    line = next(line for line in listed.splitlines() if case_id in line)
    for cell in ("open", OUTLET, "燃煤机组烟囱1号", "emission_exceedance", "key_enterprises"):
        assert cell in line
    assert "2025-03-03 10:00" in line and "1.50" in line  # opened at the end of the hour, local
    assert "0 case(s)" in envmon("cases", "list", "--state", "closed").output
    assert "1 case(s)" in envmon("cases", "list", "--grid", "key_enterprises").output
    shown = envmon("cases", "show", case_id).output
    assert shown.splitlines()[0].startswith(f"{case_id} 燃煤机组烟囱1号")
    assert "  state: open" in shown and "  opened_at: 2025-03-03 10:00" in shown
    titles = [line.strip() for line in shown.splitlines() if line.strip().isidentifier()]
    assert titles == ["events", "alerts", "evidence", "readings", "continuing_days"]
    assert "│ 1   │ 2025-03-03 10:00 │ system │ opened │" in shown  # the first event
    assert "│ so2       │ 2025-03-03 09:00 │ 75    │ 50          │ mg/m3 │ 1.5      │ True" in shown


def test_workflow_with_a_local_deadline(wh) -> None:
    case_id = open_case(wh)
    result = envmon("cases", "assign", case_id, "--to", INSPECTOR, "--by", "li")
    assert result.output.strip() == f"{case_id}: assigned to {INSPECTOR} (event 2)"
    assert envmon("cases", "move", case_id, "--to", "under_inspection", "--by", "hu").exit_code == 0
    day = (datetime.now(SH) + timedelta(days=10)).date()  # the order is given now
    result = envmon(
        "cases", "move", case_id, "--to", "rectification_ordered", "--by", "hu",
        "--deadline", day.isoformat(), "--note", "fix the desulphuriser",
    )  # fmt: skip
    assert result.output.strip() == f"{case_id}: now rectification_ordered (event 4)"
    # a deadline typed without an offset is local midnight
    deadline = local(day.year, day.month, day.day, 0)
    assert rows(wh, "SELECT state, deadline FROM cases") == [("rectification_ordered", deadline)]
    result = envmon("cases", "note", case_id, "--by", "hu", "--note", "site visited")
    assert result.output.strip() == f"{case_id}: note added (event 5)"
    assert rows(wh, "SELECT actor, action, note FROM case_events WHERE seq >= 4 ORDER BY seq") == [
        ("hu", "state_changed", f"deadline {deadline.isoformat()}; fix the desulphuriser"),
        ("hu", "note", "site visited"),
    ]


def test_a_refused_move_is_an_error_naming_the_allowed_states(wh) -> None:
    case_id = open_case(wh)
    result = envmon("cases", "move", case_id, "--to", "closed", "--by", "li")
    assert result.exit_code != 0 and isinstance(result.exception, CaseError)
    assert "cannot move to closed; allowed: assigned, dismissed" in str(result.exception)
    assert rows(wh, "SELECT state FROM cases") == [("open",)]


def test_export_csv(wh, tmp_path: Path) -> None:
    case_id = open_case(wh)
    out = tmp_path / "cases.csv"
    result = envmon("cases", "export", "--out", str(out))
    assert result.output.strip() == f"1 case(s) written to {out}"
    with out.open(encoding="utf-8-sig", newline="") as fh:
        (record,) = list(csv.DictReader(fh))
    assert (record["case_id"], record["state"], record["officer_id"]) == (
        case_id,
        "open",
        "key_enterprises_responsible",
    )
    empty = tmp_path / "none.csv"
    assert (
        "0 case(s) written"
        in envmon("cases", "export", "--out", str(empty), "--state", "closed").output
    )
