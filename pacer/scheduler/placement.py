"""Placement: node scores for every resource, then one node each — pure.

Steps (each a function below):
1. `apply_locations`   — location constraints and rules, stickiness, fail-count bans
2. `build_colocations` — colocation constraints (incl. groups and sets) as primitive-level pairs
3. `assign_all`        — walk resources by priority, assign primaries first, merge the
                         preferences of dependents, pick the best node with Pacemaker's tie-breaks

Every score added is also recorded in `Explain` so `pacer explain` can say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pacer.model.definition import Definition, Location, ResourceSet
from pacer.model.meta import INFINITY, add_scores, parse_score
from pacer.scheduler.history import PROMOTED, STOPPED, UNPROMOTED
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.resources import Resources, Rsc
from pacer.scheduler.rules import RuleContext, evaluate
from pacer.status.types import Status

MINUS_INFINITY = -INFINITY


@dataclass
class Contribution:
    node: str
    score: int
    source: str  # human words: "location constraint loc-1", "stickiness", ...


@dataclass
class Explain:
    """Why each resource scored what it did on each node."""

    contributions: dict[str, list[Contribution]] = field(default_factory=dict)
    final_scores: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, rsc: str, node: str, score: int, source: str) -> None:
        self.contributions.setdefault(rsc, []).append(Contribution(node, score, source))

    def note(self, rsc: str, text: str) -> None:
        self.notes.setdefault(rsc, []).append(text)


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


def location_add(r: Rsc, node: str, score: int, explain: Explain, source: str) -> None:
    r.allowed[node] = add_scores(r.allowed.get(node, 0), score)
    explain.add(r.id, node, score, source)


# --------------------------------------------------------------------------- locations


def _location_targets(loc: Location, rscs: Resources) -> list[Rsc]:
    if loc.rsc is not None:
        r = rscs.find(loc.rsc)
        return [r] if r is not None else []
    if loc.rsc_pattern is not None:
        try:
            pat = re.compile(loc.rsc_pattern)
        except re.error:
            return []
        return [r for r in rscs.top if pat.search(r.id)]
    out = []
    for s in loc.sets:
        for rid in s.resources:
            r = rscs.find(rid)
            if r is not None:
                out.append(r)
    return out


def _rule_score(rule, node: NodeInfo) -> int | None:
    if rule.score_attribute:
        v = node.attrs.get(rule.score_attribute)
        if v is None:
            return None
        return parse_score(v, lenient=True)
    return rule.score if rule.score is not None else 0


def apply_locations(defn: Definition, rscs: Resources, nodes: dict[str, NodeInfo],
                    opts: ClusterOptions, status: Status, now: int, explain: Explain) -> None:
    node_names = list(nodes)
    for r in rscs.primitives + rscs.clones:
        if opts.symmetric_cluster:
            r.allowed = {n: 0 for n in node_names}
        else:
            r.allowed = {}
    for loc in defn.locations:
        if loc.role not in (None, "Started"):
            continue  # role-specific locations affect promotion only
        for target in _location_targets(loc, rscs):
            prims = list(target.primitives())
            if target.kind == "clone":
                prims.append(target)  # the clone's own table, for colocation merges
            # A colocated group takes the score on its first member; the others
            # get the node with score 0 and follow the first through colocation.
            full = prims[:1] if _colocated_group(target) else prims
            if loc.rules:
                for rule in loc.rules:
                    if rule.role not in (None, "Started"):
                        continue  # a role's rule decides promotion only
                    for n in node_names:
                        info = nodes[n]
                        for p in prims:
                            ctx = RuleContext(node_attrs=info.attrs, now=now,
                                              rsc_params=dict(p.prim.params) if p.prim else {},
                                              rsc_meta=p.meta)
                            if not evaluate(rule, ctx):
                                continue
                            score = _rule_score(rule, info)
                            if score is None:
                                continue
                            location_add(p, n, score if p in full else 0, explain,
                                         f"rule {rule.id} of location constraint {loc.id}"
                                         + ("" if p in full else _LATER_MEMBER))
            elif loc.node is not None and loc.node in nodes and loc.score is not None:
                for p in prims:
                    location_add(p, loc.node, loc.score if p in full else 0, explain,
                                 f"location constraint {loc.id}"
                                 + ("" if p in full else _LATER_MEMBER))
    if opts.shutdown_lock:
        for r in rscs.primitives:
            _apply_shutdown_lock(r, nodes, opts, now, explain)
    health = node_health_scores(defn, nodes)
    # Resources inside a container (meta container=X): their failures count
    # as X's too.
    fillers: dict[str, list[Rsc]] = {}
    for p in rscs.primitives:
        cid = p.meta.get("container")
        if cid and cid != p.id:
            fillers.setdefault(cid, []).append(p)
    for r in rscs.primitives + rscs.clones:
        if r.orphan:
            continue
        for n, score in health.items():
            if score and r.meta.get("allow-unhealthy-nodes", "false").lower() != "true":
                location_add(r, n, score, explain, "node health (#health attributes)")
        if r.kind == "clone":
            for n in sorted(r.ban_nodes):
                location_add(r, n, MINUS_INFINITY, explain,
                             "a hard error of an instance there (invalid arguments, "
                             "unimplemented or not installed)")
            continue
        clone = r.clone
        if clone is not None:
            for n in sorted(clone.ban_nodes):
                location_add(r, n, MINUS_INFINITY, explain,
                             "a hard error of an instance there (invalid arguments, "
                             "unimplemented or not installed)")
        _apply_stickiness_and_failures(r, nodes, opts, status, now, explain,
                                       fillers.get(r.id, []))


_LATER_MEMBER = " (on the group: its first member takes the score)"


def _apply_shutdown_lock(r: Rsc, nodes: dict[str, NodeInfo], opts: ClusterOptions, now: int,
                         explain: Explain) -> None:
    """shutdown-lock: a resource active on a node that shuts down cleanly (or
    recorded as locked to a node that did) may run only there until the node
    is back or shutdown-lock-limit has passed; fence devices are never locked."""
    if r.orphan or not r.managed or (r.prim is not None and r.prim.agent_class == "stonith"):
        return
    lock: tuple[str, int] | None = None
    for n in r.running_on:
        info = nodes.get(n)
        if info is not None and info.shutdown and info.online:
            try:
                lock = (n, int(info.attrs.get("shutdown", "0")))
            except ValueError:
                lock = (n, now)
            break
    if lock is None:
        for n, nh in r.history.items():
            info = nodes.get(n)
            if nh.shutdown_lock and info is not None and not info.online:
                lock = (n, nh.shutdown_lock)
                break
    if lock is None:
        return
    node, since = lock
    if opts.shutdown_lock_limit_s and now > since + opts.shutdown_lock_limit_s:
        return  # the lock has expired
    for n in r.allowed:
        if n != node and r.allowed[n] != MINUS_INFINITY:
            location_add(r, n, MINUS_INFINITY, explain,
                         f"shutdown-lock: locked to {node}, which shut down")


def _colocated_group(r: Rsc) -> bool:
    return r.kind == "group" and r.meta.get(
        "collocated", r.meta.get("colocated", "true")) != "false"


def node_health_scores(defn: Definition, nodes: dict[str, NodeInfo]) -> dict[str, int]:
    """Per node, the score its #health-* attributes give every resource."""
    strategy = defn.properties.get("node-health-strategy", "none")
    if strategy == "none":
        return {}
    fixed = {
        "migrate-on-red": {"red": MINUS_INFINITY, "yellow": 0, "green": 0},
        "only-green": {"red": MINUS_INFINITY, "yellow": MINUS_INFINITY, "green": 0},
    }.get(strategy)
    if fixed is None:
        props = defn.properties
        fixed = {
            "red": parse_score(props.get("node-health-red", "-INFINITY"), lenient=True),
            "yellow": parse_score(props.get("node-health-yellow", "0"), lenient=True),
            "green": parse_score(props.get("node-health-green", "0"), lenient=True),
        }
    out: dict[str, int] = {}
    for name, info in nodes.items():
        total = 0
        for k, v in info.attrs.items():
            if not k.startswith("#health"):
                continue
            score = fixed.get(v.strip().lower())
            if score is None:
                score = parse_score(v, lenient=True)
            total = add_scores(total, score)
        out[name] = total
    return out


def _failure_attrs(node: NodeInfo) -> tuple[tuple[tuple[str, str], ...],
                                             tuple[tuple[str, str], ...]]:
    """The node's fail-count-* and last-failure-* attributes, prefixes removed."""
    fa = node.failure_attrs
    if fa is None:
        fa = node.failure_attrs = (
            tuple((k[len("fail-count-"):], v) for k, v in node.attrs.items()
                  if k.startswith("fail-count-")),
            tuple((k[len("last-failure-"):], v) for k, v in node.attrs.items()
                  if k.startswith("last-failure-")))
    return fa


def failcount(r: Rsc, node: NodeInfo, status: Status, now: int) -> tuple[int, int]:
    """(effective fail count, newest last-failure timestamp) of r on node."""
    fail_counts, last_failures = _failure_attrs(node)
    if not fail_counts and not last_failures:
        return 0, 0
    per_op = _feature_at_least(status.feature_set, (3, 0, 13))
    base = r.id
    names = {base}
    if ":" in base:
        names.add(base.split(":", 1)[0])
    clone = r.clone
    # An anonymous clone's failures on a node belong to whichever instance is there.
    anonymous = clone is not None and clone.clone_opts is not None \
        and not clone.clone_opts.unique

    def matches(rsc_part: str) -> bool:
        if rsc_part in names:
            return True
        return anonymous and rsc_part.rpartition(":")[0] in names \
            and rsc_part.rpartition(":")[2].isdigit()

    total = 0
    last = 0
    for rest, v in fail_counts:
        if per_op:
            rsc_part = rest.split("#", 1)[0] if "#" in rest else None
            if rsc_part is None or not matches(rsc_part):
                continue
        elif not matches(rest):
            continue
        total = add_scores(total, parse_score(v, lenient=True))
    for rest, v in last_failures:
        rsc_part = rest.split("#", 1)[0] if per_op else rest
        if matches(rsc_part):
            try:
                last = max(last, int(v))
            except ValueError:
                pass
    timeout = r.failure_timeout_s
    if total > 0 and timeout > 0 and last > 0 and now > last + timeout:
        return 0, last
    return total, last


def _feature_at_least(fs: str, want: tuple[int, ...]) -> bool:
    try:
        have = tuple(int(x) for x in fs.split("."))
    except ValueError:
        return True
    return have >= want


def _apply_stickiness_and_failures(r: Rsc, nodes: dict[str, NodeInfo], opts: ClusterOptions,
                                   status: Status, now: int, explain: Explain,
                                   fillers: list[Rsc] = ()) -> None:
    if r.managed and r.stickiness != 0 and len(r.running_on) == 1:
        cur = r.running_on[0]
        if cur in r.allowed or opts.symmetric_cluster:
            location_add(r, cur, r.stickiness, explain, "resource-stickiness (it runs there now)")
    threshold = r.migration_threshold
    for name, info in nodes.items():
        nh = r.history.get(name)
        if nh is not None and nh.ban_node:
            location_add(r, name, MINUS_INFINITY, explain,
                         "a hard error there (invalid arguments, unimplemented or not installed)")
        if threshold <= 0:
            continue
        if nh is not None and nh.ignored_failures and not nh.counted_failures:
            continue  # what failed there is configured with on-fail=ignore
        if nh is not None and nh.agent_changed:
            continue  # those failures were another agent's
        fc, _ = failcount(r, info, status, now)
        for f in fillers:
            fc = add_scores(fc, failcount(f, info, status, now)[0])
        if fc > 0 and fc >= threshold:
            location_add(r, name, MINUS_INFINITY, explain,
                         f"fail-count {fc} reached migration-threshold {threshold}")


# --------------------------------------------------------------------------- colocations


def group_first(r: Rsc) -> Rsc:
    while r.kind == "group" and r.children:
        r = r.children[0]
    return r


def _group_last(r: Rsc) -> Rsc:
    while r.kind == "group" and r.children:
        r = r.children[-1]
    return r


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
            p = _group_last(prim) if score >= INFINITY else group_first(prim)
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


# --------------------------------------------------------------------------- assignment


def _attr(nodes: dict[str, NodeInfo], node: str, attr: str) -> str | None:
    info = nodes.get(node)
    if info is None:
        return None
    return info.attrs.get(attr)


def _multiply(score: int, factor: float) -> int:
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
            value = _attr(nodes, n, attr)
            if value is None:
                continue
            cands = [s for m, s in other.allowed.items() if _attr(nodes, m, attr) == value]
            if not cands:
                continue
            weight = max(cands)
        if factor < 0 and weight < 0:
            continue  # a dislike of a dislike is not a liking
        work[n] = add_scores(work[n], _multiply(weight, factor))


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
                if not _has_influence(c):
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


def _has_influence(c: Coloc) -> bool:
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
                last = _group_last(inst)
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


def _apply_primary(r: Rsc, c: Coloc, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    """Restrict or bias r's scores by where its primary landed."""
    p = c.primary
    pns = primary_nodes(p, c.primary_role, c.score >= INFINITY)
    where = ", ".join(pns)
    src = f"colocation {c.id} with {p.id}"
    values = {_attr(nodes, pn, c.node_attribute) for pn in pns}
    values.discard(None)
    if c.score >= INFINITY:
        for n in r.allowed:
            if _attr(nodes, n, c.node_attribute) not in values:
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
        after = {n: add_scores(s, c.score) if _attr(nodes, n, c.node_attribute) in values
                 else s for n, s in r.allowed.items()}
        if not _can_run_any(after, nodes) and _can_run_any(r.allowed, nodes):
            explain.note(r.id, f"{src} ignored: it would leave {r.id} no node to run on")
            return
    for n in r.allowed:
        if _attr(nodes, n, c.node_attribute) in values:
            location_add(r, n, c.score, explain, f"{src} (on {where})")


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
        from pacer.scheduler.clone_placement import assign_clone

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
        _apply_primary(r, c, nodes, explain)
    for c in r.dependents:
        if not _has_influence(c):
            continue
        merge_dependent(r, c, nodes, explain)
    explain.final_scores[r.id] = dict(r.allowed)


def merge_dependent(r: Rsc, c: Coloc, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    before = dict(r.allowed)
    r.allowed = _merge(c.dependent, r.allowed, c.node_attribute, c.score / INFINITY, nodes,
                       True, r)
    for n, s in r.allowed.items():
        if s != before.get(n):
            explain.add(r.id, n, add_scores(s, -before.get(n, 0)) if abs(s) < INFINITY
                        else s, f"preferences of {c.dependent.id} (colocated with it, {c.id})")


def commit(r: Rsc, chosen: str | None, nodes: dict[str, NodeInfo]) -> None:
    r.assigned = chosen
    r.assigning = False
    r.provisional = False
    if chosen is not None:
        nodes[chosen].assigned_count += 1
    else:
        r.next_role = STOPPED


def assign_all(rscs: Resources, nodes: dict[str, NodeInfo], explain: Explain) -> None:
    order = sorted(rscs.top, key=lambda r: (-r.priority, r.order))
    for r in order:
        assign(r, nodes, explain)
