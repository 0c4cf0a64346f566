"""Step 6, ordering: order constraints (and a group's own order) as edges
between actions, and live migration where nothing it must follow moves the
slow way.

Interleaved clones pair instances by node (an instance with no peer stays
stopped); a clone before a primitive restarts it only for its instance on that
node; require-all=false and clone-min use a one-or-more pseudo action. What the
edges imply is spread by propagation.py.
"""

from __future__ import annotations

from pacer.model.definition import Order, ResourceSet
from pacer.model.meta import STOPPED
from pacer.scheduler.graph import Action, Edge, order
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Rsc

INVERSE = {"start": "stop", "stop": "start", "promote": "demote", "demote": "promote"}
# A collective resource's action as the first of an order completes with its
# "done" pseudo action.
DONE = {"start": "running", "stop": "stopped", "promote": "promoted", "demote": "demoted"}


def _first_actions(plan: Plan, r: Rsc, task: str) -> list[Action]:
    if r.kind == "primitive":
        return _primitive_actions(r, task)
    return [plan.pseudo_action(r, DONE.get(task, task))]


def _then_actions(plan: Plan, r: Rsc, task: str) -> list[Action]:
    if r.kind == "primitive":
        return _primitive_actions(r, task)
    return [plan.pseudo_action(r, task)]


def _primitive_actions(r: Rsc, task: str) -> list[Action]:
    if task == "start":
        a = r.actions.get("start")
        return [a] if a is not None else []
    if task == "stop":
        return list(r.actions.get("stops", []))
    return []


def instance_node(inst: Rsc, current: bool) -> str | None:
    """Where an instance will be (or, for stops and demotes, where it is now)."""
    for p in inst.primitives():
        if current and p.running_on:
            return p.running_on[0]
        if not current and p.assigned is not None:
            return p.assigned
    return None


def _peers(first: Rsc, then: Rsc, current: bool) -> list[tuple[Rsc, Rsc | None]]:
    by_node: dict[str, Rsc] = {}
    for f in first.children:
        n = instance_node(f, current)
        if n is not None:
            by_node.setdefault(n, f)
    out: list[tuple[Rsc, Rsc | None]] = []
    for t in then.children:
        n = instance_node(t, current)
        out.append((t, by_node.get(n) if n is not None else None))
    return out


def _order_interleaved(plan: Plan, first: Rsc, first_task: str, then: Rsc, then_task: str,
                       kind: str, symmetrical: bool) -> None:
    """Each instance of `then` is ordered after the instance of `first` on its node."""
    stopping = first_task in ("stop", "demote")
    if kind == "Mandatory" and first_task == "start":
        plan.interleaved_starts.append((first, then))
    for t, f in _peers(first, then, stopping):
        if f is not None:
            order_resources(plan, f, first_task, t, then_task, kind, symmetrical,
                            part="forward")
        elif kind == "Mandatory" and first_task == "start" and \
                instance_node(t, False) is not None:
            _inhibit(t)
    if symmetrical and first_task in INVERSE and then_task in INVERSE:
        for t, f in _peers(first, then, not stopping):
            if f is not None:
                order_resources(plan, f, first_task, t, then_task, kind, symmetrical,
                                part="inverse")


def _inhibit_transitively(plan: Plan) -> None:
    """Until nothing changes: an interleaved instance whose peer was itself
    kept from being active cannot be active either (order-clone)."""
    pairs = plan.interleaved_starts
    changed = bool(pairs)
    while changed:
        changed = False
        for first, then in pairs:
            for t, f in _peers(first, then, False):
                if f is None and instance_node(t, False) is not None:
                    _inhibit(t)
                    changed = True


def _inhibit(inst: Rsc) -> None:
    """An interleaved instance with no peer on its node may not be active at all."""
    for p in inst.primitives():
        start = p.actions.get("start")
        p.assigned = None
        p.next_role = STOPPED
        if start is not None:
            start.node = None
            start.runnable = False
            start.required = bool(p.running_on)
            start.reason = ""  # Pacemaker gives these stops no reason
        for s in p.actions.get("stops", []):
            s.required = True
            s.reason = ""


def _clone_one_or_more(plan: Plan, first: Rsc, first_task: str, order_id: str
                       ) -> Action | None:
    """Clone `first` with require-all=false or clone-min: a pseudo action that is
    runnable while enough instances can start, standing in for the clone."""
    if first.kind != "clone" or first_task != "start" or first.clone_opts is None:
        return None
    a = plan.new("one-or-more", None, rsc_id=f"clone-one-or-more:{order_id}", pseudo=True)
    a.label = a.rsc_id
    a.min_runnable = max(1, first.clone_opts.clone_min)
    for inst in first.children:
        for b in _first_actions(plan, inst, "start"):
            order(b, a, Edge.COUNTED)
    return a


def order_resources(plan: Plan, first: Rsc, first_task: str, then: Rsc, then_task: str,
                    kind: str, symmetrical: bool, order_id: str | None = None,
                    require_all: bool = True, part: str = "both",
                    internal: bool = False) -> None:
    """`first first_task` before `then then_task`, and (symmetrical) the inverse
    for the opposite tasks. `part` limits it to the "forward" or "inverse"
    edges (interleaved clones pair instances differently). `internal`: a
    group's own member order, whose stop chain names the member that made a
    stop necessary; a constraint's inverse makes stops necessary without a
    reason of their own."""
    if first is then:
        return
    if order_id is not None and kind == "Mandatory" and first.kind == "clone" and (
            not require_all or (first.clone_opts and first.clone_opts.clone_min > 0)):
        gate = _clone_one_or_more(plan, first, first_task, order_id)
        if gate is not None:
            for b in _then_actions(plan, then, then_task):
                order(gate, b, Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT)
            if symmetrical and then_task in INVERSE:
                for a in _first_actions(plan, then, INVERSE[then_task]):
                    for b in _then_actions(plan, first, INVERSE[first_task]):
                        order(a, b, Edge.IMPLIES_FIRST)
            return
    if (first.kind == "clone" and then.kind == "clone" and then.clone_opts is not None
            and then.clone_opts.interleave):
        _order_interleaved(plan, first, first_task, then, then_task, kind, symmetrical)
        return
    if kind == "Mandatory" and first_task == "start" and then_task == "start":
        for t in then.primitives():
            t.order_firsts.extend(first.primitives())
    if kind == "Mandatory":
        fwd = Edge.IMPLIES_THEN
        if first_task in ("start", "promote"):
            fwd |= Edge.RUNNABLE_LEFT
        if not symmetrical:
            fwd = Edge.ASYMMETRICAL
        inv = Edge.IMPLIES_FIRST if internal else Edge.IMPLIES_FIRST | Edge.QUIET
    elif kind == "Serialize":
        fwd = inv = Edge.SERIALIZE
    else:
        fwd = inv = Edge.OPTIONAL
        # The deprecated restart-type=restart meta makes an optional order restart
        # that resource when the other one is (re)started or stopped.
        if _restart_type(then):
            fwd = Edge.IMPLIES_THEN
        if _restart_type(first):
            inv = Edge.IMPLIES_FIRST
    if first.kind == "clone" and then.kind != "clone":
        # A clone before one resource: only its instance on that resource's node
        # restarts it (pacemaker-semantics-clones.md §5.2).
        fwd |= Edge.ON_NODE
        inv |= Edge.ON_NODE
    if part != "inverse":
        for a in _first_actions(plan, first, first_task):
            for b in _then_actions(plan, then, then_task):
                order(a, b, fwd)
    if symmetrical and part != "forward" and first_task in INVERSE and then_task in INVERSE:
        for a in _first_actions(plan, then, INVERSE[then_task]):
            for b in _then_actions(plan, first, INVERSE[first_task]):
                order(a, b, inv)


def _restart_type(r: Rsc) -> bool:
    return r.meta.get("restart-type", "ignore").lower() == "restart"


def _default_symmetrical(o: Order) -> bool:
    if o.symmetrical is not None:
        return o.symmetrical
    return o.kind != "Serialize"


def apply_orders(plan: Plan) -> None:
    # Groups: each member after the previous one.
    for r in plan.rscs.by_id.values():
        if r.kind == "group":
            ordered = r.meta.get("ordered", "true") != "false"
            if not ordered:
                continue
            for prev, cur in zip(r.children, r.children[1:], strict=False):
                order_resources(plan, prev, "start", cur, "start", "Mandatory", True,
                                internal=True)
    for o in plan.defn.orders:
        sym = _default_symmetrical(o)
        if o.sets:
            _order_sets(plan, o, sym)
            continue
        first = plan.rscs.find(o.first)
        then = plan.rscs.find(o.then)
        if first is None or then is None:
            continue
        then_action = o.then_action or o.first_action
        order_resources(plan, first, o.first_action, then, then_action, o.kind, sym, o.id,
                        o.require_all)
    _inhibit_transitively(plan)


def _order_sets(plan: Plan, o: Order, sym: bool) -> None:
    sets: list[ResourceSet] = list(o.sets)

    def members(s: ResourceSet) -> list[Rsc]:
        return [r for r in (plan.rscs.find(x) for x in s.resources) if r is not None]

    def kind_of(s: ResourceSet) -> str:
        if s.kind:
            return s.kind
        return o.kind

    for s in sets:
        ms = members(s)
        action = s.action or o.first_action
        if s.sequential:
            for a, b in zip(ms, ms[1:], strict=False):
                order_resources(plan, a, action, b, action, kind_of(s), sym)
    for s1, s2 in zip(sets, sets[1:], strict=False):
        m1, m2 = members(s1), members(s2)
        if not m1 or not m2:
            continue
        a1 = s1.action or o.first_action
        a2 = s2.action or o.then_action or o.first_action
        entries = [m2[0]] if s2.sequential else m2
        if not s1.require_all:
            _one_or_more(plan, s1.id, m1, a1, entries, a2, o.kind, sym)
            continue
        exits = [m1[-1]] if s1.sequential else m1
        for a in exits:
            for b in entries:
                order_resources(plan, a, a1, b, a2, o.kind, sym)


def _one_or_more(plan: Plan, set_id: str, firsts: list[Rsc], first_task: str,
                 thens: list[Rsc], then_task: str, kind: str, symmetrical: bool) -> None:
    """require-all=false: the next set may go ahead once any one member of this
    set can; a pseudo action `one-or-more:SET` stands for "any one of them"."""
    key = ("", f"one-or-more:{set_id}")
    pseudo = plan.pseudo.get(key)
    if pseudo is None:
        pseudo = plan.new(key[1], None, rsc_id=None, pseudo=True)
        plan.pseudo[key] = pseudo
    for f in firsts:
        for a in _first_actions(plan, f, first_task):
            # Only runnability flows in: one member (re)starting restarts nothing.
            order(a, pseudo, Edge.ONE_OR_MORE)
    if kind != "Mandatory":
        fwd = Edge.OPTIONAL
    elif symmetrical:
        fwd = Edge.IMPLIES_THEN | Edge.RUNNABLE_LEFT
    else:
        fwd = Edge.ASYMMETRICAL
    for t in thens:
        for b in _then_actions(plan, t, then_task):
            order(pseudo, b, fwd)


# --------------------------------------------------------------------------- migration


def settle_migrations(plan: Plan) -> None:
    """A resource migrates only if nothing it must start after moves the slow way."""
    changed = True
    while changed:
        changed = False
        for r in plan.rscs.primitives:
            if not r.migrating:
                continue
            for f in r.order_firsts:
                if f.migrating or f is r:
                    continue
                stops = f.actions.get("stops", [])
                name = f.id
                if f.clone is not None:
                    # A clone counts as a whole: it moves the slow way only when
                    # one of its instances stops and one starts (an instance that
                    # only stops lets r migrate: 10-a-then-bm-b-move-a-clone).
                    insts = [p for i in f.clone.children for p in i.primitives()]
                    if not any(p.actions.get("start") is not None
                               and p.actions["start"].required for p in insts):
                        continue
                    stops = [s for p in insts for s in p.actions.get("stops", [])]
                    name = f.clone.id
                if any(s.required for s in stops):
                    r.migrating = False
                    stop = r.actions["stops"][0]
                    moving = f.actions.get("start") is not None and f.actions["start"].runnable
                    if stop.reason is None and moving:
                        stop.reason = f"unrunnable {name} stop"
                    changed = True
                    break
