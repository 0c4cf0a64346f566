"""Part of the result: the transition — the required actions, frozen, with the
orderings between them, the Transition Summary and action lines, and where
each primitive is placed. What the controller executes and `pacer simulate`
shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pacer.scheduler.graph import Action
from pacer.scheduler.plan import Plan
from pacer.scheduler.summary import action_lines, summary_lines


@dataclass(frozen=True)
class PlannedAction:
    """One action of a computed transition, as shown to users and executors."""

    key: str
    task: str
    node: str | None
    rsc: str | None
    interval_ms: int = 0
    pseudo: bool = False
    runnable: bool = True
    reason: str | None = None
    # Strings the executor hands the agent (a notify action's notify_* variables).
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """The required actions and the orderings between them."""

    actions: tuple[PlannedAction, ...] = ()
    # Indexes into `actions`: (before, after). Only edges between actions of the
    # transition, as in Pacemaker's graph: an ordering through an action that
    # does not happen orders nothing.
    edges: tuple[tuple[int, int], ...] = ()
    summary: tuple[str, ...] = ()  # crm_simulate-style Transition Summary lines
    action_lines: tuple[str, ...] = ()
    placement: dict[str, str | None] = field(default_factory=dict)


def build_transition(plan: Plan) -> Transition:
    chosen = [a for a in plan.actions if a.required]
    index = {a.uid: i for i, a in enumerate(chosen)}
    actions = tuple(
        PlannedAction(key=a.key, task=a.task, node=a.node, rsc=a.rsc_id,
                      interval_ms=a.interval_ms, pseudo=a.pseudo, runnable=a.runnable,
                      reason=a.reason, extra=dict(getattr(a, "notify", None) or {}))
        for a in chosen
    )
    edges = sorted(_graph_edges(chosen, index))
    return Transition(
        actions=actions,
        edges=tuple(edges),
        summary=tuple(summary_lines(plan)),
        action_lines=tuple(action_lines(plan)),
        placement={r.id: r.assigned for r in plan.rscs.primitives},
    )


def _graph_edges(chosen: list[Action], index: dict[int, int]) -> set[tuple[int, int]]:
    """Orderings between the transition's actions. A clone's or group's pseudo
    actions that are not part of the transition still carry order through them
    (a clone's demoted → promote → instance promotes): follow those, or an
    instance could be promoted before the old promoted one is demoted."""
    edges: set[tuple[int, int]] = set()
    for a in chosen:
        seen: set[int] = set()
        stack = [b for b, _ in a.edges_out]
        while stack:
            b = stack.pop()
            if b.uid in seen or b is a:
                continue
            seen.add(b.uid)
            if b.uid in index:
                edges.add((index[a.uid], index[b.uid]))
            elif b.pseudo:
                stack.extend(c for c, _ in b.edges_out)
    return edges
