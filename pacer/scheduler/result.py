"""The result of one scheduling run: all that leaves the scheduler.

In the manner of etcd raft's `Ready`, one immutable value says everything the
callers act on or show: the transition (actions with their edges, summary
lines), the probes to run, the recurring monitors to run, and a read-only view
for status, explain and the simulator's checks. The plan it is built from stays
private; the probes, monitors and view are made from it on first use (the
controller reads the first two, the operators' commands the last, the
benchmarks none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pacer.scheduler.monitors import MonitorRequest, missing_monitors
from pacer.scheduler.plan import Plan
from pacer.scheduler.probes import ProbeRequest, needed_probes
from pacer.scheduler.transition import Transition, build_transition
from pacer.scheduler.view import ClusterView


@dataclass(frozen=True)
class ScheduleResult:
    transition: Transition
    _plan: Plan = field(repr=False, compare=False)

    @cached_property
    def probes(self) -> tuple[ProbeRequest, ...]:
        """Resources with no history on a member node, to probe before the
        transition means anything (the controller runs these first)."""
        return tuple(needed_probes(self._plan.defn, self._plan.status))

    @cached_property
    def monitors(self) -> tuple[MonitorRequest, ...]:
        """Recurring monitors that running instances should have and lack."""
        return tuple(missing_monitors(self._plan.rscs))

    @cached_property
    def view(self) -> ClusterView:
        return ClusterView(self._plan)

    @property
    def summary_lines(self) -> list[str]:
        return list(self.transition.summary)

    @property
    def action_lines(self) -> list[str]:
        return list(self.transition.action_lines)


def build_result(plan: Plan) -> ScheduleResult:
    return ScheduleResult(build_transition(plan), plan)
