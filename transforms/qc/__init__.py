"""Data validation and QC of readings (issue 5).

Flag scale (transforms.qc.flags): pass 0 < suspect 1 < fail 2 < missing 3; a reading's verdict
is its worst flag, `not_evaluated` where no QC run covered it. Staff reviews override it in
`v_readings_qc` (flag -> fail, unflag -> pass). Raw readings are never changed.

Jobs (one call each; the CLI and Airflow tasks call these):
    run_qc(settings, start, end)                       transforms.qc.run
    validate_batches(settings)                         transforms.qc.gx_suite
    compute_availability(settings, start, end)         transforms.qc.availability
    compute_transmission_efficiency(settings, month)   transforms.qc.availability
    auto_audit(settings, as_of)                        transforms.qc.status
and `data_status_for(con, site_id, date)` for other parts.

Modules are imported lazily here so that importing one check does not load Great Expectations.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "run_qc": "transforms.qc.run",
    "validate_batches": "transforms.qc.gx_suite",
    "compute_availability": "transforms.qc.availability",
    "compute_transmission_efficiency": "transforms.qc.availability",
    "auto_audit": "transforms.qc.status",
    "data_status_for": "transforms.qc.status",
    "Flag": "transforms.qc.flags",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
