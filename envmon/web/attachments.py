"""Case attachments: the upload form's action and the download route (docs/console.md,
"Attachments"). Who may attach a file is who may add a note: anyone whose account acts on cases
(officers, leaders, administrators; not viewers) and sees the case; who may download it is who
may see the case. Reading, sniffing and storing the file: envmon.web.files; the case event and
the metadata row: alerts.cases.add_attachment."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from alerts import cases as workflow
from envmon.web import files
from envmon.web.access import WarehouseBusy
from envmon.web.cases import _already, _case_page, _saved, role_text, the_case
from envmon.web.common import Refused, busy, check_csrf, console_of, log, require_session
from envmon.web.sessions import Session

router = APIRouter()
# What a download may do in the browser: nothing (no script, no frame, no plugin).
DOWNLOAD_CSP = "default-src 'none'; img-src 'self'; sandbox"


@router.post("/cases/{case_id}/attachments")
async def upload(request: Request, case_id: str) -> Response:
    """The session, the case in the person's scope and an account that acts on cases are checked
    before a byte of the form is read; the CSRF token when its field arrives (the form sends it
    before the file); then the file is read with its limit, stored by its hash, and the event
    saved in one write transaction (a form sent twice is saved once, web_actions)."""
    console = console_of(request)
    home = console.settings.home

    def check() -> Session:
        with console.read() as con:
            session = require_session(request, con)
            the_case(con, session.account, case_id)
            if not session.account.may_act_on_cases:
                raise Refused(f"{role_text(session.account)}: 只读账号 a read-only account does not change cases")
            return session

    try:
        session = await run_in_threadpool(check)
    except WarehouseBusy:
        return busy(request, writing=True)
    csrf_checked = False

    def on_field(name: str, value: str) -> None:
        nonlocal csrf_checked
        if name == "csrf":
            check_csrf(session, value)
            csrf_checked = True

    try:
        got = await files.receive(request.headers, request.stream(), limit=console.web.upload_max_bytes,
                                  tmp_dir=files.store_dir(home) / "tmp", on_field=on_field)
    except files.UploadRefused as exc:
        log.info("%s: upload to case %s refused (%s)", session.account.username, case_id, exc.status)
        return await _refusal(request, case_id, exc.status, exc.message)
    try:
        if not csrf_checked:
            check_csrf(session, None)
        if got.tmp is None:
            return await _refusal(request, case_id, 400, "请选择要上传的文件 choose a file to upload: nothing was stored.")
        new = await run_in_threadpool(files.keep, home, got.tmp, got.sha256)
        got.tmp = None
    finally:
        got.discard()
    log.info("%s stored attachment %s (%s bytes, %s)%s", session.account.username, got.sha256, got.size,
             got.media_type, "" if new else ", content stored already")
    sent_id = got.fields.get("action_id", "")[:64]

    def save() -> int | str:
        with console.write() as con:
            current = require_session(request, con)  # still signed in when it is saved
            done = _already(con, sent_id)
            if done is not None:
                return done
            case = the_case(con, current.account, case_id)
            there = con.execute("SELECT seq FROM case_attachments WHERE case_id = ? AND sha256 = ?",
                                [case.case_id, got.sha256]).fetchall()
            if there:
                return f"seq:{there[0][0]}"
            at = console.clock()
            seq = workflow.add_attachment(con, case.case_id, sha256=got.sha256, name=got.name, size=got.size,
                                          media_type=got.media_type, by=current.account.person.person_id, at=at)
            if sent_id:
                con.execute("INSERT INTO web_actions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [sent_id, current.account.username, current.account.person.person_id, case.case_id,
                             "attachment", at, at, seq])
            log.info("%s (%s) attached %s to case %s: event %s", current.account.username,
                     current.account.person.person_id, got.sha256, case.case_id, seq)
            return seq

    try:
        result = await run_in_threadpool(save)
    except WarehouseBusy:
        return busy(request, writing=True, session=session)
    except workflow.CasePermissionError as exc:
        return await _refusal(request, case_id, 403, str(exc))
    except workflow.CaseError as exc:
        return await _refusal(request, case_id, 400, str(exc))
    if isinstance(result, str):  # the same content is on the case already: said, not saved again
        seq = result.removeprefix("seq:")
        return await _refusal(request, case_id, 200, f"此文件已是本案件的附件（事件 {seq}），未重复保存。This file is "
                              f"already attached to the case (event {seq}): it was not saved again.")
    return _saved(case_id, result)


async def _refusal(request: Request, case_id: str, status: int, message: str) -> Response:
    """The case page with the refusal (nothing stored), as a workflow refusal is shown."""
    console = console_of(request)

    def page() -> Response:
        with console.read() as con:
            session = require_session(request, con)
            return _case_page(request, con, session, case_id, status=status, message=message)

    return await run_in_threadpool(page)


@router.get("/cases/{case_id}/attachments/{sha256}")
def download(request: Request, case_id: str, sha256: str) -> Response:
    """A file of the case, for whoever may see the case: as a download (Content-Disposition
    attachment, its safe name, the type read from its content, nosniff); an <img> of the case
    page shows an image from the same address."""
    console = console_of(request)
    with console.read() as con:
        session = require_session(request, con)
        the_case(con, session.account, case_id)
        row = con.execute(
            "SELECT name, media_type FROM case_attachments WHERE case_id = ? AND sha256 = ?", [case_id, sha256]
        ).fetchall() if files.SHA256.match(sha256) else []
    if not row:
        raise Refused(f"案件 {case_id} 没有此附件 — case {case_id} has no attachment {sha256[:64]!r}", status=404)
    name, media_type = row[0]
    path = files.stored_path(console.settings.home, sha256)
    if not path.is_file():
        log.error("attachment %s of case %s is missing from %s", sha256, case_id, path)
        raise Refused(f"附件文件缺失 the file of attachment {sha256} is missing from the attachment store "
                      "(ask an administrator to restore it from the backup)", status=404)
    log.info("%s downloaded attachment %s of case %s", session.account.username, sha256, case_id)
    return FileResponse(path, media_type=media_type, headers={
        "Content-Disposition": files.content_disposition(files.download_name(name, media_type)),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOWNLOAD_CSP,
        "Cache-Control": "private, no-store",
    })
