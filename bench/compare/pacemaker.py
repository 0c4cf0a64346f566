"""The Pacemaker + Corosync anchor of the failover benchmark (`--with-pacemaker`).

Drives the kit in ../shared/bench/pacemaker-lab (its README.txt gives the
commands; its own network: namespaces pm-n1..3 and pm-c, bridge pmbr0,
10.252.0.0/24, VIP 10.252.0.100): Pacemaker 2.1.5 + Corosync 3.1.7 from
Debian, token 1000 ms, fencing on (its instant lab fence agent), the VIP
(ocf:heartbeat:IPaddr2) and an HTTP service (ocf:heartbeat:anything)
colocated, stickiness 100. Runtime state goes to a directory of ours
(PMLAB_STATE), the kit itself is only read.

A trial is the kit's host lost (run1.py's): every process of the VIP holder's
namespace SIGKILLed and its veth set down, watched by pacer's probe and VIP
sampler (the same method as the kit's probe.py, so the figures compare with
the pacer and keepalived rows); then the host is started again as run1.py
does (addresses reset, veth up, start-node.sh) and the next trial waits for
all three nodes online with the VIP and the service on one node.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pacer.lab import hosts
from pacer.lab.probe import TrialResult, moved_from, run_trial

KIT = Path(__file__).resolve().parents[3] / "shared" / "bench" / "pacemaker-lab"
HOSTS = ["n1", "n2", "n3"]
VIP = "10.252.0.100"


class AnchorUnavailable(RuntimeError):
    """The Pacemaker anchor cannot run here."""


class PacemakerLab:
    def __init__(self, workdir: Path, token_ms: int = 1000, fencing: bool = True,
                 kit: Path | None = None, progress: Callable[[str], None] | None = None) -> None:
        self.kit = Path(os.environ.get("PACER_PMLAB") or kit or KIT)
        self.state = workdir / "state"
        self.workdir = workdir
        self.token_ms = token_ms
        self.fencing = fencing
        self.say = progress or (lambda _m: None)
        self.env = {**os.environ, "PMLAB_STATE": str(self.state), "N": "3", "CLIENT": "1"}
        self.trials = 0

    def check(self) -> None:
        if os.geteuid() != 0:
            raise AnchorUnavailable("the Pacemaker anchor needs root")
        if not (self.kit / "lab.sh").is_file():
            raise AnchorUnavailable(f"no Pacemaker lab kit in {self.kit} (../shared is absent)")
        missing = [b for b in ("corosync", "pacemakerd", "crm", "crm_mon")
                   if not shutil.which(b) and not Path(f"/usr/sbin/{b}").exists()]
        if missing:
            raise AnchorUnavailable(f"not installed: {' '.join(missing)} (scripts/install-debs.sh "
                                    "pacemaker corosync crmsh resource-agents fence-agents)")

    def sh(self, *argv: str, check: bool = False, timeout: float = 60.0) -> str:
        proc = subprocess.run(list(argv), cwd=self.kit, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def nx(self, x: int, *argv: str) -> str:
        return self.sh(str(self.kit / "nx.sh"), str(x), *argv)

    # -------------------------------------------------------------- up and down

    def __enter__(self) -> PacemakerLab:
        self.check()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.sh("./teardown.sh")
            # The web agent (ocf:heartbeat:anything) starts through `su - root`:
            # with a lock left behind, each start waited 60 s and timed out.
            if hosts.clear_stale_rehash_lock():
                self.say("pm: removed pyenv's stale rehash lock (login shells waited for it)")
            self.sh("./lab.sh", "up", check=True)
            self.sh("./mkconf.sh", str(self.token_ms), check=True)
            for i in (1, 2, 3):
                self.sh("./start-node.sh", str(i), check=True)
            self.say(f"pm: corosync + pacemaker starting on pm-n1..3 (token {self.token_ms} ms)")
            self.wait(lambda st: st[3], 180, "all three nodes online")
            crm = self.state / "cluster.crm"
            crm.write_text((self.kit / "cluster.crm").read_text().replace("@HERE@", str(self.kit)))
            self.nx(1, "crm", "configure", "load", "update", str(crm))
            if self.fencing:
                self.nx(1, "crm", "configure", "load", "update", str(self.kit / "stonith.crm"))
            self.steady()
            self.say("pm: cluster up, VIP and web running")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        subprocess.run(["./teardown.sh"], cwd=self.kit, env=self.env, capture_output=True,
                       timeout=60)

    # -------------------------------------------------------------- status

    def alive(self) -> list[int]:
        return [x for x in (1, 2, 3) if self.sh("ip", "netns", "pids", f"pm-n{x}").split()]

    def status(self) -> tuple[str | None, str | None, str | None, bool, str]:
        """(vip node, web node, DC, all three online, crm_mon text), as run1.py reads it."""
        up = self.alive()
        if not up:
            return None, None, None, False, ""
        o = self.nx(up[0], "crm_mon", "-1")
        vip = re.search(r"vip\s+\(ocf:heartbeat:IPaddr2\):\s+Started (n\d)", o)
        web = re.search(r"web\s+\(ocf:heartbeat:anything\):\s+Started (n\d)", o)
        dc = re.search(r"Current DC: (n\d)", o)
        return (vip and vip.group(1), web and web.group(1), dc and dc.group(1),
                "Online: [ n1 n2 n3 ]" in o, o)

    def wait(self, cond: Callable[[tuple], bool], timeout: float, what: str) -> tuple:
        deadline = time.monotonic() + timeout
        while True:
            try:
                st = self.status()
            except (subprocess.SubprocessError, OSError):
                st = (None, None, None, False, "")
            if cond(st):
                return st
            if time.monotonic() > deadline:
                raise RuntimeError(f"pm: no {what} within {timeout:g} s; logs in {self.state}")
            time.sleep(2)

    def steady(self) -> str:
        """All three online, the VIP and web on one node, no failed action.

        A failed action stays in crm_mon after Pacemaker recovered from it (a
        start that failed on a node booted again, say) and would hold every
        later trial back: when that is all that is left, it is cleaned up, as
        the kit's run1.py does after a service trial."""
        def placed(s: tuple) -> bool:
            return bool(s[3] and s[0] and s[0] == s[1])

        def clean(s: tuple) -> bool:
            return placed(s) and "Failed" not in s[4] and "FAILED" not in s[4]

        try:
            return self.wait(clean, 60, "steady state (VIP and web on one node)")[0]
        except RuntimeError:
            st = self.status()
            if not placed(st):
                raise RuntimeError(f"pm: no steady state within 60 s; crm_mon says:\n{st[4]}"
                                   f"\nlogs in {self.state}") from None
            failed = [ln.strip() for ln in st[4].splitlines() if "rc=" in ln or "FAILED" in ln]
            self.say(f"pm: failed actions left after recovery, cleaned up: {'; '.join(failed)}")
            self.nx(self.alive()[0], "crm_resource", "--cleanup")
        return self.wait(clean, 120, "steady state after a cleanup")[0]

    # -------------------------------------------------------------- trials

    def kill_host(self, x: int) -> None:
        for p in self.sh("ip", "netns", "pids", f"pm-n{x}").split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "link", "set", f"vpm-n{x}", "down"], check=False)
        hosts.clear_stale_rehash_lock()  # (a `su - root` of the host's killed mid-rehash)

    def restore(self, x: int) -> None:
        ns = f"pm-n{x}"
        for argv in (["ip", "-n", ns, "addr", "flush", "dev", "eth0"],
                     ["ip", "-n", ns, "addr", "add", f"10.252.0.1{x}/24", "dev", "eth0"],
                     ["ip", "link", "set", f"vpm-n{x}", "up"]):
            subprocess.run(argv, check=False, capture_output=True)
        time.sleep(0.5)
        self.sh("./start-node.sh", str(x))

    def trial(self) -> TrialResult:
        holder = self.steady()
        time.sleep(5)  # run1.py settles 5 s after recovery
        x = int(holder[1:])
        self.trials += 1
        res = run_trial(self.workdir, f"pm-{self.trials}", HOSTS, holder,
                        lambda: self.kill_host(x), moved_from, phase=1.0, timeout=60.0,
                        url=f"http://{VIP}:8080/", vip=VIP, client_ns="pm-c", ns_prefix="pm-")
        self.restore(x)
        return res


def run(runs: int, workdir: Path, progress: Callable[[str], None] | None = None
        ) -> list[TrialResult]:
    """`runs` host-lost trials of Pacemaker + Corosync (token 1000, fencing on)."""
    say = progress or (lambda _m: None)
    out = []
    with PacemakerLab(workdir, progress=say) as pm:
        for i in range(runs):
            try:
                r = pm.trial()
            except (RuntimeError, subprocess.SubprocessError) as exc:
                say(f"pm {i + 1}/{runs}: trial failed, row stops: {exc}")
                break
            out.append(r)
            gap = f"{r.trial.gap:.3f} s" if r.trial.gap is not None else "NOT RECOVERED"
            say(f"pm {i + 1}/{runs}: {r.victim} -> {r.trial.new_holder}: gap {gap}")
    return out
