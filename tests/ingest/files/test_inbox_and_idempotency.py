"""Idempotency by content hash, complete-file detection (.part, still growing), inbox/done."""

from __future__ import annotations

import gzip
from pathlib import Path

import typer
from _files_helpers import landing_readings, write
from typer.testing import CliRunner

from core.landing import READINGS, LandingZone
from envmon.cli import files as files_cli
from ingest.files.inbox import scan_inbox
from ingest.files.ingest import ingest_paths

CSV = "site_id,parameter,period_start,value,unit,flag\ndongsi,pm25,2024-05-01 08:00,35,ug/m3,N\n"


def test_same_file_again_is_a_no_op_even_renamed_or_gzipped(settings, tmp_path: Path) -> None:
    first = write(tmp_path / "a.csv", CSV)
    assert ingest_paths([first]).files[0].status == "ingested"
    again = ingest_paths([first, write(tmp_path / "b.csv.gz", CSV, gz=True)]).files
    assert [f.status for f in again] == ["duplicate", "duplicate"]
    assert "already ingested" in again[0].reason and str(first) in again[0].reason
    assert len(LandingZone(settings.landing_root).list_batches(READINGS)) == 1
    ledger = list((Path(settings.landing_root) / "files_ledger").rglob("*.json"))
    assert len(ledger) == 1 and not list((Path(settings.landing_root) / "files_ledger").rglob(".tmp-*"))


def test_inbox_takes_complete_files_only_and_moves_them_to_done(settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    write(inbox / "ready.csv", CSV)
    write(inbox / "uploading.csv.part", CSV)
    growing = write(inbox / "growing.csv", CSV.splitlines(keepends=True)[0])
    write(inbox / "junk.csv", "a,b\n1,2\n")

    def sleep(_seconds: float) -> None:  # a writer is still appending during the settle interval
        with open(growing, "a", encoding="utf-8") as fh:
            fh.write("tiantan,pm25,2024-05-01 08:00,30,ug/m3,N\n")

    report = scan_inbox(settings, settle_s=5, sleep=sleep)
    assert {(Path(f.path).name, f.status) for f in report.files} == {("ready.csv", "ingested"), ("junk.csv", "rejected")}
    assert sorted(report.waiting) == ["growing.csv", "uploading.csv.part"]
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["growing.csv", "uploading.csv.part"]
    assert [p.name for p in (inbox / "done").rglob("*") if p.is_file()] == ["ready.csv"]
    assert [p.name for p in (settings.quarantine_dir / "files").rglob("*junk.csv")]

    # the writer finishes: the .part is renamed, the growing file stops growing
    (inbox / "uploading.csv.part").rename(inbox / "uploaded.csv")
    write(inbox / "ready.csv", CSV)  # the same content dropped again
    report = scan_inbox(settings, settle_s=0)
    assert {(Path(f.path).name, f.status) for f in report.files} == {
        ("growing.csv", "ingested"), ("uploaded.csv", "duplicate"), ("ready.csv", "duplicate")}
    assert report.waiting == [] and not [p for p in inbox.iterdir() if p.is_file()]
    done = sorted(p.name for p in (inbox / "done").rglob("*") if p.is_file())
    assert [n.split("-", 1)[-1] for n in done] == ["ready.csv", "growing.csv", "ready.csv", "uploaded.csv"]
    assert landing_readings(settings).height == 2


def test_cli_ingest_files_and_inbox(settings, tmp_path: Path) -> None:
    app = typer.Typer()
    files_cli.register(app)
    runner = CliRunner()
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(CSV.encode()))
    result = runner.invoke(app, ["ingest", "files", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 ingested" in result.output and "1 readings" in result.output
    result = runner.invoke(app, ["ingest", "files", str(path)])
    assert "already ingested" in result.output and "1 already ingested" in result.output
    result = runner.invoke(app, ["ingest", "inbox", "--settle", "0"])
    assert result.exit_code == 0 and "0 ingested" in result.output
