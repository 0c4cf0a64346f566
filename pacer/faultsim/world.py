"""The simulated world: hosts, their processes, the network to the store, the
power switch, the watchdogs, and the faults that hit them.

One `World` per run. Each host runs its pacer process (whatever the daemon
factory returns: the real node daemon and controller) as a `Proc` of the
virtual-time loop, talking to the shared `MemoryCluster` through its own
client, with its own drifting clock, agent runner, lease TTL and (unless its
profile says none) a watchdog fed on every successful keepalive. The world
applies the faults (power, holds of the process — freeze, loop-stall,
vm-pause —, partitions and datagram cuts, the store path, fence device,
disk), watches the store and Reality after every callback, writes the trace,
feeds the checker, and counts what each fault kind reached (statistics).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import math
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacer.agents.api import ActionRequest, ActionResult, AgentRunner, Fencer, FenceResult
from pacer.clock import Clock
from pacer.faultsim import disk
from pacer.faultsim.agents import SimAgentRunner, SimFencer, SimWatchdog
from pacer.faultsim.config import SimConfig, parse_watchdog_mode
from pacer.faultsim.faults import Fault
from pacer.faultsim.invariants import SOFT_INVARIANTS, Checker, Topology, Violation
from pacer.faultsim.loop import PROC, DriftClock, Proc, ProcState, VirtualTimeLoop
from pacer.faultsim.reality import STARTED, Reality
from pacer.faultsim.trace import Trace
from pacer.node.config import NodeConfig
from pacer.status.instances import split_instance_id
from pacer.store.base import (
    EventType,
    KeyValue,
    Store,
)
from pacer.store.cluster import ClusterStore, Keys, build_status, parse_stored_definition
from pacer.store.memory import Fate, MemoryCluster, Request

# Epoch seconds at virtual time 0, for wall clocks (history timestamps).
EPOCH_BASE = 1_700_000_000.0
CONVERGE_POLL = 1.0  # seconds between convergence checks after the faults healed


# Faults that make the hosts they name unhealthy (store-leader-loss: every
# host), for invariant healthy-evicted.
SICKENING = frozenset({"crash", "freeze", "partition", "loop-stall", "vm-pause", "oneway-out",
                       "oneway-in", "hb-cut", "hb-cut-in", "store-flaky", "store-slow",
                       "watch-stall", "disk-full", "store-leader-loss"})

# Faults on the store path: while one is in force every store request of every
# host passes through World._fate.
STORE_PATH = frozenset({"store-leader-loss", "store-flaky", "oneway-out", "oneway-in",
                        "revoke-lost", "store-slow"})

# The self-fence check runs this long after its bound (timers due at one
# instant fire in the order they were set).
SELF_FENCE_SLACK = 0.001

# Datagram latency between hosts (heartbeats).
DATAGRAM_DELAY = 0.0005


class SimLink:
    """A host's heartbeat socket on the simulated network: datagrams reach the
    peer's process (held while it is frozen, lost when it is dead) unless a
    partition separates the two hosts. Addresses are node names."""

    def __init__(self, world: World, host: str) -> None:
        self.world = world
        self.host = host
        # (every heartbeat comes here: one call, not two)
        self.send = functools.partial(world.datagram, host)  # type: ignore[method-assign]

    async def open(self, on_receive: Callable[[bytes], None]) -> None:
        self.world.sockets[self.host] = _Socket(contextvars.copy_context(), PROC.get(),
                                                on_receive)

    def send(self, addr: str, data: bytes) -> None:
        self.world.datagram(self.host, addr, data)

    def close(self) -> None:
        self.world.sockets.pop(self.host, None)


@dataclass(frozen=True)
class _Socket:
    """An open heartbeat socket: the receiving process and its callback."""

    context: contextvars.Context
    proc: Proc | None
    on_receive: Callable[[bytes], None]


@dataclass
class HostEnv:
    """Everything one host's pacer process is built from."""

    name: str
    incarnation: int
    store: Store
    clock: Clock
    wall: Callable[[], float]
    runner: AgentRunner
    fencer: Fencer
    lease_ttl: int
    state_dir: Path | None  # the node daemon's state_dir (None: no files at all)
    watchdog: SimWatchdog | None  # the host's hardware watchdog (None: it has none)
    watchdog_grace: float | None  # NodeConfig.watchdog_grace (None: its default)
    link: SimLink | None  # the heartbeat socket (None: no heartbeats)
    heartbeat_interval: float = 0.05
    heartbeat_timeout: float = 0.25
    # A virtual machine (a host the schedule pauses): NodeConfig.virtual.
    virtual: bool = False


DaemonFactory = Callable[[HostEnv], Coroutine[Any, Any, Any]]


class GlobalClock:
    """The store's clock: global virtual time (the etcd leader's clock)."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self.loop = loop

    def now(self) -> float:
        return self.loop._now


class HostClock:
    """A host's monotonic clock (`Clock`): global time through its drift."""

    def __init__(self, loop: VirtualTimeLoop, drift: DriftClock) -> None:
        self.loop = loop
        self.drift = drift

    def now(self) -> float:
        drift = self.drift
        if drift.identity:  # (asked all the time: no method calls for most hosts)
            return self.loop._now
        return drift.local(self.loop._now)

    def wall(self) -> float:
        return EPOCH_BASE + self.now()


def _json(value: bytes) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class Host:
    def __init__(self, name: str, ttl: int = 2, watchdog_mode: str = "ok") -> None:
        self.name = name
        self.ttl = ttl  # its node daemon's lease TTL
        self.watchdog_mode, self.watchdog_late = parse_watchdog_mode(watchdog_mode)
        self.drift = DriftClock()
        self.proc: Proc | None = None
        self.powered = True
        self.frozen = False  # its process is held: freeze, loop-stall or vm-pause
        self.holds: list[str] = []  # the hold faults in force on its process
        self.io_first = False  # release it as asyncio after a blocked loop
        self.paused_at: float | None = None  # its VM is paused (clock, watchdog) since
        self.resumed_at = -1.0  # its VM was last resumed at
        self.thawed_at = -1.0
        self.stop_fault_at = -math.inf  # an injected fault last hit a stop or demote
        self.off_at = -math.inf  # last powered off (its processes killed)
        self.incarnation = 0
        self.watchdog: SimWatchdog | None = None
        self.agent_faults: list[Fault] = []  # one-shot: the next such action
        self.always_faults: list[Fault] = []  # every such action while active

    @property
    def resettable(self) -> bool:
        """Does a watchdog that really fires guard this host?"""
        return self.watchdog is not None and self.watchdog_mode != "dead"

    @property
    def self_fence_bound(self) -> float:
        """Seconds after its lease lapsed by which the host runs nothing of what
        it ran: its self-fence, or its watchdog's reset (2 x its TTL with the
        default grace; a late watchdog is that much later)."""
        return 2.0 * self.ttl + self.watchdog_late


def _count(counts: dict[str, int], key: str, delta: int) -> int:
    """Add `delta` to a counter of faults in force; returns the new count."""
    n = counts.get(key, 0) + delta
    if n > 0:
        counts[key] = n
    else:
        counts.pop(key, None)
    return n


class StopRun(Exception):
    """Raised inside the loop when a run must end now (first violation)."""


class World:
    def __init__(self, config: SimConfig, seed: int, faults: Sequence[Fault],
                 factory: DaemonFactory, trace: Trace, loop: VirtualTimeLoop) -> None:
        self.config = config
        self.seed = seed
        self.timing = config.timing
        self.fence_delay = config.fence_delay
        self.profile = config.profile(seed)
        self.slow_ops = config.slow_table() if self.profile.slow else {}
        # Statistics for explore: the fault kinds that reached the timing they
        # target (README, "Statistics"), and the longest operations seen.
        self.reached: set[str] = set()
        self.longest: dict[str, float] = {}  # action -> longest duration begun
        # Convergence is counted from the end of the last slow or hung action
        # too (it may end long after the last fault healed).
        self.busy_until = 0.0
        self.faults = list(faults)
        self.factory = factory
        self.trace = trace
        self.loop = loop
        self.cluster = MemoryCluster(GlobalClock(loop))
        self.keys = Keys()
        self.definition_text = config.definition_text(self.profile)
        self.defn = parse_stored_definition(self.definition_text)
        self.topo = Topology(self.defn, config.nodes)
        self.reality = Reality()
        self.reality.on_change = self._reality_changed
        self.checker = Checker(self.topo, self.reality, self.now, self._violation)
        self.checker.is_member = lambda host: host in self._member_lease
        self.checker.requested = self._requested
        self.checker.can_act = self._can_act
        self.checker.call_at = loop.call_sim_at
        self.checker.colocation_grace = config.colocation_grace
        self.violations: list[Violation] = []
        self.stop_on_violation = True
        self.finished = False
        self.done: asyncio.Future[None] = loop.create_future()
        names = config.node_names
        self.hosts: dict[str, Host] = {
            n: Host(n, self.profile.ttls[i], self.profile.watchdogs[i])
            for i, n in enumerate(names)}
        self.store_members = names[:config.store_members] if config.store_members else names
        # Hosts the schedule pauses are virtual machines, and their daemons
        # know it (pacer agent --virtual): their watchdog stops with them.
        self.vms = frozenset(n for f in self.faults if f.kind == "vm-pause" for n in f.nodes)
        self.fencer = SimFencer(self)
        # Hosts get a state_dir (on a tmpfs when there is one) only in seeds
        # whose schedule fills a disk: files cost time, and nothing else
        # depends on them (README, "What is and is not simulated").
        self.disks = any(f.kind == "disk-full" for f in self.faults)
        shm = Path("/dev/shm")
        tmp = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
        self._state_root = tmp / f"pacer-faultsim-{os.getpid()}-{id(self):x}"
        # Active faults by kind.
        self._partitions: list[Fault] = []
        # Open heartbeat sockets by host.
        self.sockets: dict[str, _Socket] = {}
        # Datagrams in flight that arrive at `_dgram_due`, in the order sent.
        self._dgram_batch: list[tuple[_Socket, bytes]] | None = None
        self._dgram_due = -1.0
        self._leader_loss = 0
        self._flaky: dict[str, list[Fault]] = {}
        # Datagram faults in force (hb-cut, hb-cut-in, oneway-out, oneway-in).
        self._udp_faults: list[Fault] = []
        # Store-path faults in force, per host: oneway-out / oneway-in counts,
        # watch stalls (watch-stall and oneway-in), store latencies.
        self._oneway_out: dict[str, int] = {}
        self._oneway_in: dict[str, int] = {}
        self._watch_stalls: dict[str, int] = {}
        self._slow_store: dict[str, list[Fault]] = {}
        self._revoke_lost: list[Fault] = []
        self._disk_full: dict[str, int] = {}
        self._stall_member: set[Fault] = set()  # loop-stalls that began on a member
        # healthy-evicted: faults in force that make a host unhealthy, until
        # when it counts as unhealthy after the last one ended, and when its
        # current membership began.
        self._sick: dict[str, int] = {}
        self._member_since: dict[str, float] = {}  # when its current membership began
        self._sick_until: dict[str, float] = {}
        self._fence_faults: list[Fault] = []  # active fence device faults, oldest first
        self._store_calls = 0
        # What the world has seen of the store.
        self._rev = self.cluster.revision
        self._lost_at: dict[str, float] = {}  # membership key gone (lease lapsed) at
        self._key_gone_at: dict[str, float] = {}  # ... (kept until it is back)
        self._last_lease: dict[str, int] = {}  # the lease of its last membership
        self._member_lease: dict[str, int] = {}
        self._controller: str | None = None
        self._lost_cache: tuple[int, dict[str, dict[str, str]]] | None = None
        self.converged_at: float | None = None
        self._converged_cache: tuple[tuple[object, ...], tuple[bool, str]] | None = None
        self.heal_at = 0.0
        # The hosts' store requests pass through _fate only while a fault of
        # the store path is in force (_update_injectors).
        self._injecting = False
        self.cluster.schedule = lambda delay, cb, *args: loop.call_sim_at(loop.now + delay, cb,
                                                                         *args)
        self.cluster.on_busy = self._busy
        # (the store's own methods: called whenever the loop is idle)
        loop.next_deadline = self.cluster.next_expiry
        loop.on_time_advanced = self.cluster.expire_leases
        loop.after_callback = self.after_step

    # ------------------------------------------------------------------ basics

    def now(self) -> float:
        return self.loop.now

    def emit(self, who: str, text: str) -> None:
        self.trace.emit(self.loop.now, who, text)

    def _violation(self, v: Violation) -> None:
        if self.finished:
            return  # what processes do while they unwind after the run is not checked
        self.violations.append(v)
        self.emit("check", f"VIOLATION {v}")
        if self.stop_on_violation and not self.done.done() \
                and v.invariant not in SOFT_INVARIANTS:
            self.done.set_result(None)

    # ------------------------------------------------------------------ hosts

    def power_on(self, name: str, why: str) -> None:
        h = self.hosts[name]
        if h.powered and h.proc is not None:
            return
        h.powered = True
        self.emit(name, f"power on ({why}); pacer starts in {self.config.boot_delay:g}s")
        inc = h.incarnation
        self.loop.call_sim_at(self.loop.now + self.config.boot_delay, self._start_daemon, name,
                              inc)

    def boot_now(self, name: str) -> None:
        self.hosts[name].powered = True
        self._start_daemon(name, self.hosts[name].incarnation)

    def _start_daemon(self, name: str, inc: int) -> None:
        h = self.hosts[name]
        if not h.powered or h.incarnation != inc or h.proc is not None:
            return  # powered off again meanwhile, or already running
        h.incarnation += 1
        h.frozen = False
        h.holds.clear()
        h.proc = Proc(f"{name}#{h.incarnation}", h.drift)
        store: Store = self.cluster.client(name)
        if h.watchdog_mode != "none":
            h.watchdog = SimWatchdog(self.loop, lambda: self._watchdog_reset(name),
                                     late=h.watchdog_late, dead=h.watchdog_mode == "dead",
                                     came_due=lambda: self.reached.add(
                                         f"watchdog-{h.watchdog_mode}"))
        clock = HostClock(self.loop, h.drift)
        env = HostEnv(name=name, incarnation=h.incarnation, store=store, clock=clock,
                      wall=clock.wall, runner=SimAgentRunner(self, name, store, NodeConfig(
                          node=name, lease_ttl=h.ttl).shim_timeout_s), fencer=self.fencer,
                      lease_ttl=h.ttl,
                      state_dir=self.disk_of(name) / str(h.incarnation) if self.disks else None,
                      watchdog=h.watchdog, watchdog_grace=self.config.watchdog_grace,
                      link=SimLink(self, name) if self.config.heartbeats else None,
                      heartbeat_interval=self.config.heartbeat_interval,
                      heartbeat_timeout=self.config.heartbeat_timeout,
                      virtual=name in self.vms)
        self.emit(name, f"pacer process #{h.incarnation} starts")
        self.loop.spawn(h.proc, self._daemon(env), name=f"pacer@{name}")

    async def _daemon(self, env: HostEnv) -> None:
        try:
            await self.factory(env)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a daemon must never die of an exception
            self.checker.violate("daemon-error", f"pacer process #{env.incarnation} on "
                                 f"{env.name} died: {type(exc).__name__}: {exc}", env.name)
            raise

    def power_off(self, name: str, why: str) -> None:
        h = self.hosts[name]
        if not h.powered:
            return
        h.powered = False
        h.off_at = self.loop.now
        h.frozen = False
        h.holds.clear()
        h.paused_at = None
        if h.proc is not None:
            self.loop.kill(h.proc)
            h.proc = None
        if h.watchdog is not None:
            h.watchdog.disarm()
            h.watchdog = None
        h.incarnation += 1  # cancels a pending daemon start
        killed = self.reality.clear_host(name)
        self.emit(name, f"power off ({why})" + (f"; killed {', '.join(killed)}" if killed else ""))

    def _watchdog_reset(self, name: str) -> None:
        h = self.hosts[name]
        if not h.powered:
            return
        self.emit(name, "watchdog expired: hardware reset")
        self.power_off(name, "watchdog")
        self.power_on(name, "after watchdog reset")

    def disk_of(self, name: str) -> Path:
        """The host's disk: its state_dirs (one per process) live under it."""
        return self._state_root / name

    def hold(self, name: str, kind: str) -> bool:
        """A fault holds the host's process (freeze, loop-stall, vm-pause): it
        runs nothing until every hold is released. False: no process to hold."""
        h = self.hosts[name]
        if h.proc is None:
            return False
        if not h.holds:
            h.frozen = True
            h.io_first = False
            self.loop.freeze(h.proc)
        h.holds.append(kind)
        if kind != "freeze":
            # asyncio after a loop that blocked (or a VM that stood still):
            # what arrived meanwhile runs before the timers that came due.
            h.io_first = True
        return True

    def release(self, name: str, kind: str) -> bool:
        """Returns whether the release ran I/O before timers that came due earlier."""
        h = self.hosts[name]
        if kind not in h.holds or h.proc is None:
            return False  # (the process it held is gone)
        h.holds.remove(kind)
        if h.holds:
            return False
        h.frozen = False
        h.thawed_at = self.loop.now
        return self.loop.thaw(h.proc, io_first=h.io_first)

    def freeze(self, name: str) -> None:
        self.hold(name, "freeze")

    def thaw(self, name: str) -> None:
        self.release(name, "freeze")

    def vm_pause(self, name: str) -> bool:
        """The host's VM stops: its process, its monotonic clock, its watchdog."""
        h = self.hosts[name]
        if h.paused_at is not None or not self.hold(name, "vm-pause"):
            return False
        h.paused_at = self.loop.now
        if h.watchdog is not None:
            h.watchdog.pause()
        return True

    def vm_resume(self, name: str) -> None:
        """... and goes on: its clock has not counted the pause, so every timer
        of its process is that much later; its watchdog goes on where it stopped."""
        h = self.hosts[name]
        if h.paused_at is None or h.proc is None:
            return
        since, now = h.paused_at, self.loop.now
        h.paused_at = None
        h.resumed_at = now
        h.drift.skip(since, now)
        self.loop.shift_timers(h.proc, since, now - since)
        if h.watchdog is not None:
            h.watchdog.resume(now - since)
        self.release(name, "vm-pause")

    # ------------------------------------------------------------------ agents (AgentWorld)

    def take_agent_fault(self, host: str, prim: str, action: str) -> str | None:
        h = self.hosts[host]
        for f in h.agent_faults:
            if f.rsc == prim and f.action == action:
                h.agent_faults.remove(f)
                if action in ("stop", "demote"):
                    h.stop_fault_at = self.loop.now
                self.emit(host, f"injected: {f.kind} hits {prim} {action}")
                self.reached.add(f.kind)
                return "hang" if f.kind == "agent-hang" else "fail"
        for f in h.always_faults:
            if f.rsc == prim and f.action == action:
                if action in ("stop", "demote"):
                    h.stop_fault_at = self.loop.now
                self.emit(host, f"injected: {f.kind} hits {prim} {action}")
                self.reached.add(f.kind)
                return "fail"
        return None

    def action_begin(self, host: str, key: str, request: ActionRequest, takes: float = 0.0,
                     slow: bool = False) -> None:
        """An agent action begins on `host`; it will take `takes` seconds (its
        timeout if it hangs); `slow`: a slow operation of this seed's profile."""
        action = request.action
        if takes > self.longest.get(action, 0.0):
            self.longest[action] = takes
        if slow and takes > 20.0 and action in ("stop", "demote"):
            # What slow operations target: a stop longer than the controller's
            # default wait (an op without a timeout of its own: 20 s).
            self.reached.add("slow-ops")
        if slow or takes > 20.0:
            now = self.loop.now
            if now + takes > self.busy_until:
                self.busy_until = now + takes
            if action in ("stop", "demote"):
                # Like a stop a fault hit: without a watchdog nothing on the
                # host can make a slow self-fence faster (fencing covers it).
                self.hosts[host].stop_fault_at = now
        self.checker.action_begin(host, key, action)
        if action in ("start", "promote", "migrate_from"):
            self.checker.rule6(host, key, action, self._lapsed(host))
            if self._lost_at:
                self.checker.takeover_begin(host, key, action, self.lost_active)

    def action_end(self, host: str, key: str, request: ActionRequest,
                   result: ActionResult) -> None:
        self.checker.action_end(host, key)
        if request.action == "monitor" and request.interval_ms and result.rc in (0, 8) \
                and not self.trace.verbose:
            return  # a recurring monitor finding what it expects is not news
        what = request.action
        if request.action == "monitor":
            what = "probe" if request.interval_ms == 0 else f"monitor/{request.interval_ms}ms"
        status = result.op_status_name if result.op_status else f"rc={result.rc}"
        self.emit(host, f"{what} {key}: {status} ({result.rc_name})")

    def _lease_gone(self, node: str) -> bool:
        """Is the lease of the node's last membership gone from the store?"""
        lease = self._last_lease.get(node)
        return lease is None or not self.cluster.has_lease(lease)

    def busy_for(self, seconds: float) -> None:
        """Something a fault slowed (a hung fence request) lasts this long:
        convergence is counted from its end too."""
        self.busy_until = max(self.busy_until, self.loop.now + seconds)

    def _lapsed(self, host: str) -> str | None:
        """Why the host's membership is over at this instant, per the store (None:
        its membership key exists and its lease lives)."""
        kv = self.cluster.peek(self.keys.node(host))
        if kv is None:
            gone = self._key_gone_at.get(host)
            return "its membership key is gone" + (f" (since t={gone:.3f})" if gone is not None
                                                    else "")
        deadline = self.cluster.lease_deadline(kv.lease)
        if deadline is None or deadline <= self.loop.now:
            return f"its lease {kv.lease:x} has expired"
        return None

    def _requested(self, host: str, key: str, action: str) -> bool:
        """Whether a controller's request started this agent action: the node
        took it with a pending record in its history (a node that stops
        what it runs on its own — a self-fence, a boot — writes none)."""
        kv = self.cluster.peek(self.keys.op(host, key, "last_0"))
        if kv is None:
            return False
        op = _json(kv.value).get("op") or {}
        return op.get("operation") == action and op.get("op_status") == -1

    def _healthy(self, node: str) -> bool:
        """Healthy (invariant healthy-evicted): powered, its process running, no
        fault on it (or on the store) now or in the last 2 heartbeat timeouts.
        (A node that has just joined is healthy too: peers suspect only a
        node they have heard under its current lease, so nothing legitimate
        ends a fresh membership — a stale fence record does, finding 7.)"""
        h = self.hosts[node]
        if not h.powered or h.proc is None or h.frozen or self._sick.get(node):
            return False
        if h.off_at >= self._member_since.get(node, math.inf):
            # The membership ended belonged to a process a power cut killed
            # (seed 321: a device ordered for the last loss cut the host just
            # after it joined again): the host runs a newer one now.
            return False
        if h.stop_fault_at >= self._member_since.get(node, math.inf):
            # A stop or demote that a fault hit (or a slow one, which may time
            # out) under this membership: a failed stop is fenced, and a node
            # still a member is fenced by ending its membership first.
            return False
        return self.loop.now >= self._sick_until.get(node, -math.inf)

    def _can_act(self, host: str) -> bool:
        """Can the cluster act on this host now (colocation invariant)?"""
        h = self.hosts[host]
        return (h.powered and h.proc is not None and not h.frozen
                and host in self._member_lease and self._controller is not None)

    def migrate(self, key: str, source: str, target: str) -> bool:
        t = self.hosts.get(target)
        self.reality.remove(source, key)
        if t is None or not t.powered:
            return False
        self.reality.set_role(target, key, STARTED, self.loop.now)
        return True

    def power_switch(self, target: str, action: str) -> asyncio.Future[FenceResult]:
        """The fence device acts after its delay, outside every process."""
        fut: asyncio.Future[FenceResult] = self.loop.create_future()
        h = self.hosts.get(target)
        if h is None:
            fut.set_result(FenceResult(rc=1, ok=False, error=f"unknown target {target!r}"))
            return fut
        self.emit("fence", f"{action} {target} requested")

        def act() -> None:
            if action == "status":
                res = FenceResult(rc=0 if h.powered else 2, ok=True,
                                  power="on" if h.powered else "off")
            elif action in ("off", "reboot"):
                self.power_off(target, f"fenced: {action}")
                if action == "reboot":
                    self.power_on(target, "fence reboot")
                res = FenceResult(rc=0, ok=True, duration_ms=int(self.config.fence_delay * 1000))
            elif action == "on":
                self.power_on(target, "fence on")
                res = FenceResult(rc=0, ok=True)
            else:
                res = FenceResult(rc=1, ok=False, error=f"unsupported action {action!r}")
            if not fut.done():
                fut.set_result(res)

        self.loop.call_sim_at(self.loop.now + self.config.fence_delay, act)
        return fut

    def fence_fault(self, target: str, action: str) -> Fault | None:
        """The fence device fault in force for this request (the oldest active)."""
        if not self._fence_faults:
            return None
        f = self._fence_faults[0]
        if action in ("off", "reboot"):
            self.reached.add(f.kind)
        return f

    # ------------------------------------------------------------------ network and store

    def _fate(self, request: Request) -> Fate:
        """Every store request of a host passes here (MemoryCluster.set_fault)."""
        if self._leader_loss:
            self.reached.add("store-leader-loss")
            return Fate.REFUSED
        client = request.client
        if self._oneway_out and client in self._oneway_out:
            self._udp_reached("oneway-out", client)
            return Fate.LOST  # the request never gets there
        if self._oneway_in and client in self._oneway_in:
            self._udp_reached("oneway-in", client)
            return Fate.APPLIED_LOST  # the answer never gets back
        if self._revoke_lost and request.method == "revoke":
            f = self._revoke_lost[0]
            self.reached.add(f.kind)
            self.emit("store", f"revoke of lease {request.args[0]:x} by {client}: "
                      + ("lost (injected)" if f.value == 0 else "applied, answer lost (injected)"))
            return Fate.LOST if f.value == 0 else Fate.APPLIED_LOST
        if self._slow_store and client in self._slow_store:
            self.reached.add("store-slow")
        flaky = self._flaky.get(request.client)
        if flaky:
            self._store_calls += 1
            p = max(f.value for f in flaky)
            x = zlib.crc32(f"{self.seed}:{request.client}:{self._store_calls}".encode()) / 2**32
            if x < p:
                self.reached.add("store-flaky")
                # Split the unlucky ones evenly between the three kinds of failure.
                k = int(x / p * 3)
                return (Fate.REFUSED, Fate.LOST, Fate.APPLIED_LOST)[min(k, 2)]
        return Fate.OK

    def datagram(self, src: str, dst: str, data: bytes) -> None:
        """Deliver a datagram `DATAGRAM_DELAY` (global time) later unless `dst`
        has no open socket or a partition separates the hosts; the receiver's
        process runs the callback (held while it is frozen, never once dead).

        Every node sends to every member each heartbeat interval, so this is
        the simulation's busiest event: datagrams due at the same instant (one
        beat's, to each peer) travel as one simulator callback, which runs
        each receiver's callback as the loop would have run it."""
        sock = self.sockets.get(dst)
        if sock is None or (self._partitions and self._side(src) != self._side(dst)):
            return
        if self._udp_faults and self._udp_dropped(src, dst):
            return
        due = self.loop.now + DATAGRAM_DELAY
        batch = self._dgram_batch
        if batch is None or due != self._dgram_due:
            batch = self._dgram_batch = []
            self._dgram_due = due
            self.loop.call_sim_at(due, self._deliver, batch)
        batch.append((sock, data))

    def _deliver(self, batch: list[tuple[_Socket, bytes]]) -> None:
        if batch is self._dgram_batch:
            self._dgram_batch = None
        loop = self.loop
        for sock, data in batch:
            proc = sock.proc
            if proc is not None and proc.state is not ProcState.RUNNING:
                if proc.state is ProcState.FROZEN:
                    proc.held.append(asyncio.Handle(sock.on_receive, (data,), loop,
                                                    sock.context))
                continue  # a dead process receives nothing
            loop._current_proc = proc
            try:
                sock.context.run(sock.on_receive, data)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # as asyncio.Handle._run reports it
                loop.call_exception_handler({
                    "message": f"Exception in callback {sock.on_receive!r}",
                    "exception": exc})
            finally:
                loop._current_proc = None

    def _udp_dropped(self, src: str, dst: str) -> bool:
        """Does a datagram fault drop a datagram from `src` to `dst`?"""
        for f in self._udp_faults:
            kind = f.kind
            if kind == "hb-cut":
                cut = (src in f.nodes) != (dst in f.nodes)
            elif kind in ("hb-cut-in", "oneway-in"):
                cut = dst in f.nodes
            else:  # oneway-out
                cut = src in f.nodes
            if cut:
                self._udp_reached(kind, f.nodes[0], f)
                return True
        return False

    def _udp_reached(self, kind: str, node: str, f: Fault | None = None) -> None:
        """A datagram or store fault dropped something: it reached its target
        timing once it has lasted longer than the heartbeat timeout while the
        node was a member (long enough to be suspected, or to suspect)."""
        if kind in self.reached:
            return
        if f is None:
            f = next((g for g in self._udp_faults if g.kind == kind and node in g.nodes), None)
        if f is not None and self.loop.now - f.at >= self.config.heartbeat_timeout \
                and any(n in self._member_lease for n in f.nodes):
            self.reached.add(kind)

    def _side(self, n: str) -> tuple[int, ...]:
        return tuple(i for i, f in enumerate(self._partitions) if n in f.nodes)

    def _apply_network(self) -> None:
        """Who reaches the store: the side of the partitions holding a majority of
        store members (and nobody if no side does)."""
        side = self._side
        members = self.store_members
        sides: dict[tuple[int, ...], int] = {}
        for m in members:
            sides[side(m)] = sides.get(side(m), 0) + 1
        quorum = [s for s, c in sides.items() if c * 2 > len(members)]
        for n in self.hosts:
            reach = bool(quorum) and side(n) == quorum[0]
            if reach and self.cluster.is_partitioned(n):
                self.cluster.heal(n)
            elif not reach and not self.cluster.is_partitioned(n):
                self.cluster.partition(n)

    # ------------------------------------------------------------------ faults

    def schedule_faults(self) -> None:
        for f in self.faults:
            self.loop.call_sim_at(f.at, self._begin, f)
            if f.duration and f.kind not in ("rsc-die",):
                self.loop.call_sim_at(f.end, self._end, f)

    def _update_injectors(self) -> None:
        active = bool(self._leader_loss or self._flaky or self._oneway_out or self._oneway_in
                      or self._revoke_lost or self._slow_store)
        if active != self._injecting:
            self._injecting = active
            for n in self.hosts:
                self.cluster.set_fault(n, self._fate if active else None)

    def _begin(self, f: Fault) -> None:
        self.emit("fault", f.describe())
        node = f.nodes[0] if f.nodes else ""
        if f.kind in SICKENING:
            for n in (self.hosts if f.kind == "store-leader-loss" else f.nodes):
                _count(self._sick, n, 1)
        # Reached its timing (statistics): a host lost, frozen or partitioned
        # while a member, for longer than the heartbeat timeout (long enough
        # to be suspected); a drifting clock on a member.
        member = any(n in self._member_lease for n in f.nodes)
        long = f.duration > self.config.heartbeat_timeout
        if f.kind in ("crash", "drift") and member or \
                f.kind in ("freeze", "partition") and member and long:
            self.reached.add(f.kind)
        if f.kind == "crash":
            for key, running in self.reality.on(node).items():
                self.checker.died(node, key, running.role)
            self.power_off(node, "crash")
        elif f.kind == "freeze":
            self.freeze(node)
        elif f.kind == "partition":
            self._partitions.append(f)
            self._apply_network()
        elif f.kind == "rsc-die":
            for key, running in list(self.reality.on(node).items()):
                if split_instance_id(key)[0] == f.rsc or key == f.rsc:
                    self.checker.died(node, key, running.role)
                    self.reality.remove(node, key)
                    self.emit(node, f"{key} died")
                    self.reached.add(f.kind)
        elif f.kind in ("agent-fail", "agent-hang"):
            self.hosts[node].agent_faults.append(f)
        elif f.kind == "agent-fail-always":
            self.hosts[node].always_faults.append(f)
        elif f.kind == "drift":
            self.hosts[node].drift.set_rate(self.loop.now, f.value)
        elif f.kind == "store-leader-loss":
            self._leader_loss += 1
        elif f.kind == "store-flaky":
            self._flaky.setdefault(node, []).append(f)
        elif f.kind in ("fence-fail", "fence-hang", "fence-slow-fail", "fence-lie"):
            self._fence_faults.append(f)
        elif f.kind in ("hb-cut", "hb-cut-in", "oneway-out", "oneway-in"):
            self._udp_faults.append(f)
            if f.kind == "oneway-out":
                _count(self._oneway_out, node, 1)
            elif f.kind == "oneway-in":
                _count(self._oneway_in, node, 1)
                self._stall_watches(node, 1)
        elif f.kind == "watch-stall":
            self.cluster.watch_held.discard(node)
            self._stall_watches(node, 1)
        elif f.kind == "revoke-lost":
            self._revoke_lost.append(f)
        elif f.kind == "store-slow":
            self._slow_store.setdefault(node, []).append(f)
            self.cluster.set_latency(node, max(g.value for g in self._slow_store[node]))
        elif f.kind == "loop-stall":
            member = node in self._member_lease
            if self.hold(node, "loop-stall") and member:
                self._stall_member.add(f)
        elif f.kind == "vm-pause":
            if self.vm_pause(node) and node in self._member_lease:
                self.reached.add("vm-pause")
        elif f.kind == "disk-full":
            _count(self._disk_full, node, 1)
            disk.fill(self.disk_of(node))
        if f.kind in STORE_PATH:
            self._update_injectors()

    def _end(self, f: Fault) -> None:
        node = f.nodes[0] if f.nodes else ""
        if f.kind in SICKENING:
            until = self.loop.now + 2 * self.config.heartbeat_timeout
            for n in (self.hosts if f.kind == "store-leader-loss" else f.nodes):
                _count(self._sick, n, -1)
                self._sick_until[n] = max(self._sick_until.get(n, until), until)
        self.emit("fault", f"end of {f.describe()}")
        if f.kind == "crash":
            self.power_on(node, "after crash")
        elif f.kind == "freeze":
            self.thaw(node)
        elif f.kind == "partition":
            self._partitions.remove(f)
            self._apply_network()
        elif f.kind in ("agent-fail", "agent-hang"):
            with contextlib.suppress(ValueError):
                self.hosts[node].agent_faults.remove(f)
        elif f.kind == "agent-fail-always":
            self.hosts[node].always_faults.remove(f)
        elif f.kind == "drift":
            self.hosts[node].drift.set_rate(self.loop.now, 0.0)
        elif f.kind == "store-leader-loss":
            self._leader_loss -= 1
        elif f.kind == "store-flaky":
            self._flaky[node].remove(f)
            if not self._flaky[node]:
                del self._flaky[node]
        elif f.kind in ("fence-fail", "fence-hang", "fence-slow-fail", "fence-lie"):
            self._fence_faults.remove(f)
        elif f.kind in ("hb-cut", "hb-cut-in", "oneway-out", "oneway-in"):
            self._udp_faults.remove(f)
            if f.kind == "oneway-out":
                _count(self._oneway_out, node, -1)
            elif f.kind == "oneway-in":
                _count(self._oneway_in, node, -1)
                self._stall_watches(node, -1)
        elif f.kind == "watch-stall":
            if node in self.cluster.watch_held:
                self.reached.add("watch-stall")
            self._stall_watches(node, -1)
        elif f.kind == "revoke-lost":
            self._revoke_lost.remove(f)
        elif f.kind == "store-slow":
            self._slow_store[node].remove(f)
            if not self._slow_store[node]:
                del self._slow_store[node]
            self.cluster.set_latency(node, max((g.value for g in self._slow_store.get(node, ())),
                                               default=0.0))
        elif f.kind == "loop-stall":
            reordered = self.release(node, "loop-stall")
            if f in self._stall_member:
                self._stall_member.discard(f)
                if reordered:
                    self.reached.add("loop-stall")
        elif f.kind == "vm-pause":
            self.vm_resume(node)
        elif f.kind == "disk-full":
            _count(self._disk_full, node, -1)
            disk.free(self.disk_of(node))
            if disk.failures(self.disk_of(node)):
                self.reached.add("disk-full")
        if f.kind in STORE_PATH:
            self._update_injectors()

    def _stall_watches(self, node: str, delta: int) -> None:
        n = _count(self._watch_stalls, node, delta)
        if n == 1 and delta > 0:
            self.cluster.stall_watches(node)
        elif n == 0:
            self.cluster.resume_watches(node)

    # ------------------------------------------------------------------ observing

    def _reality_changed(self, host: str, key: str, role: str | None) -> None:
        self.checker.key_changed(key)
        if role is not None and self.checker.fenced:
            self.checker.host_changed(host, key, role)

    def after_step(self) -> None:
        c = self.cluster
        if c.calls_since_yield:
            c.calls_since_yield = 0
        if c.revision != self._rev:
            self._store_events()

    def _busy(self, client: str, method: str) -> None:
        self.checker.violate("stalled", f"a callback of {client} made "
                             f"{self.cluster.busy_limit} store requests (the last: {method}) "
                             "without yielding: a retry loop with no wait (a real store client "
                             "yields on every request; this one would spin for ever)", client)

    def _store_events(self) -> None:
        events = self.cluster.events_since(self.keys.prefix, self._rev + 1)
        self._rev = self.cluster.revision
        for ev in events:
            parts = self.keys.parse(ev.kv.key)
            if not parts:
                continue
            kind = parts[0]
            put = ev.type is EventType.PUT
            if kind == "nodes" and len(parts) == 2:
                self._membership(parts[1], ev.kv if put else None, ev.revision)
            elif kind == "controller" and len(parts) == 1:
                if put and ev.kv.version == 1:
                    node = _json(ev.kv.value).get("node", "?")
                    self._controller = node
                    self.emit("store", f"controller elected: {node} "
                              f"(token {ev.kv.create_revision})")
                elif not put:
                    self._controller = None
                    self.emit("store", "controller key gone")
            elif kind == "fencing" and len(parts) == 3 and put:
                self._fence_recorded(parts[1], ev.kv.value)
            elif kind == "actions" and len(parts) == 3 and put and self.trace.verbose:
                self.emit("store", f"request {parts[2]} to {parts[1]}: "
                          f"{ev.kv.value.decode(errors='replace')}")

    def _membership(self, node: str, kv: KeyValue | None, revision: int = 0) -> None:
        if kv is not None:
            if self._member_lease.get(node) != kv.lease:
                self._member_lease[node] = kv.lease
                self._member_since[node] = self.loop.now
                self._lost_at.pop(node, None)
                self._key_gone_at.pop(node, None)
                self.checker.rejoined(node)
                self.emit("store", f"{node} is a member (lease {kv.lease:x})")
            return
        lease = self._member_lease.pop(node, None)
        if lease is None:
            return
        self._last_lease[node] = lease
        now = self.loop.now
        if revision not in self.cluster.lease_end_revisions and self._healthy(node):
            self.checker.violate(
                "healthy-evicted", f"{node} lost its membership (its key deleted by a request, "
                f"not with its lease {lease:x}: evicted, deposed or declared fenced) though it "
                "was healthy: running, reaching the store, no fault on it for "
                f"{2 * self.config.heartbeat_timeout:g}s", node)
        self._lost_at[node] = now
        self._key_gone_at[node] = now
        self.checker.host_lost(node)
        self.emit("store", f"{node} is no longer a member")
        h = self.hosts[node]
        if h.powered:
            if h.watchdog is None:
                self.reached.add("watchdog-none")
            ctl = self.hosts.get(self._controller or "")
            if ctl is not None and ctl.ttl != h.ttl:
                self.reached.add("mixed-ttl")
        self._lease_gone_check(node, lease)

    def _lease_gone_check(self, node: str, lease: int) -> None:
        """The self-fence bound counts from the end of the node's lease, not from
        its key's deletion: an evicted node whose revoke was lost and whose
        watch of its own key stalls still holds a live lease and cannot know
        (issue 13, finding 4: key gone is not lease gone). Rule 4 asks a node
        to stop before its lease can expire; while the lease lives, what must
        not happen is a takeover (fenced-before-takeover, fence-confirmed)."""
        if self.cluster.has_lease(lease):
            self.loop.call_sim_at(self.loop.now + 0.1, self._lease_gone_check, node, lease)
            return
        now = self.loop.now
        h = self.hosts[node]
        # What ran under that lease: not what a later incarnation, which
        # joined once the key was gone, has started since (seed 1166: the
        # host was power-cycled and joined again before the old lease ran out).
        since = self._member_since.get(node) if node in self._member_lease else None
        cutoff = min(now, since) if since is not None else now
        # (a hair after the bound: a node evicted right after a keepalive is
        # reset by its watchdog exactly at the bound — seed 236)
        self.loop.call_sim_at(now + h.self_fence_bound + SELF_FENCE_SLACK,
                              self._check_self_fence, node, cutoff)

    def _check_self_fence(self, node: str, lost_at: float) -> None:
        h = self.hosts[node]
        if not h.powered:
            return
        if h.frozen and (not h.resettable or h.paused_at is not None):
            return  # cannot act; only fencing can make it safe (checked there)
        if not h.resettable and h.stop_fault_at >= lost_at - h.ttl:
            # A stop that failed or hangs while it fences itself: without a
            # watchdog nothing on the host can do better (it stops no further,
            # to keep the order); fencing covers it (checked there).
            return
        bound = h.self_fence_bound
        back = max(h.thawed_at if not h.resettable else -1.0, h.resumed_at)
        if back > lost_at and self.loop.now < back + bound + SELF_FENCE_SLACK:
            # It was frozen without a watchdog (found by faultsim, seed 1086),
            # or its VM (and watchdog) paused, for part of the bound: it gets
            # the whole bound from its thaw to stop what it runs.
            self.loop.call_sim_at(back + bound + SELF_FENCE_SLACK, self._check_self_fence, node,
                                  lost_at)
            return
        left = self.checker.lingering(node, lost_at)
        if left:
            self.checker.violate(
                "self-fence", f"{node} still runs {', '.join(left)} "
                f"{self.loop.now - lost_at:.1f}s after its membership ended (its key deleted: "
                f"lease {'gone' if self._lease_gone(node) else 'still alive'})", node,
                left[0].split(" ")[0])

    def _fence_recorded(self, target: str, value: bytes) -> None:
        data = _json(value)
        state = str(data.get("state", ""))
        self.emit("store", f"fencing of {target} recorded: {data.get('action', '?')} {state}")
        if state.lower() in ("failed", "error", "pending"):
            return
        h = self.hosts.get(target)
        if h is not None:
            self.checker.fence_confirmed(target, h.powered, h.paused_at is not None)
        self._lost_at.pop(target, None)

    def lost_active(self) -> dict[str, dict[str, str]]:
        """For every lost, unfenced node: what the store says is active there."""
        if self._lost_cache is not None and self._lost_cache[0] == self.cluster.revision:
            return self._lost_cache[1]
        from pacer.scheduler import schedule

        kvs = self.cluster.snapshot()
        out: dict[str, dict[str, str]] = {}
        lost = [n for n in self._lost_at
                if self.keys.node(n) not in kvs
                and kvs.get(self.keys.expected_state(n), KeyValue("", b"", 0, 0, 0)).value
                == b"member"]
        if lost:
            now = int(EPOCH_BASE + self.loop.now)
            status = build_status(kvs.values(), self.keys, self.defn, now)
            for r in schedule(self.defn, status, now).view.primitives:
                for n, role in r.roles.items():  # (where history says it runs)
                    if n in lost:
                        out.setdefault(n, {})[r.primitive] = role
        self._lost_cache = (self.cluster.revision, out)
        return out

    # ------------------------------------------------------------------ convergence

    def converged(self) -> tuple[bool, str]:
        """Has the cluster reached the scheduler's target? (and if not, why)"""
        # Nothing changed since the last look: the same answer (the scheduler is
        # the expensive part; time-based rules are not used by the simulations).
        state = (self.cluster.revision, self.reality.version,
                 tuple(h.powered for h in self.hosts.values()))
        if self._converged_cache is not None and self._converged_cache[0] == state:
            return self._converged_cache[1]
        verdict = self._converged()
        self._converged_cache = (state, verdict)
        return verdict

    def _converged(self) -> tuple[bool, str]:
        from pacer.scheduler import schedule

        kvs = self.cluster.snapshot()
        if self.keys.controller not in kvs:
            return False, "no controller"
        for n, h in self.hosts.items():
            if h.powered and self.keys.node(n) not in kvs:
                return False, f"{n} is up but not a member"
        if any(k.startswith(self.keys.actions) for k in kvs):
            return False, "actions pending"
        now = int(EPOCH_BASE + self.loop.now)
        status = build_status(kvs.values(), self.keys, self.defn, now)
        result = schedule(self.defn, status, now)
        todo = [a for a in result.transition.actions if not a.pseudo and a.runnable]
        if todo:
            return False, "scheduler still wants: " + ", ".join(
                f"{a.task} {a.rsc or ''}@{a.node}" for a in todo[:4])
        believed: dict[tuple[str, str], bool] = {}
        for r in result.view.primitives:
            for n in r.active:
                believed[(r.primitive, n)] = r.roles.get(n) == "Promoted"
        real: dict[tuple[str, str], bool] = {}
        for h in self.reality.hosts():
            for key, run in self.reality.on(h).items():
                real[(split_instance_id(key)[0], h)] = run.role in ("promoting", "promoted",
                                                                    "demoting")
        if believed != real:
            diff = sorted(set(believed.items()) ^ set(real.items()))
            return False, "store and reality differ: " + ", ".join(
                f"{p}@{n}{' promoted' if pr else ''}" for (p, n), pr in diff[:4])
        return True, ""

    async def main(self) -> None:
        """The run: store the definition, boot every host, inject the faults,
        then wait for convergence (or a violation)."""
        from pacer.faultsim.faults import heal_time

        admin = ClusterStore(self.cluster.client("faultsim-admin"))
        await admin.put_definition(self.definition_text)
        self._rev = self.cluster.revision
        self.emit("sim", f"seed {self.seed}: {len(self.hosts)} nodes, fencing "
                  f"{self.config.fencing}, {len(self.faults)} faults, "
                  f"{self.profile.describe()}")
        for n in self.hosts:
            self.boot_now(n)
        self.schedule_faults()
        self.heal_at = heal_time(self.faults, self.config)
        poll = self.heal_at
        why = ""
        while not self.done.done():
            await asyncio.wait([self.done], timeout=max(0.0, poll - self.loop.now))
            if self.done.done():
                break
            ok, why = self.converged()
            if ok:
                if self.converged_at is None:
                    self.converged_at = self.loop.now
                    self.emit("sim", f"converged {self.loop.now - self.heal_at:.1f}s after "
                              "the last fault healed")
                if self.loop.now >= self.converged_at + self.config.settle:
                    break
            else:
                self.converged_at = None
                if self.loop.now >= self.converge_deadline():
                    since = max(self.heal_at, min(self.busy_until, self.heal_at
                                                  + self.config.slow_converge_cap))
                    after = f"the last fault healed (t={self.heal_at:.1f})" \
                        if since == self.heal_at else \
                        f"the last slow or hung operation ended (t={since:.1f})"
                    self.checker.violate("converges", f"not converged "
                                         f"{self.config.converge_bound:g}s after {after}: {why}")
                    break
            poll = self.loop.now + CONVERGE_POLL

    def converge_deadline(self) -> float:
        """`converge_bound` after the last fault healed and the last slow or hung
        action ended (at most `slow_converge_cap` later than from the heal)."""
        c = self.config
        return max(self.heal_at, min(self.busy_until, self.heal_at + c.slow_converge_cap)) \
            + c.converge_bound

    def free_disks(self) -> None:
        """Every disk works again (before the processes unwind after the run)."""
        for name in self.hosts:
            disk.forget(self.disk_of(name))

    def cleanup(self) -> None:
        self.free_disks()
        shutil.rmtree(self._state_root, ignore_errors=True)
