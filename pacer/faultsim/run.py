"""One simulation: a seed (and its fault schedule) in, a verdict and a trace out."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pacer.faultsim.config import SimConfig
from pacer.faultsim.faults import Fault, generate
from pacer.faultsim.invariants import Violation, first_violation
from pacer.faultsim.loop import SimulationStalled, VirtualTimeLoop
from pacer.faultsim.trace import Trace
from pacer.faultsim.world import DaemonFactory, World


@dataclass
class RunResult:
    seed: int
    config: SimConfig
    faults: list[Fault]
    violations: list[Violation]
    trace: Trace
    sim_seconds: float  # virtual time the cluster lived
    wall_seconds: float
    steps: int  # callbacks the loop ran
    heal_at: float = 0.0
    converged_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def first(self) -> Violation | None:
        return first_violation(self.violations)


def default_factory() -> DaemonFactory:
    from pacer.faultsim.daemons import pacer_process

    return pacer_process


def run(config: SimConfig, seed: int, faults: Sequence[Fault] | None = None, *,
        factory: DaemonFactory | None = None, echo: Callable[[str], None] | None = None,
        verbose: bool = False, stop_on_violation: bool = True) -> RunResult:
    """Simulate `config` with the schedule of `seed` (or the `faults` given)."""
    schedule = generate(seed, config) if faults is None else list(faults)
    factory = factory or default_factory()
    # A safety net: code that draws from the global random draws the same numbers.
    state = random.getstate()
    random.seed(seed)
    loop = VirtualTimeLoop()
    trace = Trace(echo, verbose)
    world = World(config, seed, schedule, factory, trace, loop)
    world.stop_on_violation = stop_on_violation

    def on_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        msg = context.get("message", "")
        world.checker.violate("daemon-error", f"{msg}: {type(exc).__name__}: {exc}"
                              if exc else msg)

    loop.set_exception_handler(on_error)
    t0 = time.perf_counter()
    try:
        loop.run_until_complete(world.main())
    except SimulationStalled as exc:  # and Livelock
        world.checker.violate("stalled", str(exc))
    finally:
        # A task that died of an exception nobody looked at (a recurring
        # monitor, say): asyncio would only log it when it is collected.
        for proc, task in loop.lost_exceptions():
            exc = task.exception()
            world.checker.violate("daemon-error", f"task {task.get_name()!r} of {proc.name} died: "
                                  f"{type(exc).__name__}: {exc}", proc.name.split("#")[0])
        wall = time.perf_counter() - t0
        sim = loop.now
        loop.set_exception_handler(lambda _loop, _ctx: None)
        trace.echo = None
        world.finished = True
        world.free_disks()
        # The trace is complete: what processes do while they unwind is not news.
        world.trace = Trace()
        abandoned = loop.teardown()
        loop.close()
        world.cleanup()
        random.setstate(state)
    return RunResult(seed=seed, config=config, faults=schedule, violations=world.violations,
                     trace=trace, sim_seconds=sim, wall_seconds=wall, steps=loop.steps,
                     heal_at=world.heal_at, converged_at=world.converged_at,
                     extra={"abandoned_tasks": abandoned, "profile": world.profile,
                            "reached": sorted(world.reached),
                            "longest": dict(sorted(world.longest.items()))})

