"""Part of the result: a small read-only view of one run, for what reads the
scheduler's decisions without making any — `pacer status`, `pacer simulate`'s
status block and score table, `pacer explain`, the fault simulator's
convergence and takeover checks.

Built on first use from the run's plan, which stays private (nothing outside
the scheduler sees it), as frozen records:

- `NodeHealth`      per node: can it take resources, and if not, why;
- `ResourceState`   per resource (a tree: top level, group members, clone
                    instances): where history says it runs and in which role,
                    where the scheduler counts it active, its failures, the
                    node and role it gets, its final scores, the colocations it
                    follows;
- `ResourceActions` a primitive's start, its stops and its actions in the
                    transition, each unrunnable one with what blocks it;
- `Explanation`     every score contribution with its source, the final
                    scores before each choice, notes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

from pacer.scheduler.explanation import Contribution
from pacer.scheduler.graph import Action, Edge
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Rsc
from pacer.status.instances import split_instance_id

# "first unrunnable ⇒ then unrunnable": the edges along which an action is blocked.
_BLOCKING = Edge.RUNNABLE_LEFT | Edge.ASYMMETRICAL


@dataclass(frozen=True)
class NodeHealth:
    """A node as the scheduler reads its membership facts and attributes."""

    name: str
    online: bool
    unclean: bool  # must be fenced (`fence_reason` says why)
    pending: bool  # still joining the cluster
    standby: bool
    standby_onfail: bool  # a resource with on-fail=standby failed there
    maintenance: bool
    shutdown: bool
    fence_reason: str | None

    @property
    def can_run(self) -> bool:
        """May resources be placed here at all?"""
        return (self.online and not self.unclean and not self.pending and not self.standby
                and not self.standby_onfail and not self.maintenance and not self.shutdown)


@dataclass(frozen=True)
class ColocationState:
    """A colocation a resource follows, and where its primary was placed."""

    id: str  # `G:internal` for a group's own chain
    primary: str
    primary_node: str | None
    score: int


@dataclass(frozen=True)
class ResourceState:
    id: str
    kind: str  # primitive group clone
    parent: str | None
    children: tuple[ResourceState, ...]
    primitive: str | None  # a primitive's configured id (an instance `web:1`: `web`)
    agent: str | None  # a primitive's agent (`ocf:heartbeat:IPaddr2`)
    clone_child: str | None  # a clone's configured child
    promotable: bool  # a promotable clone, or part of one
    orphan: bool  # in history but no longer configured (or past clone-max)
    managed: bool
    blocked: bool
    target_role: str
    # Where history says it is active, and in which role (Started, Promoted,
    # Unpromoted), in status order.
    roles: Mapping[str, str]
    # Where the scheduler counts it active: those nodes, less a lost node that
    # will not be fenced (or a copy that goes with the node anyway).
    active: tuple[str, ...]
    failed_on: tuple[str, ...]
    assigned: str | None  # the node chosen for it (None: it stops or stays stopped)
    fixed_node: str | None  # unmanaged or blocked: left where it is
    next_role: str  # Stopped, Started, Promoted, Unpromoted
    scores: Mapping[str, int]  # its final score per node (nodes it may run on)
    colocations: tuple[ColocationState, ...]  # those it is the dependent of, in order
    fatal_on: tuple[str, ...]  # nodes whose history says it is not configured correctly
    on_fail: Mapping[str, str]  # node -> the on-fail policy of the failure current there

    def primitives(self) -> Iterator[ResourceState]:
        if self.kind == "primitive":
            yield self
        for c in self.children:
            yield from c.primitives()


@dataclass(frozen=True)
class ActionState:
    """One action as the run left it (required or not)."""

    task: str
    node: str | None
    rsc: str | None  # its resource's id (None: a pseudo action of the graph itself)
    of_primitive: bool  # its resource is a primitive (not a group's or clone's pseudo action)
    interval_ms: int
    required: bool
    runnable: bool
    pseudo: bool
    reason: str | None
    # For an unrunnable action: the unrunnable actions it is ordered after,
    # nearest first, down to one unrunnable for a reason of its own.
    blocked_by: tuple[ActionState, ...] = ()


@dataclass(frozen=True)
class ResourceActions:
    """A primitive's actions."""

    start: ActionState | None
    stops: tuple[ActionState, ...]  # one per node it is active on
    required: tuple[ActionState, ...]  # every action of it in the transition, in order


@dataclass(frozen=True)
class Explanation:
    """Why each resource scored what it did on each node."""

    contributions: Mapping[str, tuple[Contribution, ...]]
    final_scores: Mapping[str, Mapping[str, int]]  # just before each choice
    notes: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, eq=False)
class ClusterView:
    """The read-only view of one run (see the module's docstring)."""

    _plan: Plan

    @cached_property
    def nodes(self) -> tuple[NodeHealth, ...]:
        """Every configured cluster node, in configuration order."""
        return tuple(_node_health(info) for info in self._plan.nodes.values())

    def node(self, name: str) -> NodeHealth | None:
        return self._node_index.get(name)

    @cached_property
    def resources(self) -> tuple[ResourceState, ...]:
        """The top-level resources: configured ones in order, then orphans."""
        return tuple(self._states[id(r)] for r in self._plan.rscs.top)

    @cached_property
    def primitives(self) -> tuple[ResourceState, ...]:
        """Every primitive (clone instances and orphans too), in configuration order."""
        return tuple(self._states[id(r)] for r in self._plan.rscs.primitives)

    def resource(self, rid: str) -> ResourceState | None:
        """Any resource by id: top level, group member or clone instance."""
        r = self._plan.rscs.by_id.get(rid)
        return self._states[id(r)] if r is not None else None

    @cached_property
    def resource_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._plan.rscs.by_id))

    def actions(self, rid: str) -> ResourceActions | None:
        """A primitive's actions (None for anything else)."""
        r = self._plan.rscs.by_id.get(rid)
        if r is None or r.kind != "primitive":
            return None
        start = r.actions.get("start")
        return ResourceActions(
            start=_action_state(start) if start is not None else None,
            stops=tuple(_action_state(s) for s in r.actions.get("stops", [])),
            required=tuple(_action_state(a) for a in self._required_of.get(r.id, ())))

    @cached_property
    def options(self) -> ClusterOptions:
        return self._plan.opts

    @cached_property
    def explanation(self) -> Explanation:
        e = self._plan.explain
        return Explanation(
            contributions=MappingProxyType({k: tuple(v) for k, v in e.contributions.items()}),
            final_scores=MappingProxyType({k: MappingProxyType(dict(v))
                                           for k, v in e.final_scores.items()}),
            notes=MappingProxyType({k: tuple(v) for k, v in e.notes.items()}))

    # ---- built on first use

    @cached_property
    def _node_index(self) -> dict[str, NodeHealth]:
        return {n.name: n for n in self.nodes}

    @cached_property
    def _states(self) -> dict[int, ResourceState]:
        out: dict[int, ResourceState] = {}
        for r in self._plan.rscs.top:
            _resource_state(r, out)
        return out

    @cached_property
    def _required_of(self) -> dict[str, list[Action]]:
        out: dict[str, list[Action]] = {}
        for a in self._plan.actions:
            if a.required and a.rsc_id is not None:
                out.setdefault(a.rsc_id, []).append(a)
        return out


def _node_health(info: NodeInfo) -> NodeHealth:
    return NodeHealth(name=info.name, online=info.online, unclean=info.unclean,
                      pending=info.pending, standby=info.standby,
                      standby_onfail=info.standby_onfail, maintenance=info.maintenance,
                      shutdown=info.shutdown, fence_reason=info.fence_reason)


def _resource_state(r: Rsc, out: dict[int, ResourceState]) -> ResourceState:
    children = tuple(_resource_state(c, out) for c in r.children)
    primitive = None
    if r.kind == "primitive":
        primitive = r.prim.id if r.prim is not None else split_instance_id(r.id)[0]
    clone_child = None
    if r.kind == "clone" and r.config is not None:
        clone_child = r.config.child.id  # type: ignore[union-attr]
    state = ResourceState(
        id=r.id, kind=r.kind, parent=r.parent.id if r.parent is not None else None,
        children=children, primitive=primitive,
        agent=r.prim.agent if r.prim is not None else None, clone_child=clone_child,
        promotable=r.promotable, orphan=r.orphan, managed=r.managed, blocked=r.blocked,
        target_role=r.target_role, roles=MappingProxyType(dict(r.roles)),
        active=tuple(r.running_on), failed_on=tuple(r.failed_nodes), assigned=r.assigned,
        fixed_node=r.fixed_node, next_role=r.next_role,
        scores=MappingProxyType(dict(r.allowed)),
        colocations=tuple(ColocationState(c.id, c.primary.id, c.primary.assigned, c.score)
                          for c in r.with_primaries),
        fatal_on=tuple(n for n, nh in sorted(r.history.items()) if nh.fatal),
        on_fail=MappingProxyType({n: nh.on_fail for n, nh in sorted(r.history.items())
                                  if nh.failed and nh.on_fail is not None}))
    out[id(r)] = state
    return state


def _action_state(a: Action, chain: bool = True) -> ActionState:
    rsc = a.rsc
    blocked = tuple(_action_state(b, False) for b in _blocking_chain(a)) \
        if chain and not a.runnable else ()
    return ActionState(
        task=a.task, node=a.node, rsc=a.rsc_id,
        of_primitive=isinstance(rsc, Rsc) and rsc.kind == "primitive",
        interval_ms=a.interval_ms, required=a.required, runnable=a.runnable, pseudo=a.pseudo,
        reason=a.reason, blocked_by=blocked)


def _blocking_chain(a: Action) -> list[Action]:
    """The unrunnable actions that make `a` unrunnable, nearest first, down to
    the root: ordering edges followed backwards ("then cannot run because
    first cannot"), through pseudo actions of groups, to an action that is
    unrunnable for a reason of its own (no node, no quorum, ...)."""
    chain = []
    seen = {id(a)}
    cur = a
    while True:
        nxt = None
        for first, flags in cur.edges_in:
            if flags & _BLOCKING and not first.runnable and id(first) not in seen:
                nxt = first
                break
        if nxt is None:
            return chain
        seen.add(id(nxt))
        chain.append(nxt)
        cur = nxt
