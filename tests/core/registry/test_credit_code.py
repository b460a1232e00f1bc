"""The unified social credit code (统一社会信用代码, GB 32100-2015): the check character on the
standard's worked example and on both sides of it, every demo enterprise's code well-formed, and
a registry with a mistyped code refused at load naming file, enterprise and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from core.registry.config import load_registry
from core.registry.credit_code import WEIGHTS, check_character, credit_code_problem

CONFIG = Path(__file__).resolve().parents[3] / "config"

# GB 32100-2015's worked example (as reproduced from the standard): for 91350100M000100Y4 the
# values are 9 1 3 5 0 1 0 0 21 0 0 0 1 0 0 30 4, the weights 1 3 9 27 19 26 16 17 20 29 25 13 8
# 24 10 30 28, the sum 1640, 1640 mod 31 = 28, C18 = 31 - 28 = 3; the example's '...Y4Z' fails.
EXAMPLE = "91350100M000100Y4"


def test_weights_are_3_to_the_power_of_i_minus_1_mod_31() -> None:
    assert WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_the_standards_worked_example() -> None:
    assert check_character(EXAMPLE) == "3"
    assert credit_code_problem(EXAMPLE + "3") is None
    assert "its 18th character is '2', the first 17 give '3'" in credit_code_problem(EXAMPLE + "2")
    assert "not shaped" in credit_code_problem(EXAMPLE + "Z")  # Z is never used


def test_a_remainder_of_0_gives_0_and_of_1_gives_y() -> None:
    # '1000000000000000M': 1*1 + 21 (M)*28 = 589 = 19*31 -> remainder 0 -> 31 - 0 = 31, written 0
    assert check_character("1000000000000000M") == "0"
    # '2000000000000000M': 2 + 588 = 590 -> remainder 1 -> 30 = Y (the last character)
    assert check_character("2000000000000000M") == "Y"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y4", "has 17 characters"),
        ("91350100M000100Y433", "has 19 characters"),
        ("91350100m000100Y43", "not shaped"),  # lower case
        ("9135010AM000100Y43", "not shaped"),  # a letter in the division code
        ("91350100M00O100Y43", "not shaped"),  # O is never used
    ],
)
def test_malformed_codes_are_named(code: str, reason: str) -> None:
    assert reason in credit_code_problem(code)


def test_every_demo_enterprise_has_a_valid_code() -> None:
    reg = load_registry(CONFIG)
    codes = [e.credit_code for e in reg.enterprises.values()]
    assert len(codes) == len(reg.enterprises) == len(set(codes))
    assert all(c is not None and credit_code_problem(c) is None for c in codes)
    assert all(c.startswith("911101") for c in codes)  # enterprises registered in Beijing


def _with_code(tmp_path: Path, code: object) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG / "registry", target / "registry")
    path = target / "registry" / "enterprises.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["enterprises"][1]["credit_code"] = code
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def test_a_mistyped_code_is_refused_at_load_naming_file_enterprise_and_field(tmp_path: Path) -> None:
    good = load_registry(CONFIG).enterprises["guohua_thermal"].credit_code
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(ConfigError) as err:
        load_registry(_with_code(tmp_path, wrong))
    assert (
        f"config/registry/enterprises.yaml: enterprises[1]: enterprise 'guohua_thermal': credit_code "
        f"{wrong!r} fails the GB 32100-2015 check: its 18th character is {wrong[17]!r}, the first 17 "
        f"give {good[17]!r} (mistyped?)"
    ) in str(err.value)


def test_a_code_yaml_read_as_a_number_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"enterprises\[1\]\.credit_code: 911101051033044886 was read as a "
                                          r"number: quote the code"):
        load_registry(_with_code(tmp_path, 911101051033044886))
