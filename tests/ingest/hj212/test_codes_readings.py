import json
from datetime import UTC, datetime

import pyarrow as pa

from core.contract import reading_flags
from core.schema import READINGS_SCHEMA
from ingest.hj212 import frame, parse_packet
from ingest.hj212.codes import code_table, map_code
from ingest.hj212.readings import packet_to_readings

REQUIRED = {"so2", "nox", "no2", "no", "co", "o3", "pm10", "pm25", "dust", "o2", "flue_flow",
            "flue_temp", "flue_pressure", "flue_velocity", "flue_humidity", "cod", "nh3n", "ph",
            "tp", "tn", "ww_flow"}  # fmt: skip


def test_required_parameters_and_sources():
    assert {i.parameter for rows in code_table().values() for i in rows} >= REQUIRED
    for rows in code_table().values():
        for r in rows:
            assert r.source and r.unit and r.parameter == r.parameter.lower()
    assert reading_flags()["N"][1] is True and reading_flags()["D"][1] is False


def test_2017_and_2005_codes():
    pairs = {"a21026": "so2", "a21002": "nox", "a34013": "dust", "a19001": "o2", "a01011": "flue_velocity",
             "a01012": "flue_temp", "a01013": "flue_pressure", "a01014": "flue_humidity",
             "a00000": "flue_flow", "w01018": "cod", "w21003": "nh3n", "w01001": "ph", "w21011": "tp",
             "w21001": "tn", "w00000": "ww_flow", "a21004": "no2", "a21005": "co", "a34002": "pm10",
             "a34004": "pm25", "a05024": "o3", "B01": "ww_flow", "011": "cod", "060": "nh3n",
             "001": "ph", "B02": "flue_flow", "S01": "o2", "S02": "flue_velocity", "S03": "flue_temp",
             "S05": "flue_humidity", "S08": "flue_pressure"}  # fmt: skip
    for code, param in pairs.items():
        assert map_code(code, "31").info.parameter == param, code
    assert map_code("w00000").info.unit == "L/s"
    assert map_code("a21026", "22").info.unit == "ug/m3" and map_code("a21026", "31").info.unit == "mg/m3"


def test_ambiguous_and_unknown_codes():
    assert map_code("02", "31").info.parameter == "so2"
    assert map_code("02", "32").info is None
    assert map_code("02", None, ["B02", "02"]).info.parameter == "so2"  # NUL ST, flue context
    m = map_code("ua19004", "101")
    assert not m.known and "unknown pollutant code" in m.reason


def test_packet_to_readings():
    raw = b"##0258QN=20160824010005000;ST=32;CN=2061;PW=123456;MN=LD130124000223;CP=&&DataTime=20160824010000;B01-Cou=0.00,B01-Avg=0.25,B01-Max=0.25,B01-Min=0.25;060-Cou=0.00,060-Avg=14.66,060-Max=14.67,060-Min=14.67;011-Cou=0.00,011-Avg=322.00,011-Max=322.00,011-Min=322.00&&E8C1"
    p = parse_packet(raw)
    rec = datetime(2016, 8, 24, 2, tzinfo=UTC)
    res = packet_to_readings(p, {"LD130124000223": "site-7"}, rec)
    assert res.unknown_codes == [] and len(res.rows) == 3
    row = res.rows[0]
    assert (row["site_id"], row["parameter"], row["interval_s"], row["value"], row["value_cou"]) == (
        "site-7", "ww_flow", 3600, 0.25, 0.0,
    )  # fmt: skip
    assert row["period_start"] == datetime(2016, 8, 23, 17, tzinfo=UTC)
    assert row["origin"] == "hj212:LD130124000223:20160824010005000"
    assert json.loads(row["extra"])["code"] == "B01"
    assert res.table().schema == READINGS_SCHEMA
    assert packet_to_readings(p, {}, rec).unknown_mn == "LD130124000223"
    assert packet_to_readings(p, lambda mn: "s", rec).rows[0]["site_id"] == "s"


def test_readings_flags_zs_and_unknown():
    raw = b"##0624QN=20180303110906001;ST=32;CN=2011;PW=123456;MN=8888888000114W;Flag=4;CP=&&DataTime=20180303105900;a00000-Rtd=0.0000,a00000-Flag=D;a34013-Rtd=0.0000,a34013-ZsRtd=0.00,a34013-Flag=D;a21026-Rtd=0.0000,a21026-ZsRtd=0.00,a21026-Flag=D;a21002-Rtd=0.0000,a21002-ZsRtd=0.00,a21002-Flag=D;a21005-Rtd=0.0000,a21005-ZsRtd=0.00,a21005-Flag=D;a21018-Rtd=0.0000,a21018-ZsRtd=0.00,a21018-Flag=D;a21024-Rtd=0.0000,a21024-ZsRtd=0.00,a21024-Flag=D;a19001-Rtd=0.0000,a19001-Flag=D;a01011-Rtd=0.0000,a01011-Flag=D;a01012-Rtd=0.0000,a01012-Flag=D;a01017-Rtd=0.0000,a01017-Flag=D;a01014-Rtd=0.0000,a01014-Flag=D;a01013-Rtd=0.0000,a01013-Flag=D&&2A80"
    results = [packet_to_readings(parse_packet(raw))]
    table = pa.Table.from_pylist(results[0].rows, schema=READINGS_SCHEMA)
    assert results[0].unknown_codes == ["a21018", "a21024"]
    assert set(table.column("flag").to_pylist()) == {"D"}
    assert table.column("interval_s").to_pylist()[0] == 0
    so2 = next(r for r in results[0].rows if r["parameter"] == "so2")
    assert so2["value_zs"] == 0.0
    nodata = parse_packet(b"##0094QN=20231008125115215;ST=22;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&QnRtn=1&&CC01")
    assert "carries no readings" in packet_to_readings(nodata).skipped


def test_site_unit_conversion_scales_concentrations_not_amounts() -> None:
    """One conversion for the server and offline ingest (ingest/site_units.py): value, min, max
    and the O2-corrected value take the factor; -Cou is an amount over the period (kg, m3) and
    keeps its number."""
    import polars as pl

    from ingest.site_units import convert_table, convert_value

    rows = pl.DataFrame(
        {
            "site_id": ["a", "a", "b"], "parameter": ["so2", "nox", "so2"],
            "unit": ["mg/m3", "mg/m3", "mg/m3"], "value": [1.2, 3.0, 5.0],
            "value_min": [1.0, None, 5.0], "value_max": [1.5, None, 5.0],
            "value_zs": [1.8, None, None], "value_cou": [0.25, 0.5, 0.75],
        }
    )  # fmt: skip
    only_a_so2 = {("a", "so2", "mg/m3"): (1000.0, "ug/m3")}
    out = convert_table(rows, lambda *key: only_a_so2.get(key)).sort("site_id", "parameter")
    assert out.row(1, named=True) == {
        "site_id": "a", "parameter": "so2", "unit": "ug/m3", "value": 1200.0, "value_min": 1000.0,
        "value_max": 1500.0, "value_zs": 1800.0, "value_cou": 0.25,
    }  # fmt: skip
    assert out.row(0, named=True)["value"] == 3.0 and out.row(0, named=True)["unit"] == "mg/m3"
    assert out.row(2, named=True)["value"] == 5.0  # site b not converted
    assert convert_value(0.1, 3.0) == 0.3  # 12 significant digits: no 0.30000000000000004
    assert convert_value(None, 3.0) is None


def test_one_origin_and_one_suffix_map_for_both_parsers() -> None:
    """Readings and logger events name their packet the same way (`reading_origin`), and the
    bulk parser's readings put each value suffix in the per-packet parser's column."""
    from ingest.hj212.bulk.readings import _SIMPLE
    from ingest.hj212.events import packet_to_events
    from ingest.hj212.readings import SUFFIX_COLUMNS, reading_origin

    assert reading_origin("MN1", "20240101000000001") == "hj212:MN1:20240101000000001"
    assert reading_origin(None, None) == "hj212:None:"  # as the bulk parser's polars form
    assert {k: v for k, v in _SIMPLE.items() if k != "Flag"} == SUFFIX_COLUMNS
    assert _SIMPLE["Flag"] == "flag"
    seg = b"QN=20240101000000011;ST=32;CN=2021;PW=123456;MN=MN1;Flag=4;CP=&&DataTime=20240101000000;SB1-RS=1&&"
    p = parse_packet(frame(seg).rstrip(b"\r\n"))
    events = packet_to_events(p, "site-1", datetime(2024, 1, 1, tzinfo=UTC))
    assert events and {e["origin"] for e in events} == {reading_origin("MN1", p.qn)}


def test_a_refused_time_names_the_packet_field_not_the_contracts() -> None:
    from ingest.hj212.packet_outcome import refused_time

    problem = "field 'period_start': 1999-01-01T00:00:00+00:00 is before 2000-01-01"
    assert refused_time("DataTime 19990101080000", problem) == (
        "DataTime 19990101080000 refused by the reading contract: "
        "1999-01-01T00:00:00+00:00 is before 2000-01-01"
    )
