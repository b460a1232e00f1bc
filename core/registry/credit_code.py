"""The unified social credit code (统一社会信用代码) of GB 32100-2015 《法人和其他组织统一社会信用
代码编码规则》: 18 characters — registration authority (1), organisation category (1),
administrative division of the registering office (6 digits, GB/T 2260), subject identifier (9,
the former organisation code of GB 11714) and a check character (1).

The check character: each of the first 17 characters has a value (0-9 as themselves, then
A B C D E F G H J K L M N P Q R T U W X Y = 10..30; I O Z S V are never used) and a weight
Wi = 3^(i-1) mod 31; C18 = 31 - mod(Σ Ci·Wi, 31), and 31 is written 0. The standard's worked
example: 91350100M000100Y4 -> Σ = 1640, 1640 mod 31 = 28, C18 = 3 (91350100M000100Y43).
(Read from reproductions of the standard's text and its worked example; the clause numbers
have not been checked against the published standard.)
"""

from __future__ import annotations

import re

CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # values 0..30 (GB 32100-2015, code character set)
_VALUE = {c: i for i, c in enumerate(CHARACTERS)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # Wi = 3^(i-1) mod 31, i = 1..17
_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")


def check_character(first17: str) -> str:
    """The check character (18th) of a code's first 17 characters."""
    if len(first17) != 17 or any(c not in _VALUE for c in first17):
        raise ValueError(f"{first17!r}: 17 characters of {CHARACTERS} expected")
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARACTERS[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Why `code` is not a well-formed unified social credit code, or None when it is."""
    if len(code) != 18:
        return f"{code!r} has {len(code)} characters; a unified social credit code has 18 (GB 32100-2015)"
    if not _SHAPE.fullmatch(code):
        return (
            f"{code!r} is not shaped as GB 32100-2015 requires: 2 characters, 6 digits (the "
            f"administrative division), 10 characters, all of {CHARACTERS} (no I, O, Z, S, V or "
            "lower case)"
        )
    expected = check_character(code[:17])
    if code[17] != expected:
        return (
            f"{code!r} fails the GB 32100-2015 check: its 18th character is {code[17]!r}, the "
            f"first 17 give {expected!r} (mistyped?)"
        )
    return None
