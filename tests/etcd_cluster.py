"""Real etcd clusters on loopback for tests: start, stop, kill and restart members.

    with EtcdCluster(tmp_path, size=3) as cluster:
        cluster.endpoints            # ["127.0.0.1:41234", ...]
        cluster.kill(0)              # SIGKILL member 0 (its whole process group)
        cluster.start_member(0)      # back, with its data, healthy again

Every member is started here (never the packaged etcd service) with its own
data dir under the given directory and its own free ports on 127.0.0.1. Fast
raft timing (50 ms heartbeat, 500 ms election) keeps failovers and lease expiry
quick. Members die with the test process: each runs in its own process group,
which `close()` kills; a parent-death signal (setpriv --pdeathsig) and an atexit
hook cover a test process that dies without running its finalizers. `make_tls()` writes a CA,
a server certificate for 127.0.0.1 and a client certificate with the openssl CLI.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ETCD = os.environ.get("PACER_TEST_ETCD", "/usr/bin/etcd")
HEARTBEAT_MS = 50
ELECTION_MS = 500

_live: set[subprocess.Popen] = set()


def etcd_available() -> bool:
    return os.access(ETCD, os.X_OK)


def require_etcd() -> None:
    if not etcd_available():
        pytest.skip(f"etcd tests skipped: no etcd binary at {ETCD} "
                    "(apt-get install etcd-server, or set PACER_TEST_ETCD)")


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        _kill_group(proc)


# SIGKILL a member when the test process dies. Not with a preexec_fn: Python code
# in a child forked while gRPC threads run can crash before exec.
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []


def free_ports(n: int) -> list[int]:
    """n distinct free ports on 127.0.0.1 (held together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _cert(d: Path, name: str, subject: str, ca: str, ext: str) -> None:
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
             cwd=d)


def make_ca(d: Path, name: str = "ca") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN=pacer test {name}", cwd=d)
    return d / f"{name}.crt"


def make_client_cert(d: Path, ca: str, name: str) -> tuple[Path, Path]:
    _cert(d, name, f"/CN={name}", ca, "extendedKeyUsage=clientAuth\n")
    return d / f"{name}.crt", d / f"{name}.key"


def make_tls(d: Path) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    ca = make_ca(d)
    _cert(d, "server", "/CN=127.0.0.1", "ca",
          "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    client_cert, client_key = make_client_cert(d, "ca", "client")
    return TlsFiles(ca, d / "server.crt", d / "server.key", client_cert, client_key)


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log: Path
    scheme: str
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class EtcdCluster:
    def __init__(self, base_dir: Path, size: int = 3, tls: TlsFiles | None = None,
                 start_timeout: float = 30.0) -> None:
        self.base_dir = Path(base_dir)
        self.size = size
        self.tls = tls
        self.start_timeout = start_timeout
        self.members: list[Member] = []
        self._token = f"pacer-test-{os.getpid()}-{time.monotonic_ns()}"

    # ------------------------------------------------------------- lifecycle

    def start(self) -> EtcdCluster:
        require_etcd()
        last: Exception | None = None
        for _attempt in range(3):  # a port taken between choosing and binding: choose again
            try:
                self._start_all()
                return self
            except RuntimeError as exc:
                last = exc
                self.close()
        raise RuntimeError(f"etcd cluster did not start: {last}")

    def _start_all(self) -> None:
        ports = free_ports(2 * self.size)
        scheme = "https" if self.tls else "http"
        self.members = []
        for i in range(self.size):
            d = self.base_dir / f"etcd{i}"
            d.mkdir(parents=True, exist_ok=True)
            data = d / "data"
            shutil.rmtree(data, ignore_errors=True)
            self.members.append(Member(f"m{i}", ports[2 * i], ports[2 * i + 1], data,
                                       d / "etcd.log", scheme))
        for i in range(self.size):
            self._launch(i, new=True)
        self.wait_healthy()

    def _launch(self, i: int, new: bool) -> None:
        m = self.members[i]
        initial = ",".join(f"{x.name}={x.peer_url}" for x in self.members)
        cmd = [
            ETCD, "--name", m.name, "--data-dir", str(m.data_dir),
            "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
            "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
            "--initial-cluster", initial, "--initial-cluster-token", self._token,
            "--initial-cluster-state", "new" if new else "existing",
            "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS),
            "--logger", "zap", "--log-outputs", "stderr",
        ]
        if self.tls:
            cmd += ["--cert-file", str(self.tls.server_cert), "--key-file",
                    str(self.tls.server_key), "--trusted-ca-file", str(self.tls.ca),
                    "--client-cert-auth"]
        with open(m.log, "ab") as log:
            m.proc = subprocess.Popen([*_DIE_WITH_PARENT, *cmd], stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log, start_new_session=True)
        _live.add(m.proc)

    def close(self) -> None:
        """Kill every member and remove the data dirs (the logs stay for post-mortems)."""
        for i in range(len(self.members)):
            self.kill(i)
        for m in self.members:
            shutil.rmtree(m.data_dir, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- faults

    def kill(self, i: int) -> None:
        """SIGKILL member i and everything in its process group."""
        m = self.members[i]
        if m.proc is None:
            return
        _kill_group(m.proc, signal.SIGKILL)
        m.proc.wait(timeout=10)
        _live.discard(m.proc)
        m.proc = None

    def stop(self, i: int, timeout: float = 10.0) -> None:
        """SIGTERM member i (a clean shutdown), SIGKILL if it lingers."""
        m = self.members[i]
        if m.proc is None:
            return
        _kill_group(m.proc, signal.SIGTERM)
        try:
            m.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill(i)

    def start_member(self, i: int, wait: bool = True) -> None:
        """Start a stopped or killed member again with its data."""
        if self.members[i].running:
            return
        self._launch(i, new=False)
        if wait:
            self.wait_healthy([i])

    # ------------------------------------------------------------- observation

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def running_members(self) -> list[int]:
        return [i for i, m in enumerate(self.members) if m.running]

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.tls.ca))
        ctx.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return ctx

    def healthy(self, i: int) -> bool:
        """Member i answers /health with a leader and a quorum read."""
        m = self.members[i]
        if not m.running:
            return False
        try:
            with urllib.request.urlopen(f"{m.client_url}/health", timeout=2,
                                        context=self._ssl_context()) as resp:
                return json.load(resp).get("health") in (True, "true")
        except (OSError, ValueError):
            return False

    def status(self, i: int) -> dict:
        """Member i's /v3/maintenance/status (JSON gateway): member_id, leader, raft term."""
        m = self.members[i]
        req = urllib.request.Request(f"{m.client_url}/v3/maintenance/status", data=b"{}",
                                     method="POST")
        with urllib.request.urlopen(req, timeout=2, context=self._ssl_context()) as resp:
            return json.load(resp)

    def leader(self) -> int | None:
        """The index of the member that is the raft leader now, if any answers."""
        for i in self.running_members():
            try:
                st = self.status(i)
            except (OSError, ValueError):
                continue
            leader = st.get("leader")
            for j in self.running_members():
                try:
                    if self.status(j)["header"]["member_id"] == leader:
                        return j
                except (OSError, ValueError, KeyError):
                    continue
        return None

    def wait_healthy(self, members: list[int] | None = None, timeout: float | None = None
                     ) -> None:
        todo = list(range(len(self.members))) if members is None else members
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while True:
            for i in todo:
                if not self.members[i].running:
                    raise RuntimeError(f"etcd member {self.members[i].name} exited; "
                                       f"last log lines:\n{self.log_tail(i)}")
            if all(self.healthy(i) for i in todo):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd members {todo} not healthy after "
                                   f"{timeout or self.start_timeout:g}s; member "
                                   f"{todo[0]} log:\n{self.log_tail(todo[0])}")
            time.sleep(0.05)

    def log_tail(self, i: int, lines: int = 15) -> str:
        try:
            return "\n".join(self.members[i].log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------- pytest fixture

_shared: EtcdCluster | None = None


@pytest.fixture(scope="session", name="etcd3")
def etcd3_fixture(tmp_path_factory: pytest.TempPathFactory):
    """One 3-member cluster shared by every test that does not break it.

    Tests keep to their own key prefix and must leave all members running.
    Imported into several test modules, it is still started once per session.
    """
    global _shared
    if _shared is None or len(_shared.running_members()) != _shared.size:
        if _shared is not None:
            _shared.close()
        _shared = EtcdCluster(tmp_path_factory.mktemp("etcd3")).start()
    yield _shared
    if _shared is not None:
        _shared.close()
        _shared = None
