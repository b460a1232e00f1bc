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
    StaffMember,
    Station,
    StationsFile,
    Unit,
    UnitsFile,
)
from core.strict import StrictModel

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
    # site id -> (file, key path) where it is defined (an outlet's path names its enterprise)
    places: dict[str, tuple[Path, str]] = field(default_factory=dict)
    # bureau staff who are not grid officers (grids.yaml `staff:`), by person_id
    staff: dict[str, StaffMember] = field(default_factory=dict)

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
    """Every problem of the registry, one line each: `<file>: <key path>: <reason>`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, file: Path, path: str, reason: str) -> None:
        self.lines.append(f"{file}: {path}: {reason}")

    def extend(self, text: str) -> None:
        self.lines.extend(line for line in text.splitlines() if line.strip())


@dataclass
class RegistryCheck:
    """The outcome of reading the registry: the Registry when it has no problem, else None and
    every problem found (all files, shape and cross-references, in one pass)."""

    registry: Registry | None
    problems: list[str]


_UNREAD = object()  # what _read_yaml returns for a file it could not read (the problem recorded)


def _read_yaml(path: Path, problems: _Problems) -> Any:
    """The file's content, or _UNREAD (the problem recorded) when it is missing or not YAML."""
    try:
        # libyaml's safe loader when built in: a province registry is tens of MB of YAML
        return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        problems.lines.append(f"{path}: missing; the registry needs {', '.join(REGISTRY_FILES)} in {path.parent}")
    except yaml.YAMLError as exc:
        problems.lines.append(f"{path}: not valid YAML: " + " ".join(str(exc).split()))
    return _UNREAD


# file model -> (its list key, the id field of an item)
_ID_FIELDS = {UnitsFile: ("units", "unit"), ParametersFile: ("parameters", "parameter"),
              GridsFile: ("grids", "grid_id"), StationsFile: ("stations", "site_id"),
              EnterprisesFile: ("enterprises", "enterprise_id")}  # fmt: skip


def _parse(
    path: Path, model: type[StrictModel], raw: Any, problems: _Problems
) -> tuple[Any, set[str], list[int] | None]:
    """The file's valid items as `model` (None when the file's shape is unusable), the ids of its
    invalid items (reported once here, not again as unknown where they are used) and the
    positions of the valid items in the file (None: all of them)."""
    key, id_field = _ID_FIELDS[model]
    if not isinstance(raw, dict):
        problems.add(path, "(top level)", f"{'empty' if raw is None else 'not a mapping'}; the file holds `{key}:`, a list")
        return None, set(), None
    try:
        return model.model_validate(raw), set(), None
    except ValidationError as exc:
        problems.extend(format_validation_error(str(path), exc))
        errors = exc.errors()
    items = raw.get(key)
    if not isinstance(items, list) or any(len(e["loc"]) < 2 or e["loc"][0] != key for e in errors):
        return None, set(), None
    bad = {e["loc"][1] for e in errors}
    invalid = {str(item[id_field]) for i, item in enumerate(items)
               if i in bad and isinstance(item, dict) and item.get(id_field) is not None}  # fmt: skip
    kept = [i for i in range(len(items)) if i not in bad]
    try:
        return model.model_validate({key: [items[i] for i in kept]}), invalid, kept
    except ValidationError:  # not expected: the good items passed above
        return None, invalid, None


def check_registry(config_dir: Path) -> RegistryCheck:
    """Read config_dir/registry/*.yaml and check everything in one pass: a missing or unreadable
    file, an item of the wrong shape and a wrong cross-reference are all reported together. An
    item that fails its own checks is reported once (its id is not reported unknown where used)."""
    reg_dir = Path(config_dir) / "registry"
    problems = _Problems()
    parsed: dict[str, Any] = {}
    invalid: dict[str, set[str]] = {}
    positions: dict[str, list[int] | None] = {}
    digest = hashlib.sha256()
    for name, model in REGISTRY_FILES.items():
        path = reg_dir / name
        raw = _read_yaml(path, problems)
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        parsed[name], invalid[name], positions[name] = (
            (None, set(), None) if raw is _UNREAD else _parse(path, model, raw, problems))
    # further enterprise files (`enterprises.<name>.yaml`, e.g. the stubs `envmon registry
    # enrol` writes): their enterprises join enterprises.yaml's
    main_ents = reg_dir / "enterprises.yaml"
    origins: list[tuple[Path, int]] = []
    if parsed["enterprises.yaml"] is not None:
        kept = positions["enterprises.yaml"] or range(len(parsed["enterprises.yaml"].enterprises))
        origins = [(main_ents, i) for i in kept]
    for path in extra_enterprise_files(reg_dir):
        raw = _read_yaml(path, problems)
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        extra, bad_ids, kept = (None, set(), None) if raw is _UNREAD else _parse(path, EnterprisesFile, raw, problems)
        invalid["enterprises.yaml"] |= bad_ids
        if extra is None:
            continue
        if parsed["enterprises.yaml"] is None:
            parsed["enterprises.yaml"] = EnterprisesFile(enterprises=[])
        origins += [(path, i) for i in (kept or range(len(extra.enterprises)))]
        parsed["enterprises.yaml"].enterprises.extend(extra.enterprises)
    usable = {name for name, value in parsed.items() if value is not None}
    empty = {name: model.model_construct(**{_ID_FIELDS[model][0]: []}) for name, model in REGISTRY_FILES.items()}
    registry = _cross_check(
        reg_dir,
        digest.hexdigest(),
        *(parsed[name] or empty[name] for name in REGISTRY_FILES),
        problems,
        origins,
        _Known(usable, invalid, positions),
    )
    return RegistryCheck(None if problems.lines else registry, problems.lines)


def load_registry(config_dir: Path) -> Registry:
    """Read config_dir/registry/*.yaml, validate everything, and return the Registry; a
    ConfigError listing every problem (one per line) when there is any."""
    check = check_registry(config_dir)
    if check.registry is None:
        raise ConfigError("registry configuration is invalid:\n" + "\n".join(check.problems))
    return check.registry


@dataclass(frozen=True)
class _Known:
    """Which files were read whole (their ids are complete) and the ids of invalid items: an
    unknown reference is reported only when it can really be unknown."""

    usable: set[str]
    invalid: dict[str, set[str]]
    positions: dict[str, list[int] | None] = field(default_factory=dict)  # file -> valid items' places

    def unknown(self, file: str, value: str, known: Iterable[str]) -> bool:
        return file in self.usable and value not in known and value not in self.invalid.get(file, set())

    def numbered(self, file: str, items: list[Any]) -> list[tuple[int, Any]]:
        """(position in the file, item) of a file's valid items."""
        return list(zip(self.positions.get(file) or range(len(items)), items, strict=True))


def extra_enterprise_files(reg_dir: Path) -> list[Path]:
    """`enterprises.<name>.yaml` files beside enterprises.yaml, in name order."""
    return sorted(p for p in Path(reg_dir).glob("enterprises.*.yaml") if p.is_file())


def _unique(
    items: list[Any], key: str, places: list[tuple[Path, str]], problems: _Problems
) -> dict[str, Any]:
    """id -> item; a second item with an id names the first one's file and key path."""
    out: dict[str, Any] = {}
    first: dict[str, tuple[Path, str]] = {}
    for item, (file, path) in zip(items, places, strict=True):
        value = getattr(item, key)
        if value in out:
            other = first[value]
            problems.add(file, f"{path}.{key}", f"duplicate id {value!r} (also {other[0]}: {other[1]}.{key})")
            continue
        out[value] = item
        first[value] = (file, path)
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
    known: _Known | None = None,
) -> Registry:
    f_units, f_params, f_grids = reg_dir / "units.yaml", reg_dir / "parameters.yaml", reg_dir / "grids.yaml"
    f_stations = reg_dir / "stations.yaml"
    known = known or _Known(set(REGISTRY_FILES), {})

    def places(file: Path, name: str, listname: str, items: list[Any]) -> list[tuple[Path, str]]:
        return [(file, f"{listname}[{i}]") for i, _ in known.numbered(name, items)]

    units = _unique(units_file.units, "unit", places(f_units, "units.yaml", "units", units_file.units), problems)
    params = _unique(params_file.parameters, "parameter",
                     places(f_params, "parameters.yaml", "parameters", params_file.parameters), problems)  # fmt: skip
    for i, p in known.numbered("parameters.yaml", params_file.parameters):
        if known.unknown("units.yaml", p.unit, units):
            problems.add(f_params, f"parameters[{i}].unit", f"unknown unit {p.unit!r}; valid choices: {_choices(units)}")
        if p.min_possible is not None and p.max_possible is not None and p.min_possible > p.max_possible:
            problems.add(f_params, f"parameters[{i}]", "min_possible is above max_possible")

    grids = _unique(grids_file.grids, "grid_id", places(f_grids, "grids.yaml", "grids", grids_file.grids), problems)
    officer_ids: dict[str, str] = {}
    for i, g in known.numbered("grids.yaml", grids_file.grids):
        if g.parent_id is not None and known.unknown("grids.yaml", g.parent_id, grids):
            problems.add(f_grids, f"grids[{i}].parent_id", f"unknown grid {g.parent_id!r}; valid choices: {_choices(grids)}")
        if g.level != "city" and g.parent_id is None:
            problems.add(f_grids, f"grids[{i}].parent_id", f"a {g.level} grid needs a parent grid")
        for j, o in enumerate(g.officers):
            opath = f"grids[{i}].officers[{j}].officer_id"
            if o.officer_id in officer_ids:
                problems.add(f_grids, opath, f"duplicate id {o.officer_id!r} (also {f_grids}: {officer_ids[o.officer_id]})")
            else:
                officer_ids[o.officer_id] = opath
    staff: dict[str, StaffMember] = {}
    logins: dict[str, str] = {}  # login name -> the key path of the person who has it
    for i, g in known.numbered("grids.yaml", grids_file.grids):
        for j, o in enumerate(g.officers):
            for login in o.os_users:
                _claim_login(logins, login, f"grids[{i}].officers[{j}].os_users", f_grids, problems)
    for i, m in enumerate(grids_file.staff):
        spath = f"staff[{i}]"
        if m.person_id in officer_ids or m.person_id in staff:
            other = officer_ids.get(m.person_id) or f"staff (person {m.person_id!r})"
            problems.add(f_grids, f"{spath}.person_id", f"duplicate id {m.person_id!r} (also {f_grids}: {other})")
        else:
            staff[m.person_id] = m
        for login in m.os_users:
            _claim_login(logins, login, f"{spath}.os_users", f_grids, problems)
    territorial = {k for k, g in grids.items() if g.level not in SPECIAL_GRID_LEVELS}
    special = {k for k, g in grids.items() if g.level in SPECIAL_GRID_LEVELS}

    def check_grid(file: Path, path: str, grid_id: str, special_grid_id: str | None) -> None:
        if known.unknown("grids.yaml", grid_id, territorial):
            problems.add(file, f"{path}.grid_id", f"unknown grid {grid_id!r}; valid choices: {_choices(territorial)}")
        if special_grid_id is not None and known.unknown("grids.yaml", special_grid_id, special):
            problems.add(file, f"{path}.special_grid_id", f"unknown special grid {special_grid_id!r}; valid choices: {_choices(special)}")

    def check_measured(file: Path, path: str, measured: list[MeasuredParameter]) -> None:
        for k, m in enumerate(measured):
            if m.parameter not in params:
                if known.unknown("parameters.yaml", m.parameter, params):
                    problems.add(file, f"{path}.parameters[{k}].parameter", f"unknown parameter {m.parameter!r}; valid choices: {_choices(params)}")
            elif m.unit is not None:
                check_unit(file, f"{path}.parameters[{k}].unit", m.unit, params[m.parameter].unit)

    def check_unit(file: Path, path: str, unit: str, expected: str) -> None:
        if unit not in units:
            if known.unknown("units.yaml", unit, units):
                problems.add(file, path, f"unknown unit {unit!r}; valid choices: {_choices(units)}")
        elif expected in units and units[unit].quantity != units[expected].quantity:
            same = [u for u, v in units.items() if v.quantity == units[expected].quantity]
            problems.add(file, path, f"unit {unit!r} does not measure what {expected!r} measures; valid choices: {_choices(same)}")

    site_ids: dict[str, tuple[Path, str]] = {}  # site id -> where it is first defined
    stations: dict[str, Station] = {}
    for i, s in known.numbered("stations.yaml", stations_file.stations):
        path = f"stations[{i}]"
        if s.site_id in site_ids:
            other = site_ids[s.site_id]
            problems.add(f_stations, f"{path}.site_id", f"duplicate site id {s.site_id!r} (also {other[0]}: {other[1]}.site_id)")
        else:
            site_ids[s.site_id] = (f_stations, path)
            stations[s.site_id] = s
        check_grid(f_stations, path, s.grid_id, s.special_grid_id)
        check_measured(f_stations, path, s.parameters)
        if s.kind == "noise" and s.noise_zone is None:
            problems.add(f_stations, f"{path}.noise_zone", "a noise site needs its functional zone; valid choices: 0, 1, 2, 3, 4a, 4b")
        if s.kind == "water" and (s.water_target_class is None or s.waterbody is None):
            problems.add(f_stations, path, "a water section needs water_target_class (I-V) and waterbody (river or lake)")
        for key, reason in _boundary_point_problems(s):
            problems.add(f_stations, f"{path}.{key}", reason)

    n_ents = len(ent_file.enterprises)
    origins = origins if origins and len(origins) == n_ents else [(reg_dir / "enterprises.yaml", n) for n in range(n_ents)]
    enterprises = _unique(ent_file.enterprises, "enterprise_id",
                          [(file, f"enterprises[{i}]") for file, i in origins], problems)  # fmt: skip
    for i, s in known.numbered("stations.yaml", stations_file.stations):
        if s.enterprise_id is not None and known.unknown("enterprises.yaml", s.enterprise_id, enterprises):
            problems.add(f_stations, f"stations[{i}].enterprise_id",
                         f"unknown enterprise {s.enterprise_id!r}; valid choices: {_choices(enterprises)}")
    outlets: dict[str, tuple[Enterprise, Outlet]] = {}
    mns: dict[str, tuple[str, Path, str]] = {}  # MN -> (site id, file, key path)
    minute_choices = allowed_minute_intervals()
    for e, (f_ents, i) in zip(ent_file.enterprises, origins, strict=True):
        epath = f"enterprises[{i}]"
        check_grid(f_ents, epath, e.grid_id, e.special_grid_id)
        for j, o in enumerate(e.outlets):
            path = f"{epath}.outlets[{j}]"
            if o.site_id in site_ids:
                other = site_ids[o.site_id]
                problems.add(f_ents, f"{path}.site_id", f"duplicate site id {o.site_id!r} (also {other[0]}: {other[1]}.site_id)")
            else:
                site_ids[o.site_id] = (f_ents, path)
                outlets[o.site_id] = (e, o)
            if o.logger.mn in mns:
                site, file, where = mns[o.logger.mn]
                problems.add(f_ents, f"{path}.logger.mn",
                             f"MN {o.logger.mn!r} is already the logger of {site} ({file}: {where})")
            else:
                mns[o.logger.mn] = (o.site_id, f_ents, f"{path}.logger.mn")
            if o.logger.minute_interval_s is not None and o.logger.minute_interval_s not in minute_choices:
                problems.add(f_ents, f"{path}.logger.minute_interval_s",
                             f"{o.logger.minute_interval_s} s is not a minute-data interval of HJ 212-2017 (CN 1064); "
                             f"valid choices: {', '.join(map(str, minute_choices))}")
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
                if not lim.basis.strip():
                    problems.add(f_ents, f"{lpath}.basis",
                                 f"enterprise {e.enterprise_id!r}, outlet {o.site_id!r}, {lim.parameter} {lim.statistic} "
                                 f"{lim.limit:g} {lim.unit}: the basis is empty; cite the standard, edition and "
                                 "table (or the permit) the limit comes from")
            for k, q in enumerate(o.permitted_quantities):
                qpath = f"{path}.permitted_quantities[{k}]"
                if known.unknown("parameters.yaml", q.parameter, params):
                    problems.add(f_ents, f"{qpath}.parameter", f"unknown parameter {q.parameter!r}; valid choices: {_choices(params)}")
                if not q.basis.strip():
                    problems.add(f_ents, f"{qpath}.basis",
                                 f"enterprise {e.enterprise_id!r}, outlet {o.site_id!r}, {q.parameter} per {q.period}: "
                                 "the basis is empty; cite the permit the quantity comes from")

    return Registry(reg_dir.parent, config_hash, units, params, grids, stations, enterprises, outlets, site_ids,
                    staff)


def _claim_login(logins: dict[str, str], login: str, path: str, file: Path, problems: _Problems) -> None:
    """One person per login name: the actor of every action is whoever the login maps to."""
    if login in logins:
        problems.add(file, path, f"login {login!r} is already {logins[login]}'s; one login names one person")
    else:
        logins[login] = path


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
