"""Step 4, assignment: one node (or none) for every primitive — pure.

Resources are taken by priority, then configuration order. For each, its
primaries are assigned first and applied (colocation.apply_primary), its
dependents' preferences merged (colocation.merge_dependent), and the best
usable score wins, with Pacemaker's tie-breaks (`choose`). Assignment is
recursive (a primary is placed when its dependent asks for it), and a clone is
placed as a whole at its turn (pacemaker-semantics-clones.md §3):

1. its primaries are placed and applied to every instance;
2. its dependents' preferences are merged into every instance (all of them when
   instances do not cover every node, else only negative ones);
3. promotable clones add promotion scores to the nodes that count (roles.py);
4. instances are sorted (active and allowed where they are first), then
   - a first pass keeps each active instance where it is if that is still its
     best node and the node holds no more than its fair share;
   - a second pass places the rest with the ordinary node choice, at most
     `clone-node-max` per node and `clone-max` in all;
5. promotable clones then choose their promoted instances (roles.py, step 5 of
   the pipeline, taken here: what is colocated with the promoted role is
   placed after it).
"""

from __future__ import annotations

from pacer.model.meta import MINUS_INFINITY, PROMOTED, STOPPED, UNPROMOTED
from pacer.scheduler.colocation import (
    Coloc,
    apply_primary,
    has_influence,
    merge_dependent,
)
from pacer.scheduler.explanation import Explain
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Rsc, group_first
from pacer.scheduler.roles import PromotionContext, add_placement_scores, choose_roles


def assign_all(plan: Plan) -> None:
    """Every resource in turn, by priority then configuration order."""
    freeze = not plan.status.have_quorum and plan.opts.no_quorum_policy == "freeze"
    for c in plan.rscs.clones:
        c.promotion_ctx = PromotionContext(plan.defn, plan.now, plan.rscs, freeze)
    order = sorted(plan.rscs.top, key=lambda r: (-r.priority, r.order))
    for r in order:
        assign(r, plan.nodes, plan.explain)


def choose(r: Rsc, nodes: dict[str, NodeInfo], exclude: frozenset[str] | set[str] = frozenset(),
           current_wins_tie: bool = True) -> str | None:
    """The best node for r: highest score, fewest assigned, current node, name."""
    best = None
    best_key = None
    current = r.running_on[0] if r.running_on else None
    for n, score in r.allowed.items():
        info = nodes.get(n)
        if info is None or not info.can_run or score < 0 or n in exclude:
            continue
        key = (-score, info.assigned_count, 0 if n == current else 1, n.encode())
        if best_key is None or key < best_key:
            best, best_key = n, key
    if best is not None and current is not None and current != best and current_wins_tie:
        # Where it runs now wins a tie for the best score over the load
        # balance, if that score is positive (0 everywhere: balance wins).
        info = nodes.get(current)
        score = r.allowed.get(current)
        if info is not None and info.can_run and score is not None \
                and score == r.allowed[best] and score > 0:
            return current
    return best


def assign(r: Rsc, nodes: dict[str, NodeInfo], explain: Explain) -> str | None:
    if not r.provisional:
        return r.assigned
    if r.kind == "clone":
        assign_clone(r, nodes, explain)
        return None
    if r.kind != "primitive":
        if r.assigning:
            return None  # a member's colocation leads back into its own group
        r.assigning = True
        for c in r.children:
            assign(c, nodes, explain)
        r.assigning = False
        r.provisional = False
        return None
    if r.assigning:
        return None  # a colocation loop: decide without that primary
    r.assigning = True
    prepare(r, nodes, explain)
    chosen: str | None
    if r.fixed_node is not None:
        chosen = r.fixed_node
    elif r.next_role == STOPPED or (not r.managed and not r.running_on):
        chosen = None
    else:
        chosen = choose(r, nodes)
    commit(r, chosen, nodes)
    return chosen


def prepare(r: Rsc, nodes: dict[str, NodeInfo], explain: Explain,
            extra_primaries: list[Coloc] | None = None) -> None:
    """Apply where r's primaries landed and merge its dependents' preferences."""
    for c in list(extra_primaries or []) + r.with_primaries:
        # A group named as primary is placed as a whole first, not only the
        # member this colocation follows.
        if c.named_primary is not None and c.named_primary.kind == "group" \
                and c.named_primary is not r.parent:
            assign(c.named_primary, nodes, explain)
        assign(c.primary, nodes, explain)
        if c.primary.assigning:
            explain.note(r.id, f"colocation {c.id} ignored: it closes a colocation loop")
            continue  # a loop: Pacemaker cuts it here
        if c.dependent_role == PROMOTED or (c.dependent_role == UNPROMOTED and r.promotable):
            # It only decides which instance is promoted (an instance away
            # from the primary may still run there: colo_unpromoted_w_native).
            continue
        apply_primary(r, c, nodes, explain)
    for c in r.dependents:
        if not has_influence(c):
            continue
        merge_dependent(r, c, nodes, explain)
    explain.final_scores[r.id] = dict(r.allowed)


def commit(r: Rsc, chosen: str | None, nodes: dict[str, NodeInfo]) -> None:
    r.assigned = chosen
    r.assigning = False
    r.provisional = False
    if chosen is not None:
        nodes[chosen].assigned_count += 1
    else:
        r.next_role = STOPPED


# --------------------------------------------------------------------------- clones


def _current(inst: Rsc) -> str | None:
    for p in inst.primitives():
        if p.running_on:
            return p.running_on[0]
    return None


def _active_nodes(inst: Rsc) -> set[str]:
    out: set[str] = set()
    for p in inst.primitives():
        out.update(p.running_on)
    return out


def _failed(inst: Rsc) -> bool:
    return any(p.failed_nodes for p in inst.primitives())


def _available(clone: Rsc, nodes: dict[str, NodeInfo]) -> list[str]:
    return [n for n, s in clone.allowed.items()
            if s >= 0 and n in nodes and nodes[n].can_run]


def _sort_key(inst: Rsc, nodes: dict[str, NodeInfo], own: dict[int, dict[str, int]]
              ) -> tuple:
    """Active instances first, but one whose node now bans it (score < 0) after
    the inactive ones, so an inactive instance takes the free node; an active
    instance on a node that cannot run resources (standby, ...) still comes
    before the inactive ones, so it moves rather than stops."""
    lead = group_first(inst)
    cur = _current(inst)
    active = cur is not None
    # (its own scores, before colocations: an instance whose primary left its
    # node still moves first, clone-require-all-no-interleave-3)
    banned_here = active and own.get(id(lead), lead.allowed).get(cur, MINUS_INFINITY) < 0
    return (
        1 if banned_here else 0,
        -lead.priority,
        0 if active else 1,
        len(_active_nodes(inst)) if active else 0,
        0 if not active or nodes[cur].can_run else 1,
        1 if _failed(inst) else 0,
        inst.number if inst.number is not None else 0,
    )


def _place(inst: Rsc, node: str | None, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    lead = group_first(inst)
    commit(lead, node, nodes)
    if inst.kind != "primitive":
        for m in inst.primitives():
            if m is not lead:
                if node is None:
                    m.next_role = STOPPED
                assign(m, nodes, explain)
        inst.provisional = False


def _stay_stopped(inst: Rsc) -> None:
    for p in inst.primitives():
        p.next_role = STOPPED
        p.assigned = None
        p.provisional = False
        p.assigning = False
    inst.provisional = False


def assign_clone(clone: Rsc, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    if not clone.provisional or clone.assigning:
        return
    clone.assigning = True
    copts = clone.clone_opts
    assert copts is not None
    instances = list(clone.children)
    leads = [group_first(i) for i in instances]

    # 1-2. Primaries and dependents, applied to the clone's own table and each instance.
    for lead in leads:
        lead.assigning = True
    prepare(clone, nodes, explain)
    available = _available(clone, nodes)
    everywhere = copts.clone_max >= len(available)
    own = {id(lead): dict(lead.allowed) for lead in leads}
    for lead in leads:
        lead.assigning = False
        if lead.fixed_node is not None or lead.next_role == STOPPED:
            continue
        lead.assigning = True
        prepare(lead, nodes, explain, extra_primaries=clone.with_primaries)
        lead.assigning = False
        for c in clone.dependents:
            if not has_influence(c):
                continue
            if everywhere and c.score > 0:
                # Every node gets an instance: only what a dependent avoids
                # matters; even an INFINITY dependent does not pull an instance
                # away from where it runs (migrate-start, coloc-clone-stays-active).
                continue
            if c.primary_role is not None and c.primary_role != "Started":
                continue  # role colocations decide promotion, not placement
            merge_dependent(lead, c, nodes, explain)
        explain.final_scores[lead.id] = dict(lead.allowed)

    # 3. Promotion scores pull instances toward nodes where they can be promoted.
    if copts.promotable:
        add_placement_scores(clone, nodes, explain)

    # 4. Instances, active ones first.
    counts: dict[str, int] = {}
    placed = 0
    order = sorted((i for i in instances if not i.orphan), key=lambda i: _sort_key(i, nodes, own))
    done: set[int] = set()
    share = max(1, copts.clone_max // max(1, len(available)))
    for inst in order:
        lead = group_first(inst)
        cur = _current(inst)
        if lead.fixed_node is not None:
            _place(inst, lead.fixed_node, nodes, explain)
            counts[lead.fixed_node] = counts.get(lead.fixed_node, 0) + 1
            placed += 1
            done.add(id(inst))
            continue
        if cur is None or _failed(inst) or lead.next_role == STOPPED or placed >= copts.clone_max:
            continue
        full = {n for n, k in counts.items() if k >= min(share, copts.clone_node_max)}
        if cur in full or not nodes[cur].can_run:
            continue
        if choose(lead, nodes, full) == cur:
            _place(inst, cur, nodes, explain)
            counts[cur] = counts.get(cur, 0) + 1
            placed += 1
            done.add(id(inst))
    for inst in order:
        if id(inst) in done:
            continue
        lead = group_first(inst)
        if placed >= copts.clone_max or lead.next_role == STOPPED or (
                not lead.managed and not lead.running_on):
            _stay_stopped(inst)
            continue
        full = {n for n, k in counts.items() if k >= copts.clone_node_max}
        # An instance not kept in place by the first pass has no claim on its
        # node: a tie goes to the less loaded node (rebalance-unique-clones).
        node = choose(lead, nodes, full, current_wins_tie=False)
        _place(inst, node, nodes, explain)
        if node is not None:
            counts[node] = counts.get(node, 0) + 1
            placed += 1
    for inst in instances:
        if inst.orphan:
            lead = group_first(inst)
            if lead.fixed_node is not None:
                _place(inst, lead.fixed_node, nodes, explain)
            else:
                _stay_stopped(inst)

    # 5. Roles.
    if copts.promotable:
        choose_roles(clone, nodes, explain)
    clone.assigning = False
    clone.provisional = False
