"""Warehouse jobs: the importable functions that the CLI and the Airflow tasks both call.

Each job opens the warehouse itself (under the writer lock for writers), so a job is one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.installation_key import installation_key
from core.landing import LandingZone
from core.registry.config import Registry, load_registry
from core.settings import Settings, get_settings
from warehouse.db import connect
from warehouse.loader import LoadReport, load_landing
from warehouse.migrate import migrate
from warehouse.registry.store import RegistryLoadResult, store_registry


def ensure_home(settings: Settings) -> None:
    for directory in (settings.home, settings.quarantine_dir, settings.inbox_dir, settings.log_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)
    if "://" not in settings.landing_root or settings.landing_root.startswith("file://"):
        Path(settings.landing_root.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def init_warehouse(settings: Settings | None = None) -> list[str]:
    """Create the state folders and the warehouse, and apply pending migrations."""
    settings = settings or get_settings()
    ensure_home(settings)
    installation_key(settings.home)  # the key of logger password hashes (created 0600 if missing)
    with connect(settings, purpose="envmon init") as con:
        return migrate(con)


def load_registry_job(settings: Settings | None = None) -> tuple[Registry, RegistryLoadResult]:
    """Validate the registry configuration, then store it (a no-op when unchanged)."""
    settings = settings or get_settings()
    registry = load_registry(settings.config_dir)
    with connect(settings, purpose="envmon registry load") as con:
        migrate(con)
        return registry, store_registry(con, registry, installation_key(settings.home))


def load_landing_job(settings: Settings | None = None) -> LoadReport:
    """Load every new landing batch into the warehouse."""
    settings = settings or get_settings()
    landing = LandingZone(settings.landing_root)
    with connect(settings, purpose="envmon load") as con:
        return load_landing(con, landing, settings.quarantine_dir, tmp_max_age_s=settings.landing_tmp_max_age_s)


@dataclass(frozen=True)
class SiteStatus:
    site_id: str
    kind: str
    name_zh: str
    name_en: str
    last_period_start: datetime | None
    last_received_at: datetime | None
    readings_today: int
    expected_last_24h: int
    missing_last_24h: int


@dataclass(frozen=True)
class StatusReport:
    at: datetime
    sites: list[SiteStatus]
    dead_letters_waiting: dict[str, int]
    quarantined_batches: int
    conflicts: int
    readings_total: int


def status_job(settings: Settings | None = None, at: datetime | None = None) -> StatusReport:
    """Per site: last reading, readings today (local day), gaps over the last 24 hours."""
    settings = settings or get_settings()
    at = (at or datetime.now(UTC)).astimezone(UTC)
    day_start = at.astimezone(settings.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    since = at - timedelta(hours=24)
    with connect(settings, write=False, purpose="envmon status") as con:
        rows = con.execute(
            """
            WITH recent AS (
                SELECT site_id, parameter, interval_s, period_start FROM readings
                WHERE period_start >= $since AND period_start < $at
            ),
            expected AS (  -- slots each site should have filled over the last 24 hours
                SELECT sp.site_id, sum(CAST(86400 / sp.interval_s AS BIGINT)) AS n
                FROM site_parameters sp WHERE sp.interval_s >= 60 GROUP BY sp.site_id
            ),
            received AS (
                SELECT r.site_id, count(DISTINCT (r.parameter, r.interval_s, r.period_start)) AS n
                FROM recent r JOIN site_parameters sp USING (site_id, parameter, interval_s)
                GROUP BY r.site_id
            ),
            latest AS (
                SELECT site_id, max(period_start) AS last_period, max(received_at) AS last_received,
                       count(*) FILTER (WHERE period_start >= $day_start AND period_start < $at) AS today
                FROM readings GROUP BY site_id
            )
            SELECT s.site_id, s.kind, s.name_zh, s.name_en, l.last_period, l.last_received,
                   coalesce(l.today, 0), coalesce(e.n, 0), coalesce(e.n, 0) - coalesce(rc.n, 0)
            FROM sites s
            LEFT JOIN latest l USING (site_id)
            LEFT JOIN expected e USING (site_id)
            LEFT JOIN received rc USING (site_id)
            ORDER BY s.kind, s.site_id
            """,
            {"since": since, "at": at, "day_start": day_start},
        ).fetchall()
        waiting = dict(
            con.execute(
                "SELECT source_kind, count(*) FROM dead_letters WHERE status = 'waiting' GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        quarantined = con.execute("SELECT count(*) FROM quarantined_batches").fetchone()
        conflicts = con.execute("SELECT count(*) FROM reading_conflicts").fetchone()
        total = con.execute("SELECT count(*) FROM readings").fetchone()
    return StatusReport(
        at=at,
        sites=[SiteStatus(*row) for row in rows],
        dead_letters_waiting=waiting,
        quarantined_batches=quarantined[0] if quarantined else 0,
        conflicts=conflicts[0] if conflicts else 0,
        readings_total=total[0] if total else 0,
    )
