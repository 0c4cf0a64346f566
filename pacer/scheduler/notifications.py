"""Step 8, notifications: for clones with meta notify=true, notify actions
around start, stop, promote and demote, with the variables the agents receive.

Made once the transition is settled (after propagation), so it knows which
instance actions happen. For each operation of the clone that happens, two
phases, each a chain of pseudo actions with one `notify` per recipient:

    pre_notify_<op> ─► R:i notify (pre) ─► confirmed-pre_notify_<op> ─► <op>
    <op>-done ─► post_notify_<done> ─► R:i notify (post) ─► confirmed-post_notify_<done>

(`<done>` is running / stopped / promoted / demoted; confirmed-pre also comes
before post.) Phases of one clone follow each other: demote, then stop, then
start, then promote (confirmed-post of one before pre of the next).

Recipients: pre-start and pre/post-promote go to the instances active at
that moment (active now and not stopping, plus started ones for promote),
post-start to those active after it, pre-stop and pre/post-demote to all
active instances, post-stop to those not stopping.

The variables are the same for every notification of a clone in one
transition (only type/operation differ): space-separated instance ids and
their node names, sorted by instance id; an empty list is a single space, as
Pacemaker sets it.
"""

from __future__ import annotations

from pacer.model.meta import PROMOTED
from pacer.scheduler.graph import Action, Edge, order
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Rsc

DONE = {"start": "running", "stop": "stopped", "promote": "promoted", "demote": "demoted"}
# Phase order: confirmed-post of the first before pre of the second.
AFTER = [("demote", "stop"), ("demote", "start"), ("demote", "promote"),
         ("stop", "start"), ("stop", "promote"), ("start", "promote")]
EDGE = Edge.IMPLIES_THEN  # notifications follow their operation


def _happens(a: Action | None) -> bool:
    return a is not None and a.required and (a.runnable or a.pseudo)


def _pairs(entries: list[tuple[str, str]]) -> tuple[str, str]:
    entries = sorted(set(entries))
    if not entries:
        return " ", " "
    return " ".join(r for r, _ in entries), " ".join(n for _, n in entries)


def _variables(plan: Plan, clone: Rsc, prims: list[Rsc]) -> dict[str, str]:
    promotable = bool(clone.clone_opts and clone.clone_opts.promotable)
    lists: dict[str, list[tuple[str, str]]] = {
        k: [] for k in ("start", "stop", "promote", "demote", "active", "promoted", "unpromoted")}
    inactive: list[str] = []
    for p in prims:
        active = [n for n in p.running_on]
        if not active:
            inactive.append(p.id)
        for n in active:
            lists["active"].append((p.id, n))
            role = p.roles.get(n)
            if promotable and role == PROMOTED:
                lists["promoted"].append((p.id, n))
            elif promotable:
                lists["unpromoted"].append((p.id, n))
        start = p.actions.get("start")
        if _happens(start) and not start.pseudo:
            lists["start"].append((p.id, start.node))
        for s in p.actions.get("stops", []):
            if _happens(s):
                lists["stop"].append((p.id, s.node))
        if _happens(p.actions.get("promote")):
            lists["promote"].append((p.id, p.actions["promote"].node))
        for d in p.actions.get("demotes", []):
            if _happens(d):
                lists["demote"].append((p.id, d.node))
    out: dict[str, str] = {}
    for k in ("start", "stop", "promote", "demote", "active", "promoted", "unpromoted"):
        out[f"notify_{k}_resource"], out[f"notify_{k}_uname"] = _pairs(lists[k])
    out["notify_master_resource"] = out["notify_promoted_resource"]
    out["notify_master_uname"] = out["notify_promoted_uname"]
    out["notify_slave_resource"] = out["notify_unpromoted_resource"]
    out["notify_slave_uname"] = out["notify_unpromoted_uname"]
    # (Known difference: Pacemaker sometimes lists one more never-active instance
    # of an anonymous clone, e.g. R:2 with clone-max=2, when old history binds it.)
    out["notify_inactive_resource"] = " ".join(sorted(inactive)) or " "
    # Nodes that may run it (a node shutting down still counts).
    available = sorted(n for n, sc in clone.allowed.items()
                       if n in plan.nodes and plan.nodes[n].online
                       and not plan.nodes[n].unclean)
    out["notify_available_uname"] = " ".join(available) or " "
    out["notify_all_uname"] = " ".join(sorted(plan.nodes)) or " "
    return out


def _recipients(prims: list[Rsc], op: str, phase: str) -> list[tuple[Rsc, str]]:
    out: list[tuple[Rsc, str]] = []
    for p in prims:
        stopping = {s.node for s in p.actions.get("stops", []) if _happens(s)}
        start = p.actions.get("start")
        started = start.node if _happens(start) and not start.pseudo else None
        active = list(p.running_on)
        if op in ("demote",) or (op == "stop" and phase == "pre"):
            nodes = active
        else:
            nodes = [n for n in active if n not in stopping]
            if op == "promote" or (op == "start" and phase == "post"):
                if started is not None and started not in nodes:
                    nodes.append(started)
        out.extend((p, n) for n in nodes)
    return out


def create_notifications(plan: Plan) -> None:
    for clone in plan.rscs.clones:
        copts = clone.clone_opts
        if copts is None or not copts.notify:
            continue
        prims = [p for inst in clone.children for p in inst.primitives()]
        ops = ["demote", "stop", "start", "promote"] if copts.promotable else ["stop", "start"]
        per_op = {
            "start": [p.actions.get("start") for p in prims],
            "stop": [s for p in prims for s in p.actions.get("stops", [])],
            "promote": [p.actions.get("promote") for p in prims],
            "demote": [d for p in prims for d in p.actions.get("demotes", [])],
        }
        happening = [op for op in ops if any(_happens(a) for a in per_op[op])]
        if not happening:
            continue
        variables = _variables(plan, clone, prims)
        phases: dict[str, tuple[Action, Action]] = {}
        for op in happening:
            done = DONE[op]
            op_action = plan.pseudo.get((clone.id, op))
            done_action = plan.pseudo.get((clone.id, done))
            pre = plan.new(f"pre_notify_{op}", None, clone, pseudo=True, required=True)
            cpre = plan.new(f"confirmed-pre_notify_{op}", None, clone, pseudo=True,
                            required=True)
            post = plan.new(f"post_notify_{done}", None, clone, pseudo=True, required=True)
            cpost = plan.new(f"confirmed-post_notify_{done}", None, clone, pseudo=True,
                             required=True)
            order(pre, cpre, EDGE)
            order(cpre, post, EDGE)
            order(post, cpost, EDGE)
            if op_action is not None:
                order(cpre, op_action, Edge.OPTIONAL)
            if done_action is not None:
                order(done_action, post, EDGE)
            # Directly too: the clone's own pseudo action may not be in the transition.
            for a in per_op[op]:
                if _happens(a):
                    order(cpre, a, Edge.OPTIONAL)
                    order(a, post, EDGE)
            for phase, first, last in (("pre", pre, cpre), ("post", post, cpost)):
                for p, node in _recipients(prims, op, phase):
                    info = plan.nodes.get(node)
                    if info is None or not info.online or node in plan.fences:
                        continue
                    n = plan.new("notify", node, p, required=True)
                    n.op_key = f"{p.id}_{phase}_notify_{op}_0"
                    n.notify = dict(variables, notify_type=phase, notify_operation=op,
                                    notify_key_type=phase,
                                    notify_key_operation=op if phase == "pre" else done)
                    order(first, n, EDGE)
                    order(n, last, EDGE)
            phases[op] = (pre, cpost)
        for a, b in AFTER:
            if a in phases and b in phases:
                order(phases[a][1], phases[b][0], EDGE)
