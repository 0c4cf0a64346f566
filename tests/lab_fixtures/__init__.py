"""Helpers of the lab tests (`tests/test_lab*.py`).

`require_lab_tools()` fails the test when what the lab needs is missing;
`lab_logs(lab)` is the tail of the lab's logs, for an assertion's message.

`frozen_cgroup()`: a cgroup of the v1 freezer. A process frozen there and
then sent SIGKILL stays in its namespace (state D, SIGKILL pending) until the
cgroup is thawed, and then dies: a deterministic stand-in for a process that
a power cut has already doomed but that has not finished exiting yet (a
thread in uninterruptible I/O, a slow exit of a big process on a loaded
machine). Such a process can never run again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pacer.lab import hosts

if TYPE_CHECKING:
    from pacer.lab.lab import Lab


def require_lab_tools() -> None:
    """Fail (not skip: CI has them) when the lab's programs are missing."""
    missing = [p for p in (hosts.ETCD, "/usr/lib/ocf/resource.d/heartbeat/IPaddr2",
                           "/usr/lib/ocf/resource.d/heartbeat/anything")
               if not os.path.exists(p)]
    if shutil.which("ip") is None:
        missing.append("ip")
    if missing:
        pytest.fail(f"the lab tests need {', '.join(missing)} "
                    "(scripts/install-debs.sh installs them)")


def lab_logs(lab: Lab) -> str:
    """The last 30 lines of the lab's logs and of every host's pacer.log."""
    out = []
    for f in [*lab.logs(None), *(p for h in lab.hosts for p in lab.logs(h)
                                 if p.name == "pacer.log")]:
        text = f.read_text(errors="replace").splitlines()[-30:]
        out.append(f"--- {f}\n" + "\n".join(text))
    return "\n".join(out)


def _freezer_mount() -> Path | None:
    """Where the cgroup v1 freezer hierarchy is mounted, if it is."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, post_fields = pre.split(), post.split()
            if len(post_fields) >= 3 and post_fields[0] == "cgroup" \
                    and "freezer" in post_fields[2].split(","):
                return Path(fields[4])
    return None


class Freezer:
    """One cgroup of the v1 freezer: add processes, freeze, thaw."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def state(self) -> str:
        return (self.path / "freezer.state").read_text().strip()

    def _set(self, state: str, timeout: float = 10.0) -> None:
        (self.path / "freezer.state").write_text(state)
        deadline = time.monotonic() + timeout
        while self.state() != state:  # FREEZING until every task is frozen
            if time.monotonic() > deadline:
                raise AssertionError(f"cgroup {self.path} still {self.state()} "
                                     f"{timeout:g} s after asking for {state}")
            time.sleep(0.01)

    def freeze(self) -> None:
        self._set("FROZEN")

    def thaw(self) -> None:
        self._set("THAWED")

    def pids(self) -> list[int]:
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]


@contextlib.contextmanager
def frozen_cgroup() -> Iterator[Freezer]:
    """A fresh freezer cgroup (thawed and removed afterwards). Skips the test
    when this kernel has no cgroup v1 freezer to mount (the v2 freezer lets a
    fatal signal through, so it cannot hold a killed process)."""
    if os.geteuid() != 0:
        pytest.skip("the freezer cgroup needs root")
    base, mounted = _freezer_mount(), None
    if base is None:
        mounted = Path(tempfile.mkdtemp(prefix="pacer-freezer-"))
        done = subprocess.run(["mount", "-t", "cgroup", "-o", "freezer", "pacer-freezer",
                               str(mounted)], capture_output=True, text=True)
        if done.returncode != 0:
            mounted.rmdir()
            pytest.skip(f"no cgroup v1 freezer here (mount: {done.stderr.strip()})")
        base = mounted
    group = Freezer(base / f"pacer-test-{uuid.uuid4().hex[:8]}")
    group.path.mkdir()
    try:
        yield group
    finally:
        with contextlib.suppress(OSError, AssertionError):
            group.thaw()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                group.path.rmdir()  # EBUSY while a thawed process is still exiting
            if not group.path.exists():
                break
            time.sleep(0.02)
        if mounted is not None:
            subprocess.run(["umount", str(mounted)], capture_output=True)
            with contextlib.suppress(OSError):
                mounted.rmdir()


def proc_state(pid: int) -> tuple[str, bool] | None:
    """(state letter, SIGKILL pending) of a process from /proc; None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    state = stat.rsplit(")", 1)[1].split()[0]
    pending = 0
    for line in status.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")):
            pending |= int(line.split()[1], 16)
    return state, bool(pending & (1 << 8))  # SIGKILL = 9: bit 8
