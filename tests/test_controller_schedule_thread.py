"""The controller schedules off its event loop: a long schedule does not
silence this node's heartbeats (peers depose a controller silent for 0.25 s;
500 resources on 16 nodes take pacer's scheduler 0.16-0.23 s)."""

from __future__ import annotations

import asyncio
import time

import pytest

import pacer.controller.controller as controller_module
from pacer.clock import MonotonicClock
from pacer.controller.config import ControllerConfig
from pacer.controller.controller import Controller
from pacer.controller.offload import in_worker_thread, inline
from pacer.store.cluster import ClusterStore
from pacer.store.memory import MemoryCluster


def _loop_ran_during_a_schedule(monkeypatch: pytest.MonkeyPatch, in_thread: bool) -> bool:
    ticks = 0

    def slow_schedule(defn: object, status: object, now: int) -> bool:
        # Busy (holding the GIL as the real scheduler does) until the loop has
        # ticked five times, or for 3 s: on the loop's own thread it never can.
        start = ticks
        deadline = time.monotonic() + 3.0
        while ticks < start + 5 and time.monotonic() < deadline:
            sum(range(1000))
        return ticks >= start + 5

    monkeypatch.setattr(controller_module, "schedule", slow_schedule)

    async def body() -> bool:
        nonlocal ticks
        clock = MonotonicClock()
        cluster = ClusterStore(MemoryCluster(clock).client("n1"), "t")
        ctl = Controller(cluster, None, None, clock, time.time,  # type: ignore[arg-type]
                         ControllerConfig(node="n1"),
                         offload=in_worker_thread if in_thread else inline)

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.create_task(ticker())
        try:
            await asyncio.sleep(0.02)
            return bool(await ctl._schedule(None, None, 0))  # type: ignore[arg-type]
        finally:
            t.cancel()

    return asyncio.run(body())


def test_the_loop_runs_while_the_controller_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _loop_ran_during_a_schedule(monkeypatch, in_thread=True)


def test_inline_scheduling_holds_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # what the fault simulator does (virtual time has no threads), and what
    # the test above would see without the worker thread
    assert not _loop_ran_during_a_schedule(monkeypatch, in_thread=False)
