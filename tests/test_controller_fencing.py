"""Fencing decisions on the slow and broken paths (issue 13, findings 3, 7, 8):
the watchdog wait is the target's, a fence never wipes a node's newer
incarnation, and a deposed controller shoots nobody."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

import pytest
from node_helpers import LoopClock, run_virtual

from pacer.agents.api import FenceRequest, FenceResult
from pacer.controller import Controller, ControllerConfig
from pacer.controller.fencing import WATCHDOG_MARGIN_S, lease_of, watchdog_wait
from pacer.controller.offload import inline
from pacer.model.yaml_loader import load_yaml
from pacer.scheduler import PlannedAction
from pacer.status.types import FenceEvent, NodeState
from pacer.store.base import Op, TxnResult
from pacer.store.cluster import (
    LEASE_ATTR,
    LEASE_TTL_ATTR,
    WATCHDOG_ATTR,
    WATCHDOG_TIMEOUT_ATTR,
    ClusterStore,
    NotController,
)
from pacer.store.memory import MemoryCluster

DEFN = """
cluster: {stonith-enabled: true}
nodes: [n1, n2, n3]
resources:
  - id: fence
    agent: stonith:fence_dummy
  - id: vip
    agent: ocf:heartbeat:Dummy
"""


def _ns(**attrs: str) -> NodeState:
    return NodeState(name="n1", id="n1", in_ccm="false", crmd="offline", join="down",
                     expected="member", transient=MappingProxyType(attrs))


def test_the_watchdog_wait_is_the_targets_own_with_a_margin() -> None:
    defn = load_yaml(DEFN)
    # a node that published a 10 s watchdog: 10 s + 10 % + the margin, whatever
    # this controller's own TTL would make of it (finding 3)
    slow = _ns(**{WATCHDOG_ATTR: "true", WATCHDOG_TIMEOUT_ATTR: "10", LEASE_TTL_ATTR: "5"})
    assert watchdog_wait(defn, slow, 4.0) == pytest.approx(11.0 + WATCHDOG_MARGIN_S)
    # stonith-watchdog-timeout longer than that wins; shorter does not
    for swt, want in (("30s", 30.0), ("2s", 11.0 + WATCHDOG_MARGIN_S)):
        d = load_yaml(DEFN.replace("{stonith-enabled: true}",
                                   f"{{stonith-enabled: true, stonith-watchdog-timeout: {swt}}}"))
        assert watchdog_wait(d, slow, 4.0) == pytest.approx(want)
    # a node that published nothing: the default
    assert watchdog_wait(defn, _ns(), 4.0) == 4.0
    # device-and-lease for a node without a watchdog: its lease TTL
    assert watchdog_wait(defn, _ns(**{LEASE_TTL_ATTR: "3"}), 4.0, device_done=True) == 3.0
    assert lease_of(_ns(**{LEASE_ATTR: "7a11"})) == 0x7A11
    assert lease_of(_ns(**{LEASE_ATTR: "junk"})) == 0 and lease_of(None) == 0


class _JoinsFirst:
    """A controller's store client: right before the txn that records a fence
    of `node`, the node joins again under a new lease (it rebooted and came
    back while the fence was being recorded)."""

    def __init__(self, inner, rejoin) -> None:
        self._inner = inner
        self._rejoin = rejoin

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def txn(self, compares, on_success=(), on_failure=()) -> TxnResult:
        if self._rejoin is not None and any(
                isinstance(o, Op) and getattr(o, "key", "").endswith("/expected/n1")
                for o in on_success):
            rejoin, self._rejoin = self._rejoin, None
            await rejoin()
        return await self._inner.txn(compares, on_success, on_failure)


def test_a_fence_record_never_wipes_the_nodes_newer_incarnation() -> None:
    """Finding 7. On 0e2c3b3, node_fenced retried after its compare failed,
    re-read the new lease and wiped the incarnation that had just joined."""
    async def body() -> None:
        mc = MemoryCluster(LoopClock(asyncio.get_running_loop()))
        node = ClusterStore(mc.client("n1"))
        await node.put_definition(DEFN)
        new_lease = (await node.grant_lease(60)).id

        async def rejoin() -> None:
            await node.join("n1", new_lease)

        ctl = ClusterStore(_JoinsFirst(mc.client("n2"), rejoin))
        session = await ctl.campaign("n2", (await ctl.grant_lease(60)).id)
        assert session is not None
        # n1 was lost (no membership key) when its fence was decided
        recorded = await session.node_fenced(FenceEvent("n1", "reboot", "success"), "e1", 0)
        assert recorded is False
        assert (await node.members()) == {"n1": new_lease}
        snap = await node.snapshot()
        assert snap.status.node_states["n1"].expected == "member"
        assert snap.status.fencing_history == ()
    run_virtual(body)


class _Fencer:
    def __init__(self) -> None:
        self.calls: list[FenceRequest] = []

    async def fence(self, request: FenceRequest) -> FenceResult:
        self.calls.append(request)
        return FenceResult(rc=0, ok=True)


class _Member:
    def __init__(self, lease: int) -> None:
        self.lease = lease

    async def wait_member(self) -> int:
        return self.lease


def test_a_deposed_controller_shoots_nobody() -> None:
    """Finding 8. A controller that was deposed while it was deciding (frozen,
    say) must not run a fence device on thawing: it checks it is still the
    controller first. On 0e2c3b3 the device ran."""
    async def body() -> None:
        loop = asyncio.get_running_loop()
        mc = MemoryCluster(LoopClock(loop))
        a = ClusterStore(mc.client("n2"))
        await a.put_definition(DEFN)
        lease_a = (await a.grant_lease(60)).id
        await a.join("n2", lease_a)
        session = await a.campaign("n2", lease_a)
        assert session is not None
        lost = (await a.grant_lease(60)).id
        await a.join("n1", lost)
        await a.revoke_lease(lost)  # n1 is lost: it must be fenced
        snap = await a.snapshot()
        assert snap.status.node_states["n1"].in_ccm == "false"
        fencer = _Fencer()
        ctl = Controller(a, _Member(lease_a), fencer, LoopClock(loop), lambda: 1e9,
                         ControllerConfig(node="n2"), offload=inline)
        # deposed: the controller key is gone, another node is elected
        await mc.client("admin").delete(a.keys.controller)
        b = ClusterStore(mc.client("n3"))
        lease_b = (await b.grant_lease(60)).id
        await b.join("n3", lease_b)
        assert await b.campaign("n3", lease_b) is not None
        fence = PlannedAction(key="stonith-n1-reboot", task="stonith", node="n1", rsc=None)
        assert snap.definition is not None
        try:
            await ctl._fence_one(session, snap.definition.definition, snap.status, fence,
                                 snap.members)
        except NotController:
            pass  # (its journal entry is refused too)
        tasks = list(ctl._device_tasks.values())
        assert len(tasks) == 1  # the device run, in the background
        await asyncio.wait(tasks, timeout=30)
        assert isinstance(tasks[0].exception(), NotController)
        assert fencer.calls == []
        await ctl._stop_devices()
    run_virtual(body)
