"""Who acts and when (envmon.cli.acting): --at is local time and never later than now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import EnvmonError
from envmon.cli.acting import action_time

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # 16:00 in Beijing


def test_at_is_local_time_and_defaults_to_now() -> None:
    assert action_time(None, NOW) == NOW
    assert action_time(datetime(2026, 12, 1, 10, 0), NOW) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert action_time(datetime(2026, 12, 2, 16, 0), NOW) == NOW  # exactly now: allowed


def test_a_time_later_than_now_is_refused() -> None:
    with pytest.raises(EnvmonError, match=r"--at 2026-12-02T16:01:00\+08:00 is later than now \(2026-12-02T16:00:00\+08:00\)"):
        action_time(datetime(2026, 12, 2, 16, 1), NOW)
