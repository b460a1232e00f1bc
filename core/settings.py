"""Settings: one YAML file plus ENVMON_* environment variables.

ENVMON_HOME (default ./var) is the root of every piece of state (warehouse file, landing zone,
published site, logs) unless a piece is set on its own, so two installations or two tests never
share state by accident. Precedence: environment variable > settings file > default.

The settings file is ENVMON_SETTINGS if set, else $ENVMON_HOME/settings.yaml if it exists.
An unknown key or a bad value fails at load time naming the file, the key and the valid choices.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError, format_validation_error
from core.strict import TimeZoneName

REPO_ROOT = Path(__file__).resolve().parent.parent

# How the HJ 633-2012 real-time (hourly) AQI is read: as the national platform (CNEMC) published
# it, or by the letter of HJ 633-2012 §5 (transforms/standards/tables/aqi_indicators.csv `reading`).
AqiRealtimeReading = Literal["national_practice", "literal"]
DEFAULT_AQI_REALTIME_READING: AqiRealtimeReading = "national_practice"


class Settings(BaseModel):
    """Resolved settings. Paths may be local paths or URLs (s3://, file://) where noted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(description="root of all state unless set piecewise")
    warehouse_path: Path = Field(description="the DuckDB file")
    landing_root: str = Field(description="landing zone root: a path or an s3://-style URL")
    site_dir: Path = Field(description="published website root")
    config_dir: Path = Field(description="the site's configuration (registry, rules, formats)")
    timezone: TimeZoneName = "Asia/Shanghai"
    lock_timeout_s: float = Field(default=600.0, ge=0)
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_max_payload_bytes: int = Field(
        default=262144, ge=1024, description="largest MQTT payload the ingestor takes (bytes); larger: one dead letter"
    )
    mqtt_max_values: int = Field(
        default=1000, ge=1, description="most values one MQTT station message may carry; more: one dead letter"
    )
    hj212_host: str = "127.0.0.1"
    hj212_port: int = Field(default=9212, ge=0, le=65535)
    hj212_login_failures_mn: int = Field(
        default=5, ge=1, description="failed HJ 212 logins of one MN within the window that lock it"
    )
    hj212_login_failures_peer: int = Field(
        default=10, ge=1, description="failed HJ 212 logins from one host within the window that lock the host"
    )
    hj212_login_window_s: float = Field(default=600.0, gt=0, description="window of the failed-login counts (s)")
    hj212_login_lockout_s: float = Field(
        default=300.0, gt=0, le=86400, description="how long a locked MN or host is refused unchecked (s)"
    )
    hj212_max_connections_per_peer: int = Field(
        default=200, ge=1, description="open HJ 212 connections one host may hold (loggers behind one NAT share a host)"
    )
    compact_after_days: int = Field(default=2, ge=1, description="merge loaded landing batches older than this")
    landing_retention_days: int | None = Field(
        default=90, ge=1, description="remove loaded landing partitions older than this (null: keep)"
    )
    duckdb_memory_limit: str = Field(
        default="4GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's buffer memory per connection (its default is 80% of RAM); beyond it, it spills",
    )
    duckdb_temp_dir: Path | None = Field(
        default=None, description="where DuckDB spills (default: $ENVMON_HOME/tmp/duckdb)"
    )
    reading_earliest: date = Field(
        default=date(2000, 1, 1),
        description="no reading may start before this day (a 1900 or 1970 DataTime is a reset clock)",
    )
    reading_max_future_s: float = Field(
        default=600.0, ge=0, le=86400,
        description="how far ahead of the clock a reading may start (clock drift), in seconds",
    )
    file_max_bytes: int = Field(
        default=512 << 20, ge=1, description="largest input file (as stored, before decompression) ingested"
    )
    file_max_decompressed_bytes: int = Field(
        default=512 << 20, ge=1, description="largest decompressed content of a .gz input file"
    )
    file_max_gzip_ratio: float = Field(
        default=100.0, gt=1, description="largest decompressed/compressed ratio of a .gz input (a gzip bomb)"
    )
    file_max_rows: int = Field(default=5_000_000, ge=1, description="most data lines/rows in one input file")
    file_max_line_bytes: int = Field(
        default=1 << 20, ge=64, description="longest line (CSV, JSON lines) of an input file, in bytes"
    )
    landing_tmp_max_age_s: float = Field(
        default=3600.0, ge=60, description="a landing `.tmp-*` file older than this is a crash's leftover, removed"
    )
    aqi_realtime_reading: AqiRealtimeReading = Field(
        default=DEFAULT_AQI_REALTIME_READING,
        description="HJ 633-2012 real-time AQI: national_practice (PM IAQI from the 1-h values, O3 from"
        " its 1-h value only, as CNEMC published) or literal (HJ 633-2012 §5: PM from the 24-h"
        " moving means, plus an O3 8-h IAQI); HJ 633-2026 hours are the same either way",
    )
    web_host: str = Field(default="127.0.0.1", description="address `envmon web serve` binds (the staff console)")
    web_port: int = Field(default=8700, ge=1, le=65535, description="port of the staff console")
    web_base_url: str = Field(
        default="", description="the console's public address (https://… behind a reverse proxy: Secure cookies); "
        "empty: http://web_host:web_port")
    web_session_minutes: int = Field(default=60, ge=5, le=720, description="a console session ends this long after its last use")
    web_upload_max_bytes: int = Field(default=10 << 20, ge=1024, description="largest attachment uploaded to the console")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duckdb_spill_dir(self) -> Path:
        return self.duckdb_temp_dir or self.home / "tmp" / "duckdb"

    @property
    def quarantine_dir(self) -> Path:
        """Where the warehouse loader moves landing batches it cannot read (always local)."""
        return self.home / "quarantine"

    @property
    def inbox_dir(self) -> Path:
        return self.home / "inbox"

    @property
    def log_dir(self) -> Path:
        return self.home / "log"


# Keys a settings file may hold, with the ENVMON_* variable that overrides each.
_ENV = {
    "warehouse_path": "ENVMON_WAREHOUSE",
    "landing_root": "ENVMON_LANDING",
    "site_dir": "ENVMON_SITE_DIR",
    "config_dir": "ENVMON_CONFIG_DIR",
    "timezone": "ENVMON_TZ",
    "lock_timeout_s": "ENVMON_LOCK_TIMEOUT_S",
    "mqtt_host": "ENVMON_MQTT_HOST",
    "mqtt_port": "ENVMON_MQTT_PORT",
    "mqtt_max_payload_bytes": "ENVMON_MQTT_MAX_PAYLOAD_BYTES",
    "mqtt_max_values": "ENVMON_MQTT_MAX_VALUES",
    "hj212_host": "ENVMON_HJ212_HOST",
    "hj212_port": "ENVMON_HJ212_PORT",
    "hj212_login_failures_mn": "ENVMON_HJ212_LOGIN_FAILURES_MN",
    "hj212_login_failures_peer": "ENVMON_HJ212_LOGIN_FAILURES_PEER",
    "hj212_login_window_s": "ENVMON_HJ212_LOGIN_WINDOW_S",
    "hj212_login_lockout_s": "ENVMON_HJ212_LOGIN_LOCKOUT_S",
    "hj212_max_connections_per_peer": "ENVMON_HJ212_MAX_CONNECTIONS_PER_PEER",
    "compact_after_days": "ENVMON_COMPACT_AFTER_DAYS",
    "landing_retention_days": "ENVMON_LANDING_RETENTION_DAYS",
    "duckdb_memory_limit": "ENVMON_DUCKDB_MEMORY_LIMIT",
    "duckdb_temp_dir": "ENVMON_DUCKDB_TEMP_DIR",
    "reading_earliest": "ENVMON_READING_EARLIEST",
    "reading_max_future_s": "ENVMON_READING_MAX_FUTURE_S",
    "file_max_bytes": "ENVMON_FILE_MAX_BYTES",
    "file_max_decompressed_bytes": "ENVMON_FILE_MAX_DECOMPRESSED_BYTES",
    "file_max_gzip_ratio": "ENVMON_FILE_MAX_GZIP_RATIO",
    "file_max_rows": "ENVMON_FILE_MAX_ROWS",
    "file_max_line_bytes": "ENVMON_FILE_MAX_LINE_BYTES",
    "landing_tmp_max_age_s": "ENVMON_LANDING_TMP_MAX_AGE_S",
    "aqi_realtime_reading": "ENVMON_AQI_REALTIME_READING",
    "web_host": "ENVMON_WEB_HOST",
    "web_port": "ENVMON_WEB_PORT",
    "web_base_url": "ENVMON_WEB_BASE_URL",
    "web_session_minutes": "ENVMON_WEB_SESSION_MINUTES",
    "web_upload_max_bytes": "ENVMON_WEB_UPLOAD_MAX_BYTES",
}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    valid = sorted([*_ENV, "home"])
    for key in data:
        if key not in valid:
            raise ConfigError(f"{path}: unknown key {key!r}; valid keys: {', '.join(valid)}")
    return data


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Resolve settings from the environment (default os.environ) and the settings file."""
    env = dict(os.environ if env is None else env)
    home_env = env.get("ENVMON_HOME")
    settings_file = env.get("ENVMON_SETTINGS")
    home = Path(home_env or "var").expanduser()
    candidate = Path(settings_file) if settings_file else home / "settings.yaml"
    if settings_file and not candidate.is_file():
        raise ConfigError(f"ENVMON_SETTINGS={settings_file}: no such file")
    raw: dict[str, Any] = _read_file(candidate) if candidate.is_file() else {}
    source = str(candidate) if candidate.is_file() else "environment"
    if "home" in raw and not home_env:
        home = Path(raw["home"]).expanduser()
    home = home.absolute()
    values: dict[str, Any] = {
        "home": home,
        "warehouse_path": home / "warehouse.duckdb",
        "landing_root": str(home / "landing"),
        "site_dir": home / "site",
        "config_dir": REPO_ROOT / "config",
    }
    values.update({k: v for k, v in raw.items() if k != "home"})
    values.update({key: env[var] for key, var in _ENV.items() if env.get(var)})
    for key in ("warehouse_path", "site_dir", "config_dir", "duckdb_temp_dir"):
        if values.get(key) is not None:
            values[key] = Path(values[key]).expanduser().absolute()
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return load_settings()


def get_settings() -> Settings:
    """Settings of this process (environment read once)."""
    return _cached()


def reset_settings_cache() -> None:
    """Forget cached settings (tests and the CLI's --home change the environment)."""
    _cached.cache_clear()
