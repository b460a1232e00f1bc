"""`envmon qc flags`: what QC flagged and why, without SQL; and its read side
(transforms.qc.flag_report), grouped by local day, site, severity and check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from _cli_run import envmon, main_exit

from core.settings import Settings
from envmon.cli import qc as qc_cli
from transforms.qc.flag_report import FlagQueryError, find_site, flag_groups, flag_query, flag_rows
from warehouse.db import connect

OUTLET = "huaneng_gaobeidian_da001"
T0 = datetime(2026, 11, 30, 16, tzinfo=UTC)  # 2026-12-01 00:00 in Beijing


@pytest.fixture
def flagged(wh: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """dongsi: pm25 flat line (suspect) 08:00-10:00 local on 12-01, a pm10 spike (fail) at 09:00;
    the outlet: a gross range fail at 23:30 local on 12-01 (15:30 UTC) and one on 12-02."""
    monkeypatch.setattr(qc_cli.console, "width", 80)
    rows = [("dongsi", "pm25", T0 + timedelta(hours=h), 3600, "flat_line", 1,
             "same value repeated for the configured number of periods") for h in (8, 9, 10)]
    rows += [("dongsi", "pm10", T0 + timedelta(hours=9), 3600, "spike", 2,
              "spike against both neighbours above the configured threshold")]
    rows += [(OUTLET, "so2", T0 + timedelta(hours=23, minutes=30), 60, "gross_range", 2,
              "outside instrument range [0.0, 500.0] mg/m3"),
             (OUTLET, "so2", T0 + timedelta(hours=24, minutes=30), 60, "gross_range", 2,
              "outside instrument range [0.0, 500.0] mg/m3")]
    with connect(wh) as con:
        con.executemany("INSERT INTO qc_flags VALUES (?, ?, ?, ?, 'sim', ?, ?, ?, 'h', now())", rows)
    return wh


def test_groups_by_local_day_site_severity_and_check(flagged: Settings) -> None:
    tz = flagged.tz
    with connect(flagged, write=False) as con:
        groups = flag_groups(con, flag_query(con, date(2026, 12, 1), date(2026, 12, 1), tz), tz)
    assert [(g.local_date, g.site_id, g.severity, g.check_name, g.count) for g in groups] == [
        (date(2026, 12, 1), "dongsi", "fail", "spike", 1),
        (date(2026, 12, 1), "dongsi", "suspect", "flat_line", 3),
        (date(2026, 12, 1), OUTLET, "fail", "gross_range", 1),  # 23:30 local is still 12-01; 00:30 is not
    ]
    flat = groups[1]
    assert flat.first == T0 + timedelta(hours=8) and flat.last == T0 + timedelta(hours=10)
    assert flat.example_reason == "same value repeated for the configured number of periods"
    assert flat.check_label == "恒值 flat line" and flat.parameters == ("pm25",)
    assert groups[2].site_label == "华能北京热电厂 燃煤机组烟囱1号"


def test_filters_by_site_name_severity_and_check(flagged: Settings) -> None:
    tz = flagged.tz
    with connect(flagged, write=False) as con:
        q = flag_query(con, date(2026, 12, 1), date(2026, 12, 2), tz, site="东四", severity="suspect")
        assert [(r.parameter, r.check_name) for r in flag_rows(con, q, tz)] == [("pm25", "flat_line")] * 3
        q = flag_query(con, date(2026, 12, 1), date(2026, 12, 2), tz, check="gross_range")
        assert [r.local_date for r in flag_rows(con, q, tz)] == [date(2026, 12, 1), date(2026, 12, 2)]
        assert find_site(con, "Dongsi").site_id == "dongsi"
        with pytest.raises(FlagQueryError, match=r"valid severities: suspect, fail, missing"):
            flag_query(con, date(2026, 12, 1), date(2026, 12, 1), tz, severity="bad")
        with pytest.raises(FlagQueryError, match=r"unknown check 'flatline'; valid checks: .*flat_line"):
            flag_query(con, date(2026, 12, 1), date(2026, 12, 1), tz, check="flatline")
        with pytest.raises(FlagQueryError, match=r"site .废水总排口1号. names 13 sites: "):
            find_site(con, "废水总排口1号")  # 13 enterprises have a waste-water outlet no. 1
        with pytest.raises(FlagQueryError, match=r"unknown site 'dongs'; sites like it: dongsi \(东四\)"):
            find_site(con, "dongs")


def test_qc_flags_command_grouped_in_local_time(flagged: Settings) -> None:
    out = envmon("qc", "flags", "--from", "2026-12-01")
    lines = out.splitlines()
    assert lines[0] == "QC flags 2026-12-01: 5"
    assert "2026-12-01" in lines and "  dongsi  东四" in lines
    assert "    3 suspect  恒值 flat line  (pm25)  08:00–10:00+08:00" in lines
    assert "      e.g. same value repeated for the configured number of periods" in lines
    assert "    1 fail  超出量程 out of range  (so2)  23:30+08:00" in lines
    assert "2026-12-02" not in lines  # --to defaults to --from
    assert all(len(line) <= 80 for line in lines)
    assert "UTC" not in out


def test_qc_flags_detail_one_per_line(flagged: Settings) -> None:
    out = envmon("qc", "flags", "--from", "2026-12-01", "--to", "2026-12-02", "--site", "dongsi", "--detail")
    lines = out.splitlines()
    assert lines[0] == "QC flags 2026-12-01 to 2026-12-02: 4"
    assert lines[1].startswith("2026-12-01 08:00+08:00  dongsi  pm25  suspect  恒值 flat line: same value")
    assert len([line for line in lines if line.startswith("2026-12-01 ")]) == 4


def test_qc_flags_refuses_an_unknown_site_as_one_line(
    flagged: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = main_exit(monkeypatch, capsys, "qc", "flags", "--from", "2026-12-01", "--site", "atlantis")
    assert code == 2 and err.startswith("envmon: error: unknown site 'atlantis'")
