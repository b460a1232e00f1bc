from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import REPO_ROOT, load_settings


def test_home_is_the_root_of_all_state(tmp_path: Path) -> None:
    s = load_settings({"ENVMON_HOME": str(tmp_path)})
    assert s.warehouse_path == tmp_path / "warehouse.duckdb"
    assert s.landing_root == str(tmp_path / "landing")
    assert s.site_dir == tmp_path / "site"
    assert s.quarantine_dir == tmp_path / "quarantine"
    assert s.config_dir == REPO_ROOT / "config"


def test_each_piece_can_be_set_on_its_own(tmp_path: Path) -> None:
    s = load_settings({
        "ENVMON_HOME": str(tmp_path / "home"),
        "ENVMON_WAREHOUSE": str(tmp_path / "elsewhere.duckdb"),
        "ENVMON_LANDING": "s3://bucket/landing",
    })
    assert s.warehouse_path == tmp_path / "elsewhere.duckdb"
    assert s.landing_root == "s3://bucket/landing"
    assert s.site_dir == tmp_path / "home" / "site"


def test_settings_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("mqtt_port: 18830\ntimezone: Asia/Urumqi\n", encoding="utf-8")
    s = load_settings({"ENVMON_HOME": str(tmp_path)})
    assert (s.mqtt_port, s.timezone) == (18830, "Asia/Urumqi")
    s = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_MQTT_PORT": "1999"})
    assert s.mqtt_port == 1999


def test_unknown_key_names_file_key_and_choices(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("mqtt_prot: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings({"ENVMON_HOME": str(tmp_path)})
    msg = str(err.value)
    assert str(tmp_path / "settings.yaml") in msg and "'mqtt_prot'" in msg and "mqtt_port" in msg


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_TZ": "Mars/Olympus"})
    assert "timezone" in str(err.value) and "Mars/Olympus" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_MQTT_PORT": "70000"})
    assert "mqtt_port" in str(err.value)
