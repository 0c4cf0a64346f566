"""The scheduler's entry point: `schedule(definition, status, now)` — pure.

No I/O, no clock, no randomness: time is an input. Each step is a module that
takes the plan (the run's working state, `plan.py`) and fills it:

    snapshot (Definition, Status, now)
        │  state.read_state          options, node health, resources joined with
        │                            their history, on-fail effects → the plan
        │  scores.apply_scores       locations, rules, stickiness, fail-counts
        │  colocation.apply_colocations   colocations as dependent/primary pairs
        │  assignment.assign_all     one node per primitive; a clone as a whole,
        │                            then its roles (roles.py) at its turn
        │  actions.create_actions    fencing, stops, starts, promotes/demotes,
        │                            pseudo actions (clone_actions.py)
        │  ordering.apply_orders / settle_migrations   order constraints as edges
        │  propagation.propagate     required / unrunnable along the edges
        │  actions.settle_reloads    no reload where it restarts anyway
        │  notifications.create_notifications   notify actions (notify=true clones)
        ▼  result.build_result       transition, probes, monitors, view
    ScheduleResult
"""

from __future__ import annotations

from pacer.model.definition import Definition
from pacer.scheduler.actions import create_actions, settle_reloads
from pacer.scheduler.assignment import assign_all
from pacer.scheduler.colocation import apply_colocations
from pacer.scheduler.notifications import create_notifications
from pacer.scheduler.ordering import apply_orders, settle_migrations
from pacer.scheduler.propagation import propagate
from pacer.scheduler.result import ScheduleResult, build_result
from pacer.scheduler.scores import apply_scores
from pacer.scheduler.state import read_state
from pacer.status.types import Status

__all__ = ["ScheduleResult", "schedule"]


def schedule(defn: Definition, status: Status, now: int | None = None) -> ScheduleResult:
    """Compute the transition for a snapshot. Pure: same input, same output.

    `now` (epoch seconds) defaults to the status's own time (a CIB's
    execution-date), else 0."""
    if now is None:
        now = status.now if status.now is not None else 0
    plan = read_state(defn, status, now)
    apply_scores(plan)
    apply_colocations(plan)
    assign_all(plan)
    create_actions(plan)
    apply_orders(plan)
    settle_migrations(plan)
    propagate(plan)
    settle_reloads(plan)
    create_notifications(plan)
    return build_result(plan)
