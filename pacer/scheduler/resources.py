"""The scheduler's working view of resources: configuration joined with status.

One `Rsc` per configured resource (primitive, group) plus one per orphan
(in history but no longer configured). Primitives carry what their history says
(where they are active, in which role, failures); groups carry their members.
These objects are private to one `schedule()` call: they are built, filled in by
placement and action creation, and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacer.model.clones import CloneOptions
from pacer.model.definition import Clone, Definition, Group, NVSet, Primitive
from pacer.model.meta import (
    INFINITY,
    STARTED,
    STOPPED,
    parse_bool,
    parse_interval_ms,
    parse_score,
)
from pacer.scheduler.clones import HistoryEntry, bind_histories
from pacer.scheduler.history import NodeHistory, interpret
from pacer.scheduler.nodes import NodeInfo
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.rules import RuleContext, evaluate
from pacer.status.digests import params_digest
from pacer.status.instances import split_instance_id
from pacer.status.types import Status


@dataclass(eq=False)
class Rsc:
    id: str
    kind: str  # primitive group clone
    prim: Primitive | None = None
    config: Primitive | Group | Clone | None = None
    parent: Rsc | None = None
    children: list[Rsc] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    orphan: bool = False
    order: int = 0  # position in the configuration (for stable sorting)
    # --- from history (primitives)
    history: dict[str, NodeHistory] = field(default_factory=dict)
    running_on: list[str] = field(default_factory=list)  # node order of the status
    roles: dict[str, str] = field(default_factory=dict)
    failed_nodes: list[str] = field(default_factory=list)
    fence_causes: set[str] = field(default_factory=set)  # nodes fenced for its failure
    blocked: bool = False
    # --- placement
    allowed: dict[str, int] = field(default_factory=dict)
    assigned: str | None = None
    fixed_node: str | None = None  # unmanaged/blocked: stays where it is
    provisional: bool = True
    assigning: bool = False
    next_role: str = STARTED
    with_primaries: list = field(default_factory=list)  # colocations where this is dependent
    dependents: list = field(default_factory=list)  # colocations where this is primary
    merging: bool = False
    stop_reason: str | None = "node availability"
    # --- actions (primitives)
    actions: dict = field(default_factory=dict)
    restart_needed: set[str] = field(default_factory=set)
    migrating: bool = False
    definition_changed: bool = False
    changed_nodes: set[str] = field(default_factory=set)  # runs there with old parameters
    # Active only because a migrate_to may have left it on its target: it is
    # not migrated again from there, but stopped and started.
    dangling_migration: bool = False
    # Sources of a completed migration: they only need their clean-up stop.
    migration_sources: list[str] = field(default_factory=list)
    reload_nodes: set[str] = field(default_factory=set)  # only reloadable parameters changed
    # Primitives that must start before this one (mandatory orders), for migration.
    order_firsts: list[Rsc] = field(default_factory=list)
    # --- clones
    clone_opts: CloneOptions | None = None  # set on the clone itself
    number: int | None = None  # instance number, on an instance and its members
    known_nodes: set[str] = field(default_factory=set)  # clone: nodes with any history
    ban_nodes: set[str] = field(default_factory=set)  # clone: hard errors of any instance
    # Node → the id the history bound to this instance is recorded under there.
    history_id_on: dict[str, str] = field(default_factory=dict)
    promotion_ctx: object | None = None  # promotable clone: roles.PromotionContext

    # ---- typed meta

    @property
    def managed(self) -> bool:
        return _meta_bool(self.meta, "is-managed", True) and not _meta_bool(
            self.meta, "maintenance", False
        )

    @property
    def target_role(self) -> str:
        v = self.meta.get("target-role", "Started").strip().lower()
        return {"master": "Promoted", "slave": "Unpromoted", "stopped": "Stopped",
                "started": "Started", "promoted": "Promoted",
                "unpromoted": "Unpromoted"}.get(v, "Started")

    @property
    def stickiness(self) -> int:
        return _meta_score(self.meta, "resource-stickiness", 0)

    @property
    def priority(self) -> int:
        return _meta_score(self.meta, "priority", 0)

    @property
    def migration_threshold(self) -> int:
        return _meta_score(self.meta, "migration-threshold", INFINITY)

    @property
    def failure_timeout_s(self) -> int:
        return _failure_timeout_s(self.meta)

    @property
    def allow_migrate(self) -> bool:
        return _meta_bool(self.meta, "allow-migrate", False)

    @property
    def multiple_active(self) -> str:
        return self.meta.get("multiple-active", "stop_start")

    @property
    def active(self) -> bool:
        return bool(self.running_on)

    @property
    def failed(self) -> bool:
        return bool(self.failed_nodes)

    def primitives(self):
        if self.kind == "primitive":
            yield self
        for c in self.children:
            yield from c.primitives()

    @property
    def clone(self) -> Rsc | None:
        """The clone this resource is an instance (or instance member) of."""
        p = self.parent
        while p is not None:
            if p.kind == "clone":
                return p
            p = p.parent
        return None

    @property
    def instance(self) -> Rsc | None:
        """The clone instance this resource is or belongs to (a primitive or a group)."""
        r: Rsc | None = self
        while r is not None and r.parent is not None:
            if r.parent.kind == "clone":
                return r
            r = r.parent
        return None

    @property
    def promotable(self) -> bool:
        c = self if self.kind == "clone" else self.clone
        return c is not None and c.clone_opts is not None and c.clone_opts.promotable

    def top(self) -> Rsc:
        r = self
        while r.parent is not None:
            r = r.parent
        return r

    def __repr__(self) -> str:
        return f"Rsc({self.id})"


def group_first(r: Rsc) -> Rsc:
    """The first primitive of a group (nested groups too); r itself otherwise."""
    while r.kind == "group" and r.children:
        r = r.children[0]
    return r


def group_last(r: Rsc) -> Rsc:
    """The last primitive of a group (nested groups too); r itself otherwise."""
    while r.kind == "group" and r.children:
        r = r.children[-1]
    return r


def _meta_bool(meta: dict[str, str], name: str, default: bool) -> bool:
    v = meta.get(name)
    return default if v is None else parse_bool(v, default=default)


def _failure_timeout_s(meta: dict[str, str]) -> int:
    v = meta.get("failure-timeout")
    if not v:
        return 0
    try:
        return parse_interval_ms(v, lenient=True) // 1000
    except ValueError:
        return 0


def _meta_score(meta: dict[str, str], name: str, default: int) -> int:
    v = meta.get(name)
    if v is None:
        return default
    return parse_score(v, lenient=True)


def _nvsets_values(sets: tuple[NVSet, ...], ctx: RuleContext) -> dict[str, str]:
    """Values of the rsc/op defaults sets that apply; first (highest score) wins."""
    out: dict[str, str] = {}
    for s in sorted(sets, key=lambda s: -s.score):
        if s.rule is not None and not evaluate(s.rule, ctx):
            continue
        for k, v in s.values.items():
            out.setdefault(k, v)
    return out


@dataclass
class Resources:
    """All resources of one scheduling run, indexed."""

    top: list[Rsc]
    by_id: dict[str, Rsc]
    primitives: list[Rsc]
    # Ids that constraints may name but that are not resources of their own:
    # the primitive or group inside a clone stands for the clone.
    aliases: dict[str, Rsc] = field(default_factory=dict)
    clones: list[Rsc] = field(default_factory=list)

    def find(self, rid: str | None) -> Rsc | None:
        if rid is None:
            return None
        r = self.by_id.get(rid)
        if r is not None and r.instance is not None:
            return None  # constraints naming an instance are not used
        return r if r is not None else self.aliases.get(rid)


def build_resources(defn: Definition, status: Status, nodes: dict[str, NodeInfo],
                    opts: ClusterOptions, now: int) -> Resources:
    by_id: dict[str, Rsc] = {}
    top: list[Rsc] = []
    prims: list[Rsc] = []
    clones: list[Rsc] = []
    aliases: dict[str, Rsc] = {}
    # child or member id → (clone, configured child, inherited meta, member index)
    clone_children: dict[str, tuple[Rsc, Primitive | Group, dict[str, str], int | None]] = {}
    counter = [0]

    defaults_by_agent: dict[tuple[str, str | None, str] | None, dict[str, str]] = {}

    def defaults_for(p: Primitive | None) -> dict[str, str]:
        # (the same for every resource of one agent: computed once per agent;
        # callers copy it)
        agent = (p.agent_class, p.provider, p.type) if p else None
        values = defaults_by_agent.get(agent)
        if values is None:
            values = defaults_by_agent[agent] = _nvsets_values(
                defn.rsc_defaults, RuleContext(now=now, agent=agent))
        return values

    has_stickiness_default = any("resource-stickiness" in ns.values
                                 for ns in defn.rsc_defaults)

    def make(res, parent: Rsc | None, inherited: dict[str, str], suffix: str = "",
             number: int | None = None) -> Rsc:
        counter[0] += 1
        rid = res.id + suffix
        if isinstance(res, Primitive):
            meta = {**defaults_for(res), **inherited, **res.meta}
            r = Rsc(id=rid, kind="primitive", prim=res, config=res, parent=parent, meta=meta,
                    order=counter[0], number=number)
            prims.append(r)
        elif isinstance(res, Group):
            meta = {**defaults_for(None), **inherited, **res.meta}
            r = Rsc(id=rid, kind="group", config=res, parent=parent, meta=meta,
                    order=counter[0], number=number)
            child_meta = {**inherited, **res.meta}
            r.children = [make(m, r, child_meta, suffix, number) for m in res.members]
        else:
            meta = {**defaults_for(None), **inherited, **res.meta}
            r = Rsc(id=rid, kind="clone", config=res, parent=parent, meta=meta,
                    order=counter[0])
            r.clone_opts = CloneOptions.from_meta(meta, len(nodes), res.promotable)
            child_meta = {**inherited, **res.meta}
            if ("resource-stickiness" not in child_meta and not has_stickiness_default
                    and "resource-stickiness" not in res.child.meta):
                child_meta["resource-stickiness"] = "1"  # clones are sticky by default
            clones.append(r)
            for i in range(r.clone_opts.clone_max):
                r.children.append(make(res.child, r, child_meta, f":{i}", i))
            aliases[res.child.id] = r
            if isinstance(res.child, Group):
                for m in res.child.members:
                    aliases[m.id] = r
            clone_children[res.child.id] = (r, res.child, child_meta, None)
            if isinstance(res.child, Group):
                for i, m in enumerate(res.child.members):
                    clone_children[m.id] = (r, res.child, child_meta, i)
        by_id[r.id] = r
        return r

    for res in defn.resources:
        top.append(make(res, None, {}))

    op_defaults = _nvsets_values(defn.op_defaults, RuleContext(now=now))

    # History: which primitives are active where.
    orphans: dict[str, Rsc] = {}
    clone_entries: dict[str, list[HistoryEntry]] = {}
    for node_name, ns in status.node_states.items():
        for hist in ns.history:
            base, _num = split_instance_id(hist.rsc)
            r = by_id.get(hist.rsc)
            if (r is None or r.instance is not None) and base in clone_children:
                clone, child, cmeta, member = clone_children[base]
                cprim = child if isinstance(child, Primitive) else child.members[member or 0]
                nh = interpret(hist.ops, cprim, opts.stonith_enabled, op_defaults,
                               _failure_timeout_s({**cmeta, **cprim.meta}), now)
                clone.known_nodes.add(node_name)
                if nh.ban_node:
                    clone.ban_nodes.add(node_name)
                clone_entries.setdefault(clone.id, []).append(
                    HistoryEntry(node_name, member or 0, hist.rsc, nh))
                continue
            if r is None or r.kind != "primitive":
                if r is not None:
                    continue
                oid = base if _num is not None else hist.rsc
                r = orphans.get(oid)
                if r is None:
                    counter[0] += 1
                    prim = Primitive(id=oid, agent_class=hist.agent_class or "ocf",
                                     provider=hist.provider, type=hist.type)
                    r = Rsc(id=oid, kind="primitive", prim=prim, orphan=True,
                            meta={**defaults_for(prim)}, order=counter[0])
                    orphans[oid] = r
            nh = interpret(hist.ops, None if r.orphan else r.prim, opts.stonith_enabled,
                           op_defaults, r.failure_timeout_s, now)
            nh.shutdown_lock = hist.shutdown_lock
            if not r.orphan and r.prim is not None and hist.type:
                cls = "ocf" if r.prim.agent_class == "pacer" else r.prim.agent_class
                provider = "pacer" if r.prim.agent_class == "pacer" else r.prim.provider
                nh.agent_changed = (hist.agent_class, hist.provider or None, hist.type) != (
                    cls, provider or None, r.prim.type)
            r.history[node_name] = nh
    node_order = list(status.node_states)
    for clone in clones:
        entries = clone_entries.get(clone.id, [])
        copts = clone.clone_opts
        assert copts is not None

        def bind(n: int, e: HistoryEntry, clone: Rsc = clone) -> None:
            inst = _instance(clone, n, make, clone_children, by_id)
            target = inst if inst.kind == "primitive" else inst.children[e.member]
            old = target.history.get(e.node)
            if old is not None and old.role != STOPPED and e.history.role == STOPPED:
                # Two records of one instance on a node: active if either says
                # so (Pacemaker reads each on its own: inc6).
                return
            target.history[e.node] = e.history
            target.history_id_on[e.node] = e.hist_id

        bind_histories(entries, node_order, copts.unique, copts.clone_max, bind)
    for r in orphans.values():
        by_id[r.id] = r
        top.append(r)
        prims.append(r)

    for r in prims:
        _summarize_history(r, nodes, status)
        _dangling_migration_targets(r, nodes)
        _completed_migration_sources(r)
    return Resources(top=top, by_id=by_id, primitives=prims, aliases=aliases, clones=clones)


def _instance(clone: Rsc, n: int, make, clone_children, by_id: dict[str, Rsc]) -> Rsc:
    """Instance number n of the clone, made as an orphan when past clone-max."""
    for inst in clone.children:
        if inst.number == n:
            return inst
    child = clone.config.child  # type: ignore[union-attr]
    _clone, _child, meta, _m = clone_children[child.id]
    inst = make(child, clone, meta, f":{n}", n)
    for p in inst.primitives():
        p.orphan = True
    inst.orphan = True
    clone.children.append(inst)
    clone.children.sort(key=lambda c: c.number if c.number is not None else 0)
    return inst


def _summarize_history(r: Rsc, nodes: dict[str, NodeInfo], status: Status) -> None:
    # Node order follows the status section (as Pacemaker lists running_on).
    for node_name in status.node_states:
        nh = r.history.get(node_name)
        if nh is None or not nh.known:
            continue
        info = nodes.get(node_name)
        if info is None:
            continue
        if nh.role != STOPPED:
            r.running_on.append(node_name)
            r.roles[node_name] = nh.role
        if nh.failed:
            r.failed_nodes.append(node_name)


def _dangling_migration_targets(r: Rsc, nodes: dict[str, NodeInfo]) -> None:
    """A migrate_to that succeeded may have left the resource running on its
    target: it counts as active there unless the target recorded anything
    about it since (a migrate_from, a stop, a probe)."""
    for nh in list(r.history.values()):
        op = nh.migrated_to
        target = op.migrate_target if op is not None else None
        if op is None or not target or target in r.running_on or target not in nodes:
            continue
        th = r.history.get(target)
        if th is not None and th.latest_time > (op.last_rc_change or op.last_run):
            continue
        if not nodes[target].online:
            continue
        r.running_on.append(target)
        r.roles[target] = STARTED
        r.dangling_migration = True


def _completed_migration_sources(r: Rsc) -> None:
    """A migration whose migrate_from succeeded on the target after the
    migrate_to on the source is complete: the resource runs on the target only.
    The source only gets a clean-up stop, which the summary does not show
    (migrate-shutdown)."""
    for src, nh in r.history.items():
        op = nh.migrated_to
        if op is None or src not in r.running_on or nh.last_op is not op:
            continue
        target = op.migrate_target
        th = r.history.get(target or "")
        if th is None or target not in r.running_on or th.last_op is None \
                or th.last_op.operation != "migrate_from" \
                or th.partial_migration_source != src:
            continue
        r.running_on.remove(src)
        r.roles.pop(src, None)
        r.migration_sources.append(src)


# Non-recurring operations whose recorded digest describes the running instance:
# a probe that found it running and a promote or migration stand for its start.
DIGEST_TASKS = ("start", "monitor", "promote", "migrate_from")
RESTART = "restart"
RELOAD = "reload"


def _op_params(r: Rsc, task: str) -> dict[str, str]:
    """The parameters of one non-recurring operation: the resource's own plus
    those configured on that operation alone."""
    assert r.prim is not None
    params = dict(r.prim.params)
    for o in r.prim.operations:
        if o.name == task and o.interval_ms == 0:
            params.update(o.params)
    return params


def _public_digest(r: Rsc, params: dict[str, str], secure_params: str) -> str:
    """The digest of what a saved CIB may show: private parameters left out,
    and for a fence device also the pcmk_* options, which its agent never sees."""
    assert r.prim is not None
    private = set(secure_params.split())
    public = {k: v for k, v in params.items() if k not in private}
    if r.prim.agent_class == "stonith":
        public = {k: v for k, v in public.items() if not k.startswith("pcmk_")}
    return params_digest(public)


def digest_change(r: Rsc, nh: NodeHistory) -> str | None:
    """How the configured parameters differ from those the resource runs with
    on a node: None (same), RELOAD (only reloadable parameters changed) or
    RESTART (it must be stopped and started again to take them)."""
    if r.prim is None or r.orphan:
        return None
    if nh.agent_changed:
        return RESTART
    worst: str | None = None
    for op in nh.active_ops:
        if op.operation not in DIGEST_TASKS or op.interval_ms != 0:
            continue
        params = _op_params(r, op.operation)
        if op.restart_digest is not None:
            # The digest of the parameters that cannot be reloaded, as listed then.
            names = set((op.force_restart or "").split())
            fixed = {k: v for k, v in params.items() if k in names}
            if params_digest(fixed) != op.restart_digest:
                return RESTART
        if op.digest is None:
            same = False  # recorded without a digest: what it runs with is unknown
        else:
            same = op.digest == params_digest(params)
            if not same and op.secure_params and op.secure_digest:
                # A saved CIB masks private values: compare what it may show.
                same = op.secure_digest == _public_digest(r, params, op.secure_params)
        if same:
            continue
        own = any(o.params for o in r.prim.operations
                  if o.name == op.operation and o.interval_ms == 0)
        if op.restart_digest is None or own:
            # The agent cannot reload, or this operation has parameters of its own
            # that only a fresh run of it applies.
            return RESTART
        worst = RELOAD
    return worst
