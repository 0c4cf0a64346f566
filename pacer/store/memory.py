"""The in-memory store for the deterministic fault simulator.

One `MemoryCluster` is the shared store (what an etcd cluster is in production);
each daemon gets its own client handle from `MemoryCluster.client(name)`, so
faults can hit one client and not the others:

- `partition(name)`: every call of that client raises `StoreUnavailable` and its
  watches end with it, until `heal(name)`. Leases keep counting down on the
  store's side, exactly as when a node loses its link to etcd.
- `set_fault(name, injector)`: the injector sees each `Request` and returns its
  `Fate`: answered, refused before it reached the store, lost before it was
  applied, or applied with the answer lost (`OutcomeUnknown` either way for
  writes: the client cannot tell which).
- `set_latency(name, seconds)`: each request of that client reaches the store
  `seconds / 2` after it is sent — it is applied then, against the store's
  state and clock of that moment (a keepalive extends the lease from then) —
  and its answer arrives `seconds / 2` later. A caller that stops waiting
  (a timeout) does not stop the request: it is applied all the same.
  Delays go through `MemoryCluster.schedule` (the simulator's clock), or the
  running asyncio loop's `call_later`.
- `stall_watches(name)`: that client's watch streams deliver nothing (unary
  calls work) until `resume_watches(name)`; then they deliver what they
  missed, in order.

Single-threaded and deterministic: no randomness (the simulator's injector
decides), calls complete without yielding to the event loop (unless the
client has a latency), lease ids are a counter, and time comes from the injected `Clock`. Expired leases are reaped at
the start of every request and by `expire_leases()`, which the simulator calls
after it moves virtual time so watchers see the deletions at that moment.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from pacer.clock import Clock
from pacer.store.base import (
    Compare,
    Delete,
    Event,
    EventType,
    Get,
    InvalidRequest,
    KeyValue,
    Lease,
    LeaseNotFound,
    Op,
    OpResult,
    OutcomeUnknown,
    Put,
    Range,
    Store,
    StoreError,
    StoreUnavailable,
    TxnResult,
    check_branch,
)

# etcd reads create_revision 0 as "missing"; the first revision of a fresh etcd is 1.
_FIRST_REVISION = 1
# Lease ids look like etcd's (large, hex-printed) but are a deterministic counter.
_FIRST_LEASE_ID = 0x7A11_0000_0000_0001


class BusyLoop(BaseException):
    """Raised into a caller that made `MemoryCluster.busy_limit` requests
    without the event loop running anything else in between: a retry loop
    with no wait. A real store's client yields on every request, so such a
    loop spins (and hammers the store) until something else notices; here,
    where requests complete without yielding, it would spin for ever. A
    BaseException, so that the product's `except Exception` retry loops do
    not swallow it."""


class Fate(Enum):
    OK = "ok"
    REFUSED = "refused"  # never reached the store: StoreUnavailable
    LOST = "lost"  # reached it, not applied, answer lost
    APPLIED_LOST = "applied_lost"  # applied, answer lost


_MUTATING = frozenset({"put", "delete", "txn", "grant", "revoke"})


class Request(NamedTuple):
    """What a fault injector is shown: which client calls what, with which arguments.
    (A named tuple: one is made for every request of every client.)"""

    client: str
    method: str  # a Store method name
    args: tuple[object, ...] = ()

    @property
    def mutating(self) -> bool:
        return self.method in _MUTATING


FaultInjector = Callable[[Request], Fate]


@dataclass
class _LeaseState:
    ttl: int
    deadline: float
    keys: set[str] = field(default_factory=set)


class MemoryCluster:
    """The shared store behind every `MemoryStore` client handle."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.revision = _FIRST_REVISION
        self._kvs: dict[str, KeyValue] = {}
        self._sorted_keys: list[str] = []  # the keys of _kvs in order, for prefix ranges
        self._leases: dict[int, _LeaseState] = {}
        self._next_lease = _FIRST_LEASE_ID
        # No lease expires before this: a lower bound of every deadline, and
        # the earliest one while `_floor_exact` (a keepalive or revocation of
        # the earliest lease makes it inexact until it is looked at again).
        self._expiry_floor = math.inf
        self._floor_exact = True
        self._events: list[Event] = []
        self._event_revs: list[int] = []  # parallel to _events, for bisect
        self._partitioned: set[str] = set()
        self._injectors: dict[str, FaultInjector] = {}
        # Watchers' wake-up events → the prefix each watches. A dict, not a
        # set: waking watchers in address order would make the order of their
        # callbacks, and so a simulation, differ from run to run.
        self._wakeups: dict[asyncio.Event, str] = {}
        self._latency: dict[str, float] = {}  # client -> seconds per request
        self._stalled: set[str] = set()  # clients whose watches deliver nothing
        # Clients whose stalled watch held back at least one event (statistics).
        self.watch_held: set[str] = set()
        # Revisions at which a lease ended (revoked or expired) and took its
        # keys with it: a deletion at any other revision was a request's.
        self.lease_end_revisions: set[int] = set()
        # schedule(delay, callback, *args): run callback `delay` seconds from
        # now on the store's clock (None: the running loop's call_later).
        self.schedule: Callable[..., object] | None = None
        # Requests since the caller last yielded (the simulator resets it after
        # every loop callback); past `busy_limit`, BusyLoop (and `on_busy`).
        self.calls_since_yield = 0
        self.busy_limit = 10_000
        self.on_busy: Callable[[str, str], None] | None = None

    # ------------------------------------------------------------- simulator controls

    def client(self, name: str) -> MemoryStore:
        return MemoryStore(self, name)

    def partition(self, name: str) -> None:
        self._partitioned.add(name)
        self._wake_all()

    def heal(self, name: str) -> None:
        self._partitioned.discard(name)

    def is_partitioned(self, name: str) -> bool:
        return name in self._partitioned

    def set_fault(self, name: str, injector: FaultInjector | None) -> None:
        if injector is None:
            self._injectors.pop(name, None)
        else:
            self._injectors[name] = injector

    def set_latency(self, name: str, seconds: float) -> None:
        """Requests of `name` sent from now on take `seconds` (0: none)."""
        if seconds > 0:
            self._latency[name] = float(seconds)
        else:
            self._latency.pop(name, None)

    def stall_watches(self, name: str) -> None:
        self._stalled.add(name)

    def resume_watches(self, name: str) -> None:
        if name in self._stalled:
            self._stalled.discard(name)
            self._wake_all()

    def _later(self, delay: float, callback: Callable[..., object], *args: object) -> None:
        if self.schedule is not None:
            self.schedule(delay, callback, *args)
        else:
            asyncio.get_running_loop().call_later(delay, callback, *args)

    def expire_leases(self) -> list[int]:
        """Revoke every lease whose deadline has passed; returns their ids."""
        now = self.clock.now()
        if now < self._expiry_floor:
            return []  # (every request comes here first: the common case is cheap)
        due = sorted((st.deadline, lid) for lid, st in self._leases.items() if st.deadline <= now)
        for _, lid in due:
            self._revoke(lid)
        self.next_expiry()
        return [lid for _, lid in due]

    def next_expiry(self) -> float:
        """The earliest deadline of a live lease (inf: none)."""
        if not self._floor_exact:
            self._expiry_floor = min((st.deadline for st in self._leases.values()),
                                     default=math.inf)
            self._floor_exact = True
        return self._expiry_floor

    def _deadline_moved(self, old: float, new: float) -> None:
        """A lease's deadline moved from `old` to `new` (inf: the lease is gone)."""
        if new < self._expiry_floor:
            self._expiry_floor = new  # (still exact if it was: the new earliest)
        elif old <= self._expiry_floor:
            self._floor_exact = False  # it was the earliest: which one is now?

    def snapshot(self) -> dict[str, KeyValue]:
        """Every key as it is now, for invariant checks (no client, no faults)."""
        return dict(self._kvs)

    def peek(self, key: str) -> KeyValue | None:
        """One key as it is now, for invariant checks (no client, no faults)."""
        return self._kvs.get(key)

    def leases(self) -> dict[int, float]:
        """Live lease ids and their deadlines on the clock's scale."""
        return {lid: st.deadline for lid, st in self._leases.items()}

    def has_lease(self, lease_id: int) -> bool:
        """Whether the lease lives, for invariant checks (no client, no faults)."""
        return lease_id in self._leases

    def lease_deadline(self, lease_id: int) -> float | None:
        """When the lease runs out on the clock's scale (None: it is gone)."""
        st = self._leases.get(lease_id)
        return st.deadline if st is not None else None

    def events_since(self, prefix: str, revision: int) -> list[Event]:
        """Every event under `prefix` from `revision` on, as a watch would have
        delivered them (for the simulator's own bookkeeping: no client, no faults)."""
        return self._events_from(prefix, revision)

    # ------------------------------------------------------------- the state machine

    def _wake_all(self) -> None:
        for ev in self._wakeups:
            ev.set()

    def _commit(self, events: list[Event], revision: int) -> None:
        if not events:
            return
        self.revision = revision
        self._events.extend(events)
        self._event_revs.extend(e.revision for e in events)
        # Wake only the watchers that have something to read: a watcher woken
        # for nothing would look, find nothing, and wait again.
        keys = [e.kv.key for e in events]
        for wakeup, prefix in self._wakeups.items():
            if not wakeup.is_set():
                for key in keys:
                    if key.startswith(prefix):
                        wakeup.set()
                        break

    def _put(self, key: str, value: bytes, lease: int, rev: int, events: list[Event]) -> None:
        old = self._kvs.get(key)
        if old is not None and old.lease and old.lease in self._leases:
            self._leases[old.lease].keys.discard(key)
        kv = KeyValue(key=key, value=value,
                      create_revision=old.create_revision if old else rev,
                      mod_revision=rev, version=old.version + 1 if old else 1, lease=lease)
        self._kvs[key] = kv
        if old is None:
            bisect.insort(self._sorted_keys, key)
        if lease:
            self._leases[lease].keys.add(key)
        events.append(Event(EventType.PUT, kv))

    def _delete(self, keys: Sequence[str], rev: int, events: list[Event]) -> int:
        n = 0
        for key in keys:
            old = self._kvs.pop(key, None)
            if old is None:
                continue
            n += 1
            del self._sorted_keys[bisect.bisect_left(self._sorted_keys, key)]
            if old.lease and old.lease in self._leases:
                self._leases[old.lease].keys.discard(key)
            events.append(Event(EventType.DELETE, KeyValue(key, b"", 0, rev, 0, 0)))
        return n

    def _range(self, key: str, prefix: bool) -> tuple[KeyValue, ...]:
        if not prefix:
            kv = self._kvs.get(key)
            return (kv,) if kv else ()
        keys = self._sorted_keys
        kvs = self._kvs
        out = []
        # Keys with the prefix are contiguous in sorted order, from where it would go.
        for i in range(bisect.bisect_left(keys, key), len(keys)):
            k = keys[i]
            if not k.startswith(key):
                break
            out.append(kvs[k])
        return tuple(out)

    def _revoke(self, lease_id: int) -> None:
        st = self._leases.pop(lease_id, None)
        if st is None:
            raise LeaseNotFound(lease_id)
        self._deadline_moved(st.deadline, math.inf)
        events: list[Event] = []
        rev = self.revision + 1
        self._delete(sorted(st.keys), rev, events)
        if events:
            self.lease_end_revisions.add(rev)
        self._commit(events, rev)

    def _txn(self, compares: Sequence[Compare], on_success: Sequence[Op],
             on_failure: Sequence[Op]) -> TxnResult:
        check_branch(on_success)
        check_branch(on_failure)
        ok = all(c.holds(self._kvs.get(c.key)) for c in compares)
        branch = on_success if ok else on_failure
        for op in branch:
            if isinstance(op, Put) and op.lease and op.lease not in self._leases:
                raise LeaseNotFound(op.lease)
        rev = self.revision + 1
        events: list[Event] = []
        results: list[OpResult] = []
        for op in branch:
            if isinstance(op, Put):
                self._put(op.key, op.value, op.lease, rev, events)
                results.append(None)
            elif isinstance(op, Delete):
                keys = [kv.key for kv in self._range(op.key, op.prefix)]
                results.append(self._delete(keys, rev, events))
            elif isinstance(op, Get):
                results.append(self._range(op.key, op.prefix))
            else:  # pragma: no cover - the Op union is closed
                raise InvalidRequest(f"unknown txn op {op!r}")
        self._commit(events, rev)
        return TxnResult(succeeded=ok, revision=self.revision, results=tuple(results))

    def _events_from(self, prefix: str, revision: int) -> list[Event]:
        i = bisect.bisect_left(self._event_revs, revision)
        return [e for e in self._events[i:] if e.kv.key.startswith(prefix)]


class MemoryStore(Store):
    """One client's handle on a `MemoryCluster`."""

    def __init__(self, cluster: MemoryCluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self._closed = False

    def _enter(self, method: str, *args: object) -> Fate:
        c = self.cluster
        c.calls_since_yield += 1
        if c.calls_since_yield > c.busy_limit:
            c.calls_since_yield = 0
            if c.on_busy is not None:
                c.on_busy(self.name, method)
            raise BusyLoop(f"memory store: {c.busy_limit} requests of client {self.name!r} "
                           f"(the last: {method}) without yielding to the event loop")
        c.expire_leases()  # the store's own clock runs whatever the client's fate
        if self._closed:
            raise StoreError(f"memory store client {self.name!r} is closed")
        if self.name in c._partitioned:
            raise StoreUnavailable(f"memory store: client {self.name!r} is partitioned "
                                   "from the store", [f"memory:{self.name}"])
        injector = c._injectors.get(self.name)
        fate = injector(Request(self.name, method, args)) if injector else Fate.OK
        if fate is Fate.REFUSED:
            raise StoreUnavailable(f"memory store: {method} of client {self.name!r} "
                                   "refused (injected)", [f"memory:{self.name}"])
        if fate is Fate.LOST:
            self._lost(method)
        return fate

    def _lost(self, method: str) -> None:
        cls = OutcomeUnknown if method in _MUTATING else StoreUnavailable
        raise cls(f"memory store: the answer to {method} of client {self.name!r} "
                  "was lost (injected)", [f"memory:{self.name}"])

    def _leave(self, method: str, fate: Fate) -> None:
        if fate is Fate.APPLIED_LOST:
            self._lost(method)

    async def _slow(self, method: str, args: tuple[object, ...],
                    apply: Callable[[], object]) -> object:
        """A request with latency: applied at the store half-way, answered at the end."""
        c = self.cluster
        half = c._latency[self.name] / 2
        fut = asyncio.get_running_loop().create_future()

        def answer(ok: bool, value: object) -> None:
            if not fut.done():  # (the caller may have stopped waiting)
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)  # type: ignore[arg-type]

        def at_store() -> None:
            try:
                fate = self._enter(method, *args)
                value = apply()
                self._leave(method, fate)
            except (StoreError, LeaseNotFound, InvalidRequest) as exc:
                c._later(half, answer, False, exc)
            else:
                c._later(half, answer, True, value)

        c._later(half, at_store)
        return await fut

    async def get(self, key: str) -> KeyValue | None:
        if self.name in self.cluster._latency:
            return await self._slow("get", (key,),  # type: ignore[return-value]
                                    lambda: self.cluster._kvs.get(key))
        fate = self._enter("get", key)
        kv = self.cluster._kvs.get(key)
        self._leave("get", fate)
        return kv

    async def get_prefix(self, prefix: str) -> Range:
        c = self.cluster
        if self.name in c._latency:
            return await self._slow("get_prefix", (prefix,),  # type: ignore[return-value]
                                    lambda: Range(c._range(prefix, True), c.revision))
        fate = self._enter("get_prefix", prefix)
        r = Range(self.cluster._range(prefix, True), self.cluster.revision)
        self._leave("get_prefix", fate)
        return r

    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        if self.name in self.cluster._latency:
            return await self._slow(  # type: ignore[return-value]
                "put", (key, value, lease),
                lambda: self.cluster._txn((), (Put(key, value, lease),), ()).revision)
        fate = self._enter("put", key, value, lease)
        rev = self.cluster._txn((), (Put(key, value, lease),), ()).revision
        self._leave("put", fate)
        return rev

    async def delete(self, key: str) -> bool:
        if self.name in self.cluster._latency:
            return await self._slow(  # type: ignore[return-value]
                "delete", (key,),
                lambda: bool(self.cluster._txn((), (Delete(key),), ()).results[0]))
        fate = self._enter("delete", key)
        n = self.cluster._txn((), (Delete(key),), ()).results[0]
        self._leave("delete", fate)
        return bool(n)

    async def txn(self, compares: Sequence[Compare], on_success: Sequence[Op] = (),
                  on_failure: Sequence[Op] = ()) -> TxnResult:
        if self.name in self.cluster._latency:
            return await self._slow(  # type: ignore[return-value]
                "txn", (tuple(compares), tuple(on_success), tuple(on_failure)),
                lambda: self.cluster._txn(compares, on_success, on_failure))
        fate = self._enter("txn", tuple(compares), tuple(on_success), tuple(on_failure))
        result = self.cluster._txn(compares, on_success, on_failure)
        self._leave("txn", fate)
        return result

    def _grant(self, ttl: int) -> Lease:
        if ttl <= 0:
            raise InvalidRequest(f"lease TTL must be positive, not {ttl}")
        c = self.cluster
        lid = c._next_lease
        c._next_lease += 1
        c._leases[lid] = st = _LeaseState(ttl=ttl, deadline=c.clock.now() + ttl)
        c._deadline_moved(math.inf, st.deadline)
        return Lease(lid, ttl)

    async def grant(self, ttl: int) -> Lease:
        if self.name in self.cluster._latency:
            return await self._slow("grant", (ttl,),  # type: ignore[return-value]
                                    lambda: self._grant(ttl))
        fate = self._enter("grant", ttl)
        lease = self._grant(ttl)
        self._leave("grant", fate)
        return lease

    def _keepalive(self, lease_id: int) -> int:
        st = self.cluster._leases.get(lease_id)
        if st is None:
            raise LeaseNotFound(lease_id)
        old = st.deadline
        st.deadline = self.cluster.clock.now() + st.ttl
        self.cluster._deadline_moved(old, st.deadline)
        return st.ttl

    async def keepalive(self, lease_id: int) -> int:
        if self.name in self.cluster._latency:
            return await self._slow("keepalive", (lease_id,),  # type: ignore[return-value]
                                    lambda: self._keepalive(lease_id))
        fate = self._enter("keepalive", lease_id)
        ttl = self._keepalive(lease_id)
        self._leave("keepalive", fate)
        return ttl

    async def revoke(self, lease_id: int) -> None:
        if self.name in self.cluster._latency:
            await self._slow("revoke", (lease_id,), lambda: self.cluster._revoke(lease_id))
            return
        fate = self._enter("revoke", lease_id)
        self.cluster._revoke(lease_id)
        self._leave("revoke", fate)

    def _time_to_live(self, lease_id: int) -> int:
        st = self.cluster._leases.get(lease_id)
        if st is None:
            raise LeaseNotFound(lease_id)
        # etcd truncates the remaining time to whole seconds.
        return max(0, math.floor(st.deadline - self.cluster.clock.now()))

    async def time_to_live(self, lease_id: int) -> int:
        if self.name in self.cluster._latency:
            return await self._slow("time_to_live", (lease_id,),  # type: ignore[return-value]
                                    lambda: self._time_to_live(lease_id))
        fate = self._enter("time_to_live", lease_id)
        ttl = self._time_to_live(lease_id)
        self._leave("time_to_live", fate)
        return ttl

    async def watch_prefix(self, prefix: str, start_revision: int | None = None
                           ) -> AsyncIterator[Event]:
        fate = self._enter("watch_prefix", prefix, start_revision)
        self._leave("watch_prefix", fate)
        c = self.cluster
        next_rev = start_revision if start_revision else c.revision + 1
        wakeup = asyncio.Event()
        c._wakeups[wakeup] = prefix
        stalled = c._stalled
        try:
            while True:
                self._check_watch()
                pending = c._events_from(prefix, next_rev)
                if not pending or self.name in stalled:
                    if pending:
                        c.watch_held.add(self.name)
                    # Nothing can happen between this check and the wait: one thread, no await.
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                for ev in pending:
                    self._check_watch()
                    if self.name in stalled:
                        break  # (stalled while the caller handled the last one)
                    next_rev = ev.revision + 1
                    yield ev
        finally:
            c._wakeups.pop(wakeup, None)

    def _check_watch(self) -> None:
        if self._closed:
            raise StoreError(f"memory store client {self.name!r} is closed")
        if self.name in self.cluster._partitioned:
            raise StoreUnavailable(f"memory store: client {self.name!r} is partitioned "
                                   "from the store; its watch ended", [f"memory:{self.name}"])

    async def close(self) -> None:
        self._closed = True
        self.cluster._wake_all()
