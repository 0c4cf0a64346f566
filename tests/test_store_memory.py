"""What the fault simulator needs from the in-memory store beyond the Store contract:
client handles on one store, partitions, lost requests, virtual time, determinism."""

from __future__ import annotations

import asyncio

import pytest

from pacer.clock import ManualClock
from pacer.store.base import EventType, LeaseNotFound, OutcomeUnknown, StoreUnavailable
from pacer.store.cluster import ClusterStore
from pacer.store.memory import Fate, MemoryCluster, Request


def run(coro) -> object:
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_lease_expiry_follows_virtual_time_exactly() -> None:
    async def body() -> None:
        clock = ManualClock(1000.0)
        cluster = MemoryCluster(clock)
        s = cluster.client("n1")
        lease = await s.grant(5)
        await s.put("k", b"", lease=lease.id)
        clock.advance(4.999)
        assert await s.get("k") is not None
        assert await s.time_to_live(lease.id) == 0
        await s.keepalive(lease.id)  # at 1004.999: the deadline moves to 1009.999
        clock.set(1009.998)
        assert cluster.expire_leases() == []
        clock.set(1009.999)
        assert cluster.expire_leases() == [lease.id]
        assert cluster.snapshot() == {}
    run(body())


def test_a_partitioned_client_fails_and_its_lease_runs_out() -> None:
    async def body() -> None:
        clock = ManualClock()
        cluster = MemoryCluster(clock)
        n1, n2 = cluster.client("n1"), cluster.client("n2")
        lease = await n1.grant(3)
        await n1.put("member/n1", b"", lease=lease.id)
        watch = n1.watch_prefix("member/", 1)
        assert (await watch.__anext__()).kv.key == "member/n1"

        cluster.partition("n1")
        for call in (n1.get("x"), n1.keepalive(lease.id), n1.put("x", b"")):
            with pytest.raises(StoreUnavailable) as exc:
                await call
            assert not isinstance(exc.value, OutcomeUnknown)  # refused: nothing applied
            assert exc.value.endpoints == ("memory:n1",)
        with pytest.raises(StoreUnavailable):
            await watch.__anext__()  # its watch ends too
        assert await n2.get("member/n1") is not None  # the others carry on

        clock.advance(3)
        assert await n2.get("member/n1") is None  # the store expired the lease meanwhile
        cluster.heal("n1")
        with pytest.raises(LeaseNotFound):
            await n1.keepalive(lease.id)
    run(body())


def test_lost_requests_applied_or_not() -> None:
    async def body() -> None:
        cluster = MemoryCluster(ManualClock())
        s = cluster.client("n1")
        fates = iter([Fate.APPLIED_LOST, Fate.LOST, Fate.REFUSED, Fate.APPLIED_LOST])
        seen: list[Request] = []

        def injector(req: Request) -> Fate:
            seen.append(req)
            return next(fates, Fate.OK)
        cluster.set_fault("n1", injector)
        with pytest.raises(OutcomeUnknown):
            await s.put("applied", b"1")
        with pytest.raises(OutcomeUnknown):
            await s.put("lost", b"1")
        with pytest.raises(StoreUnavailable) as refused:
            await s.put("refused", b"1")
        assert not isinstance(refused.value, OutcomeUnknown)
        with pytest.raises(StoreUnavailable) as read:
            await s.get("applied")  # a lost read is just unavailable: reads change nothing
        assert not isinstance(read.value, OutcomeUnknown)
        assert sorted(cluster.snapshot()) == ["applied"]
        assert [(r.method, r.mutating) for r in seen] == [
            ("put", True), ("put", True), ("put", True), ("get", False)]
        cluster.set_fault("n1", None)
        assert await s.get("applied") is not None
    run(body())


def test_a_campaign_whose_answer_was_lost_is_resumed_by_reading_again() -> None:
    async def body() -> None:
        cluster = MemoryCluster(ManualClock())
        c = ClusterStore(cluster.client("n1"))
        lease = await c.grant_lease(10)
        cluster.set_fault("n1", lambda r: Fate.APPLIED_LOST if r.method == "txn" else Fate.OK)
        with pytest.raises(OutcomeUnknown):
            await c.campaign("n1", lease.id)
        cluster.set_fault("n1", None)
        session = await c.campaign("n1", lease.id)
        assert session is not None
        assert session.token == cluster.snapshot()[c.keys.controller].create_revision
    run(body())


def test_the_same_script_gives_the_same_store() -> None:
    async def script() -> tuple[object, ...]:
        clock = ManualClock()
        cluster = MemoryCluster(clock)
        a, b = cluster.client("a"), cluster.client("b")
        events = []
        watch = b.watch_prefix("", 1)
        for i in range(5):
            lease = await a.grant(2 + i)
            await a.put(f"k{i}", str(i).encode(), lease=lease.id)
            clock.advance(1.5)
            cluster.expire_leases()
        for _ in range(8):
            ev = await watch.__anext__()
            events.append((ev.type, ev.kv))
        await watch.aclose()
        return (cluster.snapshot(), cluster.leases(), cluster.revision, events)

    first, second = run(script()), run(script())
    assert first == second
    assert {t for t, _ in first[3]} == {EventType.PUT, EventType.DELETE}  # type: ignore[union-attr]


def test_a_slow_request_is_applied_half_way_and_answered_at_the_end() -> None:
    """Latency (the store-slow fault): the store applies a request when it gets
    there, with its clock then — a keepalive extends the lease from that
    moment — and a caller that gives up does not take the request back."""
    async def body() -> None:
        clock = ManualClock(100.0)
        cluster = MemoryCluster(clock)
        timers: list[tuple[float, object, tuple]] = []
        cluster.schedule = lambda delay, cb, *args: timers.append((clock.now() + delay, cb, args))

        def advance_to(t: float) -> None:
            while timers and min(timers, key=lambda x: x[0])[0] <= t:
                timers.sort(key=lambda x: x[0])
                when, cb, args = timers.pop(0)
                clock.set(when)
                cb(*args)
            clock.set(t)

        s, other = cluster.client("n1"), cluster.client("n2")
        lease = await s.grant(5)
        cluster.set_latency("n1", 2.0)
        put = asyncio.ensure_future(s.put("k", b"v", lease=lease.id))
        await asyncio.sleep(0)
        assert await other.get("k") is None
        advance_to(101.0)  # half-way: applied
        assert (await other.get("k")).value == b"v"
        assert not put.done()
        advance_to(102.0)
        await asyncio.sleep(0)
        assert put.done() and put.result() == cluster.revision

        keep = asyncio.ensure_future(s.keepalive(lease.id))
        await asyncio.sleep(0)
        keep.cancel()  # the caller stops waiting at once ...
        advance_to(103.0)  # ... but the keepalive is applied at 103
        assert cluster.leases()[lease.id] == 108.0
        advance_to(104.0)
        await asyncio.sleep(0)
        assert keep.cancelled()
    run(body())


def test_a_stalled_watch_delivers_nothing_then_everything() -> None:
    async def body() -> None:
        cluster = MemoryCluster(ManualClock())
        s = cluster.client("n1")
        watch = s.watch_prefix("k/")
        nxt = asyncio.ensure_future(watch.__anext__())
        await asyncio.sleep(0)
        cluster.stall_watches("n1")
        await s.put("k/1", b"1")  # unary calls work
        await s.put("k/2", b"2")
        for _ in range(3):
            await asyncio.sleep(0)
        assert not nxt.done() and cluster.watch_held == {"n1"}
        cluster.resume_watches("n1")
        assert (await nxt).kv.key == "k/1"
        assert (await watch.__anext__()).kv.key == "k/2"
        await watch.aclose()
    run(body())
