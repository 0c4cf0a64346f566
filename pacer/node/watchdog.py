"""Watchdogs the node daemon feeds on every confirmed keepalive.

A frozen host cannot fence itself; a watchdog outside the daemon can. The
daemon arms it at boot with `NodeConfig.watchdog_timeout_s`, feeds it after
each keepalive etcd confirmed, never during a self-fence (if stopping hangs,
the host is reset), and disarms it only on a clean shutdown.

- `DeviceWatchdog`: a Linux watchdog device (`/dev/watchdog`-style). Opening
  one arms a hardware reset; tests must never construct one for /dev/watchdog*.
- `FileWatchdog`: writes each feed to a file, for tests and for the lab, whose
  watchdog lives outside the host's namespace and reads that file.
- `NoWatchdog`: nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

# linux/watchdog.h: _IOWR('W', 6, int)
WDIOC_SETTIMEOUT = 0xC0045706


class Watchdog(Protocol):
    def arm(self, timeout_s: int) -> None: ...

    def feed(self) -> None: ...

    def disarm(self) -> None:
        """Stop the countdown for good (a clean shutdown)."""
        ...


class NoWatchdog:
    def arm(self, timeout_s: int) -> None:
        pass

    def feed(self) -> None:
        pass

    def disarm(self) -> None:
        pass


class DeviceWatchdog:
    """/dev/watchdog semantics: open arms, every write feeds, writing 'V' before
    close disarms (unless the driver has nowayout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._fd: int | None = None

    def arm(self, timeout_s: int) -> None:
        if self._fd is not None:
            return
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(self._fd, WDIOC_SETTIMEOUT, struct.pack("i", int(timeout_s)))
        except OSError:
            pass  # the driver's fixed timeout stays; the daemon logs the device it armed

    def feed(self) -> None:
        if self._fd is not None:
            os.write(self._fd, b"\0")

    def disarm(self) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, b"V")  # the "magic close"
        finally:
            os.close(self._fd)
            self._fd = None


class FileWatchdog:
    """Records arm/feed/disarm in a JSON file (atomically replaced), with the
    epoch time of each feed: `{"state": "armed", "timeout": 4, "fed": 1700000000.5,
    "feeds": 12}`. Whoever plays the hardware resets the host when `fed` +
    `timeout` passes."""

    def __init__(self, path: str | Path, wall: Callable[[], float]) -> None:
        self.path = Path(path)
        self.wall = wall
        self.timeout = 0
        self.feeds = 0
        self.state = "disarmed"

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"state": self.state, "timeout": self.timeout,
                                   "fed": self.wall(), "feeds": self.feeds}))
        tmp.replace(self.path)

    def arm(self, timeout_s: int) -> None:
        self.timeout = int(timeout_s)
        self.state = "armed"
        self._write()

    def feed(self) -> None:
        if self.state == "armed":
            self.feeds += 1
            self._write()

    def disarm(self) -> None:
        self.state = "disarmed"
        self._write()


def open_watchdog(path: str | Path | None, wall: Callable[[], float]) -> Watchdog:
    """A character device (a real watchdog) or else a file watchdog; None: none."""
    if path is None:
        return NoWatchdog()
    p = Path(path)
    if p.is_char_device():
        return DeviceWatchdog(p)
    return FileWatchdog(p, wall)
