"""Format profiles (config/formats/*.yaml): how to read one kind of file into readings.

A profile says how to find sites, parameters, timestamps, values and units in a file, in one
of two layouts: `long` (one value per row, with a parameter column) or `wide` (one row per
site and time, one column per parameter). Profiles are validated when loaded, against the
registry too (parameters, units, sites), so a typo fails before any file is read, naming the
file, the key and the valid choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from core.errors import ConfigError, format_validation_error
from core.registry.config import Registry
from core.strict import StrictModel, TimeZoneName
from ingest.files.units import unit_aliases

FORMATS_DIR = "formats"
TimePart = Literal["year", "month", "day", "hour", "minute"]


class Detect(StrictModel):
    """How to recognise a file of this profile; every criterion given must hold."""

    filename: list[str] = Field(default_factory=list, description="glob patterns on the file name (.gz ignored), any may match")
    header: list[str] = Field(default_factory=list, description="columns that must all be present")

    @model_validator(mode="after")
    def _some_criterion(self) -> Detect:
        if not self.filename and not self.header:
            raise ValueError("give at least one of filename, header")
        return self


class SiteSpec(StrictModel):
    column: str
    names: dict[str, str] = Field(default_factory=dict, description="name as written in the file -> site_id")
    match: list[Literal["site_id", "name_zh", "name_en"]] = Field(
        default_factory=lambda: ["site_id", "name_zh"],
        description="registry fields a value may also match (exactly, ignoring case)",
    )


class TimeSpec(StrictModel):
    """Where the period start is: one column, a date and a time column, or separate parts."""

    column: str | None = None
    date_column: str | None = None
    time_column: str | None = None
    parts: dict[TimePart, str] | None = None
    formats: list[str] = Field(default_factory=list, description="strptime formats tried in order; default: ISO 8601 forms")
    label: Literal["start", "end"] = Field(
        default="start", description="whether a timestamp marks the start or the end of its period"
    )

    @model_validator(mode="after")
    def _one_way(self) -> TimeSpec:
        ways = [self.column is not None, self.date_column is not None, self.parts is not None]
        if sum(ways) != 1:
            raise ValueError("give exactly one of column, date_column (with optional time_column), parts")
        if self.time_column is not None and self.date_column is None:
            raise ValueError("time_column needs date_column")
        if self.parts is not None and not {"year", "month", "day"} <= set(self.parts):
            raise ValueError("parts needs at least year, month and day")
        return self


class ValueColumn(StrictModel):
    """One parameter column of a wide table, and the unit its values are written in."""

    column: str
    parameter: str
    unit: str


class LongSpec(StrictModel):
    parameter_column: str
    value_column: str
    unit_column: str | None = None
    unit: str | None = Field(default=None, description="unit of every value when there is no unit column")
    flag_column: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict, description="parameter as written -> parameter id")


class Profile(StrictModel):
    name: str
    description: str = ""
    format: Literal["csv", "xlsx", "jsonl"]
    layout: Literal["wide", "long"]
    encoding: Literal["auto", "utf-8", "gb18030"] = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header_row: int = Field(default=1, ge=1, description="1-based line (CSV) or row (XLSX) of the header")
    sheet: str | None = None
    detect: Detect
    source_kind: Literal["file", "lab"] = "file"
    timezone: TimeZoneName = "Asia/Shanghai"
    interval_s: int = Field(ge=0)
    missing_values: list[str] = Field(default_factory=lambda: ["", "NA"])
    below_detection: list[str] = Field(
        default_factory=list,
        description="markers of a value below the detection limit, e.g. '<' (prefix) or 'L' (suffix, '0.01L'); "
        "the limit is stored as the value with flag BDL",
    )
    on_bad_row: Literal["skip_row", "reject_file"] = "skip_row"
    site: SiteSpec
    time: TimeSpec
    values: list[ValueColumn] = Field(default_factory=list, description="wide layout: the parameter columns")
    long: LongSpec | None = None
    flag_column: str | None = Field(default=None, description="wide layout: a flag applying to the whole row")
    extra: dict[str, str] = Field(default_factory=dict, description="source column -> key in the readings' extra JSON")
    unit_aliases: dict[str, str] = Field(default_factory=dict, description="unit as written -> registry unit")

    @model_validator(mode="after")
    def _layout_fits(self) -> Profile:
        if self.layout == "wide" and not self.values:
            raise ValueError("a wide profile needs values (its parameter columns)")
        if self.layout == "long" and self.long is None:
            raise ValueError("a long profile needs long (its parameter and value columns)")
        if self.layout == "long" and self.values:
            raise ValueError("values is for wide profiles; a long profile uses long")
        return self

    def required_columns(self) -> list[str]:
        """Every source column the profile reads (a file lacking one is rejected whole)."""
        t = self.time
        cols = [self.site.column, t.column, t.date_column, t.time_column, *(t.parts or {}).values()]
        cols += [v.column for v in self.values] + [self.flag_column, *self.extra]
        if self.long is not None:
            lg = self.long
            cols += [lg.parameter_column, lg.value_column, lg.unit_column, lg.flag_column]
        return list(dict.fromkeys(c for c in cols if c is not None))


def _choices(values: object) -> str:
    return ", ".join(sorted(str(v) for v in values))  # type: ignore[attr-defined]


def _cross_check(path: Path, profile: Profile, registry: Registry) -> list[str]:
    """Parameters, units and site names must exist in the registry."""
    problems: list[str] = []
    aliases = unit_aliases(registry, profile.unit_aliases)
    params = registry.parameters

    def check_param(key: str, parameter: str) -> None:
        if parameter not in params:
            problems.append(f"{path}: {key}: unknown parameter {parameter!r}; valid choices: {_choices(params)}")

    def check_unit(key: str, unit: str, parameter: str | None) -> None:
        canonical = aliases.get(unit)
        if canonical is None:
            problems.append(f"{path}: {key}: unknown unit {unit!r}; valid choices: {_choices(registry.units)}")
        elif parameter in params and not registry.convertible(canonical, params[parameter].unit):
            same = [u for u in registry.units if registry.convertible(u, params[parameter].unit)]
            problems.append(f"{path}: {key}: unit {unit!r} cannot be converted to {params[parameter].unit!r} "
                            f"({parameter}); valid choices: {_choices(same)}")

    for i, v in enumerate(profile.values):
        check_param(f"values[{i}].parameter", v.parameter)
        check_unit(f"values[{i}].unit", v.unit, v.parameter)
    if profile.long is not None:
        for written, parameter in profile.long.parameters.items():
            check_param(f"long.parameters.{written}", parameter)
        if profile.long.unit is not None:
            check_unit("long.unit", profile.long.unit, None)
    for written, unit in profile.unit_aliases.items():
        if unit not in registry.units:
            problems.append(f"{path}: unit_aliases.{written}: unknown unit {unit!r}; valid choices: {_choices(registry.units)}")
    for written, site_id in profile.site.names.items():
        if site_id not in registry.site_ids:
            problems.append(f"{path}: site.names.{written}: unknown site {site_id!r}; valid choices: "
                            f"{_choices(sorted(registry.site_ids)[:20])} ...")
    return problems


def load_profile(path: Path, registry: Registry) -> Profile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if isinstance(raw, dict) and "name" not in raw:
        raw = {"name": path.stem, **raw}
    try:
        profile = Profile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
    problems = _cross_check(path, profile, registry)
    if problems:
        raise ConfigError("\n".join(problems))
    return profile


def load_profiles(config_dir: Path, registry: Registry) -> dict[str, Profile]:
    """Every profile in config_dir/formats/*.yaml, by name; fails on the first invalid file."""
    directory = Path(config_dir) / FORMATS_DIR
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.glob("*.yaml")):
        profile = load_profile(path, registry)
        if profile.name in profiles:
            raise ConfigError(f"{path}: name: profile {profile.name!r} is defined twice")
        profiles[profile.name] = profile
    if not profiles:
        raise ConfigError(f"{directory}: no format profiles (*.yaml) found")
    return profiles
