"""The cluster layer (`ClusterStore`) on both store implementations.

The same records drive the real scheduler: what nodes write about themselves
becomes the `Status` that `schedule()` decides from.
"""

from __future__ import annotations

import contextlib

import pytest
from test_store_behaviour import (  # noqa: F401  (the fixtures)
    Backend,
    Harness,
    backend_fixture,
    etcd3_fixture,
)

from pacer.model.errors import ConfigError
from pacer.scheduler.api import schedule
from pacer.scheduler.nodes import interpret_nodes
from pacer.scheduler.options import ClusterOptions
from pacer.status.digests import params_digest
from pacer.status.types import OCF_NOT_RUNNING, OCF_SUCCESS, OP_PENDING, FenceEvent, OpRecord
from pacer.store.base import LeaseNotFound
from pacer.store.cluster import (
    LEASE_ATTR,
    LEASE_TTL_ATTR,
    WATCHDOG_ATTR,
    WATCHDOG_TIMEOUT_ATTR,
    Agent,
    ClusterStore,
    DefinitionConflict,
    NodeAlreadyMember,
    NodeRequest,
    NotController,
    NotMember,
)

DEFINITION = """\
cluster:
  stonith-enabled: true
nodes:
  - name: n1
  - name: n2
resources:
  - id: fence
    agent: stonith:fence_dummy
  - id: vip
    agent: ocf:heartbeat:IPaddr2
    params: {ip: 192.0.2.10}
    meta: {resource-stickiness: 100}
    operations:
      - {name: monitor, interval: 10s}
"""

IPADDR = Agent("ocf", "heartbeat", "IPaddr2")
FENCE = Agent("stonith", None, "fence_dummy")


def cluster_of(h: Harness, name: str = "c0") -> ClusterStore:
    return ClusterStore(h.client(name), cluster="test", root=h.prefix)


# What a node records with each start: the digest of the configured parameters
# (a start recorded without one counts as a changed definition, as in Pacemaker).
DIGESTS = {"fence": params_digest({}), "vip": params_digest({"ip": "192.0.2.10"})}


def started(rsc: str, node: str, call_id: int, interval_ms: int = 0,
            operation: str = "start") -> OpRecord:
    return OpRecord(rsc=rsc, node=node, operation=operation, interval_ms=interval_ms,
                    call_id=call_id, rc=OCF_SUCCESS, expected_rc=OCF_SUCCESS,
                    last_rc_change=1000, last_run=1000,
                    digest=DIGESTS.get(rsc) if interval_ms == 0 else None)


def required(defn, status) -> list[tuple[str, str | None]]:
    actions = schedule(defn, status, now=2000).transition.actions
    return sorted((a.key, a.node) for a in actions if not a.pseudo)


def test_definition_is_validated_and_versioned(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        c = cluster_of(h)
        assert await c.definition() is None
        with pytest.raises(ConfigError):
            await c.put_definition("resources:\n  - id: x\n    agent: nonsense\n")
        assert await c.definition() is None
        rev = await c.put_definition(DEFINITION, expected_revision=0)
        stored = await c.definition()
        assert stored is not None and stored.revision == rev and stored.text == DEFINITION
        assert [n.name for n in stored.definition.nodes] == ["n1", "n2"]
        with pytest.raises(DefinitionConflict) as exc:
            await c.put_definition(DEFINITION, expected_revision=0)
        assert exc.value.current == rev
        rev2 = await c.put_definition(DEFINITION.replace("192.0.2.10", "192.0.2.11"),
                                      expected_revision=rev)
        assert rev2 > rev
    backend.run(body)


def test_membership_attributes_and_history_make_the_status(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        c = cluster_of(h)
        await c.put_definition(DEFINITION)
        l1, l2 = await c.grant_lease(2), await c.grant_lease(60)
        await c.join("n1", l1.id)
        await c.join("n1", l1.id)  # the same lease again: a repeated join is harmless
        await c.join("n2", l2.id)
        with pytest.raises(NodeAlreadyMember):
            await c.join("n1", l2.id)
        assert await c.members() == {"n1": l1.id, "n2": l2.id}

        snap = await c.snapshot(now=2000)
        assert snap.definition is not None
        defn = snap.definition.definition
        ns = snap.status.node_states["n1"]
        assert (ns.in_ccm, ns.crmd, ns.join, ns.expected) == ("true", "online", "member",
                                                               "member")
        first = required(defn, snap.status)
        assert ("vip_start_0", "n1") in first or ("vip_start_0", "n2") in first

        # n1 reports what it did; the scheduler then wants nothing more for vip
        for i, (rsc, agent, node) in enumerate([("vip", IPADDR, "n1"), ("fence", FENCE, "n2")]):
            lease = l1.id if node == "n1" else l2.id
            for other in ("n1", "n2"):  # probes everywhere first
                probe = OpRecord(rsc=rsc, node=other, operation="monitor", call_id=1,
                                 rc=OCF_NOT_RUNNING, expected_rc=OCF_NOT_RUNNING)
                await c.record_op(other, l1.id if other == "n1" else l2.id, probe, agent)
            await c.record_op(node, lease, started(rsc, node, 2 + i), agent)
        await c.record_op("n1", l1.id, started("vip", "n1", 4, 10000, "monitor"), IPADDR)
        await c.record_op("n2", l2.id, started("fence", "n2", 5, 0, "start"), FENCE)
        await c.set_attribute("n1", "rack", "a", transient=False)
        await c.set_attribute("n1", "load", "high")
        await c.set_attribute("n1", "rack", "b")  # transient wins over permanent
        # (the join published the membership's lease, permanently)
        assert await c.attributes("n1") == {"rack": "b", "load": "high",
                                            "#pacer-lease": f"{l1.id:x}"}
        snap = await c.snapshot(now=2000)
        hist = {(r.rsc, r.agent_class, r.type): [o.id for o in r.ops]
                for r in snap.status.node_states["n1"].history}
        assert hist[("vip", "ocf", "IPaddr2")] == ["vip_last_0", "vip_monitor_10000"]
        assert required(defn, snap.status) == []

        # n1's lease runs out: it is gone but expected, so unclean until fenced
        await h.pass_time(2.5)

        async def n1_gone() -> bool:
            return "n1" not in await c.members()
        await h.wait_until(n1_gone)
        with pytest.raises(NotMember):
            await c.record_op("n1", l1.id, started("vip", "n1", 9), IPADDR)
        with pytest.raises(NotMember):
            await c.set_attribute("n1", "load", "low")
        snap = await c.snapshot(now=2000)
        ns = snap.status.node_states["n1"]
        assert (ns.in_ccm, ns.crmd, ns.expected) == ("false", "offline", "member")
        # transient attributes went with the lease
        assert dict(ns.transient) == {"rack": "a", "#pacer-lease": f"{l1.id:x}"}
        opts = ClusterOptions.from_properties(defn.properties)
        assert interpret_nodes(defn, snap.status, opts)["n1"].unclean
        assert ("stonith-n1-reboot", "n1") in required(defn, snap.status)  # node: the target

        # the controller confirms the fence: n1 is cleanly down, its history forgotten
        ctl = await c.campaign("n2", l2.id)
        assert ctl is not None
        assert await ctl.node_fenced(FenceEvent("n1", "reboot", "success", 2001, "n2"), "f1", 0)
        snap = await c.snapshot(now=2010)
        ns = snap.status.node_states["n1"]
        assert (ns.expected, ns.history) == ("down", ())
        assert snap.status.fencing_history == (FenceEvent("n1", "reboot", "success", 2001,
                                                          "n2"),)
        assert snap.status.dc == "n2"
        assert not interpret_nodes(defn, snap.status, opts)["n1"].unclean
        assert ("vip_start_0", "n2") in required(defn, snap.status)

        # n1 comes back under a new lease and leaves cleanly
        l3 = await c.grant_lease(60)
        await c.join("n1", l3.id)
        await c.leave("n1", l3.id)
        ns = (await c.snapshot()).status.node_states["n1"]
        assert (ns.crmd, ns.expected) == ("offline", "down")
    backend.run(body)


def test_join_publishes_the_watchdog_and_lease_ttl_as_permanent_attributes(
        backend: Backend) -> None:
    async def body(h: Harness) -> None:
        c = cluster_of(h)

        async def permanent() -> dict[str, str]:
            rng = await c._store.get_prefix(c.keys.node_attrs("n1", False))
            return {kv.key.rsplit("/", 1)[1]: kv.value.decode() for kv in rng.kvs}

        lease = await c.grant_lease(60)
        await c.join("n1", lease.id, watchdog=True, watchdog_timeout=11, lease_ttl=5)
        said = {WATCHDOG_ATTR: "true", WATCHDOG_TIMEOUT_ATTR: "11", LEASE_TTL_ATTR: "5",
                LEASE_ATTR: f"{lease.id:x}"}
        assert await permanent() == said
        await c.revoke_lease(lease.id)  # the node is lost: what it said stays
        assert await c.members() == {}
        assert await permanent() == said

        lease = await c.grant_lease(60)
        with pytest.raises(ValueError, match="without its timeout"):
            await c.join("n1", lease.id, watchdog=True, lease_ttl=5)
        assert await c.members() == {}  # nothing written
        await c.join("n1", lease.id, watchdog=False, lease_ttl=3)
        assert await permanent() == {WATCHDOG_ATTR: "false", LEASE_TTL_ATTR: "3",
                                     LEASE_ATTR: f"{lease.id:x}"}
        await c.join("n1", lease.id, watchdog=False, lease_ttl=3)  # idempotent
        assert await c.members() == {"n1": lease.id}
    backend.run(body)


def test_guarded_writes_refused_after_the_controller_key_changes_hands(backend: Backend
                                                                       ) -> None:
    async def body(h: Harness) -> None:
        a, b = cluster_of(h, "a"), cluster_of(h, "b")
        await a.put_definition(DEFINITION)
        la, lb = await a.grant_lease(60), await b.grant_lease(60)
        await a.join("n1", la.id)
        await b.join("n2", lb.id)
        ctl_a = await a.campaign("n1", la.id)
        assert ctl_a is not None
        assert await b.campaign("n2", lb.id) is None
        again = await a.campaign("n1", la.id)  # a lost answer: the same key is resumed
        assert again is not None and again.token == ctl_a.token
        assert (await b.controller()).token == ctl_a.token  # type: ignore[union-attr]

        req = NodeRequest(id="t1-1", token=0, node="n2", task="start", rsc="vip",
                          transition=1)
        await ctl_a.request_actions([req])
        pending = await b.pending_actions("n2")
        assert [(p.id, p.token) for p in pending] == [("t1-1", ctl_a.token)]

        # a's lease is revoked (it hung and lost it); b takes over
        await a.revoke_lease(la.id)
        ctl_b = await b.campaign("n2", lb.id)
        assert ctl_b is not None and ctl_b.token > ctl_a.token
        assert not await ctl_a.is_current() and await ctl_b.is_current()

        before = await b.snapshot()
        for write in (ctl_a.request_actions([req]), ctl_a.withdraw(req),
                      ctl_a.record_fencing(FenceEvent("n2", "off", "success"), "x"),
                      ctl_a.resign()):
            with pytest.raises(NotController):
                await write
        after = await b.snapshot()
        assert after.revision == before.revision  # the deposed controller wrote nothing

        # the node refuses the old controller's request; takes the new one's
        pending_op = OpRecord(rsc="vip", node="n2", operation="start", call_id=-1,
                              rc=193, op_status=OP_PENDING)
        assert not await b.accept_action("n2", lb.id, pending[0], pending_op, IPADDR)
        assert await ctl_b.discard_stale_actions() == 1
        await ctl_b.request_actions([req])
        [fresh] = await b.pending_actions("n2")
        assert fresh.token == ctl_b.token
        assert await b.accept_action("n2", lb.id, fresh, pending_op, IPADDR)
        assert not await b.accept_action("n2", lb.id, fresh)  # taken once only
        assert await b.pending_actions("n2") == []
        [hist] = (await b.status()).node_states["n2"].history
        assert hist.ops[0].op_status == OP_PENDING

        await ctl_b.resign()
        assert await b.controller() is None
        with pytest.raises(NotController):
            await ctl_b.request_actions([req])
    backend.run(body)


def test_evicting_a_node_and_that_node_deposing_the_controller_exclude_each_other(
        backend: Backend) -> None:
    """Heartbeats can make the controller suspect n2 while n2 suspects the
    controller's node: whichever txn lands first wins, the other does nothing."""
    async def body(h: Harness) -> None:
        a, b = cluster_of(h, "a"), cluster_of(h, "b")
        await a.put_definition(DEFINITION)
        for first in ("evict", "depose"):
            la, lb = await a.grant_lease(60), await b.grant_lease(60)
            await a.join("n1", la.id, heartbeat="10.0.0.1:7405")
            await b.join("n2", lb.id)
            assert await b.member_records() == {"n1": (la.id, "10.0.0.1:7405"),
                                                "n2": (lb.id, None)}
            ctl = await a.campaign("n1", la.id)
            assert ctl is not None
            info = await b.controller()
            assert info is not None and (info.node, info.lease) == ("n1", la.id)
            if first == "evict":
                assert await ctl.evict("n2", lb.id)
                assert not await b.depose("n2", lb.id, info)
                assert await b.members() == {"n1": la.id}
                with pytest.raises(LeaseNotFound):  # revoked: n2 sees it at once
                    await b.keepalive(lb.id)
            else:
                assert await b.depose("n2", lb.id, info)
                with pytest.raises(NotController):
                    await ctl.evict("n2", lb.id)
                assert await b.controller() is None
                assert await b.members() == {"n2": lb.id}
                with pytest.raises(LeaseNotFound):
                    await a.keepalive(la.id)
            for lease in (la.id, lb.id):
                with contextlib.suppress(LeaseNotFound):
                    await a.revoke_lease(lease)
    backend.run(body)


class _WritesBeforeFirstTxn:
    """A store client whose first txn is preceded by another client's write
    (it lands between the cleanup's read and its delete)."""

    def __init__(self, inner, write) -> None:
        self._inner = inner
        self._write = write
        self.outcomes: list[bool] = []

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def txn(self, compares, on_success=(), on_failure=()):
        if self._write is not None:
            write, self._write = self._write, None
            await write()
        r = await self._inner.txn(compares, on_success, on_failure)
        self.outcomes.append(r.succeeded)
        return r


def test_cleanup_deletes_what_it_read_history_and_fail_counts_together(backend: Backend
                                                                          ) -> None:
    """`pacer resource cleanup` is one typed operation: a node's history and fail
    counts of the resource go in one txn guarded by what was read; a result
    written in between makes it read and choose again (issue 14)."""
    def failure_of(name: str) -> str | None:
        for prefix in ("fail-count-", "last-failure-"):
            if name.startswith(prefix):
                return name[len(prefix):].partition("#")[0]
        return None

    async def body(h: Harness) -> None:
        node = cluster_of(h, "node")
        await node.put_definition(DEFINITION)
        lease = (await node.grant_lease(60)).id
        await node.join("n1", lease)
        probe = OpRecord(rsc="vip", node="n1", operation="monitor", call_id=1,
                         rc=OCF_NOT_RUNNING, expected_rc=OCF_NOT_RUNNING)
        await node.record_op("n1", lease, probe, IPADDR)
        await node.record_op("n1", lease, OpRecord(
            rsc="vip", node="n1", operation="monitor", interval_ms=10000, call_id=3, rc=1,
            expected_rc=OCF_SUCCESS, last_rc_change=1500), IPADDR)
        await node.set_attribute("n1", "fail-count-vip#monitor_10000", "1")
        await node.set_attribute("n1", "last-failure-vip#monitor_10000", "1500")
        await node.set_attribute("n1", "unrelated", "x")
        await node.record_op("n1", lease, started("fence", "n1", 2), FENCE)

        async def a_result_lands() -> None:  # vip's start result replaces its probe
            await node.record_op("n1", lease, started("vip", "n1", 4), IPADDR)

        client = _WritesBeforeFirstTxn(h.client("operator"), a_result_lands)
        operator = ClusterStore(client, cluster="test", root=h.prefix)
        done = await operator.clean_up(lambda hid: hid == "vip", failure_of)
        assert client.outcomes == [False, True]  # refused once, then read again
        assert done.deleted == 5  # last_0, monitor_10000, last_failure_0, two attributes
        assert done.cleaned == {"vip": frozenset({"n1"})}
        ns = (await node.snapshot()).status.node_states["n1"]
        assert [r.rsc for r in ns.history] == ["fence"]
        assert {k: v for k, v in ns.transient.items() if not k.startswith("#")} == {
            "unrelated": "x"}
        assert (await operator.clean_up(lambda hid: hid == "vip", failure_of)).deleted == 0
    backend.run(body)
