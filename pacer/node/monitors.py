"""Recurring monitors: one task per (instance, interval), each run bounded by
its timeout and serialised with the instance's other actions.

The request that registers a monitor is its first run (the executor records
that one); the tasks here run it every interval afterwards and hand each
result to `on_result`, which records it only when rc or op_status changed
(`changed()`), as Pacemaker does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pacer.agents.api import ActionResult, AgentRunner
from pacer.node.mapping import RunPlan
from pacer.tasks import stop_tasks


@dataclass
class Monitor:
    plan: RunPlan
    call_id: int  # of the request that registered it
    rc: int  # last recorded
    op_status: int
    last_rc_change: int  # epoch s of the last recorded change


def changed(mon: Monitor, result: ActionResult) -> bool:
    return (result.rc, result.op_status) != (mon.rc, mon.op_status)


class Locks:
    """One lock per history id: an instance's agent runs one at a time."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, hist_id: str) -> asyncio.Lock:
        lock = self._locks.get(hist_id)
        if lock is None:
            lock = self._locks[hist_id] = asyncio.Lock()
        return lock


OnResult = Callable[[Monitor, ActionResult], Awaitable[None]]


class RecurringMonitors:
    def __init__(self, runner: AgentRunner, locks: Locks, on_result: OnResult,
                 log: logging.LoggerAdapter) -> None:
        self.runner = runner
        self.locks = locks
        self.on_result = on_result
        self.log = log
        self._tasks: dict[tuple[str, int], tuple[asyncio.Task, Monitor]] = {}

    def active(self) -> list[tuple[str, int]]:
        return sorted(self._tasks)

    def get(self, hist_id: str, interval_ms: int) -> Monitor | None:
        entry = self._tasks.get((hist_id, interval_ms))
        return entry[1] if entry else None

    async def start(self, mon: Monitor) -> None:
        key = (mon.plan.hist_id, mon.plan.request.interval_ms)
        await self.cancel(*key)
        task = asyncio.get_running_loop().create_task(
            self._loop(mon), name=f"monitor {key[0]} {key[1]}ms")
        self._tasks[key] = (task, mon)

    async def cancel(self, hist_id: str, interval_ms: int | None = None) -> list[int]:
        """Cancel one monitor of an instance, or all (None); returns their intervals."""
        keys = [k for k in self._tasks if k[0] == hist_id
                and (interval_ms is None or k[1] == interval_ms)]
        await self._stop(keys)
        return [k[1] for k in keys]

    async def cancel_all(self) -> None:
        await self._stop(list(self._tasks))

    async def _stop(self, keys: list[tuple[str, int]]) -> None:
        # A cancelled agent run kills its process group (AgentRunner's contract).
        await stop_tasks([self._tasks.pop(k)[0] for k in keys])

    async def _loop(self, mon: Monitor) -> None:
        interval = mon.plan.request.interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            async with self.locks(mon.plan.hist_id):
                try:
                    result = await self.runner.run(mon.plan.agent_request)
                except Exception as exc:  # an agent runner bug must not end the monitor
                    self.log.exception("monitor of %s failed to run", mon.plan.hist_id)
                    result = ActionResult(rc=1, op_status=4, exit_reason=f"runner error: {exc}")
            await self.on_result(mon, result)
