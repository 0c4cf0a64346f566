"""Step 3, colocation: colocation constraints (groups, sets) as pairs of a
dependent and a primary, and what each does to scores — pure.

`build_colocations` makes the pairs (a group is a chain of INFINITY
colocations; a group as primary is its last member when mandatory, its first
otherwise) and sorts each resource's colocations in Pacemaker's order. The rest
is what assignment.py asks of a colocation while it places resources: where a
primary landed (`primary_nodes`), how that restricts or biases the dependent
(`apply_primary`), and how a dependent's preferences flow back into its
primary's choice (`merge_dependent`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pacer.model.definition import Definition, ResourceSet
from pacer.model.meta import INFINITY, MINUS_INFINITY, PROMOTED, STOPPED, UNPROMOTED, add_scores
from pacer.scheduler.explanation import Explain
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Resources, Rsc, group_first, group_last
from pacer.scheduler.scores import location_add


def apply_colocations(plan: Plan) -> None:
    build_colocations(plan.defn, plan.rscs)


@dataclass(eq=False)
class Coloc:
    id: str
    dependent: Rsc
    primary: Rsc
    score: int
    dependent_role: str | None = None
    primary_role: str | None = None
    node_attribute: str = "#uname"
    influence: bool = True
    # The resources the constraint names (a group or clone, where `dependent` and
    # `primary` are members of it): Pacemaker orders colocations by them.
    named_dependent: Rsc | None = None
    named_primary: Rsc | None = None


def add_colocation(c: Coloc) -> None:
    c.dependent.with_primaries.append(c)
    c.primary.dependents.append(c)


def build_colocations(defn: Definition, rscs: Resources) -> list[Coloc]:
    out: list[Coloc] = []

    def pair(cid: str, dep: Rsc, prim: Rsc, score: int, drole, prole, attr, influence) -> None:
        if dep is prim:
            return
        # A group as dependent: its first member follows (the rest follow the first).
        d = group_first(dep) if dep.kind == "group" else dep
        # A group as primary: mandatory → its last member (the whole group must be
        # up), optional → its first member (a partly active group is fine).
        if prim.kind == "group" and prim.children:
            p = group_last(prim) if score >= INFINITY else group_first(prim)
        else:
            p = prim
        if d.kind not in ("primitive", "clone") or p.kind not in ("primitive", "clone"):
            return
        c = Coloc(cid, d, p, score, drole, prole, attr, influence, dep, prim)
        out.append(c)
        if dep.kind == "group" and score >= INFINITY and d.fixed_node is not None:
            # The first member is pinned (unmanaged, blocked) and cannot carry a
            # mandatory colocation for the rest: each member is held to it
            # (colocate-unmanaged-group).
            for m in dep.children[1:]:
                if m.kind == "primitive":
                    out.append(Coloc(cid, m, p, score, drole, prole, attr, False, dep, prim))

    # Groups: each member with the previous one.
    for r in rscs.by_id.values():
        if r.kind == "group":
            colocated = r.meta.get("collocated", r.meta.get("colocated", "true")) != "false"
            if not colocated:
                continue
            for prev, cur in zip(r.children, r.children[1:], strict=False):
                pair(f"{r.id}:internal", cur, prev, INFINITY, None, None, "#uname", True)

    for col in defn.colocations:
        if col.sets:
            _colocation_sets(col, rscs, pair)
            continue
        dep = rscs.find(col.rsc)
        prim = rscs.find(col.with_rsc)
        if dep is None or prim is None:
            continue
        pair(col.id, dep, prim, col.score, col.rsc_role, col.with_rsc_role, col.node_attribute,
             col.influence)
    for c in out:
        add_colocation(c)
    # Pacemaker takes a resource's colocations in a fixed order, whatever the
    # order of the constraints: higher priority first, then collective resources
    # (clones, groups) before primitives, then by id.
    for r in rscs.by_id.values():
        r.with_primaries.sort(key=lambda c: _coloc_rank(c.named_primary or c.primary))
        r.dependents.sort(key=lambda c: _coloc_rank(c.named_dependent or c.dependent))
    return out


_VARIANT_RANK = {"clone": 0, "group": 1, "primitive": 2}


def _coloc_rank(r: Rsc) -> tuple[int, int, bytes]:
    return (-r.priority, _VARIANT_RANK.get(r.kind, 2), r.id.encode())


def _colocation_sets(col, rscs: Resources, pair) -> None:
    sets: list[ResourceSet] = list(col.sets)

    def members(s: ResourceSet) -> list[Rsc]:
        return [r for r in (rscs.find(x) for x in s.resources) if r is not None]

    # Within a set: each resource is placed with the next one when sequential.
    for s in sets:
        score = s.score if s.score is not None else col.score
        ms = members(s)
        if score < 0:
            # Apart: each member keeps away from every member listed before it.
            for i, a in enumerate(ms):
                for b in ms[:i]:
                    pair(col.id, a, b, score, s.role, s.role, col.node_attribute,
                         col.influence)
        elif s.sequential and len(ms) > 1:
            # Each member with the one listed before it (the first is placed
            # first), or with ordering="listed" with the one after it.
            for a, b in zip(ms, ms[1:], strict=False):
                if s.ordering == "listed":
                    pair(col.id, a, b, score, s.role, s.role, col.node_attribute,
                         col.influence)
                else:
                    pair(col.id, b, a, score, s.role, s.role, col.node_attribute,
                         col.influence)
    # Between sets: the earlier set depends on the later one.
    for s1, s2 in zip(sets, sets[1:], strict=False):
        m1, m2 = members(s1), members(s2)
        if not m1 or not m2:
            continue
        deps = [m1[-1]] if s1.sequential else m1
        prims = [m2[0]] if s2.sequential else m2
        for d in deps:
            for p in prims:
                pair(col.id, d, p, col.score, s1.role, s2.role, col.node_attribute,
                     col.influence)


# --------------------------------------------------------------------------- effects


def node_attr(nodes: dict[str, NodeInfo], node: str, attr: str) -> str | None:
    info = nodes.get(node)
    if info is None:
        return None
    return info.attrs.get(attr)


def scale_score(score: int, factor: float) -> int:
    if factor == 1.0 or score == 0:
        return score
    if abs(score) >= INFINITY and abs(factor) >= 1.0:
        return INFINITY if (score > 0) == (factor > 0) else MINUS_INFINITY
    product = score * factor
    rounded = int(abs(product) + 0.5) * (1 if product >= 0 else -1)
    if rounded == 0:
        # Too small to count: Pacemaker keeps a trace of it with the factor's sign
        # (a liking for a node the dependent dislikes a little is still +1).
        rounded = 1 if factor > 0 else -1
    return rounded


def _can_run_any(scores: dict[str, int], nodes: dict[str, NodeInfo]) -> bool:
    return any(s >= 0 and nodes[n].can_run for n, s in scores.items() if n in nodes)


def _add_matching(work: dict[str, int], other: Rsc, attr: str, factor: float,
                  nodes: dict[str, NodeInfo]) -> None:
    for n in list(work):
        if attr == "#uname":
            if n not in other.allowed:
                continue
            weight = other.allowed[n]
        else:
            value = node_attr(nodes, n, attr)
            if value is None:
                continue
            cands = [s for m, s in other.allowed.items() if node_attr(nodes, m, attr) == value]
            if not cands:
                continue
            weight = max(cands)
        if factor < 0 and weight < 0:
            continue  # a dislike of a dislike is not a liking
        work[n] = add_scores(work[n], scale_score(weight, factor))


def _merge(other: Rsc, work: dict[str, int], attr: str, factor: float,
           nodes: dict[str, NodeInfo], rollback: bool, placing: Rsc) -> dict[str, int]:
    """Fold `other`'s (and transitively its dependents') preferences into `work`
    (the scores of `placing`, the resource being assigned)."""
    if other.merging:
        return work
    other.merging = True
    try:
        new = dict(work)
        _add_matching(new, other, attr, factor, nodes)
        if _can_run_any(new, nodes):
            sign = -1 if factor < 0 else 1
            for c in other.dependents:
                if not has_influence(c):
                    continue
                if c.named_primary is not None and c.named_primary.kind == "group" \
                        and placing.parent is not c.named_primary:
                    # What is colocated with a group counts when the group is
                    # placed, not in what the group itself follows.
                    continue
                new = _merge(c.dependent, new, c.node_attribute, sign * c.score / INFINITY,
                             nodes, True, placing)
        elif rollback:
            return work
        return new
    finally:
        other.merging = False


def has_influence(c: Coloc) -> bool:
    if not c.influence and c.dependent.active:
        return False
    crit = c.dependent.meta.get("critical", "true").lower()
    if crit in ("false", "no", "off", "0", "n") and c.dependent.active:
        return False
    return True


def primary_nodes(p: Rsc, role: str | None, mandatory: bool = False) -> list[str]:
    """Where the primary of a colocation will be (in `role`, when one is named).

    A mandatory colocation with a clone of groups needs the whole group
    instance there: its last member must be placed too."""
    if p.kind == "clone":
        if p.clone_opts is not None and not p.clone_opts.promotable:
            role = None  # a role on a clone without roles means just "running" (unrunnable-2)
        out = []
        for inst in p.children:
            lead = group_first(inst)
            if lead.assigned is None or lead.next_role == STOPPED:
                continue
            if any(m.blocked and m.failed_nodes for m in inst.primitives()):
                # A failed instance blocked by on-fail=block is no home for
                # dependents (bug-cl-5170, clone-fail-block-colocation).
                continue
            if mandatory and inst.kind == "group":
                last = group_last(inst)
                if last.assigned is None or last.next_role == STOPPED:
                    continue
            if role in (PROMOTED, UNPROMOTED):
                actual = lead.next_role if lead.next_role in (PROMOTED, UNPROMOTED) else UNPROMOTED
                if actual != role:
                    continue
            if lead.assigned not in out:
                out.append(lead.assigned)
        return out
    if p.assigned is None:
        return []
    if role == PROMOTED and p.next_role != PROMOTED:
        return []
    return [p.assigned]


def apply_primary(r: Rsc, c: Coloc, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    """Restrict or bias r's scores by where its primary landed."""
    p = c.primary
    pns = primary_nodes(p, c.primary_role, c.score >= INFINITY)
    where = ", ".join(pns)
    src = f"colocation {c.id} with {p.id}"
    values = {node_attr(nodes, pn, c.node_attribute) for pn in pns}
    values.discard(None)
    if c.score >= INFINITY:
        for n in r.allowed:
            if node_attr(nodes, n, c.node_attribute) not in values:
                if r.allowed[n] != MINUS_INFINITY:
                    r.allowed[n] = MINUS_INFINITY
                    explain.add(r.id, n, MINUS_INFINITY,
                                f"{src}: mandatory, and {p.id} is "
                                + (f"on {where}" if pns else "not running anywhere"))
        return
    if not pns:
        return
    if MINUS_INFINITY < c.score < 0:
        # An optional colocation is given up if it would leave r nowhere to run.
        after = {n: add_scores(s, c.score) if node_attr(nodes, n, c.node_attribute) in values
                 else s for n, s in r.allowed.items()}
        if not _can_run_any(after, nodes) and _can_run_any(r.allowed, nodes):
            explain.note(r.id, f"{src} ignored: it would leave {r.id} no node to run on")
            return
    for n in r.allowed:
        if node_attr(nodes, n, c.node_attribute) in values:
            location_add(r, n, c.score, explain, f"{src} (on {where})")


def merge_dependent(r: Rsc, c: Coloc, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    before = dict(r.allowed)
    r.allowed = _merge(c.dependent, r.allowed, c.node_attribute, c.score / INFINITY, nodes,
                       True, r)
    for n, s in r.allowed.items():
        if s != before.get(n):
            explain.add(r.id, n, add_scores(s, -before.get(n, 0)) if abs(s) < INFINITY
                        else s, f"preferences of {c.dependent.id} (colocated with it, {c.id})")
