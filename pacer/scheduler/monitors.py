"""Part of the result: which recurring monitors each running instance should
have and lacks, and which an action asks for once it completed (pure).

Pacemaker schedules a recurring monitor after each start or role change; the
node daemon then runs it until the instance stops or changes role. pacer's
controller asks for them as each action completes (`monitors_after`, which
reads only the definition) and, once a transition has settled, for those
still missing (`missing_monitors`, the result's `monitors`): every enabled
`monitor` op with an interval whose role matches the instance's current role
(an op without a role matches every role), unless the node's history already
records it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacer.model.definition import Clone, Definition, Primitive, iter_primitives
from pacer.model.meta import PROMOTED, STARTED, STOPPED, UNPROMOTED, normalize_role
from pacer.scheduler.resources import Resources


@dataclass(frozen=True)
class MonitorRequest:
    """A recurring monitor to run: `rsc` on `node`, every `interval_ms`."""

    node: str
    rsc: str  # the instance, as the scheduler names it (`web:1`)
    interval_ms: int
    timeout_ms: int | None
    expected_rc: int


def missing_monitors(rscs: Resources) -> list[MonitorRequest]:
    out: list[MonitorRequest] = []
    for r in rscs.primitives:
        prim = r.prim
        if prim is None or r.orphan or not r.managed or prim.agent_class == "stonith":
            continue
        ops = [op for op in prim.operations
               if op.name == "monitor" and op.interval_ms > 0 and op.enabled]
        if not ops:
            continue
        clone = r.clone
        promotable = clone is not None and clone.clone_opts is not None \
            and clone.clone_opts.promotable
        for node in r.running_on:
            nh = r.history.get(node)
            if nh is None or nh.role == STOPPED or nh.pending or nh.failed:
                continue
            # A promotable instance that is merely started is unpromoted.
            role = UNPROMOTED if promotable and nh.role == STARTED else nh.role
            for op in ops:
                want = normalize_role(op.role) if op.role else None
                if want is not None and want != role and not (
                        want == STARTED and role == UNPROMOTED):
                    continue
                rec = nh.recurring.get(("monitor", op.interval_ms))
                # A failure record (`last_failure_0`) outlives the monitor that
                # failed: it says nothing about a monitor running now.
                if rec is not None and not rec.id.endswith("_last_failure_0"):
                    continue
                out.append(MonitorRequest(node, r.id, op.interval_ms, op.timeout_ms,
                                          8 if role == PROMOTED else 0))
    return out


# The role an instance has once an action completed as expected.
_ROLE_AFTER = {"start": STARTED, "migrate_from": STARTED, "promote": PROMOTED,
               "demote": UNPROMOTED}


def monitors_after(defn: Definition, node: str, rsc: str, task: str) -> list[MonitorRequest]:
    """The recurring monitors instance `rsc` needs on `node` right after `task`
    completed there (as Pacemaker puts them in the transition after each start
    and role change): requested at once, not when the whole transition is
    done — a slow promote in the same transition must not leave a VIP that
    started beside it unwatched for minutes (faultsim seed 18877)."""
    role = _ROLE_AFTER.get(task)
    if role is None:
        return []
    prim, promotable = _primitive_of(defn, rsc)
    if prim is None or prim.agent_class == "stonith":
        return []
    if promotable and role == STARTED:
        role = UNPROMOTED
    out = []
    for op in prim.operations:
        if op.name != "monitor" or op.interval_ms <= 0 or not op.enabled:
            continue
        want = normalize_role(op.role) if op.role else None
        if want is not None and want != role and not (want == STARTED and role == UNPROMOTED):
            continue
        out.append(MonitorRequest(node, rsc, op.interval_ms, op.timeout_ms,
                                  8 if role == PROMOTED else 0))
    return out


_INDEX: list[tuple[Definition, dict[str, tuple[Primitive, bool]]]] = []


def _primitive_of(defn: Definition, rsc: str) -> tuple[Primitive | None, bool]:
    """The primitive of instance `rsc` (`db:1`, `api-db`) and whether it is part
    of a promotable clone. (Indexed once per definition object: the stored
    definition is parsed once per text.)"""
    if not _INDEX or _INDEX[0][0] is not defn:
        index: dict[str, tuple[Primitive, bool]] = {}
        for top in defn.resources:
            promotable = isinstance(top, Clone) and top.promotable
            for p in iter_primitives((top,)):
                index[p.id] = (p, promotable)
        _INDEX[:] = [(defn, index)]
    index = _INDEX[0][1]
    hit = index.get(rsc) or index.get(rsc.rsplit(":", 1)[0])
    return hit if hit is not None else (None, False)
