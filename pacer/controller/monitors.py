"""Which recurring monitors each running instance should have and lacks (pure).

Pacemaker schedules a recurring monitor after each start or role change; the
node daemon then runs it until the instance stops or changes role. pacer's
controller asks for them once a transition has settled: every enabled
`monitor` op with an interval whose role matches the instance's current role
(an op without a role matches every role), unless the node's history already
records it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacer.model.meta import normalize_role
from pacer.scheduler.history import PROMOTED, STARTED, STOPPED, UNPROMOTED
from pacer.scheduler.resources import Resources


@dataclass(frozen=True)
class MonitorRequest:
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
