"""transforms.derive.emission_rows: O2-corrected hours (HJ 75-2017: C = C' x (21 - O2ref) /
(21 - O2), none above the O2 cap), hourly loads from the slice loads, and the day totals
(HJ 75-2017: a day needs >= 20 valid hours) against the permit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from derivedata import network

from transforms.derive import emission_rows
from transforms.standards.emissions import min_count, o2_cap_pct

T0 = datetime(2024, 3, 1, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
NET = network(
    [("o1", "outlet")],
    outlets=[("o1", "flue_gas", 6.0)],
    parameters=[("so2", "air", "ug/m3"), ("o2", "meteo", "%"), ("flue_flow", "meteo", "m3/h")],
    site_parameters=[("o1", "so2", 60), ("o1", "o2", 60), ("o1", "flue_flow", 60)],
)


def _hours(rows: list[tuple[str, datetime, float | None, bool]], unit: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [("o1", p, t, v, unit[p], ok, 60 if ok else 10, None if ok else f"{p}: 10 valid minutes < 45 required")
         for p, t, v, ok in rows],
        schema={"site_id": pl.String, "parameter": pl.String, "period_start": pl.Datetime("us", "UTC"),
                "value": pl.Float64, "unit": pl.String, "valid": pl.Boolean, "n_valid": pl.Int32,
                "invalid_reason": pl.String},
        orient="row",
    )  # fmt: skip


UNITS = {"so2": "mg/m3", "o2": "%", "flue_flow": "m3/h"}


def test_o2_correction_both_sides_of_the_cap() -> None:
    cap = o2_cap_pct()
    hours = _hours([("so2", T0, 100.0, True), ("o2", T0, 9.0, True),
                    ("so2", T0 + HOUR, 100.0, True), ("o2", T0 + HOUR, cap, True),
                    ("so2", T0 + 2 * HOUR, 100.0, True), ("o2", T0 + 2 * HOUR, cap + 0.5, True),
                    ("so2", T0 + 3 * HOUR, 100.0, True), ("o2", T0 + 3 * HOUR, 9.0, False)], UNITS)  # fmt: skip
    rows = emission_rows.o2_hours(hours, NET).sort("period_start")
    assert rows["statistic"].unique().to_list() == ["hour_avg_o2"]
    assert rows["parameter"].to_list() == ["so2"] * 4  # O2 itself is not corrected
    first, at_cap, above, o2_invalid = rows.iter_rows(named=True)
    assert first["value"] == pytest.approx(100.0 * (21 - 6) / (21 - 9)) and first["valid"]
    assert at_cap["value"] == pytest.approx(100.0 * (21 - 6) / (21 - cap)) and at_cap["valid"]
    assert not above["valid"]
    assert above["invalid_reason"] == f"o2: {cap + 0.5} % > cap {cap:g} %: no correction"
    assert not o2_invalid["valid"] and o2_invalid["invalid_reason"] == "o2: 10 valid minutes < 45 required"


def test_a_shut_down_hour_has_no_corrected_value() -> None:
    hours = _hours([("so2", T0, 100.0, True), ("o2", T0, 9.0, True)], UNITS)
    oh = pl.DataFrame(
        {"site_id": ["o1"], "parameter": ["so2"], "period_start": [T0], "not_operating_reason": ["zero flow"]},
        schema_overrides={"period_start": pl.Datetime("us", "UTC")},
    )
    row = emission_rows.o2_hours(hours, NET, oh).row(0, named=True)
    assert not row["valid"] and row["invalid_reason"] == "so2: not operating: zero flow"


def test_load_hours_take_the_slice_loads_only_with_a_valid_flow() -> None:
    hours = _hours([("so2", T0, 100.0, True), ("flue_flow", T0, 400000.0, True),
                    ("so2", T0 + HOUR, 100.0, True), ("flue_flow", T0 + HOUR, 400000.0, False)], UNITS)  # fmt: skip
    oh = pl.DataFrame(
        {"site_id": ["o1", "o1"], "parameter": ["so2", "so2"], "period_start": [T0, T0 + HOUR],
         "load_kg": [40.0, 39.0]},
        schema_overrides={"period_start": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    rows = emission_rows.load_hours(hours, NET, oh).sort("period_start")
    assert rows["statistic"].unique().to_list() == ["hour_load_kg"]
    assert rows["unit"].unique().to_list() == ["kg"]
    assert rows["value"].to_list() == [40.0, None]
    assert rows["valid"].to_list() == [True, False]
    assert rows["invalid_reason"][1] == "flue_flow: 10 valid minutes < 45 required"


def _loads(valid_hours: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"site_id": ["o1"] * 24, "parameter": ["so2"] * 24, "local_date": [date(2024, 3, 1)] * 24,
         "value": [12.0] * 24, "valid": [h < valid_hours for h in range(24)]},
    )  # fmt: skip


def test_day_totals_need_the_daily_count_of_valid_hours() -> None:
    need = min_count("daily_mean")
    assert need == 20  # HJ 75-2017
    ok = emission_rows.totals(_loads(need), "day", {("o1", "so2"): 480.0}).row(0, named=True)
    assert (ok["total_kg"], ok["n_valid_hours"], ok["valid"]) == (need * 12.0, need, True)
    assert ok["permitted_kg"] == 480.0 and ok["share_of_permit"] == pytest.approx(0.5)
    assert ok["over_permit"] is False and ok["period"] == "day"
    short = emission_rows.totals(_loads(need - 1), "day", {}).row(0, named=True)
    assert (short["total_kg"], short["n_valid_hours"], short["valid"]) == (None, need - 1, False)
    assert emission_rows.totals(_loads(0).head(0), "day", {}).height == 0
