"""GB/T 8170 rounding and edition selection."""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl
import pytest

from transforms.standards.editions import edition_for, edition_named, resolve
from transforms.standards.rounding import round_half_even, round_half_even_expr

# GB/T 8170-2008 examples as restated in public texts (see the report): value, decimals, result
GBT8170 = [
    (12.1498, 0, 12), (12.1498, 1, 12.1), (10.5002, 0, 11), (1.050, 1, 1.0), (0.35, 1, 0.4),
    (28.175, 2, 28.18), (28.165, 2, 28.16), (28.350, 1, 28.4), (28.250, 1, 28.2), (28.050, 1, 28.0),
    (28.2501, 1, 28.3), (2500, -3, 2000), (3500, -3, 4000), (-0.0365, 3, -0.036), (2.675, 2, 2.68),
]  # fmt: skip


@pytest.mark.parametrize(("value", "decimals", "expected"), GBT8170)
def test_gbt8170_examples(value, decimals, expected):
    assert round_half_even(value, decimals) == pytest.approx(expected)
    out = pl.select(round_half_even_expr(pl.lit(value, dtype=pl.Float64), decimals)).item()
    assert out == pytest.approx(expected)


def test_agrees_with_decimal_on_decimal_strings():
    rng = random.Random(8170)
    texts = [f"{rng.randint(0, 99999)}.{rng.randint(0, 999):03d}" for _ in range(3000)]
    texts += [
        f"{rng.randint(0, 999)}.{rng.randint(0, 99)}5" for _ in range(3000)
    ]  # many exact ties
    for decimals in (0, 1, 2):
        q = Decimal(1).scaleb(-decimals)
        want = [float(Decimal(t).quantize(q, rounding=ROUND_HALF_EVEN)) for t in texts]
        got_scalar = [round_half_even(float(t), decimals) for t in texts]
        got_vector = (
            pl.select(round_half_even_expr(pl.Series([float(t) for t in texts]), decimals))
            .to_series()
            .to_list()
        )
        assert got_scalar == pytest.approx(want) and got_vector == pytest.approx(want)


def test_nulls_pass_through():
    assert round_half_even(None, 0) is None
    assert pl.select(round_half_even_expr(pl.lit(None, dtype=pl.Float64), 0)).item() is None


@pytest.mark.parametrize(
    ("day", "family", "code", "phase"),
    [
        (dt.date(2013, 3, 1), "HJ633", "HJ633-2012", ""),
        (dt.date(2026, 2, 28), "HJ633", "HJ633-2012", ""),
        (dt.date(2026, 3, 1), "HJ633", "HJ633-2026", ""),
        (dt.date(2026, 2, 28), "GB3095", "GB3095-2012", ""),
        (dt.date(2026, 3, 1), "GB3095", "GB3095-2026", "transitional"),
        (dt.date(2030, 12, 31), "GB3095", "GB3095-2026", "transitional"),
        (dt.date(2031, 1, 1), "GB3095", "GB3095-2026", "final"),
    ],
)
def test_edition_for(day, family, code, phase):
    ed = edition_for(day, family)
    assert (ed.code, ed.phase) == (code, phase)


def test_edition_errors_and_resolve():
    with pytest.raises(LookupError, match="no edition of HJ633"):
        edition_for(dt.date(2000, 1, 1), "HJ633")
    with pytest.raises(LookupError, match="unknown edition"):
        edition_named("HJ633-1999")
    # an HJ 633 code names its GB 3095 companion
    assert resolve("HJ633-2026", dt.date(2032, 1, 1), "GB3095").phase == "final"
    assert resolve(None, dt.date(2020, 1, 1), "GB3095").code == "GB3095-2012"
