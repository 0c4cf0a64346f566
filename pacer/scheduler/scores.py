"""Step 2, scores: every resource's score on every node, before colocations — pure.

- location constraints and rules (a role's own locations decide promotion only:
  roles.py), shutdown-lock, node health (#health attributes);
- a clone's hard errors, stickiness where a resource runs now, and fail-counts
  that reached migration-threshold (with failure-timeout).

Every score added is also recorded in the explanation (`location_add`), so
`pacer explain` can say why.
"""

from __future__ import annotations

import re

from pacer.model.definition import Definition, Location
from pacer.model.meta import MINUS_INFINITY, add_scores, parse_score
from pacer.scheduler.explanation import Explain
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Resources, Rsc
from pacer.scheduler.rules import RuleContext, evaluate
from pacer.status.types import Status


def apply_scores(plan: Plan) -> None:
    apply_locations(plan.defn, plan.rscs, plan.nodes, plan.opts, plan.status, plan.now,
                    plan.explain)


def location_add(r: Rsc, node: str, score: int, explain: Explain, source: str) -> None:
    r.allowed[node] = add_scores(r.allowed.get(node, 0), score)
    explain.add(r.id, node, score, source)


def location_targets(loc: Location, rscs: Resources) -> list[Rsc]:
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


def rule_score(rule, node: NodeInfo) -> int | None:
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
        for target in location_targets(loc, rscs):
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
                            score = rule_score(rule, info)
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
