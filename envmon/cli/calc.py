"""`envmon calc …`: staff calculators for the environmental standards (CSV in, CSV out).

The calculators (polars) are imported when a command runs."""

from __future__ import annotations

from pathlib import Path

import typer

calc = typer.Typer(
    help="Standards calculators: AQI, water class, noise levels, emissions (CSV in, CSV out, UTF-8).",
    no_args_is_help=True,
)

EDITION_HELP = "HJ633-2012 or HJ633-2026; default: the edition in force on each day."
READING_HELP = (
    "HJ 633-2012 real-time AQI: national_practice (PM from the 1-h values, O3 1-h only, as CNEMC "
    "published) or literal (HJ 633-2012 §5: PM 24-h moving means, plus O3 8-h); "
    "default: the setting aqi_realtime_reading (ENVMON_AQI_REALTIME_READING)."
)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@calc.command("aqi-daily")
def aqi_daily_cmd(
    infile: Path = typer.Argument(
        ...,
        help="hourly values: site,period_start,so2_ugm3,no2_ugm3,pm10_ugm3,pm25_ugm3,co_mgm3,o3_ugm3",
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help="output CSV (default: stdout)"),
    edition: str | None = typer.Option(None, "--edition", help=EDITION_HELP),
) -> None:
    """Daily AQI report (HJ 633) per site and local day."""
    from transforms.standards import calculators

    _emit(calculators.aqi_daily_csv(infile, edition), out)


@calc.command("aqi-hourly")
def aqi_hourly_cmd(
    infile: Path = typer.Argument(..., help="hourly values, same columns as aqi-daily"),
    out: Path | None = typer.Option(None, "-o", "--out", help="output CSV (default: stdout)"),
    edition: str | None = typer.Option(None, "--edition", help=EDITION_HELP),
    reading: str | None = typer.Option(None, "--reading", help=READING_HELP),
) -> None:
    """Real-time (hourly) AQI report (HJ 633) per site and hour."""
    from core.settings import get_settings
    from transforms.standards import calculators

    chosen = reading if reading is not None else get_settings().aqi_realtime_reading
    _emit(calculators.aqi_hourly_csv(infile, edition, chosen), out)


@calc.command("water-class")
def water_class_cmd(
    infile: Path = typer.Argument(
        ...,
        help="section,date,waterbody (river|lake) and <parameter>_mgl columns (ph without unit)",
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help="output CSV (default: stdout)"),
) -> None:
    """Surface-water class (GB 3838-2002, single factor) per row."""
    from transforms.standards import calculators

    _emit(calculators.water_class_csv(infile), out)


@calc.command("noise")
def noise_cmd(
    infile: Path = typer.Argument(..., help="site,zone,period_start,leq_dba"),
    out: Path | None = typer.Option(None, "-o", "--out", help="output CSV (default: stdout)"),
) -> None:
    """Day/night equivalent levels and zone compliance (GB 3096-2008) per site and date."""
    from transforms.standards import calculators

    _emit(calculators.noise_csv(infile), out)


@calc.command("emissions")
def emissions_cmd(
    infile: Path = typer.Argument(
        ...,
        help="one row per record: outlet,period_start,interval_s,pollutant,conc_mgm3,o2_pct,"
        "ref_o2_pct,flow_m3h (period_start ISO 8601 with its offset)",
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help="output CSV (default: stdout)"),
) -> None:
    """Hourly outlet values (HJ 75-2017): mean, O2-corrected mean (capped), load as the sum of
    slice loads, minutes of coverage, validity and reason, per outlet, pollutant and hour."""
    from transforms.standards import calculators

    _emit(calculators.emissions_csv(infile), out)


def register(app: typer.Typer) -> None:
    app.add_typer(calc, name="calc")
