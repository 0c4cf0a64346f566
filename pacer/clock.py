"""Time as an injected dependency: a real monotonic clock, or virtual time.

Lease expiry in the in-memory store and every deadline in the daemons (node,
controller, heartbeats) read a `Clock`, so the fault simulator can run hours
of cluster life in milliseconds and replay them exactly. It lives at the top
of the package because everything that waits uses it, not only the store.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...


# CLOCK_BOOTTIME counts the time a machine spent suspended; CLOCK_MONOTONIC
# does not. A node whose host was suspended for a minute must not wake up
# believing its lease still has a second left (issue 13, finding 6). Neither
# clock sees a hypervisor pausing the VM: the node daemon asks etcd before
# every agent action that could make something run (`LeaseKeeper.confirm_fresh`).
_CLOCK = getattr(time, "CLOCK_BOOTTIME", None)


class MonotonicClock:
    """The host's clock for deadlines: CLOCK_BOOTTIME where there is one."""

    def now(self) -> float:
        if _CLOCK is not None:
            return time.clock_gettime(_CLOCK)
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
