"""`Lab`: the lab as one Python object, for `pacer lab`, the demo, tests and bench.

    lab = Lab()                      # /run/pacer-lab (or $PACER_LAB_DIR), 3 hosts
    lab.up()                         # network, etcd, agents, definition; waits until ready
    lab.where("vip")                 # ["n2"]
    lab.vip_answer()                 # "n2": an HTTP GET of the VIP from the client
    lab.fault("kill-host", "n2")     # every process SIGKILLed, link down
    lab.journal()                    # `pacer history --json`, as dicts
    lab.power_on("n2")
    lab.down()

Reading the cluster (`status`, `journal`, `pacer(...)`) runs the `pacer`
command inside the client namespace, which reaches every host's etcd and is
never faulted. `up` cleans up everything it made when it fails or is
interrupted.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pacer.lab import fence_agent, hosts, net
from pacer.lab.definition import WEB_PORT, lab_definition
from pacer.lab.hosts import LabInfo

FAULTS = ("kill-host", "freeze-host", "thaw-host", "partition", "heal", "link-down",
          "link-up", "kill-daemon", "kill-resource")

CLONE_NEWNET = 0x40000000


class LabError(RuntimeError):
    """The lab cannot do what was asked: one clear message."""


# ------------------------------------------------------------------ sockets in a namespace

_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def in_netns(host: str) -> Iterator[None]:
    """Run the block's socket calls in the host's network namespace: this
    thread alone enters it (setns), and comes back at the end. A socket keeps
    the namespace it was created in."""
    with open(f"/run/netns/{net.ns_name(host)}") as target, \
            open("/proc/thread-self/ns/net") as back:
        if _libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {net.ns_name(host)}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(back.fileno(), CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back: {os.strerror(err)}")


def http_get(host: str, address: str, port: int = WEB_PORT, timeout: float = 1.0
             ) -> str | None:
    """GET http://address:port/ from inside `host`'s namespace: the body
    stripped, or None when nothing answered within `timeout`."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        with in_netns(host):
            conn.connect()
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        return body if resp.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def etcd_status(host: str, from_host: str = net.CLIENT, timeout: float = 1.0
                ) -> dict[str, Any] | None:
    """The host's etcd member's /v3/maintenance/status (JSON gateway): its
    header.member_id, leader, raftTerm...; None when it does not answer."""
    conn = http.client.HTTPConnection(net.host_ip(host), hosts.ETCD_CLIENT_PORT,
                                      timeout=timeout)
    try:
        with in_netns(from_host):
            conn.connect()
        conn.request("POST", "/v3/maintenance/status", body="{}",
                     headers={"Content-Type": "application/json"})
        data = json.loads(conn.getresponse().read().decode(errors="replace"))
        return data if isinstance(data, dict) else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


def etcd_healthy(host: str, from_host: str = net.CLIENT, timeout: float = 1.0) -> bool:
    """Whether the host's etcd member answers /health with true (it has a leader)."""
    conn = http.client.HTTPConnection(net.host_ip(host), hosts.ETCD_CLIENT_PORT,
                                      timeout=timeout)
    try:
        with in_netns(from_host):
            conn.connect()
        conn.request("GET", "/health")
        return '"true"' in conn.getresponse().read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


# ------------------------------------------------------------------ the lab

class Lab:
    def __init__(self, directory: str | os.PathLike[str] | None = None, nodes: int | None = None,
                 config: str | os.PathLike[str] | None = None, lease_ttl: int = 5,
                 say: Callable[[str], None] | None = None,
                 etcd_heartbeat_ms: int = hosts.ETCD_HEARTBEAT_MS,
                 etcd_election_ms: int = hosts.ETCD_ELECTION_MS) -> None:
        self.dir = hosts.lab_dir(directory)
        loaded = LabInfo.load(self.dir)
        self.nodes = nodes or (loaded.nodes if loaded else 3)
        self.config = Path(config) if config else None
        self.lease_ttl = lease_ttl
        if not 0 < etcd_heartbeat_ms * 5 <= etcd_election_ms:
            raise LabError(f"etcd timing: the election timeout ({etcd_election_ms} ms) must be "
                           f"at least 5 heartbeats ({etcd_heartbeat_ms} ms each), as etcd "
                           "itself requires")
        self.etcd_heartbeat_ms = etcd_heartbeat_ms
        self.etcd_election_ms = etcd_election_ms
        self.say = say or (lambda text: None)

    # -------------------------------------------------------------- what is up

    @property
    def info(self) -> LabInfo:
        info = LabInfo.load(self.dir)
        if info is None:
            raise LabError(f"no lab is up in {self.dir} (no lab.json): run `pacer lab up`")
        return info

    @property
    def hosts(self) -> list[str]:
        return self.info.hosts

    def is_up(self) -> bool:
        info = LabInfo.load(self.dir)
        return info is not None and all(ns in net.namespaces()
                                        for ns in map(net.ns_name, info.hosts))

    # -------------------------------------------------------------- up and down

    def up(self, timeout: float = 120.0) -> dict[str, Any]:
        """Make the lab (after removing a stale one) and wait until it is ready;
        returns the status. On any failure or Ctrl-C, everything made is removed."""
        check_can_run()
        if self.config is not None and not self.config.is_file():
            raise LabError(f"--config {self.config}: no such file")
        found = net.conflicts()
        if found:
            raise LabError("the lab's addresses or bridge are used by something else:\n  "
                           + "\n  ".join(found)
                           + f"\nthe lab needs {net.SUBNET} and the bridge name {net.BRIDGE} "
                             "for itself; remove those first")
        try:
            net.check_network_free(self.owner)
        except net.NetError as exc:
            raise LabError(str(exc)) from exc
        if self.config is None:
            check_login_shell()
        if net.namespaces() or net.lab_links() or LabInfo.load(self.dir) is not None:
            self.say("removing a stale lab first")
            self.down(force=True)
        try:
            return self._up(timeout)
        except BaseException:
            self.say("lab up failed: removing what it made (logs kept in "
                     f"{self.dir}/*/*.log until the next `pacer lab up`)")
            with contextlib.suppress(Exception):
                self.down(keep_state=True, force=True)
            raise

    def _up(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        python = LabInfo.__dataclass_fields__["python"].default
        heartbeat = hosts.agent_has_heartbeat(python)  # type: ignore[arg-type]
        info = LabInfo(dir=str(self.dir), nodes=self.nodes, hosts=net.host_names(self.nodes),
                       lease_ttl=self.lease_ttl, heartbeat=heartbeat, started=time.time(),
                       etcd_heartbeat_ms=self.etcd_heartbeat_ms,
                       etcd_election_ms=self.etcd_election_ms)
        config = self.dir / "cluster.yaml"
        if self.config is not None:
            shutil.copyfile(self.config, config)
        else:
            config.write_text(lab_definition(self.nodes, info.python))
        info.config = str(config)
        info.save()
        self.say(f"network: bridge {net.BRIDGE}, hosts {' '.join(info.hosts)} "
                 f"({net.host_ip('n1')}..), client {net.CLIENT_IP}")
        net.up_network(self.nodes, self.owner)
        fence_agent.install(self.dir, info.python)
        info.watchdog_pid = self._start_watchdog(info)
        info.save()
        # The watchdog lives as long as the lab: it holds the network from now on.
        net.claim_network(self.owner, info.watchdog_pid)
        self.say(f"watchdog: pid {info.watchdog_pid} in the root namespace "
                 f"(log {self.dir / 'watchdog.log'})")
        for h in info.hosts:
            hosts.start(info, h, "etcd")
        self.say(f"etcd: one member per host, starting ({', '.join(info.endpoints)})")
        try:
            self._wait(lambda: all(etcd_healthy(h) for h in info.hosts), deadline,
                       "every etcd member to answer /health")
        except LabError as exc:
            sick = [h for h in info.hosts if not etcd_healthy(h)]
            tails = "\n".join(f"--- {h}/etcd.log\n" + _tail(hosts.host_dir(self.dir, h) / "etcd.log")
                              for h in sick)
            raise LabError(f"{exc}\nno healthy answer from: {' '.join(sick)} (namespaces now: "
                           f"{' '.join(net.namespaces()) or 'none'})\n{tails}") from None
        self.say(f"etcd: {len(info.hosts)}/{len(info.hosts)} members healthy")
        out = self.pacer("config", "push", str(config))
        self.say(f"definition pushed: {config}" + (f" ({out.strip()})" if out.strip() else ""))
        for h in info.hosts:
            hosts.start(info, h, "pacer")
        self.say(f"pacer agent: one per host, starting{' (with --heartbeat)' if heartbeat else ''}"
                 f" (logs {self.dir}/nX/pacer.log)")
        status = self.wait_ready(max(1.0, deadline - time.monotonic()))
        info.state = "up"
        info.save()
        return status

    def _start_watchdog(self, info: LabInfo) -> int:
        with open(self.dir / "watchdog.out", "ab") as out:
            proc = subprocess.Popen([info.python, "-m", "pacer.lab.watchdog", str(self.dir)],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True)
        (self.dir / "watchdog.pid").write_text(f"{proc.pid}\n")
        return proc.pid

    @property
    def owner(self) -> str:
        """How this lab names itself as the network's owner."""
        return f"pacer lab in {self.dir}"

    def down(self, keep_state: bool = False, force: bool = False) -> list[str]:
        """Kill everything the lab started (by pid, then by namespace), remove
        the namespaces, links and bridge, and the lab directory unless
        `keep_state`. Also removes what a killed earlier run left. Refuses
        when another live program (another lab directory, the keepalived
        anchor) has the network, unless `force`. Returns what it did, in words."""
        check_can_run()
        if not force:
            try:
                net.check_network_free(self.owner)
            except net.NetError as exc:
                raise LabError(str(exc)) from exc
        done = []
        pid = hosts.read_pid(self.dir / "watchdog.pid")
        if hosts.pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
            done.append(f"watchdog (pid {pid}) killed")
        killed = 0
        for piddir in sorted(self.dir.glob("*/")) if self.dir.is_dir() else []:
            for what in ("etcd", "pacer"):
                p = hosts.read_pid(piddir / f"{what}.pid")
                if hosts.pid_alive(p):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)  # type: ignore[arg-type]
                        killed += 1
        for ns in net.namespaces():
            killed += len(net.ns_pids(ns))
        if killed:
            done.append(f"{killed} processes killed")
        namespaces, links = net.namespaces(), net.lab_links()
        net.down_network(force=True)
        # (a web start's login shell killed while it rehashed leaves pyenv's
        # lock, and the next login shell of anyone on this machine waits 60 s
        # for it: the Pacemaker anchor's web start after the pacer rows did)
        if hosts.clear_stale_rehash_lock():
            done.append("pyenv's stale rehash lock removed")
        if namespaces:
            done.append(f"namespaces removed: {' '.join(namespaces)}")
        if links:
            done.append(f"links removed: {' '.join(links)}")
        if self.dir.exists():
            if keep_state:
                info = LabInfo.load(self.dir)
                if info is not None:
                    info.state = "down"
                    info.save()
                    # lab.json stays for `pacer lab logs`; the watchdog is gone anyway
                done.append(f"state kept in {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
                done.append(f"{self.dir} removed")
        return done

    # -------------------------------------------------------------- waiting

    def _wait(self, cond: Callable[[], object], deadline: float, what: str,
              every: float = 0.2) -> object:
        while True:
            value = cond()
            if value:
                return value
            if time.monotonic() > deadline:
                raise LabError(f"timed out waiting for {what}; see the logs: pacer lab logs")
            time.sleep(every)

    def wait_ready(self, timeout: float = 120.0, hosts_expected: Sequence[str] | None = None
                   ) -> dict[str, Any]:
        """Wait until every expected host (default: those powered on) is online,
        nothing is planned or in flight, every resource runs and the VIP
        answers from the client; says each change of progress. Returns the status."""
        deadline = time.monotonic() + timeout
        last: dict[str, str] = {}

        def progress(key: str, text: str) -> None:
            if last.get(key) != text:
                last[key] = text
                self.say(text)

        while True:
            expected = list(hosts_expected or [h for h in self.hosts
                                               if hosts.power_state(h) == "on"])
            try:
                st = self.status()
            except LabError as exc:
                progress("error", f"status: {str(exc).splitlines()[0]}")
                st = None
            if st is not None:
                online = [n["name"] for n in st["nodes"] if n["state"] == "online"]
                progress("nodes", f"pacer: nodes online {len(online)}/{len(st['nodes'])}"
                         + (f": {' '.join(online)}" if online else "")
                         + (f"; controller {st['controller']}" if st.get("controller") else ""))
                progress("rscs", "resources: " + resources_line(st))
                if st.get("failures"):
                    progress("failures", "failed: " + "; ".join(
                        f"{f['rsc']} {f['operation']} on {f['node']} ({f['rc_text']}, "
                        f"{f['op_status']})" for f in st["failures"]))
                answer = http_get(net.CLIENT, self.info.vip) if st["planned"] == [] else None
                if answer:
                    progress("vip", f"VIP {self.info.vip} answers from the client: {answer}")
                if (all(h in online for h in expected) and not st["planned"]
                        and not st["in_flight"] and all_active(st) and answer):
                    return st
            if time.monotonic() > deadline:
                raise LabError(f"the lab was not ready within {timeout:.0f} s (last: "
                               + "; ".join(last.values())
                               + f"); see `pacer lab logs` and {self.dir}")
            time.sleep(0.3)

    # -------------------------------------------------------------- reading the cluster

    def pacer(self, *args: str, timeout: float = 30.0, check: bool = True) -> str:
        """Run `pacer ARGS` against the lab's etcd, from the client namespace."""
        info = self.info
        argv = ["ip", "netns", "exec", net.ns_name(net.CLIENT), info.python, "-m", "pacer",
                *args, "--endpoints", ",".join(info.endpoints), "--cluster", info.cluster]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"pacer {' '.join(args)}: no answer within {timeout:g} s") from exc
        if check and proc.returncode != 0:
            raise LabError(f"pacer {' '.join(args)} failed: "
                           f"{(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def status(self) -> dict[str, Any]:
        """`pacer status --json` of the lab's cluster."""
        return json.loads(self.pacer("status", "--json"))

    def journal(self) -> list[dict[str, Any]]:
        """`pacer history --json`: the controller's journal, fencing and failures."""
        out = self.pacer("history", "--json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def where(self, rsc: str, status: dict[str, Any] | None = None) -> list[str]:
        """The nodes the status says `rsc` (a resource, clone or instance) is active on."""
        st = status or self.status()
        for r in _walk(st["resources"]):
            if r["id"] == rsc:
                return sorted({p["node"] for v in _walk([r]) for p in v["active"]})
        raise LabError(f"no resource {rsc!r} in the lab's cluster")

    def vip_answer(self, timeout: float = 1.0) -> str | None:
        """Which host answers HTTP on the VIP, seen from the client (None: nobody)."""
        return http_get(net.CLIENT, self.info.vip, timeout=timeout)

    def etcd_leader(self) -> str | None:
        """The host whose etcd member leads now, as the members that answer say."""
        ids: dict[str, str] = {}
        leaders: set[str] = set()
        for h in self.hosts:
            st = etcd_status(h)
            if st is None:
                continue
            ids[str(st.get("header", {}).get("member_id"))] = h
            if st.get("leader"):
                leaders.add(str(st["leader"]))
        found = [ids[m] for m in leaders if m in ids]
        return found[0] if len(found) == 1 else None

    def vip_holders(self) -> list[str]:
        return net.vip_holders(self.info.vip)

    # -------------------------------------------------------------- faults and power

    def fault(self, kind: str, *args: str) -> dict[str, Any]:
        """Inject a fault (see FAULTS); returns what was done, with its epoch time."""
        info = self.info
        t = time.time()
        record: dict[str, Any] = {"fault": kind, "args": list(args), "time": t}
        host = args[0] if args else None

        def need(n: int, usage: str) -> None:
            if len(args) != n:
                raise LabError(f"fault {kind}: usage: {kind} {usage}")

        def node(h: str) -> str:
            h = net.host_of(h)
            if h not in info.hosts:
                raise LabError(f"{h} is not a host of this lab (hosts: {' '.join(info.hosts)})")
            return h

        try:
            if kind == "kill-host":
                need(1, "HOST")
                record["killed"] = hosts.power_off(self.dir, node(host), "fault kill-host",
                                                   self.dir / "fence.log")
            elif kind == "freeze-host":
                need(1, "HOST")
                record["stopped"] = net.freeze_host(node(host))
            elif kind == "thaw-host":
                need(1, "HOST")
                record["continued"] = net.thaw_host(node(host))
            elif kind == "link-down":
                need(1, "HOST")
                net.link_down(node(host))
            elif kind == "link-up":
                need(1, "HOST")
                net.link_up(node(host))
            elif kind == "partition":
                groups = parse_groups(args)
                for g in groups:
                    for h in g:
                        node(h)
                record["groups"] = groups
                record["cut"] = len(net.partition(groups))
            elif kind == "heal":
                need(0, "")
                record["removed"] = net.heal()
            elif kind == "kill-daemon":
                need(1, "HOST")
                pid = hosts.kill_daemon(self.dir, node(host))
                if pid is None:
                    raise LabError(f"the pacer agent of {host} is not running")
                record["pid"] = pid
            elif kind == "kill-resource":
                need(2, "HOST RSC")
                record["pids"] = kill_resource(self.dir, node(host), args[1])
            else:
                raise LabError(f"unknown fault {kind!r} (one of {', '.join(FAULTS)})")
        except net.NetError as exc:
            raise LabError(str(exc)) from exc
        hosts.log_line(self.dir / "faults.log", f"{kind} {' '.join(args)}".strip())
        return record

    def power_on(self, host: str) -> dict[str, int]:
        """Boot a host that was powered off (or start what of it is not running)."""
        try:
            return hosts.power_on(self.dir, net.host_of(host), "pacer lab power-on",
                                  self.dir / "fence.log")
        except net.NetError as exc:
            raise LabError(str(exc)) from exc

    def restore(self, timeout: float = 120.0) -> dict[str, Any]:
        """Undo every fault and wait until the lab is ready again: thaw every
        host, heal the network, put every cable back, boot what is off (or start
        what of a host is not running), again while the cluster settles (a
        host may be fenced or reset meanwhile). Returns the status."""
        deadline = time.monotonic() + timeout
        for h in self.hosts:
            net.thaw_host(h)
        net.heal()
        while True:
            for h in self.hosts:
                if hosts.missing(self.dir, h):
                    self.power_on(h)
                elif not net.link_is_up(h):
                    net.link_up(h)
            left = deadline - time.monotonic()
            try:
                return self.wait_ready(min(20.0, max(1.0, left)), hosts_expected=self.hosts)
            except LabError:
                if time.monotonic() >= deadline:
                    raise

    def logs(self, host: str | None = None) -> list[Path]:
        """The log files of a host (or of the lab: fence, watchdog, faults)."""
        if host is None:
            names = ["fence.log", "watchdog.log", "faults.log"]
            return [self.dir / n for n in names if (self.dir / n).exists()]
        d = hosts.host_dir(self.dir, host)
        return [d / n for n in ("etcd.log", "pacer.log") if (d / n).exists()]


# ------------------------------------------------------------------ helpers

def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({exc})"


def check_login_shell(timeout: float = 10.0) -> None:
    """ocf:heartbeat:anything (the lab's web service) starts its command with
    `su - root`, a login shell: one that blocks makes every start time out."""
    hosts.clear_stale_rehash_lock()
    try:
        subprocess.run(["su", "-", "root", "-c", "true"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        lock = hosts.PYENV_REHASH_LOCK
        hint = (f" ({lock} exists: a stale pyenv rehash lock left by a killed login shell; "
                "removing it fixes this)" if lock.exists() else "")
        raise LabError(f"`su - root -c true` does not finish within {timeout:g} s: the lab's "
                       "web service (ocf:heartbeat:anything) starts through root's login "
                       "shell, so every start would time out; check what root's ~/.profile "
                       f"and ~/.bashrc run{hint}") from None
    except OSError:
        pass  # no su: anything fails with its own clear error


def check_can_run() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, a bridge, veth pairs): "
                       "run it with sudo or as root")
    if shutil.which("ip") is None:
        raise LabError("`ip` is not installed (apt-get install iproute2)")
    if not os.access(hosts.ETCD, os.X_OK):
        raise LabError(f"no etcd at {hosts.ETCD} (apt-get install etcd-server, "
                       "or set PACER_LAB_ETCD)")


def parse_groups(args: Sequence[str]) -> list[list[str]]:
    """`n1 / n2 n3` → [["n1"], ["n2", "n3"]] (also `n1/n2,n3`)."""
    text = " ".join(args).replace(",", " ")
    groups = [g.split() for g in text.split("/")]
    if len(groups) < 2 or any(not g for g in groups):
        raise LabError("partition: give two or more groups of hosts separated by '/', "
                       "e.g. `partition n1 / n2 n3`")
    return groups


def kill_resource(d: Path, host: str, rsc: str) -> list[int]:
    """SIGKILL the process(es) of resource `rsc` on `host`: found through the
    pid files agents keep in the node's state directory (HA_VARRUN, HA_RSCTMP)."""
    state = hosts.host_dir(d, host) / "state"
    pids = []
    for sub in ("run", "rsctmp"):
        base = state / sub
        if not base.is_dir():
            continue
        for f in base.rglob("*.pid"):
            name = f.name[:-4]
            if name == rsc or name.endswith(f"_{rsc}") or name.startswith(f"{rsc}") \
                    or f"_{rsc}:" in name or name.endswith(f"-{rsc}"):
                pid = hosts.read_pid(f)
                if hosts.pid_alive(pid) and pid in net.ns_pids(host):
                    pids.append(pid)
    if not pids:
        raise LabError(f"no running process of {rsc} on {host} (looked for pid files of "
                       f"{rsc} under {state}/run and {state}/rsctmp)")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def _walk(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in resources:
        yield r
        yield from _walk(r.get("children") or [])


def all_active(status: dict[str, Any]) -> bool:
    """Every configured primitive (or instance) that is not disabled is active."""
    online = [n for n in status["nodes"] if n["state"] == "online"]
    for r in status["resources"]:
        if r.get("target_role") == "Stopped":
            continue
        active = {p["node"] for v in _walk([r]) for p in v["active"]}
        if not active:
            return False
        if r["kind"] == "clone" and len(active) < len(online):
            # every clone instance that can run: at most clone-max, which we
            # cannot see here, so "fewer than the online nodes" only while
            # something is planned (checked by the caller)
            continue
    return True


def resources_line(status: dict[str, Any]) -> str:
    parts = []
    for r in status["resources"]:
        nodes = sorted({p["node"] for v in _walk([r]) for p in v["active"]})
        parts.append(f"{r['id']}: {' '.join(nodes) if nodes else '(stopped)'}")
    return "; ".join(parts) or "(none configured)"
