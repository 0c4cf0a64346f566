"""The controller's loop: the only part of the controller that does I/O.

    campaign for the controller key (with the node's lease)
    elected:
        discard requests of earlier controllers
        loop:  snapshot → schedule → probes? → fence? → run the DAG → monitors? → wait

Every decision is made by a pure module (`graph`, `fencing`, `changes`,
`requests`, and the scheduler, whose one result also says which probes and
recurring monitors to run); this file only reads the
store, writes through the `ControllerSession` (so a deposed controller writes
nothing), runs fence devices through the `Fencer` and waits on the store's
watch, with time from the injected `clock` and `wall` so the fault simulator
can run it on virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol

from pacer.agents.api import Fencer
from pacer.clock import Clock
from pacer.controller.changes import Change, Result, classify
from pacer.controller.config import ControllerConfig
from pacer.controller.fencing import (
    FenceDevice,
    dc_deadtime,
    devices_for,
    fence_action,
    fence_timeout_ms,
    lease_of,
    verify_device_fence,
    watchdog_fencing_allowed,
    watchdog_wait,
)
from pacer.controller.graph import State, TransitionRun
from pacer.controller.inflight import (
    InFlight,
    Pending,
    held_resources,
    pending_ops,
    top_level,
    top_of,
)
from pacer.controller.offload import Offload, in_worker_thread
from pacer.controller.optimeouts import AgentCatalog, OpTimeouts
from pacer.controller.requests import Context, RequestIds, for_action, for_monitor, for_probe
from pacer.model.definition import Definition
from pacer.model.meta import parse_bool
from pacer.node.rules import failure_attributes
from pacer.scheduler import PlannedAction, ScheduleResult, Transition, monitors_after, schedule
from pacer.status.types import OP_TIMEOUT, FenceEvent, Status
from pacer.store.base import (
    Event,
    LeaseNotFound,
    StoreError,
    StoreUnavailable,
)
from pacer.store.cluster import (
    ClusterStore,
    ControllerInfo,
    ControllerSession,
    JournalEntry,
    NodeRequest,
    NotController,
)

log = logging.getLogger("pacer.controller")

# While a lost node's lease is not yet known to be gone, look again this soon.
LEASE_RECHECK_S = 0.5
# cluster-recheck-interval: schedule again at least this often even when
# nothing changes (failure-timeout expiry, time-based rules).
RECHECK_S = 60.0
# The same non-empty transition this many times in a row: the cluster does not
# converge (an agent that "succeeds" without effect, say); slow down.
REPEAT_LIMIT = 5
# After the store failed a call: the first retry comes this soon (a write given
# up at an etcd election is best sent again at once), later ones back off to 2 s.
FIRST_BACKOFF_S = 0.02


class Liveness(Protocol):
    """Peer heartbeats as the controller sees them (pacer.node.heartbeat)."""

    def suspects(self) -> dict[str, int]: ...

    def silent_for(self, node: str) -> float | None: ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]: ...


# Closing a watch: cancel, wait this long, again up to this many times.
CLOSE_WAIT_S = 0.1
CLOSE_ATTEMPTS = 20


class _Poke:
    """Put on the feed when a peer becomes suspected: look at once."""


POKE = _Poke()


class Membership(Protocol):
    """What the controller needs of its node daemon."""

    async def wait_member(self) -> int:
        """Return the node's lease id once it is a member (at once if it is)."""
        ...


_WATCHDOG_CACHE: list[tuple[Definition, Definition]] = []


def _with_watchdog(defn: Definition) -> Definition:
    """Every pacer node self-fences when it loses its lease: that is a watchdog
    in Pacemaker's sense, so fencing is possible without a device. (The stored
    definition is parsed once per text, so the same object comes back every
    round: the answer is kept for it.)"""
    if "have-watchdog" in defn.properties:
        return defn
    for given, made in _WATCHDOG_CACHE:
        if given is defn:
            return made
    made = dataclasses.replace(defn, properties={**defn.properties, "have-watchdog": "true"})
    _WATCHDOG_CACHE[:] = [(defn, made), *_WATCHDOG_CACHE[:3]]
    return made


def _attrs(status: Status) -> dict[tuple[str, str], str]:
    return {(n, k): v for n, ns in status.node_states.items() for k, v in ns.transient.items()}


class _Feed:
    """The store's watch as a queue of events (or the error that ended it)."""

    def __init__(self, cluster: ClusterStore, start_revision: int,
                 liveness: Liveness | None = None,
                 watch: Callable[[int], AsyncIterator[Event]] | None = None) -> None:
        self.queue: asyncio.Queue[Event | _Poke | BaseException] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._pump(watch or cluster.watch, start_revision))
        self._unsubscribe = liveness.subscribe(self.poke) if liveness is not None else None

    def poke(self) -> None:
        self.queue.put_nowait(POKE)

    async def _pump(self, watch: Callable[[int], AsyncIterator[Event]], start: int) -> None:
        me = asyncio.current_task()
        try:
            async with contextlib.aclosing(watch(start)) as events:
                async for ev in events:
                    if me is not None and me.cancelling():
                        # Cancelled, and something under the watch swallowed it.
                        raise asyncio.CancelledError
                    self.queue.put_nowait(ev)
            self.queue.put_nowait(StoreUnavailable("the store's watch ended"))
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # handed to the loop, which steps down
            self.queue.put_nowait(e)

    async def next(self, timeout: float | None) -> Event | _Poke | None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that races with the result (found by faultsim, seed 1036).
        try:
            async with asyncio.timeout(timeout):
                item = await self.queue.get()
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def drain(self) -> None:
        """Drop what is queued (the caller has just read everything it says)."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, BaseException):
                raise item

    async def close(self) -> None:
        """Stop the watch: bounded, and repeated if a cancellation is lost (Python
        3.11's wait_for swallows one that races with a result; a close waiting
        on such a pump hung the controller, lab). Found in the lab, kept as a
        guard after the store's client stopped using wait_for."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        for _ in range(CLOSE_ATTEMPTS):
            self._task.cancel()
            await asyncio.wait([self._task], timeout=CLOSE_WAIT_S)
            if self._task.done():
                break
        else:
            log.error("the store's watch did not stop when cancelled %d times; "
                      "leaving it behind", CLOSE_ATTEMPTS)
            return
        if not self._task.cancelled():
            with contextlib.suppress(Exception):
                self._task.result()


class Controller:
    def __init__(self, cluster: ClusterStore, membership: Membership, fencer: Fencer,
                 clock: Clock, wall: Callable[[], float], config: ControllerConfig,
                 liveness: Liveness | None = None, catalog: AgentCatalog | None = None,
                 offload: Offload = in_worker_thread) -> None:
        self.cluster = cluster
        self.liveness = liveness
        self.keys = cluster.keys
        self.membership = membership
        self.fencer = fencer
        self.clock = clock
        self.wall = wall
        self.config = config
        # Where schedule() runs (pacer/controller/offload.py): a worker thread
        # on a real host, inline on the simulator's virtual time.
        self.offload = offload
        self.node = config.node
        self._journal_n = 0
        self._gone_since: dict[str, float] = {}
        self._fence_failed_at: dict[str, float] = {}
        self._unfenceable: set[str] = set()
        self._elected_at = 0.0
        self._last_summary: tuple[str, ...] = ()
        self._repeats = 0
        self._ids: RequestIds | None = None
        self._inflight = InFlight(config.result_grace)
        self._side_nodes: dict[str, str] = {}  # follow-up request id → its node
        self._timeouts = OpTimeouts(catalog)
        # A device said it fenced the node (fence-confirm "device-and-lease": the
        # lease must also be gone before it counts).
        self._device_done: set[str] = set()
        # Fence device runs in progress (or done, not yet read), by target, and
        # when each finished.
        self._device_tasks: dict[str, asyncio.Future[str | None]] = {}
        self._device_finished: dict[str, float] = {}
        # Each node's latest membership lease seen, and when it was first seen.
        self._incarnations: dict[str, tuple[int, float]] = {}
        self._feed: _Feed | None = None

    # ------------------------------------------------------------- election

    async def run(self) -> None:
        """Campaign, lead while elected, campaign again; until cancelled."""
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                lease = await self.membership.wait_member()
                session = await self.cluster.campaign(self.node, lease)
                if session is None:
                    await self._await_vacancy(lease)
                    continue
                backoff = FIRST_BACKOFF_S
                log.info("%s: elected controller (token %d)", self.node, session.token)
                await self._lead(session)
            except asyncio.CancelledError:
                raise
            except NotController as e:
                log.info("%s: no longer the controller: %s", self.node, e)
            except LeaseNotFound as e:
                # The node's lease is gone and its daemon has not noticed yet:
                # campaigning again at once with the same lease spins
                # (faultsim: 10,000 txns without a pause, seed 1395).
                log.info("%s: no longer the controller: %s", self.node, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except StoreUnavailable as e:
                log.warning("%s: store unavailable: %s", self.node, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception:
                log.exception("%s: controller error; campaigning again", self.node)
                await asyncio.sleep(1.0)

    async def _await_vacancy(self, lease: int) -> None:
        """Until the controller key is gone (or a while has passed: look again).
        If the controller's node is suspected meanwhile, depose it."""
        ctl, revision = await self.cluster.controller_at()
        if ctl is None:
            return
        # Only the controller key: a candidate has no use for the rest, and
        # waking on every change cost the fault simulator 6% of its time.
        feed = _Feed(self.cluster, revision + 1, self.liveness,
                     self.cluster.watch_controller)
        try:
            while True:
                if await self._depose_if_suspected(ctl, lease):
                    return
                ev = await feed.next(self.config.lease_ttl)
                if ev is None:
                    return
                if isinstance(ev, _Poke):
                    continue
                if ev.kv.key == self.keys.controller and ev.type.value == "delete":
                    return
        finally:
            await feed.close()

    async def _depose_if_suspected(self, ctl: ControllerInfo, lease: int) -> bool:
        if self.liveness is None or ctl.node == self.node:
            return False
        if self.liveness.suspects().get(ctl.node) != ctl.lease:
            return False
        silent = self.liveness.silent_for(ctl.node) or 0.0
        message = (f"no heartbeat from the controller {ctl.node} for {silent:.2f} s: "
                   f"{self.node} ended its membership and term; the next controller "
                   "fences it before its resources start elsewhere")
        journal = self._journal_entry("deposed", message, node=ctl.node)
        if await self.cluster.depose(self.node, lease, ctl, journal):
            log.warning("%s: %s", self.node, message)
            return True
        return False

    # ------------------------------------------------------------- leading

    async def _lead(self, session: ControllerSession) -> None:
        # A session resumed after a store error keeps its token: its request ids
        # must go on from where they were, never start again (found by faultsim,
        # seed 6 with a flaky store: a reused id carried another action).
        if self._ids is None or self._ids.token != session.token:
            self._ids = RequestIds(session.token)
        ids = self._ids
        self._elected_at = self.clock.now()
        stale = await session.discard_stale_actions()
        await self._journal(session, "elected", f"{self.node} is the controller"
                            + (f"; discarded {stale} stale requests" if stale else ""))
        snap = await self.cluster.snapshot(now=int(self.wall()))
        feed = self._feed = _Feed(self.cluster, snap.revision + 1, self.liveness)
        fresh = True  # the read the feed starts from serves the first round
        try:
            while True:
                if not fresh:
                    snap = await self.cluster.snapshot(now=int(self.wall()))
                    feed.drain()  # everything before this read is in it
                fresh = False
                if snap.controller is None or snap.controller.token != session.token:
                    raise NotController(session.token)
                if snap.definition is None:
                    await self._wait_change(feed, snap.revision, {}, RECHECK_S)
                    continue
                if await self._evict_suspects(session, snap.status):
                    continue
                defn = _with_watchdog(snap.definition.definition)
                status = snap.status
                self._forget_returned(status, snap.members)
                attrs = _attrs(status)
                await self._timeouts.learn(defn)
                ctx = Context(ids, snap.definition.revision,
                              functools.partial(self._timeouts.timeout_ms, defn),
                              snap.members)
                now = int(self.wall())
                result = await self._schedule(defn, status, now)
                probes = result.probes
                if probes:
                    ids.next_transition()
                    reqs = [for_probe(p, ctx) for p in probes]
                    await self._journal(session, "probe", f"probing {len(reqs)} resource(s) on "
                                        + ", ".join(sorted({p.node for p in probes})))
                    await self._drive(session, feed, _plain(reqs), reqs.__getitem__,
                                      snap.revision, attrs)
                    continue
                t = result.transition
                fences = [a for a in t.actions if a.task == "stonith" and a.runnable]
                fence_wait: float | None = None
                if fences:
                    fence_wait = await self._fence(session, defn, status, fences, snap.members)
                    if fence_wait is None:
                        continue  # confirmed: schedule again from the new state
                pending = pending_ops(status)
                in_flight = await self._await_in_flight(session, defn, status, pending,
                                                        snap.members)
                if in_flight == 0.0:
                    continue  # some were recorded as timed out: schedule again
                # An operation a node took and has not finished (an earlier
                # controller's, or ours after an abort): its pending record
                # says it has not happened, so a transition could stop what it
                # needs (faultsim, seed 670) or start elsewhere what a long
                # stop still runs (issue 13, finding 1). What is tied to it
                # waits; the rest goes ahead, as it does while a fence is pending.
                held = self._held(defn, t, pending)
                run = TransitionRun(t, fencing_pending=fence_wait is not None, held=held)
                if run.real_actions:
                    await self._pace(t)
                    ids.next_transition()
                    await self._journal(session, "transition",
                                        "; ".join(t.summary) or f"{len(run.real_actions)} actions",
                                        transition=ids.transition)
                    build = functools.partial(_request_for, run, ctx)
                    followups = functools.partial(_monitors_after, defn, ctx)
                    await self._drive(session, feed, run, build, snap.revision, attrs,
                                      followups)
                    continue
                # Recurring monitors of what runs, but of what an operation in
                # flight holds (they also go on while a fence is pending: a
                # monitor of a healthy resource on a healthy node is what finds
                # the next failure; faultsim seed 16 lost a VIP unnoticed).
                held_tops = held_resources(defn, pending) if pending else frozenset()
                tops = top_level(defn) if held_tops else {}
                mons = [m for m in result.monitors if top_of(tops, m.rsc) not in held_tops]
                if mons:
                    ids.next_transition()
                    reqs = [for_monitor(m, ctx) for m in mons]
                    await self._drive(session, feed, _plain(reqs), reqs.__getitem__,
                                      snap.revision, attrs)
                    continue
                waits = [w for w in (fence_wait, in_flight) if w is not None]
                if waits:
                    await self._wait_change(feed, snap.revision, attrs, min(waits))
                    continue
                self._repeats = 0
                await self._wait_change(feed, snap.revision, attrs, RECHECK_S)
        finally:
            self._feed = None
            await self._stop_devices()
            await feed.close()

    async def _pace(self, t: Transition) -> None:
        """Slow down when the same transition keeps coming back."""
        if t.summary and t.summary == self._last_summary:
            self._repeats += 1
        else:
            self._repeats = 0
        self._last_summary = t.summary
        if self._repeats >= REPEAT_LIMIT:
            delay = min(0.5 * (self._repeats - REPEAT_LIMIT + 1), 10.0)
            log.warning("%s: the same transition again (%d times): waiting %.1f s",
                        self.node, self._repeats + 1, delay)
            await asyncio.sleep(delay)

    async def _schedule(self, defn: Definition, status: Status, now: int) -> ScheduleResult:
        return await self.offload(schedule, defn, status, now)

    async def _wait_change(self, feed: _Feed, revision: int,
                           attrs: dict[tuple[str, str], str], timeout: float) -> None:
        """Until something that calls for a new schedule happens, or `timeout`."""
        deadline = self.clock.now() + timeout
        while True:
            left = deadline - self.clock.now()
            if left <= 0:
                return
            ev = await feed.next(left)
            if ev is None or isinstance(ev, _Poke):
                return
            if ev.revision <= revision:
                continue
            meaning = classify(ev, self.keys, attrs)
            if meaning is not None:
                # Let a burst of changes land before reading again.
                await asyncio.sleep(self.config.settle)
                return

    async def _drive(self, session: ControllerSession, feed: _Feed, run: TransitionRun,
                     build: Callable[[int], NodeRequest], revision: int,
                     attrs: dict[tuple[str, str], str],
                     followups: Callable[[PlannedAction], list[NodeRequest]] | None = None
                     ) -> None:
        """Send what is ready, complete what reports, until the run is finished.
        `followups`: requests to send as soon as an action completed as
        expected (the recurring monitors of what it started or promoted);
        they are not part of the run, and their first results only abort it
        when they find something wrong."""
        inflight: dict[str, int] = {}
        requests: dict[str, NodeRequest] = {}
        side: set[str] = set()  # follow-up requests sent
        deadlines: dict[str, float] = {}  # when to stop waiting for a report
        while True:
            ready = run.ready()
            limit = self.config.batch_limit
            if limit and len(inflight) + len(ready) > limit:
                keep = max(0, limit - len(inflight))
                for i in ready[keep:]:
                    run.states[i] = State.WAITING  # sent with a later batch
                ready = ready[:keep]
            if ready:
                reqs = [build(i) for i in ready]
                now = self.clock.now()
                for i, r in zip(ready, reqs, strict=True):
                    inflight[r.id] = i
                    requests[r.id] = r
                    # (every request carries its operation's effective timeout)
                    deadlines[r.id] = now + (r.timeout_ms or 0) / 1000 + self.config.result_grace
                    self._inflight.sent(r.id, now)
                await session.request_actions(reqs)
            if run.finished:
                await self._withdraw_side(session, side)
                return
            if run.aborted is not None:
                # Nothing more is sent. What no node has taken yet is taken
                # back at once: it was computed from a cluster that is gone,
                # and left in the store it could run later, after its resource
                # was placed elsewhere (finding 5). What a node has taken is
                # in flight: the loop's in-flight step holds what is tied to
                # it and waits for it to its deadline, while the rest of the
                # cluster goes on (a five-minute promote must not hold back
                # every recovery: faultsim seed 16).
                for aid in list(inflight):
                    gone = await self._withdraw(session, requests[aid])
                    if gone is not None:
                        i = inflight.pop(aid)
                        if run.states[i] is State.SENT:
                            run.complete(i, False)
                        requests.pop(aid)
                        if gone:
                            self._inflight.done(aid)
                if not inflight:
                    await self._withdraw_side(session, side)
                    return
                # (a withdrawal whose outcome is unknown: waited for as before)
            overdue = [aid for aid in inflight if deadlines[aid] <= self.clock.now()]
            if overdue:
                for aid in overdue:
                    await self._overdue(session, run, inflight.pop(aid), requests.pop(aid))
                continue
            wait = min([deadlines[aid] for aid in inflight], default=self.clock.now()
                       + RECHECK_S) - self.clock.now()
            ev = await feed.next(max(wait, 0.0))
            if isinstance(ev, _Poke):
                # Evict now, not after the run: the eviction's own store event
                # aborts the run and writes off the suspect's actions.
                await self._evict_suspects(session, None)
                continue
            if ev is None or ev.revision <= revision:
                continue
            meaning = classify(ev, self.keys, attrs)
            if meaning is None:
                continue
            if isinstance(meaning, Result) and meaning.action_id in side:
                side.discard(meaning.action_id)
                self._side_nodes.pop(meaning.action_id, None)
                self._inflight.done(meaning.action_id)
                if meaning.as_expected:
                    continue
            if isinstance(meaning, Result) and meaning.action_id in inflight:
                i = inflight.pop(meaning.action_id)
                requests.pop(meaning.action_id, None)
                self._inflight.done(meaning.action_id)
                run.complete(i, meaning.as_expected)
                if meaning.as_expected and followups is not None and run.aborted is None:
                    more = followups(run.actions[i])
                    if more:
                        await session.request_actions(more)
                        side.update(r.id for r in more)
                        self._side_nodes.update((r.id, r.node) for r in more)
                if not meaning.as_expected:
                    a = run.actions[i]
                    await self._journal(session, "failed",
                                        f"{a.task} of {a.rsc} on {a.node}: rc {meaning.rc}, "
                                        f"status {meaning.op_status}",
                                        node=a.node, rsc=a.rsc)
                continue
            what = meaning.what if isinstance(meaning, Change) else \
                f"report from an earlier request on {meaning.node}"
            if run.aborted is None:
                log.info("%s: transition aborted: %s", self.node, what)
            run.abort(what)
            if isinstance(meaning, Change) and meaning.node_left is not None:
                # Its in-flight actions will never report: it is fenced next.
                for aid in [a for a, i in inflight.items()
                            if run.actions[i].node == meaning.node_left]:
                    run.complete(inflight.pop(aid), False)
                    requests.pop(aid, None)

    async def _withdraw_side(self, session: ControllerSession, side: set[str]) -> None:
        """Follow-up requests not reported yet when the run ends: withdrawn if
        no node took them (a node that joined again refuses what was meant for
        its last incarnation; the monitors are asked for again later)."""
        for aid in list(side):
            node = self._side_nodes.pop(aid, None)
            if node is None:
                continue
            await self._withdraw(session, NodeRequest(id=aid, token=session.token,
                                                      node=node, task="monitor"))
        side.clear()

    async def _withdraw(self, session: ControllerSession, request: NodeRequest,
                        attempts: int = 3) -> bool | None:
        """Withdraw a request: True if it was still there (it can never run now),
        False if a node had taken it, None if the store would not say."""
        for _ in range(attempts):
            try:
                return await session.withdraw(request)
            except NotController:
                raise
            except StoreError:
                continue
        return None

    async def _overdue(self, session: ControllerSession, run: TransitionRun, i: int,
                       request: NodeRequest) -> None:
        """No result within the request's timeout plus the grace. If its node has
        not taken it, withdraw it: it can then never run (a request left in
        the store could run much later, after its resource was placed
        elsewhere: issue 13, finding 5). If it was taken, the operation is in
        flight: the run ends, and the in-flight step waits for it to its own
        deadline and then records it as timed out."""
        a = run.actions[i]
        run.complete(i, False)
        withdrawn = await self._withdraw(session, request)
        if withdrawn:
            self._inflight.done(request.id)
            await self._journal(session, "no-report",
                                f"{a.task} of {a.rsc} on {a.node} not taken within "
                                f"{(request.timeout_ms or 0) / 1000:g} s + "
                                f"{self.config.result_grace:g} s: withdrawn",
                                node=a.node, rsc=a.rsc)
        else:
            await self._journal(session, "no-report",
                                f"no result for {a.task} of {a.rsc} on {a.node} within "
                                f"{(request.timeout_ms or 0) / 1000:g} s + "
                                f"{self.config.result_grace:g} s",
                                node=a.node, rsc=a.rsc)

    def _pending_timeout_ms(self, defn: Definition, p: Pending) -> int:
        return p.op.timeout_ms or self._timeouts.timeout_ms(defn, p.op.rsc, p.op.operation,
                                                            p.op.interval_ms)

    def _held(self, defn: Definition, t: Transition, pending: list[Pending]) -> frozenset[int]:
        """Indexes of the actions tied to an operation in flight (`inflight.py`)."""
        if not pending:
            return frozenset()
        held = held_resources(defn, pending)
        tops = top_level(defn)
        return frozenset(i for i, a in enumerate(t.actions)
                         if a.rsc is not None and top_of(tops, a.rsc) in held)

    async def _await_in_flight(self, session: ControllerSession, defn: Definition,
                               status: Status, pend: list[Pending],
                               members: Mapping[str, int]) -> float | None:
        """Operations pending on member nodes (`inflight.py`): None when there are
        none; else seconds to wait for the next deadline, or 0 after recording
        the ones past theirs as timed out (schedule again at once)."""
        if not pend:
            self._inflight.check((), self.clock.now(), lambda p: 0)
            return None
        wait, overdue = self._inflight.check(
            pend, self.clock.now(), functools.partial(self._pending_timeout_ms, defn))
        if not overdue:
            return wait
        fatal = parse_bool(defn.properties.get("start-failure-is-fatal", "true"),
                           default=True)
        now = int(self.wall())
        for p in overdue:
            lease = members.get(p.node, 0)
            ns = status.node_states.get(p.node)
            current = ns.transient.get(f"fail-count-{p.op.rsc}#{p.op.operation}_0") \
                if ns is not None else None
            timed_out = dataclasses.replace(p.op, rc=1, op_status=OP_TIMEOUT)
            attrs = failure_attributes(p.op.rsc, timed_out, current, fatal, now)
            if lease and await session.record_timeout(p.node, p.op, attrs, lease, now):
                await self._journal(
                    session, "timeout",
                    f"{p.describe()}: no result within its timeout "
                    f"({self._pending_timeout_ms(defn, p) / 1000:g} s) + "
                    f"{self.config.result_grace:g} s: recorded as timed out; its on-fail "
                    "applies", node=p.node, rsc=p.op.rsc)
        return 0.0

    # ------------------------------------------------------------- suspicion

    async def _evict_suspects(self, session: ControllerSession, status: Status | None) -> bool:
        """End the membership of members the heartbeats say are dead or frozen (they
        are then fenced like any lost node). True if any was evicted."""
        if self.liveness is None:
            return False
        evicted = False
        for node, lease in sorted(self.liveness.suspects().items()):
            if node == self.node:
                continue
            if status is not None and ((ns := status.node_states.get(node)) is None
                                       or ns.in_ccm != "true"):
                continue
            silent = self.liveness.silent_for(node) or 0.0
            message = (f"no heartbeat from {node} for {silent:.2f} s: evicted from the "
                       "membership; it is fenced before its resources start elsewhere")
            if await session.evict(node, lease, self._journal_entry("suspected", message,
                                                                    node=node)):
                log.warning("%s: %s", self.node, message)
                evicted = True
        return evicted

    # ------------------------------------------------------------- fencing

    async def _fence(self, session: ControllerSession, defn: Definition, status: Status,
                     fences: list[PlannedAction], members: Mapping[str, int]) -> float | None:
        """Fence what can be fenced now; None when something was confirmed (schedule
        again at once), else seconds until a watchdog wait is over."""
        wait: float | None = None
        confirmed = False
        results = await asyncio.gather(*(self._fence_one(session, defn, status, a, members)
                                         for a in fences))
        for r in results:
            if r is True:
                confirmed = True
            elif r is False:
                wait = 0.0  # it joined again: schedule again at once
            else:
                wait = r if wait is None else min(wait, r)
        if confirmed:
            return None
        return wait if wait is not None else 1.0

    def _forget_returned(self, status: Status, members: Mapping[str, int]) -> None:
        """A node seen lost and back since starts its watchdog wait afresh when
        it is lost again (found by faultsim, seed 37: a stale start time let a
        second loss count as fenced at once). Its device run is left alone: a
        power switch that got the order acts whether or not the node came back
        meanwhile (seed 205: cancelling it and fencing again shot every new
        incarnation in turn); `_fence_one` tells a result for this incarnation
        from one that came before it."""
        now = self.clock.now()
        for n, lease in members.items():
            if self._incarnations.get(n, (0, 0.0))[0] != lease:
                self._incarnations[n] = (lease, now)
        for n in [n for n in (*self._gone_since, *self._device_done)
                  if (ns := status.node_states.get(n)) is not None and ns.in_ccm == "true"]:
            self._gone_since.pop(n, None)
            self._device_done.discard(n)

    async def _fence_one(self, session: ControllerSession, defn: Definition, status: Status,
                         a: PlannedAction, members: Mapping[str, int]) -> bool | float:
        target = a.node
        assert target is not None
        action = fence_action(a.key)
        ns = status.node_states.get(target)
        member_lease = members.get(target, 0)
        if ns is None:
            # Never seen since the cluster started: give it dc-deadtime to join
            # before shooting it (it may just be booting), as Pacemaker does.
            left = self._elected_at + dc_deadtime(defn) - self.clock.now()
            if left > 0:
                return left
        elif ns.in_ccm != "true" and await self.cluster.membership_lease(target) is not None:
            # It came back (a fresh incarnation that knows nothing yet) since
            # the snapshot: schedule again rather than shoot a healthy node.
            return 0.0
        devices = devices_for(defn, target, self.node)
        task = self._device_tasks.get(target)
        if task is not None and task.done():
            del self._device_tasks[target]
            done = task.result()  # (NotController propagates)
            finished = self._device_finished.pop(target, self.clock.now())
            if done is not None and self._incarnations.get(target, (0, 0.0))[1] > finished:
                # The device acted before the node's latest incarnation joined:
                # that one lives, and its loss now is another one (seed 389:
                # such a result confirmed a later loss at once, nobody shot).
                log.info("%s: a device result for an earlier incarnation of %s is dropped",
                         self.node, target)
                done = None
                failed_at = None
            elif done is None:
                failed_at = self.clock.now()
            if done is not None:
                if not verify_device_fence(defn):
                    # Every incarnation there when the device returned is gone
                    # with the host (one that rejoined while the device ran was
                    # cut too); read which one that is once, never again on a
                    # retry: a later one is alive (finding 7).
                    lease = await self.cluster.membership_lease(target)
                    return await self._confirm(session, target, action, f"device {done}",
                                               lease or 0)
                self._device_done.add(target)
                await self._journal(session, "fence", f"device {done} says {target} is "
                                    "fenced; waiting for its lease to be gone "
                                    "(fence-confirm: device-and-lease)", node=target)
            elif failed_at is not None:
                self._fence_failed_at[target] = failed_at
        failed_at = self._fence_failed_at.get(target)
        if target not in self._device_tasks and target not in self._device_done and devices \
                and (failed_at is None or self.clock.now() - failed_at >= 1.0):
            # In the background: a device may take stonith-timeout (60 s) to
            # fail, and the controller must meanwhile go on with the watchdog
            # wait and everything that does not depend on this fence.
            task = self._device_tasks[target] = asyncio.ensure_future(
                self._run_devices(session, defn, target, action, devices))
            task.add_done_callback(functools.partial(self._device_finish, target))
        if member_lease:
            # Still holds its lease (a failed stop, say): end its membership;
            # the node sees it and fences itself. Guarded by the token.
            await session.evict(target, member_lease, self._journal_entry(
                "fence", f"ended the membership of {target} (lease {member_lease:x}): "
                "it must stop everything", node=target))
        if target not in self._device_done and not watchdog_fencing_allowed(defn, ns):
            # Nothing outside the node can stop it: a frozen node would keep
            # running everything. Wait for a device, the node or an operator.
            if target not in self._unfenceable:
                self._unfenceable.add(target)
                await self._journal(session, "fence-blocked",
                                    f"cannot fence {target}: no fence device succeeded and it "
                                    "has no watchdog; its resources stay where they are",
                                    node=target)
            return 5.0
        # The wait counts only from the moment the lease is known to be gone
        # (etcd says so), never from before a device attempt that may have
        # taken stonith-timeout (finding 2), nor from its key's absence: a
        # revoke that was lost leaves the node renewing its lease and feeding
        # its watchdog (finding 4).
        lease = member_lease or lease_of(ns)
        if lease and not await self._lease_gone(session, lease):
            self._gone_since.pop(target, None)
            return LEASE_RECHECK_S
        since = self._gone_since.setdefault(target, self.clock.now())
        timeout = watchdog_wait(defn, ns, self.config.default_watchdog_timeout,
                                device_done=target in self._device_done)
        left = since + timeout - self.clock.now()
        if left <= 0:
            how = (f"device, and lease gone for {timeout:g} s" if target in self._device_done
                   else f"watchdog: lease gone for {timeout:g} s")
            return await self._confirm(session, target, action, how, 0)
        return left

    def _device_finish(self, target: str, _task: asyncio.Future) -> None:
        self._device_finished[target] = self.clock.now()
        if self._feed is not None:
            self._feed.poke()

    async def _run_devices(self, session: ControllerSession, defn: Definition, target: str,
                           action: str, devices: list[FenceDevice]) -> str | None:
        """Try each device in turn: the id of the one that fenced `target`, or None."""
        for dev in devices:
            # A deposed controller must not shoot anyone (finding 8).
            if not await session.is_current():
                raise NotController(session.token)
            res = await self.fencer.fence(dev.request(target, action, fence_timeout_ms(defn)))
            if res.ok:
                return dev.prim.id
            await self._journal(session, "fence-failed",
                                f"{dev.prim.id} could not {action} {target}: "
                                f"{res.error or res.stderr or res.rc}", node=target)
        return None

    async def _stop_devices(self, target: str | None = None) -> None:
        """Cancel device runs still going (of `target`, or all): fencing was
        confirmed another way, or this controller stepped down."""
        tasks = [t for n, t in self._device_tasks.items() if target is None or n == target]
        for n in [n for n in self._device_tasks if target is None or n == target]:
            del self._device_tasks[n]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_S * CLOSE_ATTEMPTS)
            for t in tasks:
                if t.done() and not t.cancelled():
                    t.exception()  # (retrieved: a failed run of a finished fence)

    async def _lease_gone(self, session: ControllerSession, lease: int) -> bool:
        """Whether etcd says `lease` no longer exists; if it does, revoke it again
        (the earlier revoke may have been lost)."""
        try:
            if not await self.cluster.lease_exists(lease):
                return True
        except StoreError:
            return False
        await session.revoke(lease)
        return False

    async def _confirm(self, session: ControllerSession, target: str, action: str,
                       how: str, lease: int) -> bool:
        event = FenceEvent(target=target, action=action, state="success",
                           completed=int(self.wall()), origin=self.node)
        if not await session.node_fenced(event, f"{session.token}-{int(self.wall() * 1000)}",
                                         lease):
            # It joined again meanwhile (a new incarnation): nothing to record.
            log.info("%s: %s joined again before its fence was recorded", self.node, target)
            self._gone_since.pop(target, None)
            self._device_done.discard(target)
            await self._stop_devices(target)
            return False
        self._gone_since.pop(target, None)
        self._fence_failed_at.pop(target, None)
        self._unfenceable.discard(target)
        self._device_done.discard(target)
        await self._stop_devices(target)
        await self._journal(session, "fenced", f"{target} fenced ({action}, {how})", node=target)
        log.info("%s: %s fenced (%s)", self.node, target, how)
        return True

    # ------------------------------------------------------------- journal

    def _journal_entry(self, kind: str, message: str, *, transition: int | None = None,
                       node: str | None = None, rsc: str | None = None) -> JournalEntry:
        self._journal_n = (self._journal_n + 1) % 100_000
        ms = int(self.wall() * 1000)
        return JournalEntry(id=f"{ms:015d}{self._journal_n:05d}", time=self.wall(), kind=kind,
                            message=message, controller=self.node, transition=transition,
                            node=node, rsc=rsc)

    async def _journal(self, session: ControllerSession, kind: str, message: str, *,
                       transition: int | None = None, node: str | None = None,
                       rsc: str | None = None) -> None:
        entry = self._journal_entry(kind, message, transition=transition, node=node, rsc=rsc)
        log.info("%s: %s: %s", self.node, kind, message)
        try:
            await session.journal(entry)
        except StoreError as e:
            if isinstance(e, NotController):
                raise
            log.warning("%s: journal entry lost: %s", self.node, e)


def _monitors_after(defn: Definition, ctx: Context, a: PlannedAction) -> list[NodeRequest]:
    if a.node is None or a.rsc is None:
        return []
    return [for_monitor(m, ctx) for m in monitors_after(defn, a.node, a.rsc, a.task)]


def _request_for(run: TransitionRun, ctx: Context, i: int) -> NodeRequest:
    return for_action(run.actions[i], ctx)


def _plain(reqs: list[NodeRequest]) -> TransitionRun:
    """A run of independent requests (probes, monitors): no order between them."""
    actions = tuple(PlannedAction(key=r.id, task=r.task, node=r.node, rsc=r.rsc,
                                  interval_ms=r.interval_ms) for r in reqs)
    return TransitionRun(Transition(actions=actions))
