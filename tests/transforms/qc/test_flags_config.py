"""The flag scale, the configuration loader's errors and the configuration hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qcdata import QC_YAML

from core.errors import ConfigError
from transforms.qc.config import load_qc_config
from transforms.qc.flags import NOT_EVALUATED, Flag, parse_flag, worst
from transforms.qc.source_flags import load_source_flags

KNOWN = ["pm25", "pm10", "so2", "o2"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qc.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flag_order_and_worst() -> None:
    assert Flag.PASS < Flag.SUSPECT < Flag.FAIL < Flag.MISSING
    got = worst(np.array([0, 1, 2, 0], np.int8), np.array([1, 0, 3, 0], np.int8))
    assert got.tolist() == [1, 1, 3, 0]
    assert Flag(2).label == "fail" and parse_flag("suspect") == Flag.SUSPECT
    # the view that gives every reading its verdict speaks the same words
    view = (Path(__file__).parents[3] / "warehouse" / "views" / "020_readings_qc.sql").read_text(encoding="utf-8")
    assert all(f"'{f.label}'" in view for f in Flag) and f"'{NOT_EVALUATED}'" in view


def test_source_flag_table_follows_hj212() -> None:
    table = load_source_flags()
    assert table.verdict("N") == Flag.PASS and table.verdict(None) == Flag.PASS
    assert {f for f in "FMSDCB" if table.verdict(f) == Flag.FAIL} == set("FMSDCB")
    assert table.verdict("T") == Flag.SUSPECT
    assert table.verdict("Z") == Flag.SUSPECT  # unknown letter: suspect
    assert all(sf.standard.startswith("HJ 212") for k, sf in table.flags.items() if k != "BDL")


def test_one_flag_table_for_the_contract_and_qc() -> None:
    """Every flag the reading contract lets in has a QC verdict (core/reading_flags.csv is the one
    table): a lab result below the detection limit (BDL, HJ/T 91-2002 'L' mark) is valid data."""
    from core.contract import reading_flags
    from transforms.qc.flags import VALID_FLAGS
    from transforms.qc.source_flags import FLAG_BELOW_DETECTION

    table = load_source_flags()
    assert set(table.flags) == set(reading_flags())
    assert all((sf.verdict in VALID_FLAGS) == reading_flags()[k][1] for k, sf in table.flags.items())
    assert table.verdict(FLAG_BELOW_DETECTION) == Flag.PASS


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("X,x,true,fail,x,s,c,n", "'X': usable=true contradicts verdict 'fail'"),
        ("X,x,maybe,fail,x,s,c,n", "column 'usable': 'maybe'; valid: true, false"),
        ("X,x,true,fine,x,s,c,n", "column 'verdict': unknown flag 'fine'"),
    ],
)
def test_a_contradictory_flag_row_fails_at_load_naming_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    from transforms.qc.source_flags import SOURCE_FLAGS_CSV

    path = tmp_path / "reading_flags.csv"
    path.write_text(SOURCE_FLAGS_CSV.read_text(encoding="utf-8") + row + "\n", encoding="utf-8")
    line = len(path.read_text(encoding="utf-8").splitlines())
    with pytest.raises(ValueError) as err:
        load_source_flags(path)
    assert f"{path}:{line}: " in str(err.value) and message in str(err.value)


def test_any_kind_is_merged_under_the_kind(tmp_path: Path) -> None:
    text = ("parameters:\n  pm10:\n    any:\n      flat_line: {periods: 9}\n      non_positive: {allow_zero: false}\n"
            "    air:\n      flat_line: {periods: 3}\n")
    cfg = load_qc_config(write(tmp_path, text), KNOWN)
    air, water = cfg.checks_for("pm10", "air"), cfg.checks_for("pm10", "water")
    assert air.flat_line.periods == 3 and air.non_positive.allow_zero is False
    assert water.flat_line.periods == 9 and cfg.checks_for("pm25", "air").flat_line is None


def test_hash_changes_with_configuration_not_with_comments(tmp_path: Path) -> None:
    a = load_qc_config(write(tmp_path, QC_YAML), KNOWN).config_hash
    b = load_qc_config(write(tmp_path, "# a comment\n" + QC_YAML), KNOWN).config_hash
    c = load_qc_config(write(tmp_path, QC_YAML.replace("flat_line: {periods: 4}", "flat_line: {periods: 5}")), KNOWN).config_hash
    assert len(a) == 64 and a == b and a != c


def test_unknown_check_names_file_path_and_choices(tmp_path: Path) -> None:
    path = write(tmp_path, QC_YAML.replace("flat_line: {periods: 4}", "flat_lin: {periods: 4}"))
    with pytest.raises(ConfigError) as err:
        load_qc_config(path, KNOWN)
    msg = str(err.value)
    assert str(path) in msg
    assert "parameters.pm25.air: unknown check 'flat_lin'; valid checks: gross_range, flat_line, spike, rate_of_change, non_positive" in msg


def test_unknown_parameter_and_site_kind(tmp_path: Path) -> None:
    path = write(tmp_path, QC_YAML + "  pm1:\n    air:\n      flat_line: {periods: 3}\n"
                 "  o2:\n    stack:\n      flat_line: {periods: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_qc_config(path, KNOWN)
    msg = str(err.value)
    assert f"{path}: parameters.pm1: unknown parameter 'pm1'; valid parameters: o2, pm10, pm25, so2" in msg
    assert f"{path}: parameters.o2.stack: unknown site kind 'stack'; valid site kinds: air, water, noise, outlet, any" in msg


def test_bad_threshold_and_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, QC_YAML.replace("flat_line: {periods: 4}", "flat_line: {periods: 1, colour: red}"))
    with pytest.raises(ConfigError) as err:
        load_qc_config(path, KNOWN)
    assert f"{path}: parameters.pm25.air.flat_line: unknown key 'colour'; valid keys: flag, periods, tolerance" in str(err.value)
    path = write(tmp_path, QC_YAML.replace("flat_line: {periods: 4}", "flat_line: {periods: 1}"))
    with pytest.raises(ConfigError, match=r"parameters\.pm25\.air\.flat_line\.periods: Input should be greater than or equal to 2"):
        load_qc_config(path, KNOWN)


def test_repository_configuration_is_valid() -> None:
    repo = Path(__file__).resolve().parents[3]
    cfg = load_qc_config(repo / "config" / "qc.yaml")
    assert cfg.file.transmission_efficiency.required == 0.90


def test_o2_cap_has_one_definition_the_standards_table() -> None:
    """The bureau's QC configuration takes the O2 cap of the shut-down rule
    (transforms/standards/tables/emission_o2_cap.csv) unless it sets its own."""
    from core.settings import REPO_ROOT
    from transforms.qc.config import O2Correction
    from transforms.standards.emissions import o2_cap_pct

    shipped = load_qc_config(REPO_ROOT / "config" / "qc.yaml")
    o2 = shipped.file.consistency.o2_correction
    assert o2 is not None and o2.o2_max_pct is None
    assert o2.max_pct == o2_cap_pct() == 20.0  # review T9: the higher end of "~19–20 %"
    assert O2Correction(o2_max_pct=19.5).max_pct == 19.5  # a local override wins
