"""The lab's hosts: where their files are, how they boot, how power is cut.

A host `nX` is a network namespace (`pacer.lab.net`) plus the processes the
lab starts in it: one etcd member and one `pacer agent`. Its files live in
`<lab dir>/nX/`:

    etcd/            etcd's data directory (survives a power cut, like a disk)
    state/           the pacer agent's state directory (the agent empties it at boot)
    etcd.log         etcd's output
    pacer.log        the pacer agent's output
    etcd.pid         pids of what the lab started (also found by namespace)
    pacer.pid
    watchdog.json    the agent's file watchdog, read by the lab's watchdog

`<lab dir>/lab.json` says what is up (`LabInfo`); `<lab dir>/bin/` holds the
fence agent `fence_pacer_lab`; `fence.log` and `watchdog.log` record every
power cut.

Power is modelled as a power switch would work it: `power_off` cuts the cable
first, then SIGKILLs every process in the namespace and forgets the
addresses a running host had added (the VIP), and stops the watchdog's
countdown; `power_on` puts the cable back and boots the host (etcd, then the
pacer agent). The same functions serve `pacer lab`, the fence agent (which
runs inside another host's namespace) and the lab's watchdog (in the root
namespace).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pacer.lab import net

DEFAULT_DIR = "/run/pacer-lab"
ETCD = os.environ.get("PACER_LAB_ETCD", "/usr/bin/etcd")
CLUSTER = "lab"
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
HEARTBEAT_PORT = 7405
ETCD_HEARTBEAT_MS = 50
# When the lost host held etcd's leader, the store is without one until the
# survivors elect another: 1-2x this after the last heartbeat. At 500 ms that
# election was most of a controller-host loss (bench host-lost-ctl: new leader
# 0.74 s after the fault, VIP back at 1.36 s). The members share one bridge
# and keep their data in /run: a few milliseconds of round trip, no slow disk.
ETCD_ELECTION_MS = 300


def lab_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The lab's directory: `path`, else $PACER_LAB_DIR, else /run/pacer-lab."""
    return Path(path or os.environ.get("PACER_LAB_DIR") or DEFAULT_DIR)


def client_url(host: str) -> str:
    return f"http://{net.host_ip(host)}:{ETCD_CLIENT_PORT}"


def peer_url(host: str) -> str:
    return f"http://{net.host_ip(host)}:{ETCD_PEER_PORT}"


@dataclass
class LabInfo:
    """`lab.json`: what `pacer lab up` made, read by every other lab command."""

    dir: str
    nodes: int
    hosts: list[str]
    cluster: str = CLUSTER
    python: str = sys.executable
    lease_ttl: int = 5
    heartbeat: bool = False
    etcd_heartbeat_ms: int = ETCD_HEARTBEAT_MS
    etcd_election_ms: int = ETCD_ELECTION_MS
    config: str = ""            # the definition file pushed
    vip: str = net.VIP
    started: float = 0.0
    state: str = "starting"     # starting, up
    watchdog_pid: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def endpoints(self) -> list[str]:
        return [client_url(h) for h in self.hosts]

    def endpoints_for(self, host: str) -> list[str]:
        """The host's own etcd member first, then the others."""
        return [client_url(host)] + [client_url(h) for h in self.hosts if h != host]

    def save(self) -> None:
        path = Path(self.dir) / "lab.json"
        tmp = path.with_name("lab.json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, directory: Path) -> LabInfo | None:
        try:
            data = json.loads((directory / "lab.json").read_text())
        except (OSError, ValueError):
            return None
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


# ------------------------------------------------------------------ files

def host_dir(d: Path, host: str) -> Path:
    return d / net.host_of(host)


def pid_file(d: Path, host: str, what: str) -> Path:
    return host_dir(d, host) / f"{what}.pid"


def watchdog_file(d: Path, host: str) -> Path:
    return host_dir(d, host) / "watchdog.json"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def log_line(path: Path, text: str) -> None:
    """Append one timestamped line (epoch seconds and local time) to a lab log."""
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    with contextlib.suppress(OSError), open(path, "a") as f:
        f.write(f"{now:.3f} {stamp} {text}\n")


# ------------------------------------------------------------------ booting

def etcd_argv(info: LabInfo, host: str) -> list[str]:
    ip = net.host_ip(host)
    initial = ",".join(f"{h}={peer_url(h)}" for h in info.hosts)
    return [ETCD, "--name", host, "--data-dir", str(host_dir(Path(info.dir), host) / "etcd"),
            "--listen-peer-urls", peer_url(host),
            "--initial-advertise-peer-urls", peer_url(host),
            "--listen-client-urls", f"http://{ip}:{ETCD_CLIENT_PORT},"
                                    f"http://127.0.0.1:{ETCD_CLIENT_PORT}",
            "--advertise-client-urls", client_url(host),
            "--initial-cluster", initial, "--initial-cluster-token", f"pacer-{info.cluster}",
            "--initial-cluster-state", "new",
            "--heartbeat-interval", str(info.etcd_heartbeat_ms),
            "--election-timeout", str(info.etcd_election_ms),
            # A member coming back after a power cut must not depose the leader
            # with a higher term (without pre-vote, etcd 3.4's does: ~1 s without
            # a leader, every lease keepalive late).
            "--pre-vote",
            "--logger", "zap", "--log-outputs", "stderr"]


def agent_argv(info: LabInfo, host: str) -> list[str]:
    d = Path(info.dir)
    # Under the host's init (pacer/lab/hostinit.py): orphans reaped at once.
    argv = [info.python, "-m", "pacer.lab.hostinit", "--",
            info.python, "-m", "pacer", "agent", "--node", host, "--cluster", info.cluster,
            "--state-dir", str(host_dir(d, host) / "state"),
            "--endpoints", ",".join(info.endpoints_for(host)),
            "--lease-ttl", str(info.lease_ttl),
            "--watchdog-file", str(watchdog_file(d, host)),
            "--fence-dir", str(d / "bin"), "--log-level", "info"]
    if info.heartbeat:
        argv += ["--heartbeat", f"{net.host_ip(host)}:{HEARTBEAT_PORT}"]
    return argv


def agent_has_heartbeat(python: str = sys.executable) -> bool:
    """Whether this pacer's `agent` takes --heartbeat (fast peer failure detection)."""
    try:
        out = subprocess.run([python, "-m", "pacer", "agent", "--help"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--heartbeat" in out


def _spawn(host: str, argv: list[str], log: Path, pidfile: Path,
           env: dict[str, str] | None = None) -> int:
    with open(log, "ab") as out:
        proc = net.exec_in(host, argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                           start_new_session=True, env={**os.environ, **(env or {})},
                           cwd=str(log.parent))
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def start(info: LabInfo, host: str, what: str) -> int:
    """Start the host's `etcd` or `pacer` agent unless it runs; returns its pid."""
    d = host_dir(Path(info.dir), host)
    d.mkdir(parents=True, exist_ok=True)
    pidfile = pid_file(Path(info.dir), host, what)
    pid = read_pid(pidfile)
    if pid is not None and pid_alive(pid):
        return pid
    if what == "etcd":
        return _spawn(host, etcd_argv(info, host), d / "etcd.log", pidfile)
    env = {"PYTHONUNBUFFERED": "1", "PACER_LAB_DIR": info.dir}
    return _spawn(host, agent_argv(info, host), d / "pacer.log", pidfile, env)


# ------------------------------------------------------------------ power

def power_state(host: str) -> str:
    """"on" when anything can run in the host or its cable is in, else "off"
    (a process a power cut killed that is still exiting is no sign of power)."""
    if any(p.can_run for p in net.ns_processes(host)) or net.link_is_up(host):
        return "on"
    return "off"


def power_off(d: Path, host: str, why: str, log: Path | None = None) -> list[int]:
    """Cut the host's power: cable out, every process SIGKILLed, the addresses
    a running host added forgotten, the watchdog's countdown stopped."""
    cut = net.kill_host(host)
    clear_stale_rehash_lock()
    wd = watchdog_file(d, host)
    if wd.exists():
        tmp = wd.with_name(wd.name + ".off")
        tmp.write_text(json.dumps({"state": "off", "timeout": 0, "fed": time.time(),
                                   "feeds": 0}))
        tmp.replace(wd)
    for what in ("etcd", "pacer"):
        pid_file(d, host, what).unlink(missing_ok=True)
    if log is not None:
        exiting = (f" ({len(cut.exiting)} still exiting, none can run: "
                   + ", ".join(map(str, cut.exiting)) + ")") if cut.exiting else ""
        log_line(log, f"power off {host} ({why}): {len(cut.killed)} processes killed{exiting}, "
                      "link down")
    return cut.killed


# root's login shell on machines with pyenv runs `pyenv rehash`, which holds this
# lock; ocf:heartbeat:anything starts the lab's web service through `su - root`.
PYENV_REHASH_LOCK = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "shims" / ".pyenv-shim"


def clear_stale_rehash_lock() -> bool:
    """Remove pyenv's rehash lock when no rehash runs: a host killed while a
    web start's login shell rehashed leaves it, and every login shell after
    waits 60 s for it, so every web start times out (seen after 120 bench
    trials). True if it was removed."""
    if not PYENV_REHASH_LOCK.exists():
        return False
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if b"pyenv-rehash" in cmdline.read_bytes():
                return False
    with contextlib.suppress(OSError):
        PYENV_REHASH_LOCK.unlink()
        return True
    return False


# How long booting a host waits for what its power cut left exiting.
BOOT_WAIT_S = 10.0


def power_on(d: Path, host: str, why: str, log: Path | None = None) -> dict[str, int]:
    """Put the cable back and boot the host: etcd, then the pacer agent (only
    what is not running: after `kill-daemon` this restarts the agent alone)."""
    info = LabInfo.load(d)
    if info is None:
        raise net.NetError(f"no lab in {d} (no lab.json): run `pacer lab up`")
    if net.host_of(host) not in info.hosts:
        raise net.NetError(f"{host} is not a host of this lab (hosts: {' '.join(info.hosts)})")
    if not any(p.can_run for p in net.ns_processes(host)):
        # A fresh boot. A machine boots once it is off: what the power cut left
        # exiting (an etcd still closing its files and ports) must be gone first.
        left = net.wait_gone(host, BOOT_WAIT_S)
        if left:
            raise net.NetError(f"{host} cannot boot: processes killed by its power cut are still "
                               f"exiting {BOOT_WAIT_S:g} s later: "
                               + ", ".join(map(str, left)))
        net.flush_extra_addresses(host)  # a fresh boot: nothing left of before
    net.link_up(host)
    fresh_etcd = "etcd" in missing(d, host)
    etcd_log = host_dir(d, host) / "etcd.log"
    offset = etcd_log.stat().st_size if etcd_log.exists() else 0  # before etcd writes
    started = {"etcd": start(info, host, "etcd")}
    if fresh_etcd:
        _await_etcd_serving(etcd_log, offset, started["etcd"])
    started["pacer"] = start(info, host, "pacer")
    if log is not None:
        log_line(log, f"power on {host} ({why}): etcd pid {started['etcd']}, "
                      f"pacer agent pid {started['pacer']}")
    return started


def _await_etcd_serving(log: Path, offset: int, pid: int | None,
                        timeout: float = 10.0) -> None:
    """Until the etcd just started says it serves clients (or `timeout`): an
    agent that starts first sticks to another host's member, and when that
    host dies its calls hang on it (as a systemd unit ordered After=etcd
    would, the agent starts once its own member answers)."""
    if pid is None:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end and pid_alive(pid):
        try:
            with open(log, "rb") as f:
                f.seek(offset)  # etcd appends: only what this start wrote
                if b"serving client traffic" in f.read():
                    return
        except OSError:
            pass
        time.sleep(0.05)


def missing(d: Path, host: str) -> list[str]:
    """What of the host is not running: "etcd", "pacer" (by their pid files)."""
    return [what for what in ("etcd", "pacer")
            if not pid_alive(read_pid(pid_file(d, host, what)))]


def kill_daemon(d: Path, host: str) -> int | None:
    """SIGKILL the host's pacer agent alone (what it started keeps running)."""
    pid = read_pid(pid_file(d, host, "pacer"))
    if not pid_alive(pid):
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
    return pid
