"""Data status: provisional until staff audit the day, or the grace period passes quietly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from qcdata import AIR, reading

from core.settings import Settings
from transforms.qc.review import record_review
from transforms.qc.run import run_qc
from transforms.qc.status import audit_day, auto_audit, data_status_for
from warehouse.db import connect

MIDNIGHT_0301 = datetime(2024, 2, 29, 16, tzinfo=UTC)


def test_staff_audit_and_auto_audit_after_grace(warehouse: Settings, add_readings) -> None:  # type: ignore[no-untyped-def]
    day = lambda d: [reading(AIR, "pm10", MIDNIGHT_0301 + timedelta(days=d, hours=h), 40.0 + h % 3) for h in range(24)]  # noqa: E731
    rows = day(0) + day(1) + day(2)
    rows[30]["value"] = 2500.0  # 03-02 06:00: above the instrument range -> suspect, an open question
    with connect(warehouse) as con:
        add_readings(con, rows)
    run_qc(warehouse, date(2024, 3, 1), date(2024, 3, 3), now=datetime(2024, 3, 10, tzinfo=UTC))
    with connect(warehouse) as con:
        assert data_status_for(con, AIR, date(2024, 3, 1)) == "provisional"
        audit_day(con, AIR, date(2024, 3, 3), "wang")
        assert data_status_for(con, AIR, date(2024, 3, 3)) == "audited"
    # grace 3 days: as of 03-04 only 03-01 qualifies; 03-02 is held by its suspect value
    report = auto_audit(warehouse, date(2024, 3, 4))
    assert report.audited == [(AIR, date(2024, 3, 1))] and report.held == []
    report = auto_audit(warehouse, date(2024, 3, 6))
    assert report.audited == [] and report.held == [(AIR, date(2024, 3, 2), 1)]
    with connect(warehouse) as con:  # staff look at the suspect value and confirm it
        record_review(con, "unflag", AIR, "pm10", MIDNIGHT_0301 + timedelta(hours=30),
                      MIDNIGHT_0301 + timedelta(hours=31), "confirmed by manual sample", "li")
    assert auto_audit(warehouse, date(2024, 3, 6)).audited == [(AIR, date(2024, 3, 2))]
    with connect(warehouse, write=False) as con:
        rows = con.execute("SELECT local_date, status, status_by FROM day_status ORDER BY 1").fetchall()
    assert rows == [(date(2024, 3, 1), "audited", "auto"), (date(2024, 3, 2), "audited", "auto"),
                    (date(2024, 3, 3), "audited", "wang")]
