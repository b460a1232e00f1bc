"""`envmon calc …`: staff calculators for the environmental standards (CSV in, CSV out).

The calculators (transforms/standards/calculators.py) return their tables in the project's
column names; `_emit` is the one place that writes them: by default as the published files are
written (publish.formats.csv_bytes: UTF-8 with a BOM so Excel shows Chinese, Chinese headers
with English beside from publish/vocabulary.json, CRLF, spreadsheet-safe cells), with
`--plain` as a program reads them (bare column names, UTF-8 without BOM, LF).

The calculators (polars) are imported when a command runs; the help that lists the standards'
parameters reads their table only when it is shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

calc = typer.Typer(
    help="Standards calculators: AQI, water class, noise levels, emissions. CSV in (UTF-8 or "
    "GBK/GB18030, as Chinese Excel saves it), CSV out as the published files (UTF-8 with BOM, "
    "Chinese and English headers) or --plain.",
    no_args_is_help=True,
)

EDITION_HELP = "HJ633-2012 or HJ633-2026; default: the edition in force on each day."
READING_HELP = (
    "HJ 633-2012 real-time AQI: national_practice (PM from the 1-h values, O3 1-h only, as CNEMC "
    "published) or literal (HJ 633-2012 §5: PM 24-h moving means, plus O3 8-h); "
    "default: the setting aqi_realtime_reading (ENVMON_AQI_REALTIME_READING)."
)
OUT_HELP = "output CSV (default: stdout)"
PLAIN_HELP = (
    "for programs: header of bare column names (so2_24h_ugm3), UTF-8 without BOM, LF line ends "
    "(without it: as the published files, UTF-8 with BOM, headers '中文 English', CRLF)"
)
ENCODING_RULE = (
    "Input: a CSV file in UTF-8 (with or without BOM) or, failing that, GB18030/GBK (what "
    "Chinese Excel saves as 'CSV'); blank cells are missing values. Output: every row without "
    "a value or not valid says why in its 'reason' column."
)


def _tz_rule() -> str:
    from core.settings import get_settings

    return (
        "Time: period_start is ISO 8601 (2024-05-01T08:00 or 2024-05-01 08:00:00). Without an "
        "offset it is local time in the settings' zone (setting timezone, ENVMON_TZ; now "
        f"{get_settings().timezone}); with an offset (+08:00, Z) it is taken as given. Local days "
        "and hours shown are in the settings' zone."
    )


def _water_epilog() -> str:
    from transforms.standards.calculators import water_parameters

    listed = "; ".join(
        f"{col} ({name}{', ' + unit if unit != 'dimensionless' else ''}{', ' + note if note else ''})"
        for col, name, unit, note in water_parameters()
    )
    return (
        f"Parameter columns (GB 3838-2002 Table 1, from tables/gb3838_limits.csv): {listed}.\n\n"
        + ENCODING_RULE
    )


def _help(epilog: Callable[[], str]) -> type[TyperCommand]:
    """A command class whose epilog is built when the help is shown (it may read settings or
    the standards' tables, which a plain `envmon` start should not)."""

    class LazyEpilog(TyperCommand):
        @property  # type: ignore[override]
        def epilog(self) -> str:
            return epilog()

        @epilog.setter
        def epilog(self, _: Any) -> None:
            pass

    return LazyEpilog


def _air_epilog() -> str:
    return _tz_rule() + "\n\n" + ENCODING_RULE


def _emit(table: Any, out: Path | None, plain: bool) -> None:
    """Write a calculators.Table: published form (BOM, bilingual headers) or --plain."""
    if plain:
        from transforms.standards.calculators import to_csv

        data = to_csv(table).encode("utf-8")
    else:
        from publish.formats import csv_bytes

        data = csv_bytes(table.columns, table.rows())
    if out is None:
        typer.echo(data, nl=False)
    else:
        out.write_bytes(data)


def _settings_tz() -> str:
    from core.settings import get_settings

    return get_settings().timezone


AIR_COLUMNS = "site, period_start, so2_ugm3, no2_ugm3, pm10_ugm3, pm25_ugm3, co_mgm3, o3_ugm3"


@calc.command("aqi-daily", cls=_help(_air_epilog))
def aqi_daily_cmd(
    infile: Path = typer.Argument(..., help=f"hourly values: {AIR_COLUMNS} (CO in mg/m³)"),
    out: Path | None = typer.Option(None, "-o", "--out", help=OUT_HELP),
    edition: str | None = typer.Option(None, "--edition", help=EDITION_HELP),
    plain: bool = typer.Option(False, "--plain", help=PLAIN_HELP),
) -> None:
    """Daily AQI report (HJ 633) per site and local day."""
    from transforms.standards import calculators

    _emit(calculators.aqi_daily_table(infile, edition, _settings_tz()), out, plain)


@calc.command("aqi-hourly", cls=_help(_air_epilog))
def aqi_hourly_cmd(
    infile: Path = typer.Argument(..., help=f"hourly values: {AIR_COLUMNS} (CO in mg/m³)"),
    out: Path | None = typer.Option(None, "-o", "--out", help=OUT_HELP),
    edition: str | None = typer.Option(None, "--edition", help=EDITION_HELP),
    reading: str | None = typer.Option(None, "--reading", help=READING_HELP),
    plain: bool = typer.Option(False, "--plain", help=PLAIN_HELP),
) -> None:
    """Real-time (hourly) AQI report (HJ 633) per site and hour, period_start in local time."""
    from core.settings import get_settings
    from transforms.standards import calculators

    settings = get_settings()
    chosen = reading if reading is not None else settings.aqi_realtime_reading
    table = calculators.aqi_hourly_table(infile, edition, chosen, settings.timezone)
    _emit(table, out, plain)


@calc.command("water-class", cls=_help(_water_epilog))
def water_class_cmd(
    infile: Path = typer.Argument(
        ...,
        help="section, date (YYYY-MM-DD), waterbody (river|lake) and one or more parameter "
        "columns (listed below)",
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help=OUT_HELP),
    plain: bool = typer.Option(False, "--plain", help=PLAIN_HELP),
) -> None:
    """Surface-water class (GB 3838-2002, single factor) per row."""
    from transforms.standards import calculators

    _emit(calculators.water_class_table(infile), out, plain)


@calc.command("noise", cls=_help(_air_epilog))
def noise_cmd(
    infile: Path = typer.Argument(
        ..., help="site, zone (GB 3096-2008 functional zone), period_start, leq_dba (dB(A))"
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help=OUT_HELP),
    plain: bool = typer.Option(False, "--plain", help=PLAIN_HELP),
) -> None:
    """Day/night equivalent levels and zone compliance (GB 3096-2008) per site and date."""
    from transforms.standards import calculators

    _emit(calculators.noise_table(infile, _settings_tz()), out, plain)


@calc.command(
    "emissions",
    cls=_help(
        lambda: (
            "Time: period_start must carry its offset (2024-01-01T08:00:00+08:00); "
            "hour_start is shown in the offset of the hour's first record.\n\n" + ENCODING_RULE
        )
    ),
)
def emissions_cmd(
    infile: Path = typer.Argument(
        ...,
        help="one row per record: outlet, period_start, interval_s, pollutant, conc_mgm3, o2_pct, "
        "ref_o2_pct, flow_m3h (period_start ISO 8601 with its offset)",
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help=OUT_HELP),
    plain: bool = typer.Option(False, "--plain", help=PLAIN_HELP),
) -> None:
    """Hourly outlet values (HJ 75-2017): mean, O2-corrected mean (capped), load as the sum of
    slice loads, minutes of coverage, validity and reason, per outlet, pollutant and hour."""
    from transforms.standards import calculators

    _emit(calculators.emissions_table(infile), out, plain)


def register(app: typer.Typer) -> None:
    app.add_typer(calc, name="calc")
