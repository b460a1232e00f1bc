"""The real capture end to end, as a bureau onboards a vendor's recorded traffic (issue #17).

    python bench/capture_e2e.py [--home DIR] [--capture DIR] [--date 2016-08-24]

Into a fresh ENVMON_HOME with its own copy of config/, through the command line only:

  init → registry load → hj212 ingest (every capture file) → hj212 unknown → registry enrol
  (the stubs copied into the copy of config/registry/) → registry load → deadletters retry →
  load → qc run → aggregate hourly (the local day) → export hourly

printing the wall time of each step, then the acceptance figures of issue #17, read from the
warehouse:

- of the (logger, pollutant, hour) for which the logger sent a complete hour of minute data
  (distinct CN 2051 periods x the logger's minute interval >= 3600 s), the share with a valid
  official hourly value (target >= 99 %), and where the logger sent its own hourly value (CN 2061)
  the share whose official value equals it;
- the minute-vs-hour agreement: where the logger's own hourly value and envmon's value derived
  from its minute data both exist, the share within 1 % (the issue's measure) and within the
  consistency rule's 10 %;
- the hour labels and minute intervals found (the enrolled loggers' detected habits).

Prints figures only; nothing is asserted here (tests/ingest/hj212/test_capture_e2e.py asserts them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
CAPTURE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hj212_capture_2016-08-24"
DAY = date(2016, 8, 24)


@dataclass
class Step:
    name: str
    argv: list[str]
    seconds: float = 0.0
    returncode: int = 0
    tail: str = ""


@dataclass
class Result:
    home: Path
    steps: list[Step] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)
    failed: Step | None = None


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["ENVMON_HOME"] = str(home)
    env["ENVMON_CONFIG_DIR"] = str(home / "config")
    env.pop("ENVMON_SETTINGS", None)
    return env


def run_step(result: Result, name: str, *args: str, echo: bool = True) -> Step:
    step = Step(name, ["envmon", *args])
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "envmon", *args], env=_env(result.home), cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    step.seconds = time.monotonic() - began
    step.returncode = proc.returncode
    out = (proc.stdout + ("\n" + proc.stderr if proc.returncode else "")).strip().splitlines()
    step.tail = "\n".join(out[-6:])
    result.steps.append(step)
    if echo:
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        shown = [a if "/" not in a else Path(a).name for a in step.argv]
        if len(shown) > 8:
            shown = [*shown[:5], f"… ({len(shown) - 6} more)", shown[-1]]
        print(f"  {step.seconds:7.1f} s  {name:<22} {' '.join(shown)}  {status}", flush=True)
        for line in out[-4:]:
            print(f"             | {line[:150]}", flush=True)
    if proc.returncode != 0 and result.failed is None:
        result.failed = step
    return step


def run(home: Path, capture: Path = CAPTURE, day: date = DAY, echo: bool = True) -> Result:
    """The whole onboarding of the capture into `home` (must not exist or be empty)."""
    home.mkdir(parents=True, exist_ok=True)
    if any(home.iterdir()):
        raise SystemExit(f"{home}: not empty; the end-to-end check needs a fresh home")
    shutil.copytree(REPO / "config", home / "config")
    result = Result(home)
    files = sorted(str(p) for p in capture.glob("*.h212*"))
    if not files:
        raise SystemExit(f"{capture}: no *.h212[.gz] capture files")
    tz = ZoneInfo("Asia/Shanghai")
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    steps: list[tuple[str, list[str]]] = [
        ("init", ["init"]),
        ("registry load", ["registry", "load"]),
        ("hj212 ingest", ["hj212", "ingest", *files]),
        ("hj212 unknown", ["hj212", "unknown"]),
        # dead letters keep no password (masked): the stubs' passwords come from the traffic
        ("registry enrol", ["registry", "enrol", "--out", str(home / "enrolled"),
                            *[a for f in files for a in ("--traffic", f)]]),
        ("copy stubs", []),
        ("registry load", ["registry", "load"]),
        ("deadletters retry", ["deadletters", "retry"]),
        ("load", ["load"]),
        ("qc run", ["qc", "run", "--from", f"{day - timedelta(days=1)}", "--to", f"{day + timedelta(days=1)}"]),
        ("aggregate hourly", ["aggregate", "hourly", "--start", start.isoformat(), "--end", end.isoformat()]),
        ("export hourly", ["export", "hourly", "--date", day.isoformat(), "--out", str(home / f"hourly_{day}.csv")]),
    ]  # fmt: skip
    for name, argv in steps:
        if name == "copy stubs":
            began = time.monotonic()
            stubs = sorted((home / "enrolled").glob("enterprises.*.yaml"))
            for stub in stubs:
                shutil.copy(stub, home / "config" / "registry" / stub.name)
            step = Step(name, ["cp", *[s.name for s in stubs], "config/registry/"])
            step.seconds = time.monotonic() - began
            if not stubs:
                step.returncode, step.tail = 1, "registry enrol wrote no enterprises.*.yaml"
                result.failed = result.failed or step
            result.steps.append(step)
            if echo:
                print(f"  {step.seconds:7.1f} s  {name:<22} {' '.join(step.argv)}", flush=True)
            continue
        if run_step(result, name, *argv, echo=echo).returncode != 0:
            break
    if result.failed is None:
        result.figures = figures(home, start, end)
    return result


def figures(home: Path, start: datetime, end: datetime) -> dict[str, object]:
    """The acceptance figures, from the warehouse (read-only)."""
    os.environ.update({k: v for k, v in _env(home).items() if k.startswith("ENVMON_")})
    from core.settings import get_settings, reset_settings_cache
    from warehouse.db import connect

    reset_settings_cache()
    settings = get_settings()
    with connect(settings, write=False, purpose="capture end-to-end figures") as con:
        params = {"first": start, "end": end}

        def one(sql: str) -> tuple:
            return con.execute(sql, params if "$" in sql else None).fetchone()

        # complete hours of minute data per (logger, pollutant, UTC hour); period_start is the start
        # of each minute period (end-labelled packets shifted back at parse time)
        con.execute(
            f"""CREATE TEMP TABLE complete_hours AS
               SELECT r.site_id, r.parameter, date_trunc('hour', r.period_start) AS hour,
                      count(DISTINCT r.period_start) AS records,
                      count(DISTINCT r.period_start) FILTER (WHERE r.valid) AS passed,
                      o.minute_interval_s
               FROM v_readings_qc r JOIN outlets o USING (site_id)
               WHERE r.source_kind = 'hj212' AND r.interval_s = o.minute_interval_s
                 AND r.interval_s < 3600 AND r.value IS NOT NULL
                 AND r.period_start >= TIMESTAMPTZ '{start.isoformat()}'
                 AND r.period_start < TIMESTAMPTZ '{end.isoformat()}'
               GROUP BY ALL
               HAVING count(DISTINCT r.period_start) * o.minute_interval_s >= 3600"""
        )
        con.execute(
            """CREATE TEMP TABLE judged AS
               SELECT c.*, h.valid AND h.official_value IS NOT NULL AS ok, h.official_value,
                      h.logger_value, h.operating, h.invalid_reason, h.site_id IS NOT NULL AS has_row,
                      c.passed * c.minute_interval_s >= 45 * 60 AS qc_enough
               FROM complete_hours c LEFT JOIN outlet_hours h
                 ON h.site_id = c.site_id AND h.parameter = c.parameter AND h.period_start = c.hour"""
        )
        total, valid, with_logger, logger_ok, equal_logger, loggers, pollutants = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE ok),
                      count(*) FILTER (WHERE logger_value IS NOT NULL),
                      count(*) FILTER (WHERE logger_value IS NOT NULL AND ok),
                      count(*) FILTER (WHERE logger_value IS NOT NULL AND ok
                                       AND abs(official_value - logger_value)
                                           <= 1e-9 * greatest(1, abs(logger_value))),
                      count(DISTINCT site_id), count(DISTINCT parameter)
               FROM judged"""
        ).fetchone()
        # the measure is per (logger, POLLUTANT, hour): the parameters measured as a mass
        # concentration (gas or liquid) and pH; the flue-gas conditions (O2, flow, temperature,
        # pressure, humidity, velocity) are reported in the figures above but are not pollutants
        pollutant_total, pollutant_valid = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE ok)
               FROM judged j JOIN parameters p USING (parameter) JOIN units u ON u.unit = p.unit
               WHERE u.quantity LIKE 'mass_concentration%' OR u.quantity = 'ph'"""
        ).fetchone()
        # the complete hours that are not valid, by cause: the facility not operating (HJ 75: no
        # value is judged), QC failing the minute data (fewer than 45 minutes passed), other
        causes = dict(con.execute(
            """SELECT CASE WHEN NOT has_row THEN 'no outlet_hours row'
                           WHEN NOT operating THEN 'not operating (shut-down hour)'
                           WHEN NOT qc_enough THEN 'QC failed the minute data (< 45 min passed)'
                           ELSE 'other' END, count(*)
               FROM judged WHERE NOT coalesce(ok, false) GROUP BY 1""").fetchall())  # fmt: skip
        base, base_valid = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE ok) FROM judged
               WHERE has_row AND operating AND qc_enough"""
        ).fetchone()
        invalid_reasons = con.execute(
            """SELECT coalesce(invalid_reason, 'no outlet_hours row') AS reason, count(*)
               FROM judged WHERE NOT coalesce(ok, false) AND has_row AND operating AND qc_enough
               GROUP BY 1 ORDER BY 2 DESC LIMIT 8"""
        ).fetchall()
        pairs, within_1, within_10 = one(
            """SELECT count(*),
                      count(*) FILTER (WHERE abs(logger_value - derived_value)
                                             <= 0.01 * greatest(abs(derived_value), 1e-9)),
                      count(*) FILTER (WHERE abs(logger_value - derived_value)
                                             <= 0.10 * greatest(abs(derived_value), 1e-9))
               FROM outlet_hours WHERE logger_value IS NOT NULL AND derived_value IS NOT NULL
                 AND period_start >= $first AND period_start < $end"""
        )
        habits = con.execute(
            """SELECT minute_interval_s, hour_label, count(*) FROM outlets
               WHERE site_id IN (SELECT DISTINCT site_id FROM readings WHERE source_kind = 'hj212')
               GROUP BY ALL ORDER BY 3 DESC"""
        ).fetchall()
        obtained = dict(con.execute(
            """SELECT coalesce(obtained, 'none'), count(*) FROM outlet_hours
               WHERE period_start >= $first AND period_start < $end GROUP BY 1""", params).fetchall())  # fmt: skip
        not_operating = one(
            """SELECT count(DISTINCT (site_id, period_start)) FROM outlet_hours
               WHERE NOT operating AND period_start >= $first AND period_start < $end"""
        )[0]
        readings, dead = one(
            """SELECT (SELECT count(*) FROM readings WHERE source_kind = 'hj212'),
                      (SELECT count(*) FROM dead_letters WHERE source_kind = 'hj212')"""
        )
        events = (
            dict(con.execute("SELECT kind, count(*) FROM logger_events GROUP BY 1").fetchall())
            if con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'logger_events'"
            ).fetchone()[0]
            else {}
        )
    return {
        "pollutant_complete_hours": pollutant_total,
        "pollutant_complete_hours_valid": pollutant_valid,
        "complete_hours": total,
        "complete_hours_valid": valid,
        "valid_share": valid / total if total else None,
        "complete_hours_with_logger_value": with_logger,
        "valid_with_logger_value": logger_ok,
        "official_equals_logger": equal_logger,
        "equal_share": equal_logger / with_logger if with_logger else None,
        "loggers": loggers,
        "pollutants": pollutants,
        "invalid_reasons": invalid_reasons,
        "invalid_causes": causes,
        "operating_qc_passed_hours": base,
        "operating_qc_passed_valid": base_valid,
        "agreement_pairs": pairs,
        "agree_within_1pct": within_1,
        "agree_within_10pct": within_10,
        "habits": habits,
        "obtained": obtained,
        "not_operating_hours": not_operating,
        "readings": readings,
        "dead_letters": dead,
        "logger_events": events,
    }


def _pct(n: int, d: int) -> str:
    return f"{n:,} of {d:,} ({100.0 * n / d:.2f} %)" if d else f"{n} of 0"


def report(result: Result) -> None:
    total = sum(s.seconds for s in result.steps)
    print(f"steps: {len(result.steps)}, {total:.1f} s in all")
    if result.failed is not None:
        print(
            f"STOPPED at {result.failed.name}: {' '.join(result.failed.argv)}\n{result.failed.tail}"
        )
        return
    f = result.figures
    print(f"warehouse: {f['readings']:,} HJ 212 readings, {f['dead_letters']:,} dead letters recorded "
          "(the unknown-MN ones included, landed again by the retry), "
          f"logger events {f['logger_events']}")  # fmt: skip
    print("complete hours of minute data, (logger, pollutant, hour) with pollutants = mass "
          f"concentrations and pH: {f['pollutant_complete_hours']:,}")  # fmt: skip
    print("  with a valid official hourly value: "
          f"{_pct(f['pollutant_complete_hours_valid'], f['pollutant_complete_hours'])}  [target >= 99 %]")  # fmt: skip
    print(f"complete hours of every parameter (flue-gas conditions too): {f['complete_hours']:,} "
          f"(logger, parameter, hour) of {f['loggers']} loggers, {f['pollutants']} parameters")  # fmt: skip
    print(f"  with a valid official hourly value: {_pct(f['complete_hours_valid'], f['complete_hours'])}")
    print(f"  logger sent its own hourly value: {f['complete_hours_with_logger_value']:,}; of those valid, "
          f"official = logger's: {_pct(f['official_equals_logger'], f['valid_with_logger_value'])}")  # fmt: skip
    for cause, n in sorted(f["invalid_causes"].items(), key=lambda x: -x[1]):
        print(f"  not valid: {n:,}  {cause}")
    print(f"  of those operating with >= 45 minutes passing QC: "
          f"{_pct(f['operating_qc_passed_valid'], f['operating_qc_passed_hours'])} valid")  # fmt: skip
    for reason, n in f["invalid_reasons"]:
        print(f"    still not valid: {n:,}  {reason}")
    print(f"minute-vs-hour agreement (logger's 2061 Avg vs envmon's value from its minute data): "
          f"{f['agreement_pairs']:,} pairs; within 1 %: {_pct(f['agree_within_1pct'], f['agreement_pairs'])}; "
          f"within 10 %: {_pct(f['agree_within_10pct'], f['agreement_pairs'])}")  # fmt: skip
    print("habits of the loggers that sent data (minute interval, hour label, loggers): "
          + ", ".join(f"{iv} s/{label}: {n}" for iv, label, n in f["habits"]))  # fmt: skip
    print(
        f"outlet hours by how obtained: {f['obtained']}; not-operating outlet hours: {f['not_operating_hours']:,}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--home", type=Path, help="fresh state folder (default: a new temporary folder)"
    )
    ap.add_argument("--capture", type=Path, default=CAPTURE)
    ap.add_argument("--date", type=date.fromisoformat, default=DAY, help="local day of the capture")
    ap.add_argument(
        "--figures-only", action="store_true", help="only the figures of an onboarded --home"
    )
    args = ap.parse_args()
    if args.figures_only:
        start = datetime(
            args.date.year, args.date.month, args.date.day, tzinfo=ZoneInfo("Asia/Shanghai")
        )
        result = Result(args.home, figures=figures(args.home, start, start + timedelta(days=1)))
        report(result)
        return
    home = args.home or Path(tempfile.mkdtemp(prefix="envmon-capture-e2e-"))
    print(f"capture {args.capture} → fresh home {home}")
    result = run(home, args.capture, args.date)
    report(result)
    sys.exit(1 if result.failed else 0)


if __name__ == "__main__":
    main()
