"""Several people at once, in one console process: pages read while actions write (each request
its own short connection, writers and readers taking turns under the warehouse lock). Every
answer is a page, a redirect or a 503 "busy" — never an error — and every action answered as
saved is in the case's record exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from _web_helpers import action_of, csrf_of, signed_in

from warehouse.db import connect


def test_readers_and_writers_take_turns(wh, clock, case_id: str) -> None:
    officer = signed_in(wh, clock, "hujun", read_timeout_s=5, write_timeout_s=10)
    readers = [signed_in(wh, clock, name, read_timeout_s=5) for name in ("xuming", "liyan", "zhouhao", "sunfang")]

    def read(n: int) -> int:
        c = readers[n % len(readers)]
        path = "/cases" if n % 2 else f"/cases/{case_id}"
        return c.get(path).status_code

    def note(n: int) -> tuple[int, str]:
        page = officer.get(f"/cases/{case_id}").text
        r = officer.post(f"/cases/{case_id}/note",
                         data={"csrf": csrf_of(page), "action_id": action_of(page), "note": f"note {n}"})
        return r.status_code, f"note {n}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        reads = [pool.submit(read, n) for n in range(40)]
        writes = [pool.submit(note, n) for n in range(8)]
        read_codes = [f.result() for f in reads]
        write_results = [f.result() for f in writes]
    assert set(read_codes) <= {200, 503} and read_codes.count(200) >= 30, read_codes
    saved = sorted(text for code, text in write_results if code == 303)
    assert all(code in (303, 503) for code, _ in write_results), write_results
    with connect(wh, write=False) as con:
        recorded = sorted(n for (n,) in con.execute(
            "SELECT note FROM case_events WHERE case_id = ? AND action = 'note'", [case_id]).fetchall())
    assert recorded == saved and saved
