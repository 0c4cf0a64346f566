"""What a node daemon does in the store: its lease, its membership, its
operation history, and the requests addressed to it.

Every write that states a fact about the node is a txn guarded by the node's
own membership (`nodes/<node>` bound to the writer's lease), so a node whose
lease ran out — and which may since have been fenced and wiped — writes
nothing stale (`NotMember`). What a node touches is its own: `nodes/<node>`,
`expected/<node>`, its attributes, `history/<node>/`, `actions/<node>/`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from pacer.status.types import OpRecord
from pacer.store.base import (
    Compare,
    Delete,
    Event,
    EventType,
    Get,
    Lease,
    LeaseNotFound,
    Op,
    Put,
    Range,
)
from pacer.store.errors import NodeAlreadyMember, NotMember
from pacer.store.keys import LEASE_ATTR, LEASE_TTL_ATTR, WATCHDOG_ATTR, WATCHDOG_TIMEOUT_ATTR
from pacer.store.layer import Layer
from pacer.store.records import (
    Agent,
    NodeRequest,
    dumps,
    history_slots,
    load_record,
    op_puts,
)


class NodeOperations(Layer):
    # ------------------------------------------------------------- the lease

    async def grant_lease(self, ttl: int) -> Lease:
        """A fresh lease for a new membership (raises StoreUnavailable)."""
        return await self._store.grant(ttl)

    async def keepalive(self, lease: int) -> int:
        """Restart the lease's countdown; its TTL. Raises LeaseNotFound when it is gone."""
        return await self._store.keepalive(lease)

    async def revoke_lease(self, lease: int) -> None:
        """End a lease now (its membership key and transient attributes go with
        it). Raises LeaseNotFound when it is already gone."""
        await self._store.revoke(lease)

    # ------------------------------------------------------------- membership

    async def join(self, node: str, lease: int, node_id: str | None = None,
                   watchdog: bool | None = None, heartbeat: str | None = None,
                   watchdog_timeout: int | None = None,
                   lease_ttl: int | None = None) -> None:
        """Become a member: `nodes/<node>` bound to `lease`, `expected/<node>` = member.

        A joining node knows nothing of what runs on it (it booted, or it
        self-fenced): its old history and pending actions go in the same txn,
        so the controller probes everything there before using it.
        Idempotent for the same lease (safe to repeat after OutcomeUnknown).
        `heartbeat`: where this node listens for its peers' heartbeats (HOST:PORT).
        `watchdog` (None: say nothing): whether a verified watchdog guards the
        node, with its effective `watchdog_timeout` (seconds, required when
        True); `lease_ttl` (None: say nothing): the node's lease TTL (seconds).
        Both go into permanent attributes in the same txn.
        """
        if watchdog and (watchdog_timeout is None or watchdog_timeout <= 0):
            raise ValueError(f"node {node} claims a watchdog without its timeout "
                             f"({watchdog_timeout!r})")
        k = self.keys.node(node)
        record: dict[str, str] = {"id": node_id or node}
        if heartbeat:
            record["heartbeat"] = heartbeat
        attrs: list[Op] = []
        # Permanent, so the controller still knows them once the node is lost:
        # watchdog fencing is safe only for a node a watchdog can reset, and
        # only after that watchdog's time (and the lease's) has passed.
        if watchdog is not None:
            attrs.append(Put(self.keys.attr(node, WATCHDOG_ATTR, False),
                             b"true" if watchdog else b"false"))
            timeout_key = self.keys.attr(node, WATCHDOG_TIMEOUT_ATTR, False)
            if watchdog:
                assert watchdog_timeout is not None  # checked above
                attrs.append(Put(timeout_key, str(int(watchdog_timeout)).encode()))
            else:
                attrs.append(Delete(timeout_key))
        if lease_ttl is not None:
            attrs.append(Put(self.keys.attr(node, LEASE_TTL_ATTR, False),
                             str(int(lease_ttl)).encode()))
        r = await self._store.txn(
            [Compare.absent(k)],
            [Put(k, dumps(record), lease),
             Put(self.keys.expected_state(node), b"member"),
             Delete(self.keys.node_history(node), prefix=True),
             Delete(self.keys.node_actions(node), prefix=True),
             Put(self.keys.attr(node, LEASE_ATTR, False), f"{lease:x}".encode()),
             *attrs],
            [Get(k)])
        if r.succeeded:
            return
        kvs = r.results[0]
        if kvs and kvs[0].lease == lease:  # type: ignore[index,union-attr]
            return
        raise NodeAlreadyMember(node, kvs[0].lease if kvs else 0)  # type: ignore[index,union-attr]

    async def leave(self, node: str, lease: int) -> None:
        """Leave cleanly, after every resource here was stopped: expected=down, then
        revoking the lease removes the membership key and transient attributes."""
        r = await self._store.txn([self._member_guard(node, lease)],
                                  [Put(self.keys.expected_state(node), b"down")])
        if not r.succeeded:
            raise NotMember(node)
        try:
            await self._store.revoke(lease)
        except LeaseNotFound:
            pass

    async def membership_ended(self, node: str, lease: int) -> bool:
        """Wait until `nodes/<node>` is gone or bound to another lease (True: this
        membership is over, whatever its lease does), or until the watch ends
        without that (False: call again). Raises StoreError (`Compacted`
        included) when the read or the watch fails."""
        key = self.keys.node(node)
        rng = await self._store.get_prefix(key)
        kv = next((kv for kv in rng.kvs if kv.key == key), None)
        if kv is None or kv.lease != lease:
            return True
        async with contextlib.aclosing(
                self._store.watch_prefix(key, rng.revision + 1)) as events:
            async for ev in events:
                if ev.kv.key == key and (ev.type is EventType.DELETE
                                         or ev.kv.lease != lease):
                    return True
        return False

    # ------------------------------------------------------------- operation history

    async def record_op(self, node: str, lease: int, op: OpRecord, agent: Agent,
                        action_id: str | None = None) -> None:
        """A node reports an operation result (or a pending operation).

        Guarded by the node's membership; completing `action_id` deletes its request
        in the same txn. Raises NotMember if the node's lease is gone.
        """
        ops = op_puts(self.keys, node, op, agent)
        if action_id is not None:
            ops.append(Delete(self.keys.action(node, action_id)))
        r = await self._store.txn([self._member_guard(node, lease)], ops)
        if not r.succeeded:
            raise NotMember(node)

    async def forget_op(self, node: str, lease: int, rsc: str, operation: str,
                        interval_ms: int) -> None:
        """Drop a cancelled recurring operation's record (Pacemaker does on cancel)."""
        r = await self._store.txn([self._member_guard(node, lease)],
                                  [Delete(self.keys.op(node, rsc, f"{operation}_{interval_ms}"))])
        if not r.succeeded:
            raise NotMember(node)

    # ------------------------------------------------------------- requests

    async def pending_actions(self, node: str) -> list[NodeRequest]:
        r = await self._store.get_prefix(self.keys.node_actions(node))
        return [a for kv in r.kvs if (a := NodeRequest.from_json(kv.value)) is not None]

    async def list_actions(self, node: str) -> Range:
        """The requests addressed to `node` as stored (`NodeRequest.from_json`
        reads each), and the revision to watch from (`watch_actions`)."""
        return await self._store.get_prefix(self.keys.node_actions(node))

    def watch_actions(self, node: str, start_revision: int | None = None
                      ) -> AsyncIterator[Event]:
        return self._store.watch_prefix(self.keys.node_actions(node), start_revision)

    async def accept_action(self, node: str, lease: int, request: NodeRequest,
                            pending: OpRecord | None = None, agent: Agent | None = None
                            ) -> bool:
        """Take an action request if, at this moment, its token is the current
        controller's, the node is a member with `lease` and the request is still
        there. Deletes the request and records `pending` (if given) atomically.
        False: stale or gone; do not run it (DESIGN.md safety rule 6).
        """
        k = self.keys.action(node, request.id)
        ops: list[Op] = [Delete(k)]
        if pending is not None:
            ops += op_puts(self.keys, node, pending, agent or Agent())
        r = await self._store.txn(
            [Compare.created_at(self.keys.controller, request.token),
             self._member_guard(node, lease), Compare.exists(k)], ops)
        return r.succeeded

    async def was_accepted(self, node: str, request_id: str, pending: OpRecord | None
                           ) -> bool:
        """After an `accept_action` whose answer was lost: whether it was applied.
        Its pending record carries the request's id; a request accepted without
        one (a cancel) is gone once taken (a stale cancel is harmless)."""
        if pending is None:
            return await self._store.get(self.keys.action(node, request_id)) is None
        kv = await self._store.get(self.keys.op(node, pending.rsc, history_slots(pending)[0]))
        if kv is None:
            return False
        op = load_record(kv.value).get("op") or {}
        return isinstance(op, dict) and op.get("action_id") == request_id

    async def drop_action(self, node: str, lease: int, action_id: str) -> None:
        """Delete a request this node will never run (meant for another of its
        incarnations), so that it does not linger; guarded by membership."""
        r = await self._store.txn([self._member_guard(node, lease)],
                                  [Delete(self.keys.action(node, action_id))])
        if not r.succeeded:
            raise NotMember(node)
