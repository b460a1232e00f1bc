"""Read-side queries over alerts and cases: staff lists, case files, and the figures the
monthly disclosure (publish) needs. Every function takes an open connection."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from alerts.cases import CaseError, open_at_sql, overdue_at_sql
from core.errors import EnvmonError


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def enterprise_exceedances(
    con: duckdb.DuckDBPyConnection, month_start: date, month_end: date
) -> list[dict[str, Any]]:
    """Per outlet and parameter, exceedances of permit-type threshold rules in the local dates
    [month_start, month_end) (half-open: pass the first day of the next month as month_end).

    Columns:
      enterprise_id, enterprise_name_zh, enterprise_name_en, site_id (the outlet),
      outlet_name_zh, outlet_name_en, parameter,
      periods_exceeded   distinct periods (hours, or days for daily limits) above the limit
      hours_exceeded     the same periods in hours
      days_exceeded      distinct local dates with at least one exceeded period
      max_value, limit_value, unit   the worst value (in the limit's unit) and its limit
      max_multiple       max value ÷ limit (超标倍数 = max_multiple − 1)
      cases_opened       cases of the outlet (this parameter's) opened in the range
      cases_closed       of those and earlier ones: closed or dismissed in the range
      rectification_status  state of the outlet's latest case for the parameter (open, assigned,
                         under_inspection, rectification_ordered, verified, closed, dismissed),
                         or 'none'
    Rows are ordered by enterprise, outlet and parameter; outlets without exceedances or cases
    in the range are left out.
    """
    return _dicts(
        con,
        """
        WITH p AS (
            SELECT DISTINCT a.site_id, a.parameter, ap.period_start, ap.interval_s, ap.value, ap.limit_value,
                   ap.unit, ap.multiple, CAST(timezone(s.timezone, ap.period_start) AS DATE) AS local_date
            FROM alerts a JOIN alert_periods ap USING (alert_id) JOIN sites s ON s.site_id = a.site_id
            WHERE s.kind = 'outlet' AND a.rule_kind = 'threshold' AND ap.exceeded
        ),
        ex AS (
            SELECT site_id, parameter, count(DISTINCT period_start) AS periods_exceeded,
                   sum(interval_s) / 3600.0 AS hours_exceeded, count(DISTINCT local_date) AS days_exceeded,
                   arg_max(value, multiple) AS max_value, arg_max(limit_value, multiple) AS limit_value,
                   arg_max(unit, multiple) AS unit, max(multiple) AS max_multiple
            FROM (SELECT DISTINCT ON (site_id, parameter, period_start) * FROM p
                  WHERE local_date >= $start AND local_date < $end
                  ORDER BY site_id, parameter, period_start, multiple DESC NULLS LAST)
            GROUP BY site_id, parameter
        ),
        cs AS (
            SELECT c.site_id, c.parameter,
                   count(*) FILTER (WHERE CAST(timezone(s.timezone, c.opened_at) AS DATE) >= $start
                                    AND CAST(timezone(s.timezone, c.opened_at) AS DATE) < $end) AS cases_opened,
                   count(*) FILTER (WHERE c.closed_at IS NOT NULL
                                    AND CAST(timezone(s.timezone, c.closed_at) AS DATE) >= $start
                                    AND CAST(timezone(s.timezone, c.closed_at) AS DATE) < $end) AS cases_closed,
                   arg_max(c.state, c.opened_at) FILTER (WHERE CAST(timezone(s.timezone, c.opened_at) AS DATE) < $end)
                       AS rectification_status
            FROM cases c JOIN sites s USING (site_id)
            WHERE s.kind = 'outlet' AND c.parameter IS NOT NULL
            GROUP BY c.site_id, c.parameter
        ),
        keys AS (
            SELECT site_id, parameter FROM ex
            UNION SELECT site_id, parameter FROM cs WHERE cases_opened > 0 OR cases_closed > 0
        )
        SELECT o.enterprise_id, e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en, k.site_id,
               s.name_zh AS outlet_name_zh, s.name_en AS outlet_name_en, k.parameter,
               coalesce(ex.periods_exceeded, 0) AS periods_exceeded, coalesce(ex.hours_exceeded, 0) AS hours_exceeded,
               coalesce(ex.days_exceeded, 0) AS days_exceeded, ex.max_value, ex.limit_value, ex.unit, ex.max_multiple,
               coalesce(cs.cases_opened, 0) AS cases_opened, coalesce(cs.cases_closed, 0) AS cases_closed,
               coalesce(cs.rectification_status, 'none') AS rectification_status
        FROM keys k JOIN outlets o USING (site_id) JOIN enterprises e USING (enterprise_id)
        JOIN sites s ON s.site_id = k.site_id
        LEFT JOIN ex ON ex.site_id = k.site_id AND ex.parameter = k.parameter
        LEFT JOIN cs ON cs.site_id = k.site_id AND cs.parameter = k.parameter
        ORDER BY o.enterprise_id, k.site_id, k.parameter
        """,
        {"start": month_start, "end": month_end},
    )


def cases_by_grid(
    con: duckdb.DuckDBPyConnection, month_start: date, month_end: date
) -> list[dict[str, Any]]:
    """Per grid, cases in the local dates [month_start, month_end) (half-open; Asia/Shanghai
    days through each site's zone).

    Columns: grid_id, grid_name_zh, grid_name_en, level, special (special grids for key
    enterprises / drinking-water sources), opened (cases opened in the range), closed (closed in
    the range), dismissed (dismissed in the range), overdue (unfinished at the range's end with
    a rectification deadline before it: alerts.cases.overdue_at_sql), open_at_end (unfinished at
    the range's end). Grids with no case at all are listed with zeros.
    """
    return _dicts(
        con,
        f"""
        WITH c AS (
            SELECT c.*, CAST(timezone(s.timezone, c.opened_at) AS DATE) AS opened_day,
                   CAST(timezone(s.timezone, c.closed_at) AS DATE) AS closed_day,
                   timezone(s.timezone, CAST($end AS TIMESTAMP)) AS end_at  -- the site's midnight
            FROM cases c JOIN sites s USING (site_id)
        )
        SELECT g.grid_id, g.name_zh AS grid_name_zh, g.name_en AS grid_name_en, g.level, g.special,
               count(c.case_id) FILTER (WHERE opened_day >= $start AND opened_day < $end) AS opened,
               count(c.case_id) FILTER (WHERE c.state = 'closed' AND closed_day >= $start AND closed_day < $end) AS closed,
               count(c.case_id) FILTER (WHERE c.state = 'dismissed' AND closed_day >= $start AND closed_day < $end) AS dismissed,
               count(c.case_id) FILTER (WHERE {overdue_at_sql("c.end_at")}) AS overdue,
               count(c.case_id) FILTER (WHERE {open_at_sql("c.end_at")}) AS open_at_end
        FROM grids g LEFT JOIN c ON c.grid_id = g.grid_id
        GROUP BY ALL ORDER BY g.special DESC, g.grid_id
        """,
        {"start": month_start, "end": month_end},
    )


ALERT_STATES = ("firing", "resolved")


class UnknownFilterError(EnvmonError):
    """A list filter (state, site, rule, ...) that names nothing: refused with the choices."""


def site_of(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """The site id `text` names: the id, the Chinese or English name, or the label people know it
    by ("华能北京热电厂 燃煤机组烟囱1号", view v_site_labels); refused, with the candidates, when
    no site or several have it."""
    typed = text.strip()
    found = con.execute(
        "SELECT site_id, label_zh FROM v_site_labels WHERE ? IN (site_id, site_name_zh, label_zh) "
        "OR lower(?) IN (lower(site_name_en), lower(label_en)) ORDER BY site_id",
        [typed, typed],
    ).fetchall()
    exact = [s for s, _ in found if s == typed]
    if exact or len(found) == 1:
        return (exact or [found[0][0]])[0]
    if found:
        raise UnknownFilterError(f"{typed!r} names {len(found)} sites: "
                                 + ", ".join(f"{s} ({label})" for s, label in found) + "; give the id or the enterprise's name with it")
    ids = [s for (s,) in con.execute("SELECT site_id FROM sites ORDER BY site_id").fetchall()]
    raise UnknownFilterError(f"unknown site {typed!r}: give a site id or its Chinese name; sites: {', '.join(ids)}")


def list_alerts(
    con: duckdb.DuckDBPyConnection,
    *,
    state: str | None = None,
    site_id: str | None = None,
    rule_id: str | None = None,
    limit: int = 200,
    known_rules: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Alerts, firing first, newest first. `site_id` may be the site's id or name (site_of); an
    unknown state, site or rule (not in `known_rules`, when given) is refused with the valid
    choices. Rows also carry the site's label (site_label_zh/en: the enterprise and the outlet)
    and who acknowledged or silenced it by name (acknowledged_by_name, silenced_by_name)."""
    if state and state not in ALERT_STATES:
        raise UnknownFilterError(f"unknown alert state {state!r}; states: {', '.join(ALERT_STATES)}")
    if rule_id and known_rules is not None and rule_id not in known_rules:
        raise UnknownFilterError(f"unknown rule {rule_id!r}; rules: {', '.join(sorted(known_rules))}")
    site_id = site_of(con, site_id) if site_id else None
    where, params = ["1 = 1"], []
    for column, value in (("state", state), ("site_id", site_id), ("rule_id", rule_id)):
        if value:
            where.append(f"a.{column} = ?")
            params.append(value)
    return _dicts(
        con,
        f"SELECT a.alert_id, a.rule_id, a.site_id, a.parameter, a.severity, a.state, a.first_period, a.last_period, "
        f"a.resolved_period, a.max_value, a.limit_value, a.unit, a.max_multiple, a.periods_exceeded, a.hours_exceeded, "
        f"a.acknowledged_by, a.acknowledged_at, a.silenced_by, a.case_id, a.grid_id, a.message, "
        f"l.label_zh AS site_label_zh, l.label_en AS site_label_en, "
        f"pa.name_zh || ' ' || pa.name_en AS acknowledged_by_name, ps.name_zh || ' ' || ps.name_en AS silenced_by_name "
        f"FROM alerts a LEFT JOIN v_site_labels l ON l.site_id = a.site_id "
        f"LEFT JOIN v_people pa ON pa.person_id = a.acknowledged_by "
        f"LEFT JOIN silences si ON si.silence_id = a.silenced_by LEFT JOIN v_people ps ON ps.person_id = si.created_by "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY a.state = 'firing' DESC, a.last_period DESC, a.alert_id LIMIT {int(limit)}",
        params,
    )


def logger_alarms(
    con: duckdb.DuckDBPyConnection,
    *,
    site_ids: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The data loggers' own alarm events (HJ 212 CN 2072, table logger_events kind 'alarm'),
    newest first, for the given sites (all when None) with event_time in [since, until).

    Columns: site_id, site_name_zh, site_name_en, timezone (the site's, for local display),
    mn, event_time (UTC), code (the pollutant code as sent, or null), parameter (envmon's
    parameter of that code, when the registry knows it), alarm_type (as sent), alarm_value
    (the `<code>-Ala` value as sent, text, from extra), received_at, extra (JSON of the other
    fields), alerts (ids of the site's alerts active at the event
    time, comma separated, or null). No rows while logger_events does not exist yet.
    """
    if not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'logger_events'"
    ).fetchone()[0]:
        return []
    if site_ids is not None and not site_ids:
        return []
    rows = _dicts(
        con,
        f"""
        SELECT e.site_id, s.name_zh AS site_name_zh, s.name_en AS site_name_en,
               coalesce(s.timezone, 'Asia/Shanghai') AS timezone, e.mn, e.event_time, e.code,
               (SELECT min(p.parameter) FROM parameters p
                 WHERE e.code IS NOT NULL AND e.code IN (p.hj212_2017_code, p.hj212_2005_code)) AS parameter,
               e.alarm_type, e.received_at, e.extra,
               (SELECT string_agg(a.alert_id, ',' ORDER BY a.alert_id) FROM alerts a
                 WHERE a.site_id = e.site_id AND a.first_period <= e.event_time
                   AND (a.resolved_period IS NULL OR e.event_time < a.resolved_period)) AS alerts
        FROM logger_events e LEFT JOIN sites s ON s.site_id = e.site_id
        WHERE e.kind = 'alarm'
          AND ($all_sites OR e.site_id IN (SELECT unnest($sites)))
          AND (CAST($since AS TIMESTAMPTZ) IS NULL OR e.event_time >= CAST($since AS TIMESTAMPTZ))
          AND (CAST($until AS TIMESTAMPTZ) IS NULL OR e.event_time < CAST($until AS TIMESTAMPTZ))
        ORDER BY e.event_time DESC, e.site_id, e.code NULLS FIRST
        LIMIT {int(limit)}
        """,
        {
            "all_sites": site_ids is None,
            "sites": site_ids or [""],
            "since": since,
            "until": until,
        },
    )
    for row in rows:  # the alarm's value as sent (`B01-Ala=0.89` -> "0.89"), kept in extra
        try:
            extra = json.loads(row["extra"] or "{}")
        except ValueError:
            extra = {}
        code = row["code"]  # no code: no `<code>-Ala` to look up (not "None-Ala")
        value = extra.get(f"{code}-Ala") if code is not None and isinstance(extra, dict) else None
        row["alarm_value"] = None if value is None else str(value)
    return rows


def list_cases(
    con: duckdb.DuckDBPyConnection,
    *,
    state: str | None = None,
    grid_id: str | None = None,
    officer_id: str | None = None,
    case_id: str | None = None,
) -> list[dict[str, Any]]:
    """Cases named as people know them, with their alert figures, newest first; `case_id` picks
    one case (case_file).

    Filters as people type them, refused when unknown (naming the valid choices): `state` an id
    or a label (alerts.cases.resolve_state: "已销号", "closed"), `grid_id` a grid's id or its
    Chinese or English name, `officer_id` an officer's id or name.

    Columns: case_id, state, state_label ("整改中 rectification_ordered"), site_id,
    site_name_zh/en (the outlet or station), site_label_zh/en ("华能北京热电厂 燃煤机组烟囱1号",
    v_site_labels), timezone (the site's), enterprise_id, enterprise_name_zh/en (registered
    name), credit_code, enterprise_address, rule_family, parameter, severity, grid_id,
    grid_name_zh/en, officer_id, officer_name_zh/en, officer_phone, routed_by, opened_at,
    deadline, rectification_ordered_at, closed_at, dismissed_reason, escalated_to,
    escalated_to_name_zh/en, escalated_at, title, alerts, max_multiple, periods_exceeded,
    hours_exceeded, continuing_days, reopened (times reopened, from case_events).
    """
    from alerts.cases import find_grid, find_officer, resolve_state, state_label

    where, params = ["1 = 1"], []
    if state:
        where.append("c.state = ?")
        params.append(resolve_state(state))
    if grid_id:
        where.append("c.grid_id = ?")
        params.append(find_grid(con, grid_id))
    if officer_id:
        where.append("c.officer_id = ?")
        params.append(find_officer(con, officer_id))
    if case_id is not None:
        where.append("c.case_id = ?")
        params.append(case_id)
    rows = _dicts(
        con,
        f"""
        SELECT c.case_id, c.state, c.site_id, l.site_name_zh, l.site_name_en, l.label_zh AS site_label_zh,
               l.label_en AS site_label_en, l.timezone, l.enterprise_id, l.enterprise_name_zh, l.enterprise_name_en,
               l.credit_code, l.enterprise_address, c.rule_family, c.parameter, c.severity,
               c.grid_id, g.name_zh AS grid_name_zh, g.name_en AS grid_name_en,
               c.officer_id, o.name_zh AS officer_name_zh, o.name_en AS officer_name_en, o.phone AS officer_phone,
               c.routed_by, c.opened_at, c.deadline, c.rectification_ordered_at, c.closed_at, c.dismissed_reason,
               c.escalated_to, x.name_zh AS escalated_to_name_zh, x.name_en AS escalated_to_name_en,
               c.escalated_at, c.title,
               (SELECT count(*) FROM alerts a WHERE a.case_id = c.case_id) AS alerts,
               (SELECT max(a.max_multiple) FROM alerts a WHERE a.case_id = c.case_id) AS max_multiple,
               (SELECT count(DISTINCT ap.period_start) FROM alerts a JOIN alert_periods ap USING (alert_id)
                 WHERE a.case_id = c.case_id AND ap.exceeded) AS periods_exceeded,
               (SELECT sum(h) FROM (SELECT DISTINCT ap.period_start, ap.interval_s / 3600.0 AS h
                 FROM alerts a JOIN alert_periods ap USING (alert_id) WHERE a.case_id = c.case_id AND ap.exceeded)) AS hours_exceeded,
               (SELECT count(*) FROM case_exceedance_days d WHERE d.case_id = c.case_id) AS continuing_days,
               (SELECT count(*) FROM case_events e WHERE e.case_id = c.case_id AND e.action = 'reopened') AS reopened
        FROM cases c JOIN v_site_labels l ON l.site_id = c.site_id LEFT JOIN grids g ON g.grid_id = c.grid_id
        LEFT JOIN v_people o ON o.person_id = c.officer_id
        LEFT JOIN v_people x ON x.person_id = c.escalated_to
        WHERE {" AND ".join(where)} ORDER BY c.opened_at DESC, c.case_id
        """,
        params,
    )
    for row in rows:
        row["state_label"] = state_label(row["state"])
    return rows


def case_file(con: duckdb.DuckDBPyConnection, case_id: str, context_h: float = 3) -> dict[str, Any]:
    """Everything on one case: the case, its events (actors named: actor_name_zh/en,
    actor_label "李艳 Li Yan" or "系统 system"; from/to state labels), alerts, evidence periods,
    the raw readings around the exceedance (context_h hours either side), and the
    continuing-exceedance days. `case_id`: the id or a unique prefix of it."""
    from alerts.cases import actor_label, resolve_case_id, state_label

    case_id = resolve_case_id(con, case_id)
    cases = list_cases(con, case_id=case_id)
    if not cases:
        raise CaseError(f"no case {case_id!r} (see `envmon cases list`)")
    case = cases[0]
    events = _dicts(
        con,
        "SELECT e.seq, e.event_at, e.actor, p.name_zh AS actor_name_zh, p.name_en AS actor_name_en, e.action, "
        "e.from_state, e.to_state, e.note FROM case_events e LEFT JOIN v_people p ON p.person_id = e.actor "
        "WHERE e.case_id = ? ORDER BY e.seq",
        [case_id],
    )
    for e in events:
        e["actor_label"] = actor_label(e["actor"], e["actor_name_zh"], e["actor_name_en"])
        e["from_label"] = state_label(e["from_state"])
        e["to_label"] = state_label(e["to_state"])
    alerts = _dicts(
        con,
        "SELECT alert_id, rule_id, parameter, state, first_period, last_period, resolved_period, "
        "max_value, limit_value, unit, max_multiple, periods_exceeded, hours_exceeded, message "
        "FROM alerts WHERE case_id = ? ORDER BY first_period, alert_id",
        [case_id],
    )
    evidence = _dicts(
        con,
        "SELECT a.alert_id, a.parameter, ap.period_start, ap.interval_s, ap.value, ap.limit_value, "
        "ap.unit, ap.multiple, ap.exceeded, ap.detail FROM alert_periods ap JOIN alerts a USING (alert_id) "
        "WHERE a.case_id = ? ORDER BY ap.period_start, a.alert_id",
        [case_id],
    )
    readings: list[dict[str, Any]] = []
    if alerts:
        first = min(a["first_period"] for a in alerts) - timedelta(hours=context_h)
        last = max(a["last_period"] for a in alerts) + timedelta(hours=context_h + 1)
        params = sorted({a["parameter"] for a in alerts if a["parameter"]})
        readings = _dicts(
            con,
            "SELECT parameter, period_start, interval_s, source_kind, value, unit, flag FROM readings "
            "WHERE site_id = $site AND period_start >= $first AND period_start < $last AND interval_s >= 3600 "
            "AND ($all OR parameter IN (SELECT unnest($params))) ORDER BY parameter, period_start, interval_s",
            {
                "site": case["site_id"],
                "first": first,
                "last": last,
                "all": not params,
                "params": params or [""],
            },
        )
    days = _dicts(
        con,
        "SELECT local_date, periods_exceeded, hours_exceeded, max_multiple FROM case_exceedance_days "
        "WHERE case_id = ? ORDER BY local_date",
        [case_id],
    )
    return {
        "case": case,
        "events": events,
        "alerts": alerts,
        "evidence": evidence,
        "readings": readings,
        "continuing_days": days,
    }


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
