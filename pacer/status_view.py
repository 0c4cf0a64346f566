"""What `pacer status` shows, computed from one store snapshot — pure.

The cluster's state is read the way the controller reads it: the snapshot's
Definition and Status go through `scheduler.schedule()`, and the nodes' health
(online, unclean, standby, ...) and each resource's node and role are taken
from the result's read-only view, never interpreted a second time here. What the
scheduler does not keep — the raw failed operations, fail-counts, the actions
in flight — comes from the snapshot as stored.

`build_view(snapshot, result)` → `StatusView` (plain data, `to_json()`), and
`render(view)` → text lines, modelled on crm_mon but spelled out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pacer.scheduler import NodeHealth, ResourceState, ScheduleResult, schedule
from pacer.status.failures import is_failure
from pacer.status.types import OCF_RC_NAMES, OP_PENDING, OpRecord

if TYPE_CHECKING:  # pragma: no cover
    from pacer.store.cluster import Snapshot

OP_STATUS_TEXT = {-1: "pending", 0: "done", 1: "cancelled", 2: "timed out",
                  3: "not supported", 4: "error", 5: "hard error", 6: "fatal error",
                  7: "not installed", 8: "not connected", 9: "invalid"}
FAIL_COUNT = "fail-count-"
LAST_FAILURE = "last-failure-"


@dataclass
class NodeView:
    name: str
    state: str  # online offline unclean pending shutting-down standby maintenance
    member: bool  # holds a live membership key in the store
    controller: bool
    standby: bool = False
    maintenance: bool = False
    unclean: bool = False
    reason: str | None = None  # why unclean
    configured: bool = True  # named in the definition
    joined: bool = True  # has ever joined (a node that never did is unclean at startup)


@dataclass
class ActiveOn:
    """Where a resource is active, and how."""

    node: str
    role: str  # Started Promoted Unpromoted
    failed: bool = False


@dataclass
class ResourceView:
    id: str
    kind: str  # primitive group clone
    agent: str | None = None
    description: str = ""  # "clone of haproxy", "promotable clone of db", "group"
    active: list[ActiveOn] = field(default_factory=list)
    target_role: str = "Started"
    managed: bool = True
    blocked: bool = False
    orphan: bool = False  # in history but no longer configured
    children: list[ResourceView] = field(default_factory=list)
    child: str | None = None  # a clone's configured child (its instances are `children`)

    def walk(self) -> Iterator[ResourceView]:
        yield self
        for c in self.children:
            yield from c.walk()

    def nodes(self) -> list[str]:
        """The nodes it is active on (a group: where its first member is)."""
        return list(dict.fromkeys(p.node for p in _leaf_placements(self)))


@dataclass
class Failure:
    rsc: str
    node: str
    operation: str
    interval_ms: int
    rc: int
    rc_text: str
    op_status: str
    time: int  # last_rc_change, epoch seconds


@dataclass
class FailCount:
    rsc: str
    node: str
    operation: str  # "monitor_10000": the op and interval it counts
    count: str  # a number or INFINITY
    last_failure: int | None = None


@dataclass
class InFlight:
    node: str
    task: str
    rsc: str | None
    interval_ms: int
    state: str  # requested (not yet taken by the node) or running
    id: str | None = None


@dataclass
class StatusView:
    cluster: str
    revision: int
    definition_revision: int | None
    controller: str | None
    nodes: list[NodeView]
    resources: list[ResourceView]
    failures: list[Failure]
    fail_counts: list[FailCount]
    in_flight: list[InFlight]
    planned: list[str]  # the scheduler's Transition Summary: what happens next

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- building


def _node_view(name: str, info: NodeHealth | None, member: bool, controller: str | None
               ) -> NodeView:
    v = NodeView(name=name, state="online" if member else "offline", member=member,
                 controller=name == controller, configured=info is not None)
    if info is None:
        return v
    v.standby = info.standby or info.standby_onfail
    v.maintenance = info.maintenance
    v.unclean = info.unclean
    v.reason = info.fence_reason if info.unclean else None
    if info.unclean:
        v.state = "unclean"
    elif not info.online:
        v.state = "offline"
    elif info.pending:
        v.state = "pending"
    elif info.shutdown:
        v.state = "shutting-down"
    elif v.standby:
        v.state = "standby"
    elif info.maintenance:
        v.state = "maintenance"
    return v


def _role(r: ResourceState, node: str) -> str:
    role = r.roles.get(node, "Started")
    if r.promotable and role != "Promoted":
        return "Unpromoted"
    return role


def _resource_view(r: ResourceState) -> ResourceView | None:
    if r.kind == "primitive":
        if r.orphan and not r.active:
            return None  # a stopped orphan is history, not a resource
        return ResourceView(
            id=r.id, kind="primitive", agent=r.agent,
            active=[ActiveOn(n, _role(r, n), n in r.failed_on) for n in r.active],
            target_role=r.target_role, managed=r.managed, blocked=r.blocked, orphan=r.orphan)
    children = [c for c in (_resource_view(x) for x in r.children) if c is not None]
    if r.kind == "group":
        desc = "group"
    else:
        child = r.clone_child or "?"
        desc = f"{'promotable clone' if r.promotable else 'clone'} of {child}"
    active = [p for c in children for p in _leaf_placements(c)]
    return ResourceView(id=r.id, kind=r.kind, description=desc, active=active,
                        target_role=r.target_role, managed=r.managed, orphan=r.orphan,
                        children=children, child=r.clone_child)


def _leaf_placements(v: ResourceView) -> list[ActiveOn]:
    if v.kind == "primitive":
        return v.active
    if v.kind == "group":
        # A group is where its first member runs (its members follow it).
        return v.children[0].active if v.children else []
    return v.active


def _failures(snapshot: Snapshot) -> list[Failure]:
    seen: dict[tuple[str, str, int], OpRecord] = {}
    for ns in snapshot.status.node_states.values():
        for h in ns.history:
            for op in h.ops:
                if is_failure(op):
                    # One op is kept in two slots (its own and last_failure_0).
                    seen.setdefault((ns.name, h.rsc, op.call_id), op)
    out = [Failure(rsc=op.rsc, node=node, operation=op.operation, interval_ms=op.interval_ms,
                   rc=op.rc, rc_text=OCF_RC_NAMES.get(op.rc, "unknown"),
                   op_status=OP_STATUS_TEXT.get(op.op_status, str(op.op_status)),
                   time=op.last_rc_change or op.last_run)
           for (node, _rsc, _call), op in seen.items()]
    return sorted(out, key=lambda f: (f.time, f.node, f.rsc))


def parse_fail_attribute(name: str) -> tuple[str, str, str] | None:
    """`fail-count-vip#monitor_10000` → ("fail-count", "vip", "monitor_10000")."""
    for prefix in (FAIL_COUNT, LAST_FAILURE):
        if name.startswith(prefix):
            rsc, _, op = name[len(prefix):].partition("#")
            return prefix.rstrip("-"), rsc, op
    return None


def _fail_counts(snapshot: Snapshot) -> list[FailCount]:
    out: list[FailCount] = []
    for ns in snapshot.status.node_states.values():
        last: dict[tuple[str, str], int] = {}
        for name, value in ns.transient.items():
            parsed = parse_fail_attribute(name)
            if parsed and parsed[0] == "last-failure" and value.isdigit():
                last[(parsed[1], parsed[2])] = int(value)
        for name, value in sorted(ns.transient.items()):
            parsed = parse_fail_attribute(name)
            if parsed and parsed[0] == "fail-count":
                out.append(FailCount(parsed[1], ns.name, parsed[2], value,
                                     last.get((parsed[1], parsed[2]))))
    return out


def _in_flight(snapshot: Snapshot) -> list[InFlight]:
    out = [InFlight(a.node, a.task, a.rsc, a.interval_ms, "requested", a.id)
           for a in snapshot.actions]
    for ns in snapshot.status.node_states.values():
        for h in ns.history:
            for op in h.ops:
                if op.op_status == OP_PENDING:
                    out.append(InFlight(ns.name, op.operation, h.rsc, op.interval_ms,
                                        "running", op.action_id))
    return sorted(out, key=lambda a: (a.node, a.rsc or "", a.task))


def build_view(snapshot: Snapshot, result: ScheduleResult | None, cluster: str) -> StatusView:
    """Everything `pacer status` shows; `result` is None without a stored definition."""
    status = snapshot.status
    controller = snapshot.controller.node if snapshot.controller else None
    members = {n for n, ns in status.node_states.items() if ns.crmd == "online"}
    infos = {n.name: n for n in result.view.nodes} if result is not None else {}
    names = list(infos) + sorted(n for n in status.node_states if n not in infos)
    nodes = [_node_view(n, infos.get(n), n in members, controller) for n in names]
    for v in nodes:
        v.joined = v.name in status.node_states
    resources: list[ResourceView] = []
    planned: list[str] = []
    if result is not None:
        resources = [v for v in (_resource_view(r) for r in result.view.resources) if v]
        planned = [line.strip() for line in result.summary_lines]
    return StatusView(
        cluster=cluster, revision=snapshot.revision,
        definition_revision=snapshot.definition.revision if snapshot.definition else None,
        controller=controller, nodes=nodes, resources=resources,
        failures=_failures(snapshot), fail_counts=_fail_counts(snapshot),
        in_flight=_in_flight(snapshot), planned=planned)


def view_of(snap: Snapshot, cluster: str, now: int | None = None) -> StatusView:
    """The status view of one snapshot: scheduled at `now` (default: the clock).
    (`pacer status` and the crm_mon shim both show this.)"""
    now = int(time.time()) if now is None else now
    result = None
    if snap.definition is not None:
        result = schedule(snap.definition.definition, snap.status, now)
    return build_view(snap, result, cluster)


# --------------------------------------------------------------------------- rendering


def format_time(epoch: int | None) -> str:
    if not epoch:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _interval(ms: int) -> str:
    return f" (every {ms / 1000:g}s)" if ms else ""


def _where(active: list[ActiveOn]) -> str:
    if not active:
        return ""
    by_role: dict[str, list[str]] = {}
    for p in active:
        by_role.setdefault(p.role, []).append(p.node + (" (FAILED)" if p.failed else ""))
    return "; ".join(f"{role} on {' '.join(ns)}" for role, ns in by_role.items())


def _state_text(v: ResourceView) -> str:
    where = _where(v.active)
    text = where or "Stopped"
    if v.target_role == "Stopped":
        text += " (disabled)"
    elif v.target_role == "Promoted" and not where:
        text += " (target: Promoted)"
    flags = [f for f, on in (("unmanaged", not v.managed), ("blocked", v.blocked),
                             ("ORPHANED: no longer configured", v.orphan)) if on]
    if flags:
        text += " [" + ", ".join(flags) + "]"
    return text


def _resource_lines(v: ResourceView, indent: str, width: int) -> list[str]:
    if v.kind == "primitive":
        return [f"{indent}{v.id.ljust(width - len(indent))}  {v.agent or '?':<24}  "
                f"{_state_text(v)}"]
    head = f"{indent}{v.id.ljust(width - len(indent))}  {v.description:<24}  "
    if v.kind == "clone":
        lines = [head + _state_text(v)]
        stopped = sum(1 for c in v.children if not c.active)
        if stopped:
            lines.append(f"{indent}  ({stopped} instance{'s' if stopped > 1 else ''} stopped)")
        return lines
    lines = [head.rstrip() + ("  (disabled)" if v.target_role == "Stopped" else "")]
    for c in v.children:
        lines.extend(_resource_lines(c, indent + "  ", width))
    return lines


def _widest(views: list[ResourceView], indent: int) -> int:
    out = 0
    for v in views:
        out = max(out, indent + len(v.id))
        if v.kind == "group":
            out = max(out, _widest(v.children, indent + 2))
    return out


def render(view: StatusView) -> list[str]:
    if view.definition_revision is None:
        head = f"Cluster {view.cluster!r}: no definition stored (pacer config push FILE)"
    else:
        ctl = f"controller {view.controller}" if view.controller else "NO CONTROLLER elected"
        head = f"Cluster {view.cluster!r}: {ctl}; definition revision {view.definition_revision}"
    out = [head]
    out.append("")
    online = sum(1 for n in view.nodes if n.member and not n.unclean)
    out.append(f"Nodes ({len(view.nodes)}, {online} online):")
    if not view.nodes:
        out.append("  (none has joined)")
    w = max([len(n.name) for n in view.nodes] + [4])
    for n in view.nodes:
        notes = []
        if n.controller:
            notes.append("controller")
        if n.state != "maintenance" and n.maintenance:
            notes.append("maintenance")
        if n.unclean and n.reason:
            notes.append(f"must be fenced: {n.reason}"
                         + ("" if n.joined else " (it has never joined)"))
        if not n.configured:
            notes.append("not in the definition")
        state = n.state.upper() if n.state in ("offline", "unclean") else n.state
        out.append(f"  {n.name.ljust(w)}  {state:<13}  {', '.join(notes)}".rstrip())
    if view.definition_revision is not None:
        out.append("")
        out.append(f"Resources ({len(view.resources)}):")
        width = _widest(view.resources, 2)
        for v in view.resources:
            out.extend(_resource_lines(v, "  ", width))
        if not view.resources:
            out.append("  (none configured)")
    if view.failures or view.fail_counts:
        out.append("")
        out.append("Failures (pacer resource cleanup RSC forgets them):")
        for f in view.failures:
            out.append(f"  {f.rsc} {f.operation}{_interval(f.interval_ms)} on {f.node}: "
                       f"rc={f.rc} ({f.rc_text}), {f.op_status}, at {format_time(f.time)}")
        for c in view.fail_counts:
            out.append(f"  fail-count of {c.rsc} on {c.node} ({c.operation}): {c.count}"
                       + (f", last at {format_time(c.last_failure)}" if c.last_failure else ""))
    if view.in_flight:
        out.append("")
        out.append("In flight:")
        for a in view.in_flight:
            what = f"{a.task}{_interval(a.interval_ms)}" + (f" {a.rsc}" if a.rsc else "")
            out.append(f"  {what} on {a.node}: {a.state}")
    if view.planned:
        out.append("")
        out.append("Next (the scheduler's plan for this state):")
        out.extend(f"  {line}" for line in view.planned)
    return out


def status_line(view: StatusView) -> str:
    """One line in crm_mon -s's words: CLUSTER OK or CLUSTER WARN and why."""
    online = sum(1 for n in view.nodes if n.member and not n.unclean)
    problems = [f"{'unclean' if n.unclean else 'offline'} node: {n.name}"
                for n in view.nodes if n.unclean or (n.configured and not n.member)]
    problems += [f"failed action: {f.rsc} {f.operation} on {f.node}" for f in view.failures]
    if problems:
        return "CLUSTER WARN: " + ", ".join(problems)
    instances = sum(len(_primitives(v)) for v in view.resources)
    return f"CLUSTER OK: {online} nodes online, {instances} resource instances configured"


def _primitives(v: ResourceView) -> list[ResourceView]:
    if v.kind == "primitive":
        return [v]
    return [p for c in v.children for p in _primitives(c)]


def find_resource(view: StatusView, rsc: str) -> ResourceView | None:
    """A resource by id; a clone's configured child stands for the clone."""
    for top in view.resources:
        for v in top.walk():
            if v.id == rsc or (v.kind == "clone" and v.child == rsc):
                return v
    return None
