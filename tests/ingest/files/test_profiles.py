"""Profiles are validated at load: the file, the key and the valid choices are named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.registry.config import load_registry
from core.settings import REPO_ROOT
from ingest.files.profiles import load_profiles


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "config" / "registry", tmp_path / "registry")
    shutil.copytree(REPO_ROOT / "config" / "formats", tmp_path / "formats")
    return tmp_path


def test_shipped_profiles_load() -> None:
    config = REPO_ROOT / "config"
    profiles = load_profiles(config, load_registry(config))
    assert set(profiles) >= {"beijing_prsa", "water_lab_xlsx", "noise_survey_csv", "generic_long_csv", "generic_long_jsonl"}


@pytest.mark.parametrize(("edit", "expected"), [
    (("on_bad_row: skip_row", "on_bad_row: skip"), "on_bad_row: Input should be 'skip_row' or 'reject_file'"),
    (("interval_s: 3600", "interval_s: 3600\nintervall: 3"), "unknown key 'intervall'; valid keys:"),
    (("parameter: pm25", "parameter: pm2.5"), "values[0].parameter: unknown parameter 'pm2.5'; valid choices: co, cod"),
    (("CO, parameter: co, unit: ug/m3", "CO, parameter: co, unit: dB(A)"), "values[4].unit: unit 'dB(A)' cannot be converted to 'mg/m3' (co); valid choices: mg/m3, ug/m3"),
    (("Dongsi: dongsi", "Dongsi: dongsi_x"), "site.names.Dongsi: unknown site 'dongsi_x'"),
    (("timezone: Asia/Shanghai", "timezone: Asia/Beijing"), "timezone: unknown time zone 'Asia/Beijing'"),
])
def test_invalid_profile_fails_naming_file_key_and_choices(config: Path, edit: tuple[str, str], expected: str) -> None:
    path = config / "formats" / "beijing_prsa.yaml"
    text = path.read_text(encoding="utf-8")
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profiles(config, load_registry(config))
    assert str(path) in str(err.value)
    assert expected in str(err.value)
