"""The figures the monthly disclosure reads: exceedances per outlet and cases per grid; the
case list and one case's file."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from _alerts_helpers import add_aggregates, hours, local

from alerts.cases import CaseError
from alerts.jobs import evaluate_rules
from alerts.queries import case_file, cases_by_grid, enterprise_exceedances, list_cases
from warehouse.db import connect


def test_enterprise_exceedances_and_cases_by_grid(wh):
    t0 = local(2025, 3, 31, 21)  # 21:00-01:00 local: two exceeded hours in March, one in April
    add_aggregates(
        wh,
        "huaneng_gaobeidian_da001",
        "so2",
        "hour_avg_o2",
        list(zip(hours(t0, 4), [60.0, 40.0, 75.0, 55.0], strict=True)),
    )
    evaluate_rules(wh, t0, t0 + timedelta(hours=4), rule_ids=["flue_gas_hour_over_permit"])
    with connect(wh, write=False) as con:
        march = enterprise_exceedances(con, date(2025, 3, 1), date(2025, 4, 1))
        april = enterprise_exceedances(con, date(2025, 4, 1), date(2025, 5, 1))
        grids = {g["grid_id"]: g for g in cases_by_grid(con, date(2025, 3, 1), date(2025, 4, 1))}
    (row,) = march
    assert (row["enterprise_id"], row["site_id"], row["parameter"]) == (
        "huaneng_gaobeidian",
        "huaneng_gaobeidian_da001",
        "so2",
    )
    assert (row["periods_exceeded"], row["hours_exceeded"], row["days_exceeded"]) == (2, 2.0, 1)
    assert (row["max_value"], row["limit_value"], row["max_multiple"]) == (75.0, 50.0, 1.5)
    assert (row["cases_opened"], row["cases_closed"], row["rectification_status"]) == (1, 0, "open")
    assert [(r["periods_exceeded"], r["max_multiple"], r["cases_opened"]) for r in april] == [
        (1, 1.1, 0)
    ]
    assert (
        grids["key_enterprises"]["opened"],
        grids["key_enterprises"]["open_at_end"],
        grids["key_enterprises"]["special"],
    ) == (1, 1, True)
    assert grids["maizidian_st"]["opened"] == 0  # the special grid took it


def test_cases_by_grid_counts_overdue_as_past_the_deadline_at_the_end(wh):
    march = local(2025, 3, 10, 9)
    end = local(2025, 4, 1, 0)  # the end of March, Beijing time
    cases = [  # case_id, state, deadline, closed_at, escalated_at
        ("c_past_deadline", "rectification_ordered", local(2025, 3, 20, 0), None, None),
        ("c_escalated_only", "open", None, None, local(2025, 3, 12, 0)),
        ("c_closed", "closed", local(2025, 3, 20, 0), local(2025, 3, 25, 0), None),
        ("c_deadline_at_end", "rectification_ordered", end, None, None),
    ]
    with connect(wh) as con:
        con.executemany(
            "INSERT INTO cases (case_id, site_id, rule_family, grid_id, state, title, opened_at, "
            "deadline, closed_at, escalated_at) VALUES (?, 'dongsi', 'test', 'dongsi_st', ?, 't', ?, ?, ?, ?)",
            [
                (c, state, march, deadline, closed, escalated)
                for c, state, deadline, closed, escalated in cases
            ],
        )
        grids = {g["grid_id"]: g for g in cases_by_grid(con, date(2025, 3, 1), date(2025, 4, 1))}
    dongsi = grids["dongsi_st"]
    assert (dongsi["opened"], dongsi["closed"], dongsi["overdue"], dongsi["open_at_end"]) == (
        4,
        1,
        1,
        3,
    )
    assert grids["tiantan_st"]["overdue"] == 0


def test_case_file_reads_the_one_case_asked_for(wh):
    opened = local(2025, 3, 10, 9)
    with connect(wh) as con:
        con.executemany(
            "INSERT INTO cases (case_id, site_id, rule_family, grid_id, state, title, opened_at) "
            "VALUES (?, 'dongsi', 'test', 'dongsi_st', 'open', ?, ?)",
            [("c_one", "first", opened), ("c_two", "second", opened + timedelta(hours=1))],
        )
        assert [c["case_id"] for c in list_cases(con)] == ["c_two", "c_one"]  # newest first
        assert [c["case_id"] for c in list_cases(con, case_id="c_one")] == ["c_one"]
        assert case_file(con, "c_one")["case"]["title"] == "first"
        assert case_file(con, "c_two")["case"]["title"] == "second"
        for unknown in ("c_none", ""):  # an empty id is no case, not the first of all
            with pytest.raises(CaseError, match="no case"):
                case_file(con, unknown)
