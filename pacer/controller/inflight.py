"""Operations in flight on member nodes: what must wait for them, and how long
to wait for them (pure).

A node records an operation as pending when it takes the request, in the
history slot its result will fill. While any operation is pending on a member
node the controller does not schedule: the pending record says "not done
yet", so a new transition could stop what the operation needs under it
(faultsim finding 13), or start elsewhere what a stop in progress still runs
(issue 13, finding 1: a 75 s stop, written off after 30 s). Stops and promotes
of databases take minutes, so each operation is waited for as long as its own
timeout (the node kills the agent then) plus a grace, counted from when this
controller sent the request, or else first saw it pending (it may be an
earlier controller's). An operation that outlives that is recorded as a
timeout of that operation, as Pacemaker's controller does when an action's
timer expires; the scheduler then applies its on-fail (a stop that timed out:
the node is fenced, or the resource blocked) before anything that depends on
the outcome happens elsewhere.

Only what is tied to an operation in flight waits for it: the resources
connected to its resource by order or colocation constraints (transitively,
whole groups and clones), `held_resources`. The controller runs the rest of
a transition meanwhile, so a Galera promote that takes five minutes does not
hold back the restart of a service that has nothing to do with it (Pacemaker
waits for every action in flight before its next transition; found by
faultsim, seed 16: vip dead for 30 s under api while db promoted). What is
held cannot be touched on a stale reading of the pending record: its pending
stop still runs, its pending start has not finished.

Recurring monitors are not waited for: their pending record is their first
run, which answers the request that started them, and nothing depends on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pacer.model.definition import Clone, Definition, Group, Resource, ResourceSet
from pacer.status.instances import split_instance_id
from pacer.status.types import OP_PENDING, OpRecord, Status


@dataclass(frozen=True)
class Pending:
    """An operation a member node took and has not finished."""

    node: str
    op: OpRecord  # op.rsc: the history id (`db`, `clone:2` when unique)

    @property
    def key(self) -> tuple[str, str, str, int, str | None]:
        op = self.op
        return (self.node, op.rsc, op.operation, op.call_id, op.action_id)

    def describe(self) -> str:
        return f"{self.op.operation} of {self.op.rsc} on {self.node}"


def pending_ops(status: Status) -> list[Pending]:
    """One-shot operations pending on member nodes."""
    out: list[Pending] = []
    for n, ns in sorted(status.node_states.items()):
        if ns.in_ccm != "true":
            continue
        for h in ns.history:
            for op in h.ops:
                if op.op_status == OP_PENDING and not op.interval_ms:
                    out.append(Pending(n, op))
    return out


def top_level(defn: Definition) -> dict[str, str]:
    """Every resource id (primitive, group, member, clone, child) → the id of the
    top-level resource it is part of."""
    out: dict[str, str] = {}

    def walk(r: Resource, top: str) -> None:
        out[r.id] = top
        if isinstance(r, Group):
            for m in r.members:
                walk(m, top)
        elif isinstance(r, Clone):
            walk(r.child, top)

    for r in defn.resources:
        walk(r, r.id)
    return out


def top_of(tops: dict[str, str], rsc: str) -> str | None:
    """The top-level resource of an instance or history id (`lb:2`, `api-db`)."""
    return tops.get(rsc) or tops.get(split_instance_id(rsc)[0])


def held_resources(defn: Definition, pending: Iterable[Pending]) -> frozenset[str]:
    """Top-level resources that must not be touched while `pending` runs: theirs,
    and every resource an order or a colocation ties to them, transitively."""
    tops = top_level(defn)
    links: dict[str, set[str]] = {}

    def link(ids: Iterable[str | None]) -> None:
        found = {t for i in ids if i and (t := top_of(tops, i)) is not None}
        for t in found:
            links.setdefault(t, set()).update(found - {t})

    def set_ids(sets: Iterable[ResourceSet]) -> list[str]:
        return [rid for rs in sets for rid in rs.resources]

    for o in defn.orders:
        link([o.first, o.then, *set_ids(o.sets)])
    for c in defn.colocations:
        link([c.rsc, c.with_rsc, *set_ids(c.sets)])
    held: set[str] = set()
    todo = [t for p in pending if (t := top_of(tops, p.op.rsc)) is not None]
    while todo:
        t = todo.pop()
        if t not in held:
            held.add(t)
            todo.extend(links.get(t, ()))
    return frozenset(held)


MAX_REMEMBERED = 10_000


class InFlight:
    """When this controller started waiting for each pending operation."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._sent: dict[str, float] = {}  # request id → when this controller sent it
        self._since: dict[tuple[str, str, str, int, str | None], float] = {}

    def sent(self, action_id: str, at: float) -> None:
        self._sent[action_id] = at
        if len(self._sent) > MAX_REMEMBERED:
            # (results that never came and were never seen pending: a request
            # lost with its node; the oldest are forgotten)
            del self._sent[next(iter(self._sent))]

    def deadline(self, p: Pending, now: float, timeout_ms: Callable[[Pending], int]) -> float:
        since = self._since.get(p.key)
        if since is None:
            sent = self._sent.get(p.op.action_id or "")
            since = self._since[p.key] = sent if sent is not None else now
        return since + timeout_ms(p) / 1000 + self.grace

    def check(self, pending: Iterable[Pending], now: float,
              timeout_ms: Callable[[Pending], int]) -> tuple[float | None, list[Pending]]:
        """(seconds until the first deadline of those still within it — None when
        there are none —, the operations past theirs). Forgets what is no
        longer pending."""
        wait: float | None = None
        overdue: list[Pending] = []
        seen = set()
        for p in pending:
            seen.add(p.key)
            left = self.deadline(p, now, timeout_ms) - now
            if left <= 0:
                overdue.append(p)
            else:
                wait = left if wait is None else min(wait, left)
        for k in [k for k in self._since if k not in seen]:
            del self._since[k]
            self._sent.pop(k[4] or "", None)
        return wait, overdue

    def done(self, action_id: str) -> None:
        """Its result came (or it was withdrawn before a node took it)."""
        self._sent.pop(action_id, None)
