"""The Store contract, run against both implementations: in memory and real etcd.

Each test runs once on a `MemoryCluster` (virtual time) and once on a shared
3-member etcd cluster on loopback, under a key prefix of its own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from etcd_cluster import EtcdCluster, etcd3_fixture  # noqa: F401  (the fixture)

from pacer.clock import ManualClock
from pacer.store.base import (
    Compare,
    Delete,
    Event,
    EventType,
    Get,
    InvalidRequest,
    LeaseNotFound,
    Put,
    Store,
)
from pacer.store.etcd import EtcdConfig, EtcdStore
from pacer.store.memory import MemoryCluster

_ids = itertools.count()


class Harness:
    """One test's view of a backend: clients, a key prefix, and a way to let time pass."""

    def __init__(self, kind: str, endpoints: list[str] | None = None) -> None:
        self.kind = kind
        self.prefix = f"/test/{next(_ids)}-{id(self):x}/"
        self.clock = ManualClock(1000.0)
        self.memory = MemoryCluster(self.clock) if kind == "memory" else None
        self._endpoints = endpoints or []
        self._clients: list[Store] = []

    def client(self, name: str = "c0") -> Store:
        if self.memory is not None:
            c: Store = self.memory.client(name)
        else:
            c = EtcdStore(EtcdConfig(tuple(self._endpoints), timeout=5.0))
        self._clients.append(c)
        return c

    async def pass_time(self, seconds: float) -> None:
        """Virtual time jumps; on etcd, real time passes."""
        if self.memory is not None:
            self.clock.advance(seconds)
            self.memory.expire_leases()
        else:
            await asyncio.sleep(seconds)

    async def wait_until(self, cond: Callable[[], Awaitable[bool]], timeout: float = 10.0
                         ) -> None:
        """Poll `cond` (etcd reaps expired leases every 500 ms; memory at once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await cond():
            if self.memory is not None or loop.time() > deadline:
                raise AssertionError("condition never became true")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for c in self._clients:
            await c.close()


class Backend:
    def __init__(self, kind: str, cluster: EtcdCluster | None = None) -> None:
        self.kind = kind
        self.cluster = cluster

    def run(self, body: Callable[[Harness], Awaitable[None]], timeout: float = 30.0) -> None:
        async def main() -> None:
            h = Harness(self.kind, self.cluster.endpoints if self.cluster else None)
            try:
                await asyncio.wait_for(body(h), timeout)
            finally:
                await h.close()
        asyncio.run(main())


@pytest.fixture(name="backend", params=["memory", "etcd"])
def backend_fixture(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory")
    return Backend("etcd", request.getfixturevalue("etcd3"))


async def take(events: AsyncIterator[Event], n: int, timeout: float = 10.0) -> list[Event]:
    """The first n events of a watch, then close it."""
    out: list[Event] = []

    async def collect() -> None:
        async for ev in events:
            out.append(ev)
            if len(out) == n:
                return
    try:
        await asyncio.wait_for(collect(), timeout)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return out


# --------------------------------------------------------------------------- key/value


def test_put_get_and_prefix(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        assert await s.get(p + "a") is None
        r1 = await s.put(p + "a", b"1")
        r2 = await s.put(p + "a", b"2")
        assert r2 == r1 + 1
        kv = await s.get(p + "a")
        assert kv is not None
        assert (kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == (
            b"2", r1, r2, 2, 0)
        await s.put(p + "dir/y", b"y")
        await s.put(p + "dir/x", b"x")
        r3 = await s.put(p + "dirx", b"not under dir/")
        got = await s.get_prefix(p + "dir/")
        assert [k.key for k in got.kvs] == [p + "dir/x", p + "dir/y"]
        assert got.revision >= r3
        assert await s.delete(p + "a") is True
        assert await s.delete(p + "a") is False
        kv = await s.get(p + "dir/x")
        rev_before = (await s.get_prefix(p)).revision
        assert await s.delete(p + "missing") is False
        assert (await s.get_prefix(p)).revision == rev_before  # nothing deleted, no revision
        r4 = await s.put(p + "a", b"again")
        again = await s.get(p + "a")
        assert again is not None and (again.create_revision, again.version) == (r4, 1)
    backend.run(body)


def test_txn_compare_semantics(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        k, missing = p + "k", p + "missing"
        rev = await s.put(k, b"v")
        holds = [Compare.exists(k), Compare(k, "value", "==", b"v"),
                 Compare(k, "value", "<", b"w"), Compare(k, "create", "==", rev),
                 Compare(k, "mod", "==", rev), Compare(k, "version", "==", 1),
                 Compare(k, "lease", "==", 0), Compare.absent(missing),
                 Compare(missing, "create", "==", 0), Compare(missing, "mod", "<", rev)]
        for c in holds:
            assert (await s.txn([c])).succeeded, c
        fails = [Compare.absent(k), Compare(k, "value", "!=", b"v"),
                 Compare(k, "create", ">", rev), Compare(k, "version", ">", 1),
                 # etcd: a value compare on a missing key is false, even "!="
                 Compare(missing, "value", "==", b""), Compare(missing, "value", "!=", b"x")]
        for c in fails:
            assert not (await s.txn([c])).succeeded, c

        # every compare must hold; the failure branch runs otherwise, reads included
        r = await s.txn([Compare.exists(k), Compare.exists(missing)],
                        [Put(p + "never", b"")], [Get(k), Get(p, prefix=True)])
        assert not r.succeeded
        assert [kv.value for kv in r.results[0]] == [b"v"]  # type: ignore[union-attr]
        assert await s.get(p + "never") is None

        # the writes of one txn share one new revision
        r = await s.txn([Compare.exists(k)],
                        [Put(p + "t1", b"1"), Put(p + "t2", b"2"), Delete(k), Get(p + "t1")])
        assert r.succeeded and r.results[2] == 1
        t1, t2 = await s.get(p + "t1"), await s.get(p + "t2")
        assert t1 is not None and t2 is not None
        assert t1.mod_revision == t2.mod_revision == r.revision
        assert r.results[3][0].value == b"1"  # type: ignore[index,union-attr]
        assert await s.get(k) is None

        # a txn that writes nothing does not move the revision
        r = await s.txn([], [Get(p + "t1")])
        assert r.revision == t1.mod_revision

        # etcd refuses a key written twice in one branch
        with pytest.raises(InvalidRequest):
            await s.txn([], [Put(p + "d", b"1"), Put(p + "d", b"2")])
        with pytest.raises(InvalidRequest):
            await s.txn([], [Put(p + "e/1", b"1"), Delete(p + "e/", prefix=True)])
    backend.run(body)


def test_txn_delete_prefix_counts(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        for i in range(3):
            await s.put(f"{p}del/{i}", b"x")
        await s.put(p + "keep", b"x")
        r = await s.txn([], [Delete(p + "del/", prefix=True)])
        assert r.results == (3,)
        assert [kv.key for kv in (await s.get_prefix(p)).kvs] == [p + "keep"]
    backend.run(body)


# --------------------------------------------------------------------------- leases


def test_lease_lifecycle(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        lease = await s.grant(5)
        assert lease.ttl == 5
        assert 0 < await s.time_to_live(lease.id) <= 5
        assert await s.keepalive(lease.id) == 5
        await s.put(p + "a", b"1", lease=lease.id)
        r = await s.txn([], [Put(p + "b", b"2", lease.id)])
        kv = await s.get(p + "a")
        assert kv is not None and kv.lease == lease.id
        assert (await s.txn([Compare(p + "a", "lease", "==", lease.id)])).succeeded
        await s.put(p + "plain", b"3")
        await s.revoke(lease.id)
        assert [kv.key for kv in (await s.get_prefix(p)).kvs] == [p + "plain"]
        assert (await s.get_prefix(p)).revision == r.revision + 2  # plain put + one revoke
        for call in (s.keepalive, s.revoke, s.time_to_live):
            with pytest.raises(LeaseNotFound):
                await call(lease.id)
        with pytest.raises(LeaseNotFound):
            await s.put(p + "c", b"", lease=lease.id)
        with pytest.raises(LeaseNotFound):
            await s.txn([], [Put(p + "c", b"", lease.id)])
        assert await s.get(p + "c") is None
    backend.run(body)


def test_lease_expiry_removes_lease_bound_keys(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        short, kept = await s.grant(1), await s.grant(30)
        await s.put(p + "short", b"", lease=short.id)
        await s.put(p + "kept", b"", lease=kept.id)
        await s.put(p + "plain", b"")
        await h.pass_time(1.2)

        async def gone() -> bool:
            return await s.get(p + "short") is None
        await h.wait_until(gone)
        assert await s.get(p + "kept") is not None
        assert await s.get(p + "plain") is not None
        with pytest.raises(LeaseNotFound):
            await s.keepalive(short.id)
    backend.run(body)


def test_keepalive_keeps_the_lease(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        lease = await s.grant(2)
        await s.put(p + "k", b"", lease=lease.id)
        for _ in range(3):  # 3 s in all, longer than the TTL
            await h.pass_time(1.0)
            await s.keepalive(lease.id)
        assert await s.get(p + "k") is not None
    backend.run(body)


# --------------------------------------------------------------------------- watch


def test_watch_from_a_start_revision_in_order(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        w = p + "w/"
        first = await s.put(w + "a", b"1")
        await s.put(p + "wx", b"outside the prefix")
        await s.txn([], [Put(w + "b", b"2"), Put(w + "c", b"3")])
        await s.delete(w + "a")
        lease = await s.grant(10)
        await s.put(w + "l", b"", lease=lease.id)
        await s.revoke(lease.id)
        events = await take(s.watch_prefix(w, first), 6)
        assert [(e.type, e.kv.key.removeprefix(w), e.kv.value) for e in events] == [
            (EventType.PUT, "a", b"1"), (EventType.PUT, "b", b"2"), (EventType.PUT, "c", b"3"),
            (EventType.DELETE, "a", b""), (EventType.PUT, "l", b""),
            (EventType.DELETE, "l", b"")]
        revs = [e.revision for e in events]
        assert revs == sorted(revs) and revs[0] == first and revs[1] == revs[2]

        # from a later revision: only what came after
        later = await take(s.watch_prefix(w, events[3].revision), 1)
        assert (later[0].type, later[0].kv.key) == (EventType.DELETE, w + "a")
    backend.run(body)


def test_watch_sees_live_changes_from_other_clients(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        watcher, writer, p = h.client("w"), h.client("writer"), h.prefix
        rev = await writer.put(p + "before", b"")
        task = asyncio.create_task(take(watcher.watch_prefix(p, rev + 1), 3))
        await asyncio.sleep(0.2)
        await writer.put(p + "x", b"1")
        await writer.put(p + "x", b"2")
        await writer.delete(p + "x")
        events = await task
        assert [(e.type, e.kv.value) for e in events] == [
            (EventType.PUT, b"1"), (EventType.PUT, b"2"), (EventType.DELETE, b"")]
        assert events[1].kv.version == 2 and events[0].kv.create_revision == rev + 1
    backend.run(body)


def test_watch_from_now(backend: Backend) -> None:
    async def body(h: Harness) -> None:
        s, p = h.client(), h.prefix
        await s.put(p + "old", b"")
        it = s.watch_prefix(p)
        first = asyncio.ensure_future(it.__anext__())
        # "now" is when the watch is set up, which the test cannot see: write until seen
        for i in range(100):
            await asyncio.sleep(0.05)
            await s.put(f"{p}new{i}", b"")
            if first.done():
                break
        ev = await asyncio.wait_for(first, 10)
        await it.aclose()  # type: ignore[attr-defined]
        assert ev.kv.key.startswith(p + "new")
    backend.run(body)
