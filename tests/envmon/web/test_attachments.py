"""Case attachments: a file uploaded to the case page is sniffed by its content, stored once by
its SHA-256 under the home and recorded in the case's trail with its hash; too big (413) or of
another type (415) it is refused with nothing stored; its name is display text only; another
grid's case, no session, no CSRF token: refused; the download is the case's file, as an
attachment, nosniff."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pytest
from _web_helpers import OTHER_CASE, action_of, client, csrf_of, login, signed_in

from envmon.web import files
from warehouse.db import connect

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(100)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<html><script>alert(1)</script></html>" + bytes(100)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(home) -> list[Path]:
    """The files in the attachment store (the temporary folder left out)."""
    root = files.store_dir(home)
    return sorted(p for p in root.rglob("*") if p.is_file() and "tmp" not in p.relative_to(root).parts)


def temporary(home) -> list[Path]:
    tmp = files.store_dir(home) / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def trail(settings, case_id: str) -> list[tuple]:
    with connect(settings, write=False) as con:
        return con.execute("SELECT seq, actor, action, note FROM case_events WHERE case_id = ? ORDER BY seq",
                           [case_id]).fetchall()


def rows(settings) -> list[tuple]:
    with connect(settings, write=False) as con:
        return con.execute("SELECT case_id, seq, sha256, name, size_bytes, media_type, attached_by "
                           "FROM case_attachments ORDER BY case_id, seq").fetchall()


def upload(c, case_id: str, data: bytes, name: str = "现场照片.jpg", content_type: str = "image/jpeg",
           csrf: str | None = "page", page: str | None = None):
    page = page if page is not None else c.get(f"/cases/{case_id}").text
    form = {"action_id": (action_of(page) if 'name="action_id"' in page else "no-form") + "-f"}
    if csrf == "page":
        form["csrf"] = csrf_of(page)
    elif csrf is not None:
        form["csrf"] = csrf
    return c.post(f"/cases/{case_id}/attachments", data=form, files={"file": (name, data, content_type)})


def test_an_officer_attaches_a_photo_stored_by_its_hash_and_named_in_the_trail(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun")
    r = upload(c, case_id, JPEG, name="现场照片 site photo.jpg")
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/cases/{case_id}?saved=")
    digest = sha(JPEG)
    path = Path(wh.home) / "attachments" / digest[:2] / digest
    assert path.read_bytes() == JPEG and stored(wh.home) == [path] and temporary(wh.home) == []
    seq, actor, action, note = trail(wh, case_id)[-1]
    assert (actor, action) == ("key_enterprises_inspector", "attachment")
    assert f"sha256:{digest}" in note and "现场照片 site photo.jpg" in note
    assert rows(wh) == [(case_id, seq, digest, "现场照片 site photo.jpg", len(JPEG), "image/jpeg",
                         "key_enterprises_inspector")]
    page = c.get(r.headers["location"]).text
    url = f"/cases/{case_id}/attachments/{digest}"
    assert f'href="{url}"' in page and f'<img src="{url}"' in page  # listed, with its thumbnail
    assert "现场照片 site photo.jpg" in page and "JPEG 图片 image" in page and "2 KB" in page
    assert "胡军 Hu Jun · 2025-03-04 09:00+08:00" in page  # who, when (local, with its offset)
    # the download: the same bytes, as an attachment, its type from its content, nosniff
    got = c.get(url)
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''%E7%8E%B0%E5%9C%BA%E7%85%A7%E7%89%87%20site%20photo.jpg" in got.headers["content-disposition"]
    assert "sandbox" in got.headers["content-security-policy"]


@pytest.mark.parametrize(("data", "media_type", "name"), [
    (PNG, "image/png", "rectification.png"), (WEBP, "image/webp", "photo.webp"),
    (PDF, "application/pdf", "整改报告.pdf"), (JPEG, "image/jpeg", "scan.pdf"),  # the content decides, not the name
])
def test_the_type_is_read_from_the_content(wh, clock, case_id: str, data: bytes, media_type: str, name: str) -> None:
    c = signed_in(wh, clock, "hujun")
    assert upload(c, case_id, data, name=name, content_type="application/octet-stream").status_code == 303
    assert rows(wh)[0][5] == media_type
    got = c.get(f"/cases/{case_id}/attachments/{sha(data)}")
    assert got.headers["content-type"].split(";")[0] == media_type
    if name == "scan.pdf":  # a JPEG named .pdf downloads as a .jpg
        assert 'filename="scan.pdf.jpg"' in got.headers["content-disposition"]


def test_the_same_file_is_stored_once(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun")
    assert upload(c, case_id, JPEG).status_code == 303
    again = upload(c, case_id, JPEG, name="again.jpg")  # a new form, the same content
    assert again.status_code == 200 and "already attached to the case" in again.text
    assert [e for e in trail(wh, case_id) if e[2] == "attachment"] == [trail(wh, case_id)[-1]]
    # on another case (the city's officer sees both): a second row, one file
    city = signed_in(wh, clock, "liyan")
    assert upload(city, OTHER_CASE, JPEG, name="东城.jpg").status_code == 303
    assert {(r[0], r[2]) for r in rows(wh)} == {(case_id, sha(JPEG)), (OTHER_CASE, sha(JPEG))}
    assert len(stored(wh.home)) == 1


def test_a_form_sent_twice_is_saved_once(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun")
    page = c.get(f"/cases/{case_id}").text
    first = upload(c, case_id, JPEG, page=page)
    second = upload(c, case_id, JPEG, page=page)  # the same form (a retry after a lost answer)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(rows(wh)) == 1


@pytest.mark.parametrize("size", ["over the limit", "over the request's limit"])
def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(wh, clock, case_id: str, size: str) -> None:
    limit = 4096
    c = signed_in(wh, clock, "hujun", upload_max_bytes=limit)
    before = trail(wh, case_id)
    big = JPEG[:4] + bytes(limit - 4)  # exactly the limit: accepted
    assert upload(c, case_id, big).status_code == 303
    # one byte more (counted as it arrives), or a request larger than the limit and its form
    # (refused by its Content-Length, before it is read)
    data = big + b"\x00" if size == "over the limit" else big + bytes(files.OVERHEAD + 1)
    r = upload(c, case_id, data)
    assert r.status_code == 413 and "larger than 4 KB (4096 bytes)" in r.text and "nothing was stored" in r.text
    assert len(trail(wh, case_id)) == len(before) + 1 and len(rows(wh)) == 1
    assert stored(wh.home) == [files.stored_path(wh.home, sha(big))] and temporary(wh.home) == []


def test_the_limit_comes_from_the_settings(wh) -> None:
    from core.settings import load_settings
    from envmon.web.config import WebConfig

    settings = load_settings({"ENVMON_HOME": str(wh.home), "ENVMON_WEB_UPLOAD_MAX_BYTES": "2048"})
    assert WebConfig.from_settings(settings).upload_max_bytes == 2048


def test_the_reader_stops_at_the_limit_of_an_endless_upload(tmp_path: Path) -> None:
    """Without a Content-Length (chunked), an endless file is read only to limit + 1 bytes (its
    first part already written to a temporary file, then removed)."""
    pulled = 0

    async def endless():
        nonlocal pulled
        head = (b"--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nt\r\n"
                b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n"
                b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff")
        pulled += len(head)
        yield head
        while True:
            pulled += 1000
            yield bytes(1000)

    with pytest.raises(files.UploadRefused) as refused:
        asyncio.run(files.receive({"content-type": "multipart/form-data; boundary=B"}, endless(), limit=600_000,
                                  tmp_dir=tmp_path / "tmp"))
    assert refused.value.status == 413
    assert pulled < 600_000 + 2000  # stopped at the limit: not read on
    assert list((tmp_path / "tmp").iterdir()) == []  # the part written so far is removed


@pytest.mark.parametrize(("data", "name", "content_type"), [
    (HTML, "photo.jpg", "image/jpeg"),  # a page dressed as a photo
    (b"GIF89a" + bytes(100), "photo.gif", "image/gif"),
    (b"MZ\x90\x00" + bytes(100), "report.pdf", "application/pdf"),  # a program named .pdf
    (b"\xff\xd8", "tiny.jpg", "image/jpeg"),  # too short to be a JPEG
])
def test_a_file_of_another_type_is_refused_whatever_its_name(wh, clock, case_id: str, data, name, content_type) -> None:
    c = signed_in(wh, clock, "hujun")
    before = trail(wh, case_id)
    r = upload(c, case_id, data, name=name, content_type=content_type)
    assert r.status_code == 415 and "Only JPEG, PNG or WebP images and PDF documents" in r.text
    assert trail(wh, case_id) == before and rows(wh) == [] and stored(wh.home) == [] and temporary(wh.home) == []


def test_no_file_chosen_is_refused(wh, clock, case_id: str) -> None:
    c = signed_in(wh, clock, "hujun")
    r = upload(c, case_id, b"", name="")
    assert r.status_code == 400 and "choose a file" in r.text and rows(wh) == []


@pytest.mark.parametrize(("name", "shown"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system32\\photo.jpg", "photo.jpg"),
    ("<script>alert(1)</script>", "script>"),
    ('<img src=x onerror=alert(1)>.jpg', "&lt;img src=x onerror=alert(1)&gt;.jpg"),
    ("photo\u202egpj.exe", "photogpj.exe"),  # a direction override dropped
    ("..", "attachment"),
])
def test_a_name_is_display_text_and_storage_is_by_hash(wh, clock, case_id: str, name: str, shown: str) -> None:
    c = signed_in(wh, clock, "hujun")
    assert upload(c, case_id, JPEG, name=name).status_code == 303
    digest = sha(JPEG)
    assert stored(wh.home) == [Path(wh.home) / "attachments" / digest[:2] / digest]
    assert not (Path(wh.home).parent / "etc").exists() and not (Path(wh.home) / "etc").exists()
    page = c.get(f"/cases/{case_id}").text
    assert shown in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/console.js" defer>']
    disposition = c.get(f"/cases/{case_id}/attachments/{digest}").headers["content-disposition"]
    assert "/" not in disposition.split("filename*=")[0] and "\\" not in disposition and "\u202e" not in disposition


def test_another_grids_case_is_refused_by_url_and_by_form(wh, clock, case_id: str) -> None:
    hujun = signed_in(wh, clock, "hujun")
    assert upload(hujun, case_id, JPEG).status_code == 303
    url = f"/cases/{case_id}/attachments/{sha(JPEG)}"
    other = signed_in(wh, clock, "zhangping")  # Dongcheng's leader
    r = other.get(url)
    assert r.status_code == 403 and r.content != JPEG and "不在您的网格范围内" in r.text
    page = other.get("/cases").text
    r = upload(other, case_id, PNG, page=page)
    assert r.status_code == 403
    assert len(rows(wh)) == 1 and stored(wh.home) == [files.stored_path(wh.home, sha(JPEG))]
    # a hash of another case's file through a case one sees: not found
    city = signed_in(wh, clock, "liyan")
    assert city.get(f"/cases/{OTHER_CASE}/attachments/{sha(JPEG)}").status_code == 404
    assert city.get(url).status_code == 200  # the city sees the grids below it
    for bad in ("../../../etc/passwd", "0" * 64, "A" * 64):
        assert city.get(f"/cases/{case_id}/attachments/{bad}").status_code == 404


def test_a_viewer_downloads_but_does_not_upload(wh, clock, case_id: str) -> None:
    assert upload(signed_in(wh, clock, "hujun"), case_id, JPEG).status_code == 303
    viewer = signed_in(wh, clock, "sunfang")
    page = viewer.get(f"/cases/{case_id}").text
    assert 'enctype="multipart/form-data"' not in page
    assert viewer.get(f"/cases/{case_id}/attachments/{sha(JPEG)}").content == JPEG
    r = upload(viewer, case_id, PNG, page=page)
    assert r.status_code == 403 and "只读账号" in r.text and len(rows(wh)) == 1
    station = signed_in(wh, clock, "zhaolei")  # station staff: no cases pages
    assert station.get(f"/cases/{case_id}/attachments/{sha(JPEG)}").status_code == 403


def test_an_administrator_attaches_as_a_note(wh, clock, case_id: str) -> None:
    assert upload(signed_in(wh, clock, "zhouhao"), case_id, PDF, name="巡检记录.pdf").status_code == 303
    assert rows(wh)[0][6] == "admin_zhou"


def test_no_session_no_upload_no_download(wh, clock, case_id: str) -> None:
    assert upload(signed_in(wh, clock, "hujun"), case_id, JPEG).status_code == 303
    c = client(wh, clock)
    r = c.post(f"/cases/{case_id}/attachments", data={"csrf": "x"}, files={"file": ("p.png", PNG, "image/png")})
    assert r.status_code == 401 and len(rows(wh)) == 1 and len(stored(wh.home)) == 1
    r = c.get(f"/cases/{case_id}/attachments/{sha(JPEG)}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert login(c, "hujun", next_url=r.headers["location"].split("next=")[1]).status_code == 303


@pytest.mark.parametrize("token", [None, "", "x" * 43, "another session's"])
def test_an_upload_needs_the_sessions_csrf_token(wh, clock, case_id: str, token) -> None:
    c = signed_in(wh, clock, "hujun")
    if token == "another session's":
        token = csrf_of(signed_in(wh, clock, "xuming").get("/cases").text)
    r = upload(c, case_id, JPEG, csrf=token)
    assert r.status_code == 403 and "Nothing was saved" in r.text
    assert rows(wh) == [] and stored(wh.home) == [] and temporary(wh.home) == []


def test_a_busy_warehouse_saves_no_attachment(wh, clock, case_id: str) -> None:
    from warehouse.lock import warehouse_lock

    c = signed_in(wh, clock, "hujun")
    page = c.get(f"/cases/{case_id}").text
    with warehouse_lock(Path(wh.warehouse_path), exclusive=True, timeout_s=1, purpose="envmon dags run hourly"):
        r = upload(c, case_id, JPEG, page=page)
    assert r.status_code == 503 and "Your action was NOT saved" in r.text and rows(wh) == []
    assert upload(c, case_id, JPEG, page=page).status_code == 303  # sent again when the run is done


def test_names_and_headers() -> None:
    assert files.safe_name("a/b\\c/d.jpg") == "d.jpg"
    assert files.safe_name("x" * 300 + ".jpeg") == "x" * (files.NAME_MAX - 5) + ".jpeg"
    assert files.safe_name(" \x00\x1f ") == "attachment"
    assert files.download_name("passwd", "image/jpeg") == "passwd.jpg"
    assert [files.size_text(n) for n in (812, 48_000, 10 << 20, 1_600_000)] == ["812 B", "47 KB", "10 MB", "1.5 MB"]
    assert files.download_name("照片.JPEG", "image/jpeg") == "照片.JPEG"
    assert files.content_disposition('a"b;c.pdf') == "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%3Bc.pdf"
    with pytest.raises(ValueError):
        files.stored_path("/x", "../" + "0" * 61)


def test_add_attachment_checks_what_it_records(wh, case_id: str) -> None:
    """alerts.cases.add_attachment, as the CLI would call it: a person of the registry, a whole
    hash, an accepted type, a time not before the case's last event, once per content."""
    from _alerts_helpers import local

    from alerts import cases as workflow
    from warehouse.db import transaction

    digest, at = sha(PDF), local(2025, 3, 4, 9)
    args = {"sha256": digest, "name": "记录.pdf", "size": len(PDF), "media_type": "application/pdf",
            "by": "data_reviewer_sun", "at": at}
    with connect(wh) as con:
        for bad, says in (({"sha256": digest.upper()}, "64 lower-case hex"), ({"sha256": "../x"}, "64 lower-case hex"),
                          ({"media_type": "text/html"}, "attachment type"), ({"size": 0}, "empty file"),
                          ({"by": "nobody"}, "unknown person"), ({"at": local(2025, 3, 1, 9)}, "before case")):
            with pytest.raises(workflow.CaseError, match=says):
                workflow.add_attachment(con, case_id, **(args | bad))
        with transaction(con):
            seq = workflow.add_attachment(con, case_id, **args)  # bureau staff may attach, as they note
        with pytest.raises(workflow.CaseError, match=f"already attached to case {case_id} \\(event {seq}\\)"):
            workflow.add_attachment(con, case_id, **(args | {"name": "again.pdf"}))
    assert rows(wh) == [(case_id, seq, digest, "记录.pdf", len(PDF), "application/pdf", "data_reviewer_sun")]
