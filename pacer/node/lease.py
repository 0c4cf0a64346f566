"""The node's lease: grant, keepalive, and until when it is safe to act.

A keepalive etcd confirmed proves the lease lives until *the moment it was
sent* + TTL (the answer may arrive late; etcd may extend a lease, never
shorten it). So the self-fence deadline is counted from the send time:

    deadline = last_confirmed_send + lease_ttl - self_fence_margin

Every keepalive is bounded by the time left to the deadline, so a store that
hangs instead of refusing cannot hold the keeper past it. The deadline is
watched separately from the keepalive loop (`expired()`), so it fires on time
whatever the loop is waiting for.
"""

from __future__ import annotations

import asyncio
import logging
import math

from pacer.clock import Clock
from pacer.node.config import NodeConfig
from pacer.node.watchdog import Watchdog
from pacer.store.base import LeaseNotFound, StoreError
from pacer.store.cluster import ClusterStore


class LeaseGone(Exception):
    """The lease can no longer be proven alive: nothing more may start under it."""

    def __init__(self, lease_id: int) -> None:
        super().__init__(f"lease {lease_id:x} can no longer be proven alive")
        self.lease_id = lease_id


def self_fence_deadline(send_time: float, ttl: float, margin: float) -> float:
    return send_time + ttl - margin


class LeaseKeeper:
    """One lease of one incarnation: `grant()`, then `run()` and `expired()`."""

    def __init__(self, cluster: ClusterStore, clock: Clock, config: NodeConfig,
                 watchdog: Watchdog, log: logging.LoggerAdapter) -> None:
        self.cluster = cluster
        self.clock = clock
        self.config = config
        self.watchdog = watchdog
        self.log = log
        self.lease_id = 0
        self.deadline = -math.inf
        self.last_confirmed_send = -math.inf
        # Set when the store said the lease is gone (revoked, expired, fenced).
        self.lost = asyncio.Event()
        self._last_error: BaseException | None = None

    def _confirmed(self, send: float) -> None:
        self.last_confirmed_send = max(self.last_confirmed_send, send)
        self.deadline = self_fence_deadline(self.last_confirmed_send, self.config.lease_ttl,
                                            self.config.margin_s)
        self.watchdog.feed()

    async def grant(self) -> int:
        """A fresh lease (raises StoreUnavailable). The grant counts as the first
        keepalive: the lease lives at least TTL from the moment it was asked for."""
        send = self.clock.now()
        lease = await self.cluster.grant_lease(self.config.lease_ttl)
        self.lease_id = lease.id
        self.lost.clear()
        self._confirmed(send)
        return lease.id

    def remaining(self) -> float:
        return self.deadline - self.clock.now()

    async def _keepalive(self) -> float | None:
        """One keepalive, bounded by the time left: the moment it was sent when
        etcd confirmed it, None when it failed. Raises LeaseGone when the
        deadline has passed or etcd says the lease is gone."""
        send = self.clock.now()
        left = self.deadline - send
        if left <= 0 or self.lost.is_set():
            raise LeaseGone(self.lease_id)
        try:
            # One attempt may not take the whole time left: a keepalive sent
            # to an etcd member whose leader just died hangs until a new
            # leader is elected, and the retry that follows is the one that
            # gets through (found in the lab: survivors of the etcd
            # leader's host self-fenced).
            async with asyncio.timeout(min(left, self.config.keepalive_s)):
                await self.cluster.keepalive(self.lease_id)
        except LeaseNotFound:
            self.log.error("lease %x is gone (expired or revoked)", self.lease_id)
            self.lost.set()
            raise LeaseGone(self.lease_id) from None
        except (StoreError, TimeoutError) as exc:
            self._last_error = exc
            return None
        self._confirmed(send)
        return send

    async def run(self) -> None:
        """Keepalives every `keepalive_s` until the deadline passes or the lease is gone."""
        interval = self.config.keepalive_s
        failures = 0
        while True:
            try:
                send = await self._keepalive()
            except LeaseGone:
                return
            if send is None:
                failures += 1
                if failures == 1 or failures % 8 == 0:
                    self.log.warning("keepalive of lease %x failed (%d in a row; %.2f s to "
                                     "the self-fence deadline): %s", self.lease_id, failures,
                                     max(0.0, self.remaining()),
                                     self._last_error or "timed out")
                # Try again soon, not at the next interval: the deadline is near.
                await asyncio.sleep(interval / 5)
                continue
            if failures:
                self.log.info("keepalive of lease %x works again", self.lease_id)
            failures = 0
            await asyncio.sleep(max(0.0, send + interval - self.clock.now()))

    async def confirm_fresh(self) -> None:
        """Return once a keepalive sent *now* has been confirmed, with the
        self-fence deadline still ahead; raise `LeaseGone` once it cannot be.

        Called right before an agent action that could make something run.
        The deadline alone cannot be trusted at that moment: after a stall
        (a blocked loop, a frozen process, a suspended host, a paused VM)
        asyncio may run the callbacks that were waiting — a request just
        accepted — before the timer that would have ended the membership, and
        no local clock sees a hypervisor pause. An answer from etcd to a
        keepalive sent after the stall does (issue 13, finding 6)."""
        while await self._keepalive() is None:
            await asyncio.sleep(self.config.keepalive_s / 5)
        if self.remaining() <= 0:
            raise LeaseGone(self.lease_id)

    async def expired(self) -> str:
        """Wait until the lease can no longer be trusted: "deadline" or "lost"."""
        while True:
            if self.lost.is_set():
                return "lost"
            left = self.remaining()
            if left <= 0:
                return "deadline"
            try:
                async with asyncio.timeout(left):
                    await self.lost.wait()
            except TimeoutError:
                pass  # look at the deadline again: a keepalive may have moved it
