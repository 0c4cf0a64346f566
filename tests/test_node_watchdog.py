"""Watchdogs: the device path through a fake `DeviceIO`, the refusals on this
machine (never a real /dev/watchdog*: opening one can reset the machine), the
file watchdog, and `pacer agent` refusing a watchdog it cannot use."""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from node_helpers import FakeDevice

from pacer.node.watchdog import (
    WDIOC_GETTIMEOUT,
    WDIOC_SETTIMEOUT,
    DeviceWatchdog,
    FileWatchdog,
    NoWatchdog,
    WatchdogError,
    open_watchdog,
)

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- ioctl numbers


def test_ioctl_numbers_follow_the_IOR_and_IOWR_macros() -> None:
    if platform.machine() in ("x86_64", "aarch64", "armv7l", "riscv64", "s390x", "i686"):
        # _IOWR('W', 6, int) = (1|2) << 30 | 4 << 16 | 0x57 << 8 | 6; _IOR: 2 << 30, nr 7
        assert (WDIOC_SETTIMEOUT, WDIOC_GETTIMEOUT) == (0xC0045706, 0x80045707)
    else:
        assert WDIOC_GETTIMEOUT & 0xFFFF == 0x5707


@pytest.mark.skipif(shutil.which("cc") is None
                    or not Path("/usr/include/linux/watchdog.h").exists(),
                    reason="no C compiler or no linux/watchdog.h")
def test_ioctl_numbers_match_the_kernel_header(tmp_path: Path) -> None:
    src = tmp_path / "wd.c"
    src.write_text('#include <stdio.h>\n#include <linux/watchdog.h>\n'
                   'int main(void) { printf("%lu %lu\\n", (unsigned long)WDIOC_SETTIMEOUT,'
                   ' (unsigned long)WDIOC_GETTIMEOUT); return 0; }\n')
    subprocess.run(["cc", "-o", str(tmp_path / "wd"), str(src)], check=True)
    out = subprocess.run([str(tmp_path / "wd")], capture_output=True, text=True, check=True)
    assert [int(x) for x in out.stdout.split()] == [WDIOC_SETTIMEOUT, WDIOC_GETTIMEOUT]


# --------------------------------------------------------------------------- device (fake)


def test_arm_sets_the_timeout_and_exposes_the_one_read_back() -> None:
    dev = FakeDevice(step=5)
    wd = DeviceWatchdog("/dev/watchdog-fake", io=dev)
    assert wd.effective_timeout_s is None  # not armed yet
    wd.arm(4)
    assert dev.calls == [("open", "/dev/watchdog-fake"), ("set", 4), ("get",)]
    assert wd.effective_timeout_s == 5  # the driver rounded 4 up to 5
    wd.feed()
    wd.feed()
    wd.disarm()
    assert dev.calls[3:] == [("write", b"\0"), ("write", b"\0"), ("write", b"V"), ("close",)]
    assert not dev.open_fds and wd.effective_timeout_s is None
    wd.feed()  # disarmed: nothing is written
    assert dev.calls[-1] == ("close",)


def test_the_effective_timeout_is_what_GETTIMEOUT_says() -> None:
    dev = FakeDevice(get_returns=7)
    wd = DeviceWatchdog("/dev/wd", io=dev)
    wd.arm(4)
    assert wd.effective_timeout_s == 7


@pytest.mark.parametrize("step, ioctl", [("set", "WDIOC_SETTIMEOUT"),
                                         ("get", "WDIOC_GETTIMEOUT")])
def test_a_failed_ioctl_closes_the_device_with_the_magic_close_and_raises(
        step: str, ioctl: str) -> None:
    dev = FakeDevice(fail={step: errno.EINVAL})
    wd = DeviceWatchdog("/dev/wd0", io=dev)
    with pytest.raises(WatchdogError) as exc:
        wd.arm(4)
    msg = str(exc.value)
    assert "/dev/wd0" in msg and ioctl in msg and "Invalid argument" in msg
    assert "magic close" in msg and "wdctl" in msg
    assert dev.calls[-2:] == [("write", b"V"), ("close",)]
    assert not dev.open_fds and wd.effective_timeout_s is None
    wd.feed()
    wd.disarm()  # nothing open: neither writes nor closes
    assert dev.calls[-2:] == [("write", b"V"), ("close",)]


def test_a_timeout_read_back_as_zero_is_refused() -> None:
    dev = FakeDevice(get_returns=0)
    with pytest.raises(WatchdogError, match="reports a timeout of 0 s"):
        DeviceWatchdog("/dev/wd", io=dev).arm(4)
    assert not dev.open_fds and dev.calls[-2:] == [("write", b"V"), ("close",)]


def test_the_device_is_closed_even_when_the_magic_close_write_fails() -> None:
    dev = FakeDevice(fail={"set": errno.ENOTTY, "write": errno.EIO})
    with pytest.raises(WatchdogError, match="Inappropriate ioctl"):
        DeviceWatchdog("/dev/wd", io=dev).arm(4)
    assert not dev.open_fds and dev.calls[-1] == ("close",)


def test_a_device_that_cannot_be_opened_says_why() -> None:
    dev = FakeDevice(fail={"open": errno.EBUSY})
    wd = DeviceWatchdog("/dev/wd1", io=dev)
    with pytest.raises(WatchdogError) as exc:
        wd.arm(4)
    assert "cannot open the watchdog device /dev/wd1" in str(exc.value)
    assert "busy" in str(exc.value) and "holds it" in str(exc.value)
    assert dev.calls == [("open", "/dev/wd1")] and wd.effective_timeout_s is None


# --------------------------------------------------------------------------- this machine


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_dev_null_is_a_character_device_but_no_watchdog() -> None:
    before = _open_fds()
    wd = open_watchdog("/dev/null", lambda: 0.0)
    assert isinstance(wd, DeviceWatchdog)  # a character device; arming tells
    with pytest.raises(WatchdogError) as exc:
        wd.arm(4)
    assert "/dev/null" in str(exc.value) and "WDIOC_SETTIMEOUT" in str(exc.value)
    assert os.strerror(errno.ENOTTY) in str(exc.value)
    assert wd.effective_timeout_s is None
    assert _open_fds() == before  # nothing left open


def test_open_watchdog_refuses_what_is_not_a_device(tmp_path: Path) -> None:
    assert isinstance(open_watchdog(None, lambda: 0.0), NoWatchdog)
    with pytest.raises(WatchdogError, match=r"there is no watchdog device .*missing.*"
                                            r"--watchdog-file"):
        open_watchdog(tmp_path / "missing", lambda: 0.0)
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(WatchdogError, match="is a regular file, not a watchdog device"):
        open_watchdog(f, lambda: 0.0)
    with pytest.raises(WatchdogError, match="is a directory, not a watchdog device"):
        open_watchdog(tmp_path, lambda: 0.0)
    assert not (tmp_path / "missing").exists() and f.read_text() == ""  # nothing written


def test_open_watchdog_with_allow_file_gives_a_verified_file_watchdog(tmp_path: Path) -> None:
    for path in (tmp_path / "new.json", tmp_path / "old.json"):
        if path.name == "old.json":
            path.write_text("{}")
        wd = open_watchdog(path, lambda: 5.0, allow_file=True)
        assert isinstance(wd, FileWatchdog) and wd.effective_timeout_s is None
        wd.arm(4)
        assert wd.effective_timeout_s == 4
        assert json.loads(path.read_text())["state"] == "armed"
    with pytest.raises(WatchdogError, match="it is a directory"):
        open_watchdog(tmp_path, lambda: 0.0, allow_file=True)
    with pytest.raises(WatchdogError, match="directory that does not exist"):
        open_watchdog(tmp_path / "no" / "wd.json", lambda: 0.0, allow_file=True)


def test_a_file_watchdog_is_verified_only_when_said_so(tmp_path: Path) -> None:
    plain = FileWatchdog(tmp_path / "a", lambda: 1.0)
    plain.arm(4)
    assert plain.effective_timeout_s is None  # armed, but nothing plays the hardware
    lab = FileWatchdog(tmp_path / "b", lambda: 1.0, verified=True)
    lab.arm(4)
    assert lab.effective_timeout_s == 4
    lab.disarm()
    assert lab.effective_timeout_s is None
    assert json.loads((tmp_path / "b").read_text())["state"] == "disarmed"
    with pytest.raises(WatchdogError, match="cannot write the file watchdog"):
        FileWatchdog(tmp_path / "no" / "c", lambda: 1.0, verified=True).arm(4)
    assert NoWatchdog().effective_timeout_s is None


# --------------------------------------------------------------------------- pacer agent


def _agent(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pacer", "agent", "--node", "t1",
                           "--state-dir", str(cwd / "state"),
                           "--endpoints", "http://127.0.0.1:9", *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd, env=env)


def test_agent_refuses_a_watchdog_that_is_not_a_device(tmp_path: Path) -> None:
    r = _agent("--watchdog", "/nonexistent", cwd=tmp_path)
    assert r.returncode == 1
    assert "pacer agent: error: there is no watchdog device /nonexistent" in r.stderr
    assert "etcd" not in r.stderr  # refused before anything else
    f = tmp_path / "wd.json"
    f.write_text("")
    r = _agent("--watchdog", str(f), cwd=tmp_path)
    assert r.returncode == 1 and "is a regular file, not a watchdog device" in r.stderr
    assert f.read_text() == ""  # no silent file watchdog
    r = _agent("--watchdog-file", "/dev/null", cwd=tmp_path)
    assert r.returncode == 1 and "is a device" in r.stderr
    assert not (tmp_path / "state").exists()  # the state dir was never touched


def test_agent_refuses_to_start_when_the_device_cannot_be_armed(tmp_path: Path) -> None:
    # /dev/null is a character device whose ioctls fail: the daemon's boot arms
    # it (after the etcd probe, which fails here and only warns) and stops.
    r = _agent("--watchdog", "/dev/null", cwd=tmp_path)
    assert r.returncode == 1
    assert "pacer agent: error: cannot start: the watchdog device /dev/null refused" \
        in r.stderr
    assert "joined" not in r.stderr
