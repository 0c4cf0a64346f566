"""Helpers for the node daemon tests: virtual time, a fake agent runner and a
fake watchdog device.

`run_virtual(coro_fn)` runs a coroutine on the fault simulator's event loop
(`pacer.faultsim.loop.VirtualTimeLoop`), whose clock jumps to the next timer
whenever nothing is ready, so lease TTLs, keepalives and monitor intervals
take no real time and every run is the same; every task waits and no timer is
set: `SimulationStalled` at once. The loop does no I/O (a subprocess, a
socket would never be heard): use the fake runner there.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pacer.agents.api import ActionRequest as AgentRequest
from pacer.agents.api import ActionResult
from pacer.faultsim.loop import VirtualTimeLoop
from pacer.node.watchdog import WDIOC_GETTIMEOUT, WDIOC_SETTIMEOUT

T = TypeVar("T")
EPOCH = 1_700_000_000.0


class LoopClock:
    """A `Clock` reading the running loop's (virtual) time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def now(self) -> float:
        return self.loop.time()


def run_virtual(coro_fn: Callable[[], Awaitable[T]], limit: float = 3600.0) -> T:
    """Run `coro_fn()` on virtual time; fails if it takes more than `limit` virtual s."""
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), limit)
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(bounded())


# --------------------------------------------------------------------------- fake agents


@dataclass
class FakeRunner:
    """Agents as a dict: which instances run (and in which role) on one node.

    `fail` maps (instance, action) to the rc that action returns from then on;
    `hang` holds (instance, action) pairs that never finish (until cancelled);
    every call is logged in `calls` as (instance, action, interval_ms).
    """

    running: dict[str, str] = field(default_factory=dict)  # instance -> "started"/"promoted"
    fail: dict[tuple[str, str], int] = field(default_factory=dict)
    hang: set[tuple[str, str]] = field(default_factory=set)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    requests: list[AgentRequest] = field(default_factory=list)
    # (instance, action, loop time started, loop time ended) of finished runs
    spans: list[tuple[str, str, float, float]] = field(default_factory=list)
    duration: float = 0.01

    def actions(self, instance: str | None = None) -> list[str]:
        return [a for i, a, _ in self.calls if instance is None or i == instance]

    async def run(self, request: AgentRequest) -> ActionResult:
        name, action = request.instance_name, request.action
        self.calls.append((name, action, request.interval_ms))
        self.requests.append(request)
        loop = asyncio.get_running_loop()
        began = loop.time()
        if (name, action) in self.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(self.duration)
        self.spans.append((name, action, began, loop.time()))
        rc = self.fail.get((name, action))
        if rc is not None:
            if action == "start":
                self.running[name] = "started"  # a failed start leaves a mess behind
            return ActionResult(rc=rc, exit_reason="injected failure")
        if action == "start":
            self.running[name] = "started"
        elif action == "stop":
            self.running.pop(name, None)
        elif action == "promote":
            self.running[name] = "promoted"
        elif action == "demote":
            self.running[name] = "started"
        elif action == "monitor":
            state = self.running.get(name)
            return ActionResult(rc={None: 7, "started": 0, "promoted": 8}[state])
        return ActionResult(rc=0)


# --------------------------------------------------------------------------- fake watchdog device


@dataclass
class FakeDevice:
    """A watchdog driver: SETTIMEOUT stores the timeout rounded up to `step`
    (drivers round or clamp), GETTIMEOUT returns it; any call in `fail` raises."""

    step: int = 1
    fail: dict[str, int] = field(default_factory=dict)  # "open"/"set"/"get"/"write" -> errno
    get_returns: int | None = None  # what GETTIMEOUT says, if not the stored timeout
    calls: list[tuple] = field(default_factory=list)
    open_fds: set[int] = field(default_factory=set)
    timeout: int = 60  # the driver's default
    next_fd: int = 100

    def _maybe_fail(self, what: str) -> None:
        if what in self.fail:
            raise OSError(self.fail[what], os.strerror(self.fail[what]))

    def open(self, path: str) -> int:
        self.calls.append(("open", path))
        self._maybe_fail("open")
        self.next_fd += 1
        self.open_fds.add(self.next_fd)
        return self.next_fd

    def ioctl_int(self, fd: int, request: int, value: int) -> int:
        assert fd in self.open_fds
        if request == WDIOC_SETTIMEOUT:
            self.calls.append(("set", value))
            self._maybe_fail("set")
            self.timeout = -(-value // self.step) * self.step
            return self.timeout
        if request == WDIOC_GETTIMEOUT:
            self.calls.append(("get",))
            self._maybe_fail("get")
            return self.timeout if self.get_returns is None else self.get_returns
        raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))

    def write(self, fd: int, data: bytes) -> None:
        assert fd in self.open_fds
        self.calls.append(("write", data))
        self._maybe_fail("write")

    def close(self, fd: int) -> None:
        self.calls.append(("close",))
        self.open_fds.remove(fd)
