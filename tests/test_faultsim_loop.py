"""The virtual-time loop: time jumps instead of passing, processes freeze and die,
clocks drift, and everything happens in the same order every time."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from pacer.faultsim.loop import PROC, DriftClock, Proc, SimulationStalled, VirtualTimeLoop


def test_an_hour_of_sleeping_takes_no_time() -> None:
    loop = VirtualTimeLoop()
    ticks: list[float] = []

    async def main() -> None:
        for _ in range(3600):
            await asyncio.sleep(1.0)
            ticks.append(loop.time())

    t0 = time.perf_counter()
    loop.run_until_complete(main())
    assert time.perf_counter() - t0 < 2.0
    assert loop.now == pytest.approx(3600.0)
    assert ticks[:3] == [1.0, 2.0, 3.0]
    loop.close()


def test_wait_for_and_timeouts_run_on_virtual_time() -> None:
    loop = VirtualTimeLoop()

    async def main() -> float:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 30)
        async with asyncio.timeout(5):
            await asyncio.sleep(1)
        return loop.time()

    assert loop.run_until_complete(main()) == pytest.approx(31.0)
    loop.close()


def test_everything_waits_for_ever_is_reported() -> None:
    loop = VirtualTimeLoop()
    with pytest.raises(SimulationStalled):
        loop.run_until_complete(asyncio.Event().wait())
    loop.close()


def _order_of_a_run() -> list[str]:
    loop = VirtualTimeLoop()
    out: list[str] = []

    async def worker(name: str, period: float) -> None:
        for i in range(5):
            await asyncio.sleep(period)
            out.append(f"{name}{i}")

    async def main() -> None:
        tasks = {loop.create_task(worker(n, p)) for n, p in
                 (("a", 0.5), ("b", 0.25), ("c", 0.5), ("d", 1.0))}
        # Iterating a set of tasks: by creation order, not by memory address.
        out.append(",".join(str(hash(t)) for t in tasks))
        await asyncio.gather(*tasks)

    loop.run_until_complete(main())
    loop.close()
    return out


def test_runs_are_identical() -> None:
    assert _order_of_a_run() == _order_of_a_run()


def test_a_frozen_process_makes_no_progress_until_thawed() -> None:
    loop = VirtualTimeLoop()
    seen: list[tuple[str, float]] = []

    async def ticker(name: str) -> None:
        while True:
            await asyncio.sleep(1.0)
            seen.append((name, loop.now))

    async def main() -> None:
        a, b = Proc("a"), Proc("b")
        loop.spawn(a, ticker("a"))
        loop.spawn(b, ticker("b"))
        await asyncio.sleep(2.5)
        loop.freeze(a)
        await asyncio.sleep(3.0)
        loop.thaw(a)
        await asyncio.sleep(1.0)
        loop.kill(b)
        await asyncio.sleep(2.0)

    loop.run_until_complete(main())
    a_times = [t for n, t in seen if n == "a"]
    b_times = [t for n, t in seen if n == "b"]
    # Frozen from 2.5 to 5.5: the tick due at 3.0 runs at the thaw, then every second.
    assert a_times == [1.0, 2.0, 5.5, 6.5, 7.5, 8.5]
    # Killed at 6.5: nothing after that, and no cleanup ran.
    assert b_times == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    loop.teardown()
    loop.close()


def test_a_drifting_clock_runs_fast_or_slow() -> None:
    loop = VirtualTimeLoop()
    local: list[float] = []

    async def sleeper() -> None:
        await asyncio.sleep(10.0)  # 10 s of the process's own clock
        local.append(loop.time())

    async def main() -> None:
        fast = Proc("fast", DriftClock())
        assert fast.clock is not None
        fast.clock.set_rate(loop.now, 0.25)
        t = loop.spawn(fast, sleeper())
        await t

    loop.run_until_complete(main())
    assert local == [pytest.approx(10.0)]
    assert loop.now == pytest.approx(8.0)  # 10 local seconds at 1.25x speed
    loop.close()


def test_drift_rebases_without_jumps() -> None:
    c = DriftClock()
    c.set_rate(0.0, 0.1)
    assert c.local(10.0) == pytest.approx(11.0)
    c.set_rate(10.0, -0.1)
    assert c.local(10.0) == pytest.approx(11.0)
    assert c.local(20.0) == pytest.approx(20.0)
    assert c.to_global(c.local(17.0)) == pytest.approx(17.0)


def test_a_stalled_loop_runs_what_arrived_before_the_timers_that_came_due() -> None:
    """loop-stall: after a callback that blocked the loop, asyncio runs the I/O
    callbacks that arrived meanwhile before the timers that came due; freeze
    keeps the order in which they became ready. (A task waiting on either
    continues one callback later, after both.)"""
    def once(io_first: bool) -> tuple[bool, list[str]]:
        loop = VirtualTimeLoop()
        seen: list[str] = []

        async def main() -> bool:
            p = Proc("p")
            ctx = contextvars.Context()
            ctx.run(PROC.set, p)
            loop.call_later(1.0, seen.append, "timer", context=ctx)
            await asyncio.sleep(0.5)
            loop.freeze(p)
            await asyncio.sleep(1.0)  # the timer comes due at 1.0, held
            loop.call_soon(seen.append, "io", context=ctx)  # "I/O" arrives at 1.5, held
            await asyncio.sleep(1.0)
            assert seen == []
            changed = loop.thaw(p, io_first=io_first)
            await asyncio.sleep(0.1)
            return changed

        changed = loop.run_until_complete(main())
        loop.teardown()
        loop.close()
        return changed, seen

    assert once(False) == (False, ["timer", "io"])
    assert once(True) == (True, ["io", "timer"])


def test_a_paused_vm_s_timers_and_clock_skip_the_pause() -> None:
    """vm-pause: the process's monotonic clock does not count the pause, so a
    timer due during it (or after it) fires that much later."""
    loop = VirtualTimeLoop()
    fired: list[tuple[float, float]] = []
    clock = DriftClock()

    async def sleeper(d: float) -> None:
        await asyncio.sleep(d)
        fired.append((loop.now, loop.time()))

    async def main() -> None:
        p = Proc("vm", clock)
        loop.spawn(p, sleeper(2.0))  # due at 2: during the pause
        loop.spawn(p, sleeper(6.0))  # due at 6: after it
        await asyncio.sleep(1.0)
        loop.freeze(p)
        await asyncio.sleep(3.0)  # paused from 1 to 4
        clock.skip(1.0, 4.0)
        loop.shift_timers(p, 1.0, 3.0)
        loop.thaw(p, io_first=True)
        await asyncio.sleep(10.0)

    loop.run_until_complete(main())
    # Global 5 and 9; the VM's own clock says 2 and 6, as if nothing happened.
    assert fired == [(pytest.approx(5.0), pytest.approx(2.0)),
                     (pytest.approx(9.0), pytest.approx(6.0))]
    loop.teardown()
    loop.close()
