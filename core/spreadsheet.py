"""Spreadsheet-safe text: formula injection (CSV injection) neutralised in one place.

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is taken by Excel,
LibreOffice and WPS as a formula (`=HYPERLINK(...)`, `=WEBSERVICE(...)`, `@SUM(...)`); a station
name, a case note or a raw dead-letter line can carry one. Following the OWASP "CSV Injection"
guidance, such a cell is written with a leading apostrophe ('), which spreadsheet programs show
as text and never evaluate. Every CSV/XLSX writer of envmon passes its cells through `safe_cell`.

Numbers stay numbers: an int or a float (a negative one too) is returned unchanged, and so is
text that is nothing but a plain decimal number ("-3.5", "+2", "1e-3"), which a spreadsheet
reads as that number, not as a formula.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """`value`, with text that a spreadsheet would run as a formula made inert by a leading `'`."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def safe_row(values: Any) -> list[Any]:
    return [safe_cell(v) for v in values]
