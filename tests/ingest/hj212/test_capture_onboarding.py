"""The real capture (../shared/data/hj212_capture_2016-08-24, 190,451 records of 290 loggers),
onboarded through the commands a bureau runs, into a fresh home (the test of record, issue 17):

    envmon hj212 ingest FILES      every record refused as an unknown MN (no logger enrolled yet)
    envmon hj212 detect FILES      minute interval and hour label per logger
    envmon hj212 unknown           the loggers not in the registry
    envmon registry enrol --out D --traffic FILE...  their registry stubs (passwords from the
                                   traffic: dead letters keep none) -> copied into config/registry/
    envmon registry load
    envmon deadletters retry       what now passes lands again
    envmon load

Counts measured on the capture (README of the data set and issue 17): 600 s minute steps for
nearly all minute-sending loggers, end-labelled hours for most of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CAPTURE = REPO.parent / "shared" / "data" / "hj212_capture_2016-08-24"

pytestmark = pytest.mark.slow


def envmon(env: dict, *args: str) -> str:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", "from envmon.cli import main; main()", *args],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    print(f"envmon {' '.join(a if '/' not in a else Path(a).name for a in args[:3])}: "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    return res.stdout


def test_capture_enrolled_and_loaded(tmp_path: Path) -> None:
    files = sorted(CAPTURE.glob("*.h212.gz"))
    if len(files) != 21:
        pytest.skip("the capture is not available")
    home, config = tmp_path / "home", tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    env = {**os.environ, "ENVMON_HOME": str(home), "ENVMON_CONFIG_DIR": str(config)}
    for var in ("ENVMON_SETTINGS", "ENVMON_WAREHOUSE", "ENVMON_LANDING", "ENVMON_SITE_DIR"):
        env.pop(var, None)
    names = [str(f) for f in files]

    envmon(env, "init")
    envmon(env, "registry", "load")
    out = envmon(env, "hj212", "ingest", *names)
    # every record accounted for: none of these loggers is registered yet
    assert out.startswith("190451 records from 21 file(s): 0 landed")
    assert "190451 dead-lettered" in out and "unknown_mn: 190365" in out

    out = envmon(env, "hj212", "detect", "--no-per-logger", *names)
    summary = out.strip().splitlines()[-1]
    print(summary)
    n = dict(
        part.split(": ")
        for part in summary.split("minute intervals: ")[1].split(";")[0].split(", ")
    )
    assert int(n["600 s"]) >= 0.9 * sum(int(v) for v in n.values())

    listed = envmon(env, "hj212", "unknown").strip().splitlines()
    rows = [line.split("\t") for line in listed[1:-1]]
    assert len(rows) == 290  # the capture's distinct MNs
    minute = [r for r in rows if r[6] != "-"]
    assert len([r for r in minute if r[6] == "600"]) >= 0.9 * len(minute)
    labels = [r[7] for r in rows]
    assert labels.count("end") >= 200 and labels.count("end") > 4 * labels.count("start")

    traffic = [arg for name in names for arg in ("--traffic", name)]  # the passwords
    envmon(env, "registry", "enrol", "--out", str(tmp_path / "stubs"), *traffic)
    stub = tmp_path / "stubs" / "enterprises.enrolled.yaml"
    enrolled = yaml.safe_load(stub.read_text(encoding="utf-8"))["enterprises"]
    assert len(enrolled) >= 280
    shutil.copy(stub, config / "registry")
    assert "registry loaded" in envmon(env, "registry", "load")

    out = envmon(env, "deadletters", "retry")
    print(out.strip())
    waiting, rest = out.split(" HJ 212 dead letters waiting: ")
    replayed = int(rest.split(" landed again")[0])
    assert int(waiting) == 190451 and replayed >= 190_000
    out = envmon(env, "load")
    print(out.strip())

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        loggers = q("SELECT count(*) FROM outlets WHERE site_id LIKE 'enrolled_%'")[0][0]
        assert loggers >= 280
        # readings' minute interval: 600 s for >= 90 % of the minute-sending loggers
        per_site = dict(q("""SELECT site_id, max(interval_s) FROM readings
                             WHERE interval_s BETWEEN 1 AND 3599 GROUP BY site_id"""))  # fmt: skip
        at_600 = sum(1 for v in per_site.values() if v == 600)
        assert at_600 >= 0.9 * len(per_site), (at_600, len(per_site))
        facts = dict(q("""SELECT minute_interval_s || ' ' || hour_label, count(*) FROM outlets
                          WHERE site_id LIKE 'enrolled_%' GROUP BY 1"""))  # fmt: skip
        print("enrolled logger facts:", facts)
        # end-labelled hours start one hour before the DataTime sent (kept in extra)
        shifted = q("""SELECT count(*) FROM readings r JOIN outlets o USING (site_id)
                       WHERE r.interval_s = 3600 AND o.hour_label = 'end'
                         AND json_extract_string(r.extra, '$.DataTime') IS NOT NULL""")[0][0]
        assert shifted > 20_000
        events = dict(q("SELECT kind, count(*) FROM logger_events GROUP BY kind"))
        print("logger events:", events)
        assert events["alarm"] == 1018  # the capture's CN 2072 packets, one pollutant each
        assert events["run_status"] > 150_000  # CN 2021: SB1..SB8 of 21,586 packets, deduplicated
        dead = dict(q("SELECT status, count(*) FROM dead_letters GROUP BY status"))
        assert dead["replayed"] == replayed and dead["waiting"] < 500
    finally:
        con.close()
