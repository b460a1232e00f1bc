"""Observations: per rule, site, parameter and period — the value, the limit and the verdict.

Each rule kind reads its own source (aggregates, daily indices, raw readings, transmission
efficiency) and answers per period: exceeded (True), normal (False) or no verdict (None: the
value is invalid or missing, the period lies in a maintenance window). Durations, hysteresis
and the alert lifecycle work on these observations alone (alerts.lifecycle).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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
from transforms.standards import noise as gb3096
from transforms.standards import water as gb3838

HOUR = timedelta(hours=1)


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


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return _utc(start), _utc(end)


class Window:
    """The UTC range whose completed periods a rule evaluates, and how far back it must read."""

    def __init__(self, rule: Any, start: datetime, end: datetime) -> None:
        self.start, self.end = _utc(start), _utc(end)
        span = {"hour": HOUR, "day": timedelta(days=1), "month": timedelta(days=31)}[
            period_of(rule)
        ]
        back = max(rule.duration.window - 1, rule.context_periods) + 1
        if isinstance(rule, FlatLineRule):
            back += rule.hours
        self.read_from = self.start - span * back - timedelta(days=1)


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
        self.maintenance = con.execute(
            "SELECT silence_id, site_id, rule_id, parameter, starts_at, ends_at, revoked_at FROM silences "
            "WHERE kind = 'maintenance'"
        ).fetchall()

    # ------------------------------------------------------------------ shared helpers
    def has_table(self, name: str) -> bool:
        """Whether the warehouse holds `name` yet (tables of later migrations may be absent)."""
        if not hasattr(self, "_tables"):
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

    # ------------------------------------------------------------------ per rule kind
    def observe(self, rule: Any, window: Window) -> list[Observation]:
        if isinstance(rule, ThresholdRule):
            obs = self._threshold(rule, window)
        elif isinstance(rule, FlatLineRule):
            obs = self._flat_line(rule, window)
        elif isinstance(rule, NoDataRule):
            obs = self._no_data(rule, window)
        elif isinstance(rule, FlaggedRule):
            obs = self._flagged(rule, window)
        elif isinstance(rule, TransmissionEfficiencyRule):
            obs = self._transmission(rule, window)
        elif isinstance(rule, ConsistencyRule):
            obs = self._consistency(rule, window)
        elif isinstance(rule, LongStopRule):
            obs = self._long_stop(rule, window)
        elif isinstance(rule, TreatmentStoppedRule):
            obs = self._treatment_stopped(rule, window)
        else:  # pragma: no cover - the rule models are a closed union
            raise TypeError(f"unknown rule kind {type(rule).__name__}")
        return self.finish(rule, obs, window)

    def _threshold(self, rule: ThresholdRule, w: Window) -> list[Observation]:
        spec = STATISTICS[rule.statistic]
        if spec.source == "aggregates":
            return self._aggregates(rule, w)
        if spec.source == "aqi_daily":
            rows = self.con.execute(
                "SELECT site_id, local_date, CAST(aqi AS DOUBLE), valid, coalesce(invalid_reasons, '') FROM aqi_daily "
                "WHERE scope = 'station' AND local_date >= $lo AND local_date <= $hi",
                {"lo": w.read_from.date(), "hi": w.end.date()},
            ).fetchall()
            out = []
            for site_id, day, aqi, valid, why in rows:
                site = self.sites.get(site_id)
                if site is None or site.kind not in rule.site_kinds:
                    continue
                ps, pe = local_day_bounds(day, site.tz)
                ok = valid and aqi is not None
                out.append(
                    Observation(
                        site_id,
                        None,
                        ps,
                        pe,
                        aqi,
                        rule.limit.value,
                        "AQI",
                        (aqi > rule.limit.value) if ok else None,
                        None if ok else why or "invalid day",
                    )
                )
            return out
        if spec.source == "water_class":
            rows = self.con.execute(
                "SELECT site_id, period_start, water_class, target_class, exceeding_parameters, exceedance_multiples "
                "FROM water_class WHERE period = 'day' AND period_start >= $lo AND period_start <= $hi",
                {"lo": w.read_from.date(), "hi": w.end.date()},
            ).fetchall()
            rank = {c: i + 1 for i, c in enumerate(gb3838.ALL_CLASSES)}
            out = []
            for site_id, day, cls, target, exceeding, multiples in rows:
                site = self.sites.get(site_id)
                if site is None or site.kind not in rule.site_kinds:
                    continue
                target = target or site.water_target_class
                ps, pe = local_day_bounds(day, site.tz)
                if cls is None or target not in rank:
                    out.append(
                        Observation(
                            site_id, None, ps, pe, None, None, "class", None, "no valid class"
                        )
                    )
                    continue
                worst = max(
                    (float(x.split("=")[1]) for x in (multiples or "").split(";") if "=" in x),
                    default=None,
                )
                detail = f"class {cls} vs target {target}" + (
                    f"; exceeding {exceeding} ({multiples})" if exceeding else ""
                )
                o = Observation(
                    site_id,
                    None,
                    ps,
                    pe,
                    float(rank[cls]),
                    float(rank[target]),
                    "class",
                    rank[cls] > rank[target],
                    detail,
                )
                o.detail = detail
                if (
                    worst is not None
                ):  # keep the concentration multiple (1 + (C−S)/S) as the value ratio
                    o.detail += f"; max multiple {1 + worst:.2f}"
                out.append(o)
            return out
        if spec.source == "noise_daily":
            column = "ld_dba" if rule.statistic == "noise_ld" else "ln_dba"
            rows = self.con.execute(
                f"SELECT site_id, local_date, {column}, zone, standard FROM noise_daily "
                "WHERE local_date >= $lo AND local_date <= $hi",
                {"lo": w.read_from.date(), "hi": w.end.date()},
            ).fetchall()
            out = []
            for site_id, day, level, zone, standard in rows:
                site = self.sites.get(site_id)
                if site is None or site.kind not in rule.site_kinds:
                    continue
                ps, pe = local_day_bounds(day, site.tz)
                if rule.limit.source == "noise_zone":
                    day_lim, night_lim = gb3096.zone_limits(site.noise_zone or zone, standard)
                    limit = day_lim if rule.statistic == "noise_ld" else night_lim
                else:
                    limit = rule.limit.value
                exceeded = (
                    None
                    if level is None
                    else (level > limit if rule.comparison == "above" else level < limit)
                )
                out.append(
                    Observation(
                        site_id,
                        None,
                        ps,
                        pe,
                        level,
                        limit,
                        "dB(A)",
                        exceeded,
                        f"zone {site.noise_zone or zone} ({standard})",
                    )
                )
            return out
        raise AssertionError(spec.source)

    def _limit_for(
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

    def _aggregates(self, rule: ThresholdRule, w: Window) -> list[Observation]:
        rows = self.con.execute(
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
        for site_id, parameter, ps, interval_s, value, unit, valid, why in rows:
            site = self.sites.get(site_id)
            if site is None or site.kind not in rule.site_kinds:
                continue
            key = (ps, interval_s, site.timezone)
            if key not in times:
                utc = ps.replace(tzinfo=UTC)
                times[key] = (
                    utc,
                    utc + timedelta(seconds=interval_s),
                    utc.astimezone(site.tz).date(),
                )
            ps, pe, local_day = times[key]
            limit_key = (site_id, parameter, local_day)
            if limit_key not in limits:  # the same few limits for every hour of a site's day
                limits[limit_key] = self._limit_for(rule, site, parameter, local_day)
            limit, limit_unit, basis = limits[limit_key]
            if limit is None:
                out.append(Observation(site_id, parameter, ps, pe, value, None, unit, None, basis))
                continue
            if not valid or value is None:
                out.append(
                    Observation(
                        site_id, parameter, ps, pe, None, None, unit, None, why or "invalid period"
                    )
                )
                continue
            if isinstance(limit, gb3838.Limit):
                out.append(self._class_limit(site, parameter, ps, pe, value, unit, limit, basis))
                continue
            converted = self.convert(value, unit, limit_unit)
            if converted is None:
                out.append(
                    Observation(
                        site_id,
                        parameter,
                        ps,
                        pe,
                        value,
                        limit,
                        unit,
                        None,
                        f"unit {unit} cannot be compared with the limit in {limit_unit}",
                    )
                )
                continue
            exceeded = converted > limit if rule.comparison == "above" else converted < limit
            out.append(
                Observation(
                    site_id, parameter, ps, pe, converted, limit, limit_unit, exceeded, basis
                )
            )
        return out

    def _class_limit(
        self,
        site: Site,
        parameter: str,
        ps: datetime,
        pe: datetime,
        value: float,
        unit: str,
        lim: gb3838.Limit,
        basis: str,
    ) -> Observation:
        bound = lim.limits[gb3838.CLASSES.index(site.water_target_class)]
        if lim.direction == "range":
            lo, hi = bound  # type: ignore[misc]
            return Observation(
                site.site_id,
                parameter,
                ps,
                pe,
                value,
                hi,
                unit,
                not (lo <= value <= hi),
                f"{basis}: {lo}-{hi}",
            )
        if unit in self.units and "mg/L" in self.units:
            converted = self.convert(value, unit, "mg/L")
            if converted is None:
                return Observation(
                    site.site_id,
                    parameter,
                    ps,
                    pe,
                    value,
                    None,
                    unit,
                    None,
                    f"unit {unit} cannot be compared with GB 3838 (mg/L)",
                )
            value, unit = converted, "mg/L"
        exceeded = value < bound if lim.direction == "min" else value > bound  # type: ignore[operator]
        return Observation(
            site.site_id,
            parameter,
            ps,
            pe,
            value,
            float(bound),
            unit,
            exceeded,  # type: ignore[arg-type]
            f"{basis} ({'≥' if lim.direction == 'min' else '≤'} {bound})",
        )

    def _hours(self, w: Window) -> list[datetime]:
        first = w.read_from.replace(minute=0, second=0, microsecond=0)
        n = int((w.end - first) / HOUR)
        return [first + HOUR * i for i in range(n)]

    def _flat_line(self, rule: FlatLineRule, w: Window) -> list[Observation]:
        """Per site, parameter and hour h: for each reporting interval, the valid values of the
        `hours` hours ending with h — if they cover enough of the window and span it (data in
        its first and last hour), flat when max − min ≤ tolerance. Flat if any interval is.
        One query: hourly min/max/count cells, then a window over each interval's cells."""
        sites = [s.site_id for s in self.sites_of(rule.site_kinds)]
        first = w.read_from.replace(minute=0, second=0, microsecond=0)
        rows = self.con.execute(
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
            h = _utc(h)  # fetched as naive UTC: a zone-aware value costs a pytz lookup per row
            out.append(
                Observation(
                    site_id, parameter, h, h + HOUR, spread, rule.tolerance, None, flat, detail
                )
            )
        return out

    def _no_data(self, rule: NoDataRule, w: Window) -> list[Observation]:
        sites = {s.site_id for s in self.sites_of(rule.site_kinds)}
        lookback = timedelta(hours=rule.lookback_h)
        rows, lows = self._hours_reported(w, w.read_from - lookback)
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
        utc: dict[datetime, datetime] = {}
        for site_id, h, *by_low in rows:
            if by_low[column] is None or site_id not in sites:
                continue
            if h not in utc:
                utc[h] = _utc(h)
            h = utc[h]
            for k in range(max(1, -(-int(finest[site_id]) // 3600))):
                covered[site_id].add(h + HOUR * k)
        out = []
        hours = self._hours(w)
        for site_id in sorted(covered):
            hours_with_data = sorted(covered[site_id])
            for h in hours:
                if h in covered[site_id]:
                    out.append(
                        Observation(site_id, None, h, h + HOUR, 1.0, None, None, False, None)
                    )
                    continue
                before = bisect_left(hours_with_data, h)  # the last hour with data before h
                if before == 0 or hours_with_data[before - 1] < h - lookback:
                    continue  # never reported within the lookback: not an outage we can judge
                out.append(
                    Observation(
                        site_id,
                        None,
                        h,
                        h + HOUR,
                        0.0,
                        None,
                        None,
                        True,
                        f"no reading; last data in hour {hours_with_data[before - 1]:%Y-%m-%d %H:%M} UTC",
                    )
                )
        return out

    def _hours_reported(
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

    def _flagged(self, rule: FlaggedRule, w: Window) -> list[Observation]:
        sites = {s.site_id for s in self.sites_of(rule.site_kinds)}
        rows = self.con.execute(
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
            ps = _utc(ps)
            flagged = flag in rule.flags
            key = (site_id, parameter, ps)
            if key in seen:  # several source kinds: flagged if any says so
                seen[key].exceeded = seen[key].exceeded or flagged
                continue
            seen[key] = Observation(
                site_id,
                parameter,
                ps,
                ps + step,
                value,
                None,
                None,
                flagged,
                f"flag {flag}" if flag else "no flag",
            )
        return list(seen.values())

    def _transmission(self, rule: TransmissionEfficiencyRule, w: Window) -> list[Observation]:
        rows = self.con.execute(
            "SELECT site_id, month, efficiency, expected, received, valid FROM transmission_efficiency "
            "WHERE month >= $lo AND month <= $hi",
            {"lo": (w.read_from - timedelta(days=31)).date(), "hi": w.end.date()},
        ).fetchall()
        out = []
        for site_id, month, efficiency, expected, received, valid in rows:
            site = self.sites.get(site_id)
            if site is None or site.kind not in rule.site_kinds:
                continue
            nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
            ps, _ = local_day_bounds(month, site.tz)
            pe, _ = local_day_bounds(nxt, site.tz)
            if efficiency is None:
                out.append(
                    Observation(
                        site_id,
                        None,
                        ps,
                        pe,
                        None,
                        rule.minimum * 100,
                        "%",
                        None,
                        "no data expected",
                    )
                )
                continue
            out.append(
                Observation(
                    site_id,
                    None,
                    ps,
                    pe,
                    efficiency * 100,
                    rule.minimum * 100,
                    "%",
                    efficiency < rule.minimum,
                    f"{valid} valid of {expected} expected ({received} received); {rule.basis}",
                )
            )
        return out

    def _consistency(self, rule: ConsistencyRule, w: Window) -> list[Observation]:
        """Per outlet, parameter and hour of outlet_hours: the logger's own value against
        envmon's (derived mean, or O2-corrected mean). Exceeded when they differ by more than
        max(relative_tolerance × |envmon's value|, absolute_floor); no verdict when either is
        missing, when the logger's own hourly reading did not pass QC (logger_valid not true:
        a calibration, maintenance or fault flag is no evidence of tampering), or
        (skip_not_operating) in a shut-down hour."""
        if not self.has_table("outlet_hours"):
            return []
        theirs, ours = CONSISTENCY_PAIRS[rule.compare]
        sites = [s.site_id for s in self.sites_of(rule.site_kinds)]
        # without migration 0092 nothing says the logger's hour passed QC: no verdicts
        valid_col = "logger_valid" if self.has_column("outlet_hours", "logger_valid") else "NULL"
        rows = self.con.execute(
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
            ps = ps.replace(tzinfo=UTC)
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
                floor_here = self.convert(floor.value, floor.unit, unit) if unit else None
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

    def _long_stop(self, rule: LongStopRule, w: Window) -> list[Observation]:
        """Per outlet and hour of outlet_hours: stopped (exceeded) when no row of the hour is
        operating; running when one is; no verdict when none says either way."""
        if not self.has_table("outlet_hours"):
            return []
        sites = [s.site_id for s in self.sites_of(rule.site_kinds)]
        rows = self.con.execute(
            "SELECT site_id, timezone('UTC', period_start), bool_or(operating), count(operating), "
            "string_agg(DISTINCT not_operating_reason, '; ' ORDER BY not_operating_reason) "
            "FROM outlet_hours WHERE site_id IN (SELECT unnest($sites)) "
            "AND period_start >= $lo AND period_start < $hi GROUP BY ALL ORDER BY ALL",
            {"sites": sites, "lo": w.read_from, "hi": w.end},
        ).fetchall()
        out = []
        for site_id, ps, running, known, reasons in rows:
            ps = ps.replace(tzinfo=UTC)
            o = Observation(site_id, None, ps, ps + HOUR, None, None, None, None, None)
            if not known:  # no data at all in the hour: neither counts nor clears a stop
                o.detail, o.bridge = "operating state unknown (no data)", True
            elif running:
                o.exceeded, o.detail = False, "operating"
            else:
                o.exceeded, o.detail = True, f"not operating: {reasons or 'shut down'}"
            out.append(o)
        return out

    def _treatment_stopped(self, rule: TreatmentStoppedRule, w: Window) -> list[Observation]:
        """Per outlet and hour of outlet_hours: exceeded when the outlet operates (discharges)
        while a treatment facility is reported stopped (treatment_stopped names it); normal
        when it operates with every facility running, or when it is shut down (nothing is
        discharged untreated); no verdict when the hour has no data (operating null)."""
        if not self.has_table("outlet_hours"):
            return []
        if not self.has_column("outlet_hours", "treatment_stopped"):
            raise RuntimeError(
                f"rule {rule.rule_id}: outlet_hours has no column treatment_stopped "
                "(migration 0092_outlet_hours_treatment): run `envmon init`"
            )
        sites = [s.site_id for s in self.sites_of(rule.site_kinds)]
        rows = self.con.execute(
            "SELECT site_id, timezone('UTC', period_start), bool_or(operating), count(operating), "
            "string_agg(DISTINCT trim(f.facility), ', ' ORDER BY trim(f.facility)) "
            "FILTER (WHERE operating AND trim(f.facility) <> '') "
            "FROM outlet_hours LEFT JOIN LATERAL "
            "(SELECT unnest(string_split(coalesce(treatment_stopped, ''), ',')) AS facility) f ON true "
            "WHERE site_id IN (SELECT unnest($sites)) "
            "AND period_start >= $lo AND period_start < $hi GROUP BY ALL ORDER BY ALL",
            {"sites": sites, "lo": w.read_from, "hi": w.end},
        ).fetchall()
        seen = self._seen_running(rule, sites, w) if rule.seen_running_within_h else None
        out = []
        for site_id, ps, running, known, facilities in rows:
            ps = ps.replace(tzinfo=UTC)
            o = Observation(site_id, None, ps, ps + HOUR, None, None, None, None, None)
            stopped = facilities.split(", ") if facilities else []
            if seen is not None and stopped:
                since = ps - timedelta(hours=rule.seen_running_within_h or 0)
                judged = [
                    f for f in stopped if any(since <= t < ps + HOUR for t in seen[(site_id, f)])
                ]
                unseen = [f for f in stopped if f not in judged]
            else:
                judged, unseen = stopped, []
            if not known:
                o.detail, o.bridge = "operating state unknown (no data)", True
            elif not running:
                o.exceeded, o.detail = False, "not operating (shut down): nothing discharged"
            elif judged:
                o.exceeded = True
                o.detail = f"治理设施停运 treatment facility stopped while discharging: {', '.join(judged)}"
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

    def _seen_running(
        self, rule: TreatmentStoppedRule, sites: list[str], w: Window
    ) -> defaultdict[tuple[str, str], list[datetime]]:
        """(site, facility) -> the times the outlet's logger reported the facility running
        (logger_events kind 'run_status', status_code not 0) within the rule's look-back."""
        seen: defaultdict[tuple[str, str], list[datetime]] = defaultdict(list)
        if not self.has_table("logger_events"):
            return seen
        for site_id, code, at in self.con.execute(
            "SELECT site_id, code, timezone('UTC', event_time) FROM logger_events "
            "WHERE kind = 'run_status' AND code IS NOT NULL AND status_code <> 0 "
            "AND site_id IN (SELECT unnest($sites)) AND event_time >= $lo AND event_time < $hi",
            {
                "sites": sites,
                "lo": w.read_from - timedelta(hours=rule.seen_running_within_h or 0),
                "hi": w.end,
            },
        ).fetchall():
            seen[(site_id, code)].append(at.replace(tzinfo=UTC))
        return seen
