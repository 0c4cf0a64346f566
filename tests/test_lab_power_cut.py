"""The lab's power cut (`pacer.lab.net.kill_host`, issue 13 finding 9): it
succeeds once no process of the host can run again. A process that SIGKILL
reached but that has not finished exiting (uninterruptible wait, a slow exit
on a loaded machine) is doomed, not a failure of the power switch.

The decision is tested on /proc texts; the kill on a namespace of the
test's own (root), with a running, a stopped (as on a frozen host) and a
freezer-cgroup-held process; the failure path with a fake process list.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from lab_fixtures import frozen_cgroup, proc_state

from pacer.lab import net

# /proc/PID/stat of a sleeping `sleep` (flags 0x400000), and how it reads otherwise.
STAT = "4321 (sleep) {state} 4300 4321 4300 0 -1 {flags} 120 0 0 0 0 0 0 0 20 0 1 0 9"
STATUS = "Name:\tsleep\nState:\tS (sleeping)\nSigPnd:\t{own}\nShdPnd:\t{shared}\nSigBlk:\t0\n"
T = TypeVar("T")
NONE = "0000000000000000"
KILL = "0000000000000100"  # SIGKILL (9) is bit 8


def stat(state: str = "S", flags: int = 0x400000) -> str:
    return STAT.format(state=state, flags=flags)


def status(own: str = NONE, shared: str = NONE) -> str:
    return STATUS.format(own=own, shared=shared)


@pytest.mark.parametrize(("state", "flags", "own", "shared", "runs"), [
    ("S", 0x400000, NONE, NONE, True),    # sleeping
    ("R", 0x400000, NONE, NONE, True),    # running
    ("T", 0x400000, NONE, NONE, True),    # stopped (frozen host): SIGCONT wakes it
    ("D", 0x400000, NONE, NONE, True),    # uninterruptible, not killed: comes back
    ("D", 0x400000, KILL, NONE, False),   # killed in an uninterruptible wait
    ("D", 0x400000, NONE, KILL, False),   # killed: SIGKILL pending for the group
    ("S", 0x400000, "0000000000004100", NONE, False),  # SIGKILL among others
    ("S", 0x400000, "0000000000004000", NONE, True),   # SIGTERM alone: may be caught
    ("R", 0x400004, NONE, NONE, False),   # PF_EXITING: in do_exit
    ("Z", 0x400004, NONE, NONE, False),   # zombie
    ("X", 0x400004, NONE, NONE, False),   # dead
])
def test_which_process_can_still_run(state: str, flags: int, own: str, shared: str,
                                     runs: bool) -> None:
    assert net.can_run(stat(state, flags), status(own, shared)) is runs


def test_a_name_with_a_parenthesis_and_spaces_does_not_confuse_the_fields() -> None:
    text = "77 (a) Z 1 2 (b) R 1 77 1 0 -1 4194560 0 0"
    assert net.can_run(text, status()) is True
    assert net.can_run(text.replace("(b) R", "(b) Z"), status()) is False


def _fake_cut(monkeypatch: pytest.MonkeyPatch, readings: list[list[net.Proc]]
              ) -> list[int]:
    """kill_host on a fake host whose namespace reads as `readings`, one per
    look (the last repeats); returns the pids it was asked to SIGKILL."""
    sent: list[int] = []
    looks = iter(readings)
    last: list[list[net.Proc]] = [[]]

    def processes(ns: str) -> list[net.Proc]:
        last[0] = next(looks, last[0])
        return last[0]

    monkeypatch.setattr(net, "_ns_processes", processes)
    monkeypatch.setattr(net, "link_down", lambda host: None)
    monkeypatch.setattr(net, "flush_extra_addresses", lambda host: None)
    monkeypatch.setattr(net.os, "kill", lambda pid, sig: sent.append(pid))
    monkeypatch.setattr(net, "KILL_WAIT_S", 0.3)
    return sent


def test_a_killed_process_still_exiting_is_no_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    etcd, web = net.Proc(11, "etcd", "S", True), net.Proc(12, "python3", "T", True)
    dying = net.Proc(11, "etcd", "D", False)
    sent = _fake_cut(monkeypatch, [[etcd, web], [dying]])
    result = net.kill_host("n2")
    assert sent == [11, 12]
    assert result.killed == [11, 12] and result.exiting == [dying] and result.alive == []


def test_only_processes_that_can_run_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    stuck = net.Proc(21, "stubborn", "S", True)
    dying = net.Proc(22, "etcd", "D", False)
    _fake_cut(monkeypatch, [[stuck, dying]])
    with pytest.raises(net.NetError) as err:
        net.kill_host("n2")
    assert str(err.value) == ("processes of n2 can still run 0.3 s after SIGKILL: "
                              "21 (stubborn, state S)")


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root")
    name = f"pacer-t-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        net.kill_namespace(name)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _until(cond: Callable[[], T], what: str, timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value


def test_kill_namespace_kills_stopped_processes_and_tolerates_a_dying_one(namespace: str
                                                                          ) -> None:
    """A frozen host: every process SIGSTOPped (a shell and its child), one more
    held by a frozen freezer cgroup, which SIGKILL dooms but cannot finish."""
    def start(argv: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", namespace, *argv])
        _until(lambda: proc.pid in net._ns_pids(namespace), f"{argv[0]} in the namespace")
        return proc

    with frozen_cgroup() as cg:
        shell = start(["sh", "-c", "sleep 600 & wait"])
        child = _until(lambda: [p for p in net._ns_pids(namespace) if p != shell.pid],
                       "the shell's child")[0]
        held = start(["sleep", "600"])
        procs = [shell, held]
        try:
            cg.add(held.pid)
            cg.freeze()
            for pid in (shell.pid, child):
                os.kill(pid, signal.SIGSTOP)
            result = net.kill_namespace(namespace)
            assert sorted(result.killed) == sorted([shell.pid, child, held.pid])
            assert result.alive == []
            assert [(p.pid, p.state, p.can_run) for p in result.exiting] == [
                (held.pid, "D", False)]
            assert proc_state(held.pid) == ("D", True)   # doomed, not gone
            assert shell.wait(timeout=20) == -signal.SIGKILL
            cg.thaw()
            assert held.wait(timeout=20) == -signal.SIGKILL
            _until(lambda: not net._ns_pids(namespace), "an empty namespace")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            cg.thaw()
            for p in procs:
                p.wait(timeout=20)
