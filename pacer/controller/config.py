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
    # Run the scheduler in a worker thread. It is pure CPU; on the event loop
    # it would hold up everything else this process does, this node's
    # heartbeats included, for as long as it runs (500 resources on 16 nodes:
    # 0.1-0.25 s, against the 0.25 s of silence after which peers depose a
    # controller). The fault simulator schedules inline: its virtual time has
    # no threads.
    schedule_in_thread: bool = True

    @property
    def default_watchdog_timeout(self) -> float:
        return self.watchdog_timeout if self.watchdog_timeout is not None else 2 * self.lease_ttl
