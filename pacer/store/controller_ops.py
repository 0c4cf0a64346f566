"""What a controller candidate and the elected controller do in the store.

A candidate campaigns for the lease-bound controller key (`campaign`), waits
for it to be vacant (`controller_at`, `watch_controller`) and deposes a
controller whose node it suspects (`depose`). The elected controller writes
only through its `ControllerSession`: every write is a txn guarded by the
controller key's create_revision, the fencing token, so a deposed controller
writes nothing (DESIGN.md safety rule 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence

from pacer.status.types import OP_TIMEOUT, FenceEvent, OpRecord
from pacer.store.base import (
    MAX_TXN_OPS,
    Compare,
    Delete,
    Event,
    Get,
    LeaseNotFound,
    Op,
    Put,
    TxnResult,
)
from pacer.store.errors import NotController
from pacer.store.layer import Layer
from pacer.store.records import (
    Agent,
    ControllerInfo,
    JournalEntry,
    NodeRequest,
    controller_value,
    dumps,
    from_dict,
    history_slots,
    load_record,
    op_puts,
)


class CandidateOperations(Layer):
    async def campaign(self, node: str, lease: int) -> ControllerSession | None:
        """Become the controller if there is none; None if another node is.

        The session's token is the controller key's create_revision. If the key
        already names this node under this lease (a campaign whose answer was
        lost), the session is resumed with that key's token.
        """
        k = self.keys.controller
        r = await self._store.txn([Compare.absent(k)],
                                  [Put(k, controller_value(node), lease)], [Get(k)])
        if r.succeeded:
            return ControllerSession(self, node, lease, r.revision)
        kvs = r.results[0]
        if kvs:
            kv = kvs[0]  # type: ignore[index]
            if kv.lease == lease and load_record(kv.value).get("node") == node:  # type: ignore[union-attr]
                return ControllerSession(self, node, lease, kv.create_revision)  # type: ignore[union-attr]
        return None

    async def controller_at(self) -> tuple[ControllerInfo | None, int]:
        """The controller (None: vacant) and the revision it was read at, to
        follow with `watch_controller(revision + 1)`."""
        rng = await self._store.get_prefix(self.keys.controller)
        kv = next((kv for kv in rng.kvs if kv.key == self.keys.controller), None)
        return (ControllerInfo.from_kv(kv) if kv is not None else None), rng.revision

    def watch_controller(self, start_revision: int | None = None) -> AsyncIterator[Event]:
        """Changes of the controller key (and of keys it is a prefix of)."""
        return self._store.watch_prefix(self.keys.controller, start_revision)

    async def depose(self, node: str, lease: int, controller: ControllerInfo,
                     journal: JournalEntry | None = None) -> bool:
        """`node` (a member under `lease`) suspects the controller's node is dead:
        end that node's membership and so the controller's term, in one txn
        that holds only while the controller is the one suspected, its node is
        a member under the controller's lease and `node` itself is still a
        member. The last condition is what makes a controller that decided to
        evict `node` and `node` deposing it exclude each other. The deposed
        node, if alive, finds its lease revoked and fences itself; the next
        controller fences it anyway. False: the conditions did not hold."""
        ctl_node = self.keys.node(controller.node)
        r = await self._store.txn(
            [Compare.created_at(self.keys.controller, controller.token),
             Compare(ctl_node, "lease", "==", controller.lease),
             self._member_guard(node, lease)],
            [Delete(self.keys.controller), Delete(ctl_node),
             *([self._journal_put(journal)] if journal is not None else [])])
        if not r.succeeded:
            return False
        await self.revoke_quietly(controller.lease)
        return True

    async def lease_exists(self, lease: int) -> bool:
        """Whether etcd still has `lease` (any node's). Raises StoreError when it
        cannot say."""
        try:
            await self._store.time_to_live(lease)
        except LeaseNotFound:
            return False
        return True

    def _journal_put(self, entry: JournalEntry) -> Put:
        return Put(self.keys.event(entry.id), entry.to_json())


class ControllerSession:
    """The elected controller's handle: every write is guarded by its token."""

    def __init__(self, cluster: CandidateOperations, node: str, lease: int, token: int
                 ) -> None:
        self.cluster = cluster
        self.keys = cluster.keys
        self.node = node
        self.lease = lease
        self.token = token

    def _guard(self) -> Compare:
        return Compare.created_at(self.keys.controller, self.token)

    async def _write(self, ops: Sequence[Op], compares: Sequence[Compare] = ()) -> TxnResult:
        """Apply `ops` atomically if still the controller (and `compares` hold).

        Raises NotController when the token is stale, whatever `compares` say, and
        returns the failed result when only `compares` failed.
        """
        r = await self.cluster._store.txn([self._guard(), *compares], ops,
                                          [Get(self.keys.controller)] if compares else [])
        if r.succeeded:
            return r
        if compares:
            kvs = r.results[0] if r.results else ()
            if kvs and kvs[0].create_revision == self.token:  # type: ignore[index,union-attr]
                return r
        raise NotController(self.token)

    async def is_current(self) -> bool:
        ctl = await self.cluster.controller()
        return ctl is not None and ctl.token == self.token

    async def journal(self, entry: JournalEntry) -> None:
        """Append to the controller's journal (`pacer history`)."""
        await self._write([self.cluster._journal_put(entry)])

    async def request_actions(self, requests: Sequence[NodeRequest]) -> None:
        """Send actions to node daemons (in batches etcd accepts, each guarded)."""
        puts = [Put(self.keys.action(a.node, a.id),
                    dataclasses.replace(a, token=self.token).to_json()) for a in requests]
        for i in range(0, len(puts), MAX_TXN_OPS):
            await self._write(puts[i:i + MAX_TXN_OPS])

    async def discard_stale_actions(self) -> int:
        """Delete every request not yet taken (do this on taking over, and on
        resuming after a store error): it was computed from a cluster that may
        be gone, and a node takes a request only in a txn that requires it to
        still be there, so a deleted one never runs."""
        r = await self.cluster._store.get_prefix(self.keys.actions)
        stale = [Delete(kv.key) for kv in r.kvs]
        for i in range(0, len(stale), MAX_TXN_OPS):
            await self._write(stale[i:i + MAX_TXN_OPS])
        return len(stale)

    async def record_fencing(self, event: FenceEvent, event_id: str) -> None:
        await self._write([Put(self.keys.fence_event(event.target, event_id),
                               dumps(dataclasses.asdict(event)))])

    async def node_fenced(self, event: FenceEvent, event_id: str, lease: int) -> bool:
        """A confirmed fence of `event.target`: record it and, as Pacemaker does, forget
        the node's membership, transient attributes, history and pending actions
        and mark it cleanly down, in one txn — only if the node's membership is
        still the one that was fenced (`lease`; 0: it was no member). A node that
        joined again meanwhile is a new incarnation that knows nothing: wiping
        it would lose what it has done since (found by review: a retry that
        re-read the member key's lease did exactly that). False: not recorded,
        schedule again. The fenced lease is revoked afterwards."""
        t = event.target
        r = await self._write([
            Put(self.keys.fence_event(t, event_id), dumps(dataclasses.asdict(event))),
            Put(self.keys.expected_state(t), b"down"),
            Delete(self.keys.node(t)),
            Delete(self.keys.node_attrs(t, True), prefix=True),
            Delete(self.keys.node_history(t), prefix=True),
            Delete(self.keys.node_actions(t), prefix=True),
        ], [Compare(self.keys.node(t), "lease", "==", lease)])
        if not r.succeeded:
            return False
        if lease:
            await self.cluster.revoke_quietly(lease)
        return True

    async def withdraw(self, request: NodeRequest) -> bool:
        """Delete a request its node has not taken yet; True if it was still
        there (then it can never run: a node takes a request only in a txn that
        requires it to exist), False if the node took it (or a fence wiped it)."""
        k = self.keys.action(request.node, request.id)
        r = await self._write([Delete(k)], [Compare.exists(k)])
        return r.succeeded

    async def record_timeout(self, node: str, op: OpRecord, attrs: Mapping[str, str],
                             lease: int, now: int) -> bool:
        """An operation `node` took (its pending record `op`) whose result never came
        within its timeout plus a grace: record it as timed out, as Pacemaker's
        controller does when an action's timer expires, so the scheduler applies
        its on-fail (a stop: fence the node, or block). `attrs`: the fail-count
        and last-failure attributes to set (bound to the node's `lease`). Only
        if the pending record is still that one and the node still that member;
        False otherwise (a result came after all: schedule again)."""
        k = self.keys.op(node, op.rsc, history_slots(op)[0])
        kv = await self.cluster._store.get(k)
        if kv is None:
            return False
        data = load_record(kv.value)
        cur = data.get("op") or {}
        if cur.get("op_status") != op.op_status or cur.get("call_id") != op.call_id \
                or cur.get("action_id") != op.action_id:
            return False
        agent = from_dict(Agent, data.get("agent") or {})
        done = dataclasses.replace(op, rc=1, op_status=OP_TIMEOUT,
                                   exec_time_ms=op.timeout_ms or 0,
                                   last_rc_change=now)
        ops = op_puts(self.keys, node, done, agent)  # type: ignore[arg-type]
        ops += [Put(self.keys.attr(node, name, True), value.encode(), lease)
                for name, value in attrs.items()]
        r = await self._write(ops, [Compare(k, "mod", "==", kv.mod_revision),
                                    Compare(self.keys.node(node), "lease", "==", lease)])
        return r.succeeded

    async def revoke(self, lease: int) -> None:
        """Revoke a node's lease, only while still the controller (a deposed one
        must not touch the cluster: finding 8 of issue 13). Raises NotController."""
        if not await self.is_current():
            raise NotController(self.token)
        await self.cluster.revoke_quietly(lease)

    async def evict(self, node: str, lease: int, journal: JournalEntry | None = None) -> bool:
        """End `node`'s membership under `lease` (a suspected member): its key goes
        in a guarded txn, then its lease is revoked so that the node, if it is
        alive after all, sees it and fences itself. False: not that member."""
        r = await self._write([Delete(self.keys.node(node)),
                               *([self.cluster._journal_put(journal)]
                                 if journal is not None else [])],
                              [Compare(self.keys.node(node), "lease", "==", lease)])
        if not r.succeeded:
            return False
        await self.cluster.revoke_quietly(lease)
        return True

    async def resign(self) -> None:
        """Stop being the controller (the lease itself stays with the node)."""
        await self._write([Delete(self.keys.controller)])
