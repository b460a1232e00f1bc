"""publish.vocabulary: the sentences a citizen reads for a report without (or with a partial)
AQI — one per reason form the derivation writes — and the editions' missing-data rules."""

from __future__ import annotations

import pytest

from publish.vocabulary import missing_rule_text, primary_texts, reason_texts


def test_every_reason_form_the_derivation_writes_has_a_sentence() -> None:
    # transforms.standards.air_daily.daily_air_values (stations), derive.air.city_daily (the
    # city), and aqi_frame's missing_indicators of aqi_hourly ("so2;pm25")
    got = reason_texts(
        "so2: 17 valid hours < 20 required; o3_8h: 11 valid 8-h windows < 14 required; "
        "pm25: no station with a valid value"
    )
    assert got == [
        ("SO₂ 有效小时数 17 < 20", "SO₂: 17 valid hours < 20 required"),
        ("O₃ 8小时 有效8小时滑动平均值个数 11 < 14", "O₃ 8-h: 11 valid 8-hour means < 14 required"),
        ("PM₂.₅ 各站点均无有效数据", "PM₂.₅: no station has a valid value"),
    ]
    assert reason_texts("so2;pm10") == [
        ("SO₂ 无有效数据", "SO₂: no valid value"),
        ("PM₁₀ 无有效数据", "PM₁₀: no valid value"),
    ]
    assert reason_texts(None) == [] and reason_texts("") == []


@pytest.mark.parametrize("raw", ["so2: 17 valid minutes < 20 required", "benzene", "pm25: broken"])
def test_a_reason_without_a_sentence_is_an_error_naming_it(raw: str) -> None:
    with pytest.raises(ValueError, match=r"no sentence for it in vocabulary\.json") as err:
        reason_texts(raw)
    assert repr(raw) in str(err.value)


def test_missing_data_rules_of_the_editions() -> None:
    # aqi_edition_rules.csv: HJ633-2012 all_required (pipeline choice); HJ633-2026
    # partial_if_above with partial_publish_aqi_above 100 (aqi.md §7)
    assert missing_rule_text("HJ633-2012", "daily", aqi_shown=False) == (
        "HJ 633-2012 规定：任一污染物数据不足时不发布AQI。",
        "HJ 633-2012: no AQI is published when any pollutant lacks data.",
    )
    zh, en = missing_rule_text("HJ633-2026", "hourly", aqi_shown=False)
    assert "大于100时发布；本次未超过100，不发布" in zh and "it was not above 100" in en
    zh, en = missing_rule_text("HJ633-2026", "daily", aqi_shown=True)
    assert zh.endswith("此AQI由其余污染物计算。") and en.endswith(
        "This AQI is from the other pollutants."
    )


def test_primary_pollutants_as_people_read_them() -> None:
    assert primary_texts("PM2.5;O3_8h") == ("PM₂.₅、O₃ 8小时", "PM₂.₅, O₃ 8-h")
    assert primary_texts(None) is None and primary_texts("") is None
