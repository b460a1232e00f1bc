"""Read and validate the registry configuration (config/registry/*.yaml) as one whole.

Every problem is reported as `<file>: <key path>: <reason>` with the valid choices where there
are some; nothing is returned unless all files are valid together. Ingestors use this too (they
never open the warehouse), so it has no database dependency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.errors import ConfigError, format_validation_error
from core.registry.logger_facts import LoggerFacts, allowed_minute_intervals, effective_facts
from core.registry.models import (
    REGISTRY_FILES,
    SPECIAL_GRID_LEVELS,
    Enterprise,
    EnterprisesFile,
    Grid,
    GridsFile,
    MeasuredParameter,
    Outlet,
    Parameter,
    ParametersFile,
    Station,
    StationsFile,
    Unit,
    UnitsFile,
)

DEFAULT_TIMEZONE = "Asia/Shanghai"
_MAX_CHOICES_SHOWN = 40


def _choices(values: Iterable[str]) -> str:
    values = sorted(values)
    shown = ", ".join(values[:_MAX_CHOICES_SHOWN])
    more = len(values) - _MAX_CHOICES_SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")


@dataclass
class Registry:
    """The validated registry: the network of sites, enterprises, outlets and grids."""

    config_dir: Path
    config_hash: str
    units: dict[str, Unit]
    parameters: dict[str, Parameter]
    grids: dict[str, Grid]
    stations: dict[str, Station]
    enterprises: dict[str, Enterprise]
    outlets: dict[str, tuple[Enterprise, Outlet]] = field(default_factory=dict)

    @cached_property
    def site_ids(self) -> frozenset[str]:
        return frozenset(self.stations) | frozenset(self.outlets)

    @cached_property
    def outlet_by_mn(self) -> dict[str, str]:
        """HJ 212 logger MN -> outlet site_id."""
        return {outlet.logger.mn: site_id for site_id, (_, outlet) in self.outlets.items()}

    @cached_property
    def facts_by_mn(self) -> dict[str, LoggerFacts]:
        """HJ 212 logger MN -> its minute interval and period label (edition defaults applied)."""
        return {
            o.logger.mn: effective_facts(o.logger.protocol_edition, o.logger.minute_interval_s, o.logger.hour_label)
            for _, o in self.outlets.values()
        }

    def logger_facts(self, mn: str) -> LoggerFacts | None:
        """The facts of a registered logger (None for an MN the registry lacks)."""
        return self.facts_by_mn.get(mn)

    def site_kind(self, site_id: str) -> str:
        if site_id in self.stations:
            return self.stations[site_id].kind
        if site_id in self.outlets:
            return "outlet"
        raise KeyError(site_id)

    def site_parameters(self, site_id: str) -> list[MeasuredParameter]:
        if site_id in self.stations:
            return self.stations[site_id].parameters
        return self.outlets[site_id][1].parameters

    def site_unit(self, site_id: str, parameter: str) -> str:
        """The unit a site reports a parameter in (its own, else the parameter's default)."""
        for measured in self.site_parameters(site_id):
            if measured.parameter == parameter and measured.unit:
                return measured.unit
        return self.parameters[parameter].unit

    def site_timezone(self, site_id: str) -> str:
        if site_id in self.stations:
            return self.stations[site_id].timezone or DEFAULT_TIMEZONE
        return DEFAULT_TIMEZONE

    def convertible(self, unit_from: str, unit_to: str) -> bool:
        a, b = self.units.get(unit_from), self.units.get(unit_to)
        return a is not None and b is not None and a.quantity == b.quantity

    def conversion_factor(self, unit_from: str, unit_to: str) -> float:
        """Multiply a value in unit_from by this to get unit_to."""
        if not self.convertible(unit_from, unit_to):
            raise ValueError(f"cannot convert {unit_from!r} to {unit_to!r}")
        return self.units[unit_from].to_base / self.units[unit_to].to_base


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, file: Path, path: str, reason: str) -> None:
        self.lines.append(f"{file}: {path}: {reason}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise ConfigError("registry configuration is invalid:\n" + "\n".join(self.lines))


def _read_yaml(path: Path) -> Any:
    try:
        # libyaml's safe loader when built in: a province registry is tens of MB of YAML
        return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: missing; the registry needs {', '.join(REGISTRY_FILES)} in {path.parent}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def load_registry(config_dir: Path) -> Registry:
    """Read config_dir/registry/*.yaml, validate everything, and return the Registry."""
    reg_dir = Path(config_dir) / "registry"
    problems = _Problems()
    parsed: dict[str, Any] = {}
    digest = hashlib.sha256()
    for name, model in REGISTRY_FILES.items():
        path = reg_dir / name
        raw = _read_yaml(path)
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        try:
            parsed[name] = model.model_validate(raw)
        except ValidationError as exc:
            problems.lines.append(format_validation_error(str(path), exc))
    # further enterprise files (`enterprises.<name>.yaml`, e.g. the stubs `envmon registry
    # enrol` writes): their enterprises join enterprises.yaml's
    origins: list[tuple[Path, int]] = []
    if "enterprises.yaml" in parsed:
        origins = [(reg_dir / "enterprises.yaml", i) for i in range(len(parsed["enterprises.yaml"].enterprises))]
    for path in extra_enterprise_files(reg_dir):
        raw = _read_yaml(path)
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        try:
            extra = EnterprisesFile.model_validate(raw)
        except ValidationError as exc:
            problems.lines.append(format_validation_error(str(path), exc))
            continue
        if "enterprises.yaml" in parsed:
            origins += [(path, i) for i in range(len(extra.enterprises))]
            parsed["enterprises.yaml"].enterprises.extend(extra.enterprises)
    problems.raise_if_any()
    registry = _cross_check(
        reg_dir,
        digest.hexdigest(),
        parsed["units.yaml"],
        parsed["parameters.yaml"],
        parsed["grids.yaml"],
        parsed["stations.yaml"],
        parsed["enterprises.yaml"],
        problems,
        origins,
    )
    problems.raise_if_any()
    return registry


def extra_enterprise_files(reg_dir: Path) -> list[Path]:
    """`enterprises.<name>.yaml` files beside enterprises.yaml, in name order."""
    return sorted(p for p in Path(reg_dir).glob("enterprises.*.yaml") if p.is_file())


def _unique(items: list[Any], key: str, file: Path, listname: str, problems: _Problems) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        value = getattr(item, key)
        if value in out:
            problems.add(file, f"{listname}[{i}].{key}", f"duplicate id {value!r}")
        out[value] = item
    return out


def _cross_check(
    reg_dir: Path,
    config_hash: str,
    units_file: UnitsFile,
    params_file: ParametersFile,
    grids_file: GridsFile,
    stations_file: StationsFile,
    ent_file: EnterprisesFile,
    problems: _Problems,
    origins: list[tuple[Path, int]] | None = None,
) -> Registry:
    f_units, f_params, f_grids = reg_dir / "units.yaml", reg_dir / "parameters.yaml", reg_dir / "grids.yaml"
    f_stations, f_ents = reg_dir / "stations.yaml", reg_dir / "enterprises.yaml"

    units = _unique(units_file.units, "unit", f_units, "units", problems)
    params = _unique(params_file.parameters, "parameter", f_params, "parameters", problems)
    for i, p in enumerate(params_file.parameters):
        if p.unit not in units:
            problems.add(f_params, f"parameters[{i}].unit", f"unknown unit {p.unit!r}; valid choices: {_choices(units)}")
        if p.min_possible is not None and p.max_possible is not None and p.min_possible > p.max_possible:
            problems.add(f_params, f"parameters[{i}]", "min_possible is above max_possible")

    grids = _unique(grids_file.grids, "grid_id", f_grids, "grids", problems)
    officer_ids: set[str] = set()
    for i, g in enumerate(grids_file.grids):
        if g.parent_id is not None and g.parent_id not in grids:
            problems.add(f_grids, f"grids[{i}].parent_id", f"unknown grid {g.parent_id!r}; valid choices: {_choices(grids)}")
        if g.level != "city" and g.parent_id is None:
            problems.add(f_grids, f"grids[{i}].parent_id", f"a {g.level} grid needs a parent grid")
        for j, o in enumerate(g.officers):
            if o.officer_id in officer_ids:
                problems.add(f_grids, f"grids[{i}].officers[{j}].officer_id", f"duplicate id {o.officer_id!r}")
            officer_ids.add(o.officer_id)
    territorial = {k for k, g in grids.items() if g.level not in SPECIAL_GRID_LEVELS}
    special = {k for k, g in grids.items() if g.level in SPECIAL_GRID_LEVELS}

    def check_grid(file: Path, path: str, grid_id: str, special_grid_id: str | None) -> None:
        if grid_id not in territorial:
            problems.add(file, f"{path}.grid_id", f"unknown grid {grid_id!r}; valid choices: {_choices(territorial)}")
        if special_grid_id is not None and special_grid_id not in special:
            problems.add(file, f"{path}.special_grid_id", f"unknown special grid {special_grid_id!r}; valid choices: {_choices(special)}")

    def check_measured(file: Path, path: str, measured: list[MeasuredParameter]) -> None:
        for k, m in enumerate(measured):
            if m.parameter not in params:
                problems.add(file, f"{path}.parameters[{k}].parameter", f"unknown parameter {m.parameter!r}; valid choices: {_choices(params)}")
            elif m.unit is not None:
                check_unit(file, f"{path}.parameters[{k}].unit", m.unit, params[m.parameter].unit)

    def check_unit(file: Path, path: str, unit: str, expected: str) -> None:
        if unit not in units:
            problems.add(file, path, f"unknown unit {unit!r}; valid choices: {_choices(units)}")
        elif expected in units and units[unit].quantity != units[expected].quantity:
            same = [u for u, v in units.items() if v.quantity == units[expected].quantity]
            problems.add(file, path, f"unit {unit!r} does not measure what {expected!r} measures; valid choices: {_choices(same)}")

    site_ids: dict[str, str] = {}
    stations: dict[str, Station] = {}
    for i, s in enumerate(stations_file.stations):
        path = f"stations[{i}]"
        if s.site_id in site_ids:
            problems.add(f_stations, f"{path}.site_id", f"duplicate site id {s.site_id!r} (also in {site_ids[s.site_id]})")
        site_ids[s.site_id] = f_stations.name
        stations[s.site_id] = s
        check_grid(f_stations, path, s.grid_id, s.special_grid_id)
        check_measured(f_stations, path, s.parameters)
        if s.kind == "noise" and s.noise_zone is None:
            problems.add(f_stations, f"{path}.noise_zone", "a noise site needs its functional zone; valid choices: 0, 1, 2, 3, 4a, 4b")
        if s.kind == "water" and (s.water_target_class is None or s.waterbody is None):
            problems.add(f_stations, path, "a water section needs water_target_class (I-V) and waterbody (river or lake)")
        for key, reason in _boundary_point_problems(s):
            problems.add(f_stations, f"{path}.{key}", reason)

    enterprises = _unique(ent_file.enterprises, "enterprise_id", f_ents, "enterprises", problems)
    for i, s in enumerate(stations_file.stations):
        if s.enterprise_id is not None and s.enterprise_id not in enterprises:
            problems.add(f_stations, f"stations[{i}].enterprise_id",
                         f"unknown enterprise {s.enterprise_id!r}; valid choices: {_choices(enterprises)}")
    outlets: dict[str, tuple[Enterprise, Outlet]] = {}
    mns: dict[str, str] = {}
    minute_choices = allowed_minute_intervals()
    for n, e in enumerate(ent_file.enterprises):
        f_ents, i = origins[n] if origins and n < len(origins) else (reg_dir / "enterprises.yaml", n)
        epath = f"enterprises[{i}]"
        check_grid(f_ents, epath, e.grid_id, e.special_grid_id)
        for j, o in enumerate(e.outlets):
            path = f"{epath}.outlets[{j}]"
            if o.site_id in site_ids:
                problems.add(f_ents, f"{path}.site_id", f"duplicate site id {o.site_id!r} (also in {site_ids[o.site_id]})")
            site_ids[o.site_id] = f_ents.name
            if o.logger.mn in mns:
                problems.add(f_ents, f"{path}.logger.mn", f"MN {o.logger.mn!r} is already the logger of {mns[o.logger.mn]}")
            mns[o.logger.mn] = o.site_id
            if o.logger.minute_interval_s is not None and o.logger.minute_interval_s not in minute_choices:
                problems.add(f_ents, f"{path}.logger.minute_interval_s",
                             f"{o.logger.minute_interval_s} s is not a minute-data interval of HJ 212-2017 (CN 1064); "
                             f"valid choices: {', '.join(map(str, minute_choices))}")
            outlets[o.site_id] = (e, o)
            check_measured(f_ents, path, o.parameters)
            measured = {m.parameter for m in o.parameters}
            for k, lim in enumerate(o.permit_limits):
                lpath = f"{path}.permit_limits[{k}]"
                if lim.parameter not in measured:
                    problems.add(f_ents, f"{lpath}.parameter", f"{lim.parameter!r} is not measured at this outlet; valid choices: {_choices(measured)}")
                else:
                    check_unit(f_ents, f"{lpath}.unit", lim.unit, o_unit(o, lim.parameter, params))
                if lim.statistic.endswith("_o2") and o.reference_o2_pct is None:
                    problems.add(f_ents, f"{lpath}.statistic", "an O2-corrected limit needs the outlet's reference_o2_pct")
            for k, q in enumerate(o.permitted_quantities):
                if q.parameter not in params:
                    problems.add(f_ents, f"{path}.permitted_quantities[{k}].parameter", f"unknown parameter {q.parameter!r}; valid choices: {_choices(params)}")

    return Registry(reg_dir.parent, config_hash, units, params, grids, stations, enterprises, outlets)


def _boundary_point_problems(s: Station) -> list[tuple[str, str]]:
    """A boundary noise point (GB 12348-2008) names its enterprise and, when it measures Lmax,
    the kind of night-time sudden noise; ambient points have none of the boundary fields."""
    boundary = s.noise_standard == "GB12348-2008"
    out = []
    if s.noise_standard is not None and s.kind != "noise":
        out.append(("noise_standard", f"only a noise point has a noise standard, not a {s.kind} site"))
    if boundary and s.enterprise_id is None:
        out.append(("enterprise_id", "a GB12348-2008 boundary point needs the enterprise whose boundary it watches"))
    if not boundary and s.enterprise_id is not None:
        out.append(("noise_standard", "a point at an enterprise's boundary is judged by GB 12348; valid choices: GB12348-2008"))
    for key in ("noise_indoor", "night_sudden_noise"):
        if not boundary and getattr(s, key):
            out.append((key, f"{key} is a GB 12348 rule; set noise_standard: GB12348-2008"))
    if boundary and s.night_sudden_noise is None and any(m.parameter == "lmax" for m in s.parameters):
        out.append(("night_sudden_noise", "GB 12348 judges the night Lmax by the kind of sudden noise; valid choices: frequent, sporadic"))
    return out


def o_unit(outlet: Outlet, parameter: str, params: dict[str, Parameter]) -> str:
    for m in outlet.parameters:
        if m.parameter == parameter and m.unit:
            return m.unit
    return params[parameter].unit if parameter in params else ""
