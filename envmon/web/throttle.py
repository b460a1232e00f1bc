"""Failed sign-ins slowed down: after `per_user` failures for one username, or `per_address`
from one client address, within `window`, sign-ins for it are refused (429, Retry-After) until
the oldest failure leaves the window. Kept in the console process (no warehouse write: it works
while a pipeline run writes); a restart forgets it, the argon2 verification stays slow anyway."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta


class LoginThrottle:
    def __init__(self, per_user: int = 10, per_address: int = 30, window: timedelta = timedelta(minutes=15)) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window = window
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("user", username.strip().lower()), ("address", address)]

    def blocked_until(self, username: str, address: str, now: datetime) -> datetime | None:
        """When sign-ins for this username or address are allowed again (None: now)."""
        until = None
        with self._lock:
            for key in self._keys(username, address):
                times = self._failures.get(key)
                if not times:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.limits[key[0]]:
                    free = times[0] + self.window
                    until = free if until is None else max(until, free)
        return until

    def failed(self, username: str, address: str, now: datetime) -> None:
        with self._lock:
            for key in self._keys(username, address):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("user", username.strip().lower()), None)
