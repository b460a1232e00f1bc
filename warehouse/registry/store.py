"""Write a validated Registry into the warehouse, all tables in one transaction.

Re-loading the same files changes nothing (the configuration hash is compared first); a
changed configuration replaces the registry tables as a whole and reports what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from core.installation_key import installation_key, password_hmac
from core.registry.config import DEFAULT_TIMEZONE, Registry
from core.registry.models import DEFAULT_NOISE_STANDARD, SPECIAL_GRID_LEVELS
from core.settings import get_settings
from warehouse.bulk import insert_rows
from warehouse.db import transaction


@dataclass(frozen=True)
class TableChange:
    table: str
    added: int
    removed: int


@dataclass(frozen=True)
class RegistryLoadResult:
    changed: bool
    config_hash: str
    changes: list[TableChange]


def registry_rows(reg: Registry, key: bytes | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of each registry table, in the tables' column order. Logger passwords are stored
    as keyed hashes (`key`: the installation's, core/installation_key.py; migration 0095)."""
    key = key if key is not None else installation_key(get_settings().home)
    rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in (
        "units", "parameters", "grids", "officers", "staff", "enterprises", "sites", "outlets",
        "site_parameters", "permit_limits", "permitted_quantities", "noise_points")}
    for u in reg.units.values():
        rows["units"].append((u.unit, u.quantity, u.to_base, u.name_zh))
    for p in reg.parameters.values():
        rows["parameters"].append((p.parameter, p.name_en, p.name_zh, p.domain, p.unit, p.hj212_2017_code,
                                   p.hj212_2005_code, p.min_possible, p.max_possible, p.decimals))
    for g in reg.grids.values():
        rows["grids"].append((g.grid_id, g.name_en, g.name_zh, g.level, g.parent_id, g.level in SPECIAL_GRID_LEVELS))
        for o in g.officers:
            rows["officers"].append((o.officer_id, o.name_zh, o.name_en, g.grid_id, o.role, o.phone, o.email))
    for m in reg.staff.values():  # migration 0102
        rows["staff"].append((m.person_id, m.name_zh, m.name_en, m.role, m.phone, m.email))
    for s in reg.stations.values():
        rows["sites"].append((s.site_id, s.kind, s.name_zh, s.name_en, s.grid_id, s.special_grid_id,
                              s.timezone or DEFAULT_TIMEZONE, s.latitude, s.longitude, s.commissioned_on,
                              s.decommissioned_on, s.noise_zone, s.water_target_class, s.waterbody,
                              s.air_zone_class, s.in_city_assessment))
        if s.kind == "noise":  # migration 0096: its standard and, at a boundary, the GB 12348 facts
            rows["noise_points"].append((s.site_id, s.noise_standard or DEFAULT_NOISE_STANDARD,
                                         s.enterprise_id, s.noise_indoor, s.night_sudden_noise))
        for m in s.parameters:
            rows["site_parameters"].append((s.site_id, m.parameter, m.interval_s, reg.site_unit(s.site_id, m.parameter)))
    for e in reg.enterprises.values():
        rows["enterprises"].append((e.enterprise_id, e.name_zh, e.name_en, e.grid_id, e.special_grid_id,
                                    e.industry, e.key_monitored, e.credit_code, e.address))
        for o in e.outlets:
            rows["sites"].append((o.site_id, "outlet", o.name_zh, o.name_en, e.grid_id, e.special_grid_id,
                                  DEFAULT_TIMEZONE, o.latitude, o.longitude, o.commissioned_on, None,
                                  None, None, None, None, None))
            facts = reg.facts_by_mn[o.logger.mn]  # effective values: the edition's defaults applied
            rows["outlets"].append((o.site_id, e.enterprise_id, o.outlet_type, o.reference_o2_pct,
                                    o.emission_standard, o.logger.mn, password_hmac(key, o.logger.mn, o.logger.password),
                                    o.logger.protocol_edition,
                                    facts.minute_interval_s, facts.hour_label))
            for m in o.parameters:
                rows["site_parameters"].append((o.site_id, m.parameter, m.interval_s, reg.site_unit(o.site_id, m.parameter)))
            for lim in o.permit_limits:
                rows["permit_limits"].append((o.site_id, lim.parameter, lim.statistic, lim.limit, lim.unit,
                                              lim.basis, lim.valid_from, lim.valid_to))
            for q in o.permitted_quantities:
                rows["permitted_quantities"].append((o.site_id, q.parameter, q.period, q.quantity_kg, q.basis,
                                                     q.valid_from, q.valid_to))
    return rows


def last_config_hash(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT config_hash FROM registry_loads ORDER BY loaded_at DESC LIMIT 1").fetchone()
    return row[0] if row else None


def _units_missing(con: duckdb.DuckDBPyConnection) -> bool:
    """Rows stored before site_parameters had units (migration 0080) must be written again."""
    row = con.execute("SELECT count(*) FROM site_parameters WHERE unit IS NULL").fetchone()
    if row and row[0]:
        return True
    # outlets stored before the logger facts (migration 0085) must be written again too
    row = con.execute("SELECT count(*) FROM outlets WHERE minute_interval_s IS NULL").fetchone()
    if row and row[0]:
        return True
    # ... and before logger passwords were hashed (migration 0095 erased the clear ones)
    row = con.execute("SELECT count(*) FROM outlets WHERE logger_password_hmac IS NULL").fetchone()
    if row and row[0]:
        return True
    # ... and noise points stored before they had their standard (migration 0096)
    row = con.execute("SELECT count(*) FROM sites WHERE kind = 'noise' AND site_id NOT IN "
                      "(SELECT site_id FROM noise_points)").fetchone()
    return bool(row and row[0])


def store_registry(
    con: duckdb.DuckDBPyConnection, reg: Registry, key: bytes | None = None
) -> RegistryLoadResult:
    if last_config_hash(con) == reg.config_hash and not _units_missing(con):
        return RegistryLoadResult(False, reg.config_hash, [])
    new_rows = registry_rows(reg, key)
    changes = []
    with transaction(con):
        for table, rows in new_rows.items():
            old = {tuple(r) for r in con.execute(f"SELECT * FROM {table}").fetchall()}
            new = set(rows)
            changes.append(TableChange(table, len(new - old), len(old - new)))
            con.execute(f"DELETE FROM {table}")
            if rows:
                insert_rows(con, f"INSERT INTO {table}", rows, len(rows[0]))
        changed = any(c.added or c.removed for c in changes)
        con.execute(
            "INSERT INTO registry_loads VALUES (?, ?, ?, ?)",
            [datetime.now(UTC), reg.config_hash, str(reg.config_dir / "registry"), changed],
        )
    return RegistryLoadResult(changed, reg.config_hash, changes)
