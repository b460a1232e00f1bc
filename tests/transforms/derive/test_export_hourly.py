"""`envmon export hourly`: official outlet hours as CSV with BOM (bilingual headers, local time
with offset, logger | derived, the reason when invalid) and XLSX; formula cells neutralised."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from derivedata import reading
from openpyxl import load_workbook
from typer.testing import CliRunner

from envmon.cli import app
from envmon.cli.export import csv_bytes
from transforms.derive.hourly import derive_hourly

OUTLET = "huaneng_gaobeidian_da001"
H = datetime(2024, 3, 1, 2, tzinfo=UTC)  # 10:00 local (+08:00)
HOUR = timedelta(hours=1)


def _rec(parameter, value, unit, start, n=6, interval_s=600):  # type: ignore[no-untyped-def]
    return [
        reading(OUTLET, parameter, start + timedelta(seconds=i * interval_s), value, unit,
                interval_s=interval_s, source_kind="hj212")
        for i in range(n)
    ]  # fmt: skip


def test_export_hourly_csv_and_xlsx(wh, insert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = (
        _rec("so2", 30.0, "mg/m3", H) + _rec("o2", 9.0, "%", H) + _rec("flue_flow", 4e5, "m3/h", H)
    )
    rows.append(reading(OUTLET, "so2", H, 40.0, "mg/m3", interval_s=3600, source_kind="hj212"))
    rows += _rec("so2", 30.0, "mg/m3", H + HOUR, n=4)  # 40 minutes < 45: invalid, derived
    insert(rows, H, H + 2 * HOUR)
    derive_hourly(wh, H, H + 2 * HOUR)

    out = tmp_path / "h.csv"
    res = CliRunner().invoke(
        app, ["export", "hourly", "--date", "2024-03-01", "--site", OUTLET, "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:3] == ["站点编号 site", "站点名称 site name", "监测项目 parameter"]
    by = {(r[2], r[4]): r for r in table[1:]}
    first = by[("so2", "2024-03-01T10:00:00+08:00")]
    assert first[5:11] == ["40.0", "mg/m3", "true", "logger", "true", ""]
    second = by[("so2", "2024-03-01T11:00:00+08:00")]
    assert second[5:9] == ["", "mg/m3", "false", "derived"]
    assert second[10] == "so2: 40 valid minutes < 45 required"

    xlsx = tmp_path / "h.xlsx"
    res = CliRunner().invoke(
        app, ["export", "hourly", "--date", "2024-03-01", "--format", "xlsx", "-o", str(xlsx)]
    )
    assert res.exit_code == 0, res.output
    ws = load_workbook(xlsx).active
    assert ws["A1"].value.startswith("排污口小时值") and ws["A2"].value == "站点编号 site"
    cells = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    found = [
        r for r in cells if r[0] == OUTLET and r[2] == "so2" and r[4].startswith("2024-03-01T10")
    ]
    assert [(r[5], r[6], r[8]) for r in found] == [(40.0, "mg/m3", "logger")]


def test_export_day_is_each_sites_own_local_day(wh, insert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # review T15: the day is cut in the site's own time zone (sites.timezone), shown with its
    # offset. 2024-02-29 23:00 UTC is 2024-03-01 07:00 at +08:00 but 2024-02-29 in UTC.
    late = datetime(2024, 2, 29, 23, tzinfo=UTC)
    insert(
        _rec("so2", 30.0, "mg/m3", late) + _rec("flue_flow", 4e5, "m3/h", late), late, late + HOUR
    )
    derive_hourly(wh, late, late + HOUR)
    from envmon.cli.export import hourly_rows
    from warehouse.db import connect

    def starts(day):  # type: ignore[no-untyped-def]
        return [r["period_start"].isoformat() for r in hourly_rows(wh, day, [OUTLET])
                if r["parameter"] == "so2"]  # fmt: skip

    assert starts(date(2024, 3, 1)) == ["2024-03-01T07:00:00+08:00"]
    assert starts(date(2024, 2, 29)) == []
    with connect(wh) as con:
        con.execute("UPDATE sites SET timezone = 'UTC' WHERE site_id = ?", [OUTLET])
    assert starts(date(2024, 3, 1)) == []
    assert starts(date(2024, 2, 29)) == ["2024-02-29T23:00:00+00:00"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2024-13-01"], "--date: '2024-13-01' is not a date"),
        (["--date", "2024-03-01", "--format", "pdf"], "--format: 'pdf' is not one of csv, xlsx"),
        (["--date", "2024-03-01", "--site", "aotizhongxin"], "aotizhongxin is not an outlet"),
    ],
)
def test_export_bad_options(wh, args, message, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = CliRunner().invoke(app, ["export", "hourly", *args, "-o", str(tmp_path / "x.csv")])
    assert res.exit_code != 0 and message in str(res.exception)


def test_formula_cells_are_neutralised() -> None:
    row = {"site_id": "=HYPERLINK(\"x\")", "site_name": "@SUM(A1)", "parameter": "so2",
           "parameter_name": "+1+2", "period_start": datetime(2024, 3, 1, 10, tzinfo=UTC),
           "value": -3.5, "unit": "mg/m3", "valid": False, "obtained": "derived",
           "operating": True, "invalid_reason": "-bad", "treatment_stopped": None}  # fmt: skip
    cells = next(
        iter(csv.reader(io.StringIO(csv_bytes([row]).decode("utf-8-sig").splitlines()[1])))
    )
    assert cells[0] == '\'=HYPERLINK("x")' and cells[1] == "'@SUM(A1)" and cells[3] == "'+1+2"
    assert cells[5] == "-3.5" and cells[10] == "'-bad"
    assert date(2024, 3, 1).isoformat() in cells[4]
