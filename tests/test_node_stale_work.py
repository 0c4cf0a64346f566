"""Nothing starts on a node without a live lease, even right after a stall
(issue 13, finding 6): the node asks etcd again between taking a request and
running the agent, and a request meant for an earlier incarnation of the node
is refused (finding 5)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from node_helpers import FakeRunner, LoopClock, run_virtual
from test_node_daemon import CLUSTER, DEFINITION, EPOCH, stop_daemon, until, world

from pacer.node import NodeConfig, NodeDaemon
from pacer.store.base import Compare, Op, TxnResult
from pacer.store.cluster import ClusterStore, NodeRequest
from pacer.store.memory import MemoryCluster


class _PausedAfterAccept:
    """A node's store client. The txn that takes request `rid` goes through;
    then, as if the host (a VM) had been paused right after it for longer
    than the lease, the lease is gone before the node gets to run anything.
    The node's own clock did not move: it still believes its lease lives."""

    def __init__(self, inner, rid: str) -> None:
        self._inner = inner
        self.rid = rid
        self.fired = False

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def txn(self, compares: Sequence[Compare], on_success: Sequence[Op] = (),
                  on_failure: Sequence[Op] = ()) -> TxnResult:
        r = await self._inner.txn(compares, on_success, on_failure)
        takes = any(c.key.endswith("/" + self.rid) for c in compares)
        if takes and r.succeeded and not self.fired:
            self.fired = True
            lease = next(c.operand for c in compares if c.target == "lease")
            await self._inner.revoke(lease)
        return r


def test_a_start_taken_just_before_a_pause_does_not_run_after_it() -> None:
    """On 0e2c3b3 the node ran the start: [rule 6] an agent action began on a
    node whose lease was gone."""
    async def body() -> None:
        loop = asyncio.get_running_loop()
        mc = MemoryCluster(LoopClock(loop))
        admin = ClusterStore(mc.client("admin"), cluster=CLUSTER)
        rev = await admin.put_definition(DEFINITION)
        ctl = ClusterStore(mc.client("ctl"), cluster=CLUSTER)
        session = await ctl.campaign("ctl", (await ctl.grant_lease(100_000)).id)
        assert session is not None
        rid = f"{session.token}.1.1"
        store = _PausedAfterAccept(mc.client("n1"), rid)
        runner = FakeRunner()
        daemon = NodeDaemon(store, LoopClock(loop), runner, NodeConfig("n1", cluster=CLUSTER),
                            wall=lambda: EPOCH + loop.time())
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon.wait_member(), 30)
        await session.request_actions([NodeRequest(
            id=rid, token=session.token, node="n1", task="start", rsc="vip",
            definition_revision=rev, transition=1)])
        await until(lambda: store.fired, "the request taken")
        # the node learns its lease is gone and fences itself, then joins again
        await until(lambda: daemon.self_fences == 1 and daemon.member.is_set(), "rejoined")
        assert ("vip", "start", 0) not in runner.calls
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    run_virtual(body)


def test_a_request_for_an_earlier_incarnation_is_refused() -> None:
    """A request carries the lease of the membership it was computed for; the
    node's next incarnation (which knows nothing of it) does not run it."""
    async def body() -> None:
        w = await world()
        old = w.daemon.lease_id
        await w.mc.client("admin").revoke(old)  # the node loses its lease...
        await until(lambda: w.daemon.member.is_set() and w.daemon.lease_id != old,
                    "joined again")  # ...fences itself and joins again
        w.n += 1
        rid = f"{w.session.token}.1.{w.n}"
        await w.session.request_actions([NodeRequest(
            id=rid, token=w.session.token, node="n1", task="start", rsc="vip",
            definition_revision=w.revision, transition=1, lease=old)])
        await asyncio.sleep(5)
        assert ("vip", "start", 0) not in w.runner.calls
        # the same request for the current membership runs
        w.n += 1
        rid = f"{w.session.token}.1.{w.n}"
        await w.session.request_actions([NodeRequest(
            id=rid, token=w.session.token, node="n1", task="start", rsc="vip",
            definition_revision=w.revision, transition=1, lease=w.daemon.lease_id)])
        await w.result(rid, "vip")
        assert ("vip", "start", 0) in w.runner.calls
        await stop_daemon(w)
    run_virtual(body)
