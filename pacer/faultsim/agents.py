"""The simulated hosts' agents, fence device and hardware watchdog.

`SimAgentRunner` is the node daemon's `AgentRunner`: it answers start, stop,
monitor, promote, demote, notify and migrate from `Reality` and changes it,
taking a configured time per action (with a deterministic per-call jitter;
in a seed with slow operations, minutes for the actions `SimConfig.slow_ops`
names), honouring the timeout the request carries (the definition's op
timeout, else op_defaults'), failing or hanging when a fault says so. It runs inside the host's process,
so a frozen host's actions stop with it and a crashed host's never finish.

`SimFencer` is the controller's `Fencer`: a power switch outside every host.
Once asked, it acts after `fence_delay` whatever happens to the asking
process — unless a fault makes it fail at once (fence-fail), hang until the
request's timeout (fence-hang), fail after a while (fence-slow-fail) or
report success without acting (fence-lie). `SimWatchdog` resets a host that
was not fed in time (late, or never, in the modes a seed may draw).
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections.abc import Callable
from typing import Protocol

from pacer.agents.api import (
    ActionRequest,
    ActionResult,
    FenceRequest,
    FenceResult,
    timed_out,
)
from pacer.faultsim.config import AgentTiming
from pacer.faultsim.faults import Fault
from pacer.faultsim.loop import VirtualTimeLoop
from pacer.faultsim.reality import (
    DEMOTING,
    PROMOTED,
    PROMOTED_ROLES,
    PROMOTING,
    STARTED,
    STARTING,
    STOPPING,
    Reality,
)
from pacer.status.types import (
    OCF_ERR_GENERIC,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_RUNNING_PROMOTED,
    OCF_SUCCESS,
    OP_NOTSUPPORTED,
)
from pacer.store.base import Store, StoreError
from pacer.store.cluster import ClusterStore

# Actions after which a promotable agent sets its promotion score.
_SETS_SCORE = frozenset({"start", "stop", "promote", "demote", "monitor"})
# Actions that touch nothing and take (almost) no time.
_TRIVIAL = frozenset({"meta-data", "validate-all", "reload", "reload-agent", "notify"})

_METADATA = """<?xml version="1.0"?>
<resource-agent name="{name}" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">faultsim simulated agent</shortdesc>
  <parameters/>
  <actions>
    <action name="start" timeout="20s"/>
    <action name="stop" timeout="20s"/>
    <action name="monitor" timeout="20s" interval="10s"/>
    <action name="promote" timeout="20s"/>
    <action name="demote" timeout="20s"/>
    <action name="notify" timeout="5s"/>
    <action name="migrate_to" timeout="20s"/>
    <action name="migrate_from" timeout="20s"/>
    <action name="meta-data" timeout="5s"/>
    <action name="validate-all" timeout="5s"/>
  </actions>
</resource-agent>
"""


class AgentWorld(Protocol):
    """What the simulated agents need of the world (implemented by `World`)."""

    reality: Reality
    seed: int
    timing: AgentTiming
    # (primitive, action) -> (shortest, longest) seconds; empty: a fast seed.
    slow_ops: dict[tuple[str, str], tuple[float, float]]

    def now(self) -> float: ...

    def take_agent_fault(self, host: str, prim: str, action: str) -> str | None: ...

    def action_begin(self, host: str, key: str, request: ActionRequest, takes: float,
                     slow: bool) -> None: ...

    def action_end(self, host: str, key: str, request: ActionRequest,
                   result: ActionResult) -> None: ...

    def migrate(self, key: str, source: str, target: str) -> bool: ...

    def power_switch(self, target: str, action: str) -> asyncio.Future[FenceResult]: ...

    def fence_fault(self, target: str, action: str) -> Fault | None: ...

    def busy_for(self, seconds: float) -> None: ...

    def emit(self, who: str, text: str) -> None: ...


def jitter(seed: int, *parts: object) -> float:
    """A deterministic factor in [0.5, 1.5) from the call's identity, so the
    durations do not depend on what else happened (shrinking keeps them)."""
    h = zlib.crc32(":".join(str(p) for p in (seed, *parts)).encode())
    return 0.5 + h / 2**32


class SimAgentRunner:
    """`AgentRunner` of one simulated host."""

    def __init__(self, world: AgentWorld, host: str, store: Store | None = None,
                 shim_timeout: float | None = None) -> None:
        self.world = world
        self.host = host
        # The host's store client, for what agents write through the crm_* shims,
        # and how long a shim call may wait for the store (PACER_ETCD_TIMEOUT,
        # NodeConfig.shim_timeout_s: a real shim gives up then; None: no bound).
        self.cluster = ClusterStore(store) if store is not None else None
        self.shim_timeout = shim_timeout
        self._calls: dict[tuple[str, str], int] = {}

    def duration(self, prim: str, key: str, action: str) -> tuple[float, bool]:
        """Seconds this call takes, and whether it is a slow operation."""
        n = self._calls.get((key, action), 0)
        self._calls[(key, action)] = n + 1
        w = self.world
        factor = jitter(w.seed, self.host, key, action, n)
        slow = w.slow_ops.get((prim, action)) if w.slow_ops else None
        if slow is not None:
            lo, hi = slow  # log-uniform: as many 30-60 s calls as 150-300 s ones
            return round(lo * (hi / lo) ** (factor - 0.5), 6), True
        return round(w.timing.base(action) * factor, 6), False

    async def run(self, request: ActionRequest) -> ActionResult:
        w = self.world
        action = request.action
        key = request.instance_name
        if action == "meta-data":
            return ActionResult(rc=OCF_SUCCESS, output=_METADATA.format(name=request.agent.type))
        prim = request.rsc_id
        fault = w.take_agent_fault(self.host, prim, action)
        dur, slow = self.duration(prim, key, action)
        timeout_s = request.effective_timeout_ms / 1000.0
        hangs = fault == "hang" or dur >= timeout_s
        w.action_begin(self.host, key, request, timeout_s if hangs else dur, slow)
        prev = self._begin(key, action)
        if hangs:
            await asyncio.sleep(timeout_s)
            self._timed_out(key, action, prev)
            result = timed_out(request.effective_timeout_ms, request.effective_timeout_ms)
        else:
            await asyncio.sleep(dur)
            rc = self._complete(key, action, prev, fault == "fail", request)
            result = ActionResult(rc=rc, duration_ms=int(dur * 1000),
                                  exit_reason="failed (injected)" if fault == "fail" else "")
            if rc == OCF_ERR_UNIMPLEMENTED:
                result = ActionResult(rc=rc, op_status=OP_NOTSUPPORTED)
        if "promoted-max" in request.meta and action in _SETS_SCORE:
            await self._promotion_score(key, request)
        w.action_end(self.host, key, request, result)
        return result

    async def _promotion_score(self, key: str, request: ActionRequest) -> None:
        """What ocf:pacemaker:Stateful does with crm_master: promotion score 5
        while running unpromoted, 10 while promoted, none while stopped. Like the
        shim, it fails quietly when the store cannot be reached."""
        if self.cluster is None:
            return
        cur = self.world.reality.get(self.host, key)
        want = None if cur is None else "10" if cur.role in PROMOTED_ROLES else "5"
        name = f"master-{request.rsc_id}"
        # Each crm_master call gives up after the shim's timeout, as the real
        # shim does (a self-fencing node's stops must not wait for a store
        # that is slow or gone).
        try:
            async with asyncio.timeout(self.shim_timeout):
                have = await self.cluster.attribute(self.host, name, True)
            if have != want:
                async with asyncio.timeout(self.shim_timeout):
                    await self.cluster.set_attribute(self.host, name, want)
        except (StoreError, TimeoutError):
            pass

    # Reality at the beginning, the end, or the timeout of an action. `prev` is
    # the role before the action began (None: not active here).

    def _begin(self, key: str, action: str) -> str | None:
        r = self.world.reality
        cur = r.get(self.host, key)
        prev = cur.role if cur else None
        now = self.world.now()
        if action == "start" and prev is None:
            r.set_role(self.host, key, STARTING, now)
        elif action == "stop" and prev is not None:
            r.set_role(self.host, key, STOPPING, now)
        elif action == "promote" and prev == STARTED:
            r.set_role(self.host, key, PROMOTING, now)
        elif action == "demote" and prev == PROMOTED:
            r.set_role(self.host, key, DEMOTING, now)
        return prev

    def _complete(self, key: str, action: str, prev: str | None, fail: bool,
                  request: ActionRequest) -> int:
        r = self.world.reality
        now = self.world.now()
        cur = r.get(self.host, key)
        if action in _TRIVIAL:
            return OCF_ERR_GENERIC if fail else OCF_SUCCESS
        if action == "monitor":
            if fail:
                return OCF_ERR_GENERIC
            if cur is None:
                return OCF_NOT_RUNNING
            return OCF_RUNNING_PROMOTED if cur.role in PROMOTED_ROLES else OCF_SUCCESS
        if action == "start":
            if fail:
                if prev is None:
                    r.remove(self.host, key)
                return OCF_ERR_GENERIC
            if cur is None:
                return OCF_ERR_GENERIC  # it died while starting
            if cur.role in (STARTING, STOPPING):
                r.set_role(self.host, key, STARTED, now)
            return OCF_SUCCESS
        if action == "stop":
            if fail:
                if cur is not None and prev is not None:
                    r.set_role(self.host, key, prev, now)
                return OCF_ERR_GENERIC
            r.remove(self.host, key)
            return OCF_SUCCESS
        if action == "promote":
            if cur is None:
                return OCF_NOT_RUNNING
            r.set_role(self.host, key, STARTED if fail else PROMOTED, now)
            return OCF_ERR_GENERIC if fail else OCF_SUCCESS
        if action == "demote":
            if cur is None:
                return OCF_NOT_RUNNING
            r.set_role(self.host, key, (prev or PROMOTED) if fail else STARTED, now)
            return OCF_ERR_GENERIC if fail else OCF_SUCCESS
        if action == "migrate_to":
            target = request.meta.get("migrate_target", "")
            if fail or cur is None or not target:
                return OCF_ERR_GENERIC
            return OCF_SUCCESS if self.world.migrate(key, self.host, target) else OCF_ERR_GENERIC
        if action == "migrate_from":
            return OCF_SUCCESS if cur is not None and not fail else OCF_ERR_GENERIC
        return OCF_ERR_UNIMPLEMENTED

    def _timed_out(self, key: str, action: str, prev: str | None) -> None:
        """What a hung action leaves behind: in doubt, the more active state."""
        r = self.world.reality
        cur = r.get(self.host, key)
        if cur is None:
            return
        now = self.world.now()
        if action == "start":
            r.set_role(self.host, key, STARTED, now)
        elif action in ("stop", "demote") and prev is not None:
            r.set_role(self.host, key, prev, now)
        elif action == "promote":
            r.set_role(self.host, key, PROMOTED, now)


class SimFencer:
    """`Fencer`: the cluster's power switch (fence_sim), outside every host."""

    def __init__(self, world: AgentWorld) -> None:
        self.world = world

    async def fence(self, request: FenceRequest) -> FenceResult:
        action = request.action
        if action in ("monitor", "list", "metadata", "meta-data", "validate-all"):
            return FenceResult(rc=0, ok=True)
        target = request.target or ""
        fault = self.world.fence_fault(target, action)
        if fault is None:
            return await self.world.power_switch(target, action)
        self.world.emit("fence", f"{action} {target} requested: {fault.kind} (injected)")
        if fault.kind == "fence-lie":
            delay = self.world.fence_delay
            await asyncio.sleep(delay)
            self.world.emit("fence", f"{action} {target}: reports success without acting "
                            "(injected)")
            return FenceResult(rc=0, ok=True, duration_ms=int(delay * 1000))
        if fault.kind == "fence-hang":
            # No answer: the fence agent is killed at the request's timeout
            # (stonith-timeout).
            self.world.busy_for(request.timeout_ms / 1000)
            await asyncio.sleep(request.timeout_ms / 1000)
            return FenceResult(rc=1, ok=False, timed_out=True, duration_ms=request.timeout_ms,
                               error=f"fence device timed out after {request.timeout_ms} ms "
                               "(injected)")
        delay = fault.value if fault.kind == "fence-slow-fail" else 1.0
        self.world.busy_for(delay)
        await asyncio.sleep(delay)
        return FenceResult(rc=1, ok=False, error="fence device failed (injected)",
                           duration_ms=int(delay * 1000))


class SimWatchdog:
    """A hardware watchdog outside the host (`pacer.node.Watchdog`): once armed,
    it resets the host when not fed for `timeout` seconds of global time (its
    crystal does not drift with the host's clock). A power cycle disarms it.

    Modes (`SeedProfile.watchdogs`): a `late` one resets the host `late`
    seconds after that (its real timeout is longer than the one asked for,
    and reading it back says so: `effective_timeout_s`); a `dead` one is armed
    and reports the timeout asked for, but never resets anything."""

    def __init__(self, loop: VirtualTimeLoop, reset: Callable[[], None], late: float = 0.0,
                 dead: bool = False, came_due: Callable[[], None] | None = None) -> None:
        self.loop = loop
        self.reset = reset
        self.late = late
        self.dead = dead
        self.came_due = came_due  # told when the deadline passes unfed (statistics)
        self.timeout = 0.0
        self.armed = False
        self.deadline = 0.0  # global time it resets the host unless fed before
        # One timer at a time, at the deadline or before it: a feed (every
        # keepalive) moves the deadline only; the timer, when it fires early,
        # goes back to sleep until the deadline.
        self._timer: asyncio.TimerHandle | None = None

    @property
    def effective_timeout_s(self) -> int | None:
        """What reading the device's timeout back says (WDIOC_GETTIMEOUT), while
        armed: the seconds after a feed it really resets the host (a `late`
        watchdog says so: its driver rounded the timeout up)."""
        return math.ceil(self.timeout + self.late) if self.armed else None

    def arm(self, timeout_s: int) -> None:
        self.timeout = float(timeout_s)
        self.armed = True
        self.feed()

    def feed(self) -> None:
        if not self.armed:
            return
        self.deadline = self.loop.now + self.timeout + self.late
        if self._timer is not None and self._timer.when() > self.deadline:
            self._timer.cancel()  # armed again with a shorter timeout
            self._timer = None
        if self._timer is None:
            self._timer = self.loop.call_sim_at(self.deadline, self._expire)

    def _expire(self) -> None:
        if self.loop.now < self.deadline:
            self._timer = self.loop.call_sim_at(self.deadline, self._expire)
            return
        self._timer = None
        if self.came_due is not None:
            self.came_due()
        if self.dead:
            return  # (stays armed: fed again, it counts down again, to nothing)
        self.armed = False
        self.reset()

    def disarm(self) -> None:
        self.armed = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause(self) -> None:
        """Its VM is paused: the (virtual) watchdog stops counting."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def resume(self, paused_for: float) -> None:
        """... and goes on where it stopped."""
        if self.armed:
            self.deadline += paused_for
            self._timer = self.loop.call_sim_at(self.deadline, self._expire)
