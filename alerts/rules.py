"""Rule definitions (config/rules/*.yaml): shape, vocabulary and cross-checks at load time.

A rule says what to observe per period (a statistic against a limit, or a data anomaly), how
long the condition must hold (N consecutive periods, or N of the last M), when it applies
(night, public holidays), how an alert clears (K normal periods), its severity and whether it
opens an inspection case. Every problem is reported as `<file>: <key path>: <reason>` with the
valid choices, before anything is evaluated.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, TypeAdapter, ValidationError, model_validator

from core.errors import ConfigError, format_validation_error
from core.registry.config import Registry
from core.strict import StrictModel
from notify.config import Severity
from transforms.standards import water as gb3838

SITE_KINDS = ("air", "water", "noise", "outlet")

Id = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", min_length=1, max_length=64)


@dataclass(frozen=True)
class StatisticSpec:
    """Where a statistic lives and how long its period is."""

    source: str  # aggregates | aqi_daily | water_class | noise_daily
    period: str  # hour | day
    per_parameter: bool  # one value per parameter (aggregates) or one per site
    unit: str | None = None  # fixed unit of a site-level statistic
    limit_sources: tuple[str, ...] = ("value",)
    site_kinds: tuple[str, ...] = SITE_KINDS


# The statistics a threshold rule can compare (names as in warehouse/migrations/0050_derived.sql).
STATISTICS: dict[str, StatisticSpec] = {
    "hour_avg": StatisticSpec("aggregates", "hour", True, limit_sources=("permit", "value")),
    "hour_avg_o2": StatisticSpec(
        "aggregates", "hour", True, limit_sources=("permit", "value"), site_kinds=("outlet",)
    ),
    "day_avg": StatisticSpec(
        "aggregates", "day", True, limit_sources=("permit", "water_target_class", "value")
    ),
    "day_avg_o2": StatisticSpec(
        "aggregates", "day", True, limit_sources=("permit", "value"), site_kinds=("outlet",)
    ),
    "aqi_daily": StatisticSpec("aqi_daily", "day", False, unit="AQI", site_kinds=("air",)),
    "water_class_day": StatisticSpec(
        "water_class",
        "day",
        False,
        unit="class",
        limit_sources=("water_target_class",),
        site_kinds=("water",),
    ),
    "noise_ld": StatisticSpec(
        "noise_daily",
        "day",
        False,
        unit="dB(A)",
        limit_sources=("noise_zone", "value"),
        site_kinds=("noise",),
    ),
    "noise_ln": StatisticSpec(
        "noise_daily",
        "day",
        False,
        unit="dB(A)",
        limit_sources=("noise_zone", "value"),
        site_kinds=("noise",),
    ),
}


class Duration(StrictModel):
    """`consecutive: N` periods in a row, or `at_least: N` of the last `of_last: M` periods."""

    consecutive: int | None = Field(default=None, ge=1)
    at_least: int | None = Field(default=None, ge=1)
    of_last: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_form(self) -> Duration:
        if self.consecutive is not None and (self.at_least is not None or self.of_last is not None):
            raise ValueError("give either consecutive, or at_least with of_last, not both")
        if self.consecutive is None:
            if self.at_least is None or self.of_last is None:
                raise ValueError("give consecutive: N, or at_least: N with of_last: M")
            if self.at_least > self.of_last:
                raise ValueError(
                    f"at_least ({self.at_least}) cannot exceed of_last ({self.of_last})"
                )
        return self

    @property
    def needed(self) -> int:
        return self.consecutive if self.consecutive is not None else self.at_least  # type: ignore[return-value]

    @property
    def window(self) -> int:
        return self.consecutive if self.consecutive is not None else self.of_last  # type: ignore[return-value]


class Limit(StrictModel):
    """Where the limit comes from: the outlet's permit, the station's class or zone, or a number."""

    source: Literal["permit", "water_target_class", "noise_zone", "value"]
    value: float | None = None
    unit: str | None = None
    basis: str | None = None

    @model_validator(mode="after")
    def _value_needs_unit(self) -> Limit:
        if self.source == "value":
            if self.value is None or self.unit is None or not self.basis:
                raise ValueError(
                    "a limit with source: value needs value, unit and basis (why this number)"
                )
        elif self.value is not None or self.unit is not None:
            raise ValueError(
                f"source: {self.source} takes its value and unit from the registry; drop value/unit"
            )
        return self


class _RuleBase(StrictModel):
    rule_id: str = Id
    family: str = Id
    name_zh: str
    name_en: str
    site_kinds: list[Literal["air", "water", "noise", "outlet"]] = Field(min_length=1)
    severity: Severity
    opens_case: bool = False
    duration: Duration = Duration(consecutive=1)
    clear_after: int = Field(
        default=1, ge=1, description="normal periods in a row before an alert clears"
    )
    only_during: list[Literal["night", "holiday"]] = []
    repeat_every_h: float | None = Field(default=None, gt=0)
    context_periods: int = Field(
        default=3, ge=0, description="periods before the first exceedance kept as evidence"
    )
    description: str | None = None


class ThresholdRule(_RuleBase):
    kind: Literal["threshold"]
    statistic: str
    parameters: list[str] = []
    comparison: Literal["above", "below", "outside"] = "above"
    limit: Limit


class FlatLineRule(_RuleBase):
    """Values that do not change for `hours` (analyser stuck, or tampering)."""

    kind: Literal["flat_line"]
    parameters: list[str] = Field(min_length=1)
    hours: int = Field(ge=2)
    tolerance: float = Field(default=0.0, ge=0)
    interval_s: list[int] = [3600]
    min_coverage: float = Field(default=0.75, gt=0, le=1)


class NoDataRule(_RuleBase):
    """No reading of any parameter from a site for the duration (hours): a transmission outage."""

    kind: Literal["no_data"]
    lookback_h: int = Field(
        default=168, ge=1, description="only sites that reported within this many hours"
    )


class FlaggedRule(_RuleBase):
    """Readings carrying one of `flags` (HJ 212 data flags) for longer than allowed."""

    kind: Literal["flagged"]
    parameters: list[str] = Field(min_length=1)
    flags: list[str] = Field(min_length=1)
    interval_s: int = 3600


class TransmissionEfficiencyRule(_RuleBase):
    """Monthly data transmission efficiency (transmission × validity) below the requirement."""

    kind: Literal["transmission_efficiency"]
    minimum: float = Field(gt=0, le=1)
    basis: str


class Floor(StrictModel):
    """An absolute amount in a unit (converted to the unit of each outlet hour compared)."""

    value: float = Field(gt=0)
    unit: str


# What a consistency rule compares in outlet_hours: (the logger's column, envmon's column).
CONSISTENCY_PAIRS: dict[str, tuple[str, str]] = {
    "logger_vs_derived": ("logger_value", "derived_value"),
    "logger_zs_vs_corrected": ("logger_zs_value", "corrected_value"),
}


class ConsistencyRule(_RuleBase):
    """The data logger's own hourly value against envmon's recomputation of the same hour
    (outlet_hours): apart by more than max(relative × |envmon's value|, absolute_floor) is a
    sign of tampered or faulty logger software. The tolerances are the bureau's choice."""

    kind: Literal["consistency"]
    compare: Literal["logger_vs_derived", "logger_zs_vs_corrected"]
    parameters: list[str] = Field(min_length=1)
    relative_tolerance: float = Field(gt=0, lt=10)
    absolute_floor: Floor
    skip_not_operating: bool = Field(
        default=True, description="no verdict in a shut-down hour (outlet_hours.operating false)"
    )
    basis: str

    def judge(self, theirs: float, ours: float, floor: float) -> tuple[float, float, bool]:
        """(difference, allowed difference, beyond it): |theirs − ours| against
        max(relative_tolerance × |ours|, floor), the floor in the values' unit."""
        diff = abs(theirs - ours)
        allowed = max(self.relative_tolerance * abs(ours), floor)
        return diff, allowed, diff > allowed


class LongStopRule(_RuleBase):
    """An outlet not operating (outlet_hours.operating false in every row of the hour: process
    evidence of a shut-down — zero flow, O2 above the cap; a stopped treatment facility is not
    one) for `duration` hours, not covered by a declared maintenance window. An hour with no
    data (operating null) has no verdict and is looked through: it neither counts nor clears."""

    kind: Literal["long_stop"]
    basis: str


class TreatmentStoppedRule(_RuleBase):
    """A pollution-treatment facility reported stopped (HJ 212-2017 CN 2021 SBxxx-RS, the
    status of the TREATMENT facility) while the outlet is operating, i.e. discharging
    (outlet_hours.operating true and treatment_stopped naming the facilities) for `duration`
    hours: the classic bypass, 治理设施停运而排放口仍在排放. A shut-down hour (operating false)
    is normal — nothing is discharged untreated; an hour with no data (operating null) has no
    verdict. The duration is the bureau's operating choice."""

    kind: Literal["treatment_stopped"]
    basis: str
    seen_running_within_h: int | None = Field(
        default=None,
        ge=1,
        description=(
            "judge a facility only when the same outlet reported it running (SBn-RS not 0) "
            "within this many hours before the hour: loggers send SB1..SB8-RS=0 for status "
            "slots wired to nothing (every logger of the 2016 capture); such an hour has no "
            "verdict — it neither opens nor clears. None: every reported facility counts"
        ),
    )


Rule = Annotated[
    ThresholdRule
    | FlatLineRule
    | NoDataRule
    | FlaggedRule
    | TransmissionEfficiencyRule
    | ConsistencyRule
    | LongStopRule
    | TreatmentStoppedRule,
    Field(discriminator="kind"),
]


class NightWindow(StrictModel):
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)
    basis: str


class Calendar(StrictModel):
    night: NightWindow
    holidays_file: str


class CasePolicy(StrictModel):
    response_hours: float = Field(
        gt=0, description="an open/assigned case untouched this long is overdue"
    )
    inspection_hours: float = Field(
        gt=0, description="an under_inspection case is overdue after this"
    )
    basis: str
    reopen_days: float = Field(
        gt=0,
        description="a closed (销号) case is reopened, not a new one opened, when its exceedance "
        "recurs within this many days of the closure (alerts.cases.reopen, CaseBatch.open_or_attach)",
    )
    reopen_basis: str = Field(min_length=1, description="where reopen_days comes from")


def load_case_policy(config_dir: Path) -> CasePolicy:
    """The case policy (the `cases:` section of config_dir/rules/*.yaml) alone, without
    checking the rules against the registry: what a case command needs."""
    rules_dir = Path(config_dir) / "rules"
    found: list[tuple[Path, Any]] = []
    for path in sorted(rules_dir.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(raw, dict) and raw.get("cases") is not None:
            found.append((path, raw["cases"]))
    if len(found) != 1:
        raise ConfigError(
            f"{rules_dir}: "
            + ("no file has a cases: section" if not found else "the case policy is given twice: "
               + ", ".join(str(p) for p, _ in found))
        )
    path, raw = found[0]
    try:
        return TypeAdapter(CasePolicy).validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"{path}: cases", exc)) from exc


class RulesFile(StrictModel):
    rules: list[Rule] = []
    calendar: Calendar | None = None
    cases: CasePolicy | None = None


@dataclass(frozen=True)
class Holiday:
    day: date
    name_zh: str
    name_en: str


@dataclass
class RuleSet:
    rules: list[Any]
    calendar: Calendar
    cases: CasePolicy
    holidays: dict[date, Holiday]
    config_hash: str
    files: dict[str, str] = field(default_factory=dict)  # rule_id -> file

    @cached_property
    def by_id(self) -> dict[str, Any]:
        return {r.rule_id: r for r in self.rules}


def period_of(rule: Any) -> str:
    """hour | day | month: the period a rule observes."""
    if isinstance(rule, ThresholdRule):
        return STATISTICS[rule.statistic].period
    if isinstance(rule, TransmissionEfficiencyRule):
        return "month"
    return "hour"


def _choices(values: Any) -> str:
    return ", ".join(sorted(values))


def _check_unit_measures(
    bad: Callable[[str, str], None], key: str, unit: str, params: list[str], registry: Any
) -> None:
    """`unit` (a rule's limit or floor) must be a unit of the registry that measures every listed
    parameter (the same quantity as the parameter's own unit)."""
    if unit not in registry.units:
        bad(key, f"unknown unit {unit!r}; valid: {_choices(registry.units)}")
        return
    for p in params:
        if p in registry.parameters and not registry.convertible(unit, registry.parameters[p].unit):
            bad(
                key,
                f"{unit!r} cannot measure {p} (in {registry.parameters[p].unit}); "
                f"use a unit of quantity {registry.units[registry.parameters[p].unit].quantity}",
            )


def _check_rule(rule: Any, where: str, registry: Any, problems: list[str]) -> None:
    def bad(key: str, reason: str) -> None:
        problems.append(f"{where}.{key}: {reason}")

    params = list(getattr(rule, "parameters", []))
    for i, p in enumerate(params):
        if p not in registry.parameters:
            bad(
                f"parameters[{i}]",
                f"unknown parameter {p!r}; valid: {_choices(registry.parameters)}",
            )
    if isinstance(rule, FlaggedRule):
        from transforms.qc.source_flags import load_source_flags

        known = load_source_flags().flags
        for i, f in enumerate(rule.flags):
            if f not in known:
                bad(f"flags[{i}]", f"unknown data flag {f!r}; valid: {_choices(known)}")
    if rule.only_during and period_of(rule) != "hour":
        bad(
            "only_during",
            f"night/holiday windows apply to hourly rules; this rule observes a {period_of(rule)}",
        )
    if isinstance(
        rule, ConsistencyRule | LongStopRule | TreatmentStoppedRule
    ) and rule.site_kinds != ["outlet"]:
        bad("site_kinds", f"{rule.kind} rules read outlet_hours: site_kinds: [outlet]")
    if isinstance(rule, ConsistencyRule):
        _check_unit_measures(bad, "absolute_floor.unit", rule.absolute_floor.unit, params, registry)
    if not isinstance(rule, ThresholdRule):
        return
    spec = STATISTICS.get(rule.statistic)
    if spec is None:
        bad("statistic", f"unknown statistic {rule.statistic!r}; valid: {_choices(STATISTICS)}")
        return
    for i, kind in enumerate(rule.site_kinds):
        if kind not in spec.site_kinds:
            bad(
                f"site_kinds[{i}]",
                f"statistic {rule.statistic} exists for {', '.join(spec.site_kinds)}, not {kind!r}",
            )
    if rule.limit.source not in spec.limit_sources:
        bad(
            "limit.source",
            f"{rule.limit.source!r} is not a limit for {rule.statistic}; valid: {', '.join(spec.limit_sources)}",
        )
    if spec.per_parameter and not params:
        bad("parameters", f"statistic {rule.statistic} is per parameter: list the parameters")
    if not spec.per_parameter and params:
        bad("parameters", f"statistic {rule.statistic} is one value per site: drop parameters")
    if rule.limit.source == "permit" and rule.site_kinds != ["outlet"]:
        bad("site_kinds", "permit limits exist for outlets only: site_kinds: [outlet]")
    if rule.limit.source == "water_target_class" and spec.per_parameter:
        table = {**gb3838.limits("river"), **gb3838.limits("lake")}
        for i, p in enumerate(params):
            if p not in table:
                bad(f"parameters[{i}]", f"{p!r} has no GB 3838 limit; valid: {_choices(table)}")
    if rule.limit.source == "value":
        unit = rule.limit.unit
        if spec.per_parameter:
            _check_unit_measures(bad, "limit.unit", unit, params, registry)
        elif unit != spec.unit:
            bad("limit.unit", f"{rule.statistic} is in {spec.unit!r}; got {unit!r}")
    if rule.comparison == "outside" and rule.limit.source != "water_target_class":
        bad("comparison", "outside (a range such as pH 6-9) needs limit source water_target_class")


def load_holidays(path: Path) -> dict[date, Holiday]:
    out: dict[date, Holiday] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: missing (the public-holiday calendar named by calendar.holidays_file)"
        ) from None
    for line_no, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            day = date.fromisoformat(row["date"])
            out[day] = Holiday(day, row["name_zh"], row["name_en"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{path}:{line_no}: bad holiday row ({exc}); columns: date,name_zh,name_en,source"
            ) from None
    return out


@dataclass(frozen=True)
class _Param:
    unit: str


@dataclass(frozen=True)
class _Unit:
    quantity: str


class Vocabulary:
    """Parameters and units as the warehouse holds them (the registry loaded last), so rules can
    be validated without parsing the registry's YAML again on every evaluation."""

    def __init__(self, parameters: dict[str, str], units: dict[str, str]) -> None:
        self.parameters = {p: _Param(u) for p, u in parameters.items()}
        self.units = {u: _Unit(q) for u, q in units.items()}

    @classmethod
    def from_warehouse(cls, con: Any) -> Vocabulary:
        return cls(
            dict(con.execute("SELECT parameter, unit FROM parameters").fetchall()),
            dict(con.execute("SELECT unit, quantity FROM units").fetchall()),
        )

    def convertible(self, unit_from: str, unit_to: str) -> bool:
        a, b = self.units.get(unit_from), self.units.get(unit_to)
        return a is not None and b is not None and a.quantity == b.quantity


def load_rules(config_dir: Path, registry: Registry | Vocabulary) -> RuleSet:
    """Read config_dir/rules/*.yaml, validate every rule against the registry, return the set."""
    rules_dir = Path(config_dir) / "rules"
    files = sorted(rules_dir.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{rules_dir}: no rule files (*.yaml)")
    if not registry.parameters or not registry.units:
        raise ConfigError(
            "no parameters or units to check the rules against: run `envmon registry load` first"
        )
    problems: list[str] = []
    digest = hashlib.sha256()
    rules: list[Any] = []
    origin: dict[str, str] = {}
    calendar: tuple[Path, Calendar] | None = None
    cases: CasePolicy | None = None
    for path in files:
        raw_bytes = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw_bytes + b"\0")
        try:
            raw = yaml.safe_load(raw_bytes.decode("utf-8")) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        try:
            parsed = TypeAdapter(RulesFile).validate_python(raw)
        except ValidationError as exc:
            problems.append(format_validation_error(str(path), exc))
            continue
        if parsed.calendar is not None:
            if calendar is not None:
                problems.append(f"{path}: calendar: given twice (also in {calendar[0]})")
            calendar = (path, parsed.calendar)
        if parsed.cases is not None:
            if cases is not None:
                problems.append(f"{path}: cases: the case policy is given twice")
            cases = parsed.cases
        for i, rule in enumerate(parsed.rules):
            where = f"{path}: rules[{i}]"
            if rule.rule_id in origin:
                problems.append(
                    f"{where}.rule_id: {rule.rule_id!r} already defined in {origin[rule.rule_id]}"
                )
            origin[rule.rule_id] = str(path)
            _check_rule(rule, where, registry, problems)
            rules.append(rule)
    if calendar is None:
        problems.append(
            f"{rules_dir}: no file has a calendar: section (night hours, holidays_file)"
        )
    if cases is None:
        problems.append(
            f"{rules_dir}: no file has a cases: section (response_hours, inspection_hours, basis)"
        )
    if problems:
        raise ConfigError("alert rules are invalid:\n" + "\n".join(problems))
    assert calendar is not None and cases is not None
    holidays_path = rules_dir / calendar[1].holidays_file
    holidays = load_holidays(holidays_path)
    digest.update(holidays_path.read_bytes())
    return RuleSet(rules, calendar[1], cases, holidays, digest.hexdigest(), origin)
