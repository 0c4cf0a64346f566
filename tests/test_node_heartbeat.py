"""Peer heartbeats: who is suspected and when (pure tracker), the wire format,
and the service over real UDP on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pacer.clock import MonotonicClock
from pacer.node.heartbeat import (
    HeartbeatService,
    PeerTracker,
    UdpLink,
    decode_beat,
    encode_beat,
    parse_addr,
)
from pacer.store.cluster import ClusterStore
from pacer.store.memory import MemoryCluster


def _ticks(t: PeerTracker, start: float, end: float, step: float = 0.05) -> None:
    """The service's beat loop: a tick every interval."""
    n = round((end - start) / step)
    for i in range(n + 1):
        t.tick(start + i * step)


def test_only_members_heard_under_their_current_lease_are_suspected() -> None:
    t = PeerTracker("n1", timeout=0.25)
    t.tick(0.0)
    t.heard_from("n2", 7, 0.0)
    t.heard_from("n3", 8, 0.0)
    t.heard_from("n1", 1, 0.0)  # its own echo is ignored
    # (n5..n7 beat all along: this node hears most of its peers)
    members = {"n1": 1, "n2": 7, "n3": 9, "n4": 10, "n5": 5, "n6": 6, "n7": 17}

    def beats(now: float) -> None:
        for p in ("n5", "n6", "n7"):
            t.heard_from(p, members[p], now)

    beats(0.0)
    _ticks(t, 0.0, 0.2)
    beats(0.2)
    assert t.suspects(members, 0.2) == {}
    # n3 is a member under a lease it was never heard under (it came back and
    # its beats do not arrive): left to lease expiry; n4 was never heard at all
    _ticks(t, 0.2, 0.3)
    beats(0.3)
    assert t.suspects(members, 0.3) == {"n2": 7}
    t.heard_from("n2", 7, 0.3)
    _ticks(t, 0.3, 0.5)
    beats(0.5)
    assert t.suspects(members, 0.5) == {}
    assert t.silent_for("n2", 0.5) == pytest.approx(0.2)
    assert t.silent_for("n4", 0.5) is None


def test_a_stalled_tracker_forgives_the_silence_it_did_not_watch() -> None:
    t = PeerTracker("n1", timeout=0.25)
    members = {"n2": 7, "n3": 8}
    t.tick(0.0)
    t.heard_from("n2", 7, 0.0)
    t.heard_from("n3", 8, 0.0)
    t.tick(0.05)
    # frozen for 5 s: on thaw, nobody is suspected before a fresh timeout
    t.tick(5.05)
    assert t.suspects(members, 5.1) == {}
    for now in (5.1, 5.15, 5.2, 5.25, 5.3):
        t.tick(now)
        t.heard_from("n3", 8, now)  # n3 beats again, n2 stays silent
    assert t.suspects(members, 5.31) == {"n2": 7}


def test_a_stall_is_forgiven_when_suspects_is_asked_before_the_next_beat() -> None:
    # Issue 13, finding 8: the stall rule lived only in tick(); a controller
    # asking right after its own stall (before its beat loop ran) saw every
    # peer silent for the length of the stall and evicted them.
    t = PeerTracker("n1", timeout=0.25)
    t.heard_from("n2", 7, 0.0)
    t.heard_from("n3", 8, 0.0)
    t.heard_from("n4", 9, 0.0)
    _ticks(t, 0.0, 0.1)
    members = {"n1": 1, "n2": 7, "n3": 8, "n4": 9}
    assert t.suspects(members, 3.0) == {}  # stalled from 0.1 to 3.0: no judgement
    assert t.silent_for("n2", 3.0) == 0.0
    # The silence after the stall still counts: n4 stays silent, the others beat.
    for now in (3.05, 3.1, 3.15, 3.2, 3.25, 3.3):
        t.tick(now)
        t.heard_from("n2", 7, now)
        t.heard_from("n3", 8, now)
    assert t.suspects(members, 3.3) == {"n4": 9}


def test_a_node_that_hears_no_majority_suspects_nobody() -> None:
    # Issue 13, finding 8: a node whose inbound datagrams are blocked hears no
    # one; it must not depose the controller nor, once elected, evict everyone.
    t = PeerTracker("n1", timeout=0.25)
    members = {"n1": 1, "n2": 7, "n3": 8}
    t.heard_from("n2", 7, 0.0)
    t.heard_from("n3", 8, 0.0)
    _ticks(t, 0.0, 1.0)
    assert t.suspects(members, 1.0) == {}
    assert t.self_doubt == 2
    # It hears n3 again: the silence it measured while it heard too few is
    # forgiven (a fresh timeout for everyone)...
    t.heard_from("n3", 8, 1.0)
    assert t.suspects(members, 1.0) == {}
    assert t.self_doubt == 0
    # ...and one of two silent after that is a peer's fault: suspected.
    for now in (1.05, 1.1, 1.15, 1.2, 1.25, 1.3):
        t.tick(now)
        t.heard_from("n3", 8, now)
    assert t.suspects(members, 1.3) == {"n2": 7}
    # Five members, two dead: still judged (etcd keeps its quorum with three).
    t5 = PeerTracker("n1", timeout=0.25)
    five = {"n1": 1, "n2": 2, "n3": 3, "n4": 4, "n5": 5}
    for p, lease in five.items():
        t5.heard_from(p, lease, 0.0)
    _ticks(t5, 0.0, 1.0)
    for p in ("n4", "n5"):
        t5.heard_from(p, five[p], 1.0)
    assert t5.suspects(five, 1.0) == {"n2": 2, "n3": 3}
    # Two members only: nobody to compare with; the lease decides.
    t2 = PeerTracker("n1", timeout=0.25)
    t2.heard_from("n2", 2, 0.0)
    _ticks(t2, 0.0, 1.0)
    assert t2.suspects({"n1": 1, "n2": 2}, 1.0) == {}
    # A member not heard since it joined again counts as silent: n3 hears
    # neither n1 (silent) nor n2 (never under its new lease): nobody (seed 11).
    t3 = PeerTracker("n3", timeout=0.25)
    t3.heard_from("n1", 1, 0.0)
    t3.heard_from("n2", 2, 0.0)
    _ticks(t3, 0.0, 1.0)
    assert t3.suspects({"n1": 1, "n2": 22, "n3": 3}, 1.0) == {}


def test_near_misses_are_counted_for_the_peer_not_for_this_nodes_own_stall() -> None:
    t = PeerTracker("n1", timeout=0.25)
    for i in range(5):
        t.tick(i * 0.05)
        t.heard_from("n2", 7, i * 0.05)
        t.heard_from("n3", 8, i * 0.05)
    t.tick(0.25)
    t.heard_from("n3", 8, 0.25)
    t.tick(0.30)
    t.heard_from("n3", 8, 0.30)
    t.heard_from("n2", 7, 0.30)  # silent 0.1 s: on time
    for now in (0.35, 0.40, 0.45, 0.50):
        t.tick(now)
        t.heard_from("n3", 8, now)
    t.heard_from("n2", 7, 0.50)  # silent 0.2 s: late, not suspected
    assert t.suspects({"n2": 7, "n3": 8}, 0.50) == {}
    late, stalls = t.take_late()
    assert late == {"n2": (1, pytest.approx(0.2))}
    assert stalls == (0, 0.0)
    assert t.take_late() == ({}, (0, 0.0))  # taken
    # this node's own loop stalls 0.4 s: the beats waiting since are not late
    t.heard_from("n2", 7, 0.90)
    t.heard_from("n3", 8, 0.90)
    t.tick(0.90)
    late, stalls = t.take_late()
    assert late == {}
    assert stalls == (1, pytest.approx(0.4))
    # a beat under a new lease (the peer joined again) is not a late one
    t.tick(0.95)
    t.heard_from("n2", 9, 0.95)
    t.tick(1.0)
    t.heard_from("n2", 9, 1.0)
    assert t.take_late() == ({}, (0, 0.0))


def test_rejoining_forgets_what_was_heard() -> None:
    t = PeerTracker("n1", timeout=0.25)
    t.heard_from("n2", 7, 0.0)
    t.forget()
    assert t.suspects({"n2": 7}, 10.0) == {}


def test_wire_format_and_garbage() -> None:
    beat = encode_beat("prod", "n2", 0x7a11, 42)
    assert decode_beat(beat, "prod") == ("n2", 0x7a11)
    assert decode_beat(beat, "other") is None
    for junk in (b"", b"hello", b"pacer1 prod n2 zz 1", b"pacer2 prod n2 1 1",
                 b"\xff\xfe pacer1", b"pacer1 prod n2 1 1 extra"):
        assert decode_beat(junk, "prod") is None


def test_address_parsing() -> None:
    assert parse_addr("10.0.0.11:7405") == ("10.0.0.11", 7405)
    assert parse_addr("[fd00::1]:7405") == ("fd00::1", 7405)
    for bad in ("10.0.0.11", ":7405", "h:0", "h:99999", "h:x"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_addr(bad)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Member:
    def __init__(self, lease: int) -> None:
        self.lease_id = lease


def test_service_over_udp_suspects_a_silent_peer_and_only_it() -> None:
    """Three services on loopback; one stops sending (as a frozen host would):
    the others suspect it within a few intervals and call their subscribers;
    the two that still beat never suspect each other."""

    async def body() -> None:
        mem = MemoryCluster(MonotonicClock())
        names = ("n1", "n2", "n3")
        addrs = {n: f"127.0.0.1:{_free_port()}" for n in names}
        services: dict[str, HeartbeatService] = {}
        for n in names:
            cluster = ClusterStore(mem.client(n), "hb")
            lease = await cluster.grant_lease(60)
            await cluster.join(n, lease.id, heartbeat=addrs[n])
            services[n] = HeartbeatService(cluster, MonotonicClock(), UdpLink(addrs[n]),
                                           _Member(lease.id), n, interval=0.02,
                                           timeout=0.15, members_poll=0.05)
        calls: dict[str, int] = {n: 0 for n in names}
        for n, svc in services.items():
            svc.subscribe(lambda n=n: calls.__setitem__(n, calls[n] + 1))
        tasks = {n: asyncio.create_task(s.run()) for n, s in services.items()}
        try:
            await asyncio.sleep(0.5)
            assert all(s.suspects() == {} for s in services.values())
            assert all(calls[n] == 0 for n in names)
            tasks.pop("n3").cancel()  # n3 goes silent
            for _ in range(100):
                await asyncio.sleep(0.02)
                if calls["n1"] and calls["n2"]:
                    break
            assert set(services["n1"].suspects()) == {"n3"}
            assert set(services["n2"].suspects()) == {"n3"}
            assert calls["n1"] >= 1 and calls["n2"] >= 1
        finally:
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    asyncio.run(body())


class _MutedLink(UdpLink):
    """A UDP link whose sends can be held back (a peer slow to beat)."""

    muted = False

    def send(self, addr: str, data: bytes) -> None:
        if not self.muted:
            super().send(addr, data)


def test_service_logs_a_late_peer_before_it_would_be_suspected(
        caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        mem = MemoryCluster(MonotonicClock())
        addrs = {n: f"127.0.0.1:{_free_port()}" for n in ("n1", "n2")}
        links = {n: _MutedLink(a) for n, a in addrs.items()}
        services = {}
        for n in addrs:
            cluster = ClusterStore(mem.client(n), "hb")
            lease = await cluster.grant_lease(60)
            await cluster.join(n, lease.id, heartbeat=addrs[n])
            services[n] = HeartbeatService(cluster, MonotonicClock(), links[n],
                                           _Member(lease.id), n, interval=0.05,
                                           timeout=1.0, members_poll=0.05)
        tasks = [asyncio.create_task(s.run()) for s in services.values()]
        try:
            await asyncio.sleep(0.3)
            links["n2"].muted = True  # 0.7 s without a beat: late, not suspected
            await asyncio.sleep(0.7)
            links["n2"].muted = False
            await asyncio.sleep(0.3)
            assert services["n1"].suspects() == {}
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    with caplog.at_level("WARNING", logger="pacer.node.heartbeat"):
        asyncio.run(body())
    late = [r.getMessage() for r in caplog.records if "late heartbeats" in r.getMessage()]
    assert len(late) == 1, caplog.text
    assert late[0].startswith("n1: late heartbeats from n2 1x (longest 0.")
    assert "raise --heartbeat-timeout" in late[0]
    assert not [r for r in caplog.records if r.getMessage().endswith(": suspected")]
