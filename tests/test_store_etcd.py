"""etcd-only behaviour: failover between members, unavailability, TLS client certs.

Each test that breaks members starts its own cluster on loopback (tests/etcd_cluster.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from etcd_cluster import EtcdCluster, make_ca, make_client_cert, make_tls, require_etcd

import pacer.store.etcd as etcd_module
from pacer.store.base import EventType, OutcomeUnknown, StoreError, StoreUnavailable
from pacer.store.etcd import EtcdConfig, EtcdStore, _not_applied


@pytest.fixture
def cluster(tmp_path: Path):
    require_etcd()
    with EtcdCluster(tmp_path / "etcd") as c:
        yield c


def run(coro, timeout: float = 40.0) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_the_client_moves_on_when_its_member_dies(cluster: EtcdCluster) -> None:
    async def body() -> None:
        store = EtcdStore(EtcdConfig(tuple(cluster.endpoints), timeout=8.0))
        try:
            lease = await store.grant(30)
            first = await store.put("/f/a", b"1", lease=lease.id)
            watch = store.watch_prefix("/f/", first)
            assert (await watch.__anext__()).kv.value == b"1"

            # kill the member the client talks to, then the leader (an election)
            for victim in (cluster.endpoints.index(store.current_endpoint), None):
                if victim is None:
                    victim = cluster.leader()
                    assert victim is not None
                cluster.kill(victim)
                started = time.monotonic()
                assert (await store.get("/f/a")).value == b"1"  # type: ignore[union-attr]
                assert await store.keepalive(lease.id) == 30
                for _attempt in range(5):
                    try:
                        await store.put("/f/b", str(victim).encode())
                        break
                    except OutcomeUnknown:
                        # a write in flight during the election: read, then decide
                        kv = await store.get("/f/b")
                        if kv is not None and kv.value == str(victim).encode():
                            break
                else:
                    raise AssertionError("no write got through after the election")
                assert time.monotonic() - started < 8
                ev = await asyncio.wait_for(watch.__anext__(), 10)
                # the watch resumed on another member: nothing lost, nothing repeated
                assert (ev.type, ev.kv.key, ev.kv.value) == (
                    EventType.PUT, "/f/b", str(victim).encode())
                cluster.start_member(victim)
            await watch.aclose()
        finally:
            await store.close()
    run(body())


def test_a_write_dropped_by_a_dying_leader_is_given_up_at_the_election(
        cluster: EtcdCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """A follower forwards a write to its leader; the leader dies and the write
    is dropped, never answered. The client asks its member about the leader
    and gives the attempt up (outcome unknown) at the election, not at the
    end of its attempt budget, which is made long here to tell the two apart."""
    monkeypatch.setattr(etcd_module, "MUTATION_ATTEMPT_S", 30.0)

    leader = cluster.leader()
    assert leader is not None

    async def body() -> None:
        follower = next(i for i in range(3) if i != leader)
        store = EtcdStore(EtcdConfig((cluster.endpoints[follower],), timeout=30.0))
        try:
            await store.put("/d/k", b"before")
            cluster.kill(leader)
            with pytest.raises(OutcomeUnknown) as exc:
                await store.put("/d/k", b"during")
            assert ("a new leader was elected" in str(exc.value)
                    or "the member has no leader" in str(exc.value)), exc.value
            for _attempt in range(50):  # "no leader" is refused, safe to send again
                try:
                    await store.put("/d/k", b"after")
                    break
                except StoreUnavailable:
                    await asyncio.sleep(0.1)
            assert (await store.get("/d/k")).value == b"after"  # type: ignore[union-attr]
        finally:
            await store.close()
    run(body())


def test_no_quorum_refuses_writes_without_applying_them(cluster: EtcdCluster) -> None:
    async def body() -> None:
        store = EtcdStore(EtcdConfig((cluster.endpoints[0],), timeout=3.0))
        try:
            await store.put("/q/k", b"before")
            cluster.kill(1)
            cluster.kill(2)
            # Member 0 notices it lost its leader within one or two election
            # timeouts; a busy machine stretches that (CI: 1.5 s of sleep was
            # not always enough), so wait for what it says, not for a time.
            deadline = time.monotonic() + 20
            while str(cluster.status(0).get("leader", "0")) != "0":
                assert time.monotonic() < deadline, "member 0 kept its leader for 20 s"
                await asyncio.sleep(0.05)
            with pytest.raises(StoreUnavailable) as exc:
                await store.put("/q/k", b"after")
            # refused before proposing ("no leader"), so known not to be applied
            assert not isinstance(exc.value, OutcomeUnknown), exc.value
            assert "no leader" in str(exc.value)
        finally:
            await store.close()
        cluster.start_member(1, wait=False)
        cluster.start_member(2, wait=False)
        cluster.wait_healthy()
        store = EtcdStore(EtcdConfig(tuple(cluster.endpoints)))
        try:
            assert (await store.get("/q/k")).value == b"before"  # type: ignore[union-attr]
        finally:
            await store.close()
    run(body())


def test_concurrent_calls_each_skip_a_silent_member(cluster: EtcdCluster) -> None:
    """A member that holds its connections and never answers (frozen, or a
    host whose link went down: the channel still looks ready) costs each call
    one attempt; concurrent calls do not send each other back to it (with a
    cursor shared by all calls and moved by every failure, a third of them
    went back, and their second wait ran out the call's time: lab, a node's
    read waited 5 s on a lost host's member while two others answered)."""
    leader = cluster.leader()
    assert leader is not None
    frozen = next(i for i in range(3) if i != leader)
    others = [cluster.endpoints[i] for i in range(3) if i != frozen]
    proc = cluster.members[frozen].proc
    assert proc is not None

    async def body() -> None:
        # Reads may wait 1 s per member; 20 concurrent calls get 1.9 s each.
        store = EtcdStore(EtcdConfig((cluster.endpoints[frozen], *others), timeout=1.9,
                                     connect_timeout=0.5))
        try:
            await store.put("/s/k", b"v")  # the channel to the first member is ready
            os.kill(proc.pid, signal.SIGSTOP)
            got = await asyncio.gather(*(store.get("/s/k") for _ in range(20)),
                                       return_exceptions=True)
            failed = [g for g in got if isinstance(g, BaseException)]
            assert not failed, failed[0]
            assert all(kv.value == b"v" for kv in got)  # type: ignore[union-attr]
            assert store.current_endpoint != cluster.endpoints[frozen]
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            await store.close()
        # A read is also sent to the next member when the first is silent for
        # a moment, instead of waiting out its attempt (4 s here).
        store = EtcdStore(EtcdConfig((cluster.endpoints[frozen], *others), timeout=8.0))
        try:
            await store.put("/s/k", b"w")
            os.kill(proc.pid, signal.SIGSTOP)
            started = time.monotonic()
            assert (await store.get("/s/k")).value == b"w"  # type: ignore[union-attr]
            assert time.monotonic() - started < 3.0
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            await store.close()
    run(body())


def test_all_members_down_is_a_clear_store_unavailable(cluster: EtcdCluster) -> None:
    async def body() -> None:
        store = EtcdStore(EtcdConfig(tuple(cluster.endpoints), timeout=1.5,
                                     connect_timeout=0.3))
        try:
            await store.put("/u/k", b"")
            for i in range(3):
                cluster.kill(i)
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as exc:
                await store.get("/u/k")
            assert time.monotonic() - started < 3
            message = str(exc.value)
            for endpoint in cluster.endpoints:
                assert endpoint in message
            assert "Connection refused" in message and "etcdctl" in message
            assert len(exc.value.endpoints) == 3
        finally:
            await store.close()
    run(body())


def test_tls_with_client_certificates(tmp_path: Path) -> None:
    require_etcd()
    tls = make_tls(tmp_path / "pki")
    make_ca(tmp_path / "other", "rogue")
    rogue_cert, rogue_key = make_client_cert(tmp_path / "other", "rogue", "intruder")
    with EtcdCluster(tmp_path / "etcd", size=1, tls=tls) as cluster:
        endpoint = f"https://{cluster.endpoints[0]}"

        def config(**kw: object) -> EtcdConfig:
            base: dict[str, object] = dict(endpoints=(endpoint,), timeout=1.5,
                                           connect_timeout=0.5, ca_file=str(tls.ca),
                                           cert_file=str(tls.client_cert),
                                           key_file=str(tls.client_key))
            base.update(kw)
            return EtcdConfig(**base)  # type: ignore[arg-type]

        async def body() -> None:
            async with EtcdStore(config()) as store:
                rev = await store.put("/tls/k", b"secret")
                assert (await store.get("/tls/k")).value == b"secret"  # type: ignore[union-attr]
                ev = await asyncio.wait_for(store.watch_prefix("/tls/", rev).__anext__(), 5)
                assert ev.kv.value == b"secret"
            for bad in (config(cert_file=None, key_file=None),  # no client certificate
                        config(cert_file=str(rogue_cert), key_file=str(rogue_key)),
                        config(ca_file=str(tmp_path / "other" / "rogue.crt"))):  # untrusted server
                async with EtcdStore(bad) as store:
                    with pytest.raises(StoreUnavailable) as exc:
                        await store.get("/tls/k")
                    assert "with TLS" in str(exc.value)
            async with EtcdStore(EtcdConfig((cluster.endpoints[0],), timeout=1.0)) as plain:
                with pytest.raises(StoreUnavailable):
                    await plain.get("/tls/k")  # plaintext to a TLS port
        run(body())


def test_config_is_checked_early(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="host:port"):
        EtcdConfig(("127.0.0.1",))
    with pytest.raises(ValueError, match="go together"):
        EtcdConfig(cert_file="c.pem")
    assert EtcdConfig("a:1,https://b:2").endpoints == ("a:1", "https://b:2")  # type: ignore[arg-type]
    assert EtcdConfig(("https://b:2",)).tls
    with pytest.raises(StoreError, match="cannot read the CA"):
        EtcdStore(EtcdConfig(ca_file=str(tmp_path / "missing.pem")))


def _error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(("code", "details", "not_applied"), [
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: "
     "UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused", True),
    (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader", True),
    (grpc.StatusCode.UNAVAILABLE, "etcdserver: leader changed", False),
    (grpc.StatusCode.UNAVAILABLE, "etcdserver: request timed out", False),
    (grpc.StatusCode.UNAVAILABLE, "Socket closed", False),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", False),
])
def test_only_provably_unapplied_writes_are_retried(code: grpc.StatusCode, details: str,
                                                    not_applied: bool) -> None:
    assert _not_applied(_error(code, details)) is not_applied


def test_the_fixture_leaves_no_etcd_behind(tmp_path: Path) -> None:
    require_etcd()
    cluster = EtcdCluster(tmp_path / "etcd", size=1).start()
    pid = cluster.members[0].proc.pid  # type: ignore[union-attr]
    cluster.close()
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
    assert not (tmp_path / "etcd" / "etcd0" / "data").exists()
