"""The invariants catch planted violations: scripted processes (deliberately
wrong, test-only) drive the simulated agents, fence switch and store directly."""

from __future__ import annotations

import asyncio
import contextlib

from pacer.agents.api import ActionRequest, AgentSpec, FenceRequest
from pacer.faultsim.config import SimConfig, default_definition
from pacer.faultsim.faults import Fault
from pacer.faultsim.run import RunResult, run
from pacer.faultsim.world import HostEnv
from pacer.status.types import FenceEvent
from pacer.store.base import StoreError
from pacer.store.cluster import ClusterStore

DUMMY = AgentSpec.parse("ocf:heartbeat:Dummy")
STATEFUL = AgentSpec.parse("ocf:pacemaker:Stateful")


async def _member(env: HostEnv) -> int:
    lease = await env.store.grant(env.lease_ttl)
    await ClusterStore(env.store).join(env.name, lease.id)
    return lease.id


async def _keepalive(env: HostEnv, lease: int) -> None:
    while True:
        await asyncio.sleep(env.lease_ttl / 4)
        with contextlib.suppress(StoreError):  # and never self-fences: it is a script
            await env.store.keepalive(lease)


def _scripted(script):  # a daemon factory for one scripted behaviour
    async def process(env: HostEnv) -> None:
        lease = await _member(env)
        keep = asyncio.ensure_future(_keepalive(env, lease))
        await script(env)
        await keep
    return process


def _run(script, faults: list[Fault] | None = None, **config) -> RunResult:
    return run(SimConfig(**config), 1, faults or [], factory=_scripted(script))


def _kinds(r: RunResult) -> list[str]:
    # (scripts that declare a healthy node fenced also evict it: healthy-evicted)
    return [v.invariant for v in r.violations if v.invariant != "healthy-evicted"]


async def _start(env: HostEnv, rsc: str, agent: AgentSpec = DUMMY, **meta: str) -> int:
    return (await env.runner.run(ActionRequest(rsc, agent, "start", meta=meta))).rc


def test_a_primitive_started_on_two_nodes_is_caught() -> None:
    async def everyone_starts_vip(env: HostEnv) -> None:
        if env.name in ("n1", "n2"):
            await _start(env, "lb")  # the order lb-clone -> vip is kept
            await _start(env, "vip")

    r = _run(everyone_starts_vip)
    assert _kinds(r) == ["single-active"]
    v = r.violations[0]
    assert v.rsc == "vip" and v.node == "n2"
    assert "vip is active on 2 hosts: n1 (starting), n2 (starting)" in str(v)


def test_too_many_promoted_is_caught() -> None:
    async def everyone_promotes(env: HostEnv) -> None:
        await _start(env, "db", STATEFUL, **{"promoted-max": "1"})
        await env.runner.run(ActionRequest("db", STATEFUL, "promote",
                                           meta={"promoted-max": "1"}))

    r = _run(everyone_promotes)
    assert _kinds(r)[:1] == ["promoted-max"]
    assert "db-clone: 2 promoted" in r.violations[0].message


def test_an_order_broken_by_a_start_is_caught() -> None:
    async def vip_without_lb(env: HostEnv) -> None:
        if env.name == "n1":
            await _start(env, "vip")

    r = _run(vip_without_lb)
    assert _kinds(r) == ["order"]
    assert "start of vip on n1 began while lb-clone is not started" in r.violations[0].message


def test_a_group_member_started_before_its_predecessor_is_caught() -> None:
    async def web_first(env: HostEnv) -> None:
        if env.name == "n3":
            await _start(env, "lb")
            await _start(env, "vip")
            await _start(env, "api-web")

    r = _run(web_first)
    assert _kinds(r) == ["order"]
    assert "group api: start of api-web on n3 began while api-db is not started on n3" \
        in r.violations[0].message


def test_a_node_that_keeps_running_after_its_lease_lapsed_is_caught() -> None:
    async def never_self_fence(env: HostEnv) -> None:
        if env.name == "n1":
            await _start(env, "lb")

    # n1 is cut off from the store: its lease lapses at ~31 s, lb still runs 4 s later.
    r = _run(never_self_fence, [Fault(30.0, "partition", ("n1",), 20.0)])
    assert _kinds(r) == ["self-fence"]
    assert "n1 still runs lb (started)" in r.violations[0].message


def test_a_fence_confirmed_while_the_node_runs_is_caught() -> None:
    async def confirm_without_fencing(env: HostEnv) -> None:
        if env.name == "n1":
            await _start(env, "lb")
        if env.name == "n2":
            await asyncio.sleep(5)
            cs = ClusterStore(env.store)
            session = await cs.campaign("n2", await cs.membership_lease("n2"))
            assert session is not None
            member = await cs.membership_lease("n1")
            assert await session.node_fenced(FenceEvent("n1", "reboot", "success"), "liar",
                                             member or 0)

    r = _run(confirm_without_fencing)
    assert _kinds(r) == ["fence-confirmed"]
    assert "fence of n1 was confirmed while n1 is powered on and still runs lb" \
        in r.violations[0].message


def test_a_real_fence_powers_the_node_off() -> None:
    async def fence_then_confirm(env: HostEnv) -> None:
        if env.name == "n1":
            await _start(env, "lb")
        if env.name == "n2":
            await asyncio.sleep(5)
            res = await env.fencer.fence(FenceRequest("fence-sim", "fence_sim", "off", "n1"))
            assert res.ok
            cs = ClusterStore(env.store)
            session = await cs.campaign("n2", await cs.membership_lease("n2"))
            assert session is not None
            member = await cs.membership_lease("n1")
            assert await session.node_fenced(FenceEvent("n1", "off", "success"), "real",
                                             member or 0)

    r = _run(fence_then_confirm, converge_bound=1.0)
    # Safe; it only never converges (nothing drives this cluster).
    assert _kinds(r) == ["converges"]
    assert "power off (fenced: off); killed lb" in r.trace.text()


def test_simulated_agents_fail_and_hang_when_told() -> None:
    results: dict[str, object] = {}

    async def script(env: HostEnv) -> None:
        if env.name != "n1":
            return
        await asyncio.sleep(25)  # the faults are armed at 20
        results["start"] = await _start(env, "lb")
        t0 = asyncio.get_running_loop().time()
        stop = await env.runner.run(ActionRequest("lb", DUMMY, "stop", timeout_ms=3000))
        results["stop"] = (stop.op_status_name, asyncio.get_running_loop().time() - t0)
        mon = await env.runner.run(ActionRequest("lb", DUMMY, "monitor"))
        results["monitor"] = mon.rc

    _run(script, [Fault(20.0, "agent-fail", ("n1",), 30.0, rsc="lb", action="start"),
                  Fault(20.0, "agent-hang", ("n1",), 30.0, rsc="lb", action="stop")],
         converge_bound=1.0)
    assert results["start"] == 1  # failed: not running
    assert results["stop"] == ("timed out", 3.0)
    assert results["monitor"] == 7


def test_a_demote_while_the_resource_ordered_after_the_promotion_runs_is_allowed() -> None:
    """`order: promote db-clone then start api`: Pacemaker demotes db (the
    promotion moving elsewhere, or a self-fencing node) while api keeps running
    on another node, so only the forward half is checked (finding 5)."""
    meta = {"promoted-max": "1"}

    async def demote_under_api(env: HostEnv) -> None:
        if env.name == "n1":
            await _start(env, "db", STATEFUL, **meta)
            await env.runner.run(ActionRequest("db", STATEFUL, "promote", meta=meta))
            await asyncio.sleep(10)
            await env.runner.run(ActionRequest("db", STATEFUL, "demote", meta=meta))
        if env.name == "n2":
            await asyncio.sleep(5)
            for rsc in ("lb", "vip", "api-db", "api-web"):
                await _start(env, rsc)

    ordered = default_definition(SimConfig()) + (
        "  - order: {first: db-clone, first-action: promote, then: api, then-action: start}\n")
    r = _run(demote_under_api, definition=ordered)
    assert "order" not in _kinds(r)  # (a script never converges)


async def _campaign(env: HostEnv):  # a scripted controller session
    cs = ClusterStore(env.store)
    session = await cs.campaign(env.name, await cs.membership_lease(env.name))
    assert session is not None
    return session


def test_a_start_on_a_host_whose_membership_lapsed_is_caught() -> None:
    """rule-6: its lease revoked, n1 starts lb anyway (a stop would be fine)."""
    async def start_after_losing_the_lease(env: HostEnv) -> None:
        if env.name == "n1":
            await asyncio.sleep(5)
            kv = await env.store.get(ClusterStore(env.store).keys.node("n1"))
            await env.store.revoke(kv.lease)
            await env.runner.run(ActionRequest("lb", DUMMY, "stop"))
            await _start(env, "lb")

    r = _run(start_after_losing_the_lease, converge_bound=1.0)
    assert _kinds(r)[:1] == ["rule-6"]
    assert "start of lb on n1 began while n1 is not a member: its membership key is gone " \
        "(since t=5.000)" in r.violations[0].message


def test_colocated_resources_apart_past_a_transition_are_caught() -> None:
    """colocation: vip's lb dies under it (a fault: no violation by itself), and
    nothing moves vip or brings lb back within colocation_grace."""
    async def leave_vip_alone(env: HostEnv) -> None:
        if env.name == "n1":
            await _start(env, "lb")
            await _start(env, "vip")
        if env.name == "n2":
            await _campaign(env)  # a controller exists: the cluster could act

    r = _run(leave_vip_alone, [Fault(25.0, "rsc-die", ("n1",), rsc="lb")],
             colocation_grace=10.0)
    assert _kinds(r)[:1] == ["colocation"]
    v = r.violations[0]
    assert v.t == 35.0 and v.node == "n1"
    assert "colocation-vip-with-lb-clone: vip has run on n1 without lb-clone for 10.0s" \
        in v.message

    # The same with something happening to the pair (a slow restart of lb):
    # apart only while actions run and for less than the grace after.
    async def restart_lb(env: HostEnv) -> None:
        await leave_vip_alone(env)
        if env.name == "n1":
            await asyncio.sleep(28)
            await env.runner.run(ActionRequest("lb", DUMMY, "start", timeout_ms=60_000))

    r = _run(restart_lb, [Fault(25.0, "rsc-die", ("n1",), rsc="lb")], colocation_grace=10.0,
             converge_bound=1.0)
    assert "colocation" not in _kinds(r)


def test_a_fenced_host_that_runs_something_later_is_caught() -> None:
    """fence-confirmed, at every later moment: n1 runs nothing when its fence is
    confirmed (a lying device), then starts lb without joining again."""
    async def fenced_then_starts(env: HostEnv) -> None:
        if env.name == "n2":
            await asyncio.sleep(5)
            session = await _campaign(env)
            member = await session.cluster.membership_lease("n1")
            await session.node_fenced(FenceEvent("n1", "off", "success"), "liar",
                                      member or 0)
        if env.name == "n1":
            await asyncio.sleep(8)
            await _start(env, "lb")

    # (rule-6 sees the start first: the fence deleted n1's membership)
    r = run(SimConfig(converge_bound=1.0), 1, [], factory=_scripted(fenced_then_starts),
            stop_on_violation=False)
    assert _kinds(r)[:2] == ["rule-6", "fence-confirmed"]
    v = next(v for v in r.violations if v.invariant == "fence-confirmed")
    assert "lb became starting on n1, whose fence was confirmed at t=5.000 and which has not " \
        "joined again since" in v.message
