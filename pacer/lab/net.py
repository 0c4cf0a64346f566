"""The lab's network: hosts in network namespaces on one bridge, and its faults.

Layout (fixed; the failover bench and the tests rely on it):

```
 root namespace:  bridge pacerbr0 (no address)
                    ├── pl-n1 ══ eth0 in netns pacer-n1   10.250.0.11/24   host n1
                    ├── pl-n2 ══ eth0 in netns pacer-n2   10.250.0.12/24   host n2
                    ├── pl-nX ══ eth0 in netns pacer-nX   10.250.0.(10+X)  host nX
                    └── pl-c  ══ eth0 in netns pacer-c    10.250.0.50/24   the client
 the VIP:          10.250.0.100/24 on eth0 of whichever host holds it
```

`lo` is up in every namespace. The root namespace has no address in
10.250.0.0/24, so nothing outside the namespaces can reach the lab and the lab
reaches nothing outside: traffic stays on the bridge and on loopback.

A *host* is named `n1`..`nN` or `c` (the client); every function here also
takes the namespace name (`pacer-n1`). Faults:

- `kill_host`: the power cut — link down, then SIGKILL every process in the
  namespace (again until none can run: one SIGKILL reached that is still
  exiting cannot, see `can_run`), then the addresses a running host adds
  (the VIP) are flushed: a machine without power answers for nothing.
- `freeze_host` / `thaw_host`: SIGSTOP / SIGCONT every process in it (the
  kernel keeps answering ARP and TCP handshakes, as a hung host's does).
- `link_down` / `link_up`: the cable (the root side of the veth pair, so the
  host sees a carrier loss and keeps its addresses and routes).
- `partition(groups)` / `heal`: blackhole routes in each host toward the
  addresses of the hosts in the other groups (no nftables needed).

Every function is a few `ip` calls, so it works from any namespace (a fence
agent runs inside another host's namespace: `ip -n`/`ip netns` work there too,
the mount namespace is shared; root-namespace links are reached by entering
the network namespace of kthreadd, pid 2, which always lives in the root one).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "pacer-"
LINK_PREFIX = "pl-"
BRIDGE = "pacerbr0"
SUBNET = ipaddress.IPv4Network("10.250.0.0/24")
PREFIXLEN = SUBNET.prefixlen
CLIENT = "c"
CLIENT_IP = "10.250.0.50"
VIP = "10.250.0.100"
DEV = "eth0"
# Who made the network now up: {"pid", "owner", "since"}; live while pid is.
OWNER_FILE = Path(os.environ.get("PACER_LAB_OWNER_FILE", "/run/pacer-lab.owner"))
_HOST_RE = re.compile(r"^(n[1-9][0-9]*|c)$")


class NetError(RuntimeError):
    """An `ip` command failed, or a name is not a lab host."""


# ------------------------------------------------------------------ names

def host_of(name: str) -> str:
    """`n1`, `pacer-n1` → `n1` (raises NetError for anything else)."""
    host = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if not _HOST_RE.match(host):
        raise NetError(f"not a lab host: {name!r} (hosts are n1, n2, ... and c, the client)")
    return host


def ns_name(host: str) -> str:
    """The host's network namespace: `n1` → `pacer-n1`."""
    return PREFIX + host_of(host)


def link_name(host: str) -> str:
    """The root-namespace side of the host's veth pair: `n1` → `pl-n1`."""
    return LINK_PREFIX + host_of(host)


def host_ip(host: str) -> str:
    """`nX` → 10.250.0.(10+X); `c` → 10.250.0.50."""
    host = host_of(host)
    if host == CLIENT:
        return CLIENT_IP
    index = int(host[1:])
    if not 1 <= index <= 39:
        raise NetError(f"host {host}: the lab has room for n1..n39")
    return str(SUBNET.network_address + 10 + index)


def host_names(nodes: int) -> list[str]:
    """The node hosts of a lab with `nodes` hosts: n1..nN (not the client)."""
    return [f"n{i}" for i in range(1, nodes + 1)]


# ------------------------------------------------------------------ running ip

def _root_prefix() -> list[str]:
    """What to prepend to run a command in the root network namespace from here."""
    try:
        here = os.readlink("/proc/self/ns/net")
    except OSError:
        return []
    for pid in (1, 2):
        try:
            root = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        return [] if root == here else ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]
    return []


def run(argv: Sequence[str], check: bool = True, timeout: float = 10.0
        ) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; NetError with its stderr when it fails."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise NetError(f"{argv[0]} is not installed (apt-get install iproute2)") from exc
    except subprocess.TimeoutExpired as exc:
        raise NetError(f"{' '.join(argv)}: no answer within {timeout} s") from exc
    if check and proc.returncode != 0:
        raise NetError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    """`ip ARGS` in namespace `ns` (a host or namespace name), else in the root one."""
    argv = ["ip", "-n", ns_name(ns), *args] if ns else [*_root_prefix(), "ip", *args]
    return run(argv, check=check).stdout


def namespaces() -> list[str]:
    """Every network namespace named as a lab host (`pacer-n<X>`, `pacer-c`),
    the lab's or a leftover. Other `pacer-*` namespaces (the agent tests'
    `pacer-t-*`) are not the lab's and are left alone."""
    out = run(["ip", "netns", "list"], check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX) and _HOST_RE.match(n[len(PREFIX):])]


def lab_links() -> list[str]:
    """Root-namespace links that are the lab's: `pl-*` and the bridge."""
    out = ip("-o", "link", "show", check=False)
    found = []
    for line in out.splitlines():
        m = re.match(r"^\d+:\s+([^:@\s]+)", line)
        if m and (m.group(1).startswith(LINK_PREFIX) or m.group(1) == BRIDGE):
            found.append(m.group(1))
    return found


# ------------------------------------------------------------------ the network

def conflicts() -> list[str]:
    """What, outside the lab, already uses the lab's subnet or bridge name:
    root-namespace addresses or routes in 10.250.0.0/24, a `pacerbr0` that is
    not a bridge without address, other namespaces with such addresses."""
    found = []
    for line in ip("-o", "-4", "addr", "show", check=False).splitlines():
        m = re.search(r"^\d+:\s+(\S+)\s+inet\s+(\S+)", line)
        if m and ipaddress.IPv4Interface(m.group(2)).network.overlaps(SUBNET):
            found.append(f"address {m.group(2)} on {m.group(1)} in the root namespace")
    for line in ip("-4", "route", "show", check=False).splitlines():
        dest = line.split()[0] if line.strip() else ""
        if dest and dest != "default":
            try:
                net = ipaddress.IPv4Network(dest, strict=False)
            except ValueError:
                continue
            if net.overlaps(SUBNET) and f"dev {BRIDGE}" not in line:
                found.append(f"route {line.strip()!r} in the root namespace")
    if BRIDGE in lab_links():
        details = ip("-d", "-o", "link", "show", BRIDGE, check=False)
        if " bridge " not in details:
            found.append(f"a link named {BRIDGE} that is not a bridge")
    out = run(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name or (name.startswith(PREFIX) and _HOST_RE.match(name[len(PREFIX):])):
            continue
        addrs = run(["ip", "-n", name, "-o", "-4", "addr", "show"], check=False).stdout
        for m in re.finditer(r"inet\s+(\S+)", addrs):
            if ipaddress.IPv4Interface(m.group(1)).network.overlaps(SUBNET):
                found.append(f"address {m.group(1)} in network namespace {name}")
    return found


def _pid_alive(pid: object) -> bool:
    try:
        with open(f"/proc/{int(pid)}/stat") as f:  # type: ignore[arg-type]
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, ValueError, TypeError, IndexError):
        return False


def network_owner() -> dict[str, Any] | None:
    """Who made the lab network that is up, while that process lives:
    {"pid", "owner", "since"}; None when nobody (or a dead process) does."""
    try:
        data = json.loads(OWNER_FILE.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not _pid_alive(data.get("pid")):
        return None
    return data if namespaces() else None


def claim_network(owner: str, pid: int | None = None) -> None:
    """Record who owns the network (a process that lives as long as it is in use)."""
    OWNER_FILE.write_text(json.dumps({"pid": pid or os.getpid(), "owner": owner,
                                      "since": time.time()}) + "\n")


def check_network_free(owner: str = "") -> None:
    """Raise NetError when another live user (not `owner`, not this process) has
    the lab network up: two users of the one lab network would wreck each other."""
    other = network_owner()
    if other and other.get("pid") != os.getpid() and (not owner or other.get("owner") != owner):
        since = time.strftime("%H:%M:%S", time.localtime(float(other.get("since") or 0)))
        raise NetError(f"the lab network is in use by {other.get('owner') or 'another program'} "
                       f"(pid {other.get('pid')}, since {since}); stop that first "
                       "(`pacer lab down --force` takes it down anyway)")


def up_network(nodes: int = 3, owner: str = "") -> list[str]:
    """Create the bridge, hosts n1..nN and the client (after `down_network`):
    returns the hosts made, client last. Refuses (NetError) while another live
    process owns the network (`network_owner`); this process owns it after."""
    if not 1 <= nodes <= 39:
        raise NetError(f"--nodes {nodes}: the lab makes 1 to 39 hosts")
    check_network_free(owner)
    down_network(force=True)
    claim_network(owner or f"pid {os.getpid()}")
    ip("link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0")
    ip("link", "set", BRIDGE, "type", "bridge", "mcast_snooping", "0", check=False)
    ip("link", "set", BRIDGE, "up")
    hosts = [*host_names(nodes), CLIENT]
    for host in hosts:
        ns, link = ns_name(host), link_name(host)
        run(["ip", "netns", "add", ns])
        ip("link", "add", link, "type", "veth", "peer", "name", DEV, "netns", ns)
        ip("link", "set", link, "master", BRIDGE)
        ip("link", "set", link, "up")
        ip("link", "set", "lo", "up", ns=ns)
        ip("addr", "add", f"{host_ip(host)}/{PREFIXLEN}", "dev", DEV, ns=ns)
        ip("link", "set", DEV, "up", ns=ns)
    return hosts


def down_network(force: bool = False) -> None:
    """Remove every lab namespace (`pacer-nX`, `pacer-c`; what runs in it is
    killed first), every `pl-*` link and the bridge: also what a killed
    earlier run left behind.
    Refuses (NetError) while another live process owns the network, unless
    `force`: a program whose own start was refused must not, cleaning up,
    take down the lab that refused it."""
    if not force:
        check_network_free()
    for ns in namespaces():
        kill_namespace(ns)
        run(["ip", "netns", "del", ns], check=False)
    for link in lab_links():
        if link != BRIDGE:
            ip("link", "del", link, check=False)
    if BRIDGE in lab_links():
        ip("link", "del", BRIDGE, check=False)
    OWNER_FILE.unlink(missing_ok=True)


def hosts_up() -> list[str]:
    """The lab hosts whose namespaces exist now (n1.. in order, then c)."""
    found = []
    for ns in namespaces():
        try:
            found.append(host_of(ns))
        except NetError:
            continue
    return sorted(found, key=lambda h: (h == CLIENT, int(h[1:]) if h != CLIENT else 0))


# ------------------------------------------------------------------ processes

def ns_pids(host: str) -> list[int]:
    """Every process in the host's network namespace (`ip netns pids`)."""
    return _ns_pids(ns_name(host))


def _ns_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]


# /proc/PID/stat's flags: the task is in do_exit (it never returns to user space).
PF_EXITING = 0x4
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)
# How long a power cut waits for every process of the host to be unable to
# run: SIGKILL makes that true at once, so this is only reached when
# something in the namespace survives it (which a power switch never sees).
KILL_WAIT_S = 5.0


def can_run(stat: str, status: str) -> bool:
    """Whether a process may still run code, from its /proc/PID/stat and
    /proc/PID/status texts. Not a zombie (Z) or dead (X) one, not one already
    in do_exit (PF_EXITING), not one with SIGKILL pending (SigPnd or ShdPnd:
    it dies as soon as it leaves the kernel, e.g. when an uninterruptible
    wait ends, and SIGKILL cannot be blocked or caught). A stopped (T)
    process can: SIGCONT wakes it."""
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] in ("Z", "X", "x"):
        return False
    try:
        if int(fields[6]) & PF_EXITING:
            return False
    except (IndexError, ValueError):
        pass  # no flags to read: decide on the signals
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("SigPnd", "ShdPnd"):
            try:
                if int(value.strip(), 16) & _SIGKILL_BIT:
                    return False
            except ValueError:
                continue
    return True


@dataclass(frozen=True)
class Proc:
    """A process of a namespace as /proc showed it at one moment."""

    pid: int
    name: str
    state: str       # R S D T Z ... (stat's third field)
    can_run: bool    # see can_run()

    def __str__(self) -> str:
        return f"{self.pid} ({self.name}, state {self.state})"


def _read_proc(pid: int, ns_inode: tuple[int, int] | None) -> Proc | None:
    """The process `pid` if it is (still) in the namespace whose /run/netns
    file has (st_dev, st_ino) `ns_inode`; None when it is gone or the pid
    now belongs to another process (reused since the namespace was listed)."""
    try:
        if ns_inode is not None:
            st = os.stat(f"/proc/{pid}/ns/net")
            if (st.st_dev, st.st_ino) != ns_inode:
                return None
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return None
    head, _, tail = stat.rpartition(")")
    name = head.partition("(")[2]
    state = (tail.split() or ["?"])[0]
    return Proc(pid, name, state, can_run(stat, status))


def _ns_inode(ns: str) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/run/netns/{ns}")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _ns_processes(ns: str) -> list[Proc]:
    inode = _ns_inode(ns)
    return [p for pid in _ns_pids(ns) if (p := _read_proc(pid, inode)) is not None]


def ns_processes(host: str) -> list[Proc]:
    """Every process in the host's namespace, with its state and whether it can
    still run. A zombie is not listed (it has left every namespace); a
    process killed but not done exiting is, with can_run False."""
    return _ns_processes(ns_name(host))


@dataclass
class KillResult:
    """What SIGKILLing a namespace's processes left."""

    killed: list[int] = field(default_factory=list)   # every pid SIGKILLed
    exiting: list[Proc] = field(default_factory=list)  # still listed, cannot run
    alive: list[Proc] = field(default_factory=list)    # can run: the kill failed


def kill_namespace(ns: str, timeout: float = KILL_WAIT_S) -> KillResult:
    """SIGKILL every process of network namespace `ns` (its full name) that can
    still run, again for anything that appears, until none can (or `timeout`).
    A process that SIGKILL reached but that has not finished exiting (in an
    uninterruptible wait, unmapping its memory on a loaded machine) stays
    listed a while: it cannot run again, and is reported in `exiting`."""
    result = KillResult()
    deadline = time.monotonic() + timeout
    while True:
        # One reading decides both whether we are done and what is reported.
        procs = _ns_processes(ns)
        runnable = [p for p in procs if p.can_run]
        if not runnable or time.monotonic() >= deadline:
            result.exiting = [p for p in procs if not p.can_run]
            result.alive = runnable
            return result
        for p in runnable:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            if p.pid not in result.killed:
                result.killed.append(p.pid)
        time.sleep(0.01)  # the next reading: what was killed now has SIGKILL pending


def _signal_all(ns: str, sig: int) -> list[int]:
    """Send `sig` once to every process in network namespace `ns`."""
    sent = []
    for pid in _ns_pids(ns):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        sent.append(pid)
    return sent


def kill_host(host: str) -> KillResult:
    """Power cut: link down, SIGKILL every process in the namespace until none
    can run any more, drop every address but the host's own. Fails (NetError)
    only when a process can still run `KILL_WAIT_S` after SIGKILL: processes
    SIGKILL reached that are still exiting are not a failure (a power switch
    never waits for them), they are in the result's `exiting`."""
    link_down(host)
    result = kill_namespace(ns_name(host), KILL_WAIT_S)
    if result.alive:
        raise NetError(f"processes of {host} can still run {KILL_WAIT_S:g} s after SIGKILL: "
                       + ", ".join(map(str, result.alive)))
    flush_extra_addresses(host)
    return result


def wait_gone(host: str, timeout: float) -> list[Proc]:
    """Wait until no process is left in the host's namespace (those a power cut
    left exiting are gone); returns what is still there at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = ns_processes(host)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def freeze_host(host: str) -> list[int]:
    """SIGSTOP every process in the namespace (twice, for anything forked meanwhile)."""
    stopped = _signal_all(ns_name(host), signal.SIGSTOP)
    for pid in _signal_all(ns_name(host), signal.SIGSTOP):
        if pid not in stopped:
            stopped.append(pid)
    return stopped


def thaw_host(host: str) -> list[int]:
    """SIGCONT every process in the namespace."""
    return _signal_all(ns_name(host), signal.SIGCONT)


def exec_in(host: str, argv: Sequence[str], **popen_kw: Any) -> subprocess.Popen:
    """Start `argv` inside the host's namespace (`ip netns exec`); Popen keywords pass on."""
    return subprocess.Popen(["ip", "netns", "exec", ns_name(host), *argv], **popen_kw)


def run_in(host: str, argv: Sequence[str], timeout: float = 30.0, check: bool = False
           ) -> subprocess.CompletedProcess[str]:
    """Run `argv` inside the host's namespace to completion, output captured."""
    return run(["ip", "netns", "exec", ns_name(host), *argv], check=check, timeout=timeout)


# ------------------------------------------------------------------ links and routes

def link_down(host: str) -> None:
    """Pull the cable: the root side of the host's veth pair goes down."""
    ip("link", "set", link_name(host), "down")


def link_up(host: str) -> None:
    ip("link", "set", link_name(host), "up")


def link_is_up(host: str) -> bool:
    """Whether the host's eth0 has a carrier (its cable is in)."""
    out = ip("-o", "link", "show", DEV, ns=host, check=False)
    m = re.search(r"<([^>]*)>", out)
    return bool(m) and "LOWER_UP" in m.group(1).split(",")


def addresses(host: str) -> list[str]:
    """IPv4 addresses on the host's eth0, with prefix length."""
    out = ip("-o", "-4", "addr", "show", "dev", DEV, ns=host, check=False)
    return re.findall(r"inet\s+(\S+)", out)


def flush_extra_addresses(host: str) -> None:
    """Remove every address of eth0 but the host's own (what a reboot forgets)."""
    own = f"{host_ip(host)}/{PREFIXLEN}"
    for addr in addresses(host):
        if addr != own:
            ip("addr", "del", addr, "dev", DEV, ns=host, check=False)


def partition(groups: Iterable[Iterable[str]]) -> list[tuple[str, str]]:
    """Cut the hosts into groups that cannot talk to each other: in every host,
    a blackhole route to each host of every other group. Hosts not named (the
    client, say) still reach everyone. Returns the (host, blocked ip) pairs."""
    sets = [[host_of(h) for h in g] for g in groups]
    sets = [g for g in sets if g]
    if len(sets) < 2:
        raise NetError("a partition needs at least two non-empty groups, e.g. n1 / n2 n3")
    named = [h for g in sets for h in g]
    if len(named) != len(set(named)):
        raise NetError("a host may be in one group only")
    cut = []
    for i, group in enumerate(sets):
        others = [h for j, g in enumerate(sets) if j != i for h in g]
        for host in group:
            for other in others:
                addr = host_ip(other)
                ip("route", "replace", "blackhole", f"{addr}/32", ns=host)
                cut.append((host, addr))
    return cut


def heal() -> int:
    """Remove every blackhole route in every lab host; returns how many."""
    removed = 0
    for host in hosts_up():
        out = ip("-4", "route", "show", "type", "blackhole", ns=host, check=False)
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "blackhole":
                ip("route", "del", "blackhole", parts[1], ns=host, check=False)
                removed += 1
    return removed


def blackholes(host: str) -> list[str]:
    """The destinations a host cannot reach because of `partition`."""
    out = ip("-4", "route", "show", "type", "blackhole", ns=host, check=False)
    return [line.split()[1] for line in out.splitlines() if line.startswith("blackhole")]


def vip_holders(vip: str = VIP, live_only: bool = True) -> list[str]:
    """Hosts whose eth0 holds `vip` (parsed from `ip -n NS -o addr`); with
    `live_only` only those whose link is up, i.e. that could answer for it."""
    want = str(ipaddress.IPv4Interface(vip).ip)
    holders = []
    for host in hosts_up():
        if host == CLIENT:
            continue
        if any(a.split("/")[0] == want for a in addresses(host)):
            if not live_only or link_is_up(host):
                holders.append(host)
    return holders
