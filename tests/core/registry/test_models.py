"""core.registry.models: the shape and per-field checks of each registry file, on both sides of
every bound, with the message naming the file and the key path."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from core.errors import format_validation_error
from core.registry.models import (
    PASSWORD_PLACEHOLDER,
    REGISTRY_FILES,
    SPECIAL_GRID_LEVELS,
    EnterprisesFile,
    Logger,
    MeasuredParameter,
    Outlet,
    Parameter,
    Station,
    StationsFile,
    Unit,
)

REGISTRY_DIR = Path(__file__).resolve().parents[3] / "config" / "registry"


def problems(model: type, data: Any, source: str = "enterprises.yaml") -> str:
    """The message a person reads for `data` (as load_registry formats it); '' if valid."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return format_validation_error(source, exc)
    return ""


def station(**over: Any) -> dict[str, Any]:
    return {"site_id": "dongsi", "kind": "air", "name_zh": "东四", "name_en": "Dongsi", "grid_id": "dongcheng",
            "parameters": [{"parameter": "pm25"}], **over}


def outlet(**over: Any) -> dict[str, Any]:
    return {"site_id": "plant_da001", "name_zh": "1号烟囱", "name_en": "stack 1", "outlet_type": "flue_gas",
            "logger": {"mn": "G1101", "password": "956850"}, "parameters": [{"parameter": "so2"}], **over}


def test_every_registry_file_of_the_demo_validates_with_its_model() -> None:
    assert list(REGISTRY_FILES) == ["units.yaml", "parameters.yaml", "grids.yaml", "stations.yaml",
                                    "enterprises.yaml"]
    for name, model in REGISTRY_FILES.items():
        raw = yaml.safe_load((REGISTRY_DIR / name).read_text(encoding="utf-8"))
        assert problems(model, raw, name) == "", name
    assert set(SPECIAL_GRID_LEVELS) == {"key_enterprise", "drinking_water"}


@pytest.mark.parametrize("site_id", ["dongsi", "a", "ws_miyun-res2", "0abc", "x" * 64])
def test_ids_accepted(site_id: str) -> None:
    assert Station.model_validate(station(site_id=site_id)).site_id == site_id


@pytest.mark.parametrize("site_id", ["Dongsi", "_dongsi", "-a", "dong si", "东四", "", "x" * 65])
def test_ids_refused_naming_the_key(site_id: str) -> None:
    text = problems(StationsFile, {"stations": [station(), station(site_id=site_id)]}, "stations.yaml")
    assert text.startswith("stations.yaml: stations[1].site_id: "), text
    assert text.count("\n") == 0  # the valid first station raises nothing


def test_measured_parameter_defaults_to_hourly_and_refuses_negative_intervals() -> None:
    assert MeasuredParameter(parameter="pm25").interval_s == 3600
    assert MeasuredParameter(parameter="pm25", interval_s=0).interval_s == 0  # instantaneous (lab samples)
    text = problems(StationsFile, {"stations": [station(parameters=[{"parameter": "pm25", "interval_s": -1}])]},
                    "stations.yaml")
    assert text == "stations.yaml: stations[0].parameters[0].interval_s: Input should be greater than or equal to 0"


@pytest.mark.parametrize(("lat", "ok"), [(90, True), (-90, True), (90.001, False), (-90.001, False)])
def test_station_latitude_bounds(lat: float, ok: bool) -> None:
    text = problems(Station, station(latitude=lat), "stations.yaml")
    assert (text == "") is ok, text
    if not ok:
        assert text.startswith("stations.yaml: latitude: Input should be")


@pytest.mark.parametrize(("lon", "ok"), [(180, True), (-180, True), (180.5, False), (-181, False)])
def test_station_longitude_bounds(lon: float, ok: bool) -> None:
    assert (problems(Station, station(longitude=lon)) == "") is ok


def test_station_choices_name_what_was_given() -> None:
    text = problems(StationsFile, {"stations": [station(kind="soil")]}, "stations.yaml")
    assert text == ("stations.yaml: stations[0].kind: Input should be 'air', 'water' or 'noise' (got 'soil')")
    text = problems(Station, station(kind="water", water_target_class="VI"), "stations.yaml")
    assert "water_target_class: Input should be 'I', 'II', 'III', 'IV' or 'V' (got 'VI')" in text
    text = problems(Station, station(kind="noise", noise_zone="4"), "stations.yaml")
    assert "noise_zone: Input should be '0', '1', '2', '3', '4a' or '4b' (got '4')" in text


def test_station_time_zone_and_dates() -> None:
    s = Station.model_validate(station(timezone="Asia/Urumqi", commissioned_on="2012-01-01"))
    assert s.timezone == "Asia/Urumqi" and s.commissioned_on == date(2012, 1, 1)
    assert Station.model_validate(station()).timezone is None  # None: the settings' zone
    text = problems(Station, station(timezone="Beijing"), "stations.yaml")
    assert text == "stations.yaml: timezone: unknown time zone 'Beijing' (an IANA name such as Asia/Shanghai)"
    assert "commissioned_on: Input should be a valid date" in problems(Station, station(commissioned_on="2012-13-01"))


def test_unknown_station_key_names_the_valid_keys() -> None:
    text = problems(StationsFile, {"stations": [station(latitud=40.0)]}, "stations.yaml")
    assert text.startswith("stations.yaml: stations[0]: unknown key 'latitud'; valid keys: ")
    assert "latitude" in text and "water_target_class" in text


def test_missing_required_station_field_is_named() -> None:
    data = station()
    del data["grid_id"]
    assert problems(Station, data, "stations.yaml") == "stations.yaml: grid_id: missing required field"


@pytest.mark.parametrize(("to_base", "ok"), [(0.001, True), (1e-12, True), (0, False), (-1.0, False)])
def test_unit_factor_must_be_positive(to_base: float, ok: bool) -> None:
    data = {"unit": "ug/m3", "quantity": "mass_concentration_gas", "to_base": to_base, "name_zh": "微克/立方米"}
    text = problems(Unit, data, "units.yaml")
    assert (text == "") is ok
    if not ok:
        assert text == "units.yaml: to_base: Input should be greater than 0"


@pytest.mark.parametrize(("decimals", "ok"), [(0, True), (6, True), (-1, False), (7, False)])
def test_parameter_decimals_bounds(decimals: int, ok: bool) -> None:
    data = {"parameter": "pm25", "name_en": "PM2.5", "name_zh": "细颗粒物", "domain": "air", "unit": "ug/m3",
            "decimals": decimals}
    assert (problems(Parameter, data, "parameters.yaml") == "") is ok


@pytest.mark.parametrize(("o2", "ok"), [(0, True), (6.0, True), (20.99, True), (21, False), (-0.1, False)])
def test_outlet_reference_o2_is_below_air(o2: float, ok: bool) -> None:
    text = problems(Outlet, outlet(reference_o2_pct=o2))
    assert (text == "") is ok, text
    if not ok:
        assert text.startswith("enterprises.yaml: reference_o2_pct: Input should be")


def test_outlet_type_and_permit_limits() -> None:
    assert "outlet_type: Input should be 'flue_gas' or 'waste_water' (got 'stack')" in problems(
        Outlet, outlet(outlet_type="stack"))
    limit = {"parameter": "so2", "statistic": "hour_avg_o2", "limit": 50, "unit": "mg/m3", "basis": "GB 13223-2011",
             "valid_from": "2016-01-01"}
    o = Outlet.model_validate(outlet(permit_limits=[limit]))
    assert o.permit_limits[0].limit == 50 and o.permit_limits[0].valid_to is None
    text = problems(Outlet, outlet(permit_limits=[limit | {"limit": 0}]))
    assert text == "enterprises.yaml: permit_limits[0].limit: Input should be greater than 0"
    text = problems(Outlet, outlet(permit_limits=[limit | {"statistic": "hourly"}]))
    assert text.startswith("enterprises.yaml: permit_limits[0].statistic: Input should be 'hour_avg', ")
    quantity = {"parameter": "so2", "period": "week", "quantity_kg": 1.0, "basis": "permit", "valid_from": "2016-01-01"}
    assert "permitted_quantities[0].period: Input should be 'year', 'month' or 'day' (got 'week')" in problems(
        Outlet, outlet(permitted_quantities=[quantity]))


def test_logger_defaults() -> None:
    lg = Logger(mn="G1101", password="956850")
    assert (lg.protocol_edition, lg.minute_interval_s, lg.hour_label) == ("HJ212-2017", None, None)
    assert Logger(mn="G1101", password="x", protocol_edition="HJ212-2005", hour_label="end").hour_label == "end"
    assert "protocol_edition: Input should be 'HJ212-2017' or 'HJ212-2005' (got 'HJ212-2025')" in problems(
        Logger, {"mn": "G1101", "password": "x", "protocol_edition": "HJ212-2025"})


@pytest.mark.parametrize(("mn", "ok"), [("M", True), ("M" * 64, True), ("", False), ("M" * 65, False)])
def test_logger_mn_length(mn: str, ok: bool) -> None:
    assert (problems(Logger, {"mn": mn, "password": "x"}) == "") is ok


@pytest.mark.parametrize("password", ["******", "*", "CHANGE-ME", "change-me", " CHANGE-ME-2 "])
def test_masked_or_placeholder_passwords_are_refused(password: str) -> None:
    text = problems(EnterprisesFile, {"enterprises": [{
        "enterprise_id": "plant", "name_zh": "厂", "name_en": "plant", "grid_id": "g", "industry": "power",
        "outlets": [outlet(logger={"mn": "G1101", "password": password})]}]})
    assert text.startswith(f"enterprises.yaml: enterprises[0].outlets[0].logger.password: {password!r} is "), text
    if password.strip("*") == "":
        assert "is a masked password (dead letters keep none)" in text
    else:
        assert "is the placeholder `envmon registry enrol` writes" in text and PASSWORD_PLACEHOLDER == "CHANGE-ME"


@pytest.mark.parametrize("password", ["pw*", "*a*", "MY-CHANGE-ME", "CHANGE", "123456"])
def test_passwords_near_the_refused_ones_load(password: str) -> None:
    assert Logger(mn="G1101", password=password).password == password


def test_empty_password_is_refused() -> None:
    assert problems(Logger, {"mn": "G1101", "password": ""}) == (
        "enterprises.yaml: password: String should have at least 1 character")
