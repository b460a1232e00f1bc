"""What `envmon run` shows a person for one data interval: a heading in local time with its
offset, then one line of plain words per task of the stage with the figures that matter.

`summary_lines(stage, result)` reads the summary `envmon.pipeline.run_stage` returns (the JSON
`envmon run --json` prints) and nothing else: a pure function, so the staff console can show the
same text. A key it does not know is still shown, as "key: value", never dropped; a task whose
summary has an unexpected shape is shown the same generic way rather than failing the run.

Notification delivery failures are summarised once per channel and error ("12 × duty_webhook
http://...: URLError: ... Connection refused"), not one line per message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

# how many ids a line names before "and N more"
MAX_IDS = 5

# tables the derivations write, in words (rows written per table); a table not listed is named
# as it is
_TABLES = {
    "aggregates": "aggregates",
    "aqi_hourly": "hourly AQI",
    "aqi_daily": "daily AQI",
    "outlet_hours": "outlet hours",
    "outlet_days": "outlet days",
    "water_class": "water class",
    "noise_daily": "noise day/night",
    "emission_totals": "emission totals",
    "air_period_stats": "air period statistics",
}

# what each page kind of publish.jobs.PublishReport is
_PUBLISHED = {"daily": "daily air quality report", "hourly": "real-time page",
              "monthly": "monthly disclosure tables"}  # fmt: skip


# --------------------------------------------------------------------------- heading
def heading(stage: str, start: datetime, end: datetime, tz: tzinfo) -> str:
    """'daily 2026-11-30 (00:00+08:00 → 2026-12-01 00:00+08:00)': the stage, its interval's
    local date (a month: YYYY-MM), then its bounds in local time with the offset; a bound's date
    is given where it is not the interval's date."""
    lo, hi = start.astimezone(tz), end.astimezone(tz)
    label = f"{lo:%Y-%m}" if stage == "monthly" else f"{lo:%Y-%m-%d}"

    def bound(t: datetime, day: str) -> str:
        clock = t.isoformat(timespec="minutes")[11:]  # 00:00+08:00
        return clock if f"{t:%Y-%m-%d}" == day else f"{t:%Y-%m-%d} {clock}"

    first = bound(lo, label)
    return f"{stage} {label} ({first} → {bound(hi, f'{lo:%Y-%m-%d}')})"


# --------------------------------------------------------------------------- words and figures
def _n(count: int, one: str, many: str | None = None) -> str:
    word = one if count == 1 else (many or one + "s")
    return f"{count:,} {word}"


def _ids(ids: list[Any]) -> str:
    """Ids whole, at most MAX_IDS of them, then 'and N more'."""
    shown = ", ".join(str(i) for i in ids[:MAX_IDS])
    return shown + (f" and {len(ids) - MAX_IDS:,} more" if len(ids) > MAX_IDS else "")


def _value(value: Any) -> str:
    """Any value as text (the fallback for what no formatter knows)."""
    if isinstance(value, Mapping):
        return "(" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + ")" if value else "none"
    if isinstance(value, list | tuple):
        return _ids(list(value)) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,}"
    return str(value)


def _rest(data: Mapping[str, Any], known: set[str]) -> str:
    """The keys a formatter did not read, as '; key: value' (shown, never dropped)."""
    return "".join(f"; {k}: {_value(v)}" for k, v in data.items() if k not in known)


def _rows(rows: Mapping[str, int]) -> str:
    if not rows:
        return "no rows written"
    return "rows written: " + ", ".join(f"{_TABLES.get(t, t)} {n:,}" for t, n in rows.items())


class _Shape(Exception):
    """A summary not of the shape a formatter reads: shown the generic way."""


def _need(data: Any, *keys: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping) or any(k not in data for k in keys):
        raise _Shape
    return data


# --------------------------------------------------------------------------- one task each
def _inbox(d: Any) -> list[str]:
    d = _need(d, "files", "accepted", "rejected", "waiting")
    text = (f"{_n(d['files'], 'file')} taken in ({d['accepted']:,} accepted, {d['rejected']:,} rejected), "
            f"{d['waiting']:,} still being written")
    return [text + _rest(d, {"files", "accepted", "rejected", "waiting"})]


def _load(d: Any) -> list[str]:
    d = _need(d, "batches_loaded", "rows_inserted", "rows_duplicate", "rows_conflict", "quarantined",
              "batches_validated")  # fmt: skip
    text = (f"{_n(d['batches_loaded'], 'landing batch', 'landing batches')} loaded "
            f"({_n(d['rows_inserted'], 'new reading')}, {d['rows_duplicate']:,} already held, "
            f"{d['rows_conflict']:,} conflicting), {d['quarantined']:,} quarantined; "
            f"{_n(d['batches_validated'], 'batch', 'batches')} validated")  # fmt: skip
    return [text + _rest(d, {"batches_loaded", "rows_inserted", "rows_duplicate", "rows_conflict",
                             "quarantined", "batches_validated"})]  # fmt: skip


def _qc(d: Any) -> list[str]:
    d = _need(d, "readings", "flags", "inserted", "deleted")
    text = (f"{_n(d['readings'], 'reading')} checked, {_n(d['flags'], 'QC flag')} "
            f"({d['inserted']:,} new, {d['deleted']:,} removed)")
    return [text + _rest(d, {"readings", "flags", "inserted", "deleted"})]


# range_start/range_end/stage: the heading's interval and the task's own name
_DERIVED = {"stage", "range_start", "range_end", "rows"}


def _hours(d: Any) -> list[str]:
    d = _need(d, "range_start", "range_end", "rows")
    hours = int((datetime.fromisoformat(d["range_end"]) - datetime.fromisoformat(d["range_start"])).total_seconds() // 3600)
    return [f"{_n(hours, 'hour')} computed, {_rows(d['rows'])}" + _rest(d, _DERIVED)]


def _days(d: Any) -> list[str]:
    if not isinstance(d, Mapping) or not d:
        raise _Shape
    days = {day: _need(r, "rows") for day, r in d.items()}
    if len(days) == 1:
        (day, r), = days.items()
        return [f"1 day computed ({day}), {_rows(r['rows'])}" + _rest(r, _DERIVED)]
    return [f"{_n(len(days), 'day')} computed ({', '.join(days)})"] + [
        f"  {day}: {_rows(r['rows'])}" + _rest(r, _DERIVED) for day, r in days.items()
    ]


def _month(d: Any) -> list[str]:
    d = _need(d, "rows")
    return [f"month computed, {_rows(d['rows'])}" + _rest(d, _DERIVED)]


def _availability(d: Any) -> list[str]:
    d = _need(d, "rows")
    return [f"{_n(d['rows'], 'row')} rebuilt" + _rest(d, {"rows"})]


def _efficiency(d: Any) -> list[str]:
    d = _need(d, "month", "outlets", "below_requirement")
    below = list(d["below_requirement"])
    text = f"{str(d['month'])[:7]}: {_n(d['outlets'], 'outlet')}, "
    text += f"{len(below):,} below the requirement ({_ids(below)})" if below else "none below the requirement"
    return [text + _rest(d, {"month", "outlets", "below_requirement"})]


def _evaluation(d: Any) -> str:
    d = _need(d, "rules_evaluated", "periods_evaluated", "alerts_opened", "alerts_resolved", "cases_opened",
              "notifications_queued")  # fmt: skip

    def listed(ids: list[Any], one: str, many: str) -> str:
        return f"{_n(len(ids), one, many)} ({_ids(ids)})" if ids else f"0 {many}"

    text = (f"{_n(d['rules_evaluated'], 'rule')} over {_n(d['periods_evaluated'], 'period')}: "
            f"{listed(d['alerts_opened'], 'alert opened', 'alerts opened')}, "
            f"{listed(d['alerts_resolved'], 'resolved', 'resolved')}; "
            f"{listed(d['cases_opened'], 'case opened', 'cases opened')}; "
            f"{_n(d['notifications_queued'], 'notification')} queued")
    # range_start/range_end: the heading's interval; rules_hash: which rules file, for the log
    return text + _rest(d, {"range_start", "range_end", "rules_hash", "rules_evaluated", "periods_evaluated",
                            "alerts_opened", "alerts_resolved", "cases_opened", "notifications_queued"})


def _escalation(d: Any, people: Mapping[str, str]) -> str:
    d = _need(d, "escalated", "continuing_days")
    escalated = [f"{case} to {people[leader] + f' ({leader})' if leader in people else leader}" if leader
                 else str(case) for case, leader in d["escalated"]]  # fmt: skip
    text = (f"{_n(len(escalated), 'overdue case')} escalated ({_ids(escalated)})" if escalated
            else "no overdue case escalated")
    days = d["continuing_days"]
    if days:
        text += (f"; exceedance after a rectification order counted for {_n(len(days), 'case')} ("
                 + _ids([f"{case} {_n(n, 'day')}" for case, n in days.items()]) + ")")
    return text + _rest(d, {"at", "escalated", "continuing_days"})  # at: the interval's end


# DeliveryReport.errors: "<id> (<channel> → <recipient>): <error>; gave up|will retry"
_ERROR = re.compile(r"^(?P<id>\S+) \((?P<channel>\S+) → (?P<recipient>.*?)\): (?P<error>.*); (?:gave up|will retry)$")
# a message of a channel that failed earlier in the run is not tried: the same failure
_NOT_TRIED = re.compile(r"^OSError: not tried: \S+ could not be reached earlier in this run \((?P<cause>.*)\)$")
_URLOPEN = re.compile(r"<urlopen error (?P<reason>.*)>")


def failure_groups(errors: list[str]) -> list[str]:
    """'12 × duty_webhook http://...: URLError: [Errno 111] Connection refused': the failed
    deliveries of a run by channel and error, most first (a message not tried because its
    channel failed earlier in the run counts with that failure)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for line in errors:
        m = _ERROR.match(str(line))
        if m is None:
            groups.setdefault(("", str(line)), []).append("")
            continue
        error = m["error"]
        if (cause := _NOT_TRIED.match(error)) is not None:
            error = cause["cause"]
        error = _URLOPEN.sub(lambda u: u["reason"], error)
        groups.setdefault((m["channel"], error), []).append(m["recipient"])
    out = []
    for (channel, error), recipients in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        if not channel:
            out.append(f"{len(recipients):,} × {error}")
            continue
        to = sorted(set(recipients))
        where = f"{channel} {to[0]}" if len(to) == 1 else f"{channel} ({len(to):,} recipients)"
        out.append(f"{len(recipients):,} × {where}: {error}")
    return out


def _delivery(d: Any) -> list[str]:
    d = _need(d, "sent", "retried", "failed", "errors")
    rest = _rest(d, {"sent", "retried", "failed", "errors"})
    not_sent = d["retried"] + d["failed"]
    if not (d["sent"] or not_sent or d["errors"]):
        return ["none due" + rest]
    text = f"{d['sent']:,} sent"
    if not_sent:
        text += f"; {_n(not_sent, 'notification')} failed ({d['retried']:,} to retry, {d['failed']:,} given up)"
    groups = failure_groups(list(d["errors"]))
    if len(groups) == 1:
        return [f"{text}: {groups[0]}{rest}"]
    return [text + rest] + [f"  {g}" for g in groups]


def _alerts(d: Any, people: Mapping[str, str]) -> list[str]:
    d = _need(d, "evaluation", "escalation", "notifications")
    lines = [_evaluation(d["evaluation"]), "escalation: " + _escalation(d["escalation"], people)]
    delivery = _delivery(d["notifications"])
    lines += ["notifications: " + delivery[0], *delivery[1:]]
    return lines + [f"{k}: {_value(v)}" for k, v in d.items() if k not in {"evaluation", "escalation", "notifications"}]


def _publish(d: Any) -> list[str]:
    d = _need(d, "kind", "period", "out", "files", "changed", "has_data")
    what = _PUBLISHED.get(d["kind"], f"{d['kind']} pages")
    text = (f"{what} {d['period']}: {_n(len(d['files']), 'file')} in {d['out']} "
            f"({len(d['changed']):,} changed)")
    if not d["has_data"]:
        text += "; the warehouse held no data for it"
    return [text + _rest(d, {"kind", "period", "out", "files", "changed", "has_data"})]


def _maintenance(d: Any) -> list[str]:
    d = _need(d, "partitions_compacted", "batches_merged", "batches_removed_after_crash", "partitions_expired",
              "inbox_files_expired", "tmp_files_removed")  # fmt: skip
    expired = list(d["partitions_expired"])
    text = (f"{_n(d['partitions_compacted'], 'landing partition')} compacted "
            f"({_n(d['batches_merged'], 'batch', 'batches')} merged), "
            f"{_n(d['batches_removed_after_crash'], 'batch', 'batches')} of an interrupted run removed, "
            f"{_n(len(expired), 'partition')} past retention removed"
            + (f" ({_ids(expired)})" if expired else "")
            + f", {_n(d['inbox_files_expired'], 'inbox file')} expired, "
            f"{_n(len(d['tmp_files_removed']), 'temporary file')} removed")
    return [text + _rest(d, {"as_of", "partitions_compacted", "batches_merged", "batches_removed_after_crash",
                             "partitions_expired", "inbox_files_expired", "tmp_files_removed"})]


# result key (envmon.pipeline.run_stage's, or the task id) -> (what people call it, formatter)
_TASKS: dict[str, tuple[str, Callable[..., list[str]]]] = {
    "scan_inbox": ("file inbox", _inbox),
    "load": ("load", _load),
    "qc": ("QC", _qc),
    "derive": ("hourly values", _hours),
    "derive_hours": ("hourly values", _hours),
    "aggregate_hours": ("hourly values", _hours),
    "derive_days": ("daily values", _days),
    "aggregate_day": ("daily values", _days),
    "derive_month": ("monthly values", _month),
    "aggregate_month": ("monthly values", _month),
    "availability": ("data availability", _availability),
    "transmission_efficiency": ("transmission efficiency", _efficiency),
    "alerts": ("alerts", _alerts),
    "publish": ("publish", _publish),
    "maintenance": ("maintenance", _maintenance),
    "compact_and_checkpoint": ("maintenance", _maintenance),
}


def _generic(key: str, value: Any) -> list[str]:
    if isinstance(value, Mapping):
        if not value:
            return [f"{key}: nothing reported"]
        return [f"{key}: " + "; ".join(f"{k}: {_value(v)}" for k, v in value.items())]
    return [f"{key}: {_value(value)}"]


def escalated_to(result: Mapping[str, Any]) -> set[str]:
    """The ids of the people a run's escalations went to (whose names `summary_lines` shows)."""
    try:
        return {leader for _case, leader in result["alerts"]["escalation"]["escalated"] if leader}
    except (KeyError, TypeError, ValueError):
        return set()


def summary_lines(stage: str, result: Mapping[str, Any], people: Mapping[str, str] | None = None) -> list[str]:
    """One line of plain words per task of `stage`'s summary (`run_stage`'s result), in its
    order; a task's failed deliveries are grouped by channel and error below it. `stage` names
    the DAG (its tasks are told apart by their keys). `people`: person id -> name as people read
    it ("李艳 Li Yan"), for the leaders cases were escalated to (`escalated_to`); an id not in it
    is shown as it is."""
    lines: list[str] = []
    for key, value in result.items():
        label, formatter = _TASKS.get(key, (key, None))
        if formatter is None:
            lines += _generic(key, value)
            continue
        try:
            text = _alerts(value, people or {}) if formatter is _alerts else formatter(value)
        except (_Shape, KeyError, TypeError, ValueError, AttributeError):
            lines += _generic(key, value)
            continue
        lines += [f"{label}: {text[0]}", *text[1:]]
    return lines
