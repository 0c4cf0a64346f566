"""Actions of clones: promote/demote of instances and the clone's pseudo actions.

Per instance (a primitive or a member of a cloned group), `actions.py` made the
start and stops; here promotable instances get
- a promote on their node when they will be Promoted and are not (or restart),
- a demote where they are Promoted and will not stay so (or stop, or restart),
and each clone gets pseudo actions that orders attach to:

    start ─► instance starts ─► running ─► promote ─► instance promotes ─► promoted
    demote ─► instance demotes ─► demoted ─► stop ─► instance stops ─► stopped ─► start

`running` (and `promoted`) are runnable while at least `clone-min` (default 1)
of their instance actions are: one instance that cannot start does not hold
back what is ordered after the clone.
"""

from __future__ import annotations

from pacer.model.meta import PROMOTED
from pacer.scheduler.graph import Action, Edge, order
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Rsc

STEP = Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT


def create_role_actions(plan: Plan, r: Rsc) -> None:
    """promote/demote actions of one promotable instance primitive."""
    start: Action | None = r.actions.get("start")
    if start is None:
        return
    stops = {s.node: s for s in r.actions.get("stops", [])}
    target = r.assigned
    demotes: list[Action] = []
    for n in r.running_on:
        if r.roles.get(n) != PROMOTED:
            continue
        d = plan.new("demote", n, r)
        stop = stops.get(n)
        d.required = (r.next_role != PROMOTED or target != n or n in r.restart_needed
                      or (stop is not None and stop.required))
        if stop is not None:
            if stop.pseudo:
                d.pseudo = True
            d.runnable = stop.runnable or stop.pseudo
            # A stop of a promoted instance is a demote first.
            order(d, stop, Edge.IMPLIES_FIRST)
        if n in plan.fences:
            d.pseudo = True
            order(plan.fences[n], d, Edge.IMPLIES_THEN)
        demotes.append(d)
    r.actions["demotes"] = demotes
    if r.next_role == PROMOTED and target is not None:
        p = plan.new("promote", target, r)
        p.required = r.roles.get(target) != PROMOTED or start.required
        order(start, p, STEP)
        for d in demotes:
            order(d, p, Edge.OPTIONAL)
        r.actions["promote"] = p


def create_clone_actions(plan: Plan, clone: Rsc) -> None:
    copts = clone.clone_opts
    assert copts is not None
    start = plan.pseudo_action(clone, "start")
    running = plan.pseudo_action(clone, "running")
    stop = plan.pseudo_action(clone, "stop")
    stopped = plan.pseudo_action(clone, "stopped")
    running.min_runnable = max(1, copts.clone_min)
    for inst in clone.children:
        if inst.kind == "primitive":
            i_start = inst.actions.get("start")
            i_stops = inst.actions.get("stops", [])
            if i_start is None:
                continue
            i_starts, i_running = [i_start], [i_start]
        else:
            i_starts = [plan.pseudo_action(inst, "start")]
            i_running = [plan.pseudo_action(inst, "running")]
            i_stops = [plan.pseudo_action(inst, "stop")]
            i_stopped = [plan.pseudo_action(inst, "stopped")]
        for a in i_starts:
            order(start, a, STEP)
        for a in i_running:
            order(a, running, Edge.IMPLIES_THEN | Edge.COUNTED)
        for a in i_stops:
            order(stop, a, STEP)
        for a in (i_stops if inst.kind == "primitive" else i_stopped):
            order(a, stopped, STEP)
    order(stopped, start, Edge.OPTIONAL)
    if not copts.promotable:
        return
    promote = plan.pseudo_action(clone, "promote")
    promoted = plan.pseudo_action(clone, "promoted")
    demote = plan.pseudo_action(clone, "demote")
    demoted = plan.pseudo_action(clone, "demoted")
    promoted.min_runnable = 1
    any_promote = False
    for inst in clone.children:
        for p in inst.primitives():
            if "promote" in p.actions:
                any_promote = True
                order(promote, p.actions["promote"], STEP)
                order(p.actions["promote"], promoted, Edge.IMPLIES_THEN | Edge.COUNTED)
            for d in p.actions.get("demotes", []):
                order(demote, d, Edge.IMPLIES_THEN)
                order(d, demoted, Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT)
    if not any_promote:
        # No instance is or will be promoted: what must follow the promotion
        # cannot happen ("due to unrunnable C promoted (blocked)"); Pacemaker's
        # collective action is runnable only if some instance's promote is
        # (faultsim finding 5: api started on the only node left, whose db
        # could not be promoted).
        promoted.runnable = False
    order(running, promote, Edge.OPTIONAL)
    order(demoted, stop, Edge.OPTIONAL)
    # Nothing is promoted before what is being demoted is (never two promoted
    # at once; found by faultsim: a promote overtook a lost node's demote).
    order(demoted, promote, Edge.OPTIONAL)
