"""The controller's knobs, with the defaults an operator gets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ControllerConfig:
    node: str
    # The nodes' lease TTL (seconds): watchdog fencing waits a multiple of it.
    lease_ttl: float = 2.0
    # Seconds to wait, after a lost node's lease is gone, before its resources
    # count as stopped when no fence device can fence it (Pacemaker's
    # stonith-watchdog-timeout; the definition's property wins). None: 2 × TTL.
    watchdog_timeout: float | None = None
    # Coalesce bursts of changes: wait this long after a change before
    # re-reading the cluster (seconds).
    settle: float = 0.02
    # Give up waiting for an action's result this long after its own timeout
    # (the node daemon enforces the timeout; this covers a lost report).
    result_grace: float = 10.0
    # At most this many actions in flight per transition (0: no limit;
    # Pacemaker's batch-limit).
    batch_limit: int = 0

    @property
    def default_watchdog_timeout(self) -> float:
        return self.watchdog_timeout if self.watchdog_timeout is not None else 2 * self.lease_ttl
