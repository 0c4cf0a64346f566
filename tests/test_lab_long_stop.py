"""Issue 13, finding 1, in the real lab: a resource whose stop takes over a
minute is moved; it must never be active on two hosts, and the move completes.

The resource `slow` is `ocf:heartbeat:anything` running
tests/lab_fixtures/slow_stop.py, which takes STOP_S seconds to exit after
SIGTERM (the agent's stop waits for it; stop timeout 300 s). The test moves
it with `pacer resource move slow --node TARGET` and samples every 0.5 s, in
every host's network namespace, whether the service's process runs there:
reality, read from /proc, not pacer's view. Needs root (CI is root).

Seen before the controller waited for a pending operation for its timeout
(see the lead's fix of finding 1): the stop was written off and `slow` was
started on the target while the old instance still ran.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from lab_fixtures import lab_logs, require_lab_tools

from pacer.lab import net
from pacer.lab.definition import lab_definition
from pacer.lab.hosts import LabInfo
from pacer.lab.lab import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the lab needs root (network namespaces, a bridge)")

RSC = "slow"
STOP_S = 75.0            # how long the service takes to exit after SIGTERM
STOP_TIMEOUT = "300s"    # the stop operation's timeout in the definition
SAMPLE_S = 0.5
MARGIN_S = 60.0          # the move completes within STOP_S + this
STEADY_S = 3.0           # ... and then stays so for this long
TAG = "pacer-lab-long-stop"
SERVICE = Path(__file__).resolve().parent / "lab_fixtures" / "slow_stop.py"
LAB_DIR = Path("/run/pacer-lab-test")


def definition(python: str) -> str:
    """The lab's default definition plus `slow`."""
    data = yaml.safe_load(lab_definition(3, python))
    data["resources"].append({
        "id": RSC,
        "agent": "ocf:heartbeat:anything",
        "params": {"binfile": python,
                   "cmdline_options": f"-u {SERVICE} --stop-seconds {STOP_S:g} --tag {TAG}",
                   # both instances' lines, for a failure's post-mortem
                   "logfile": str(LAB_DIR / "slow.log")},
        "operations": [
            {"name": "start", "interval": 0, "timeout": "30s"},
            {"name": "monitor", "interval": "2s", "timeout": "20s"},
            {"name": "stop", "interval": 0, "timeout": STOP_TIMEOUT},
        ],
    })
    return "# the lab's default definition and a resource whose stop takes long\n" + \
        yaml.safe_dump(data, sort_keys=False)


def running_on() -> list[str]:
    """The hosts in whose namespace the service's process runs now (its argv
    holds the tag; a zombie has no argv and no namespace)."""
    inodes = {}
    for ns in net.namespaces():
        st = os.stat(f"/run/netns/{ns}")
        inodes[(st.st_dev, st.st_ino)] = net.host_of(ns)
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if TAG.encode() not in argv:
                continue
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue  # gone meanwhile
        host = inodes.get((st.st_dev, st.st_ino))
        if host is not None:
            found.add(host)
    return sorted(found)


class Sampler:
    """Where the service runs, every SAMPLE_S seconds, in a thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), running_on()))
            if self._stop.wait(SAMPLE_S):
                return

    def stop(self) -> list[tuple[float, list[str]]]:
        self._stop.set()
        self._t.join()
        return self.samples


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    require_lab_tools()
    config = tmp_path_factory.mktemp("long-stop") / "cluster.yaml"
    python = LabInfo.__dataclass_fields__["python"].default
    config.write_text(definition(python or sys.executable))  # type: ignore[arg-type]
    lab = Lab(LAB_DIR, nodes=3, config=config)
    failed_before = request.session.testsfailed
    lab.up(timeout=120)
    try:
        yield lab
    finally:  # after a failure the logs stay in LAB_DIR until the next run
        lab.down(keep_state=request.session.testsfailed > failed_before)


def _wait(lab: Lab, cond: Callable[[], object], what: str, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} "
                         f"(last: {last!r})\n{lab_logs(lab)}")


def _steadily(cond: Callable[[], bool], steady: float) -> Callable[[], bool]:
    """`cond` true for `steady` seconds on end."""
    since: list[float] = []

    def check() -> bool:
        if not cond():
            since.clear()
            return False
        if not since:
            since.append(time.monotonic())
        return time.monotonic() - since[0] >= steady
    return check


def _double_report(samples: list[tuple[float, list[str]]], t0: float) -> str:
    doubles = [(t, h) for t, h in samples if len(h) > 1]
    if not doubles:
        return "never on two hosts"
    return (f"on two hosts in {len(doubles)} of {len(samples)} samples, from "
            f"{doubles[0][0] - t0:+.1f} s to {doubles[-1][0] - t0:+.1f} s after the move "
            f"({doubles[-1][0] - doubles[0][0] + SAMPLE_S:.1f} s): "
            + ", ".join(f"{t - t0:+.1f} s {' '.join(h)}" for t, h in doubles[:3])
            + (" ..." if len(doubles) > 3 else ""))


def test_a_long_stop_moved_is_never_active_on_two_hosts(lab: Lab) -> None:
    source = _wait(lab, lambda: (r := running_on()) and len(r) == 1 and r[0],
                   f"{RSC} running on one host", 60)
    assert lab.where(RSC) == [source]
    target = next(h for h in lab.hosts if h != source)
    sampler = Sampler()
    t0 = time.time()
    try:
        lab.pacer("resource", "move", RSC, "--node", target)
        moved = _steadily(lambda: running_on() == [target] and lab.where(RSC) == [target],
                          STEADY_S)
        _wait(lab, moved, f"{RSC} running on {target} alone",
              STOP_S + MARGIN_S + STEADY_S)
    finally:
        samples = sampler.stop()
    report = _double_report(samples, t0)
    print(f"{RSC} moved {source} -> {target}: {report}")
    # The test measured what it means to: the old instance ran through its stop.
    last_on_source = max(t for t, h in samples if source in h)
    assert last_on_source - t0 >= STOP_S - 5, \
        f"{RSC} left {source} {last_on_source - t0:.1f} s after the move, before its stop's end"
    assert all(len(h) <= 1 for _, h in samples), f"{RSC} {report}\n{lab_logs(lab)}"
    assert running_on() == [target]
