"""core.strict: configuration models refuse unknown keys naming the valid ones; time zones are
checked when loaded."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from core.errors import format_validation_error
from core.strict import StrictModel, TimeZoneName


class Point(StrictModel):
    name: str
    zone: TimeZoneName = "Asia/Shanghai"
    height_m: float | None = Field(default=None, alias="height")


def test_known_keys_load_and_the_model_is_frozen() -> None:
    p = Point.model_validate({"name": "dongsi", "zone": "Europe/Berlin", "height": 52.0})
    assert (p.name, p.zone, p.height_m) == ("dongsi", "Europe/Berlin", 52.0)
    assert Point(name="a", height_m=1.0).height_m == 1.0  # the field name works as well as the alias
    with pytest.raises(ValidationError, match="frozen"):
        p.name = "other"  # type: ignore[misc]


def test_an_unknown_key_names_it_and_the_valid_keys() -> None:
    with pytest.raises(ValidationError) as err:
        Point.model_validate({"name": "dongsi", "zones": "UTC", "colour": "red"})
    text = format_validation_error("stations.yaml", err.value)
    assert text == ("stations.yaml: (top level): unknown key 'colour', 'zones'; "
                    "valid keys: height, height_m, name, zone")


def test_unknown_keys_of_a_nested_model_name_the_key_path() -> None:
    class Outer(StrictModel):
        points: list[Point]

    with pytest.raises(ValidationError) as err:
        Outer.model_validate({"points": [{"name": "a"}, {"name": "b", "lat": 1}]})
    assert format_validation_error("f.yaml", err.value) == (
        "f.yaml: points[1]: unknown key 'lat'; valid keys: height, height_m, name, zone")


@pytest.mark.parametrize("name", ["Asia/Shanghai", "Europe/Berlin", "UTC"])
def test_a_known_time_zone_loads(name: str) -> None:
    assert Point(name="a", zone=name).zone == name


@pytest.mark.parametrize("name", ["Asia/Beijing", "CST+8", "", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValidationError) as err:
        Point(name="a", zone=name)
    text = format_validation_error("settings.yaml", err.value)
    assert text == (f"settings.yaml: zone: unknown time zone {name!r} (an IANA name such as Asia/Shanghai)")


def test_a_non_mapping_is_left_to_pydantic() -> None:
    with pytest.raises(ValidationError, match="valid dictionary or instance of Point"):
        Point.model_validate(["name", "a"])
