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

from pacer.node.config import NodeConfig
from pacer.node.watchdog import Watchdog
from pacer.store.base import LeaseNotFound, Store, StoreError
from pacer.store.clock import Clock


def self_fence_deadline(send_time: float, ttl: float, margin: float) -> float:
    return send_time + ttl - margin


class LeaseKeeper:
    """One lease of one incarnation: `grant()`, then `run()` and `expired()`."""

    def __init__(self, store: Store, clock: Clock, config: NodeConfig, watchdog: Watchdog,
                 log: logging.LoggerAdapter) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self.watchdog = watchdog
        self.log = log
        self.lease_id = 0
        self.deadline = -math.inf
        self.last_confirmed_send = -math.inf
        # Set when the store said the lease is gone (revoked, expired, fenced).
        self.lost = asyncio.Event()

    def _confirmed(self, send: float) -> None:
        self.last_confirmed_send = max(self.last_confirmed_send, send)
        self.deadline = self_fence_deadline(self.last_confirmed_send, self.config.lease_ttl,
                                            self.config.margin_s)
        self.watchdog.feed()

    async def grant(self) -> int:
        """A fresh lease (raises StoreUnavailable). The grant counts as the first
        keepalive: the lease lives at least TTL from the moment it was asked for."""
        send = self.clock.now()
        lease = await self.store.grant(self.config.lease_ttl)
        self.lease_id = lease.id
        self.lost.clear()
        self._confirmed(send)
        return lease.id

    def remaining(self) -> float:
        return self.deadline - self.clock.now()

    async def run(self) -> None:
        """Keepalives every `keepalive_s` until the deadline passes or the lease is gone."""
        interval = self.config.keepalive_s
        failures = 0
        while True:
            send = self.clock.now()
            left = self.deadline - send
            if left <= 0:
                return
            try:
                # One attempt may not take the whole time left: a keepalive sent
                # to an etcd member whose leader just died hangs until a new
                # leader is elected, and the retry that follows is the one that
                # gets through (found in the lab: survivors of the etcd
                # leader's host self-fenced).
                async with asyncio.timeout(min(left, interval)):
                    await self.store.keepalive(self.lease_id)
            except LeaseNotFound:
                self.log.error("lease %x is gone (expired or revoked)", self.lease_id)
                self.lost.set()
                return
            except (StoreError, TimeoutError) as exc:
                failures += 1
                if failures == 1 or failures % 8 == 0:
                    self.log.warning("keepalive of lease %x failed (%d in a row; %.2f s to "
                                     "the self-fence deadline): %s", self.lease_id, failures,
                                     max(0.0, self.remaining()), exc or "timed out")
                # Try again soon, not at the next interval: the deadline is near.
                await asyncio.sleep(interval / 5)
                continue
            else:
                if failures:
                    self.log.info("keepalive of lease %x works again", self.lease_id)
                failures = 0
                self._confirmed(send)
            await asyncio.sleep(max(0.0, send + interval - self.clock.now()))

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
