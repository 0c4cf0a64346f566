"""Step 7, propagation: required / unrunnable flags spread along the ordering
edges until nothing changes — a fixpoint.

An action that becomes required makes the actions it implies required; an
unrunnable action makes the actions that need it unrunnable, and a start that
can no longer run anywhere blocks what is colocated with it (INFINITY). The
flags end the same whatever the order, but the first reason an action receives
is the one reported, so actions are brought up to date in Pacemaker's order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from pacer.model.meta import INFINITY, PROMOTED
from pacer.scheduler.graph import Action, Edge
from pacer.scheduler.ordering import instance_node
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Rsc


def _reason(task_of: Action) -> str:
    if task_of.label is not None:
        return task_of.label
    if task_of.rsc_id is None:
        return task_of.task  # one-or-more:SET
    return f"{task_of.rsc_id} {task_of.task}"


def _passes_through(a: Action, cause: Action) -> bool:
    """A group's own start/stop pseudo action stands for its members' ones:
    what it got from an ordering, its members get from that ordering."""
    return (cause.pseudo and cause.rsc is not None and a.rsc is not None
            and a.rsc.parent is cause.rsc and cause.task in ("start", "stop"))


def _gives_reason(a: Action, cause: Action | None) -> bool:
    return (cause is not None and a.reason is None and cause.rsc_id != a.rsc_id
            and bool(cause.rsc_id or cause.pseudo))


def _set_required(a: Action, cause: Action | None) -> bool:
    if a.required:
        return False
    a.required = True
    if cause is not None and _passes_through(a, cause):
        cause = cause.required_by
    a.required_by = cause
    if cause is not None and _gives_reason(a, cause):
        a.reason = f"required {_reason(cause)}"
    return True


def _set_unrunnable(a: Action, cause: Action | None) -> bool:
    if not a.runnable:
        return False
    a.runnable = False
    if cause is not None and _passes_through(a, cause):
        cause = cause.unrunnable_by
    a.unrunnable_by = cause
    if cause is not None and _gives_reason(a, cause):
        a.reason = f"unrunnable {_reason(cause)}"
    return True


def _resource_rules(r: Rsc) -> list[Action]:
    """A primitive's own consistency: a required start of an active resource
    (restart, or it cannot run any more) requires its stops."""
    changed: list[Action] = []
    start = r.actions.get("start")
    if start is None:
        return changed
    if (start.required or not start.runnable) and r.running_on and r.managed and not r.blocked:
        for s in r.actions.get("stops", []):
            if _set_required(s, None):
                changed.append(s)
    return changed


def _instance_required_on(clone_action: Action, other: Action) -> bool:
    """Does an instance of this clone start or stop on other's node in this
    transition (or, for the clone's promote/promoted, get promoted there)?

    A promotion on `then`'s node restarts it: `first: C, first-action: promote,
    then: X` with C's promoted instance moving to X's node restarts X "due to
    required C promoted"; a promotion elsewhere, or a demote on X's node, leaves
    X alone (crm_simulate, Pacemaker 2.1.5; faultsim finding 5)."""
    node = other.node
    if node is None and isinstance(other.rsc, Rsc) and other.rsc.kind == "group":
        # A group's pseudo action: where the group will be (is, for a stop).
        node = instance_node(other.rsc, other.task in ("stop", "stopped", "demote",
                                                        "demoted"))
    clone = clone_action.rsc
    if node is None or clone is None:
        return False
    promoting = clone_action.task in ("promote", "promoted")
    for inst in clone.children:  # type: ignore[attr-defined]
        for p in inst.primitives():
            if promoting:
                pr = p.actions.get("promote")
                if pr is not None and pr.required and pr.node == node:
                    return True
            start = p.actions.get("start")
            if start is not None and start.required and start.node == node:
                return True
            if any(s.required and s.node == node for s in p.actions.get("stops", [])):
                return True
    return False


def _too_few_runnable(a: Action) -> bool:
    n = sum(1 for f, fl in a.edges_in if fl & Edge.COUNTED and f.runnable)
    return n < a.min_runnable


def _blocked_stop(a: Action) -> bool:
    return (a.task == "stop" and not a.runnable and isinstance(a.rsc, Rsc)
            and a.rsc.blocked)


def _migrating(a: Action, task: str) -> bool:
    return a.task == task and isinstance(a.rsc, Rsc) and a.rsc.migrating


# An action to bring up to date, from which group action (or None), and
# whether it may wait until the current change has been followed through.
Step = tuple[Action, Action | None, bool]


def _members_of(p: Action) -> list[Action]:
    """For a group's running/stopped pseudo action: its members' starts/stops."""
    if not (p.pseudo and isinstance(p.rsc, Rsc) and p.rsc.kind == "group"
            and p.task in ("running", "stopped")):
        return []  # (a clone's running counts its instances: COUNTED edges)
    return [f for f, _ in p.edges_in if isinstance(f.rsc, Rsc) and f.rsc.parent is p.rsc]


def _required(first: Action) -> bool:
    """A group's running/stopped counts as required as soon as one member's
    start/stop is (Pacemaker asks the members, not the pseudo action's flag)."""
    return first.required or any(m.required for m in _members_of(first))


def _runnable(first: Action) -> bool:
    return first.runnable and all(m.runnable for m in _members_of(first))


def _top(r: Rsc) -> Rsc:
    while r.parent is not None:
        r = r.parent
    return r


def _own_action(plan: Plan, r: Rsc, task: str) -> Action | None:
    if r.kind == "primitive":
        return r.actions.get(task)
    return plan.pseudo.get((r.id, task))


def _colocation_blocked(plan: Plan, a: Action) -> list[Action]:
    """A start (or promote) that just became unrunnable: when the whole
    resource it belongs to can no longer start, what is colocated with it
    (INFINITY) cannot reach its role either. Its starts (promotes, for a
    dependent in the promoted role) are blocked "due to colocation with X";
    X is the resource whose action it was, the clone itself for an instance
    (a clone's instances change as one, under the clone's own actions)."""
    r = a.rsc
    if a.task not in ("start", "promote") or not isinstance(r, Rsc):
        return []
    top = _top(r)
    colocs = plan.blocking_colocations.get(id(top))
    if colocs is None:
        colocs = _blocking_colocations(top)
        plan.blocking_colocations[id(top)] = colocs
    if not colocs:
        return []  # (the common case, decided before looking at the instances)
    if top.kind == "clone":
        # (an instance's starts are summed up by the clone's)
        if any(x.runnable for i in top.children
               for x in [_own_action(plan, i, a.task)] if x is not None):
            return []
        named = top
    else:
        if top.kind == "group" and any(
                x is None or x.runnable for x in (_own_action(plan, m, "start")
                                                   for m in top.children)):
            return []
        named = r
    out: list[Action] = []
    for c in colocs:
        if a.task == "promote" and c.primary_role != PROMOTED:
            continue
        dep = c.named_dependent or c.dependent
        task = "promote" if c.dependent_role == PROMOTED else "start"
        # A dependent's own start is blocked, and what belongs to it learns
        # so by its orderings (complex_enforce_colo); its promotes are blocked
        # one by one (promoted-with-blocked).
        for x in [dep, *(_descendants(dep) if task == "promote" else ())]:
            b = _own_action(plan, x, task)
            if b is None or not b.runnable:
                continue
            b.runnable = False
            if b.reason is None:
                b.reason = f"colocation with {named.id}"
            out.append(b)
    return out


def _blocking_colocations(top: Rsc) -> list:
    """The mandatory colocations that name `top` as primary (not a group's own)."""
    out = []
    seen: set[int] = set()
    for p in [top, *top.primitives()]:
        for c in p.dependents:
            if c.named_primary is not top or c.score < INFINITY or id(c) in seen \
                    or c.id.endswith(":internal"):
                continue
            seen.add(id(c))
            out.append(c)
    return out


def _descendants(r: Rsc) -> Iterator[Rsc]:
    for c in r.children:
        yield c
        yield from _descendants(c)


def _update(a: Action, via: Action | None, told: dict[int, tuple[bool, bool]],
            plan: Plan) -> Iterator[Step]:
    """Bring `a` up to date with the actions ordered before it (Pacemaker's
    "then" view of an ordering), yielding every action that must be brought up
    to date in turn, at once (depth first): which action reaches another first
    decides the reason it reports.

    The order within is Pacemaker's: `a` takes what its firsts imply; a start
    makes its own stops necessary; what follows `a` hears of its new flags
    (`told` records what it was last told); only then do the actions `a` needs
    before it hear that it became required.

    A group's start/stop does not reach its members as an ordering of theirs:
    when it changes it hands its flags (and reason) to each member in turn
    (`via`), each followed through before the next."""
    if via is not None:
        for first, flags in a.edges_in:
            if first is via:
                if flags & Edge.IMPLIES_THEN and via.required:
                    _set_required(a, via)
                if flags & Edge.RUNNABLE_LEFT and not via.runnable:
                    _set_unrunnable(a, via)
    # Newest ordering first, as Pacemaker keeps them.
    backward: list[tuple[Action, int]] = []
    edges = a.edges_in[::-1]
    # A resource's own action reaches it before a group's running/stopped does.
    # (sorted only when there is one: most actions have none)
    if any(f.pseudo and f.task in ("running", "stopped") for f, _ in edges):
        edges.sort(key=lambda e: bool(_members_of(e[0])))
    for first, flags in edges:
        if _passes_through(a, first):
            continue
        if flags & Edge.IMPLIES_THEN and _required(first) and not _migrating(first, "start") \
                and (not flags & Edge.ON_NODE or _instance_required_on(first, a)):
            _set_required(a, first)
        if flags & Edge.RUNNABLE_LEFT and not _runnable(first):
            _set_unrunnable(a, first)
        if flags & Edge.COUNTED and not first.runnable and _too_few_runnable(a):
            _set_unrunnable(a, None)
        if flags & Edge.IMPLIES_THEN and _blocked_stop(first) and a.runnable:
            # What must follow the stop of a blocked resource waits forever.
            a.runnable = False
        if flags & Edge.ONE_OR_MORE and not first.runnable and a.runnable and not any(
                f.runnable for f, fl in a.edges_in if fl & Edge.ONE_OR_MORE):
            a.runnable = False
        if flags & Edge.ASYMMETRICAL and not first.runnable:
            # A one-way order only holds back a start that is needed anyway; a
            # group's start stands for its members' starts.
            if a.pseudo:
                for t, _ in a.edges_out:
                    if t.required and _set_unrunnable(t, first):
                        yield t, None, False
            elif a.required:
                _set_unrunnable(a, first)
        if flags & Edge.IMPLIES_FIRST and not first.runnable and a.required \
                and a.task == "stop":
            _set_unrunnable(a, first)
        if flags & Edge.IMPLIES_FIRST and (not flags & Edge.ON_NODE
                                           or _instance_required_on(a, first)):
            backward.append((first, flags))
    was_required, was_runnable = told.get(id(a), (False, True))
    changed = (a.required, a.runnable) != (was_required, was_runnable)
    told[id(a)] = (a.required, a.runnable)  # (what `a` reaches meanwhile needs no telling)
    if was_runnable and not a.runnable:
        # (before its own stops: what is colocated with it hears first)
        for b in _colocation_blocked(plan, a):
            yield b, None, False
    if a.task == "start" and isinstance(a.rsc, Rsc) and a.rsc.kind == "primitive":
        # A start that is required or cannot run needs its stops first.
        for stop in _resource_rules(a.rsc):
            yield stop, None, False
    if changed:
        # A newly required action is followed at once; one that merely cannot
        # run any more tells what follows it once the current change is done
        # (so a group's members all hear of it from the group, in turn).
        later = a.required == was_required
        for then, _ in list(a.edges_out):
            yield then, (a if _passes_through(then, a) else None), later
    if a.required and not _migrating(a, "stop"):
        for first, flags in backward:
            if _set_required(first, None if flags & Edge.QUIET else a):
                yield first, None, False


def _walk_order(plan: Plan) -> list[Action]:
    """The order in which Pacemaker brings actions up to date: fencing, then
    resource by resource, the last configured first (it walks its action list
    from the newest), a group's own pseudo actions before its members', a
    primitive's stops before its start; anything else after."""
    out: list[Action] = [a for a in plan.actions if a.task == "stonith"]

    def walk(r: Rsc) -> None:
        if r.kind == "primitive":
            out.extend(r.actions.get("stops", []))
            if "start" in r.actions:
                out.append(r.actions["start"])
            return
        for task in ("start", "running", "stop", "stopped"):
            p = plan.pseudo.get((r.id, task))
            if p is not None:
                out.append(p)
        for c in r.children:
            walk(c)

    for r in reversed(plan.rscs.top):
        walk(r)
    seen = set(map(id, out))
    out.extend(a for a in plan.actions if id(a) not in seen)
    return out


def propagate(plan: Plan) -> None:
    """Spread required/unrunnable along the edges until nothing changes.

    Every action is brought up to date in Pacemaker's order (`_walk_order`),
    and a change is followed depth first before the walk goes on: the flags end
    the same whatever the order, but the first reason an action gets is the one
    it reports, so the order is Pacemaker's. Flags only ever go one way
    (optional to required, runnable to unrunnable), so this ends."""
    # What each action's successors were last told: (required, runnable); they
    # learn an action's flags as created by pulling when they are updated.
    told: dict[int, tuple[bool, bool]] = {id(a): (a.required, a.runnable)
                                          for a in plan.actions}
    later: deque[Step] = deque()
    for root in _walk_order(plan):
        later.append((root, None, False))
        while later:
            first, via, _ = later.popleft()
            stack: list[Iterator[Step]] = [_update(first, via, told, plan)]
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    stack.pop()
                elif nxt[2]:
                    later.append(nxt)
                else:
                    stack.append(_update(nxt[0], nxt[1], told, plan))
