"""A virtual-time asyncio event loop.

Unmodified daemon code (asyncio.sleep, wait_for, timeout, Event, Queue, tasks)
runs on it, but time is a number the loop moves itself: when no callback is
ready it jumps straight to the next timer instead of sleeping, so an hour of
cluster life takes as long as its callbacks take to run. There is no I/O.

Determinism: ready callbacks run in FIFO order and timers in (time, insertion)
order (asyncio leaves timers due at the same instant in heap order, which
is deterministic too, but harder to reason about); what asyncio leaves to chance is hashing by
address — tasks and futures in sets (TaskGroup, asyncio.wait, all_tasks)
iterate in address order — so every task and future this loop makes hashes by
a sequence number instead.

Processes: a callback belongs to the `Proc` found in its context (tasks inherit
the context they were created in, so everything a node daemon spawns belongs to
its host's process). A frozen process's callbacks wait, in order, until it is
thawed; a dead process's never run again (a crashed process runs no `finally`
blocks) until `teardown()` lets them unwind after the run is over. Each process
may see its own drifting clock: `time()` and `call_at()` convert between its
local time and the loop's global time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import heapq
import itertools
import math
import sys
from asyncio import events, format_helpers
from collections import deque
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any

# The loop's cleanup threshold for cancelled timers, as in asyncio.base_events.
_MIN_SCHEDULED_TIMER_HANDLES = 100
_MIN_CANCELLED_FRACTION = 0.5


class SimulationStalled(RuntimeError):
    """Nothing is ready and no timer is pending: every task waits for ever."""


class Livelock(SimulationStalled):
    """Callbacks keep running and virtual time never moves: a busy loop."""


class ProcState(Enum):
    RUNNING = "running"
    FROZEN = "frozen"
    DEAD = "dead"


class DriftClock:
    """A host's local monotonic clock: piecewise linear in global virtual time.

    local(g) = base_local + (g - base_global) * (1 + rate). Changing the rate
    re-bases at the current instant, so local time never jumps or runs backwards.
    `rate` 0 and no offset is the identity (no float noise for drift-free hosts).
    """

    def __init__(self, offset: float = 0.0) -> None:
        self.base_global = 0.0
        self.base_local = offset
        self.rate = 0.0
        # (kept as a field, not computed: every clock read of every host asks)
        self.identity = offset == 0.0

    def local(self, g: float) -> float:
        if self.identity:
            return g
        return self.base_local + (g - self.base_global) * (1.0 + self.rate)

    def to_global(self, local: float) -> float:
        if self.identity:
            return local
        return self.base_global + (local - self.base_local) / (1.0 + self.rate)

    def skip(self, g_from: float, g_to: float) -> None:
        """The clock stood still from global `g_from` to `g_to` (a paused VM:
        CLOCK_MONOTONIC does not count the pause) and runs on from there."""
        self.base_local = self.local(g_from)
        self.base_global = g_to
        self.identity = self.rate == 0.0 and self.base_local == self.base_global

    def set_rate(self, g: float, rate: float) -> None:
        if rate <= -1.0:
            raise ValueError("a clock cannot stop or run backwards")
        self.base_local = self.local(g)
        self.base_global = g
        self.rate = rate
        self.identity = rate == 0.0 and self.base_local == self.base_global


class Proc:
    """One simulated process (a host's pacer daemon incarnation)."""

    def __init__(self, name: str, clock: DriftClock | None = None) -> None:
        self.name = name
        self.clock = clock
        self.state = ProcState.RUNNING
        # Callbacks held while frozen or dead, in the order they became ready.
        self.held: deque[events.Handle] = deque()
        # Strong references: a dead process's tasks must not be garbage-collected
        # (closing a coroutine runs its finally blocks) before teardown.
        self.tasks: list[asyncio.Task[Any]] = []
        self.prune_at = 1024

    def __repr__(self) -> str:
        return f"Proc({self.name}, {self.state.value})"


_RUNNING = ProcState.RUNNING


class _Timer(events.TimerHandle):
    """A TimerHandle whose cancel() is one call, not three (every asyncio.sleep
    and timeout cancels its timer, fired or not). Made by the loop outside
    debug mode."""

    __slots__ = ()

    def cancel(self) -> None:
        if not self._cancelled:
            loop = self._loop
            if self._scheduled:
                loop._timer_cancelled_count += 1  # BaseEventLoop._timer_handle_cancelled
            self._cancelled = True
            if loop._debug:
                self._repr = repr(self)
            self._callback = None
            self._args = None

PROC: contextvars.ContextVar[Proc | None] = contextvars.ContextVar("faultsim_proc",
                                                                   default=None)



def _next_seq(loop: asyncio.AbstractEventLoop) -> int:
    # Per loop, not per process: a second run in the same process must hash
    # (and so iterate its sets) exactly like the first.
    seq = getattr(loop, "_hash_seq", None)
    return next(seq) if seq is not None else 0


class SeqFuture(asyncio.Future):  # type: ignore[type-arg]
    """A future that hashes by creation order, not by address."""

    # (slots: no instance dict for the many futures a run makes; the number
    # is set by VirtualTimeLoop.create_future)
    __slots__ = ("_faultsim_seq",)

    def __hash__(self) -> int:
        return self._faultsim_seq


class SeqTask(asyncio.Task):  # type: ignore[type-arg]
    """A task that hashes by creation order, not by address."""

    __slots__ = ("_faultsim_seq",)

    def __init__(self, coro: Coroutine[Any, Any, Any], *, loop: asyncio.AbstractEventLoop,
                 context: contextvars.Context | None = None) -> None:
        # Set first: the base constructor already puts the task in a weak set.
        self._faultsim_seq = _next_seq(loop)
        super().__init__(coro, loop=loop, context=context)

    def __hash__(self) -> int:
        return self._faultsim_seq


class VirtualTimeLoop(asyncio.BaseEventLoop):
    """An event loop on virtual time; see the module docstring."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._hash_seq = itertools.count()
        # self._scheduled holds (when, sequence, TimerHandle): see _push_timer.
        self._timer_seq = itertools.count()
        self._now = float(start)
        # Timers due within this much of "now" fire together (asyncio's own rule).
        self._clock_resolution = 1e-9
        self._current_proc: Proc | None = None
        self.procs: list[Proc] = []
        # Hooks for the simulator: the next instant something outside the loop
        # happens (a store lease deadline), what to do when time has moved, and
        # what to run after every callback (the invariant checks).
        self.next_deadline: Callable[[], float] | None = None
        self.on_time_advanced: Callable[[], object] | None = None
        self.after_callback: Callable[[], None] | None = None
        self.steps = 0  # callbacks run: a cost measure for reports
        self.abandoned: list[str] = []  # tasks teardown could not cancel
        # This many callbacks at one virtual instant is a busy loop, not work.
        self.max_steps_per_instant = 200_000
        self._instant_steps = 0
        # Callbacks of the simulator itself run in this context: no process.
        self.sim_context = contextvars.Context()
        self.set_task_factory(self._make_task)

    # ------------------------------------------------------------------ time

    def time(self) -> float:
        proc = self._current_proc
        if proc is not None:
            clock = proc.clock
            if clock is not None and not clock.identity:
                return clock.local(self._now)
        return self._now

    @property
    def now(self) -> float:
        """Global virtual time, whoever asks."""
        return self._now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        proc = self._current_proc
        if proc is not None:
            clock = proc.clock
            if clock is not None and not clock.identity:
                g = clock.to_global(when)
                if when > clock.local(self._now):
                    # A timer in the future must find the local clock at `when`
                    # when it fires: rounding in to_global could land it a hair
                    # early, and one within the loop's resolution fires without
                    # time moving — a busy loop for code that waits "until the
                    # deadline" (found by faultsim, seed 1103: a drifting
                    # controller awaiting a result).
                    g = max(g, self._now + 2 * self._clock_resolution)
                    while clock.local(g) < when:
                        g = math.nextafter(g, math.inf)
                when = g
        return self._push_timer(when, callback, args, context)

    def _push_timer(self, when: float, callback: Callable[..., object], args: tuple[Any, ...],
                    context: contextvars.Context | None) -> asyncio.TimerHandle:
        # asyncio's BaseEventLoop.call_at, inlined (every asyncio.sleep and
        # timeout of every daemon comes here), with one difference: the heap
        # holds (when, sequence, handle) tuples. Tuples compare in C (a
        # TimerHandle compares through a Python __lt__), and timers due at the
        # same instant fire in the order they were set, not in whatever order
        # the heap happens to leave equal handles.
        if self._closed:
            self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
            timer = events.TimerHandle(when, callback, args, self, context)
        else:
            timer = object.__new__(_Timer)  # TimerHandle.__init__ without its calls:
            (timer._context, timer._loop, timer._callback, timer._args, timer._cancelled,
             timer._repr, timer._source_traceback, timer._when) = (
                contextvars.copy_context() if context is None else context, self, callback,
                args, False, None, None, when)
        heapq.heappush(self._scheduled, (when, next(self._timer_seq), timer))
        timer._scheduled = True
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any,
                   context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        proc = self._current_proc
        if proc is None or proc.clock is None or proc.clock.identity:
            # (every asyncio.sleep comes here: local time is global time)
            return self._push_timer(self._now + delay, callback, args, context)
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_sim_at(self, when: float, callback: Callable[..., object],
                    *args: Any) -> asyncio.TimerHandle:
        """Schedule a simulator callback at global time `when`, outside any process."""
        return self._push_timer(max(when, self._now), callback, args, self.sim_context)

    def call_soon(self, callback: Callable[..., object], *args: Any,
                  context: contextvars.Context | None = None) -> asyncio.Handle:
        if self._debug or self._closed:
            return super().call_soon(callback, *args, context=context)
        # BaseEventLoop.call_soon without its checks: every future's
        # callbacks come here.
        handle = object.__new__(events.Handle)  # Handle.__init__ without its calls:
        (handle._context, handle._loop, handle._callback, handle._args, handle._cancelled,
         handle._repr, handle._source_traceback) = (
            contextvars.copy_context() if context is None else context, self, callback, args,
            False, None, None)
        self._ready.append(handle)
        return handle

    # ------------------------------------------------------------------ futures and tasks

    def create_future(self) -> asyncio.Future[Any]:
        # (numbered here, not in a Python __init__: every sleep makes one)
        fut = SeqFuture(loop=self)
        fut._faultsim_seq = next(self._hash_seq)
        return fut

    def _make_task(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                   context: contextvars.Context | None = None) -> asyncio.Task[Any]:
        task = SeqTask(coro, loop=loop, context=context)
        proc = (context.get(PROC) if context is not None else PROC.get())
        if proc is not None:
            if len(proc.tasks) >= proc.prune_at:
                # Only pending tasks need holding; keep the list from growing for ever.
                proc.tasks = [t for t in proc.tasks if not t.done()]
                proc.prune_at = max(1024, 2 * len(proc.tasks))
            proc.tasks.append(task)
        return task

    def spawn(self, proc: Proc, coro: Coroutine[Any, Any, Any],
              name: str | None = None) -> asyncio.Task[Any]:
        """Start `coro` as a task of `proc` (its children inherit the process)."""
        if proc not in self.procs:
            self.procs.append(proc)
        ctx = contextvars.Context()
        ctx.run(PROC.set, proc)
        return self.create_task(coro, name=name, context=ctx)

    # ------------------------------------------------------------------ processes

    def freeze(self, proc: Proc) -> None:
        if proc.state is ProcState.RUNNING:
            proc.state = ProcState.FROZEN

    def thaw(self, proc: Proc, io_first: bool = False) -> bool:
        """Resume a frozen process: its held callbacks run next, in the order
        they became ready — or, with `io_first`, as asyncio runs them after a
        callback that blocked its loop: first everything that was ready or
        arrived (datagrams, store answers and watch events), then the timers
        that came due meanwhile. Returns whether that changed the order."""
        if proc.state is not ProcState.FROZEN:
            return False
        proc.state = ProcState.RUNNING
        held = proc.held
        changed = False
        if io_first:
            timers = [h for h in held if isinstance(h, events.TimerHandle)]
            if timers:
                io = [h for h in held if not isinstance(h, events.TimerHandle)]
                first_io = next((i for i, h in enumerate(held)
                                 if not isinstance(h, events.TimerHandle)), len(held))
                changed = bool(io) and any(isinstance(h, events.TimerHandle)
                                           for h in list(held)[:first_io])
                held = deque(io + timers)
        self._ready.extend(held)
        proc.held.clear()
        return changed

    def shift_timers(self, proc: Proc, since: float, by: float) -> None:
        """The process's clock stood still for `by` seconds from global `since`
        (a paused VM): each of its timers due after `since` — pending, or come
        due and held meanwhile — is due `by` seconds later."""
        held = [h for h in proc.held if isinstance(h, events.TimerHandle)
                and h._when >= since]
        if held:
            proc.held = deque(h for h in proc.held if not (
                isinstance(h, events.TimerHandle) and h._when >= since))
        entries = []
        for when, seq, h in self._scheduled:
            if not h._cancelled and when >= since and h._context.get(PROC) is proc:
                when += by
                h._when = when
            entries.append((when, seq, h))
        for h in held:
            h._when += by
            entries.append((h._when, next(self._timer_seq), h))
            h._scheduled = True
        heapq.heapify(entries)
        self._scheduled = entries

    def kill(self, proc: Proc) -> None:
        """The process is gone: none of its code runs again during the simulation."""
        proc.state = ProcState.DEAD

    def lost_exceptions(self) -> list[tuple[Proc, asyncio.Task[Any]]]:
        """Tasks that ended with an exception nobody retrieved (asyncio would log
        "Task exception was never retrieved" once they are collected; a task
        pruned from `Proc.tasks` during the run is, and the loop's exception
        handler hears of it then). Marks them retrieved."""
        out = []
        for proc in self.procs:
            for t in proc.tasks:
                if t.done() and not t.cancelled() and t._log_traceback:  # type: ignore[attr-defined]
                    t._log_traceback = False  # type: ignore[attr-defined]
                    out.append((proc, t))
        return out

    def teardown(self, limit: float = 60.0, rounds: int = 5) -> int:
        """After the run: let every process unwind (cancel its tasks, run its
        finally blocks) so nothing is left for the garbage collector to close
        half-way. Cleanup may start new tasks, so this goes in rounds. What is
        still pending after that (a task that swallowed its cancellation) is
        closed quietly while the loop is still open. Returns how many tasks
        had to be abandoned that way."""
        self.after_callback = None
        # The simulator's own timers (faults, the fence device acting, store
        # latencies, datagrams) stop: unwinding must not power-cycle a host
        # and start a new process meanwhile (one that started during the
        # teardown was never unwound: its predecessor's tasks were abandoned).
        for _, _, h in self._scheduled:
            if h._context is self.sim_context:
                h.cancel()
        for proc in self.procs:
            proc.state = ProcState.RUNNING
            self._ready.extend(proc.held)
            proc.held.clear()

        def pending() -> list[asyncio.Task[Any]]:
            return [t for p in self.procs for t in p.tasks if not t.done()]

        async def unwind(tasks: list[asyncio.Task[Any]]) -> None:
            # Cancel again every second what is still pending: a task whose
            # cancellation was swallowed (`with suppress(CancelledError): await
            # child` in the task being cancelled: the node daemon's executor
            # close) would otherwise run on — heartbeats and all — for `limit`.
            end = self._now + limit
            pending = tasks
            while pending and self._now < end:
                for t in pending:
                    t.cancel()
                await asyncio.wait(pending, timeout=1.0)
                pending = [t for t in pending if not t.done()]

        for _ in range(rounds):
            tasks = pending()
            if not tasks:
                break
            with contextlib.suppress(SimulationStalled):
                self.run_until_complete(unwind(tasks))
        left = pending()
        abandoned = len(left)
        hook = sys.unraisablehook
        sys.unraisablehook = lambda _unraisable: None  # closing them half-way complains
        try:
            self.abandoned = [t.get_name() + ": " + repr(t.get_coro()) for t in left]
            for t in left:
                t._log_destroy_pending = False  # type: ignore[attr-defined]
                # Close it now, while the loop is open and complaints are muted:
                # whatever still references it would otherwise close it later.
                with contextlib.suppress(BaseException):
                    t.get_coro().close()
            for p in self.procs:
                p.tasks.clear()
            del left[:]
            # The loop will not run again: what it still holds only keeps them alive.
            self._ready.clear()
            for _, _, h in self._scheduled:
                h.cancel()
            self._scheduled.clear()
            gc.collect()
        finally:
            sys.unraisablehook = hook
        return abandoned

    # ------------------------------------------------------------------ the loop

    def _process_events(self, event_list: list[Any]) -> None:  # no I/O to process
        pass

    def _write_to_self(self) -> None:  # nothing to wake: one thread, no selector
        pass

    def _drop_cancelled_timers(self) -> None:
        sched = self._scheduled
        if (len(sched) > _MIN_SCHEDULED_TIMER_HANDLES
                and self._timer_cancelled_count / len(sched) > _MIN_CANCELLED_FRACTION):
            keep = []
            for e in sched:
                if e[2]._cancelled:
                    e[2]._scheduled = False
                else:
                    keep.append(e)
            heapq.heapify(keep)
            self._scheduled = keep
            self._timer_cancelled_count = 0
            return
        while sched and sched[0][2]._cancelled:
            self._timer_cancelled_count -= 1
            heapq.heappop(sched)[2]._scheduled = False

    def _run_once(self) -> None:
        sched = self._scheduled
        if sched and (sched[0][2]._cancelled
                      or self._timer_cancelled_count * 2 > len(sched)
                      > _MIN_SCHEDULED_TIMER_HANDLES):
            self._drop_cancelled_timers()
            sched = self._scheduled
        ready = self._ready
        if not ready and not self._stopping:
            # Idle: jump to the next thing that happens, timer or external deadline.
            target = sched[0][0] if sched else math.inf
            if self.next_deadline is not None:
                target = min(target, self.next_deadline())
            if target == math.inf:
                raise SimulationStalled(
                    f"at t={self._now:.3f}: no callback is ready and no timer is pending")
            if target > self._now:
                self._now = target
                self._instant_steps = 0
            if self.on_time_advanced is not None:
                self.on_time_advanced()
        end = self._now + self._clock_resolution
        while sched and sched[0][0] < end:
            when, _, h = heapq.heappop(sched)
            h._scheduled = False
            ready.append(h)
            if when > self._now:
                # A timer within the loop's resolution of now fires now (as in
                # asyncio), but time moves to it: code waiting "until the
                # deadline" whose timer rounding put a hair after now would
                # otherwise find the deadline not yet reached and wait again,
                # for ever, with time standing still (found by faultsim: a
                # controller's report deadline in a seed with slow operations).
                self._now = when
                self._instant_steps = 0
        after = self.after_callback
        popleft = ready.popleft
        n = len(ready)
        for _ in range(n):
            h = popleft()
            if h._cancelled:
                n -= 1
                continue
            ctx = h._context
            proc = ctx.get(PROC)
            if proc is not None and proc.state is not _RUNNING:
                proc.held.append(h)
                n -= 1
                continue
            self._current_proc = proc
            # Handle._run, inlined.
            try:
                ctx.run(h._callback, *h._args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._callback_failed(h, exc)
            finally:
                self._current_proc = None
            if after is not None:
                after()
        self.steps += n
        self._instant_steps += n
        if self._instant_steps > self.max_steps_per_instant:
            self._instant_steps = 0
            raise Livelock(f"at t={self._now:.3f}: {self.max_steps_per_instant} callbacks "
                           "without virtual time moving (a busy loop)")

    def _callback_failed(self, h: events.Handle, exc: BaseException) -> None:
        """What asyncio.Handle._run does when a callback raises."""
        cb = format_helpers._format_callback_source(h._callback, h._args)
        context = {"message": f"Exception in callback {cb}", "exception": exc, "handle": h}
        if h._source_traceback:
            context["source_traceback"] = h._source_traceback
        self.call_exception_handler(context)
