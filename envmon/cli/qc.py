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

console = Console()
qc_app = typer.Typer(help="Data validation and QC of readings.", no_args_is_help=True)
review_app = typer.Typer(help="Staff review of readings: flag, unflag, revert, audit days.", no_args_is_help=True)

FromDate = Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first local date")]
ToDate = Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last local date (included)")]
By = Annotated[str, typer.Option("--by", help="who reviews (staff id)")]
Reason = Annotated[str, typer.Option("--reason", help="why")]


@qc_app.command("run")
def qc_run(start: FromDate, end: ToDate) -> None:
    """Run every QC check over the readings of local dates FROM..TO (idempotent)."""
    from transforms.qc.run import run_qc

    r = run_qc(None, start.date(), end.date())
    console.print(f"QC {r.range_start:%Y-%m-%d %H:%M}..{r.range_end:%Y-%m-%d %H:%M} UTC: {r.readings} readings, "
                  f"{r.flags} flags ({r.inserted} new, {r.deleted} removed), config {r.config_hash[:12]}")


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


def _review(action: str, site: str, parameter: str | None, start: datetime, end: datetime, reason: str, by: str) -> None:
    from transforms.qc.review import record_review
    from warehouse.db import connect

    tz = get_settings().tz
    start, end = (d if d.tzinfo else d.replace(tzinfo=tz) for d in (start, end))
    with connect(purpose=f"envmon review {action}") as con:
        event = record_review(con, action, site, parameter, start, end, reason, by)
    console.print(f"{event.review_id}: {action} {site} {parameter or '(all parameters)'} "
                  f"[{event.period_from:%Y-%m-%d %H:%M}, {event.period_to:%Y-%m-%d %H:%M}) UTC by {by}")


Site = Annotated[str, typer.Option("--site")]
Param = Annotated[str | None, typer.Option("--parameter", help="default: every parameter of the site")]
From = Annotated[datetime, typer.Option("--from", help="range start (local time unless an offset is given)")]
To = Annotated[datetime, typer.Option("--to", help="range end, excluded")]


@review_app.command("flag")
def review_flag(site: Site, start: From, end: To, reason: Reason, by: By, parameter: Param = None) -> None:
    """Mark readings invalid (fail) regardless of QC."""
    _review("flag", site, parameter, start, end, reason, by)


@review_app.command("unflag")
def review_unflag(site: Site, start: From, end: To, reason: Reason, by: By, parameter: Param = None) -> None:
    """Mark readings valid (pass) regardless of QC."""
    _review("unflag", site, parameter, start, end, reason, by)


@review_app.command("revert")
def review_revert(review_id: Annotated[str, typer.Option("--review-id")], by: By,
                  reason: Annotated[str, typer.Option("--reason")] = "reverted") -> None:
    """Cancel a flag or unflag event (the revert is recorded too)."""
    from transforms.qc.review import revert_review
    from warehouse.db import connect

    with connect(purpose="envmon review revert") as con:
        event = revert_review(con, review_id, reason, by)
    console.print(f"{event.review_id}: reverted {review_id}")


@review_app.command("list")
def review_list(site: Annotated[str | None, typer.Option("--site")] = None) -> None:
    """Every review event, oldest first, with whether it is still in force."""
    from transforms.qc.review import list_reviews
    from warehouse.db import connect

    with connect(write=False, purpose="envmon review list") as con:
        events = list_reviews(con, site)
    table = Table(title="review events")
    for col in ("id", "action", "site", "parameter", "from (UTC)", "to (UTC)", "by", "at (UTC)", "reason", "in force"):
        table.add_column(col)
    for e, in_force in events:
        table.add_row(e.review_id, e.action + (f" {e.reverts_review_id}" if e.reverts_review_id else ""), e.site_id,
                      e.parameter or "*", f"{e.period_from:%Y-%m-%d %H:%M}", f"{e.period_to:%Y-%m-%d %H:%M}",
                      e.reviewed_by, f"{e.reviewed_at:%Y-%m-%d %H:%M}", e.reason, "yes" if in_force else "no")
    console.print(table)


@review_app.command("audit")
def review_audit(site: Site, day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"])], by: By,
                 note: Annotated[str | None, typer.Option("--note")] = None) -> None:
    """Mark a site's local day as reviewed: its data become audited."""
    from transforms.qc.status import audit_day
    from warehouse.db import connect

    with connect(purpose="envmon review audit") as con:
        audit_day(con, site, day.date(), by, note)
    console.print(f"{site} {day:%Y-%m-%d}: audited by {by}")


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



