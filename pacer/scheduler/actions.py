"""Step 5, actions: from (current state, assigned node) to start/stop/... actions.

Fencing and unfencing first; then each primitive gets a stop per node it is
active on and one start (on its assigned node, or an unrunnable start when it
has none); whether each is required is decided here from what the primitive
itself needs, and later widened by propagation (`propagation.py`). Groups get
their pseudo actions here, clones their promote/demote and pseudo actions
(`clone_actions.py`), and every start and promote is ordered after the fencing
of a node in an unknown state.
"""

from __future__ import annotations

from pacer.scheduler.clone_actions import create_clone_actions, create_role_actions
from pacer.scheduler.graph import Action, Edge, order
from pacer.scheduler.plan import Plan, can_fence, fence_node
from pacer.scheduler.resources import RELOAD, RESTART, Rsc, digest_change


def create_fencing(plan: Plan) -> None:
    """Unclean nodes are fenced, in reverse configuration order (as Pacemaker lists them)."""
    for name in reversed(list(plan.nodes)):
        info = plan.nodes[name]
        if info.unclean and info.fence_reason and can_fence(plan, info):
            fence_node(plan, name, info.fence_reason)
    if not can_fence(plan):
        return
    create_unfencing(plan)


def create_unfencing(plan: Plan) -> None:
    """With a fence device that provides unfencing (meta provides=unfencing,
    e.g. fence_scsi), a node must be unfenced ("on") before anything runs there,
    probes included: every online node not yet unfenced (#node-unfenced) that
    still has a resource to probe is, in reverse configuration order."""
    prims = [r for r in plan.rscs.primitives if not r.orphan]
    if not any(r.prim is not None and r.prim.agent_class == "stonith"
               and r.meta.get("provides", "") == "unfencing" for r in prims):
        return
    devices = [r for r in prims if r.prim is not None and r.prim.agent_class == "stonith"
               and r.meta.get("provides", "") == "unfencing"]
    for name in reversed(list(plan.nodes)):
        info = plan.nodes[name]
        if not info.online or info.unclean or info.pending:
            continue
        if "#node-unfenced" in info.attrs:
            # An unfencing device whose definition changed where it runs: the
            # node is unfenced again, and what runs there restarts after it
            # (unfence-definition, unfence-parameters).
            for d in devices:
                nh = d.history.get(name)
                if name not in d.running_on or nh is None or digest_change(d, nh) != RESTART:
                    continue
                why = "definition" if nh.agent_changed else "parameters"
                a = plan.new("stonith", name, rsc_id=None, required=True,
                             fence_reason=f"Device {why} changed")
                a.fence_action = "on"
                plan.reunfenced[name] = a
                break
            continue
        unprobed = next((r for r in prims if not (r.history.get(name)
                                                  and r.history[name].known)), None)
        if unprobed is None:
            continue
        a = plan.new("stonith", name, rsc_id=None, required=True,
                     fence_reason=f"required by {unprobed.id} monitor")
        a.fence_action = "on"


def _stop_is_pseudo(plan: Plan, node: str) -> bool:
    return node in plan.fences


def create_primitive_actions(plan: Plan, r: Rsc) -> None:
    opts = plan.opts
    nodes = plan.nodes
    cur = list(r.running_on)
    target = r.assigned
    if not r.managed or r.blocked:
        # Left alone: nothing may be asked of it, so what depends on its start waits.
        start = plan.new("start", target, r, runnable=not r.blocked)
        r.actions["start"] = start
        r.actions["stops"] = [plan.new("stop", n, r, runnable=False) for n in cur]
        return
    requires = r.meta.get("requires", "")
    quorum_ok = (plan.status.have_quorum or opts.no_quorum_policy == "ignore"
                 or requires == "nothing")

    # Where must it restart in place?
    for n in cur:
        nh = r.history.get(n)
        if nh is None:
            continue
        if nh.failed and nh.on_fail not in ("ignore", "block"):
            r.restart_needed.add(n)
            continue  # recovered anyway: a reload would change nothing
        change = digest_change(r, nh)
        if change == RESTART:
            r.restart_needed.add(n)
            r.changed_nodes.add(n)
            # (A new agent replaces the old one without that reason.)
            r.definition_changed = r.definition_changed or not nh.agent_changed
        elif change == RELOAD:
            if nh.pending == "start":
                # A start still in flight cannot be reloaded: stop it and start
                # again (and this restart is not reported as a definition change).
                r.restart_needed.add(n)
            else:
                r.reload_nodes.add(n)
    # Active on several nodes; a copy on a node being fenced goes with the node.
    multiply_active = len([n for n in cur if n not in plan.fences]) > 1

    start: Action
    if target is not None:
        start = plan.new("start", target, r)
        start.required = target not in cur or target in r.restart_needed or multiply_active
        if not quorum_ok:
            if opts.no_quorum_policy == "freeze":
                if not cur:
                    start.runnable = False
                    start.reason = "quorum freeze"
            else:
                start.runnable = False
                start.reason = "no quorum"
                start.required = True
    else:
        start = plan.new("start", None, r)
        start.runnable = False
        # A primitive that stops has a required (unrunnable) start, which is what
        # orders after it see ("required B start"); a clone instance's has not:
        # a clone whose instances all stop does not make its running required,
        # so what follows it stops "due to unrunnable C running" (bug-lf-2453).
        start.required = bool(cur) and r.clone is None
    r.actions["start"] = start
    clone = r.clone
    if any(info.probe_pending and not (r.history.get(n) and r.history[n].known)
           and not (clone is not None and n in clone.known_nodes)
           for n, info in nodes.items()) and (start.required or not cur):
        # It must first be probed on a joining node, which cannot run a probe yet.
        start.runnable = False
    if len(cur) > 1 and r.multiple_active == "stop_unexpected" and start.reason is None:
        start.reason = "being multiply active"
    again = [n for n in cur if n in plan.reunfenced]
    if again and r.prim is not None and r.prim.agent_class != "stonith":
        r.restart_needed.update(again)
        if target in again:
            start.required = True
            if start.reason is None:
                start.reason = "required stonith"
    if r.definition_changed and start.reason is None and r.prim is not None \
            and r.prim.agent_class != "lsb" \
            and not (r.prim.agent_class == "stonith" and r.clone is not None):
        # (A cloned fence device's restart is printed without a reason: probe-2.)
        start.reason = "resource definition change"

    stops: list[Action] = []
    for n in cur:
        stop = plan.new("stop", n, r)
        stop.required = n != target or n in r.restart_needed or multiply_active
        if not quorum_ok and opts.no_quorum_policy in ("stop", "demote", "suicide"):
            stop.required = True
            # (on a node being fenced it stops with the node, for that reason)
            if stop.reason is None and not _stop_is_pseudo(plan, n):
                stop.reason = "no quorum"
        if target is None and stop.reason is None and r.stop_reason:
            stop.reason = r.stop_reason
        info = nodes.get(n)
        if _stop_is_pseudo(plan, n):
            stop.pseudo = True
            order(plan.fences[n], stop, Edge.IMPLIES_THEN)
        elif info is None or not info.online or info.pending or info.unclean:
            stop.runnable = False
        stops.append(stop)
        # It cannot start (anywhere) before it has stopped where it was; a stop
        # that fencing carries out does not by itself call for a new start.
        order(stop, start, Edge.OPTIONAL if stop.pseudo
              else Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT)
    r.actions["stops"] = stops
    for n in again:
        # Stopped before the node is unfenced again, started after.
        unfence = plan.reunfenced[n]
        for stop in stops:
            if stop.node == n:
                order(stop, unfence, Edge.OPTIONAL)
        if target == n:
            order(unfence, start, Edge.OPTIONAL)
    # The source of a completed migration is cleaned up (no summary line).
    r.actions["cleanup_stops"] = [plan.new("stop", n, r, required=True)
                                  for n in r.migration_sources]
    if target in r.reload_nodes and target in cur and not multiply_active:
        # Dropped again (api) if it restarts there anyway.
        r.actions["reload"] = plan.new("reload-agent", target, r, required=True)
    r.migrating = (
        r.allow_migrate
        and len(cur) == 1
        and target is not None
        and target != cur[0]
        and start.runnable
        and not r.failed_nodes
        # A migration carries the new parameters too: only a failure forbids it.
        and not (r.restart_needed - r.changed_nodes)
        and not r.dangling_migration
        and not stops[0].pseudo
        and stops[0].runnable
        and (r.prim is None or r.prim.agent_class in ("ocf", "pacer"))
    )
    if start.node is not None:
        # Nothing starts where a fence is still pending elsewhere for this resource.
        for n in cur:
            if n in plan.fences:
                order(plan.fences[n], start, Edge.OPTIONAL)


def settle_reloads(plan: Plan) -> None:
    """A resource that is stopped or restarted anyway takes its new parameters
    with the start: its reload is dropped."""
    for r in plan.rscs.primitives:
        reload = r.actions.get("reload")
        if reload is None:
            continue
        start = r.actions["start"]
        if start.required or not start.runnable or any(s.required for s in r.actions["stops"]):
            reload.required = False


def create_actions(plan: Plan) -> None:
    create_fencing(plan)
    for r in plan.rscs.primitives:
        create_primitive_actions(plan, r)
    for r in plan.rscs.by_id.values():
        if r.kind == "group":
            _group_pseudo_actions(plan, r)
    for c in plan.rscs.clones:
        if c.clone_opts is not None and c.clone_opts.promotable:
            for inst in c.children:
                for p in inst.primitives():
                    create_role_actions(plan, p)
        create_clone_actions(plan, c)
    order_after_fencing(plan)


def requires(plan: Plan, r: Rsc) -> str:
    """The resource's `requires` meta attribute, or its default (Pacemaker
    Explained: quorum for a fence device; otherwise unfencing when a device
    provides unfencing, fencing when stonith is enabled, else quorum)."""
    value = r.meta.get("requires", "").lower()
    if value in ("nothing", "quorum", "fencing", "unfencing"):
        return value
    if r.prim is not None and r.prim.agent_class == "stonith":
        return "quorum"
    if not plan.opts.stonith_enabled:
        return "quorum"
    if any(p.prim is not None and p.prim.agent_class == "stonith"
           and p.meta.get("provides", "") == "unfencing" for p in plan.rscs.primitives):
        return "unfencing"
    return "fencing"


def order_after_fencing(plan: Plan) -> None:
    """A resource that requires fencing starts (or is promoted) only after every
    node in an unknown state has been fenced: it may still run there, and the
    scheduler cannot know (a stop that was in flight when the node was lost
    leaves history that says nothing about whether it finished). One that
    requires quorum waits only for the fencing of a node it could run on and
    whose state there is unknown (never probed); `nothing` waits for none.
    (crm_simulate 2.1.5 orders them so: every start after `stonith-<node>`.)"""
    if not plan.fences:
        return
    for r in plan.rscs.primitives:
        need = requires(plan, r)
        if need == "nothing":
            continue
        acts = [a for a in (r.actions.get("start"), r.actions.get("promote"))
                if a is not None and a.node is not None]
        if not acts:
            continue
        for node, fence in plan.fences.items():
            if need == "quorum":
                nh = r.history.get(node)
                if (nh is not None and nh.known) or node not in r.allowed:
                    continue
                flags = Edge.OPTIONAL | Edge.RUNNABLE_LEFT
            else:
                flags = Edge.OPTIONAL
            for a in acts:
                if a.node != node:
                    order(fence, a, flags)


def _group_pseudo_actions(plan: Plan, g: Rsc) -> None:
    start = plan.pseudo_action(g, "start")
    running = plan.pseudo_action(g, "running")
    stop = plan.pseudo_action(g, "stop")
    stopped = plan.pseudo_action(g, "stopped")
    for m in g.children:
        for p in m.primitives():
            if "start" not in p.actions:
                continue
            order(start, p.actions["start"], Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT)
            order(p.actions["start"], running, Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT)
            for s in p.actions["stops"]:
                order(stop, s, Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT)
                order(s, stopped, Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT)
