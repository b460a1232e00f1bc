"""`envmon registry show` and `envmon registry validate`: what the registry's YAML holds, and
every problem in it, without the warehouse (registered on core's `registry` group).

`validate` also reads the alert rules (config/rules): a permit limit that no rule compares is a
warning naming the rules there are (core cannot know the rules, so the check lives here)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from core.identity import People
from core.registry.config import Registry, check_registry
from core.registry.models import Grid, Officer
from core.registry.terms import term
from core.settings import get_settings

console = Console()
KINDS = ("air", "water", "noise", "enterprise", "outlet", "grid", "people", "parameter")
_ROLE_ORDER = ("responsible", "leader", "inspector")


def _say(text: str = "", indent: int = 0, style: str | None = None) -> None:
    """One entry, wrapped at the terminal's width (CJK counted double) with its lines indented
    alike; an id or path is never cut (a longer one overflows its line)."""
    for line in Text(text, overflow="ignore").wrap(console, max(20, console.width - indent)) if text else [Text("")]:
        console.print(" " * indent + line.plain.rstrip(), style=style, markup=False, highlight=False, soft_wrap=True)


def counts(registry: Registry) -> str:
    """'N stations (air a, water w, noise n), N enterprises, N outlets, N grids, N parameters, N units'."""
    by_kind = Counter(s.kind for s in registry.stations.values())
    kinds = ", ".join(f"{k} {by_kind[k]}" for k in ("air", "water", "noise") if by_kind[k])
    return (f"{len(registry.stations)} stations ({kinds or 'none'}), {len(registry.enterprises)} enterprises, "
            f"{len(registry.outlets)} outlets, {len(registry.grids)} grids, {len(registry.parameters)} parameters, "
            f"{len(registry.units)} units")  # fmt: skip


def permit_rules(rules: list[Any]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """rule id -> (statistic, parameters) of the threshold rules that compare outlets with their
    permit limits."""
    return {r.rule_id: (r.statistic, tuple(r.parameters)) for r in rules
            if getattr(r, "kind", None) == "threshold" and r.limit.source == "permit" and "outlet" in r.site_kinds}  # fmt: skip


def unchecked_permit_limits(registry: Registry, rules: list[Any]) -> list[str]:
    """A warning per permit limit that no alert rule compares (its parameter and statistic in
    no threshold rule on permit limits): `<file>: <key path>: <reason>`."""
    checked = {(stat, p) for stat, params in permit_rules(rules).values() for p in params}
    out = []
    for site_id, (enterprise, outlet) in sorted(registry.outlets.items()):
        file, path = registry.places.get(site_id, (registry.config_dir / "registry" / "enterprises.yaml", "?"))
        for k, lim in enumerate(outlet.permit_limits):
            if (lim.statistic, lim.parameter) not in checked:
                out.append(f"{file}: {path}.permit_limits[{k}]: enterprise {enterprise.enterprise_id!r}, outlet "
                           f"{site_id!r}, {lim.parameter} {lim.statistic} {lim.limit:g} {lim.unit}: no alert rule "
                           f"compares {lim.parameter} {lim.statistic} with the permit, so an exceedance raises no alert")
    return out


def describe_permit_rules(rules: list[Any]) -> str:
    listed = [f"{rid} ({stat}: {', '.join(params)})" for rid, (stat, params) in sorted(permit_rules(rules).items())]
    return "the rules on permit limits (config/rules): " + ("; ".join(listed) or "none")


def validate_config(config_dir: Path) -> tuple[Registry | None, list[str], list[str]]:
    """(the registry or None, every problem, warnings): the registry's files in one pass, then the
    alert rules against it and the permit limits no rule compares. Opens no warehouse."""
    from core.errors import ConfigError

    check = check_registry(config_dir)
    if check.registry is None:
        return None, check.problems, []
    from alerts.rules import load_rules  # the rules load the standards' tables: only here

    try:
        rules = load_rules(config_dir, check.registry).rules
    except ConfigError as exc:
        lines = str(exc).splitlines()
        return check.registry, [ln for ln in lines[1:] if ln.strip()] or lines, []
    return check.registry, [], _warnings(check.registry, rules)


def permit_warnings(registry: Registry, config_dir: Path) -> list[str]:
    """The unchecked-permit-limit warnings of a registry being loaded (none when the rules do not
    load: `envmon registry validate` reports that)."""
    from alerts.rules import load_rules
    from core.errors import ConfigError

    try:
        return _warnings(registry, load_rules(config_dir, registry).rules)
    except ConfigError:
        return []


def _warnings(registry: Registry, rules: list[Any]) -> list[str]:
    warnings = unchecked_permit_limits(registry, rules)
    return [*([*warnings, describe_permit_rules(rules)] if warnings else []), *unnamed_facts(registry)]


def unnamed_facts(registry: Registry) -> list[str]:
    """Enterprises without the facts every case and export names them by (issue 20): the unified
    social credit code and the registered address."""
    out = []
    for e in sorted(registry.enterprises.values(), key=lambda e: e.enterprise_id):
        missing = [what for what, value in (("credit_code (统一社会信用代码)", e.credit_code),
                                            ("address (注册地址)", e.address)) if not value]  # fmt: skip
        if missing:
            out.append(f"enterprise {e.enterprise_id!r} ({e.name_zh}) has no {' and no '.join(missing)}: "
                       "its cases, notifications and exports will name it without")
    return out


def registry_validate() -> None:
    """Check config/registry/*.yaml (and the alert rules against it) without the warehouse: every
    problem at once (file, key path, reason, valid choices); exit 1 when there is any."""
    settings = get_settings()
    registry, problems, warnings = validate_config(settings.config_dir)
    for line in warnings:
        _say(f"warning: {line}", style="yellow")
    if problems:
        _say(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {settings.config_dir}:", style="red")
        for line in problems:
            _say(line, 2)
        raise typer.Exit(1)
    assert registry is not None
    _say(f"OK: {counts(registry)} ({settings.config_dir / 'registry'}, config {registry.config_hash[:12]})")


# what people call the registry's internal ids (statistics, outlet types, industries, grid
# levels): one table, each row citing where the term comes from
def _officer(grid: Grid | None) -> Officer | None:
    if grid is None or not grid.officers:
        return None
    return sorted(grid.officers, key=lambda o: _ROLE_ORDER.index(o.role))[0]


def _where(registry: Registry, grid_id: str, special_grid_id: str | None) -> str:
    parts = []
    for gid in (grid_id, special_grid_id):
        if gid is None:
            continue
        grid = registry.grids.get(gid)
        officer = _officer(grid)
        text = f"grid {grid.name_zh} {grid.name_en} ({gid})" if grid else f"grid {gid}"
        if officer:
            text += f", {term('role', officer.role)} {officer.name_zh} {officer.name_en}"
        parts.append(text)
    return "; ".join(parts)


def _item(ident: str, name_zh: str, name_en: str, detail: str, indent: int = 2) -> None:
    _say(f"{ident}  {name_zh} {name_en}", indent)
    _say(detail, indent + 4)


def show_registry(registry: Registry, kind: str | None) -> None:
    """The listing: a count line, then each item (id, Chinese name then English) with its grid and
    officer on the next line."""
    _say(f"registry {registry.config_dir / 'registry'}: {counts(registry)}")
    for site_kind, title in (("air", "Air stations 空气站"), ("water", "Water sections 水质断面"),
                             ("noise", "Noise points 噪声监测点")):  # fmt: skip
        if kind not in (None, site_kind):
            continue
        sites = [s for s in registry.stations.values() if s.kind == site_kind]
        _say(f"\n{title} ({len(sites)})", style="bold")
        for s in sorted(sites, key=lambda s: s.site_id):
            _item(s.site_id, s.name_zh, s.name_en, _where(registry, s.grid_id, s.special_grid_id))
    if kind in (None, "enterprise"):
        _say(f"\nEnterprises 企业 ({len(registry.enterprises)}, {len(registry.outlets)} outlets)", style="bold")
        for e in sorted(registry.enterprises.values(), key=lambda e: e.enterprise_id):
            key = ", key monitored 重点排污单位" if e.key_monitored else ""
            industry = term("industry", e.industry)
            industry += f" ({e.industry})" if industry != e.industry else ""  # the id the YAML holds
            facts = "".join(f"; {label} {value}" for label, value in (
                ("统一社会信用代码 credit code", e.credit_code), ("注册地址 address", e.address)) if value)
            _item(e.enterprise_id, e.name_zh, e.name_en,
                  f"industry {industry}{key}{facts}; {_where(registry, e.grid_id, e.special_grid_id)}")  # fmt: skip
            for o in e.outlets:
                _item(o.site_id, o.name_zh, o.name_en, _outlet_detail(o), indent=6)
    if kind == "outlet":
        _say(f"\nOutlets 排放口 ({len(registry.outlets)})", style="bold")
        for site_id, (e, o) in sorted(registry.outlets.items()):
            _item(site_id, o.name_zh, o.name_en, f"{e.name_zh} {e.name_en} ({e.enterprise_id}); {_outlet_detail(o)}")
    if kind in (None, "grid"):
        _say(f"\nGrids 网格 ({len(registry.grids)})", style="bold")
        for g in registry.grids.values():
            officers = ", ".join(f"{term('role', o.role)} {o.name_zh} {o.name_en}" for o in
                                 sorted(g.officers, key=lambda o: _ROLE_ORDER.index(o.role)))  # fmt: skip
            parent = f" in {g.parent_id}" if g.parent_id else ""
            _item(g.grid_id, g.name_zh, g.name_en, f"{term('grid_level', g.level)}{parent}; {officers or 'no officer'}")
    if kind in (None, "people"):
        people = People.from_registry(registry)
        _say(f"\nPeople 人员 ({len(people.by_id)}: officers by grid, then bureau staff)", style="bold")
        for p in people:
            where = f"{registry.grids[p.grid_id].name_zh} ({p.grid_id})" if p.grid_id in registry.grids else "bureau staff"
            contact = ", ".join(c for c in (p.phone, p.email) if c)
            logins = f"; login {', '.join(p.os_users)}" if p.os_users else ""
            _item(p.person_id, p.name_zh, p.name_en, f"{term('role', p.role)}, {where}; {contact or 'no contact'}{logins}")
    if kind in (None, "parameter"):
        _say(f"\nParameters 监测项目 ({len(registry.parameters)})", style="bold")
        for p in registry.parameters.values():
            codes = " / ".join(c for c in (p.hj212_2017_code, p.hj212_2005_code) if c)
            _item(p.parameter, p.name_zh, p.name_en,
                  f"{p.domain.replace('_', ' ')}, {p.unit}; " + (f"HJ 212 code {codes}" if codes else "no HJ 212 code"))


def _outlet_detail(o: Any) -> str:
    """'废气排放口 flue gas outlet, MN ...; dust, nox, ...; limits as 小时均值（折算） hourly mean at
    reference O2: dust 20 mg/m3, so2 50 mg/m3': the permit limits by statistic, each named as
    people call it."""
    params = sorted({m.parameter for m in o.parameters})
    by_statistic: dict[str, list[str]] = {}
    for lim in o.permit_limits:
        by_statistic.setdefault(lim.statistic, []).append(f"{lim.parameter} {lim.limit:g} {lim.unit}")
    limits = "; ".join(f"limits as {term('statistic', stat)}: {', '.join(values)}" for stat, values in by_statistic.items())
    return f"{term('outlet_type', o.outlet_type)}, MN {o.logger.mn}; {', '.join(params)}" + (f"; {limits}" if limits else "")


def registry_show(
    kind: Annotated[str | None, typer.Option(help=f"only this kind: {', '.join(KINDS)}")] = None,
) -> None:
    """List what config/registry/*.yaml holds (no warehouse): counts, then each station,
    enterprise with its outlets, grid and parameter, Chinese name first."""
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"{kind!r}; valid choices: {', '.join(KINDS)}", param_hint="--kind")
    from core.registry.config import load_registry

    show_registry(load_registry(get_settings().config_dir), kind)


def register(registry_app: typer.Typer) -> None:
    registry_app.command("show")(registry_show)
    registry_app.command("validate")(registry_validate)
