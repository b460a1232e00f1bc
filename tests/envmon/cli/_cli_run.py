"""Running `envmon` in-process for the CLI tests: typer's CliRunner for output and exit codes,
and `envmon.cli.main` itself for what a person sees on an error (exit 2, `envmon: error: ...`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from envmon.cli import app, main

REPO = Path(__file__).resolve().parents[3]
WIDE = 250  # rich tables and lines this wide are never wrapped


def envmon(*args: str) -> str:
    """The output of a command that must succeed."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def main_exit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `envmon ARGS` through the console entry point."""
    monkeypatch.setattr(sys, "argv", ["envmon", *args])
    capsys.readouterr()
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:
        code = 0
    out, err = capsys.readouterr()
    return code, out, err


def long_csv(path: Path, rows: list[tuple[str, str, str, float, str]]) -> Path:
    """A generic long CSV (config/formats/generic_long_csv.yaml): site, parameter, time, value, unit."""
    lines = ["site_id,parameter,period_start,value,unit,flag"]
    lines += [f"{s},{p},{t},{v},{u},N" for s, p, t, v, u in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# the AQI worked example, every hour of a day (µg/m³; CO mg/m³): daily AQI 107, PM2.5 (HJ 633-2012)
WORKED = {"so2": 12.0, "no2": 46.0, "pm10": 98.0, "pm25": 80.0, "co": 1.1, "o3": 100.0}


def load_worked_day(folder: Path, site: str = "dongsi", day: str = "2024-03-01") -> None:
    """Ingest, load and QC-check one local day of WORKED at `site` (the warehouse must exist)."""
    rows = [(site, p, f"{day}T{h:02d}:00+08:00", v, "mg/m3" if p == "co" else "ug/m3")
            for h in range(24) for p, v in WORKED.items()]
    envmon("ingest", "files", str(long_csv(folder / f"{site}-{day}.csv", rows)))
    assert "144 readings inserted" in envmon("load")
    assert "144 readings" in envmon("qc", "run", "--from", day, "--to", day)


# HJ 212 traffic: the first demo stack (config/registry/enterprises.yaml) and a logger the
# registry does not know (a waste-water logger sending COD, w01018, every 5 minutes)
KNOWN_MN, KNOWN_PW = "G11010001883490606930", "956850"
NEW_MN, NEW_PW = "LD130199000001", "123456"


def hj212_traffic(path: Path) -> Path:
    """An hour of NEW_MN (12 five-minute COD values 0..11 from 08:00 local, the hourly value 5.5 =
    their mean: labelled by the start), one minute value of KNOWN_MN, and NEW_MN's 09:00 hourly
    value with a bad CRC; CRLF-separated as recorded."""
    from datetime import datetime, timedelta

    from ingest.hj212.protocol import DEFAULT_TZ, format_time, frame

    def record(mn: str, pw: str, st: str, cn: str, at: datetime, cp: str) -> bytes:
        return frame(f"ST={st};CN={cn};PW={pw};MN={mn};CP=&&DataTime={format_time(at)};{cp}&&".encode())

    t0 = datetime(2024, 5, 1, 8, 0, tzinfo=DEFAULT_TZ)
    records = [record(NEW_MN, NEW_PW, "32", "2051", t0 + timedelta(minutes=5 * k), f"w01018-Avg={k}")
               for k in range(12)]
    records.append(record(NEW_MN, NEW_PW, "32", "2061", t0, "w01018-Avg=5.5"))
    records.append(record(KNOWN_MN, KNOWN_PW, "31", "2051", t0, "a21026-Avg=20.5,a21026-Flag=N"))
    bad = record(NEW_MN, NEW_PW, "32", "2061", t0 + timedelta(hours=1), "w01018-Avg=1")
    records.append(bad[:-6] + b"0000\r\n")
    path.write_bytes(b"".join(records))
    return path
