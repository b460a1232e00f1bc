"""GB/T 8170 rounding: round half to even on the decimal value.

GB/T 8170-2008: when the dropped part is exactly 5 (followed by nothing or zeros) keep the last
digit if even, raise it if odd; otherwise round to nearest. "Exactly 5" must be judged on the
decimal value, not on the binary float (2.675 is stored as 2.67499999…): a scaled value within
`TIE_TOLERANCE` (relative) of a half is treated as a tie. That also absorbs summation noise in
computed means. The scalar and the polars versions use the same arithmetic, so they agree.
"""

from __future__ import annotations

import math

import polars as pl

TIE_TOLERANCE = 1e-9  # relative; far below any reported digit, far above float noise


def round_half_even(value: float | None, decimals: int) -> float | None:
    """Scalar GB/T 8170 rounding; None/NaN pass through."""
    if value is None or math.isnan(value):
        return None
    sign = -1.0 if value < 0 else 1.0  # GB/T 8170: round the absolute value, then re-sign
    scale = 10.0**decimals
    scaled = abs(value) * scale
    low = math.floor(scaled)
    frac = scaled - low
    tol = TIE_TOLERANCE * max(1.0, scaled)
    if abs(frac - 0.5) <= tol:
        out = low if low % 2 == 0 else low + 1
    else:
        out = low + 1 if frac > 0.5 else low
    return sign * out / scale


def round_half_even_expr(expr: pl.Expr, decimals: int) -> pl.Expr:
    """The same rule as `round_half_even`, as a polars expression."""
    scale = 10.0**decimals
    scaled = expr.abs() * scale
    low = scaled.floor()
    frac = scaled - low
    tol = pl.max_horizontal(pl.lit(1.0), scaled) * TIE_TOLERANCE
    is_tie = (frac - 0.5).abs() <= tol
    low_even = (low % 2) == 0
    rounded = (
        pl.when(is_tie)
        .then(pl.when(low_even).then(low).otherwise(low + 1))
        .when(frac > 0.5)
        .then(low + 1)
        .otherwise(low)
    )
    return pl.when(expr < 0).then(-rounded / scale).otherwise(rounded / scale)
