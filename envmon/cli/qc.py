"""QC and review commands: `envmon qc run|validate|availability|efficiency` and
`envmon review flag|unflag|revert|list|audit|auto-audit`. The QC modules and the warehouse
(DuckDB) are imported inside the commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.settings import get_settings
from envmon.cli.acting import TIME_FORMATS, By

console = Console()
qc_app = typer.Typer(help="Data validation and QC of readings.", no_args_is_help=True)
review_app = typer.Typer(help="Staff review of readings: flag, unflag, revert, audit days.", no_args_is_help=True)

FromDate = Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first local date")]
ToDate = Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last local date (included)")]
Reason = Annotated[str, typer.Option("--reason", help="why")]


@qc_app.command("run")
def qc_run(start: FromDate, end: ToDate) -> None:
    """Run every QC check over the readings of local dates FROM..TO (idempotent)."""
    from core.periods import local_minute
    from transforms.qc.run import run_qc

    tz = get_settings().tz
    r = run_qc(None, start.date(), end.date())
    console.print(f"QC {local_minute(r.range_start, tz)} to {local_minute(r.range_end, tz)}: {r.readings} readings, "
                  f"{r.flags} flags ({r.inserted} new, {r.deleted} removed), config {r.config_hash[:12]}",
                  markup=False, highlight=False)


@qc_app.command("validate")
def qc_validate() -> None:
    """Run the Great Expectations suite on every loaded batch not validated yet."""
    from transforms.qc.gx_suite import validate_batches

    results = validate_batches()
    for v in results:
        state = "ok" if v.success else f"FAILED ({', '.join(sorted(set(v.failed)))}); {v.rows_flagged} rows flagged"
        console.print(f"{v.batch_id}: {state}")
    console.print(f"{len(results)} batches validated")


@qc_app.command("availability")
def qc_availability(start: FromDate, end: ToDate) -> None:
    """Rebuild hourly and daily data availability for local dates FROM..TO."""
    from transforms.qc.availability import compute_availability

    console.print(f"{compute_availability(None, start.date(), end.date())} availability rows written")


@qc_app.command("efficiency")
def qc_efficiency(
    month: Annotated[datetime, typer.Option("--month", formats=["%Y-%m"], help="the month, YYYY-MM")],
) -> None:
    """Data transmission efficiency (transmission rate × validity rate) of every outlet for a month."""
    from transforms.qc.availability import compute_transmission_efficiency

    table = Table(title=f"data transmission efficiency {month:%Y-%m}")
    for col in ("outlet", "expected", "received", "valid", "transmission", "validity", "efficiency", "≥ required"):
        table.add_column(col)
    pct = lambda x: "—" if x is None else f"{x:.2%}"  # noqa: E731
    for e in compute_transmission_efficiency(None, month.date()):
        table.add_row(e.site_id, str(e.expected), str(e.received), str(e.valid), pct(e.transmission_rate),
                      pct(e.validity_rate), pct(e.efficiency), {True: "yes", False: "NO", None: "—"}[e.meets_requirement])
    console.print(table)


@qc_app.command("flags")
def qc_flags(
    start: FromDate,
    end: Annotated[datetime | None, typer.Option(
        "--to", formats=["%Y-%m-%d"], help="last local date (included; default: --from)")] = None,
    site: Annotated[str | None, typer.Option("--site", help="a site id or name (Chinese or English)")] = None,
    severity: Annotated[str | None, typer.Option(
        "--severity", help="suspect, fail or missing (default: all)")] = None,
    check: Annotated[str | None, typer.Option("--check", help="a check name, e.g. flat_line (default: all)")] = None,
    detail: Annotated[bool, typer.Option("--detail", help="list the flags one per line")] = False,
    limit: Annotated[int, typer.Option("--limit", help="at most this many lines with --detail")] = 500,
) -> None:
    """What QC flagged and why over local dates FROM..TO: by day, site, severity and check, with
    the count, the parameters, an example of the reason and the first and last time (local)."""
    import textwrap

    from core.periods import local_minute
    from transforms.qc.flag_report import count_flags, flag_groups, flag_query, flag_rows
    from warehouse.db import connect

    tz = get_settings().tz
    say = lambda text="": console.print(text, markup=False, highlight=False)  # noqa: E731
    wrap = lambda text, indent: textwrap.fill(  # noqa: E731
        text, 78, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2))
    with connect(write=False, purpose="envmon qc flags") as con:
        q = flag_query(con, start.date(), (end or start).date(), tz, site, severity, check)
        total = count_flags(con, q, tz)
        groups = [] if detail else flag_groups(con, q, tz)
        rows = flag_rows(con, q, tz, limit) if detail else []
    days = f"{start:%Y-%m-%d}" + (f" to {end:%Y-%m-%d}" if end and end != start else "")
    say(f"QC flags {days}: {total}" + (" (none)" if not total else ""))
    if detail:
        for r in rows:
            say(wrap(f"{local_minute(r.period_start, tz)}  {r.site_id}  {r.parameter}  {r.severity}  "
                     f"{r.check_label}: {r.reason or ''}", 0))
        if total > len(rows):
            say(f"… {total - len(rows)} more (narrow with --site, --severity, --check or raise --limit)")
        return
    day = site_id = None
    for g in groups:
        if g.local_date != day:
            day, site_id = g.local_date, None
            say()
            say(f"{day.isoformat()}")
        if g.site_id != site_id:
            site_id = g.site_id
            say(f"  {g.site_id}  {g.site_label}")
        span = local_minute(g.first, tz)[11:16] + (
            f"–{local_minute(g.last, tz)[11:]}" if g.last != g.first else local_minute(g.first, tz)[16:])
        say(wrap(f"{g.count} {g.severity}  {g.check_label}  ({', '.join(g.parameters)})  {span}", 4))
        if g.example_reason:
            say(wrap(f"e.g. {g.example_reason}", 6))


def _review(action: str, site: str, parameter: str | None, start: datetime, end: datetime, reason: str,
            by: str | None) -> None:
    from core.periods import from_local_input, local_minute
    from envmon.cli.acting import actor, now
    from transforms.qc.flag_report import find_site
    from transforms.qc.review import record_review
    from warehouse.db import connect

    tz = get_settings().tz
    person = actor(by)
    with connect(purpose=f"envmon review {action}") as con:
        found = find_site(con, site)
        event = record_review(con, action, found.site_id, parameter, from_local_input(start, tz),
                              from_local_input(end, tz), reason, person.person_id, at=now())
    console.print(f"{event.review_id}: {action} {found.site_id} {found.label_zh} {parameter or '(all parameters)'} "
                  f"from {local_minute(event.period_from, tz)} to {local_minute(event.period_to, tz)} "
                  f"by {person.name}", markup=False, highlight=False)


Site = Annotated[str, typer.Option("--site", help="a site id or name")]
Param = Annotated[str | None, typer.Option("--parameter", help="default: every parameter of the site")]
_TIMES = [*TIME_FORMATS, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
From = Annotated[datetime, typer.Option(
    "--from", metavar="TIME", formats=_TIMES, help="range start (local time unless an offset is given)")]
To = Annotated[datetime, typer.Option(
    "--to", metavar="TIME", formats=_TIMES, help="range end, excluded (local time unless an offset is given)")]


@review_app.command("flag")
def review_flag(site: Site, start: From, end: To, reason: Reason, by: By = None, parameter: Param = None) -> None:
    """Mark readings invalid (fail) regardless of QC; re-opens the audited days it touches."""
    _review("flag", site, parameter, start, end, reason, by)


@review_app.command("unflag")
def review_unflag(site: Site, start: From, end: To, reason: Reason, by: By = None, parameter: Param = None) -> None:
    """Mark readings valid (pass) regardless of QC; re-opens the audited days it touches."""
    _review("unflag", site, parameter, start, end, reason, by)


@review_app.command("revert")
def review_revert(review_id: Annotated[str, typer.Option("--review-id", help="the id or a unique start of it")],
                  by: By = None, reason: Annotated[str, typer.Option("--reason")] = "reverted") -> None:
    """Cancel a flag or unflag event (the revert is recorded too)."""
    from core.periods import local_minute
    from envmon.cli.acting import actor, now
    from transforms.qc.review import revert_review
    from warehouse.db import connect

    person = actor(by)
    with connect(purpose="envmon review revert") as con:
        event = revert_review(con, review_id, reason, person.person_id, at=now())
    console.print(f"{event.review_id}: reverted {event.reverts_review_id} at "
                  f"{local_minute(event.reviewed_at, get_settings().tz)} by {person.name}",
                  markup=False, highlight=False)


@review_app.command("list")
def review_list(site: Annotated[str | None, typer.Option("--site", help="a site id or name")] = None) -> None:
    """Every review event, oldest first, with whether it is still in force (local times)."""
    from core.periods import local_minute
    from transforms.qc.flag_report import find_site
    from transforms.qc.review import list_reviews, person_names
    from warehouse.db import connect

    tz = get_settings().tz
    with connect(write=False, purpose="envmon review list") as con:
        events = list_reviews(con, None if site is None else find_site(con, site).site_id)
        names = person_names(con)
    say = lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    say(f"{len(events)} review events")
    for e, in_force in events:
        head = e.action + (f" {e.reverts_review_id}" if e.reverts_review_id else "")
        say(f"{e.review_id}  {head}" + ("  in force" if in_force else ""))
        say(f"    {e.site_id} {e.parameter or '(all parameters)'}  {local_minute(e.period_from, tz)} "
            f"to {local_minute(e.period_to, tz)}")
        say(f"    by {names.get(e.reviewed_by, e.reviewed_by)} at {local_minute(e.reviewed_at, tz)}: {e.reason}")


@review_app.command("audit")
def review_audit(site: Site, day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"])], by: By = None,
                 note: Annotated[str | None, typer.Option("--note")] = None) -> None:
    """Mark a site's local day (ended) as reviewed: its data become audited; earlier audits and
    re-openings of the day are kept and shown."""
    from core.periods import local_minute
    from envmon.cli.acting import actor, now
    from transforms.qc.flag_report import find_site
    from transforms.qc.review import person_names
    from transforms.qc.status import audit_day, day_history
    from warehouse.db import connect

    tz = get_settings().tz
    person = actor(by)
    with connect(purpose="envmon review audit") as con:
        found = find_site(con, site)
        audit_day(con, found.site_id, day.date(), person.person_id, note, at=now())
        history = day_history(con, found.site_id, day.date())
        names = person_names(con)
    say = lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    say(f"{found.site_id} {found.label_zh} {day:%Y-%m-%d}: audited by {person.name}")
    if len(history) > 1:
        say("history of the day:")
        for h in history:
            who = "auto-audit" if h.status_by == "auto" else names.get(h.status_by, h.status_by)
            if h.review_id:  # re-opened by a review: its id, whole, on a line of its own
                say(f"  {local_minute(h.status_at, tz)}  {h.status} by {who}, review")
                say(f"    {h.review_id}")
            else:
                say(f"  {local_minute(h.status_at, tz)}  {h.status} by {who}" + (f": {h.note}" if h.note else ""))


@review_app.command("auto-audit")
def review_auto_audit(
    as_of: Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"])] = None,
) -> None:
    """Audit provisional days past the grace period with no open question."""
    from transforms.qc.status import auto_audit

    report = auto_audit(None, (as_of or datetime.now(get_settings().tz)).date() if as_of is None else as_of.date())
    console.print(f"{len(report.audited)} days audited; {len(report.held)} held with open questions")


def register(app: typer.Typer) -> None:
    app.add_typer(qc_app, name="qc")
    app.add_typer(review_app, name="review")



