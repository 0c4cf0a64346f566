"""Running the controller's requests during one membership (one lease).

An `Executor` lives exactly as long as one incarnation's membership: the
daemon builds one after joining and closes it when the membership ends, so
nothing it does can outlive the lease it was accepted under.

- `watch()`: lists `actions/<node>/`, then watches from the listing's revision;
  after any watch failure it lists again (requests that arrived meanwhile are
  not lost) and de-duplicates by request id.
- Requests are queued per instance (`rsc` as the transition names it) and run
  one at a time in arrival order; instances run in parallel. Agent runs of
  one history id are also serialised with its recurring monitors (`Locks`).
- Each request is accepted with `accept_action` (token, membership and the
  request's existence checked in one txn, a pending record written) before
  anything runs; a refused request is dropped (DESIGN.md safety rule 6).
- Results: fail-count/last-failure attributes first (so the controller, woken
  by the record, already sees them), then `record_op(action_id=...)`.
- Store writes are retried while the store is unavailable (they are
  idempotent); `NotMember` means the membership is gone: `not_member` is set
  and the daemon self-fences.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pacer.agents.api import ActionResult, AgentRunner
from pacer.clock import Clock
from pacer.node.active import ActiveResources
from pacer.node.config import NodeConfig
from pacer.node.definitions import DefinitionCache
from pacer.node.lease import LeaseGone
from pacer.node.mapping import (
    RunPlan,
    UnknownResource,
    pending_record,
    plan_action,
    plan_without_definition,
    result_record,
    runner_error,
    unknown_plan,
    unknown_result,
)
from pacer.node.monitors import Locks, Monitor, RecurringMonitors, changed
from pacer.node.rules import Activity, failure_attributes
from pacer.status.instances import split_instance_id
from pacer.status.types import OpRecord
from pacer.store.base import Compacted, EventType, KeyValue, OutcomeUnknown, StoreError
from pacer.store.cluster import ClusterStore, NodeRequest, NotMember
from pacer.tasks import stop_tasks

T = TypeVar("T")

# Tasks that end an instance's recurring monitors before they run (the protocol).
CANCELS_MONITORS = frozenset({"stop", "demote", "promote", "migrate_to"})
# Tasks that only look or take something down: they may run without a fresh
# word from etcd that the lease lives (a stop is what a node that lost its
# lease must do anyway). Every other task could make something run.
NO_FRESH_LEASE = frozenset({"stop", "demote", "monitor", "cancel", "meta-data",
                            "validate-all"})
# What a task makes of an instance before it has even finished: an interrupted
# start may have started something, so it counts as active from the start.
ACTIVATES = {"start": Activity.STARTED, "migrate_from": Activity.STARTED,
             "promote": Activity.PROMOTED}


class Executor:
    def __init__(self, cluster: ClusterStore, lease_id: int, runner: AgentRunner,
                 config: NodeConfig, clock: Clock, wall: Callable[[], float],
                 definitions: DefinitionCache, active: ActiveResources,
                 call_ids: Callable[[], int], log: logging.LoggerAdapter,
                 confirm_lease: Callable[[], Awaitable[None]] | None = None) -> None:
        self.cluster = cluster
        self.node = config.node
        self.lease_id = lease_id
        self.runner = runner
        self.config = config
        self.clock = clock
        self.wall = wall
        self.definitions = definitions
        self.active = active
        self.call_ids = call_ids
        self.log = log
        # Raises LeaseGone when the lease can no longer be proven alive.
        self.confirm_lease = confirm_lease
        self.locks = Locks()
        self.monitors = RecurringMonitors(runner, self.locks, self._monitor_result, log)
        self.closed = False
        # Set when a guarded write found the membership gone.
        self.not_member = asyncio.Event()
        self._queues: dict[str, deque[NodeRequest]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._known: set[str] = set()

    # ------------------------------------------------------------- lifecycle

    async def close(self) -> None:
        """Stop taking requests, cancel running ones (their agents are killed) and
        every recurring monitor."""
        self.closed = True
        await stop_tasks(list(self._workers.values()))
        await self.monitors.cancel_all()

    def busy(self) -> bool:
        return bool(self._workers)

    # ------------------------------------------------------------- receiving requests

    async def watch(self) -> None:
        """Follow `actions/<node>/` until cancelled."""
        failures = 0
        while not self.closed:
            try:
                listing = await self.cluster.list_actions(self.node)
                for kv in listing.kvs:
                    self._dispatch_kv(kv)
                failures = 0
                async with contextlib.aclosing(
                        self.cluster.watch_actions(self.node, listing.revision + 1)) as events:
                    async for ev in events:
                        if ev.type is EventType.PUT:
                            self._dispatch_kv(ev.kv)
            except Compacted:
                continue  # list again and watch from there
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    self.log.warning("watching actions failed, listing again: %s", exc)
                await asyncio.sleep(self.config.keepalive_s)
            except Exception:  # a bug here must not leave the node deaf to requests
                self.log.exception("watching actions failed unexpectedly; listing again")
                await asyncio.sleep(self.config.keepalive_s)

    def _dispatch_kv(self, kv: KeyValue) -> None:
        request = NodeRequest.from_json(kv.value)
        if request is None:
            self.log.error("unreadable action request %s: %r", kv.key, kv.value[:200])
            return
        self.dispatch(request)

    def dispatch(self, request: NodeRequest) -> None:
        if self.closed or request.id in self._known:
            return
        self._known.add(request.id)
        key = request.rsc or ""
        self._queues.setdefault(key, deque()).append(request)
        if key not in self._workers:
            self._workers[key] = asyncio.get_running_loop().create_task(
                self._worker(key), name=f"actions {self.node} {key}")

    async def _worker(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue and not self.closed:
                request = queue[0]
                try:
                    await self.handle(request)
                except NotMember:
                    return
                except StoreError as exc:
                    self.log.error("action %s abandoned: %s", request.id, exc)
                except Exception:
                    self.log.exception("action %s failed in the node daemon", request.id)
                finally:
                    queue.popleft()
                    self._known.discard(request.id)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if not queue:
                    self._queues.pop(key, None)

    # ------------------------------------------------------------- one request

    async def handle(self, request: NodeRequest) -> None:
        plan = await self._plan(request)
        call_id = self.call_ids()
        task = request.task
        pending = None if task == "cancel" else pending_record(
            plan, self.node, call_id, int(self.wall()))
        if request.lease and request.lease != self.lease_id:
            # Computed for an earlier incarnation of this node: what it was
            # computed from is not what this one knows (finding 5 of issue 13).
            self.log.info("refused %s %s (%s): meant for lease %x, this membership is %x",
                          task, request.rsc, request.id, request.lease, self.lease_id)
            await self.retry(lambda: self.cluster.drop_action(self.node, self.lease_id,
                                                               request.id))
            return
        if not await self._accept(plan, pending):
            self.log.info("refused %s %s (%s): stale token, gone, or not a member",
                          task, request.rsc, request.id)
            return
        if task == "cancel" or task in CANCELS_MONITORS:
            await self._cancel_monitors(plan.hist_id,
                                        request.interval_ms if task == "cancel" else None)
            if task == "cancel":
                return
        if plan.error is not None:
            await self._record(plan, unknown_result(plan), call_id, request.id)
            return
        if task in ACTIVATES:
            self.active.set(plan.hist_id, plan.agent, plan.agent_request, plan.stop_timeout_ms,
                            max(self.active.activity(plan.hist_id), ACTIVATES[task]))
        async with self.locks(plan.hist_id):
            if task not in NO_FRESH_LEASE and self.confirm_lease is not None:
                try:
                    await self.confirm_lease()
                except LeaseGone:
                    # Never run: the membership is ending (the daemon fences
                    # itself); the pending record goes with the node's history.
                    self.log.warning("not running %s %s (%s): %s", task, request.rsc,
                                     request.id, "the lease can no longer be proven alive")
                    self.not_member.set()
                    raise NotMember(self.node) from None
            result = await self._run(plan)
        self.active.note(plan.hist_id, plan.agent, plan.agent_request, plan.stop_timeout_ms,
                         task, result.rc, result.op_status)
        rec = await self._record(plan, result, call_id, request.id)
        if task == "monitor" and request.interval_ms > 0 and not self.closed:
            await self.monitors.start(Monitor(plan, call_id, result.rc, result.op_status,
                                              rec.last_rc_change))

    async def _run(self, plan: RunPlan) -> ActionResult:
        try:
            return await self.runner.run(plan.agent_request)
        except Exception as exc:  # a runner bug is an error result, not a dead daemon
            self.log.exception("agent runner raised for %s", plan.request.id)
            return runner_error(exc)

    async def _plan(self, request: NodeRequest) -> RunPlan:
        index = await self.retry(lambda: self.definitions.at_least(request.definition_revision))
        default = self.config.default_timeout_ms
        try:
            if index is None:
                raise UnknownResource("no definition is stored")
            return plan_action(request, index, default)
        except UnknownResource as exc:
            # An orphan the definition no longer has: stop it as it was started.
            entry = self.active.get(request.rsc or "") or self.active.get(
                split_instance_id(request.rsc or "")[0])
            if entry is not None:
                return plan_without_definition(request, entry.request, entry.agent,
                                               entry.hist_id, entry.stop_timeout_ms)
            return unknown_plan(request, str(exc), default)

    async def _accept(self, plan: RunPlan, pending: OpRecord | None) -> bool:
        request = plan.request
        while True:
            try:
                return await self.cluster.accept_action(self.node, self.lease_id, request,
                                                        pending=pending, agent=plan.agent)
            except OutcomeUnknown:
                # It may have been applied: the pending record carries the request's id.
                if await self.retry(lambda: self._accepted_anyway(plan, pending)):
                    return True
            except StoreError as exc:
                self.log.warning("accepting %s: %s; trying again", request.id, exc)
            await asyncio.sleep(self.config.keepalive_s)

    async def _accepted_anyway(self, plan: RunPlan, pending: OpRecord | None) -> bool:
        # (the pending record, written by the accept, carries the request's id)
        return await self.cluster.was_accepted(self.node, plan.request.id, pending)

    async def _cancel_monitors(self, hist_id: str, interval_ms: int | None) -> None:
        for interval in await self.monitors.cancel(hist_id, interval_ms):
            await self.retry(lambda iv=interval: self.cluster.forget_op(
                self.node, self.lease_id, hist_id, "monitor", iv))

    # ------------------------------------------------------------- results

    async def _record(self, plan: RunPlan, result: ActionResult, call_id: int,
                      action_id: str | None, last_rc_change: int | None = None) -> OpRecord:
        now = int(self.wall())
        rec = result_record(plan, result, self.node, call_id, now, action_id, last_rc_change)
        attrs = failure_attributes(plan.hist_id, rec, None, plan.start_failure_is_fatal, now)
        # The fail count first (the scheduler acts on it), from the value read once:
        # resending the same value after a lost answer cannot count a failure twice.
        for name in sorted(attrs, key=lambda n: n.startswith("last-failure-")):
            value = attrs[name]
            if name.startswith("fail-count-"):
                current = await self.retry(lambda n=name: self._transient(n))
                value = failure_attributes(plan.hist_id, rec, current,
                                           plan.start_failure_is_fatal, now)[name]
            await self.retry(lambda n=name, v=value: self.cluster.set_attribute(self.node, n, v))
        await self.retry(lambda: self.cluster.record_op(self.node, self.lease_id, rec,
                                                         plan.agent, action_id=action_id))
        level = logging.INFO if rec.rc == rec.expected_rc else logging.WARNING
        self.log.log(level, "%s %s %s: rc %d status %d (%s)", plan.hist_id,
                     plan.request.task, plan.request.interval_ms, result.rc, result.op_status,
                     result.exit_reason or result.rc_name)
        return rec

    async def _transient(self, name: str) -> str | None:
        return await self.cluster.attribute(self.node, name, True)

    async def _monitor_result(self, mon: Monitor, result: ActionResult) -> None:
        plan = mon.plan
        self.active.note(plan.hist_id, plan.agent, plan.agent_request, plan.stop_timeout_ms,
                         "monitor", result.rc, result.op_status)
        if not changed(mon, result) or self.closed:
            return
        now = int(self.wall())
        mon.rc, mon.op_status, mon.last_rc_change = result.rc, result.op_status, now
        try:
            await self._record(plan, result, self.call_ids(), None, now)
        except NotMember:
            return

    # ------------------------------------------------------------- store retries

    async def retry(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent store call until it answers (the executor's close
        cancels the wait). NotMember sets `not_member` and propagates."""
        failures = 0
        while True:
            try:
                return await call()
            except NotMember:
                self.not_member.set()
                raise
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    self.log.warning("store call failed, retrying: %s", exc)
            await asyncio.sleep(self.config.keepalive_s)
