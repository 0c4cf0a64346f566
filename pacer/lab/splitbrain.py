"""Split-brain watch of the failover benchmark: who holds the VIP, every 20 ms.

    python -m pacer.lab.splitbrain --hosts n1,n2,n3 --vip 10.250.0.100 \\
        --interval 0.02 --out FILE

What `ip -n pacer-nX -o addr show dev eth0` shows, read in every host at
once, but over netlink sockets opened once in each host's namespace (a dump of
the IPv4 addresses and the flags of eth0 cost some 50 µs per host; three `ip`
processes every 20 ms would take a good part of a core from the cluster being
measured). Run it from the root namespace as root.

A host *holds* the VIP when its eth0 carries the address; it *answers* for it
when eth0 is also up with a carrier (IFF_UP and IFF_RUNNING): a host whose
cable is pulled (a power cut in the lab takes the link down first) keeps the
address configured but can answer for nothing. Split-brain is two hosts
answering for the VIP at one sample.

Output: one JSON line per sample, `{"t": monotonic s, "held": [hosts],
"live": [hosts]}` (hosts whose namespace is gone are left out). Stops on
SIGTERM/SIGINT or after `--duration`.

The analysis (`overlaps`) is pure and tested without root.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
SIOCGIFFLAGS, SIOCGIFINDEX = 0x8913, 0x8933
IFF_UP, IFF_RUNNING = 0x1, 0x40


# ------------------------------------------------------------------ pure analysis

@dataclass(frozen=True)
class VipSample:
    t: float
    held: tuple[str, ...]  # eth0 carries the VIP
    live: tuple[str, ...]  # ... and eth0 is up with a carrier


@dataclass(frozen=True)
class Overlap:
    """Samples where two or more hosts answered, and the longest run of them
    (s, from its first sample to the next sample without overlap: an upper bound)."""

    samples: int
    longest: float
    hosts: tuple[str, ...]  # every host seen in an overlap
    first: float | None  # monotonic time of the first overlapping sample


def overlaps(samples: Iterable[VipSample], since: float | None = None,
             until: float | None = None) -> Overlap:
    """The samples in [since, until] in which the VIP was live on 2+ hosts."""
    ss = sorted((s for s in samples
                 if (since is None or s.t >= since) and (until is None or s.t <= until)),
                key=lambda s: s.t)
    count, longest, run_start, first = 0, 0.0, None, None
    hosts: set[str] = set()
    for s in ss:
        if len(s.live) >= 2:
            count += 1
            hosts.update(s.live)
            if run_start is None:
                run_start = s.t
            if first is None:
                first = s.t
            longest = max(longest, s.t - run_start)
        elif run_start is not None:  # the run lasted until this sample at most
            longest = max(longest, s.t - run_start)
            run_start = None
    return Overlap(count, longest, tuple(sorted(hosts)), first)


def holders_at(samples: Sequence[VipSample], t: float) -> tuple[str, ...]:
    """Who answered for the VIP at the last sample not after `t` (() if none)."""
    best: VipSample | None = None
    for s in samples:
        if s.t <= t and (best is None or s.t >= best.t):
            best = s
    return best.live if best else ()


def load(path: str | Path) -> list[VipSample]:
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        out.append(VipSample(float(d["t"]), tuple(d.get("held", ())), tuple(d.get("live", ()))))
    return sorted(out, key=lambda s: s.t)


# ------------------------------------------------------------------ the sampler (root)

class HostWatch:
    """A netlink socket and an ioctl socket opened inside one host's namespace."""

    def __init__(self, host: str, ns: str, dev: str) -> None:
        self.host, self.dev = host, dev
        self.seq = 0
        libc = ctypes.CDLL(None, use_errno=True)
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {ns}")
            try:
                self.nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
                self.nl.bind((0, 0))
                self.io = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            finally:
                libc.setns(here, CLONE_NEWNET)
        finally:
            os.close(target)
            os.close(here)

    def close(self) -> None:
        self.nl.close()
        self.io.close()

    def _ifreq(self, req: int) -> bytes:
        return fcntl.ioctl(self.io, req, struct.pack("16s16x", self.dev.encode()))

    def state(self, vip: str) -> tuple[bool, bool]:
        """(eth0 carries vip, eth0 is up with a carrier); (False, False) without eth0."""
        try:
            index = struct.unpack_from("i", self._ifreq(SIOCGIFINDEX), 16)[0]
            flags = struct.unpack_from("H", self._ifreq(SIOCGIFFLAGS), 16)[0]
        except OSError:
            return False, False
        held = any(i == index and a == vip for i, a in self._addresses())
        return held, held and bool(flags & IFF_UP) and bool(flags & IFF_RUNNING)

    def _addresses(self) -> list[tuple[int, str]]:
        self.seq += 1
        req = struct.pack("=LHHLL", 24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0)
        self.nl.send(req + struct.pack("=BBBBL", socket.AF_INET, 0, 0, 0, 0))
        found: list[tuple[int, str]] = []
        while True:
            data = self.nl.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=LH", data, off)
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    raise OSError("netlink address dump failed")
                if kind == RTM_NEWADDR:
                    index = struct.unpack_from("=L", data, off + 20)[0]
                    a, addr = off + 24, None
                    while a + 4 <= off + length:
                        alen, atype = struct.unpack_from("=HH", data, a)
                        if alen < 4:
                            break
                        if atype in (IFA_LOCAL, IFA_ADDRESS) and alen >= 8:
                            addr = socket.inet_ntoa(data[a + 4:a + 8])
                            if atype == IFA_LOCAL:
                                break
                        a += (alen + 3) & ~3
                    if addr:
                        found.append((index, addr))
                if length < 16:
                    return found
                off += (length + 3) & ~3


def sample_loop(hosts: Sequence[str], vip: str, interval: float, out, duration: float | None,
                ns_prefix: str = "pacer-", dev: str = "eth0") -> int:  # noqa: ANN001
    watches = []
    for h in hosts:
        try:
            watches.append(HostWatch(h, ns_prefix + h, dev))
        except OSError as exc:
            print(f"splitbrain: {h}: {exc}", file=sys.stderr)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    start = time.monotonic()
    n = 0
    try:
        while not stop:
            t = time.monotonic()
            if duration is not None and t - start > duration:
                break
            held, live = [], []
            for w in watches:
                h, lv = w.state(vip)
                if h:
                    held.append(w.host)
                if lv:
                    live.append(w.host)
            out.write(json.dumps({"t": round(t, 6), "held": held, "live": live}) + "\n")
            out.flush()
            n += 1
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:  # late: skip the missed slots rather than burst
                n = int((time.monotonic() - start) / interval) + 1
    finally:
        for w in watches:
            w.close()
    return n


@contextlib.contextmanager
def output(path: str) -> Iterator[IO[str]]:
    """A line-buffered JSON lines file to append to ("-": stdout, left open)."""
    if path == "-":
        yield sys.stdout
        return
    with open(path, "a", buffering=1) as f:
        yield f



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pacer.lab.splitbrain", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", default="n1,n2,n3", help="comma-separated hosts (n1,n2,n3)")
    ap.add_argument("--vip", default="10.250.0.100")
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--ns-prefix", default="pacer-")
    ap.add_argument("--out", default="-")
    args = ap.parse_args(argv)
    with output(args.out) as out:
        sample_loop([h for h in args.hosts.split(",") if h], args.vip.split("/")[0],
                    args.interval, out, args.duration, args.ns_prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
