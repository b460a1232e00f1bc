"""`envmon calc emissions`: hourly outlet values from sub-hour records — exact CSV format,
hand-worked values with their clauses, errors naming the file, line and column."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import EnvmonError
from transforms.standards.calculators import EMISSIONS_OUTPUT, emissions_csv

HEADER = "outlet,period_start,interval_s,pollutant,conc_mgm3,o2_pct,ref_o2_pct,flow_m3h\n"


def _file(tmp_path: Path, lines: list[str], name: str = "in.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return p


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _records(start_hour: str, offset: str, interval_s: int, values: list[tuple], pollutant="so2"):  # type: ignore[no-untyped-def]
    out = []
    for i, (conc, o2, flow) in enumerate(values):
        minute = i * interval_s // 60
        out.append(
            f"DA001,{start_hour}:{minute:02d}:00{offset},{interval_s},{pollutant},{conc},{o2},6,{flow}"
        )
    return out


def test_issue_example_slice_loads_and_format(tmp_path):
    # HJ 212-2017 Appendix D: 30 min at 100 mg/m3 & 100 000 m3/h, then 30 min at 10 mg/m3 &
    # 300 000 m3/h = 5.0 + 1.5 = 6.5 kg (hour means 55 × 200 000 would say 11.0 kg).
    # O2 9 %, reference 6 %: 55 × (21 − 6) / (21 − 9) = 68.75 mg/m3
    values = [(100, 9, 100000)] * 3 + [(10, 9, 300000)] * 3
    text = emissions_csv(_file(tmp_path, _records("2024-01-01T08", "+08:00", 600, values)))
    assert text.splitlines()[0] == ",".join(EMISSIONS_OUTPUT)
    assert _rows(text) == [
        {"outlet": "DA001", "pollutant": "so2", "hour_start": "2024-01-01T08:00:00+08:00",
         "conc_mgm3": "55", "conc_corrected_mgm3": "68.75", "load_kg": "6.5",
         "valid_minutes": "60", "valid": "true", "reason": ""},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("interval_s", "n", "minutes", "valid"),
    [(60, 44, 44, "false"), (60, 45, 45, "true"), (300, 8, 40, "false"), (300, 9, 45, "true"),
     (600, 4, 40, "false"), (600, 5, 50, "true")],
)  # fmt: skip
def test_coverage_in_minutes(tmp_path, interval_s, n, minutes, valid):
    # HJ 75-2017 / GB 3095 Table 4: 45 minutes of valid data, records × interval / 60
    lines = _records("2024-01-01T08", "+08:00", interval_s, [(20, 9, 100000)] * n)
    row = _rows(emissions_csv(_file(tmp_path, lines)))[0]
    assert (row["valid_minutes"], row["valid"]) == (str(minutes), valid)
    if valid == "false":
        assert row["reason"] == f"{minutes} valid minutes < 45 required" and row["conc_mgm3"] == ""
    else:  # the load of the slices present, never scaled up: 20 × 1e5 × 1e-6 × minutes / 60
        assert float(row["load_kg"]) == pytest.approx(2.0 * minutes / 60, abs=1e-3)


def test_o2_cap_and_zero_flow_hours_are_not_operating(tmp_path):
    # HJ 75-2017 shut-down periods: O2 at the cap (20 %) is still corrected, 20.1 % is not
    # (10 mg/m3 at 20.9 % would become 1 500 mg/m3); zero flow is a stopped facility
    lines = (
        _records("2024-01-01T08", "+08:00", 600, [(10, 20, 100000)] * 6)
        + _records("2024-01-01T09", "+08:00", 600, [(10, 20.1, 100000)] * 6)
        + _records("2024-01-01T10", "+08:00", 600, [(10, 9, 0)] * 6)
    )
    rows = _rows(emissions_csv(_file(tmp_path, lines)))
    assert [(r["conc_corrected_mgm3"], r["valid"], r["reason"]) for r in rows] == [
        ("150", "true", ""),  # 10 × 15 / 1
        ("", "false", "not operating: O2 20.1 % > cap 20 %"),
        ("", "false", "not operating: zero flow"),
    ]


def test_hour_start_in_the_offset_given(tmp_path):
    # the same instants given in UTC come out in UTC; hours are cut in the offset given
    values = [(100, 9, 100000)] * 3 + [(10, 9, 300000)] * 3
    row = _rows(emissions_csv(_file(tmp_path, _records("2024-01-01T00", "+00:00", 600, values))))[0]
    assert row["hour_start"] == "2024-01-01T00:00:00+00:00" and row["load_kg"] == "6.5"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (
            "DA001,2024-01-01T08:00:00,600,so2,1,9,6,1",
            "line 2: column period_start: .* no UTC offset",
        ),
        ("DA001,2024-01-01T08:00:00+08:00,0,so2,1,9,6,1", "line 2: column interval_s: '0'"),
        (
            "DA001,2024-01-01T08:00:00+08:00,600,so2,x,9,6,1",
            "line 2: column conc_mgm3: 'x' is not a number",
        ),
        (
            "DA001,2024-01-01T08:00:00+08:00,600,so2,1,9,6,-5",
            "line 2: column flow_m3h: -5 is negative",
        ),
        ("DA001,2024-01-01T08:00:00+08:00,600,so2,1,120,6,1", "line 2: column o2_pct: 120"),
        (
            "DA001,2024-01-01T08:55:00+08:00,600,so2,1,9,6,1",
            "line 2: column interval_s: .* runs past",
        ),
        (",2024-01-01T08:00:00+08:00,600,so2,1,9,6,1", "line 2: column outlet: empty value"),
    ],
)
def test_bad_rows_name_line_and_column(tmp_path, line, match):
    with pytest.raises(EnvmonError, match=match):
        emissions_csv(_file(tmp_path, [line]))


def test_overlapping_records_are_refused_both_sides(tmp_path):
    # review T11: a 10-minute record from 08:00 and one from 08:05 (the same outlet and
    # pollutant) would count 08:05-08:10 twice; one from 08:10 (touching) is fine, and so is an
    # overlap with another pollutant
    overlap = _file(
        tmp_path,
        ["DA001,2024-01-01T08:05:00+08:00,600,so2,1,9,6,1",
         "DA001,2024-01-01T08:00:00+08:00,600,so2,2,9,6,1"],
    )  # fmt: skip
    with pytest.raises(EnvmonError, match=r"line 2: column period_start: record overlaps .*line 3"):
        emissions_csv(overlap)
    touching = _file(
        tmp_path,
        ["DA001,2024-01-01T08:00:00+08:00,600,so2,1,9,6,1",
         "DA001,2024-01-01T08:10:00+08:00,600,so2,2,9,6,1",
         "DA001,2024-01-01T08:05:00+08:00,600,nox,2,9,6,1"],
        "ok.csv",
    )  # fmt: skip
    assert len(_rows(emissions_csv(touching))) == 2


def test_duplicate_record_and_cli(tmp_path):
    dup = _file(
        tmp_path,
        ["DA001,2024-01-01T08:00:00+08:00,600,so2,1,9,6,1",
         "DA001,2024-01-01T00:00:00+00:00,600,so2,2,9,6,1"],
    )  # fmt: skip
    with pytest.raises(EnvmonError, match=r"line 3: column period_start: duplicate .*line 2"):
        emissions_csv(dup)
    envmon = Path(sys.executable).with_name("envmon")
    proc = subprocess.run(
        [str(envmon), "calc", "emissions", str(dup)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "line 3" in proc.stderr
