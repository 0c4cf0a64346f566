"""A live pacer cluster on this machine for tests: a real etcd cluster and one
`pacer agent` process per node, each with its own state directory.

    with LiveCluster(tmp_path, nodes=3) as lc:
        lc.push(YAML)                        # the definition, through the store
        lc.wait(lambda s: ..., "what we wait for")   # polls the store's status
        lc.kill_daemon("n1")                  # SIGKILL the daemon only
        lc.running("vip")                     # nodes where a Dummy's state file exists

Every process of a node carries PACER_NODE=<node> and PACER_TEST_CLUSTER=<id>
in its environment, so the test fence agent (`live_fixtures/fence_pacer_node`)
can power a node off by killing exactly those, and `close()` leaves nothing
behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from etcd_cluster import EtcdCluster

from pacer.model.yaml_loader import load_yaml
from pacer.scheduler.api import schedule
from pacer.store.cluster import ClusterStore, Snapshot, load_record
from pacer.store.etcd import EtcdConfig, EtcdStore

FIXTURES = Path(__file__).parent / "live_fixtures"


class LiveCluster:
    def __init__(self, base: Path, nodes: int = 3, lease_ttl: int = 2,
                 etcd_size: int = 3, members_of: dict[str, list[int]] | None = None,
                 heartbeats: bool = True) -> None:
        self.base = Path(base)
        self.names = [f"n{i + 1}" for i in range(nodes)]
        self.lease_ttl = lease_ttl
        self.id = f"t{uuid.uuid4().hex[:10]}"
        self.etcd = EtcdCluster(self.base / "etcd", size=etcd_size)
        self.daemons: dict[str, subprocess.Popen] = {}
        # Which etcd members a node's daemon may reach (default: all).
        self.members_of = members_of or {}
        # Peer heartbeats on loopback (pacer agent --heartbeat), one port per node.
        self.heartbeat = {n: f"127.0.0.1:{_free_udp_port()}" for n in self.names} \
            if heartbeats else {}
        self.loop = asyncio.new_event_loop()
        self._store: EtcdStore | None = None

    # ------------------------------------------------------------- lifecycle

    def __enter__(self) -> LiveCluster:
        self.etcd.start()
        for n in self.names:
            self.start_daemon(n)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state_dir(self, node: str) -> Path:
        return self.base / "nodes" / node

    def start_daemon(self, node: str) -> None:
        log = open(self.base / f"{node}.log", "ab")  # noqa: SIM115 - the child keeps it
        env = {**os.environ, "PACER_NODE": node, "PACER_TEST_CLUSTER": self.id,
               "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "pacer", "agent", "--node", node,
               "--endpoints", ",".join(self.endpoints_of(node)),
               "--state-dir", str(self.state_dir(node)),
               "--lease-ttl", str(self.lease_ttl),
               "--fence-dir", str(FIXTURES), "--log-level", "info"]
        if node in self.heartbeat:
            cmd += ["--heartbeat", self.heartbeat[node]]
        self.daemons[node] = subprocess.Popen(cmd, env=env, stdout=log, stderr=log,
                                              start_new_session=True)

    def endpoints_of(self, node: str) -> list[str]:
        members = self.members_of.get(node)
        eps = self.etcd.endpoints
        return [eps[i] for i in members] if members is not None else eps

    def kill_daemon(self, node: str, sig: int = signal.SIGKILL) -> None:
        """The daemon alone: what it started keeps running, as after a crash."""
        p = self.daemons[node]
        with_suppress_kill(p.pid, sig)
        p.wait(10)

    def freeze(self, node: str) -> None:
        """SIGSTOP every process of the node (as a hung host): nothing of it moves."""
        self._signal_node(node, signal.SIGSTOP)

    def thaw(self, node: str) -> None:
        self._signal_node(node, signal.SIGCONT)

    def _signal_node(self, node: str, sig: int) -> None:
        tag = f"PACER_TEST_CLUSTER={self.id}".encode()
        me = f"PACER_NODE={node}".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                env = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if tag in env and me in env:
                with_suppress_kill(int(proc.name), sig)

    def journal(self) -> list[dict]:
        """The controller's journal (`pacer history`), oldest first."""
        cluster = self.cluster()
        rng = self.run(cluster._store.get_prefix(cluster.keys.events))
        return [load_record(kv.value) for kv in rng.kvs]

    def power_off(self, node: str) -> None:
        """Every process of the node, as the fence device does it."""
        subprocess.run([str(FIXTURES / "fence_pacer_node")], check=True, timeout=30,
                       input=f"action=off\nport={node}\ncluster={self.id}\n"
                             f"state_root={self.base / 'nodes'}\n".encode())

    def close(self) -> None:
        for n in self.names:
            try:
                self.power_off(n)
            except (subprocess.SubprocessError, OSError):
                pass
        for p in self.daemons.values():
            if p.poll() is None:
                with_suppress_kill(p.pid, signal.SIGKILL)
                p.wait(10)
        if self._store is not None:
            self.loop.run_until_complete(self._store.close())
        self.loop.close()
        self.etcd.close()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{(self.base / f'{n}.log').read_text(errors='replace')[-4000:]}"
                         for n in self.names if (self.base / f"{n}.log").exists())

    # ------------------------------------------------------------- store access

    def cluster(self) -> ClusterStore:
        if self._store is None:
            self._store = EtcdStore(EtcdConfig(endpoints=tuple(self.etcd.endpoints)))
        return ClusterStore(self._store)

    def run(self, coro):  # noqa: ANN001, ANN201 - any coroutine
        return self.loop.run_until_complete(coro)

    def push(self, text: str) -> int:
        load_yaml(text)  # fail here, clearly, on a bad test definition
        return self.run(self.cluster().put_definition(text))

    def snapshot(self) -> Snapshot:
        return self.run(self.cluster().snapshot(now=int(time.time())))

    def placement(self) -> dict[str, list[str]]:
        """Resource instance → nodes it runs on, as the scheduler reads the store."""
        snap = self.snapshot()
        if snap.definition is None:
            return {}
        view = schedule(snap.definition.definition, snap.status, int(time.time())).view
        return {r.id: list(r.active) for r in view.primitives}

    def wait(self, cond: Callable[[LiveCluster], object], what: str,
             timeout: float = 60.0) -> object:
        """Poll until `cond(self)` is truthy; fail naming `what` and the logs."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = cond(self)
            except Exception as e:  # a store read during an election, say
                last = e
            if last and not isinstance(last, Exception):
                return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{self.logs()}")

    # ------------------------------------------------------------- ground truth

    def running(self, instance: str) -> list[str]:
        """Nodes where Dummy `instance` really runs: its state file, in HA_RSCTMP
        (ocf:heartbeat:Dummy) or HA_VARRUN (ocf:pacemaker:Dummy)."""
        return [n for n in self.names
                if any((self.state_dir(n) / d / f"Dummy-{instance}.state").exists()
                       for d in ("rsctmp", "run"))]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_suppress_kill(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
