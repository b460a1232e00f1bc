"""Issue #17 acceptance, as a permanent end-to-end check: the whole real capture
(/work/shared/data/hj212_capture_2016-08-24, 190,451 records of 290 loggers, HJ/T 212-2005 style)
onboarded into a fresh home through the command line (bench/capture_e2e.py: ingest → unknown →
enrol → registry load → deadletters retry → load → QC → hourly derivation → export).

Acceptance (issue #17): of the (logger, pollutant, hour) for which the logger sent a complete
hour of minute data, at least 99 % have a valid official hourly value, equal to the logger's own
hourly value where it sent one. Minutes of coverage: records x the logger's interval (HJ 75-2017
/ GB 3095-2012 Table 4: 45 minutes make an hour valid)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CAPTURE = REPO.parent / "shared" / "data" / "hj212_capture_2016-08-24"  # shared/ beside the clone

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # ~6 min of onboarding on 2 cores


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("capture_e2e", REPO / "bench" / "capture_e2e.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["capture_e2e"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result(tmp_path_factory):  # type: ignore[no-untyped-def]
    if not any(CAPTURE.glob("*.h212*")):
        pytest.skip(f"{CAPTURE} not available")
    bench = _bench()
    return bench.run(tmp_path_factory.mktemp("capture") / "home", CAPTURE, bench.DAY, echo=False)


def test_every_onboarding_step_succeeds(result) -> None:
    failed = result.failed
    assert failed is None, (
        f"{failed.name}: {' '.join(failed.argv[:4])} … exit {failed.returncode}\n{failed.tail}"
    )
    names = [s.name for s in result.steps]
    for step in ("hj212 ingest", "hj212 unknown", "registry enrol", "deadletters retry", "load", "qc run",
                 "aggregate hourly"):  # fmt: skip
        assert step in names


def test_complete_pollutant_hours_have_a_valid_official_value(result) -> None:
    """The issue's acceptance, per (logger, pollutant, hour) — pollutants being the parameters
    measured as a mass concentration, and pH: >= 99 % valid. (Measured 2026-12-02: 11,595 of 11,681,
    99.26 %; the misses are COD <= 0 mg/L and pH 0 from a few loggers, which QC fails as
    physically impossible.) A shut-down hour keeps its valid value, marked not operating."""
    f = result.figures
    assert f["pollutant_complete_hours"] > 10_000
    assert f["pollutant_complete_hours_valid"] >= 0.99 * f["pollutant_complete_hours"]


def test_complete_hours_have_a_valid_official_value(result) -> None:
    """Every complete hour is valid unless the facility was not operating (HJ 75-2017: no value is
    judged in a shut-down hour) or QC failed its minute data (fewer than 45 minutes passed, e.g. a
    frozen analyser); of the operating hours with 45 minutes passing QC, at least 99 % are valid.
    (Measured 2026-12-02 04:00 UTC: 26,224 of 29,337 complete hours valid in all (89.4 %); the
    3,113 others are 1,515 shut-down hours and 1,598 QC-failed hours; 19,636 of 19,636 of the
    rest valid.)"""
    f = result.figures
    assert f["complete_hours"] > 10_000  # the capture's 600 s loggers alone give ~29,000
    causes = f["invalid_causes"]
    explained = {"not operating (shut-down hour)", "QC failed the minute data (< 45 min passed)"}
    assert set(causes) <= explained, causes
    assert f["operating_qc_passed_valid"] >= 0.99 * f["operating_qc_passed_hours"], f[
        "invalid_reasons"
    ]
    assert f["operating_qc_passed_hours"] > 0.5 * f["complete_hours"]


def test_official_value_is_the_logger_own_where_it_sent_one(result) -> None:
    f = result.figures
    assert f["valid_with_logger_value"] > 0.5 * f["complete_hours_with_logger_value"]
    assert f["official_equals_logger"] >= 0.99 * f["valid_with_logger_value"]


def test_hour_labels_and_intervals_found(result) -> None:
    """Issue #17 measured on this capture: most minute data 600 s apart, and the end label fitting
    239 of 283 loggers; both labels occur."""
    habits = result.figures["habits"]
    by_label: dict[str, int] = {}
    by_interval: dict[int, int] = {}
    for interval, label, n in habits:
        by_label[label] = by_label.get(label, 0) + n
        by_interval[interval] = by_interval.get(interval, 0) + n
    assert by_label.get("end", 0) > by_label.get("start", 0) > 0
    assert max(by_interval, key=by_interval.get) == 600


def test_minute_and_hour_values_agree_once_labelled(result) -> None:
    """Taken all as start-labelled, 54 % of the pairs agreed within 1 %; all as end-labelled 69 %
    (issue #17). With each logger's own label the agreement must beat both."""
    f = result.figures
    assert f["agreement_pairs"] > 0
    assert f["agree_within_1pct"] > 0.69 * f["agreement_pairs"]
