"""Never two where one is allowed, on the slow paths (issue 13): long stops,
stops that never return, fence devices that fail slowly, revokes that are
lost. Each test runs the real controller and node daemons in the fault
simulator on virtual time, with the slow or broken part put in by a wrapper
around the simulated agent runner, fence device or store client; each failed
on main at 0e2c3b3 with the violation its docstring names."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

from pacer.agents.api import ActionRequest, ActionResult, FenceRequest, FenceResult
from pacer.faultsim.config import AgentTiming, SimConfig
from pacer.faultsim.daemons import pacer_process
from pacer.faultsim.faults import parse_fault
from pacer.faultsim.run import RunResult, run
from pacer.faultsim.world import HostEnv
from pacer.store.base import Event, StoreUnavailable
from pacer.store.cluster import ClusterStore

# A VIP that prefers n3 (n1 is the first controller: the node the faults hit
# is not the controller's) and leaves a node after one failure; its stop may
# take up to 300 s, as a database's does.
DEFINITION = """
cluster:
  stonith-enabled: true
  no-quorum-policy: stop
{extra_props}
defaults:
  resource: {{resource-stickiness: 100}}
  operation: {{timeout: 20s}}
nodes: [n1, n2, n3]
resources:
{fence}
  - id: vip
    agent: ocf:heartbeat:Dummy
    meta: {{migration-threshold: 1}}
    operations:
      - {{name: monitor, interval: 5s, timeout: 10s}}
      - {{name: stop, interval: 0, timeout: 300s}}
constraints:
  - location: {{rsc: vip, node: n3, score: 50}}
"""
FENCE = """  - id: fence-sim
    agent: stonith:fence_sim
    params: {pcmk_host_list: "n1 n2 n3"}"""


def _config(*, fencing: str = "device", stop: float = 0.5, **kw) -> SimConfig:
    extra = "  stonith-watchdog-timeout: 4s" if fencing == "watchdog" else ""
    text = DEFINITION.format(extra_props=extra, fence=FENCE if fencing == "device" else "")
    # (stops of minutes: the cluster converges minutes after the fault)
    return SimConfig(fencing=fencing, definition=text, converge_bound=400.0,
                     timing=AgentTiming(stop=stop), **kw)


def _run(config: SimConfig, faults: list[str], factory=None) -> RunResult:
    return run(config, 1, [parse_fault(f) for f in faults], factory=factory)


def _unsafe(r: RunResult) -> list:
    """The run's violations but `healthy-evicted`: the simulator counts a node
    healthy when no fault *it* injected hits it, and these tests break agents,
    devices and links behind its back (a node whose stop cannot finish must
    be fenced, which that availability check would take for a healthy node
    evicted)."""
    return [v for v in r.violations if v.invariant != "healthy-evicted"]


def _lines(r: RunResult, *words: str) -> list[str]:
    return [line for line in r.trace.text().splitlines() if all(w in line for w in words)]


def _t(line: str) -> float:
    return float(line.split()[0])


def _standby_at(*moves: tuple[str, float], factory=pacer_process):
    """A daemon factory that also plays an operator running `pacer node standby
    NODE` at each (NODE, when) (from n1's process: it writes the attribute, as
    the CLI does)."""
    async def with_operator(env: HostEnv) -> None:
        if env.name == "n1" and env.incarnation == 1:
            async def operator() -> None:
                for node, when in moves:
                    await asyncio.sleep(when - asyncio.get_running_loop().time())
                    await ClusterStore(env.store).set_attribute(node, "standby", "on")
            task = asyncio.ensure_future(operator())
            try:
                await factory(env)
            finally:
                task.cancel()
        else:
            await factory(env)
    return with_operator


def test_a_long_stop_is_waited_for_before_the_start_elsewhere() -> None:
    """Finding 1, as the lab saw it. An operator puts n3, where vip runs, in
    standby: vip moves; its stop takes 30-90 s (timeout 300 s). On 0e2c3b3
    the controller wrote the stop off after 30 s, waited 30 s more for the
    pending record, then read the pending stop as "stopped" (it had replaced
    the start in history) and started vip elsewhere while the stop still ran:
    [single-active] vip is active on 2 hosts."""
    # (a fault that does nothing: the run lasts past the operator's move)
    r = _run(_config(stop=60.0), ["drift@30+1:n2=0.0"], _standby_at(("n3", 30.0)))
    assert not _unsafe(r), r.violations
    stops = _lines(r, "n3", "stop vip: rc=0")
    starts = [line for line in _lines(r, "start vip: rc=0") if " n3 " not in line]
    assert stops and starts, r.trace.text()
    assert _t(stops[0]) - 30 > 20  # it was long...
    assert _t(starts[0]) > _t(stops[0])  # ...and waited for
    assert len(stops) == 1  # and asked for once
    assert r.converged_at is not None


def test_a_failed_resources_long_stop_is_asked_for_once() -> None:
    """Finding 1, with a failure. vip's monitor fails on n3 and it must move;
    its stop takes 30-90 s. On 0e2c3b3 every stop was written off after 30 s
    and asked for again, the start elsewhere never came: [converges] not
    converged 400 s after the fault (six stops in a row)."""
    r = _run(_config(stop=60.0), ["agent-fail@30:n3/vip/monitor"])
    assert not _unsafe(r), r.violations
    stops = _lines(r, "n3", "stop vip: rc=0")
    starts = [line for line in _lines(r, "start vip: rc=0") if " n3 " not in line]
    assert len(stops) == 1 and starts, r.trace.text()
    assert _t(starts[0]) > _t(stops[0]) > 50


class _StuckStop:
    """An agent whose stop of `rsc` never returns (a process in D state that
    not even SIGKILL ends): its node never reports a result."""

    def __init__(self, inner, rsc: str) -> None:
        self.inner = inner
        self.rsc = rsc

    async def run(self, request: ActionRequest) -> ActionResult:
        if request.action == "stop" and request.rsc_id == self.rsc:
            await asyncio.Event().wait()
        return await self.inner.run(request)


def test_a_stop_that_never_returns_counts_as_timed_out_and_fences_its_node() -> None:
    """Finding 1, last clause: a result that never comes is that operation's
    timeout, and its on-fail (fence) applies before vip starts elsewhere. On
    0e2c3b3: [single-active] (vip started on n2 about a minute into the stop)."""
    async def factory(env: HostEnv) -> None:
        if env.name == "n3":
            env = dataclasses.replace(env, runner=_StuckStop(env.runner, "vip"))
        await pacer_process(env)

    r = _run(_config(), ["agent-fail@30:n3/vip/monitor"], factory)
    assert not _unsafe(r), r.violations
    fenced = _lines(r, "fencing of n3 recorded")
    starts = [line for line in _lines(r, "start vip: rc=0") if " n3 " not in line]
    assert fenced and starts, r.trace.text()
    # 300 s of stop timeout and the 10 s grace, then the fence, then the start
    assert _t(fenced[0]) > 30 + 300
    assert _t(starts[0]) > _t(fenced[0])


class _StopFails:
    """An agent whose stop of `rsc` fails every time (rc 1), leaving it running."""

    def __init__(self, inner, rsc: str) -> None:
        self.inner = inner
        self.rsc = rsc

    async def run(self, request: ActionRequest) -> ActionResult:
        if request.action == "stop" and request.rsc_id == self.rsc:
            await asyncio.sleep(0.2)
            return ActionResult(rc=1, exit_reason="cannot stop (test)")
        return await self.inner.run(request)


class _SlowFailingDevice:
    """A fence device that fails, but only after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def fence(self, request: FenceRequest) -> FenceResult:
        if request.action in ("monitor", "list", "metadata", "meta-data", "validate-all"):
            return FenceResult(rc=0, ok=True)
        await asyncio.sleep(self.delay)
        return FenceResult(rc=1, ok=False, error="timed out (test)",
                           duration_ms=int(self.delay * 1000))


def test_the_watchdog_wait_counts_from_when_the_lease_is_gone_not_from_before_the_device() -> None:
    """Finding 2. vip cannot be stopped on n3: n3 must be fenced. The device
    fails after 30 s; n3 then loses its lease, cannot stop vip, and waits for
    its watchdog. On 0e2c3b3 the watchdog wait was counted from before the
    device attempt, so n3 counted as fenced the moment its lease was revoked:
    [fenced-before-takeover] vip started on n2 while n3 still ran it."""
    async def factory(env: HostEnv) -> None:
        env = dataclasses.replace(env, fencer=_SlowFailingDevice(30.0))
        if env.name == "n3":
            env = dataclasses.replace(env, runner=_StopFails(env.runner, "vip"))
        await pacer_process(env)

    r = _run(_config(), ["agent-fail@30:n3/vip/monitor"], factory)
    assert not _unsafe(r), r.violations
    reset = _lines(r, "n3", "watchdog expired: hardware reset")
    starts = [line for line in _lines(r, "start vip: rc=0") if " n3 " not in line]
    assert reset and starts, r.trace.text()
    assert _t(starts[0]) > _t(reset[0])


class _LosesRevokes:
    """A store client whose revokes are lost (the request never reaches etcd)
    until `until` (virtual time)."""

    def __init__(self, inner, loop, until: float) -> None:
        self._inner = inner
        self._loop = loop
        self._until = until

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def revoke(self, lease_id: int) -> None:
        if self._loop.time() < self._until:
            raise StoreUnavailable("revoke lost (test)")
        await self._inner.revoke(lease_id)


class _StalledOwnKeyWatch:
    """A store client whose watch of the node's own membership key delivers
    nothing (a stalled watch stream; unary calls work)."""

    def __init__(self, inner, key: str) -> None:
        self._inner = inner
        self._key = key

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def watch_prefix(self, prefix: str, start_revision: int | None = None
                     ) -> AsyncIterator[Event]:
        if prefix == self._key:
            return self._silent()
        return self._inner.watch_prefix(prefix, start_revision)

    async def _silent(self) -> AsyncIterator[Event]:
        await asyncio.Event().wait()
        yield  # pragma: no cover (never reached; makes this an async generator)


class _LateActions:
    """A store client whose watch of the node's action requests delivers every
    event that comes before `until` only at `until` (a stalled watch stream
    that catches up later)."""

    def __init__(self, inner, prefix: str, loop, until: float) -> None:
        self._inner = inner
        self._prefix = prefix
        self._loop = loop
        self._until = until

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def watch_prefix(self, prefix: str, start_revision: int | None = None
                     ) -> AsyncIterator[Event]:
        events = self._inner.watch_prefix(prefix, start_revision)
        return self._late(events) if prefix == self._prefix else events

    async def _late(self, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        async for ev in events:
            if self._loop.time() < self._until:
                await asyncio.sleep(self._until - self._loop.time())
            yield ev


def test_a_request_written_off_is_never_run_later() -> None:
    """Finding 5. vip moves to n2 (n3 in standby at t=30), but n2's watch of
    its requests stalls until t=90; at t=45 n2 goes in standby too and vip
    is placed on n1. On 0e2c3b3 the start sent to n2 stayed in the store
    after it was written off, and n2 ran it when its watch caught up:
    [single-active] vip active on n1 and n2."""
    async def late_n2(env: HostEnv) -> None:
        if env.name == "n2":
            env = dataclasses.replace(env, store=_LateActions(
                env.store, "/pacer/default/actions/n2/", asyncio.get_running_loop(), 90.0))
        await pacer_process(env)

    factory = _standby_at(("n3", 30.0), ("n2", 45.0), factory=late_n2)

    text = _config().definition.replace("  - location: {rsc: vip, node: n3, score: 50}",
                                        "  - location: {rsc: vip, node: n3, score: 50}\n"
                                        "  - location: {rsc: vip, node: n2, score: 20}")
    r = _run(dataclasses.replace(_config(), definition=text), ["drift@30+70:n2=0.0"],
             factory)
    assert not _unsafe(r), r.violations
    assert [line for line in _lines(r, "n1", "start vip: rc=0")], r.trace.text()


class _Mute:
    """A heartbeat link whose datagrams stop leaving at `since` (outbound UDP
    blocked from then on)."""

    def __init__(self, inner, loop, since: float) -> None:
        self._inner = inner
        self._loop = loop
        self._since = since

    async def open(self, on_receive) -> None:
        await self._inner.open(on_receive)

    def send(self, addr: str, data: bytes) -> None:
        if self._loop.time() < self._since:
            self._inner.send(addr, data)

    def close(self) -> None:
        self._inner.close()


def test_a_node_whose_revoke_was_lost_is_not_counted_as_fenced() -> None:
    """Finding 4. From t=25 n3's heartbeats stop reaching the others (its
    outbound UDP is blocked) while it stays healthy; the controller evicts
    it, but every revoke of its lease is lost until t=50, and n3's watch of
    its own key is stalled: n3 goes on renewing its lease, feeding its
    watchdog and running vip. On 0e2c3b3 the controller counted watchdog
    fencing from the key's absence: [fenced-before-takeover] the fence of n3
    was confirmed while n3 still ran vip."""
    async def factory(env: HostEnv) -> None:
        loop = asyncio.get_running_loop()
        if env.name == "n3":
            key = f"/pacer/default/nodes/{env.name}"
            env = dataclasses.replace(env, store=_StalledOwnKeyWatch(env.store, key),
                                      link=_Mute(env.link, loop, 25.0))
        else:
            env = dataclasses.replace(env, store=_LosesRevokes(env.store, loop, 50.0))
        await pacer_process(env)

    # (a fault that does nothing, so that the run lasts past the windows above)
    r = _run(_config(fencing="watchdog"), ["drift@25+30:n2=0.0"], factory)
    assert not _unsafe(r), r.violations
    # n3 ran vip until a revoke got through and it noticed; nothing else did
    stop = _lines(r, "n3", "stop vip: rc=0")
    assert stop and _t(stop[0]) >= 50.0, r.trace.text()


class _LyingDevice:
    """A fence device that reports success without doing anything."""

    async def fence(self, request: FenceRequest) -> FenceResult:
        await asyncio.sleep(0.5)
        return FenceResult(rc=0, ok=True)


def _frozen_with_a_liar(fence_confirm: str | None) -> RunResult:
    async def factory(env: HostEnv) -> None:
        await pacer_process(dataclasses.replace(env, fencer=_LyingDevice()))

    cfg = _config()
    text = cfg.definition
    if fence_confirm:
        text = text.replace("  no-quorum-policy: stop",
                            f"  no-quorum-policy: stop\n  fence-confirm: {fence_confirm}")
    return _run(dataclasses.replace(cfg, definition=text), ["freeze@30+20:n3"], factory)


def test_a_lying_fence_device_defeats_a_manager_that_trusts_it() -> None:
    """What a device that says "done" without acting breaks: n3 (running vip)
    freezes, the device lies, vip starts on another node while the frozen n3
    still holds it (any manager that trusts its device does the same)."""
    r = _frozen_with_a_liar(None)
    assert _unsafe(r) and _unsafe(r)[0].invariant in ("fence-confirmed",
                                                      "fenced-before-takeover"), r.violations


def test_fence_confirm_device_and_lease_waits_for_the_lease_and_the_watchdog() -> None:
    """The opt-in: a device's word counts only once the target's lease is gone
    and its watchdog time has passed; the frozen n3 is reset by its watchdog
    before vip could start elsewhere (here it comes back first and keeps it)."""
    r = _frozen_with_a_liar("device-and-lease")
    assert not _unsafe(r), r.violations
    reset = _lines(r, "n3", "watchdog expired")
    starts = [line for line in _lines(r, "start vip: rc=0") if " n3 " not in line]
    assert reset, r.trace.text()
    assert all(_t(line) > _t(reset[0]) for line in starts)
