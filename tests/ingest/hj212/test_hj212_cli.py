import io
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ingest.hj212.stream import parse_stream

GOOD = b"##0258QN=20160824010005000;ST=32;CN=2061;PW=123456;MN=LD130124000223;CP=&&DataTime=20160824010000;B01-Cou=0.00,B01-Avg=0.25,B01-Max=0.25,B01-Min=0.25;060-Cou=0.00,060-Avg=14.66,060-Max=14.67,060-Min=14.67;011-Cou=0.00,011-Avg=322.00,011-Max=322.00,011-Min=322.00&&E8C1"
ZS = b"##0162QN=20231008123340461;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&DataTime=20231008123340;w01008-SampleTime=20231008123340,w01008-Rtd=123.456&&F441"
BAD = GOOD[:-4] + b"0000"


def test_parse_stream_format():
    out = io.StringIO()
    assert parse_stream([GOOD + b"\r\n", ZS], out) == 0
    a, b = (json.loads(line) for line in out.getvalue().splitlines())
    assert {k: a[k] for k in ("ok", "qn", "st", "cn", "mn", "flag", "datatime", "crc_ok")} == {
        "ok": True, "qn": "20160824010005000", "st": "32", "cn": "2061", "mn": "LD130124000223",
        "flag": None, "datatime": "2016-08-24T01:00:00+08:00", "crc_ok": True,
    }  # fmt: skip
    assert a["values"][:2] == [
        {"code": "B01", "field": "Cou", "value": 0.0, "flag": None},
        {"code": "B01", "field": "Avg", "value": 0.25, "flag": None},
    ]
    assert len(a["values"]) == 12
    assert b["flag"] == 5 and b["values"] == [
        {"code": "w01008", "field": "Rtd", "value": 123.456, "flag": None, "SampleTime": "20231008123340"}
    ]


def test_parse_stream_error():
    out = io.StringIO()
    assert parse_stream([GOOD, BAD], out) == 1
    bad = json.loads(out.getvalue().splitlines()[1])
    assert bad["ok"] is False and bad["error"] == "bad CRC: packet says 0000, computed E8C1"
    assert bad["crc_ok"] is False


def test_typer_app(tmp_path):
    from envmon.cli import app

    f = tmp_path / "p.h212"
    f.write_bytes(GOOD + b"\r\n" + ZS + b"\r\n")
    res = CliRunner().invoke(app, ["hj212", "parse", str(f)])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["cn"] for x in res.output.splitlines()] == ["2061", "2011"]


def test_subprocess_gzip(tmp_path):
    import gzip

    f = tmp_path / "p.h212.gz"
    f.write_bytes(gzip.compress(GOOD + b"\r\n" + BAD + b"\r\n"))
    res = subprocess.run(
        [sys.executable, "-c", "from envmon.cli import main; main()", "hj212", "parse", str(f)],
        capture_output=True, timeout=120, cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    lines = [json.loads(x) for x in res.stdout.decode().splitlines()]
    assert [x["ok"] for x in lines] == [True, False]
