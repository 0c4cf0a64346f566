"""The node daemon end to end: real etcd (tests/etcd_cluster.py), real OCF agents
(Debian's ocf:heartbeat:Dummy and ocf:pacemaker:Stateful), a fake controller
(a ControllerSession from campaign()) that writes requests, results read back
from etcd. Waits are bounded; no assertion depends on how fast anything is,
except that a Dummy stop takes less than the self-fence margin (3 s here).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from agents_fixtures import require_agents
from etcd_cluster import EtcdCluster, require_etcd

from pacer.agents.api import ActionRequest as AgentRequest
from pacer.agents.api import ActionResult
from pacer.agents.registry import AgentRegistry
from pacer.clock import MonotonicClock
from pacer.node import NodeConfig, NodeDaemon
from pacer.status.types import OP_PENDING
from pacer.store.cluster import ClusterStore, ControllerSession, NodeRequest
from pacer.store.etcd import EtcdConfig, EtcdStore

DEFINITION = """\
nodes:
  - name: n1
resources:
  - id: d1
    agent: ocf:heartbeat:Dummy
    params: {fake: hello}
    operations:
      - {name: monitor, interval: 1s, timeout: 10s}
  - promotable: db-clone
    meta: {clone-max: 1}
    child: {id: db, agent: "ocf:pacemaker:Stateful"}
"""

pytestmark = require_agents("ocf:heartbeat:Dummy", "ocf:pacemaker:Stateful")


@pytest.fixture
def etcd(tmp_path: Path):
    require_etcd()
    with EtcdCluster(tmp_path / "etcd", size=1) as c:
        yield c


@dataclass
class TimedRunner:
    """The real registry, noting when each action ended (monotonic seconds)."""

    inner: AgentRegistry
    ended: list[tuple[str, str, float]] = field(default_factory=list)

    async def run(self, request: AgentRequest) -> ActionResult:
        result = await self.inner.run(request)
        self.ended.append((request.instance_name, request.action, time.monotonic()))
        return result


@dataclass
class Ctl:
    cs: ClusterStore
    session: ControllerSession
    revision: int
    n: int = 0

    async def send(self, task: str, rsc: str, interval_ms: int = 0, **extra: str) -> str:
        self.n += 1
        rid = f"{self.session.token}.1.{self.n}"
        await self.session.request_actions([NodeRequest(
            id=rid, token=self.session.token, node="n1", task=task, rsc=rsc,
            interval_ms=interval_ms, definition_revision=self.revision, extra=extra)])
        return rid

    async def result(self, rid: str, rsc: str, slot: str = "last_0",
                     timeout: float = 30.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            kv = await self.cs._store.get(self.cs.keys.op("n1", rsc, slot))
            if kv is not None:
                op = json.loads(kv.value)["op"]
                if op.get("action_id") == rid and op["op_status"] != OP_PENDING:
                    return op
            await asyncio.sleep(0.05)
        raise AssertionError(f"no result for {rid} ({rsc}/{slot}) within {timeout} s")


async def setup(etcd: EtcdCluster, state: Path, **config: object
                ) -> tuple[Ctl, NodeDaemon, TimedRunner, asyncio.Task, list[EtcdStore]]:
    eps = tuple(etcd.endpoints)
    ctl_store = EtcdStore(EtcdConfig(eps, timeout=3.0))
    node_store = EtcdStore(EtcdConfig(eps, timeout=3.0))
    cs = ClusterStore(ctl_store, cluster="e2e")
    rev = await cs.put_definition(DEFINITION)
    session = await cs.campaign("ctl", (await ctl_store.grant(600)).id)
    assert session is not None
    cfg = NodeConfig("n1", cluster="e2e", state_dir=state, endpoints=eps, **config)  # type: ignore[arg-type]
    runner = TimedRunner(AgentRegistry(cfg.environment()))
    daemon = NodeDaemon(node_store, MonotonicClock(), runner, cfg, time.time)
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(20):
        await daemon.wait_member()
    return Ctl(cs, session, rev), daemon, runner, task, [ctl_store, node_store]


async def teardown(task: asyncio.Task, stores: list[EtcdStore]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for s in stores:
        await s.close()


def run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(asyncio.wait_for(coro, 90))


def test_probe_start_monitor_promote_stop_with_real_agents(etcd: EtcdCluster,
                                                           tmp_path: Path) -> None:
    state = tmp_path / "n1"

    async def body() -> None:
        ctl, daemon, runner, task, stores = await setup(etcd, state)
        try:
            probe = await ctl.result(await ctl.send("monitor", "d1", expected_rc="7"), "d1")
            assert (probe["rc"], probe["expected_rc"]) == (7, 7)
            start = await ctl.result(await ctl.send("start", "d1"), "d1")
            assert start["rc"] == 0 and start["digest"]
            assert (state / "rsctmp" / "Dummy-d1.state").exists()
            mon = await ctl.result(await ctl.send("monitor", "d1", 1000), "d1", "monitor_1000")
            assert mon["rc"] == 0
            # Stateful: start, promote; its crm_master call goes through the shims
            await ctl.result(await ctl.send("start", "db:0"), "db")
            promote = await ctl.result(await ctl.send("promote", "db:0"), "db")
            assert promote["rc"] == 0
            pm = await ctl.result(await ctl.send("monitor", "db:0", 5000, expected_rc="8"),
                                  "db", "monitor_5000")
            assert (pm["rc"], pm["expected_rc"]) == (8, 8)
            # the resource dies behind the node's back: the monitor notices, once
            (state / "rsctmp" / "Dummy-d1.state").unlink()
            end = time.monotonic() + 20
            while time.monotonic() < end:
                kv = await ctl.cs._store.get(ctl.cs.keys.op("n1", "d1", "monitor_1000"))
                if kv is not None and json.loads(kv.value)["op"]["rc"] == 7:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the failed monitor was never recorded")
            attrs = await ctl.cs.attributes("n1")
            assert attrs["fail-count-d1#monitor_1000"] == "1"
            # Stateful's crm_master reached etcd through the installed shims
            assert "master-db" in attrs
            stop = await ctl.result(await ctl.send("stop", "d1"), "d1")
            assert stop["rc"] == 0
            kv = await ctl.cs._store.get(ctl.cs.keys.op("n1", "d1", "monitor_1000"))
            assert kv is None  # cancelled and forgotten with the stop
            assert await ctl.cs.pending_actions("n1") == []
        finally:
            await teardown(task, stores)
    run(body())


def test_a_node_whose_etcd_goes_away_stops_its_resources_before_its_lease_expires(
        etcd: EtcdCluster, tmp_path: Path) -> None:
    state = tmp_path / "n1"

    async def body() -> None:
        # TTL 6 s, self-fence 3 s before expiry: room for a Dummy stop on a busy machine
        ctl, daemon, runner, task, stores = await setup(etcd, state, lease_ttl=6,
                                                        self_fence_margin=3.0)
        try:
            await ctl.result(await ctl.send("start", "d1"), "d1")
            await ctl.result(await ctl.send("start", "db:0"), "db")
            keeper = daemon.keeper
            assert keeper is not None
            first_lease = daemon.lease_id
            etcd.kill(0)
            async with asyncio.timeout(20):
                await daemon.membership_lost.wait()
                while daemon.active.entries():
                    await asyncio.sleep(0.05)
            # the lease lives at least until the last confirmed keepalive's send + TTL
            expiry = keeper.last_confirmed_send + 6
            stops = [(i, t) for i, a, t in runner.ended if a == "stop"]
            assert [i for i, _ in stops] == ["db", "d1"]  # reverse order of starting
            assert all(t < expiry for _, t in stops)
            assert not (state / "rsctmp" / "Dummy-d1.state").exists()
            etcd.start_member(0)
            # etcd keeps the old lease alive for a TTL after restarting: the node waits
            async with asyncio.timeout(40):
                await daemon.wait_member()
            assert daemon.lease_id != first_lease and daemon.incarnation == 2
            status = await ctl.cs.status()
            assert status.node_states["n1"].history == ()
        finally:
            await teardown(task, stores)
    run(body())
