"""Warehouse jobs: the importable functions that the CLI and the Airflow tasks both call.

Each job opens the warehouse itself (under the writer lock for writers), so a job is one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    """A site as of `StatusReport.at`: nothing after that instant is counted or shown."""

    site_id: str
    kind: str
    name_zh: str
    name_en: str
    label_zh: str  # the enterprise's name before an outlet's (v_site_labels)
    last_period_start: datetime | None
    last_received_at: datetime | None
    readings_today: int
    hours_missing: int  # of the last 24 whole hours: hours with no reading of the site at all
    hours_incomplete: int  # hours with some but not every parameter reported
    hours_expected: int  # 0: the site reports no parameter
    day: date  # the local day before `at`: the day of the AQI and the invalid-day reasons
    aqi: int | None  # the daily AQI of `day` (air stations)
    aqi_reason: str | None  # why `day` has no daily AQI, as stored (aqi_daily.invalid_reasons)
    day_invalid: tuple[str, ...]  # stored reasons of the invalid daily values of `day`
    qc_flags: tuple[tuple[str, str, int], ...]  # (severity, check, count) over the last 24 hours, worst first


@dataclass(frozen=True)
class StatusReport:
    at: datetime
    window_start: datetime  # the last 24 whole hours: [window_start, window_end)
    window_end: datetime
    sites: list[SiteStatus]  # by kind (air, water, noise, outlet, others), worst first within a kind
    dead_letters_waiting: dict[str, int]
    quarantined_batches: int
    conflicts: int
    readings_total: int  # readings of periods before `at`


KIND_ORDER = ("air", "water", "noise", "outlet")
_SEVERITY = {1: "suspect", 2: "fail", 3: "missing"}


def _hour_floor(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def status_job(settings: Settings | None = None, at: datetime | None = None) -> StatusReport:
    """Every site as of `at` (default now): last reading and readings of the local day so far,
    hours missing over the last 24 whole hours, the daily AQI (or the stored reason there is
    none) and the invalid daily values of the local day before, and the QC flags of the last
    24 hours. Readings of periods at or after `at` are not counted."""
    from core.periods import local_day, local_midnight, utc

    settings = settings or get_settings()
    at = utc(at or datetime.now(UTC), "at")
    tz = settings.tz
    today = local_day(at, tz)
    day = today - timedelta(days=1)
    day_start = local_midnight(today, tz)
    hi = _hour_floor(at)
    lo = hi - timedelta(hours=24)
    params = {"lo": lo, "hi": hi, "at": at, "day_start": day_start}
    with connect(settings, write=False, purpose="envmon status") as con:
        rows = con.execute(
            """
            WITH sp AS (  -- a site's parameters and the width of its slots (an hour, or a longer interval)
                SELECT site_id, parameter, interval_s,
                       max(greatest(interval_s, 3600)) OVER (PARTITION BY site_id) AS slot_s
                FROM site_parameters WHERE interval_s >= 60
            ),
            slots AS (
                SELECT site_id, any_value(slot_s) AS slot_s, count(DISTINCT parameter) AS n_params
                FROM sp GROUP BY site_id
            ),
            got AS (  -- per site and slot, the parameters reported (periods before $hi only)
                SELECT r.site_id,
                       to_timestamp(floor(epoch(r.period_start) / sl.slot_s) * sl.slot_s) AS slot,
                       count(DISTINCT r.parameter) AS n
                -- any reading of a site's parameter shows the site sent that hour: real loggers may send
                -- only real-time data (CN 2011, interval 0) for parameters registered as minute data
                FROM readings r JOIN (SELECT DISTINCT site_id, parameter FROM sp) USING (site_id, parameter)
                JOIN slots sl USING (site_id)
                WHERE r.period_start >= $lo - INTERVAL 1 DAY AND r.period_start < $hi
                GROUP BY ALL
            ),
            hours AS (SELECT unnest(range($lo, $hi, INTERVAL 1 HOUR)) AS h),
            per_hour AS (
                SELECT sl.site_id, g.n, sl.n_params
                FROM slots sl CROSS JOIN hours
                LEFT JOIN got g ON g.site_id = sl.site_id
                     AND g.slot = to_timestamp(floor(epoch(hours.h) / sl.slot_s) * sl.slot_s)
            ),
            gaps AS (
                SELECT site_id, count(*) AS expected,
                       count(*) FILTER (WHERE n IS NULL) AS missing,
                       count(*) FILTER (WHERE n < n_params) AS incomplete
                FROM per_hour GROUP BY site_id
            ),
            latest AS (
                SELECT site_id, max(period_start) AS last_period, max(received_at) AS last_received,
                       count(*) FILTER (WHERE period_start >= $day_start) AS today
                FROM readings WHERE period_start < $at GROUP BY site_id
            )
            SELECT s.site_id, s.kind, s.name_zh, s.name_en, coalesce(v.label_zh, s.name_zh), l.last_period, l.last_received,
                   coalesce(l.today, 0), coalesce(g.missing, 0), coalesce(g.incomplete, 0),
                   coalesce(g.expected, 0)
            FROM sites s LEFT JOIN v_site_labels v USING (site_id)
            LEFT JOIN latest l USING (site_id)
            LEFT JOIN gaps g USING (site_id)
            """,
            params,
        ).fetchall()
        aqi = {r[0]: (r[1], r[2]) for r in con.execute(
            "SELECT site_id, aqi, invalid_reasons FROM aqi_daily WHERE local_date = ? AND scope = 'station'", [day]
        ).fetchall()}
        invalid: dict[str, list[str]] = {}
        for site_id, reason in con.execute(
            """SELECT DISTINCT a.site_id, a.invalid_reason FROM aggregates a JOIN sites s USING (site_id)
               WHERE a.period_start >= $lo - INTERVAL 2 DAY AND a.period_start < $hi AND a.interval_s = 86400
                 AND CAST(timezone(s.timezone, a.period_start) AS DATE) = $day
                 AND NOT a.valid AND a.invalid_reason IS NOT NULL
               ORDER BY 1, 2""",
            {"lo": lo, "hi": hi, "day": day},
        ).fetchall():
            invalid.setdefault(site_id, []).append(reason)
        flags: dict[str, list[tuple[str, str, int]]] = {}
        for site_id, flag, check, n in con.execute(
            """SELECT site_id, flag, check_name, count(*) FROM qc_flags
               WHERE period_start >= $lo AND period_start < $hi AND flag > 0
               GROUP BY ALL ORDER BY site_id, flag DESC, count(*) DESC, check_name""",
            {"lo": lo, "hi": hi},
        ).fetchall():
            flags.setdefault(site_id, []).append((_SEVERITY.get(int(flag), str(flag)), check, int(n)))
        waiting = dict(
            con.execute(
                "SELECT source_kind, count(*) FROM dead_letters WHERE status = 'waiting' GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        quarantined = con.execute("SELECT count(*) FROM quarantined_batches").fetchone()
        conflicts = con.execute("SELECT count(*) FROM reading_conflicts").fetchone()
        total = con.execute("SELECT count(*) FROM readings WHERE period_start < ?", [at]).fetchone()
    sites = []
    for r in rows:
        site_id, kind = r[0], r[1]
        a = aqi.get(site_id)
        aqi_value = None if a is None or a[0] is None else int(a[0])
        if kind != "air":
            reason = None
        elif a is None:
            reason = f"daily values of {day.isoformat()} not derived yet"
        else:
            reason = None if aqi_value is not None else (a[1] or "no valid daily value")
        sites.append(SiteStatus(
            site_id, kind, r[2], r[3], r[4], r[5], r[6], int(r[7]), int(r[8]), int(r[9]), int(r[10]), day,
            aqi_value, reason, tuple(invalid.get(site_id, ())), tuple(flags.get(site_id, ())),
        ))
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    sites.sort(key=lambda s: (rank.get(s.kind, len(KIND_ORDER)), s.kind, -s.hours_missing, -s.hours_incomplete,
                              s.site_id))
    return StatusReport(
        at=at,
        window_start=lo,
        window_end=hi,
        sites=sites,
        dead_letters_waiting=waiting,
        quarantined_batches=quarantined[0] if quarantined else 0,
        conflicts=conflicts[0] if conflicts else 0,
        readings_total=total[0] if total else 0,
    )

