"""Step 5, roles: which placed instances of a promotable clone are promoted — pure.

Taken by assignment.py as soon as a promotable clone's instances are placed
(what is colocated with the promoted role is placed after it), which also
asks here for the promotion scores that pull instances to a node.

(pacemaker-semantics-clones.md §4.) An instance's promotion score on its node is
the node attribute `master-<id>` that its agent sets (when that node's value
counts for the instance), plus `role=Promoted` location constraints, plus
colocations naming the promoted role. Instances are promoted best score first
while fewer than `promoted-max` (and `promoted-node-max` per node) are chosen and
the score is not negative. There is no promotion stickiness: the current
promoted instance only wins ties.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacer.model.definition import Definition
from pacer.model.meta import (
    INFINITY,
    MINUS_INFINITY,
    PROMOTED,
    STOPPED,
    UNPROMOTED,
    add_scores,
    parse_score,
)
from pacer.scheduler.colocation import node_attr, primary_nodes, scale_score
from pacer.scheduler.explanation import Explain
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.resources import Resources, Rsc, group_first
from pacer.scheduler.rules import RuleContext, evaluate
from pacer.scheduler.scores import location_add, location_targets, rule_score
from pacer.status.instances import split_instance_id


@dataclass(frozen=True)
class PromotionContext:
    """What role selection needs beyond the clone: constraints, time, quorum."""

    defn: Definition
    now: int
    rscs: Resources
    freeze_no_quorum: bool


def _attr_names(p: Rsc, node: str, unique: bool) -> list[str]:
    """`master-<id>` under the name history knows it by there (a unique instance: its
    own id), then the id without instance number."""
    base, _ = split_instance_id(p.id)
    names = []
    for rid in (p.history_id_on.get(node), p.id if unique else None, base):
        if rid is not None and f"master-{rid}" not in names:
            names.append(f"master-{rid}")
    return names


def attribute_score(clone: Rsc, inst: Rsc, node: str, nodes: dict[str, NodeInfo]
                    ) -> int | None:
    """The agent-set promotion score of `inst` on `node`, when that value counts."""
    copts = clone.clone_opts
    assert copts is not None
    info = nodes.get(node)
    if info is None:
        return None
    active_here = any(node in p.running_on for p in inst.primitives())
    if clone.known_nodes and not active_here:
        if copts.unique:
            # A unique instance's value counts where it has history of its own,
            # even stopped (promoted-9).
            if not any(p.history.get(node) is not None and p.history[node].known
                       for p in inst.primitives()):
                return None
        elif node not in clone.known_nodes or any(
                node in p.running_on for i in clone.children for p in i.primitives()):
            return None
    total: int | None = None
    for p in inst.primitives():
        names = _attr_names(p, node, copts.unique)
        if not copts.unique and p.history_id_on.get(node) is None and p.parent is not None:
            # An anonymous instance's history there may be bound to a sibling
            # (all stopped): the name it is known by there is the sibling's
            # (promoted-probed-score).
            local = split_instance_id(p.id)[0]
            for i in clone.children:
                for q in i.primitives():
                    rid = q.history_id_on.get(node)
                    if rid is not None and split_instance_id(q.id)[0] == local \
                            and f"master-{rid}" not in names:
                        names.insert(len(names) - 1, f"master-{rid}")
        for name in names:
            v = info.attrs.get(name)
            if v is not None:
                total = add_scores(total or 0, parse_score(v, lenient=True))
                break
    return total


def add_placement_scores(clone: Rsc, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    """A positive promotion score also counts for placement on that node."""
    for inst in clone.children:
        lead = group_first(inst)
        for n in list(lead.allowed):
            if lead.allowed[n] < 0:
                continue
            v = attribute_score(clone, inst, n, nodes)
            if v is not None and v > 0:
                location_add(lead, n, v, explain, f"promotion score {v} (master attribute)")


def _role_location_scores(clone: Rsc, plan_defn, nodes: dict[str, NodeInfo], now: int,
                          rscs) -> dict[str, int]:
    out: dict[str, int] = {}
    for loc in plan_defn.locations:
        if loc.role != PROMOTED and not any(r.role == PROMOTED for r in loc.rules):
            continue
        if clone not in location_targets(loc, rscs):
            continue
        if loc.rules:
            for rule in loc.rules:
                if loc.role != PROMOTED and rule.role != PROMOTED:
                    continue
                for n, info in nodes.items():
                    if not evaluate(rule, RuleContext(node_attrs=info.attrs, now=now)):
                        continue
                    s = rule_score(rule, info)
                    if s is not None:
                        out[n] = add_scores(out.get(n, 0), s)
        elif loc.node is not None and loc.score is not None:
            out[loc.node] = add_scores(out.get(loc.node, 0), loc.score)
    return out


def _clone_level(clone: Rsc, node: str, score: int, nodes: dict[str, NodeInfo],
                 why: list[str]) -> int:
    """The clone's own score on the node (its locations, what is colocated with
    it) and finite colocations of the promoted role, added to an instance's
    priority (promoted-demote)."""
    table = clone.allowed.get(node, 0)
    if table and abs(table) < INFINITY:
        score = add_scores(score, table)
        why.append(f"the clone's own score there {table:+d}")
    for c in clone.with_primaries:
        if c.dependent_role != PROMOTED or c.score >= INFINITY:
            continue
        if c.primary.kind == "primitive":
            # The primary's own score there, scaled and truncated (100 with a
            # primary scoring 200 adds nothing: promoted-ordering).
            pscore = c.primary.allowed.get(node, 0)
            if abs(pscore) < INFINITY:
                score = add_scores(score, int(pscore * c.score / INFINITY))
            continue
        pns = primary_nodes(c.primary, c.primary_role)
        values = {node_attr(nodes, pn, c.node_attribute) for pn in pns}
        if pns and node_attr(nodes, node, c.node_attribute) in values:
            score = add_scores(score, c.score)
    # What is colocated with the promoted role pulls the promotion its way.
    for c in clone.dependents:
        if c.primary_role != PROMOTED:
            continue
        dep_score = c.dependent.allowed.get(node)
        if dep_score is None:
            continue
        # Only likings pull: where the dependent would turn a positive score
        # negative, the score drops to 1 (still promotable, but last:
        # promoted-move); a score of 0 or less stays as it is
        # (a-promote-then-b-migrate).
        merged = add_scores(score, scale_score(dep_score, c.score / INFINITY))
        if merged >= 0:
            score = merged
        elif score > 0:
            score = 1
    return score


def choose_roles(clone: Rsc, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    copts = clone.clone_opts
    assert copts is not None
    ctx = clone.promotion_ctx
    placed = [i for i in clone.children
              if group_first(i).assigned is not None and group_first(i).next_role != STOPPED]
    role_locs = _role_location_scores(clone, ctx.defn, nodes, ctx.now, ctx.rscs) if ctx else {}
    scores: dict[int, int] = {}
    reasons: dict[int, list[str]] = {}
    for inst in placed:
        lead = group_first(inst)
        node = lead.assigned
        assert node is not None
        v = attribute_score(clone, inst, node, nodes)
        score = v if v is not None else -1
        why = [f"master attribute {v}" if v is not None else "no master attribute (-1)"]
        if node in role_locs:
            score = add_scores(score, role_locs[node])
            why.append(f"role=Promoted locations {role_locs[node]:+d}")
        # An instance with a negative priority so far (no master attribute, a
        # ban) takes no part in the clone-level scores below: it stays
        # unpromotable unless a mandatory colocation of the promoted role
        # decides (target-1, promoted-ordering, promoted-with-blocked).
        counts = score >= 0
        for c in clone.with_primaries:
            if c.dependent_role == UNPROMOTED and c.score >= INFINITY:
                # Where it must be unpromoted, it cannot be promoted.
                pns = primary_nodes(c.primary, c.primary_role)
                values = {node_attr(nodes, pn, c.node_attribute) for pn in pns}
                if pns and node_attr(nodes, node, c.node_attribute) in values:
                    score = MINUS_INFINITY
                continue
            if c.dependent_role != PROMOTED or c.score < INFINITY:
                continue
            pns = primary_nodes(c.primary, c.primary_role)
            values = {node_attr(nodes, pn, c.node_attribute) for pn in pns}
            here = node_attr(nodes, node, c.node_attribute) in values and bool(pns)
            score = add_scores(score, INFINITY if here else MINUS_INFINITY)
        if counts:
            score = _clone_level(clone, node, score, nodes, why)
        if inst.kind == "group" and any(m.assigned is None or m.next_role == STOPPED
                                        for m in inst.primitives()):
            # A group instance that cannot run whole cannot be promoted (bug-1822).
            score = MINUS_INFINITY
            why.append("a member of the group cannot run")
        if lead.roles.get(node) == PROMOTED and not lead.managed:
            score = INFINITY  # an unmanaged promoted instance stays promoted
            why.append("unmanaged and promoted: stays promoted")
        scores[id(inst)] = score
        reasons[id(inst)] = why

    def key(inst: Rsc) -> tuple:
        lead = group_first(inst)
        was = 0 if lead.roles.get(lead.assigned or "") == PROMOTED else 1
        # Ties: the promoted one, then the placement order (active before
        # inactive, not failed before failed, lower number: promoted-demote-2).
        failed = any(p.failed_nodes for p in inst.primitives())
        active = any(p.running_on for p in inst.primitives())
        return (-scores[id(inst)], was, 0 if active else 1, 1 if failed else 0,
                inst.number if inst.number is not None else 0)

    per_node: dict[str, int] = {}
    chosen = 0
    allow = lead_target_allows_promotion(clone)
    freeze = ctx is not None and ctx.freeze_no_quorum
    for inst in sorted(placed, key=key):
        lead = group_first(inst)
        node = lead.assigned
        assert node is not None
        s = scores[id(inst)]
        explain.note(lead.id, f"promotion score on {node}: {s} ("
                     + "; ".join(reasons[id(inst)]) + ")")
        ok = (allow and chosen < copts.promoted_max and s >= 0 and (lead.managed or s >= INFINITY)
              and per_node.get(node, 0) < copts.promoted_node_max)
        if ok and freeze and lead.roles.get(node) != PROMOTED:
            ok = False
        nh = lead.history.get(node)
        if ok and nh is not None and nh.demote_failed:
            ok = False  # on-fail=demote: it is demoted, another one may be promoted
        role = PROMOTED if ok else UNPROMOTED
        if ok:
            chosen += 1
            per_node[node] = per_node.get(node, 0) + 1
        for p in inst.primitives():
            if p.next_role != STOPPED:
                p.next_role = role


def lead_target_allows_promotion(clone: Rsc) -> bool:
    return clone.target_role not in ("Unpromoted", "Stopped")
