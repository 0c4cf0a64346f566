"""Time as an injected dependency: a real monotonic clock, or virtual time.

Lease expiry in the in-memory store and every deadline in the daemons read a
`Clock`, so the fault simulator can run hours of cluster life in milliseconds
and replay them exactly.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """Virtual time that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds

    def set(self, when: float) -> None:
        self.advance(when - self._now)
