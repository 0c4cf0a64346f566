"""The scheduler's entry points: `schedule()` (pure) and `simulate_file()`.

    snapshot (Definition, Status, now)
        │  nodes.interpret_nodes      node health from membership facts
        │  resources.build_resources  configuration joined with operation history
        │  placement.apply_locations  scores from locations, rules, stickiness, failures
        │  placement.build_colocations / assign_all   one node per resource
        │  actions.create_actions     fencing, stops and starts
        │  ordering.apply_orders / propagate          edges and required/unrunnable flags
        │  notifications.create_notifications         notify actions of notify=true clones
        ▼  summary                    Transition Summary lines
    Transition
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from pacer.model.definition import Definition
from pacer.scheduler.actions import Plan, create_actions, settle_reloads
from pacer.scheduler.nodes import interpret_nodes
from pacer.scheduler.notifications import create_notifications
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.ordering import apply_orders, propagate, settle_migrations
from pacer.scheduler.placement import Explain, apply_locations, assign_all, build_colocations
from pacer.scheduler.promotion import PromotionContext
from pacer.scheduler.resources import build_resources
from pacer.scheduler.state import prepare_state
from pacer.scheduler.summary import action_lines, summary_lines
from pacer.scheduler.transition import PlannedAction, Transition
from pacer.status.fresh import all_online_status
from pacer.status.types import Status


@dataclass
class ScheduleResult:
    transition: Transition
    explain: Explain
    plan: Plan = field(repr=False)

    @property
    def summary_lines(self) -> list[str]:
        return list(self.transition.summary)

    @property
    def action_lines(self) -> list[str]:
        return list(self.transition.action_lines)


def schedule(defn: Definition, status: Status, now: int | None = None) -> ScheduleResult:
    """Compute the transition for a snapshot. Pure: same input, same output."""
    if now is None:
        now = status.now if status.now is not None else 0
    opts = ClusterOptions.from_properties(defn.properties)
    nodes = interpret_nodes(defn, status, opts)
    rscs = build_resources(defn, status, nodes, opts, now)
    plan = Plan(defn=defn, status=status, opts=opts, nodes=nodes, rscs=rscs, now=now)
    explain = Explain()
    freeze = not status.have_quorum and opts.no_quorum_policy == "freeze"
    for c in rscs.clones:
        c.promotion_ctx = PromotionContext(defn, now, rscs, freeze)
    prepare_state(plan)
    apply_locations(defn, rscs, nodes, opts, status, now, explain)
    build_colocations(defn, rscs)
    assign_all(rscs, nodes, explain)
    create_actions(plan)
    apply_orders(plan)
    settle_migrations(plan)
    propagate(plan)
    settle_reloads(plan)
    create_notifications(plan)
    chosen = [a for a in plan.actions if a.required]
    index = {a.uid: i for i, a in enumerate(chosen)}
    actions = tuple(
        PlannedAction(key=a.key, task=a.task, node=a.node, rsc=a.rsc_id,
                      interval_ms=a.interval_ms, pseudo=a.pseudo, runnable=a.runnable,
                      reason=a.reason, extra=dict(getattr(a, "notify", None) or {}))
        for a in chosen
    )
    edges = sorted(_graph_edges(chosen, index))
    transition = Transition(
        actions=actions,
        edges=tuple(edges),
        summary=tuple(summary_lines(plan)),
        action_lines=tuple(action_lines(plan)),
        placement={r.id: r.assigned for r in rscs.primitives},
    )
    return ScheduleResult(transition=transition, explain=explain, plan=plan)


def _graph_edges(chosen: list, index: dict[int, int]) -> set[tuple[int, int]]:
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


def load_any(path: str | Path) -> tuple[Definition, Status]:
    """A CIB XML file (definition + status) or a pacer YAML definition (nothing running)."""
    p = Path(path)
    text = p.read_text() if p.exists() else ""
    if p.suffix.lower() == ".xml" or text.lstrip().startswith("<"):
        from pacer.model.cib_import import load_cib

        return load_cib(p)
    from pacer.model.yaml_loader import load_yaml

    defn = load_yaml(p)
    return defn, all_online_status(defn)


def simulate_file(path: str | Path, *, node_down: tuple[str, ...] = (),
                  fail: tuple[str, ...] = (), now: int | None = None) -> ScheduleResult:
    defn, status = load_any(path)
    if node_down or fail:
        from pacer.scheduler.whatif import apply_what_if

        status = apply_what_if(defn, status, node_down=node_down, fail=fail)
    if now is None and status.now is None:
        now = int(time.time())
    return schedule(defn, status, now)
