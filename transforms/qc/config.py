"""config/qc.yaml: which checks run with which thresholds, per parameter and site kind.

Thresholds live here, never in code. Loading validates the whole file and fails loudly,
naming the file, the key path and the valid choices (unknown check, parameter or site kind).
The configuration hash (sha256 of the validated configuration plus the source-flag table) is
stored with every QC flag, so a flag can always be traced to the configuration that set it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from core.errors import ConfigError, format_validation_error
from core.strict import StrictModel
from transforms.qc.flags import Flag, parse_flag
from transforms.qc.source_flags import SourceFlagTable, load_source_flags

SITE_KINDS = ("air", "water", "noise", "outlet")
ANY_KIND = "any"  # applies to every site kind unless a kind sets the same check itself
Severity = Literal["suspect", "fail"]


class GrossRange(StrictModel):
    """Instrument range (configured); the physically possible range comes from the registry."""

    instrument_min: float | None = None
    instrument_max: float | None = None
    flag: Severity = "suspect"


class FlatLine(StrictModel):
    periods: int = Field(ge=2, description="this many consecutive equal values are flagged")
    tolerance: float = Field(default=0.0, ge=0)
    flag: Severity = "suspect"


class Spike(StrictModel):
    """QARTOD-style spike: |v - mean(prev, next)| - |next - prev| / 2 above a threshold."""

    suspect_above: float = Field(gt=0)
    fail_above: float | None = Field(default=None, gt=0)


class RateOfChange(StrictModel):
    max_per_hour: float = Field(gt=0)
    flag: Severity = "suspect"


class NonPositive(StrictModel):
    allow_zero: bool = True
    flag: Severity = "fail"


class CheckSet(StrictModel):
    """The checks of one parameter at one site kind; thresholds in `unit` (default: registry's)."""

    unit: str | None = None
    gross_range: GrossRange | None = None
    flat_line: FlatLine | None = None
    spike: Spike | None = None
    rate_of_change: RateOfChange | None = None
    non_positive: NonPositive | None = None


CHECKS = tuple(k for k in CheckSet.model_fields if k != "unit")


class Pm25Pm10(StrictModel):
    site_kinds: list[str] = ["air"]
    tolerance: float = Field(default=0.0, ge=0)
    flag: Severity = "suspect"


class O2Correction(StrictModel):
    site_kinds: list[str] = ["outlet"]
    o2_parameter: str = "o2"
    # None: the cap of the standards table (transforms/standards/tables/emission_o2_cap.csv),
    # the one definition the derivation's shut-down hours use too; a number is a local override
    o2_max_pct: float | None = Field(default=None, gt=0, le=21)
    flag: Severity = "fail"

    @property
    def max_pct(self) -> float:
        """The O2 (%) above which the period's O2 gives no valid correction."""
        if self.o2_max_pct is not None:
            return self.o2_max_pct
        from transforms.standards.emissions import o2_cap_pct

        return o2_cap_pct()


class Consistency(StrictModel):
    pm25_le_pm10: Pm25Pm10 | None = None
    o2_correction: O2Correction | None = None


class TransmissionEfficiency(StrictModel):
    interval_s: int = Field(default=3600, gt=0)
    required: float = Field(default=0.90, gt=0, le=1)


class GxSuite(StrictModel):
    earliest_timestamp: date = date(2000, 1, 1)
    future_tolerance_s: int = Field(default=300, ge=0)


class QcFile(StrictModel):
    version: Literal[1] = 1
    future_tolerance_s: int = Field(default=300, ge=0)
    auto_audit_grace_days: int = Field(default=3, ge=0)
    transmission_efficiency: TransmissionEfficiency = TransmissionEfficiency()
    great_expectations: GxSuite = GxSuite()
    consistency: Consistency = Consistency()
    parameters: dict[str, dict[str, CheckSet]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_checks(cls, data: Any) -> Any:
        # Give an unknown check its own message (StrictModel would say "unknown key").
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            for param, kinds in data["parameters"].items():
                for kind, checks in (kinds or {}).items() if isinstance(kinds, dict) else ():
                    for name in checks or {} if isinstance(checks, dict) else ():
                        if name != "unit" and name not in CHECKS:
                            raise ValueError(
                                f"parameters.{param}.{kind}: unknown check {name!r}; "
                                f"valid checks: {', '.join(CHECKS)}"
                            )
        return data


@dataclass(frozen=True)
class QcConfig:
    """The validated configuration with its hash; `checks_for` merges 'any' and the kind."""

    path: Path
    file: QcFile
    source_flags: SourceFlagTable
    config_hash: str

    def checks_for(self, parameter: str, site_kind: str) -> CheckSet:
        kinds = self.file.parameters.get(parameter, {})
        base = kinds.get(ANY_KIND)
        own = kinds.get(site_kind)
        merged: dict[str, Any] = {}
        for part in (base, own):
            if part is not None:
                merged.update({k: v for k, v in part if v is not None})
        return CheckSet(**merged)


def default_qc_path(config_dir: Path) -> Path:
    return Path(config_dir) / "qc.yaml"


def _registry_parameters(config_dir: Path) -> set[str]:
    path = Path(config_dir) / "registry" / "parameters.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {p["parameter"] for p in data.get("parameters", [])}


def load_qc_config(
    path: Path,
    known_parameters: Iterable[str] | None = None,
    *,
    source_flags: SourceFlagTable | None = None,
) -> QcConfig:
    """Read and validate qc.yaml; parameters are checked against `known_parameters`
    (default: the registry's parameters.yaml beside it)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read QC configuration: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        qc = QcFile(**raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
    known = set(known_parameters) if known_parameters is not None else _registry_parameters(path.parent)
    problems = _cross_check(qc, known)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    flags = source_flags or load_source_flags()
    canonical = json.dumps(qc.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256((canonical + "\n" + flags.sha256).encode("utf-8")).hexdigest()
    return QcConfig(path, qc, flags, digest)


def _cross_check(qc: QcFile, known: set[str]) -> list[str]:
    problems = []
    kinds = (*SITE_KINDS, ANY_KIND)
    for param, by_kind in qc.parameters.items():
        if param not in known:
            problems.append(f"parameters.{param}: unknown parameter {param!r}; valid parameters: {', '.join(sorted(known))}")
        for kind in by_kind:
            if kind not in kinds:
                problems.append(f"parameters.{param}.{kind}: unknown site kind {kind!r}; valid site kinds: {', '.join(kinds)}")
    for name in ("pm25_le_pm10", "o2_correction"):
        rule = getattr(qc.consistency, name)
        for i, kind in enumerate(rule.site_kinds if rule else []):
            if kind not in SITE_KINDS:
                problems.append(f"consistency.{name}.site_kinds[{i}]: unknown site kind {kind!r}; valid site kinds: {', '.join(SITE_KINDS)}")
    o2 = qc.consistency.o2_correction
    if o2 and o2.o2_parameter not in known:
        problems.append(f"consistency.o2_correction.o2_parameter: unknown parameter {o2.o2_parameter!r}")
    return problems


def severity(label: str) -> Flag:
    return parse_flag(label)
