"""The keepalived anchor of the failover benchmark, in the lab's own network.

keepalived 2.2.7 (VRRPv3) on hosts n1..n3 of `pacer.lab.net` (pacer is not
running there: only the network is brought up), with the configurations of
../shared/bench/keepalived/n1..n3.conf (priorities 150/100/50, `nopreempt`,
VIP 10.250.0.100/24 on eth0) and their `advert_int` rewritten (1 s, the
default, or 0.1 s). Each host also runs a small HTTP server on :8080 that
answers with the host's name (the same server as the Pacemaker anchor's
web.py, named by argument: a network namespace has no hostname of its own).

keepalived is started as that README says, one per host namespace:

    keepalived -n -l -D -G -P -f nX.conf -p ka-nX.pid -r ka-vrrp-nX.pid -c ka-chk-nX.pid

A trial is the ANCHORS.md fault, *host lost*: the VIP holder's cable pulled
and every process of it SIGKILLed (keepalived's parent and VRRP child among
them) with `pacer.lab.net.kill_host`, the same power cut the pacer rows use.
Then the host is booted again (link up, web server, keepalived: with
`nopreempt` it stays backup) and the next trial waits for a steady state.

keepalived has neither quorum nor fencing: the split-brain counts of its rows
are what VRRP alone gives.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pacer.lab import net
from pacer.lab.probe import TrialResult, moved_from, run_trial

SHARED = Path(__file__).resolve().parents[3] / "shared" / "bench" / "keepalived"
HOSTS = ("n1", "n2", "n3")
PORT = 8080
OWNER = "the keepalived anchor (bench/failover.py)"

# The Pacemaker anchor's web.py with the name given as argument.
WEB_SERVER = """\
import http.server, sys
NAME = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(NAME)))
        self.end_headers(); self.wfile.write(NAME)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
S(("0.0.0.0", int(sys.argv[2])), H).serve_forever()
"""


class AnchorUnavailable(RuntimeError):
    """The anchor cannot run here (no keepalived, no ../shared, not root)."""


def shared_configs(directory: Path | None = None) -> Path | None:
    """The folder with n1.conf..n3.conf: `directory`, $PACER_KEEPALIVED_CONFIGS,
    else ../shared/bench/keepalived beside the repository; None when absent."""
    d = directory or Path(os.environ.get("PACER_KEEPALIVED_CONFIGS") or SHARED)
    return d if all((d / f"{h}.conf").is_file() for h in HOSTS) else None


def render(conf: str, advert_int: float) -> str:
    """A shared config with its advert_int set (VRRPv3 is kept: fractions need it)."""
    value = f"{advert_int:g}"
    out, n = re.subn(r"(?m)^(\s*advert_int\s+)\S+", lambda m: m.group(1) + value, conf)
    if n != 1:
        raise ValueError("the keepalived config has no single advert_int line")
    if advert_int < 1 and not re.search(r"(?m)^\s*vrrp_version\s+3\b", out):
        raise ValueError("a fractional advert_int needs vrrp_version 3")
    return out


class KeepalivedLab:
    """keepalived on n1..n3 of the lab network, for anchor trials.

    `with KeepalivedLab(advert_int=0.1) as ka: ka.trial()`: the network is made
    on entry (refused if a lab network is up, unless `take_over`), everything
    killed and the network removed on exit (also on Ctrl-C)."""

    def __init__(self, advert_int: float, configs: Path | None = None,
                 workdir: Path | None = None, take_over: bool = False,
                 keep_network: bool = False,
                 progress: Callable[[str], None] | None = None) -> None:
        self.advert_int = advert_int
        self.configs = shared_configs(configs)
        self.take_over = take_over
        self.keep_network = keep_network
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="pacer-ka-"))
        self.progress = progress or (lambda _msg: None)
        self.web: dict[str, subprocess.Popen[bytes]] = {}
        self.ka: dict[str, subprocess.Popen[bytes]] = {}
        self.trials = 0

    # ---------------------------------------------------------------- setup

    def check(self) -> None:
        if os.geteuid() != 0:
            raise AnchorUnavailable("the keepalived anchor needs root (network namespaces)")
        if not shutil.which("keepalived"):
            raise AnchorUnavailable("keepalived is not installed: scripts/install-debs.sh keepalived")
        if self.configs is None:
            raise AnchorUnavailable(f"no keepalived configs in {SHARED} (../shared/bench/keepalived "
                                    "is absent): the keepalived rows are skipped")
        try:
            net.check_network_free(OWNER)
        except net.NetError as exc:
            raise AnchorUnavailable(str(exc)) from None
        if net.namespaces() and not self.take_over:
            raise AnchorUnavailable("a lab network is up (pacer-* namespaces: "
                                    f"{' '.join(net.namespaces())}); `pacer lab down` first")

    def __enter__(self) -> KeepalivedLab:
        self.check()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            net.up_network(len(HOSTS), OWNER)
            for h in HOSTS:
                self.boot(h)
            self.wait_steady()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pidfiles(self, h: str) -> list[Path]:
        return [self.workdir / f"ka-{h}.pid", self.workdir / f"ka-vrrp-{h}.pid",
                self.workdir / f"ka-chk-{h}.pid"]

    def boot(self, h: str) -> None:
        """Power on: cable in, HTTP server, keepalived (only what is not running)."""
        net.link_up(h)
        conf = self.workdir / f"{h}.conf"
        assert self.configs is not None
        conf.write_text(render((self.configs / f"{h}.conf").read_text(), self.advert_int))
        web = self.web.get(h)
        if web is None or web.poll() is not None:
            self.web[h] = net.exec_in(h, [sys.executable, "-c", WEB_SERVER, h, str(PORT)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        for p in self._pidfiles(h):
            p.unlink(missing_ok=True)
        pid, vrrp, chk = self._pidfiles(h)
        with open(self.workdir / f"ka-{h}.log", "ab") as log:
            self.ka[h] = net.exec_in(h, ["keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(conf),
                                         "-p", str(pid), "-r", str(vrrp), "-c", str(chk)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)

    def running(self, h: str) -> bool:
        """keepalived's parent (our child) and its VRRP child both alive on the host."""
        parent = self.ka.get(h)
        if parent is None or parent.poll() is not None:
            return False
        try:
            vrrp = int(self._pidfiles(h)[1].read_text().split()[0])
            with open(f"/proc/{vrrp}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, ValueError, IndexError):
            return False

    def wait_steady(self, timeout: float = 30.0) -> str:
        """Until keepalived runs on every host and exactly one holds the VIP (the
        others have seen its adverts: 3 advert intervals more); returns the holder."""
        deadline = time.monotonic() + timeout
        settle = max(0.5, 3 * self.advert_int + 0.3)
        stable_since, last = None, None
        while time.monotonic() < deadline:
            holders = net.vip_holders()
            ok = len(holders) == 1 and all(self.running(h) for h in HOSTS)
            if ok and holders == last and stable_since is not None:
                if time.monotonic() - stable_since >= settle:
                    return holders[0]
            elif ok:
                stable_since = time.monotonic()
            else:
                stable_since = None
            last = holders if ok else None
            time.sleep(0.05)
        raise RuntimeError(f"keepalived (advert_int {self.advert_int:g}) not steady within "
                           f"{timeout:g} s: VIP on {net.vip_holders()}; logs in {self.workdir}")

    def close(self) -> None:
        """Kill keepalived and the web servers this lab started; remove the network."""
        for h in HOSTS:
            for p in self._pidfiles(h):
                with contextlib.suppress(OSError, ValueError, IndexError, ProcessLookupError):
                    os.kill(int(p.read_text().split()[0]), signal.SIGKILL)
        for proc in [*self.ka.values(), *self.web.values()]:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.ka.clear()
        self.web.clear()
        owner = net.network_owner()  # never take down a network another program made
        if not self.keep_network and (owner is None or owner.get("pid") == os.getpid()):
            net.down_network(force=True)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---------------------------------------------------------------- trials

    def trial(self, workdir: Path | None = None, tail: float = 1.5,
              timeout: float = 30.0) -> TrialResult:
        """One host-lost trial on the current VIP holder; boots it again after."""
        holder = self.wait_steady()
        self.trials += 1
        label = f"ka{self.advert_int:g}-{self.trials}"
        res = run_trial(workdir or self.workdir, label, list(HOSTS), holder,
                        lambda: net.kill_host(holder), moved_from,
                        phase=self.advert_int, tail=tail, timeout=timeout)
        if self.ka.get(holder) is not None:
            self.ka[holder].wait()  # reap the killed parent
        self.boot(holder)
        return res
