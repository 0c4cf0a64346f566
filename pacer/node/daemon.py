"""The node daemon: membership, the actions addressed to this node, self-fencing.

    daemon = NodeDaemon(store, clock, runner, config, wall, watchdog=...)
    task = asyncio.create_task(daemon.run())
    lease = await daemon.wait_member()      # the controller campaigns with this lease
    await daemon.membership_lost.wait()     # ... and stops when it ends
    daemon.request_shutdown()               # SIGTERM: move everything away, leave

One `run()` goes through incarnations: boot (stop what a crashed predecessor
left, empty the state_dir, install the shims), then join → serve → (lease
lost: self-fence → join again) until a clean shutdown leaves. Each membership
gets its own lease (`LeaseKeeper`) and its own `Executor`, closed when the
membership ends, so nothing accepted under one lease runs on under the next.

Time comes only from `clock` (monotonic) and `wall` (epoch seconds), waits
are asyncio waits, and agents run only through `runner`: the fault simulator
runs this same code on virtual time. Bounded waits use `asyncio.timeout`, never
`asyncio.wait_for`: on Python 3.11 wait_for swallows a cancellation that lands
as its inner call completes, which on virtual time (where instants coincide)
left tasks running after they were cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pacer.agents.api import AgentRunner
from pacer.clock import Clock
from pacer.node import statedir
from pacer.node.actions import Executor
from pacer.node.active import ACTIVE_FILE, ActiveResources
from pacer.node.config import SHIM_NAMES, NodeConfig
from pacer.node.definitions import DefinitionCache
from pacer.node.lease import LeaseKeeper
from pacer.node.selffence import stop_entries, stop_everything
from pacer.node.watchdog import NoWatchdog, Watchdog, WatchdogError
from pacer.store.base import (
    Compacted,
    LeaseNotFound,
    OutcomeUnknown,
    Store,
    StoreError,
)
from pacer.store.cluster import ClusterStore, NodeAlreadyMember, NotMember
from pacer.tasks import stop_tasks

# States, in the order a daemon usually goes through them.
BOOTING = "booting"
JOINING = "joining"
MEMBER = "member"
SELF_FENCING = "self-fencing"
SHUTTING_DOWN = "shutting-down"
STOPPED = "stopped"

SHUTDOWN_ATTRIBUTE = "shutdown"


class _NodeLog(logging.LoggerAdapter):
    """Every line names its node: the simulator and the tests run several in one process."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self.extra['node']}] {msg}", kwargs  # type: ignore[index]


class NodeDaemon:
    def __init__(self, store: Store, clock: Clock, runner: AgentRunner, config: NodeConfig,
                 wall: Callable[[], float], *, watchdog: Watchdog | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.clock = clock
        self.runner = runner
        self.config = config
        self.wall = wall
        self.watchdog: Watchdog = watchdog or NoWatchdog()
        self.log = _NodeLog(logger or logging.getLogger("pacer.node"), {"node": config.node})
        # (the raw store only through the typed layer)
        self.cluster = ClusterStore(store, config.cluster)
        self.definitions = DefinitionCache(self.cluster)
        path = config.state_dir / ACTIVE_FILE if config.state_dir is not None else None
        self.active = ActiveResources(path)
        # --- what the controller (same process) and observers read
        self.state = BOOTING
        self.lease_id = 0  # the current membership's lease; 0 while not a member
        self.incarnation = 0  # memberships so far
        self.self_fences = 0
        # The watchdog this node claims (advertises at join): its effective
        # timeout in seconds, read back when it was armed; None: no claim (none,
        # a test stand-in, or one that failed to reset the host when it had to).
        self.watchdog_timeout: int | None = None
        self.member = asyncio.Event()  # set while a member
        self.membership_lost = asyncio.Event()  # set when a membership ends, cleared on joining
        self.keeper: LeaseKeeper | None = None
        self.executor: Executor | None = None
        self._shutdown = asyncio.Event()
        self._call_id = 0

    # ------------------------------------------------------------- public

    async def wait_member(self) -> int:
        """Wait until the node is a member; returns its lease id."""
        while True:
            await self.member.wait()
            if self.lease_id:
                return self.lease_id

    def request_shutdown(self) -> None:
        """A clean shutdown (SIGTERM): set `shutdown`, let the controller move
        everything away (bounded), leave."""
        if not self._shutdown.is_set():
            self.log.info("shutdown requested")
        self._shutdown.set()

    @property
    def deadline(self) -> float | None:
        """When this membership's self-fence is due (clock seconds), if a member."""
        return self.keeper.deadline if self.keeper is not None and self.lease_id else None

    async def run(self) -> None:
        try:
            await self._boot()
            while not self._shutdown.is_set():
                if not await self._join():
                    break
                if await self._serve() == "left":
                    break
                await self._self_fence()
        finally:
            self._end_membership()
            self.state = STOPPED
            self.log.info("node daemon stopped")

    # ------------------------------------------------------------- boot

    def _next_call_id(self) -> int:
        self._call_id += 1
        return self._call_id

    async def _boot(self) -> None:
        self.state = BOOTING
        sd = self.config.state_dir
        if sd is not None:
            failed: list[str] = []
            leftovers = ActiveResources.load(sd / ACTIVE_FILE)
            if leftovers:
                # A predecessor died (KillMode=process left its resources running):
                # stop them while the agents' state files still say what runs.
                self.log.warning("an earlier daemon left %d resource(s) running here: %s; "
                                 "stopping them before joining", len(leftovers),
                                 ", ".join(e.hist_id for e in leftovers))
                failed = await stop_entries(sorted(leftovers, key=lambda e: -e.seq),
                                            self.runner, self.log)
                if failed:
                    self.log.critical("could not stop %s left by an earlier daemon; keeping "
                                      "the state files so the probes find them",
                                      ", ".join(failed))
            await self._prepare_state_dir(empty=not failed)
        self._arm_watchdog()

    async def _prepare_state_dir(self, empty: bool) -> None:
        """Empty the state directory and install the shims; on a disk that
        cannot be written (full), say so and try again, without joining: a
        node whose agents cannot keep their state files must not run them
        (found by faultsim: a daemon booting on a full disk died)."""
        failures = 0
        while True:
            try:
                statedir.prepare(self.config.environment(), self.config.python, SHIM_NAMES,
                                 empty=empty)
                if failures:
                    self.log.info("state directory %s prepared", self.config.state_dir)
                return
            except OSError as exc:
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    self.log.critical("cannot prepare the state directory %s (%s): not "
                                      "joining; trying again every %g s", self.config.state_dir,
                                      exc, self.config.join_retry_s)
            await self._pause(self.config.join_retry_s)
            if self._shutdown.is_set():
                return

    def _arm_watchdog(self) -> None:
        """Arm the watchdog; claim it only if it says which timeout it runs
        with. A watchdog that cannot be armed stops the daemon (WatchdogError):
        the operator asked for one, and running without it would be a lie."""
        want = self.config.watchdog_timeout_s
        try:
            self.watchdog.arm(want)
        except WatchdogError as exc:
            self.log.critical("cannot arm the watchdog: %s", exc)
            raise
        got = self.watchdog.effective_timeout_s
        if got is not None and self.config.virtual and not self.config.trust_vm_watchdog:
            self.log.warning("this node is a virtual machine: its watchdog stops while the VM "
                             "is paused, so it cannot fence a paused VM; armed, but not "
                             "claimed for fencing (fence VMs with a device; --trust-vm-watchdog "
                             "if this hypervisor never pauses them)")
            got = None
            self.watchdog_timeout = None
            return
        self.watchdog_timeout = got
        if got is None:
            if not isinstance(self.watchdog, NoWatchdog):
                self.log.warning("the watchdog is not a verified one: this node does not "
                                 "claim a watchdog")
            return
        if got != want:
            self.log.warning("the watchdog runs with a timeout of %d s, not the %d s asked "
                             "for (its driver rounds or clamps it): this node advertises %d s",
                             got, want, got)
        self.log.info("watchdog armed: it resets this host %d s after its last feed", got)

    async def _pause(self, seconds: float) -> None:
        """Wait (shutdown cuts it short). A node that runs nothing is safe whatever
        the store does, so it keeps its watchdog fed while it waits to join; one
        whose self-stop failed does not, and its host is reset."""
        if len(self.active) == 0:
            self.watchdog.feed()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._shutdown.wait()

    async def _join(self) -> bool:
        """Grant a lease and join; False if shutdown came first."""
        self.state = JOINING
        failures = 0
        waiting_for: int | None = None
        while not self._shutdown.is_set():
            try:
                earlier = await self.cluster.membership_lease(self.config.node)
                if earlier is not None:
                    if waiting_for != earlier:
                        self.log.warning("an earlier incarnation's lease %x is still alive; "
                                         "waiting for it to end (never stolen)", earlier)
                        waiting_for = earlier
                    await self._pause(self.config.join_retry_s)
                    continue
                keeper = LeaseKeeper(self.cluster, self.clock, self.config, self.watchdog,
                                     self.log)
                lease = await keeper.grant()
                if await self._join_with(keeper, lease):
                    return True
            except StoreError as exc:
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    self.log.error("cannot join: the store does not answer (%s); retrying",
                                   exc)
            await self._pause(self.config.join_retry_s)
        return False

    async def _join_with(self, keeper: LeaseKeeper, lease: int) -> bool:
        for _ in range(5):
            if keeper.remaining() <= 0:
                break
            try:
                async with asyncio.timeout(keeper.remaining()):
                    await self.cluster.join(self.config.node, lease,
                                            watchdog=self.watchdog_timeout is not None,
                                            watchdog_timeout=self.watchdog_timeout,
                                            lease_ttl=self.config.lease_ttl,
                                            heartbeat=self.config.heartbeat)
            except NodeAlreadyMember as exc:
                self.log.warning("%s", exc)
                break
            except (OutcomeUnknown, TimeoutError):
                continue  # join is idempotent for the same lease
            self.keeper = keeper
            self.lease_id = lease
            self.incarnation += 1
            self.membership_lost.clear()
            self.member.set()
            self.state = MEMBER
            self.log.info("joined the cluster with lease %x (incarnation %d)", lease,
                          self.incarnation)
            return True
        with contextlib.suppress(StoreError, TimeoutError):
            async with asyncio.timeout(self.config.keepalive_s):
                await self.cluster.revoke_lease(lease)
        return False

    # ------------------------------------------------------------- membership

    async def _serve(self) -> str:
        """Run one membership: "left" after a clean shutdown, "lost" otherwise."""
        assert self.keeper is not None
        keeper = self.keeper
        ex = self.executor = Executor(self.cluster, self.lease_id, self.runner, self.config,
                                      self.clock, self.wall, self.definitions, self.active,
                                      self._next_call_id, self.log,
                                      confirm_lease=keeper.confirm_fresh)
        background = [asyncio.create_task(keeper.run(), name=f"keepalive {self.config.node}"),
                      asyncio.create_task(ex.watch(), name=f"actions {self.config.node}"),
                      asyncio.create_task(self._watch_membership(ex, self.lease_id),
                                          name=f"membership {self.config.node}")]
        try:
            if not await self._until_lost(self._shutdown.wait()):
                return "lost"
            if await self._until_lost(self._leave_cleanly(ex)):
                return "left"
            return "lost"
        finally:
            self._end_membership()
            for t in background:
                t.cancel()
            try:
                await ex.close()
            finally:
                await stop_tasks(background)

    async def _until_lost(self, aw: Awaitable[Any]) -> bool:
        """Run `aw` unless the membership ends first (then it is cancelled: False)."""
        assert self.keeper is not None and self.executor is not None
        main = asyncio.ensure_future(aw)
        expired = asyncio.create_task(self.keeper.expired())
        not_member = asyncio.create_task(self.executor.not_member.wait())
        try:
            await asyncio.wait([main, expired, not_member],
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (main, expired, not_member):
                t.cancel()
        if main.done() and not main.cancelled() and not (expired.done() or not_member.done()):
            exc = main.exception()
            if exc is None:
                return True
            if not isinstance(exc, NotMember):
                raise exc
        why = expired.result() if expired.done() and not expired.cancelled() else "not a member"
        self.log.critical("membership lost (%s): lease %x", why, self.lease_id)
        return False

    async def _watch_membership(self, ex: Executor, lease: int) -> None:
        """Until this membership's key is gone or names another lease: then the
        membership is over even though the lease may live on (the controller
        evicted this node, or a peer deposed it as the controller, and the
        revocation that follows may be lost): end it as a lost lease ends it."""
        while True:
            try:
                if await self.cluster.membership_ended(self.config.node, lease):
                    break
                # (the watch ended without a word of it: read again)
            except Compacted:
                continue
            except StoreError:
                # Unreachable store: the lease keeper decides (self-fence in time).
                await asyncio.sleep(self.config.keepalive_s)
        self.log.critical("this node's membership key is gone: it was evicted")
        ex.not_member.set()

    def _end_membership(self) -> None:
        if self.member.is_set() or self.lease_id:
            self.member.clear()
            self.membership_lost.set()

    async def _leave_cleanly(self, ex: Executor) -> None:
        self.state = SHUTTING_DOWN
        await ex.retry(lambda: self.cluster.set_attribute(
            self.config.node, SHUTDOWN_ATTRIBUTE, str(int(self.wall()))))
        self.log.info("shutdown attribute set; waiting up to %.0f s for %d resource(s) to be "
                      "moved away", self.config.shutdown_timeout, len(self.active))
        end = self.clock.now() + self.config.shutdown_timeout
        while len(self.active) or ex.busy():
            left = end - self.clock.now()
            if left <= 0:
                break
            self.active.changed.clear()
            with contextlib.suppress(TimeoutError):
                # busy() has no event of its own: look again now and then.
                async with asyncio.timeout(min(left, self.config.keepalive_s)):
                    await self.active.changed.wait()
        await ex.close()
        if len(self.active):
            self.log.warning("the controller did not stop %s in time; stopping them here",
                             ", ".join(e.hist_id for e in self.active.entries()))
            await stop_everything(self.active, self.runner, self.log)
        try:
            await ex.retry(lambda: self.cluster.leave(self.config.node, self.lease_id))
        except NotMember:
            pass  # the lease ended meanwhile: the membership is gone either way
        if len(self.active) == 0:
            self.watchdog.disarm()
        self.log.info("left the cluster")

    # ------------------------------------------------------------- self-fencing

    async def _self_fence(self) -> None:
        """The lease can no longer be trusted: stop everything, drop the lease."""
        self.state = SELF_FENCING
        self.self_fences += 1
        old = self.lease_id
        self.lease_id = 0
        self.log.critical("self-fencing: stopping %d resource(s): %s", len(self.active),
                          ", ".join(e.hist_id for e in self.active.stop_order()) or "none")
        failed = await stop_everything(self.active, self.runner, self.log)
        if failed:
            self.log.critical("self-fence could not stop %s; the watchdog (if armed) is no "
                              "longer fed", ", ".join(failed))
        # If the store answers, end the old membership now rather than at expiry.
        with contextlib.suppress(StoreError, LeaseNotFound, TimeoutError):
            async with asyncio.timeout(self.config.keepalive_s):
                await self.cluster.revoke_lease(old)
        self.keeper = None
        if failed and self.watchdog_timeout is not None:
            # Joining again would feed the watchdog (every keepalive does) and
            # keep running what could not be stopped on a host the cluster
            # counts as fenced once its watchdog time passed (found by faultsim,
            # seed 1152). Let the watchdog reset the host; if it has not after
            # twice its timeout, it does not work: join without claiming it (so
            # the cluster never fences this node by waiting for it), and the
            # probes tell the cluster what still runs here.
            wait = 2 * self.watchdog_timeout
            self.log.critical("waiting for the watchdog to reset this host (up to %d s)", wait)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._shutdown.wait()
            if not self._shutdown.is_set():
                self.log.critical("the watchdog did not reset this host within %d s: it does "
                                  "not work. Joining again WITHOUT claiming a watchdog "
                                  "(#pacer-watchdog=false: the cluster will not fence this "
                                  "node by waiting); fix the watchdog, then restart pacer",
                                  wait)
                self.watchdog_timeout = None

