"""run_qc on a real DuckDB warehouse: stored flags, config hash, idempotency, the verdict view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from qcdata import AIR, OUTLET, QC_YAML, reading

from core.settings import Settings
from transforms.qc.run import run_qc, run_qc_on
from warehouse.db import connect

DAY = date(2024, 3, 1)
T0 = datetime(2024, 2, 29, 16, tzinfo=UTC)  # local midnight of DAY (Asia/Shanghai)
NOW = datetime(2024, 3, 5, tzinfo=UTC)


def _load(settings: Settings, add_readings, rows) -> None:  # type: ignore[no-untyped-def]
    with connect(settings) as con:
        add_readings(con, rows)


def _flags(settings: Settings) -> list[tuple]:
    with connect(settings, write=False) as con:
        return con.execute("""SELECT site_id, parameter, period_start, check_name, flag, detail, config_hash, evaluated_at
                              FROM qc_flags ORDER BY ALL""").fetchall()


def _verdicts(settings: Settings, site: str, parameter: str) -> list[str]:
    with connect(settings, write=False) as con:
        return [r[0] for r in con.execute(
            "SELECT effective_verdict FROM v_readings_qc WHERE site_id = ? AND parameter = ? ORDER BY period_start",
            [site, parameter]).fetchall()]


def _pm_day(values: list[float | None]) -> list[dict]:
    rows = [reading(AIR, "pm25", T0 + timedelta(hours=i), v) for i, v in enumerate(values)]
    return rows + [reading(AIR, "pm10", T0 + timedelta(hours=i), 200.0) for i in range(len(values))]


def test_flags_stored_beside_readings_and_readings_unchanged(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    _load(warehouse, add_readings, _pm_day([10, 12, 500, 11, 11, 11, 11, None, -5, 30, 250, 20]))
    with connect(warehouse, write=False) as con:
        before = con.execute("SELECT * FROM readings ORDER BY ALL").fetchall()
    report = run_qc(warehouse, DAY, DAY, now=NOW)
    assert report.readings == 24 and report.inserted == report.flags > 0
    assert _verdicts(warehouse, AIR, "pm25") == [
        "pass", "pass", "fail", "suspect", "suspect", "suspect", "suspect", "missing", "fail", "pass", "suspect", "pass"]
    checks = {(r[2].hour, r[3]) for r in _flags(warehouse)}
    assert {(18, "spike"), (19, "flat_line"), (23, "missing"), (0, "gross_range"), (0, "non_positive"),
            (18, "consistency_pm25_pm10"), (2, "consistency_pm25_pm10")} <= checks
    with connect(warehouse, write=False) as con:
        assert con.execute("SELECT * FROM readings ORDER BY ALL").fetchall() == before


def test_rerun_gives_identical_flags_and_adds_no_rows(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    _load(warehouse, add_readings, _pm_day([10, 12, 500, 11, 11, 11, 11, None, -5, 30]))
    run_qc(warehouse, DAY, DAY, now=NOW)
    first = _flags(warehouse)
    again = run_qc(warehouse, DAY, DAY, now=NOW)
    assert (again.inserted, again.deleted) == (0, 0)
    assert _flags(warehouse) == first  # same rows, same evaluated_at: nothing rewritten
    with connect(warehouse, write=False) as con:
        assert con.execute("SELECT count(*) FROM qc_coverage").fetchall() == [(1,)]


def test_config_hash_stored_and_changes_replace_flags(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    _load(warehouse, add_readings, _pm_day([10, 11, 11, 11, 11, 12]))
    first = run_qc(warehouse, DAY, DAY, now=NOW)
    assert {r[6] for r in _flags(warehouse)} == {first.config_hash}
    assert "flat_line" in {r[3] for r in _flags(warehouse)}
    qc_yaml = Path(warehouse.config_dir) / "qc.yaml"
    qc_yaml.write_text(QC_YAML.replace("flat_line: {periods: 4}", "flat_line: {periods: 5}"), encoding="utf-8")
    second = run_qc(warehouse, DAY, DAY, now=NOW)
    assert second.config_hash != first.config_hash
    assert "flat_line" not in {r[3] for r in _flags(warehouse)}  # 4 equal values no longer flagged
    assert {r[6] for r in _flags(warehouse)} <= {second.config_hash}


def test_outlet_flags_units_o2_and_service_period(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    rows = [reading(OUTLET, "so2", T0 + timedelta(hours=i), v, flag=f, value_zs=40.0)
            for i, (v, f) in enumerate([(30.0, "N"), (30.0, "M"), (600.0, "T"), (30.0, "N"), (0.0, "N")])]
    rows += [reading(OUTLET, "o2", T0 + timedelta(hours=i), o2, flag="N") for i, o2 in enumerate([8, 8, 8, 20.5, 8])]
    rows.append(reading(OUTLET, "so2", datetime(2024, 1, 9, tzinfo=UTC), 30.0, flag="N"))  # before commissioning
    rows.append(reading(OUTLET, "so2", datetime(2024, 3, 1, 12, tzinfo=UTC), 30.0, unit="ug/m3", flag="N"))
    _load(warehouse, add_readings, rows)
    run_qc(warehouse, date(2024, 1, 9), DAY, now=datetime(2024, 3, 1, 11, 50, tzinfo=UTC))
    with connect(warehouse, write=False) as con:
        got = {(r[0].astimezone(UTC).strftime("%m-%d %H"), r[1], r[2]) for r in con.execute(
            "SELECT period_start, check_name, flag FROM qc_flags WHERE parameter = 'so2'").fetchall()}
    assert ("02-29 17", "source_flag", 2) in got  # M: maintenance -> fail
    assert ("02-29 18", "source_flag", 1) in got  # T: above measuring range -> suspect
    assert ("02-29 18", "gross_range", 1) in got  # 600 mg/m3 > instrument max 500 mg/m3
    assert ("02-29 19", "o2_correction", 2) in got  # O2 20.5 % > 20 %: no valid O2
    assert ("02-29 20", "non_positive", 2) in got  # zero not allowed for so2 at outlets
    assert ("01-09 00", "timestamp", 2) in got  # commissioned 2024-01-10 (local)
    assert ("03-01 12", "timestamp", 2) in got  # 10 minutes in the future
    assert ("02-29 16", "source_flag", 2) not in got and not any(k[0] == "02-29 16" for k in got)


def test_readings_loaded_after_the_run_are_not_evaluated(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    _load(warehouse, add_readings, _pm_day([10, 11]))
    run_qc(warehouse, DAY, DAY, now=NOW)
    _load(warehouse, add_readings, [reading(AIR, "pm25", T0 + timedelta(hours=5), 12.0)])
    assert _verdicts(warehouse, AIR, "pm25") == ["pass", "pass", "not_evaluated"]


def test_small_chunks_give_the_flags_of_one_chunk(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    # Streaming the sorted readings in pieces never splits a site (its series and the PM2.5 <= PM10
    # consistency check need all of it): 5-row pieces give the flags of a single piece.
    rows = _pm_day([10, 12, 500, 11, 11, 11, 11, None, -5, 30, 250, 20])
    rows += [reading(OUTLET, "so2", T0 + timedelta(hours=i), v) for i, v in enumerate([20, 20, 20, 20, 20, 20, -1, 35])]
    _load(warehouse, add_readings, rows)
    runs = []
    for chunk_rows in (5, 2_000_000):
        with connect(warehouse) as con:
            con.execute("DELETE FROM qc_flags; DELETE FROM qc_coverage")
            report = run_qc_on(con, warehouse, T0, T0 + timedelta(days=1), now=NOW, chunk_rows=chunk_rows)
        runs.append((report.readings, [r[:-1] for r in _flags(warehouse)]))
    assert runs[0] == runs[1]
    assert runs[0][0] == len(rows) and {r[0] for r in runs[0][1]} == {AIR, OUTLET}


def test_names_the_registry_lacks_keep_their_own_text(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    # The sorted read carries registry names as codes; a site, parameter or unit the registry
    # does not know rides beside them as text and must come back as itself, series intact.
    rows = [reading(site, "pm25", T0 + timedelta(hours=i), 10.0 + i, unit="furlong")
            for site in ("zz_unregistered_b", "zz_unregistered_a") for i in range(3)]
    rows += [reading(AIR, "pm25", T0 + timedelta(hours=i), 10.0) for i in range(3)]
    rows += [{**reading(AIR, "pm25", T0, 1.0), "parameter": "xylene", "unit": "furlong"}]
    _load(warehouse, add_readings, rows)
    run_qc(warehouse, DAY, DAY, now=NOW)
    with connect(warehouse, write=False) as con:
        units = con.execute("SELECT unit FROM units WHERE unit = 'furlong'").fetchall()
        unit_flags = con.execute(
            "SELECT site_id, count(*) FROM qc_flags WHERE check_name = 'unit' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        sites = {r[0] for r in con.execute("SELECT site_id FROM qc_flags").fetchall()}
        xylene = con.execute("SELECT count(*) FROM v_readings_qc WHERE parameter = 'xylene' AND qc_verdict <> 'not_evaluated'").fetchall()
    assert units == []  # not a registry unit: no code for it
    assert unit_flags == [("zz_unregistered_a", 3), ("zz_unregistered_b", 3)]  # furlong is no ug/m3
    assert AIR not in sites  # the registered station's readings pass
    assert xylene == [(1,)]  # an unknown parameter is read and judged too
