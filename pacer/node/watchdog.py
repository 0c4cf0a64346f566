"""Watchdogs the node daemon feeds on every confirmed keepalive.

A frozen host cannot fence itself; a watchdog outside the daemon can. The
daemon arms it at boot with `NodeConfig.watchdog_timeout_s`, feeds it after
each keepalive etcd confirmed, never during a self-fence (if stopping hangs,
the host is reset), and disarms it only on a clean shutdown.

A node tells the cluster it has a watchdog (the controller may then count it
fenced by waiting) only when its watchdog is *verified*: armed, with the
effective timeout read back (`effective_timeout_s`, None otherwise).

- `DeviceWatchdog`: a Linux watchdog device (`/dev/watchdog`-style). Opening
  one arms a hardware reset; tests must never construct one for
  /dev/watchdog*: they inject a fake `DeviceIO`.
- `FileWatchdog`: writes each feed to a file, for tests and for the lab, whose
  watchdog lives outside the host's namespace and reads that file. Verified
  only when built with `verified=True` (something outside plays the hardware).
- `NoWatchdog`: nothing.

`open_watchdog` picks one for a path and refuses, with a `WatchdogError`
saying why and what to do, a path that is not a watchdog device.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import struct
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, Protocol

# --------------------------------------------------------------------------- ioctl numbers
# <asm-generic/ioctl.h>: _IOC(dir, type, nr, size) = dir << 30 | size << 16 |
# type << 8 | nr, with _IOC_WRITE = 1 and _IOC_READ = 2 (x86, arm, arm64,
# riscv, s390). powerpc, mips, sparc and alpha put a 3-bit dir at bit 29 with
# _IOC_READ = 2 and _IOC_WRITE = 4.
if platform.machine().lower().startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
    _DIRSHIFT, _IOC_WRITE, _IOC_READ = 29, 4, 2
else:
    _DIRSHIFT, _IOC_WRITE, _IOC_READ = 30, 1, 2


def _ioc(direction: int, kind: str, nr: int, size: int) -> int:
    return (direction << _DIRSHIFT) | (size << 16) | (ord(kind) << 8) | nr


_INT = struct.calcsize("i")
# linux/watchdog.h: WDIOC_SETTIMEOUT = _IOWR('W', 6, int); WDIOC_GETTIMEOUT =
# _IOR('W', 7, int). On x86_64: 0xC0045706 and 0x80045707 (what gcc prints for
# the header's macros; tests/test_node_watchdog.py checks it when gcc is there).
WDIOC_SETTIMEOUT = _ioc(_IOC_READ | _IOC_WRITE, "W", 6, _INT)
WDIOC_GETTIMEOUT = _ioc(_IOC_READ, "W", 7, _INT)

# What to say when a watchdog cannot be used.
_FILE_HINT = ("A file watchdog (`pacer agent --watchdog-file`) is for the lab and tests "
              "only: an external process must play the hardware.")


class WatchdogError(Exception):
    """A watchdog was asked for and cannot be used: what failed, where, what to do."""


class Watchdog(Protocol):
    @property
    def effective_timeout_s(self) -> int | None:
        """Whole seconds the armed watchdog waits after its last feed before it
        resets the host, as the watchdog itself reported it; None when this is
        no verified watchdog (none at all, a test stand-in, not armed)."""
        ...

    def arm(self, timeout_s: int) -> None:
        """Start the countdown (raises WatchdogError when it cannot)."""
        ...

    def feed(self) -> None: ...

    def disarm(self) -> None:
        """Stop the countdown for good (a clean shutdown)."""
        ...


class NoWatchdog:
    effective_timeout_s: int | None = None

    def arm(self, timeout_s: int) -> None:
        pass

    def feed(self) -> None:
        pass

    def disarm(self) -> None:
        pass


# --------------------------------------------------------------------------- device


class DeviceIO(Protocol):
    """The system calls a `DeviceWatchdog` makes (tests inject a fake)."""

    def open(self, path: str) -> int: ...

    def ioctl_int(self, fd: int, request: int, value: int) -> int:
        """An ioctl whose argument is a pointer to one int; returns the int after it."""
        ...

    def write(self, fd: int, data: bytes) -> None: ...

    def close(self, fd: int) -> None: ...


class OsDeviceIO:
    """The real calls: `os` and `fcntl`."""

    def open(self, path: str) -> int:
        return os.open(path, os.O_WRONLY | os.O_CLOEXEC)

    def ioctl_int(self, fd: int, request: int, value: int) -> int:
        buf = bytearray(struct.pack("i", int(value)))
        fcntl.ioctl(fd, request, buf, True)
        return int(struct.unpack("i", buf)[0])

    def write(self, fd: int, data: bytes) -> None:
        os.write(fd, data)

    def close(self, fd: int) -> None:
        os.close(fd)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


class DeviceWatchdog:
    """/dev/watchdog semantics: open arms, every write feeds, writing 'V' before
    close disarms (unless the driver has nowayout).

    `arm` sets the timeout (WDIOC_SETTIMEOUT) and reads back the one the driver
    actually uses (WDIOC_GETTIMEOUT): drivers round it or clamp it to their
    range. If the open or either ioctl fails it raises WatchdogError, after
    closing the device with the magic close so no countdown is left running."""

    def __init__(self, path: str | Path, io: DeviceIO | None = None) -> None:
        self.path = str(path)
        self.io: DeviceIO = io if io is not None else OsDeviceIO()
        self._fd: int | None = None
        self._timeout: int | None = None

    @property
    def effective_timeout_s(self) -> int | None:
        return self._timeout if self._fd is not None else None

    def arm(self, timeout_s: int) -> None:
        if self._fd is not None:
            return
        want = int(timeout_s)
        try:
            fd = self.io.open(self.path)
        except OSError as exc:
            raise WatchdogError(
                f"cannot open the watchdog device {self.path}: {_why(exc)}. Check that its "
                "driver is loaded, that pacer runs as root, and that no other program holds "
                "it (a watchdog daemon, systemd's RuntimeWatchdogSec=, sbd, wdmd)") from exc
        try:
            self.io.ioctl_int(fd, WDIOC_SETTIMEOUT, want)
        except OSError as exc:
            self._fail(fd, f"the watchdog device {self.path} refused a timeout of {want} s "
                       f"(WDIOC_SETTIMEOUT: {_why(exc)}): it is no watchdog, or its driver "
                       f"cannot set a timeout or not {want} s. Use a watchdog whose driver "
                       "can (`wdctl` shows its flags and timeout range), or a --lease-ttl "
                       "whose watchdog timeout fits that range", exc)
        try:
            got = self.io.ioctl_int(fd, WDIOC_GETTIMEOUT, 0)
        except OSError as exc:
            self._fail(fd, f"the watchdog device {self.path} does not say which timeout it "
                       f"uses (WDIOC_GETTIMEOUT: {_why(exc)}); pacer claims a watchdog only "
                       "when it knows when the host is reset. Use a watchdog whose driver "
                       "reports its timeout (`wdctl` shows it)", exc)
        if got <= 0:
            self._fail(fd, f"the watchdog device {self.path} reports a timeout of {got} s "
                       f"after pacer set {want} s; pacer claims a watchdog only with a "
                       "positive one", None)
        self._fd = fd
        self._timeout = got

    def _fail(self, fd: int, message: str, cause: OSError | None) -> NoReturn:
        """Close the device with the magic close (no countdown left running), then raise."""
        with contextlib.suppress(OSError):
            self.io.write(fd, b"V")  # the "magic close"
        with contextlib.suppress(OSError):
            self.io.close(fd)  # Linux frees the descriptor even when close fails
        raise WatchdogError(f"{message}. The device was closed with the magic close, "
                            "which stops its countdown unless the driver has nowayout "
                            "(then the host is reset)") from cause

    def feed(self) -> None:
        if self._fd is not None:
            self.io.write(self._fd, b"\0")

    def disarm(self) -> None:
        if self._fd is None:
            return
        fd, self._fd, self._timeout = self._fd, None, None
        try:
            self.io.write(fd, b"V")  # the "magic close"
        finally:
            self.io.close(fd)


# --------------------------------------------------------------------------- file


class FileWatchdog:
    """Records arm/feed/disarm in a JSON file (atomically replaced), with the
    epoch time of each feed: `{"state": "armed", "timeout": 4, "fed": 1700000000.5,
    "feeds": 12}`. Whoever plays the hardware resets the host when `fed` +
    `timeout` passes.

    It counts as a verified watchdog (`effective_timeout_s` set once armed)
    only with `verified=True`: something outside the host reads the file and
    resets it (the lab's watchdog process, a test playing the hardware)."""

    def __init__(self, path: str | Path, wall: Callable[[], float], *,
                 verified: bool = False) -> None:
        self.path = Path(path)
        self.wall = wall
        self.verified = verified
        self.timeout = 0
        self.feeds = 0
        self.state = "disarmed"

    @property
    def effective_timeout_s(self) -> int | None:
        return self.timeout if self.verified and self.state == "armed" else None

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"state": self.state, "timeout": self.timeout,
                                   "fed": self.wall(), "feeds": self.feeds}))
        tmp.replace(self.path)

    def arm(self, timeout_s: int) -> None:
        self.timeout = int(timeout_s)
        self.state = "armed"
        try:
            self._write()
        except OSError as exc:
            self.state = "disarmed"
            raise WatchdogError(f"cannot write the file watchdog {self.path}: "
                                f"{_why(exc)}") from exc

    def feed(self) -> None:
        if self.state == "armed":
            self.feeds += 1
            self._write()

    def disarm(self) -> None:
        self.state = "disarmed"
        self._write()


# --------------------------------------------------------------------------- choosing


def open_watchdog(path: str | Path | None, wall: Callable[[], float], *,
                  allow_file: bool = False) -> Watchdog:
    """The watchdog at `path` (None: none), not armed yet.

    A character device is a `DeviceWatchdog` (whether it really is a watchdog
    shows when it is armed). Anything else raises WatchdogError, unless
    `allow_file` (the lab and tests): then a regular file, or a path not there
    yet in an existing directory, is a verified `FileWatchdog`."""
    if path is None:
        return NoWatchdog()
    p = Path(path)
    if p.is_char_device():
        return DeviceWatchdog(p)
    if allow_file:
        if p.is_file() or (not p.exists() and not p.is_symlink() and p.parent.is_dir()):
            return FileWatchdog(p, wall, verified=True)
        what = ("is a directory" if p.is_dir() else
                "is in a directory that does not exist" if not p.exists() else
                "is neither a regular file nor a character device")
        raise WatchdogError(f"cannot use {p} as a file watchdog: it {what}")
    if not p.exists():
        raise WatchdogError(
            f"there is no watchdog device {p}: load its driver (your hardware's, e.g. "
            "iTCO_wdt, or softdog, which cannot reset a hung kernel) or name the device "
            f"that exists (`wdctl` lists it). {_FILE_HINT}")
    what = ("a regular file" if p.is_file() else "a directory" if p.is_dir() else
            "not a character device")
    raise WatchdogError(f"{p} is {what}, not a watchdog device: name the device "
                        f"(`wdctl` lists it, usually /dev/watchdog). {_FILE_HINT}")
