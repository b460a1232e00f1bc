"""`envmon deadletters retry`: land again the dead letters that now pass (e.g. after enrolment)."""

from __future__ import annotations

import typer

deadletters_app = typer.Typer(
    help="Dead letters: input that could not be used.", no_args_is_help=True
)


@deadletters_app.command("retry")
def retry() -> None:
    """Run every waiting HJ 212 dead letter through the server's checks again; land those that
    now pass (marked 'replayed'), keep the others waiting. Loads pending landing batches first."""
    from core.installation_key import installation_key
    from core.landing import LandingZone
    from core.registry.config import load_registry
    from core.settings import get_settings
    from ingest.hj212.deadletter_retry import retry_dead_letters
    from warehouse.db import connect
    from warehouse.jobs import load_landing_job

    settings = get_settings()
    registry = load_registry(settings.config_dir)
    load_landing_job(settings)  # every dead letter landed so far is in the warehouse
    with connect(settings, purpose="envmon deadletters retry") as con:
        rep = retry_dead_letters(
            con, registry, LandingZone(settings.landing_root), settings.home / "hj212", settings.tz,
            password_key=installation_key(settings.home),
        )  # fmt: skip
    land = rep.landed
    typer.echo(
        f"{rep.waiting} HJ 212 dead letters waiting: {rep.replayed} landed again "
        f"({land.landed} with readings: {land.readings} readings; {land.event_packets} logger-event "
        f"packets: {land.events} events; {land.logged} to the event log), {rep.still_dead} kept; "
        f"{len(rep.batches)} batches (run `envmon load`)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(deadletters_app, name="deadletters")
