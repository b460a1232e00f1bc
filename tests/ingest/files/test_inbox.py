"""ingest.files.inbox: the inbox protocol (rename into place, or a .ready marker; otherwise two
equal looks), and where each file goes: done/<date>/, quarantine, or left waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.settings import Settings
from ingest.files.inbox import DONE_DIR, PART_SUFFIX, READY_SUFFIX, InboxReport, scan_inbox
from ingest.files.ingest import FileReport

CSV = ("site_id,parameter,period_start,value,unit,flag\n"
       "dongsi,pm25,2024-03-01T08:00+08:00,12,ug/m3,N\n"
       "dongsi,pm10,2024-03-01T08:00+08:00,40,ug/m3,N\n")
OTHER = CSV.replace("12,", "13,")


class Sleeps:
    """Stands in for time.sleep: records the waits, optionally acting as a writer meanwhile."""

    def __init__(self, during=None) -> None:  # type: ignore[no-untyped-def]
        self.calls: list[float] = []
        self.during = during

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.during is not None:
            self.during()


def done_dir(settings: Settings) -> Path:
    return settings.inbox_dir / DONE_DIR / f"{datetime.now(UTC):%Y-%m-%d}"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def test_the_suffixes_of_the_protocol() -> None:
    assert (PART_SUFFIX, READY_SUFFIX, DONE_DIR) == (".part", ".ready", "done")


def test_an_empty_or_missing_inbox_is_created_and_nothing_waits(settings: Settings) -> None:
    sleep = Sleeps()
    report = scan_inbox(settings, sleep=sleep)
    assert settings.inbox_dir.is_dir()
    assert (report.files, report.waiting, report.readings) == ([], [], 0)
    assert sleep.calls == []  # nothing to settle


def test_files_being_written_are_never_touched(settings: Settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    (inbox / ".hidden.csv").write_text(CSV)
    (inbox / "upload.csv.part").write_text(CSV)
    (inbox / "sub").mkdir()
    (inbox / "sub" / "nested.csv").write_text(CSV)  # only files directly in the inbox are taken
    (inbox / "lost.csv.ready").touch()  # a marker whose file is missing
    sleep = Sleeps()
    report = scan_inbox(settings, sleep=sleep)
    assert report.files == []
    assert report.waiting == ["upload.csv.part", "lost.csv.ready (marker without its file)"]
    assert files_in(inbox) == [".hidden.csv", "lost.csv.ready", "upload.csv.part"]
    assert sleep.calls == []


def test_a_settled_file_is_ingested_and_moved_to_done(settings: Settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "东四.csv").write_text(CSV, encoding="utf-8")
    seen: list[FileReport] = []
    sleep = Sleeps()
    report = scan_inbox(settings, settle_s=2.5, sleep=sleep, on_file=seen.append)
    assert sleep.calls == [2.5]  # one wait for all unmarked files
    assert [(Path(f.path).name, f.status, f.readings) for f in report.files] == [("东四.csv", "ingested", 2)]
    assert seen == report.files
    assert report.readings == 2 and report.count("ingested") == 1 and report.count("rejected") == 0
    assert report.waiting == []
    assert files_in(inbox) == [] and files_in(done_dir(settings)) == ["东四.csv"]


def test_a_growing_file_waits_and_is_taken_once_it_stops(settings: Settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    growing = inbox / "growing.csv"
    growing.write_text(CSV.splitlines(keepends=True)[0])

    def append() -> None:
        with growing.open("a") as fh:
            fh.write(CSV.splitlines(keepends=True)[1])

    report = scan_inbox(settings, settle_s=1, sleep=Sleeps(append))
    assert report.files == [] and report.waiting == ["growing.csv"]
    assert files_in(inbox) == ["growing.csv"]
    report = scan_inbox(settings, settle_s=1, sleep=Sleeps())
    assert [(f.status, f.readings) for f in report.files] == [("ingested", 1)]


def test_a_file_removed_between_the_looks_waits(settings: Settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    f = inbox / "a.csv"
    f.write_text(CSV)
    report = scan_inbox(settings, settle_s=1, sleep=Sleeps(f.unlink))
    assert report.files == [] and report.waiting == ["a.csv"]


def test_a_marked_file_is_taken_at_once_and_its_marker_removed(settings: Settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text(CSV)
    (inbox / "a.csv.ready").touch()
    sleep = Sleeps()
    report = scan_inbox(settings, settle_s=30, sleep=sleep)
    assert sleep.calls == []  # no settle wait when every file is marked
    assert [f.status for f in report.files] == ["ingested"]
    assert files_in(inbox) == [] and files_in(done_dir(settings)) == ["a.csv"]


def test_a_rejected_file_goes_to_quarantine_and_its_marker_too(settings: Settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "junk.csv").write_text("a,b\n1,2\n")
    (inbox / "junk.csv.ready").touch()
    report = scan_inbox(settings, settle_s=0)
    (rejected,) = report.files
    assert rejected.status == "rejected" and "cannot determine the format profile" in (rejected.reason or "")
    assert report.waiting == [] and files_in(inbox) == []
    quarantined = sorted(p.name for p in (settings.quarantine_dir / "files").rglob("*") if p.is_file())
    assert [n.split("-", 1)[1] for n in quarantined] == ["junk.csv", "junk.csv.reason.txt"]


def test_the_same_name_again_is_kept_beside_the_first_in_done(settings: Settings) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text(CSV)
    scan_inbox(settings, settle_s=0)
    (inbox / "a.csv").write_text(OTHER)
    report = scan_inbox(settings, settle_s=0)
    (second,) = report.files
    assert second.status == "ingested" and second.sha256
    assert files_in(done_dir(settings)) == sorted(["a.csv", f"{second.sha256[:12]}-a.csv"])
    (inbox / "a.csv").write_text(CSV)  # the first content once more: a duplicate, moved all the same
    report = scan_inbox(settings, settle_s=0)
    assert [f.status for f in report.files] == ["duplicate"] and files_in(inbox) == []


def test_report_counts() -> None:
    r = InboxReport(files=[FileReport(path="a", status="ingested", readings=3),
                           FileReport(path="b", status="duplicate", readings=0),
                           FileReport(path="c", status="ingested", readings=4)])
    assert r.readings == 7 and r.count("ingested") == 2 and r.count("changed") == 0
