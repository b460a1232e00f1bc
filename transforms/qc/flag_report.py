"""What QC flagged and why, read side (for `envmon qc flags` and the staff console).

Flags (`qc_flags`: one row per reading and check that did not pass) are grouped by local day,
site, severity and check, with their count, the parameters, one example of the reason the check
gave, and the first and last period flagged; or listed one per reading. Sites are named as
`v_site_labels` names them and found by id or name; checks are shown with a label people read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from core import periods
from core.errors import EnvmonError
from transforms.qc.flags import Flag

# What each check of transforms/qc/engine.py means, Chinese first and English beside.
CHECK_LABELS = {
    "missing": "缺失 missing value",
    "unit": "单位不符 unit not convertible",
    "gross_range": "超出量程 out of range",
    "flat_line": "恒值 flat line",
    "spike": "突变 spike",
    "rate_of_change": "变化过快 rate of change",
    "non_positive": "负值 negative value",
    "source_flag": "数采仪标记 logger flag",
    "timestamp": "时间异常 time out of service",
    "consistency_pm25_pm10": "PM2.5 高于 PM10 PM2.5 above PM10",
    "o2_correction": "折算无有效氧含量 O2 correction invalid",
}
GX_PREFIX = "gx:"
SEVERITIES = tuple(f.label for f in Flag if f is not Flag.PASS)
_SHOWN = 8  # candidates named when a site name is ambiguous or unknown


class FlagQueryError(EnvmonError):
    """A filter of the flag report names nothing that exists."""


def check_label(name: str) -> str:
    """How people read a check's name: its label, or 'data validation (gx) <expectation>'."""
    if name.startswith(GX_PREFIX):
        return f"数据校验 data validation: {name[len(GX_PREFIX):]}"
    return CHECK_LABELS.get(name, name)


@dataclass(frozen=True)
class Site:
    site_id: str
    kind: str
    label_zh: str
    name_en: str


def find_site(con: duckdb.DuckDBPyConnection, text: str) -> Site:
    """A site by its id, its Chinese or English name or its label (enterprise and outlet);
    refused, naming the candidates, when none or several match."""
    typed = text.strip()
    rows = con.execute(
        """SELECT site_id, kind, label_zh, site_name_en FROM v_site_labels
           WHERE site_id = $t OR site_name_zh = $t OR label_zh = $t OR lower(site_name_en) = lower($t)
              OR lower(label_en) = lower($t)
           ORDER BY site_id""",
        {"t": typed},
    ).fetchall()
    exact = [r for r in rows if r[0] == typed]
    if exact or len(rows) == 1:
        return Site(*(exact or rows)[0])
    if rows:
        shown = "; ".join(f"{r[0]} ({r[2]})" for r in rows[:_SHOWN])
        raise FlagQueryError(f"site {typed!r} names {len(rows)} sites: {shown}"
                             + (", …" if len(rows) > _SHOWN else "") + "; give the site id")
    near = con.execute(
        """SELECT site_id, label_zh FROM v_site_labels
           WHERE contains(lower(site_id), lower($t)) OR contains(label_zh, $t) OR contains(lower(label_en), lower($t))
           ORDER BY site_id LIMIT $n""",
        {"t": typed, "n": _SHOWN + 1},
    ).fetchall()
    hint = (f"; sites like it: {'; '.join(f'{r[0]} ({r[1]})' for r in near[:_SHOWN])}" if near
            else "; `envmon registry show` lists the sites")
    raise FlagQueryError(f"unknown site {typed!r}{hint}")


def _check_name(con: duckdb.DuckDBPyConnection, text: str) -> str:
    typed = text.strip()
    known = set(CHECK_LABELS) | {r[0] for r in con.execute("SELECT DISTINCT check_name FROM qc_flags").fetchall()}
    if typed in known:
        return typed
    by_label = [n for n in known if typed.lower() in (check_label(n).lower(), *check_label(n).lower().split(" ", 1))]
    if len(by_label) == 1:
        return by_label[0]
    raise FlagQueryError(f"unknown check {typed!r}; valid checks: {', '.join(sorted(known))}")


def _severity(text: str) -> int:
    typed = text.strip().lower()
    if typed not in SEVERITIES:
        raise FlagQueryError(f"unknown severity {text!r}; valid severities: {', '.join(SEVERITIES)}")
    return int(Flag[typed.upper()])


@dataclass(frozen=True)
class FlagGroup:
    """The flags of one local day, site, severity and check."""

    local_date: date
    site_id: str
    site_label: str
    severity: str
    check_name: str
    check_label: str
    count: int
    parameters: tuple[str, ...]
    example_reason: str | None  # the reason the check gave for the first flag of the group
    first: datetime  # UTC: the first and last period flagged
    last: datetime


@dataclass(frozen=True)
class FlagRow:
    """One flag: a reading that a check did not pass."""

    period_start: datetime  # UTC
    local_date: date
    site_id: str
    site_label: str
    parameter: str
    interval_s: int
    source_kind: str
    severity: str
    check_name: str
    check_label: str
    reason: str | None


@dataclass(frozen=True)
class FlagQuery:
    lo: datetime  # UTC, half-open
    hi: datetime
    site_id: str | None
    flag: int | None
    check_name: str | None


def flag_query(con: duckdb.DuckDBPyConnection, first: date, last: date, tz: periods.Zone,
               site: str | None = None, severity: str | None = None, check: str | None = None) -> FlagQuery:
    """The filters checked: local days first..last, a site by id or name, a severity, a check
    by name or label; each refused with the valid choices when it names nothing."""
    if last < first:
        raise FlagQueryError(f"--to {last.isoformat()} is before --from {first.isoformat()}")
    lo, hi = periods.local_days_range(first, last, tz)
    return FlagQuery(
        lo, hi,
        None if site is None else find_site(con, site).site_id,
        None if severity is None else _severity(severity),
        None if check is None else _check_name(con, check),
    )


_WHERE = """f.period_start >= $lo AND f.period_start < $hi AND f.flag > 0
            AND ($site IS NULL OR f.site_id = $site) AND ($flag IS NULL OR f.flag = $flag)
            AND ($check IS NULL OR f.check_name = $check)"""


def _params(q: FlagQuery, tz: periods.Zone) -> dict[str, object]:
    return {"lo": q.lo, "hi": q.hi, "site": q.site_id, "flag": q.flag, "check": q.check_name}


def flag_groups(con: duckdb.DuckDBPyConnection, q: FlagQuery, tz: periods.Zone) -> list[FlagGroup]:
    """The flags grouped by local day, site, severity (worst first) and check (most first)."""
    rows = con.execute(
        f"""SELECT CAST(timezone($tz, f.period_start) AS DATE) AS day, f.site_id,
                   coalesce(any_value(v.label_zh), f.site_id), f.flag, f.check_name, count(*),
                   list_sort(list_distinct(list(f.parameter))),
                   arg_min(f.detail, f.period_start), min(f.period_start), max(f.period_start)
            FROM qc_flags f LEFT JOIN v_site_labels v USING (site_id)
            WHERE {_WHERE}
            GROUP BY day, f.site_id, f.flag, f.check_name
            ORDER BY day, f.site_id, f.flag DESC, count(*) DESC, f.check_name""",
        {**_params(q, tz), "tz": str(periods.zone(tz))},
    ).fetchall()
    return [FlagGroup(r[0], r[1], r[2], Flag(r[3]).label, r[4], check_label(r[4]), int(r[5]), tuple(r[6]), r[7],
                      periods.from_stored(r[8]), periods.from_stored(r[9])) for r in rows]


def flag_rows(con: duckdb.DuckDBPyConnection, q: FlagQuery, tz: periods.Zone, limit: int | None = None) -> list[FlagRow]:
    """Each flag, by time, site, parameter and check."""
    rows = con.execute(
        f"""SELECT f.period_start, CAST(timezone($tz, f.period_start) AS DATE), f.site_id,
                   coalesce(v.label_zh, f.site_id), f.parameter, f.interval_s, f.source_kind, f.flag,
                   f.check_name, f.detail
            FROM qc_flags f LEFT JOIN v_site_labels v USING (site_id)
            WHERE {_WHERE}
            ORDER BY f.period_start, f.site_id, f.parameter, f.interval_s, f.flag DESC, f.check_name
            LIMIT $limit""",
        {**_params(q, tz), "tz": str(periods.zone(tz)), "limit": limit if limit is not None else 2**62},
    ).fetchall()
    return [FlagRow(periods.from_stored(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6], Flag(r[7]).label, r[8],
                    check_label(r[8]), r[9]) for r in rows]


def count_flags(con: duckdb.DuckDBPyConnection, q: FlagQuery, tz: periods.Zone) -> int:
    return int(con.execute(f"SELECT count(*) FROM qc_flags f WHERE {_WHERE}", _params(q, tz)).fetchone()[0])


__all__ = ["CHECK_LABELS", "SEVERITIES", "FlagGroup", "FlagQuery", "FlagQueryError", "FlagRow", "Site",
           "check_label", "count_flags", "find_site", "flag_groups", "flag_query", "flag_rows"]
