"""Observations: per rule, site, parameter and period — the value, the limit and the verdict.

Each rule kind reads its own source (aggregates, daily indices, raw readings, outlet hours,
transmission efficiency) and answers per period: exceeded (True), normal (False) or no verdict
(None: the value is invalid or missing, the period lies in a maintenance window). One function
per source (SOURCES, THRESHOLD_SOURCES) reads it; `Observer.observe` picks the rule's source
and applies what every source shares: night/holiday windows, maintenance windows, the window's
bounds and the order. Durations, hysteresis and the alert lifecycle work on these observations
alone (alerts.lifecycle).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from alerts.rules import (
    CONSISTENCY_PAIRS,
    STATISTICS,
    ConsistencyRule,
    FlaggedRule,
    FlatLineRule,
    LongStopRule,
    NoDataRule,
    RuleSet,
    ThresholdRule,
    TransmissionEfficiencyRule,
    TreatmentStoppedRule,
    period_of,
)
from core.periods import (
    DAY,
    HOUR,
    from_stored,
    local_day_range,
    local_midnight,
    next_month,
    utc,
)
from transforms.standards import water as gb3838


@dataclass
class Observation:
    site_id: str
    parameter: str | None
    period_start: datetime
    period_end: datetime
    value: float | None
    limit: float | None
    unit: str | None
    exceeded: bool | None
    detail: str | None = None
    # a no-verdict period a duration looks through (no data at all in the hour): it neither
    # counts towards the run nor breaks it (long stops, treatment stopped)
    bridge: bool = False

    @property
    def multiple(self) -> float | None:
        if self.value is None or not self.limit:
            return None
        return self.value / self.limit

    @property
    def interval_s(self) -> int:
        return int((self.period_end - self.period_start).total_seconds())


@dataclass(frozen=True)
class Site:
    site_id: str
    kind: str
    name_zh: str
    name_en: str
    grid_id: str
    special_grid_id: str | None
    timezone: str
    noise_zone: str | None
    water_target_class: str | None
    waterbody: str | None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_sites(con: duckdb.DuckDBPyConnection) -> dict[str, Site]:
    rows = con.execute(
        "SELECT site_id, kind, name_zh, name_en, grid_id, special_grid_id, timezone, noise_zone, "
        "water_target_class, waterbody FROM sites ORDER BY site_id"
    ).fetchall()
    return {r[0]: Site(*r) for r in rows}


class Window:
    """The UTC range whose completed periods a rule evaluates, and how far back it must read."""

    def __init__(self, rule: Any, start: datetime, end: datetime) -> None:
        self.start, self.end = utc(start, "start"), utc(end, "end")
        span = {"hour": HOUR, "day": DAY, "month": timedelta(days=31)}[period_of(rule)]
        back = max(rule.duration.window - 1, rule.context_periods) + 1
        if isinstance(rule, FlatLineRule):
            back += rule.hours
        self.read_from = self.start - span * back - DAY

    def hours(self) -> list[datetime]:
        """Every hour start from the hour of read_from up to end."""
        first = self.read_from.replace(minute=0, second=0, microsecond=0)
        n = int((self.end - first) / HOUR)
        return [first + HOUR * i for i in range(n)]


class Observer:
    """Computes observations for one evaluation; holds what every rule shares."""

    def __init__(self, con: duckdb.DuckDBPyConnection, ruleset: RuleSet) -> None:
        self.con = con
        self.ruleset = ruleset
        self.sites = load_sites(con)
        self.units = {
            u: (q, f)
            for u, q, f in con.execute("SELECT unit, quantity, to_base FROM units").fetchall()
        }
        self.permits: dict[
            tuple[str, str, str], list[tuple[date, date | None, float, str, str]]
        ] = defaultdict(list)
        for site_id, parameter, statistic, limit, unit, basis, valid_from, valid_to in con.execute(
            "SELECT site_id, parameter, statistic, limit_value, unit, basis, valid_from, valid_to FROM permit_limits "
            "ORDER BY valid_from"
        ).fetchall():
            self.permits[(site_id, parameter, statistic)].append(
                (valid_from, valid_to, limit, unit, basis)
            )
        self._reported: dict[tuple[Any, ...], tuple[list[tuple[Any, ...]], list[datetime]]] = {}
        self._tables: set[str] | None = None
        self.maintenance = con.execute(
            "SELECT silence_id, site_id, rule_id, parameter, starts_at, ends_at, revoked_at FROM silences "
            "WHERE kind = 'maintenance'"
        ).fetchall()

    # ------------------------------------------------------------------ shared helpers
    def has_table(self, name: str) -> bool:
        """Whether the warehouse holds `name` yet (tables of later migrations may be absent)."""
        if self._tables is None:
            self._tables = {
                t for (t,) in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
        return name in self._tables

    def has_column(self, table: str, column: str) -> bool:
        """Whether `table` has `column` yet (columns of later migrations may be absent)."""
        return bool(
            self.con.execute(
                "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ?",
                [table, column],
            ).fetchone()[0]
        )

    def convert(self, value: float, unit_from: str, unit_to: str) -> float | None:
        a, b = self.units.get(unit_from), self.units.get(unit_to)
        if unit_from == unit_to:
            return value
        if a is None or b is None or a[0] != b[0]:
            return None
        return value * a[1] / b[1]

    def sites_of(self, kinds: list[str]) -> list[Site]:
        return [s for s in self.sites.values() if s.kind in kinds]

    def rows_of_sites(
        self, rule: Any, rows: Iterable[tuple[Any, ...]]
    ) -> Iterator[tuple[Site, tuple[Any, ...]]]:
        """(site, the rest of the row) for the rows (site_id, ...) of the rule's site kinds."""
        for site_id, *rest in rows:
            site = self.sites.get(site_id)
            if site is not None and site.kind in rule.site_kinds:
                yield site, tuple(rest)

    def limit_for(
        self, rule: ThresholdRule, site: Site, parameter: str, local_day: date
    ) -> tuple[Any, str | None, str]:
        """(limit, unit, basis) — limit is a float, or a Limit of GB 3838 for class limits."""
        src = rule.limit.source
        if src == "value":
            return rule.limit.value, rule.limit.unit, rule.limit.basis or ""
        if src == "permit":
            for valid_from, valid_to, limit, unit, basis in reversed(
                self.permits.get((site.site_id, parameter, rule.statistic), [])
            ):
                if valid_from <= local_day and (valid_to is None or local_day <= valid_to):
                    return limit, unit, basis
            return None, None, f"no permit limit for {parameter} {rule.statistic}"
        if src == "water_target_class":
            if not site.water_target_class or not site.waterbody:
                return None, None, "section without target class"
            lim = gb3838.limits(site.waterbody).get(parameter)
            if lim is None:
                return None, None, f"GB 3838 gives no {site.waterbody} limit for {parameter}"
            return lim, "mg/L", f"GB 3838-2002 class {site.water_target_class}"
        return None, None, f"limit source {src} does not apply"

    def hours_reported(
        self, w: Window, low: datetime
    ) -> tuple[list[tuple[Any, ...]], list[datetime]]:
        """(site, hour, min interval_s of the readings from each low bound on) for the low
        bounds of every no-data rule: one scan of the readings serves them all."""
        lows = sorted(
            {
                Window(r, w.start, w.end).read_from - timedelta(hours=r.lookback_h)
                for r in self.ruleset.rules
                if isinstance(r, NoDataRule)
            }
            | {low}
        )
        key = (tuple(lows), w.end)
        if key not in self._reported:
            columns = ", ".join(
                f"min(interval_s) FILTER (WHERE period_start >= $lo{i})" for i in range(len(lows))
            )
            rows = self.con.execute(
                f"SELECT site_id, timezone('UTC', date_trunc('hour', period_start)) AS h, {columns} "
                "FROM readings WHERE period_start >= $lo0 AND period_start < $hi GROUP BY ALL",
                {"hi": w.end, **{f"lo{i}": t for i, t in enumerate(lows)}},
            ).fetchall()
            self._reported = {key: (rows, lows)}
        return self._reported[key]

    def in_maintenance(
        self, rule_id: str, site_id: str, parameter: str | None, start: datetime, end: datetime
    ) -> str | None:
        for sid, m_site, m_rule, m_param, m_start, m_end, revoked in self.maintenance:
            if m_site not in (None, site_id) or m_rule not in (None, rule_id):
                continue
            if m_param is not None and parameter is not None and m_param != parameter:
                continue
            stop = min(m_end, revoked) if revoked else m_end
            if m_start < end and start < stop:
                return sid
        return None

    def in_window(self, rule: Any, site: Site, period_start: datetime) -> bool:
        if not rule.only_during:
            return True
        local = period_start.astimezone(site.tz)
        night = self.ruleset.calendar.night
        if "night" in rule.only_during:
            h = local.hour
            is_night = (
                (h >= night.start_hour or h < night.end_hour)
                if night.start_hour > night.end_hour
                else (night.start_hour <= h < night.end_hour)
            )
            if is_night:
                return True
        return "holiday" in rule.only_during and local.date() in self.ruleset.holidays

    def finish(self, rule: Any, obs: list[Observation], window: Window) -> list[Observation]:
        """Apply time windows and maintenance; keep what the window reads."""
        out = [o for o in obs if o.period_end <= window.end and o.period_start >= window.read_from]
        if rule.only_during:
            outside = "outside " + "/".join(rule.only_during)
            for o in out:
                if o.exceeded is not None and not self.in_window(
                    rule, self.sites[o.site_id], o.period_start
                ):
                    o.exceeded, o.detail = False, outside
        if any(m_rule in (None, rule.rule_id) for _, _, m_rule, *_ in self.maintenance):
            for o in out:
                m = self.in_maintenance(
                    rule.rule_id, o.site_id, o.parameter, o.period_start, o.period_end
                )
                if m is not None:
                    o.exceeded, o.detail, o.bridge = None, f"maintenance window {m}", False
        out.sort(key=lambda o: (o.site_id, o.parameter or "", o.period_start))
        return out

    # ------------------------------------------------------------------ per rule
    def observe(self, rule: Any, window: Window) -> list[Observation]:
        """The rule's observations in the window, from the rule's source."""
        return self.finish(rule, source_of(rule)(self, rule, window), window)


# ---------------------------------------------------------------------- threshold sources
def threshold_aggregates(ob: Observer, rule: ThresholdRule, w: Window) -> list[Observation]:
    """Hourly or daily means (aggregates) per site and parameter against the rule's limit:
    a number in a unit (converted), a permit limit valid on the local day, or a GB 3838 class
    limit of the section's target class."""
    rows = ob.con.execute(
        # period_start as a naive UTC timestamp: fetching time-zone-aware values costs a
        # pytz localisation per row
        "SELECT site_id, parameter, timezone('UTC', period_start), interval_s, value, unit, valid, "
        "coalesce(invalid_reason, '') FROM aggregates WHERE statistic = $stat AND parameter IN (SELECT unnest($params)) "
        "AND period_start >= $lo AND period_start < $hi",
        {"stat": rule.statistic, "params": rule.parameters, "lo": w.read_from, "hi": w.end},
    ).fetchall()
    out = []
    # every site reports the same few period starts: convert each once per time zone
    times: dict[tuple[datetime, int, str], tuple[datetime, datetime, date]] = {}
    limits: dict[tuple[str, str, date], tuple[Any, str | None, str]] = {}
    for site, (parameter, ps, interval_s, value, unit, valid, why) in ob.rows_of_sites(rule, rows):
        site_id = site.site_id
        key = (ps, interval_s, site.timezone)
        if key not in times:
            start = from_stored(ps)
            times[key] = (
                start,
                start + timedelta(seconds=interval_s),
                start.astimezone(site.tz).date(),
            )
        ps, pe, local_day = times[key]
        limit_key = (site_id, parameter, local_day)
        if limit_key not in limits:  # the same few limits for every hour of a site's day
            limits[limit_key] = ob.limit_for(rule, site, parameter, local_day)
        limit, limit_unit, basis = limits[limit_key]
        if limit is None:
            out.append(Observation(site_id, parameter, ps, pe, value, None, unit, None, basis))
            continue
        if not valid or value is None:
            why_not = why or "invalid period"
            out.append(Observation(site_id, parameter, ps, pe, None, None, unit, None, why_not))
            continue
        if isinstance(limit, gb3838.Limit):
            out.append(class_limit(ob, site, parameter, ps, pe, value, unit, limit, basis))
            continue
        converted = ob.convert(value, unit, limit_unit)
        if converted is None:
            why_not = f"unit {unit} cannot be compared with the limit in {limit_unit}"
            out.append(Observation(site_id, parameter, ps, pe, value, limit, unit, None, why_not))
            continue
        exceeded = converted > limit if rule.comparison == "above" else converted < limit
        out.append(
            Observation(site_id, parameter, ps, pe, converted, limit, limit_unit, exceeded, basis)
        )
    return out


def class_limit(
    ob: Observer,
    site: Site,
    parameter: str,
    ps: datetime,
    pe: datetime,
    value: float,
    unit: str,
    lim: gb3838.Limit,
    basis: str,
) -> Observation:
    """A value against the GB 3838 limit of the section's target class: a range (pH), a
    minimum (dissolved oxygen) or a maximum, in mg/L when the value's unit converts."""
    bound = lim.limits[gb3838.CLASSES.index(site.water_target_class)]
    if lim.direction == "range":
        lo, hi = bound  # type: ignore[misc]
        inside = lo <= value <= hi
        detail = f"{basis}: {lo}-{hi}"
        return Observation(site.site_id, parameter, ps, pe, value, hi, unit, not inside, detail)
    if unit in ob.units and "mg/L" in ob.units:
        converted = ob.convert(value, unit, "mg/L")
        if converted is None:
            why_not = f"unit {unit} cannot be compared with GB 3838 (mg/L)"
            return Observation(site.site_id, parameter, ps, pe, value, None, unit, None, why_not)
        value, unit = converted, "mg/L"
    exceeded: bool = value < bound if lim.direction == "min" else value > bound  # type: ignore[operator]
    detail = f"{basis} ({'≥' if lim.direction == 'min' else '≤'} {bound})"
    limit = float(bound)  # type: ignore[arg-type]
    return Observation(site.site_id, parameter, ps, pe, value, limit, unit, exceeded, detail)


def threshold_aqi_daily(ob: Observer, rule: ThresholdRule, w: Window) -> list[Observation]:
    """A station's daily AQI (aqi_daily) per local day against the rule's value; an invalid
    day has no verdict."""
    rows = ob.con.execute(
        "SELECT site_id, local_date, CAST(aqi AS DOUBLE), valid, coalesce(invalid_reasons, '') FROM aqi_daily "
        "WHERE scope = 'station' AND local_date >= $lo AND local_date <= $hi",
        {"lo": w.read_from.date(), "hi": w.end.date()},
    ).fetchall()
    out = []
    limit = rule.limit.value
    for site, (day, aqi, valid, why) in ob.rows_of_sites(rule, rows):
        ps, pe = local_day_range(day, site.tz)
        ok = valid and aqi is not None
        exceeded = (aqi > limit) if ok else None
        why_not = None if ok else why or "invalid day"
        out.append(Observation(site.site_id, None, ps, pe, aqi, limit, "AQI", exceeded, why_not))
    return out


def threshold_water_class(ob: Observer, rule: ThresholdRule, w: Window) -> list[Observation]:
    """A section's daily water class (water_class, period day) against its target class:
    value and limit are the classes' ranks (I = 1 … 劣V = 6), exceeded when worse."""
    rows = ob.con.execute(
        "SELECT site_id, period_start, water_class, target_class, exceeding_parameters, exceedance_multiples "
        "FROM water_class WHERE period = 'day' AND period_start >= $lo AND period_start <= $hi",
        {"lo": w.read_from.date(), "hi": w.end.date()},
    ).fetchall()
    rank = {c: i + 1 for i, c in enumerate(gb3838.ALL_CLASSES)}
    out = []
    for site, (day, cls, target, exceeding, multiples) in ob.rows_of_sites(rule, rows):
        target = target or site.water_target_class
        ps, pe = local_day_range(day, site.tz)
        if cls is None or target not in rank:
            out.append(
                Observation(site.site_id, None, ps, pe, None, None, "class", None, "no valid class")
            )
            continue
        worst = max(
            (float(x.split("=")[1]) for x in (multiples or "").split(";") if "=" in x),
            default=None,
        )
        detail = f"class {cls} vs target {target}" + (
            f"; exceeding {exceeding} ({multiples})" if exceeding else ""
        )
        if worst is not None:  # keep the concentration multiple (1 + (C−S)/S) as the value ratio
            detail += f"; max multiple {1 + worst:.2f}"
        out.append(
            Observation(
                site.site_id,
                None,
                ps,
                pe,
                float(rank[cls]),
                float(rank[target]),
                "class",
                rank[cls] > rank[target],
                detail,
            )
        )
    return out


def threshold_noise_daily(ob: Observer, rule: ThresholdRule, w: Window) -> list[Observation]:
    """A noise point's daily Ld or Ln (noise_daily) against the limit its derivation applied
    (its zone's under GB 3096, or GB 12348 at an enterprise's boundary) or the rule's value."""
    column, limit_column = (
        ("ld_dba", "ld_limit_dba") if rule.statistic == "noise_ld" else ("ln_dba", "ln_limit_dba")
    )
    rows = ob.con.execute(
        f"SELECT site_id, local_date, {column}, zone, standard, {limit_column} FROM noise_daily "
        "WHERE local_date >= $lo AND local_date <= $hi",
        {"lo": w.read_from.date(), "hi": w.end.date()},
    ).fetchall()
    out = []
    for site, (day, level, zone, standard, zone_limit) in ob.rows_of_sites(rule, rows):
        ps, pe = local_day_range(day, site.tz)
        # a zone's limit: the one the derivation applied (GB 12348 indoor points: −10 dB)
        limit = zone_limit if rule.limit.source == "noise_zone" else rule.limit.value
        exceeded = (
            None
            if level is None
            else (level > limit if rule.comparison == "above" else level < limit)
        )
        detail = f"zone {site.noise_zone or zone} ({standard})"
        out.append(Observation(site.site_id, None, ps, pe, level, limit, "dB(A)", exceeded, detail))
    return out


# ---------------------------------------------------------------------- anomaly sources
def flat_line(ob: Observer, rule: FlatLineRule, w: Window) -> list[Observation]:
    """Per site, parameter and hour h: for each reporting interval, the valid values of the
    `hours` hours ending with h — if they cover enough of the window and span it (data in
    its first and last hour), flat when max − min ≤ tolerance. Flat if any interval is.
    One query: hourly min/max/count cells, then a window over each interval's cells."""
    sites = [s.site_id for s in ob.sites_of(rule.site_kinds)]
    first = w.read_from.replace(minute=0, second=0, microsecond=0)
    rows = ob.con.execute(
        """
        WITH cells AS (
            SELECT site_id, parameter, interval_s, date_trunc('hour', period_start) AS h,
                   min(value) AS lo, max(value) AS hi, count(value) AS n
            FROM readings
            WHERE parameter IN (SELECT unnest($params)) AND interval_s IN (SELECT unnest($intervals))
              AND period_start >= $lo AND period_start < $hi AND coalesce(flag, 'N') = 'N'
              AND value IS NOT NULL AND site_id IN (SELECT unnest($sites))
            GROUP BY ALL
        ),
        spans AS (
            SELECT site_id, parameter, interval_s, h,
                   sum(n) OVER win AS n, max(hi) OVER win - min(lo) OVER win AS spread,
                   min(h) OVER win AS first_h
            FROM cells
            WINDOW win AS (PARTITION BY site_id, parameter, interval_s ORDER BY h
                           RANGE BETWEEN $span PRECEDING AND CURRENT ROW)
        )
        SELECT site_id, parameter, interval_s, timezone('UTC', h), n, spread FROM spans
        WHERE h >= $first AND h < $end AND first_h = h - $span
          AND n >= $coverage * ($hours * greatest(1, 3600 // interval_s))
        ORDER BY site_id, parameter, h, interval_s
        """,
        {
            "params": rule.parameters,
            "intervals": rule.interval_s,
            "sites": sites,
            "lo": w.read_from - HOUR * rule.hours,
            "hi": w.end,
            "first": first,
            "end": w.end,
            "span": HOUR * (rule.hours - 1),
            "coverage": rule.min_coverage,
            "hours": rule.hours,
        },
    ).fetchall()
    out: list[Observation] = []
    last: tuple[str, str, datetime] | None = None
    for site_id, parameter, interval_s, h, n, spread in rows:
        flat = spread <= rule.tolerance
        detail = f"{n} values at {interval_s} s over {rule.hours} h, range {spread:g}"
        if (site_id, parameter, h) == last:  # another interval: flat if any is
            o = out[-1]
            o.exceeded = o.exceeded or flat
            if spread < o.value:  # the detail of the flattest interval (first on ties)
                o.value, o.detail = spread, detail
            continue
        last = (site_id, parameter, h)
        h = from_stored(h)  # fetched as naive UTC: a zone-aware value costs a pytz lookup per row
        out.append(
            Observation(site_id, parameter, h, h + HOUR, spread, rule.tolerance, None, flat, detail)
        )
    return out


def no_data(ob: Observer, rule: NoDataRule, w: Window) -> list[Observation]:
    """Per site and hour: data (normal) or none (exceeded), for sites that reported within
    the rule's look-back before the hour; other sites and hours get no observation."""
    sites = {s.site_id for s in ob.sites_of(rule.site_kinds)}
    lookback = timedelta(hours=rule.lookback_h)
    rows, lows = ob.hours_reported(w, w.read_from - lookback)
    column = lows.index(w.read_from - lookback)
    # A reading covers the hours of its interval only at the site's finest interval: a
    # 4-hourly water sample covers its four hours, but a logger's daily (CN 2031) or hourly
    # summary never stands in for the minute data of the hours it summarises.
    finest: dict[str, int] = {}
    for site_id, _h, *by_low in rows:
        interval_s = by_low[column]
        if interval_s is not None and site_id in sites:
            finest[site_id] = min(finest.get(site_id, interval_s), interval_s)
    covered: dict[str, set[datetime]] = defaultdict(set)
    as_utc: dict[datetime, datetime] = {}
    for site_id, h, *by_low in rows:
        if by_low[column] is None or site_id not in sites:
            continue
        if h not in as_utc:
            as_utc[h] = from_stored(h)
        h = as_utc[h]
        for k in range(max(1, -(-int(finest[site_id]) // 3600))):
            covered[site_id].add(h + HOUR * k)
    out = []
    hours = w.hours()
    for site_id in sorted(covered):
        hours_with_data = sorted(covered[site_id])
        for h in hours:
            if h in covered[site_id]:
                out.append(Observation(site_id, None, h, h + HOUR, 1.0, None, None, False, None))
                continue
            before = bisect_left(hours_with_data, h)  # the last hour with data before h
            if before == 0 or hours_with_data[before - 1] < h - lookback:
                continue  # never reported within the lookback: not an outage we can judge
            detail = (
                f"no reading; last data in hour {hours_with_data[before - 1]:%Y-%m-%d %H:%M} UTC"
            )
            out.append(Observation(site_id, None, h, h + HOUR, 0.0, None, None, True, detail))
    return out


def flagged(ob: Observer, rule: FlaggedRule, w: Window) -> list[Observation]:
    """Per site, parameter and period of the rule's interval: exceeded when the reading
    carries one of the rule's data flags (any of its source kinds)."""
    sites = {s.site_id for s in ob.sites_of(rule.site_kinds)}
    rows = ob.con.execute(
        "SELECT site_id, parameter, timezone('UTC', period_start), value, flag FROM readings "
        "WHERE parameter IN (SELECT unnest($params)) AND interval_s = $interval "
        "AND period_start >= $lo AND period_start < $hi ORDER BY ALL",
        {
            "params": rule.parameters,
            "interval": rule.interval_s,
            "lo": w.read_from,
            "hi": w.end,
        },
    ).fetchall()
    seen: dict[tuple[str, str, datetime], Observation] = {}
    step = timedelta(seconds=rule.interval_s)
    for site_id, parameter, ps, value, flag in rows:
        if site_id not in sites:
            continue
        ps = from_stored(ps)
        is_flagged = flag in rule.flags
        key = (site_id, parameter, ps)
        if key in seen:  # several source kinds: flagged if any says so
            seen[key].exceeded = seen[key].exceeded or is_flagged
            continue
        detail = f"flag {flag}" if flag else "no flag"
        seen[key] = Observation(
            site_id, parameter, ps, ps + step, value, None, None, is_flagged, detail
        )
    return list(seen.values())


def transmission_efficiency(
    ob: Observer, rule: TransmissionEfficiencyRule, w: Window
) -> list[Observation]:
    """Per site and local month (transmission_efficiency): the efficiency in % against the
    rule's minimum; a month with no data expected has no verdict."""
    rows = ob.con.execute(
        "SELECT site_id, month, efficiency, expected, received, valid FROM transmission_efficiency "
        "WHERE month >= $lo AND month <= $hi",
        {"lo": (w.read_from - timedelta(days=31)).date(), "hi": w.end.date()},
    ).fetchall()
    out = []
    minimum = rule.minimum * 100
    for site, (month, efficiency, expected, received, valid) in ob.rows_of_sites(rule, rows):
        ps, pe = local_midnight(month, site.tz), local_midnight(next_month(month), site.tz)
        if efficiency is None:
            out.append(
                Observation(
                    site.site_id, None, ps, pe, None, minimum, "%", None, "no data expected"
                )
            )
            continue
        detail = f"{valid} valid of {expected} expected ({received} received); {rule.basis}"
        out.append(
            Observation(
                site.site_id,
                None,
                ps,
                pe,
                efficiency * 100,
                minimum,
                "%",
                efficiency < rule.minimum,
                detail,
            )
        )
    return out


def consistency(ob: Observer, rule: ConsistencyRule, w: Window) -> list[Observation]:
    """Per outlet, parameter and hour of outlet_hours: the logger's own value against
    envmon's (derived mean, or O2-corrected mean). Exceeded when they differ by more than
    max(relative_tolerance × |envmon's value|, absolute_floor); no verdict when either is
    missing, when the logger's own hourly reading did not pass QC (logger_valid not true:
    a calibration, maintenance or fault flag is no evidence of tampering), or
    (skip_not_operating) in a shut-down hour."""
    if not ob.has_table("outlet_hours"):
        return []
    theirs, ours = CONSISTENCY_PAIRS[rule.compare]
    sites = [s.site_id for s in ob.sites_of(rule.site_kinds)]
    # without migration 0092 nothing says the logger's hour passed QC: no verdicts
    valid_col = "logger_valid" if ob.has_column("outlet_hours", "logger_valid") else "NULL"
    rows = ob.con.execute(
        f"SELECT site_id, parameter, timezone('UTC', period_start), unit, {theirs}, {ours}, "
        f"operating, not_operating_reason, {valid_col} FROM outlet_hours "
        "WHERE parameter IN (SELECT unnest($params)) AND site_id IN (SELECT unnest($sites)) "
        "AND period_start >= $lo AND period_start < $hi ORDER BY ALL",
        {"params": rule.parameters, "sites": sites, "lo": w.read_from, "hi": w.end},
    ).fetchall()
    ours_name = {"derived_value": "derived", "corrected_value": "O2-corrected"}[ours]
    theirs_name = {"logger_value": "Avg", "logger_zs_value": "ZsAvg"}[theirs]
    floor = rule.absolute_floor
    out: dict[tuple[str, str, datetime], Observation] = {}
    for site_id, parameter, ps, unit, logger, envmon, operating, why_stopped, ok in rows:
        ps = from_stored(ps)
        pe = ps + HOUR
        key = (site_id, parameter, ps)
        # why the hour gets no verdict, if it gets none
        why_not: str | None = None
        floor_here: float | None = None
        if logger is None or envmon is None:
            why_not = "no logger value" if logger is None else f"no {ours_name} value"
        elif ok is not True:
            why_not = "not judged: " + (
                "outlet_hours.logger_valid missing (migration 0092)"
                if valid_col == "NULL"
                else "the logger's hourly reading failed QC (calibration, maintenance or fault)"
                if ok is False
                else "the logger's hourly reading has no QC verdict"
            )
        elif rule.skip_not_operating and operating is False:
            why_not = f"not operating: {why_stopped or 'shut down'}"
        else:
            floor_here = ob.convert(floor.value, floor.unit, unit) if unit else None
            if floor_here is None:
                why_not = f"unit {unit} cannot be compared with the floor in {floor.unit}"
        if why_not is not None or floor_here is None:
            out[key] = Observation(site_id, parameter, ps, pe, None, None, unit, None, why_not)
            continue
        diff, allowed, exceeded = rule.judge(logger, envmon, floor_here)
        out[key] = Observation(
            site_id,
            parameter,
            ps,
            pe,
            diff,
            allowed,
            unit,
            exceeded,
            f"logger's {theirs_name} {logger:.6g} vs {ours_name} {envmon:.6g} {unit}: "
            f"difference {diff:.6g} {'>' if exceeded else '≤'} allowed {allowed:.6g} = "
            f"max({rule.relative_tolerance:g} × {abs(envmon):.6g}, {floor.value:g} {floor.unit})",
        )
    return list(out.values())


def long_stop(ob: Observer, rule: LongStopRule, w: Window) -> list[Observation]:
    """Per outlet and hour of outlet_hours: stopped (exceeded) when no row of the hour is
    operating; running when one is; no verdict when none says either way."""
    if not ob.has_table("outlet_hours"):
        return []
    sites = [s.site_id for s in ob.sites_of(rule.site_kinds)]
    rows = ob.con.execute(
        "SELECT site_id, timezone('UTC', period_start), bool_or(operating), count(operating), "
        "string_agg(DISTINCT not_operating_reason, '; ' ORDER BY not_operating_reason) "
        "FROM outlet_hours WHERE site_id IN (SELECT unnest($sites)) "
        "AND period_start >= $lo AND period_start < $hi GROUP BY ALL ORDER BY ALL",
        {"sites": sites, "lo": w.read_from, "hi": w.end},
    ).fetchall()
    out = []
    for site_id, ps, running, known, reasons in rows:
        ps = from_stored(ps)
        o = Observation(site_id, None, ps, ps + HOUR, None, None, None, None, None)
        if not known:  # no data at all in the hour: neither counts nor clears a stop
            o.detail, o.bridge = "operating state unknown (no data)", True
        elif running:
            o.exceeded, o.detail = False, "operating"
        else:
            o.exceeded, o.detail = True, f"not operating: {reasons or 'shut down'}"
        out.append(o)
    return out


def treatment_stopped(ob: Observer, rule: TreatmentStoppedRule, w: Window) -> list[Observation]:
    """Per outlet and hour of outlet_hours: exceeded when the outlet operates (discharges)
    while a treatment facility is reported stopped (treatment_stopped names it); normal
    when it operates with every facility running, or when it is shut down (nothing is
    discharged untreated); no verdict when the hour has no data (operating null)."""
    if not ob.has_table("outlet_hours"):
        return []
    if not ob.has_column("outlet_hours", "treatment_stopped"):
        raise RuntimeError(
            f"rule {rule.rule_id}: outlet_hours has no column treatment_stopped "
            "(migration 0092_outlet_hours_treatment): run `envmon init`"
        )
    sites = [s.site_id for s in ob.sites_of(rule.site_kinds)]
    rows = ob.con.execute(
        "SELECT site_id, timezone('UTC', period_start), bool_or(operating), count(operating), "
        "string_agg(DISTINCT trim(f.facility), ', ' ORDER BY trim(f.facility)) "
        "FILTER (WHERE operating AND trim(f.facility) <> '') "
        "FROM outlet_hours LEFT JOIN LATERAL "
        "(SELECT unnest(string_split(coalesce(treatment_stopped, ''), ',')) AS facility) f ON true "
        "WHERE site_id IN (SELECT unnest($sites)) "
        "AND period_start >= $lo AND period_start < $hi GROUP BY ALL ORDER BY ALL",
        {"sites": sites, "lo": w.read_from, "hi": w.end},
    ).fetchall()
    seen = seen_running(ob, rule, sites, w) if rule.seen_running_within_h else None
    out = []
    for site_id, ps, running, known, facilities in rows:
        ps = from_stored(ps)
        o = Observation(site_id, None, ps, ps + HOUR, None, None, None, None, None)
        stopped = facilities.split(", ") if facilities else []
        if seen is not None and stopped:
            since = ps - timedelta(hours=rule.seen_running_within_h or 0)
            judged = [f for f in stopped if any(since <= t < ps + HOUR for t in seen[(site_id, f)])]
            unseen = [f for f in stopped if f not in judged]
        else:
            judged, unseen = stopped, []
        if not known:
            o.detail, o.bridge = "operating state unknown (no data)", True
        elif not running:
            o.exceeded, o.detail = False, "not operating (shut down): nothing discharged"
        elif judged:
            o.exceeded = True
            o.detail = (
                f"治理设施停运 treatment facility stopped while discharging: {', '.join(judged)}"
            )
        elif unseen:
            o.detail = (
                f"{', '.join(unseen)} reported stopped but never running in the "
                f"{rule.seen_running_within_h} h before: status slots wired to nothing? "
                "(not judged)"
            )
        else:
            o.exceeded, o.detail = False, "operating with the treatment facilities running"
        out.append(o)
    return out


def seen_running(
    ob: Observer, rule: TreatmentStoppedRule, sites: list[str], w: Window
) -> defaultdict[tuple[str, str], list[datetime]]:
    """(site, facility) -> the times the outlet's logger reported the facility running
    (logger_events kind 'run_status', status_code not 0) within the rule's look-back."""
    seen: defaultdict[tuple[str, str], list[datetime]] = defaultdict(list)
    if not ob.has_table("logger_events"):
        return seen
    for site_id, code, at in ob.con.execute(
        "SELECT site_id, code, timezone('UTC', event_time) FROM logger_events "
        "WHERE kind = 'run_status' AND code IS NOT NULL AND status_code <> 0 "
        "AND site_id IN (SELECT unnest($sites)) AND event_time >= $lo AND event_time < $hi",
        {
            "sites": sites,
            "lo": w.read_from - timedelta(hours=rule.seen_running_within_h or 0),
            "hi": w.end,
        },
    ).fetchall():
        seen[(site_id, code)].append(from_stored(at))
    return seen


# ---------------------------------------------------------------------- which source
Source = Callable[[Observer, Any, Window], list[Observation]]

# a threshold rule's source, by where its statistic lives (alerts.rules.STATISTICS)
THRESHOLD_SOURCES: dict[str, Source] = {
    "aggregates": threshold_aggregates,
    "aqi_daily": threshold_aqi_daily,
    "water_class": threshold_water_class,
    "noise_daily": threshold_noise_daily,
}
# every other rule's source, by its kind
SOURCES: dict[str, Source] = {
    "flat_line": flat_line,
    "no_data": no_data,
    "flagged": flagged,
    "transmission_efficiency": transmission_efficiency,
    "consistency": consistency,
    "long_stop": long_stop,
    "treatment_stopped": treatment_stopped,
}


def source_of(rule: Any) -> Source:
    """The function that observes `rule`."""
    if rule.kind == "threshold":
        return THRESHOLD_SOURCES[STATISTICS[rule.statistic].source]
    return SOURCES[rule.kind]
