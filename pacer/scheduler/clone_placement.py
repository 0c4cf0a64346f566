"""Placement of a clone's instances — pure (pacemaker-semantics-clones.md §3).

The clone is placed as a whole at its place in the resource order:
1. its primaries are placed and applied to every instance;
2. its dependents' preferences are merged into every instance (all of them when
   instances do not cover every node, else only negative ones);
3. promotable clones add promotion scores to the nodes that count;
4. instances are sorted (active and allowed where they are first), then
   - a first pass keeps each active instance where it is if that is still its
     best node and the node holds no more than its fair share;
   - a second pass places the rest with the ordinary node choice, at most
     `clone-node-max` per node and `clone-max` in all;
5. promotable clones then choose their promoted instances (`promotion.py`).
"""

from __future__ import annotations

from pacer.scheduler.history import STOPPED
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.placement import (
    MINUS_INFINITY,
    Explain,
    _has_influence,
    assign,
    choose,
    commit,
    group_first,
    merge_dependent,
    prepare,
)
from pacer.scheduler.resources import Rsc


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
            if not _has_influence(c):
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
        from pacer.scheduler.promotion import add_placement_scores

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
        from pacer.scheduler.promotion import choose_roles

        choose_roles(clone, nodes, explain)
    clone.assigning = False
    clone.provisional = False

