"""The invariants, checked against what really runs (`Reality`) and what the
store says, after every event of a simulation.

- single-active: a resource that is not a clone is never active on two hosts.
- promoted-max: never more promoted instances of a promotable clone than
  promoted-max (in total) and promoted-node-max (per host); clone-max: never
  more active instances than clone-max / clone-node-max.
- order: a mandatory order is never violated while both sides run: `then`
  starts (promotes) only while `first` is started (promoted) — on the same
  host for group members and interleaved clones — and, for symmetrical
  orders, the last `first` stops (demotes) only after `then` has stopped
  (demoted) — except the demote of a promotable clone ordered before a
  resource that is no clone, which Pacemaker does not hold back either.
  A resource dying by itself is a fault, not a violation: until an action
  touches it (or, for a crashed host, until its membership ends), an
  instance a fault killed still counts as up. A node fencing
  itself (no longer a member) is not held to cross-node inverse orders: it
  cannot wait for nodes it lost.
- self-fence: nothing that ran under a node's lease still runs on that host
  `self_fence_bound` seconds after the lease lapsed (the store deleted the
  node's membership key). A host frozen without a watchdog cannot act; fencing
  covers it (next invariant).
- fenced-before-takeover: a resource the store still records as active on a
  lost node (membership gone, expected member, not fenced) is not started or
  promoted elsewhere.
- fence-confirmed: once a fence of a node is confirmed in the store, that host
  is off or runs nothing — at that moment and at every later one until the
  node joins again (a new membership).
- rule-6: no start, promote or migrate_from begins on a host whose membership
  has lapsed at that instant (DESIGN.md rule 6: nothing is started on a node
  without a live lease). Stops, demotes, monitors and notifications may run
  any time (a self-fence stops everything after the lease is gone).
- colocation: resources colocated with score INFINITY do not run apart (one on
  a host without the other) past a transition — apart for `colocation_grace`
  seconds during which no action of either ran, on a host the cluster can act
  on (powered, its process running, a member, a controller elected);
  -INFINITY: not together that long.
- healthy-evicted (availability; the run goes on): a node loses its membership
  while its lease lives (evicted, deposed, declared fenced) only if it was
  unhealthy: its host off, its process held, a fault on it (or on the store)
  in the last 2 heartbeat timeouts, or it joined less than that ago.
- converges: after the last fault healed the cluster reaches the scheduler's
  target (nothing left to do, and what runs is what the store believes runs)
  within `SimConfig.converge_bound` seconds.

Each violation names the time, the invariant, the node and the resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pacer.faultsim.reality import (
    DEMOTING,
    PROMOTED,
    PROMOTED_ROLES,
    PROMOTING,
    STARTED,
    Reality,
    Running,
)
from pacer.model.clones import CloneOptions
from pacer.model.definition import Clone, Definition, Group, Primitive, Resource, resource_index
from pacer.status.instances import split_instance_id

INVARIANTS = ("single-active", "promoted-max", "clone-max", "order", "self-fence",
              "fenced-before-takeover", "fence-confirmed", "rule-6", "colocation", "converges",
              "healthy-evicted")
# Availability, not safety: recorded, but the run goes on (a safety violation
# later in the same seed is what the seed is saved and shrunk for).
SOFT_INVARIANTS = frozenset({"healthy-evicted"})


def first_violation(violations: Sequence[Violation]) -> Violation | None:
    """The violation a run is judged by: the first safety one, else the first."""
    for v in violations:
        if v.invariant not in SOFT_INVARIANTS:
            return v
    return violations[0] if violations else None

# Roles in which a resource counts as started for an order (its start completed).
UP_ROLES = frozenset({STARTED, PROMOTING, PROMOTED, DEMOTING})


@dataclass(frozen=True)
class Violation:
    t: float
    invariant: str
    message: str
    node: str | None = None
    rsc: str | None = None

    def __str__(self) -> str:
        where = " ".join(x for x in (f"node={self.node}" if self.node else "",
                                      f"rsc={self.rsc}" if self.rsc else "") if x)
        return f"t={self.t:.3f} [{self.invariant}] {where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "invariant": self.invariant, "message": self.message,
                "node": self.node, "rsc": self.rsc}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Violation:
        return cls(float(data["t"]), data["invariant"], data["message"], data.get("node"),
                   data.get("rsc"))


@dataclass(frozen=True)
class PrimInfo:
    id: str
    clone: str | None = None  # the clone it is (a member of) an instance of
    opts: CloneOptions | None = None


@dataclass(frozen=True)
class OrderRule:
    id: str
    first: str  # resource ids at any level
    then: str
    first_action: str  # start or promote
    then_action: str
    symmetrical: bool
    same_host: bool  # group members, interleaved clones
    # Is the inverse (then stops/demotes before first does) checked? Not for a
    # promotable clone's promotion before a resource that is no clone: see
    # Topology._add_order.
    inverse_checked: bool = True


_INVERSE = {"start": "stop", "promote": "demote"}

INFINITY = 1_000_000
_PROMOTED_NAMES = frozenset({"Promoted", "Master"})


@dataclass(frozen=True)
class ColocationRule:
    id: str
    rsc: str  # resource ids at any level
    with_rsc: str
    together: bool  # INFINITY (True) or -INFINITY (False)
    rsc_promoted: bool  # rsc-role Promoted: only its promoted instances count
    with_promoted: bool


class Topology:
    """The definition as the invariants need it: primitives, clones, orders."""

    def __init__(self, defn: Definition, n_nodes: int) -> None:
        self.defn = defn
        self.index: dict[str, Resource] = resource_index(defn.resources)
        self.prims: dict[str, PrimInfo] = {}
        self.clone_opts: dict[str, CloneOptions] = {}
        self.orders: list[OrderRule] = []
        for r in defn.resources:
            self._walk(r, None, n_nodes)
        for o in defn.orders:
            self._add_order(o)
        self._prims_of: dict[str, tuple[str, ...]] = {
            rid: tuple(self._primitives(r)) for rid, r in self.index.items()}
        self.colocations: list[ColocationRule] = []
        for c in defn.colocations:
            if c.sets or not c.rsc or not c.with_rsc or abs(c.score) < INFINITY \
                    or c.node_attribute != "#uname":
                continue  # sets, finite scores, other attributes: not checked
            if c.rsc not in self.index or c.with_rsc not in self.index:
                continue
            self.colocations.append(ColocationRule(
                c.id, c.rsc, c.with_rsc, c.score > 0, (c.rsc_role or "") in _PROMOTED_NAMES,
                (c.with_rsc_role or "") in _PROMOTED_NAMES))
        # primitive -> the colocations it is part of
        self.colocations_of: dict[str, list[ColocationRule]] = {}
        for rule in self.colocations:
            for rid in (rule.rsc, rule.with_rsc):
                for p in self._prims_of.get(rid, ()):
                    if rule not in self.colocations_of.setdefault(p, []):
                        self.colocations_of[p].append(rule)

    def _walk(self, r: Resource, clone: str | None, n_nodes: int) -> None:
        if isinstance(r, Primitive):
            self.prims[r.id] = PrimInfo(r.id, clone, self.clone_opts.get(clone) if clone else None)
        elif isinstance(r, Group):
            for i, m in enumerate(r.members):
                self._walk(m, clone, n_nodes)
                if i:
                    prev = r.members[i - 1].id
                    self.orders.append(OrderRule(f"group {r.id}", prev, m.id, "start", "start",
                                                 True, True))
        else:
            self.clone_opts[r.id] = CloneOptions.from_meta(dict(r.meta), n_nodes, r.promotable)
            self._walk(r.child, r.id, n_nodes)

    def _add_order(self, o: Any) -> None:
        if o.sets or not o.first or not o.then:
            return  # resource sets: not checked (see README)
        if o.kind != "Mandatory" or (o.score is not None and o.score <= 0):
            return
        fa = o.first_action
        ta = o.then_action or fa
        if fa not in _INVERSE or ta not in _INVERSE:
            return
        first, then = self.index.get(o.first), self.index.get(o.then)
        same = False
        if isinstance(first, Clone) and isinstance(then, Clone):
            same = self.clone_opts[then.id].interleave or self.clone_opts[first.id].interleave
        sym = True if o.symmetrical is None else o.symmetrical
        # `first: C, first-action: promote, then: X` (C a clone, X not): Pacemaker
        # orders X's start after C's promotion, and a promotion on X's node
        # restarts X, but it does not stop X before a demote: a promotion moving
        # from X's node (or from another node) elsewhere demotes while X keeps
        # running (crm_simulate 2.1.5: the promote-order-* scenarios of
        # tests/test_simulate_cli.py). Nor could a node that is self-fencing,
        # cut off from the store, wait for X on another node. So only the
        # forward half is an invariant here (faultsim finding 5).
        inverse = not (fa == "promote" and isinstance(first, Clone)
                       and not isinstance(then, Clone))
        self.orders.append(OrderRule(o.id, o.first, o.then, fa, ta, sym, same, inverse))

    def _primitives(self, r: Resource) -> Iterable[str]:
        if isinstance(r, Primitive):
            yield r.id
        elif isinstance(r, Group):
            for m in r.members:
                yield m.id
        else:
            yield from self._primitives(r.child)

    def prims_of(self, rid: str) -> tuple[str, ...]:
        return self._prims_of.get(rid, ())

    def info(self, key: str) -> PrimInfo | None:
        """The primitive behind an instance key (`db`, `db:2`)."""
        p = self.prims.get(key)
        if p is None:
            p = self.prims.get(split_instance_id(key)[0])
        return p

    def is_group(self, rid: str) -> bool:
        return isinstance(self.index.get(rid), Group)


class Checker:
    """Reality-side invariants; the world feeds it events and store facts."""

    def __init__(self, topo: Topology, reality: Reality, now: Callable[[], float],
                 report: Callable[[Violation], None]) -> None:
        self.topo = topo
        self.reality = reality
        self.now = now
        self.report = report
        # Instances a fault killed (rsc-die) that no action has touched since:
        # the cluster cannot know yet, so orders still count them as up.
        self.ghosts: dict[tuple[str, str], str] = {}
        # Is the host's node a member now? (the world tells; default: yes)
        self.is_member: Callable[[str], bool] = lambda host: True
        # Did a request of the controller start this action (host, key, action)?
        # (the world tells: the node's pending record; default: yes)
        self.requested: Callable[[str, str, str], bool] = lambda host, key, action: True
        # fence-confirmed: hosts whose fence the store confirmed, since when,
        # until their node joins again.
        self.fenced: dict[str, float] = {}
        # colocation: (rule id, host) -> since when the pair is apart there;
        # per primitive, actions in progress and when one last began or ended.
        self.colocation_grace = 30.0
        self.apart: dict[tuple[str, str], float] = {}
        self.busy: dict[str, int] = {}
        self.last_action: dict[str, float] = {}
        # Can the cluster act on this host now? (powered, its process running, a
        # member, a controller elected; the world tells)
        self.can_act: Callable[[str], bool] = lambda host: True
        # call_at(when, callback, *args): the world's timer (None: no timed checks)
        self.call_at: Callable[..., object] | None = None

    def died(self, host: str, key: str, role: str) -> None:
        self.ghosts[(host, key)] = role

    def action_end(self, host: str, key: str) -> None:
        self.ghosts.pop((host, key), None)
        info = self.topo.info(key)
        if info is not None and info.id in self.topo.colocations_of:
            self.busy[info.id] -= 1
            self.last_action[info.id] = self.now()

    def host_lost(self, host: str) -> None:
        """The cluster saw the host go (its membership ended): its ghosts are known."""
        for k in [k for k in self.ghosts if k[0] == host]:
            del self.ghosts[k]

    def violate(self, invariant: str, message: str, node: str | None = None,
                rsc: str | None = None) -> None:
        self.report(Violation(self.now(), invariant, message, node, rsc))

    # ------------------------------------------------------------------ counts

    def _instances(self, prim: str) -> list[tuple[str, str, Running]]:
        """(host, key, running) of every active instance of a primitive."""
        out = []
        for host in self.reality.hosts():
            for key, run in self.reality.on(host).items():
                if key == prim or split_instance_id(key)[0] == prim:
                    out.append((host, key, run))
        return out

    def key_changed(self, key: str) -> None:
        """Counting invariants for the primitive whose instance `key` changed."""
        info = self.topo.info(key)
        if info is None:
            return
        rules = self.topo.colocations_of.get(info.id)
        if rules:
            for rule in rules:
                self._colocation(rule)
        if info.clone is None:
            where = self.reality.where(key)
            if len(where) > 1:
                desc = ", ".join(f"{h} ({r.role})" for h, r in where)
                self.violate("single-active", f"{key} is active on {len(where)} hosts: {desc}",
                             where[-1][0], key)
            return
        opts = info.opts
        assert opts is not None
        clone_prims = self.topo.prims_of(info.clone)
        # A clone of a group counts each member's instances separately.
        insts = self._instances(info.id)
        per_host: dict[str, int] = {}
        for host, _, _ in insts:
            per_host[host] = per_host.get(host, 0) + 1
        if len(insts) > opts.clone_max:
            self.violate("clone-max", f"{info.clone}: {len(insts)} active instances of "
                         f"{info.id} > clone-max {opts.clone_max}", insts[-1][0], info.id)
        for host, n in per_host.items():
            if n > opts.clone_node_max:
                self.violate("clone-max", f"{info.clone}: {n} instances of {info.id} on {host} "
                             f"> clone-node-max {opts.clone_node_max}", host, info.id)
        if opts.unique:
            for k in {k for _, k, _ in insts}:
                where = self.reality.where(k)
                if len(where) > 1:
                    self.violate("single-active", f"clone instance {k} is active on "
                                 f"{', '.join(h for h, _ in where)}", where[-1][0], k)
        if opts.promotable and clone_prims and info.id == clone_prims[-1]:
            promoted = [(h, k) for h, k, r in insts if r.role in PROMOTED_ROLES]
            if len(promoted) > opts.promoted_max:
                desc = ", ".join(f"{k}@{h}" for h, k in promoted)
                self.violate("promoted-max", f"{info.clone}: {len(promoted)} promoted ({desc}) "
                             f"> promoted-max {opts.promoted_max}", promoted[-1][0], info.id)
            hosts = [h for h, _ in promoted]
            for h in sorted(set(hosts)):
                if hosts.count(h) > opts.promoted_node_max:
                    self.violate("promoted-max", f"{info.clone}: {hosts.count(h)} promoted on {h}"
                                 f" > promoted-node-max {opts.promoted_node_max}", h, info.id)

    # ------------------------------------------------------------------ orders

    def _state(self, rid: str, want: str, host: str | None,
               skip: tuple[str, str] | None = None) -> bool:
        """Is resource `rid` (any level) started / promoted (on `host` if given),
        not counting the instance `skip` = (host, key)?"""
        prims = self.topo.prims_of(rid)
        if not prims:
            return True  # unknown resource: nothing to check
        roles = {PROMOTED} if want == "promote" else UP_ROLES

        def up_on(h: str, prim: str) -> bool:
            for key, run in self.reality.on(h).items():
                if (h, key) == skip:
                    continue
                if (key == prim or split_instance_id(key)[0] == prim) and run.role in roles:
                    return True
            # A `first` that died by a fault the cluster has not seen yet (no
            # action on it since) still counts: starting `then` after it is
            # the fault's doing, not the cluster's (found with seeds 421, 848).
            return any(gh == h and (key == prim or split_instance_id(key)[0] == prim)
                       and role in roles and (gh, key) != skip
                       for (gh, key), role in self.ghosts.items())

        hosts = [host] if host is not None else \
            sorted({*self.reality.hosts(), *(h for h, _ in self.ghosts)})
        if self.topo.is_group(rid):
            # A group is started where all of its members are.
            return any(all(up_on(h, p) for p in prims) for h in hosts)
        if want == "promote":
            return any(up_on(h, prims[-1]) for h in hosts)
        return any(all(up_on(h, p) for p in prims) for h in hosts)

    def _active(self, rid: str, host: str | None, promoted_only: bool) -> list[str]:
        """Instance keys of `rid` active (promoted) on `host` (or anywhere), as key@host."""
        prims = set(self.topo.prims_of(rid))
        hosts = [host] if host is not None else list(self.reality.hosts())
        out = []
        for h in hosts:
            for key, run in self.reality.on(h).items():
                if split_instance_id(key)[0] in prims or key in prims:
                    if not promoted_only or run.role in PROMOTED_ROLES:
                        out.append(f"{key}@{h}")
        return out

    def action_begin(self, host: str, key: str, action: str) -> None:
        """An agent action begins (before Reality reflects it): order checks."""
        info = self.topo.info(key)
        if info is None:
            return
        prim = info.id
        if prim in self.topo.colocations_of:
            self.busy[prim] = self.busy.get(prim, 0) + 1
            self.last_action[prim] = self.now()
        for rule in self.topo.orders:
            then_prims = self.topo.prims_of(rule.then)
            first_prims = self.topo.prims_of(rule.first)
            if action == rule.then_action and prim in then_prims:
                on = host if rule.same_host else None
                if not self._state(rule.first, rule.first_action, on):
                    what = "promoted" if rule.first_action == "promote" else "started"
                    where = f" on {host}" if on else ""
                    self.violate("order", f"{rule.id}: {action} of {key} on {host} began while "
                                 f"{rule.first} is not {what}{where}", host, key)
            if (rule.symmetrical and rule.inverse_checked
                    and action == _INVERSE[rule.first_action] and prim in first_prims):
                on = host if rule.same_host else None
                if on is None and (not self.is_member(host)
                                   or not self.requested(host, key, action)):
                    # A node fencing itself has lost the cluster: it cannot wait
                    # for other nodes, whose stops are their own (all nodes
                    # self-fence at once when the store loses its leader; seed
                    # 2380). Pacemaker's partitions cannot either. It may still
                    # be a member in the store while it does (its lease runs a
                    # little longer than its own deadline: seed 5793), so a
                    # stop no request asked for counts as its own.
                    continue
                # Only the stop that takes `first` down (the last started clone
                # instance, any group member) must wait for `then`.
                if not self._state(rule.first, rule.first_action, on, skip=(host, key)):
                    promoted_only = rule.then_action == "promote"
                    left = self._active(rule.then, on, promoted_only)
                    if left and self._state(rule.first, rule.first_action, on):
                        what = "promoted" if promoted_only else "active"
                        self.violate("order", f"{rule.id}: {action} of {key} on {host} began "
                                     f"while {rule.then} is still {what} ({', '.join(left)})",
                                     host, key)

    # ------------------------------------------------------------------ lost nodes

    def lingering(self, host: str, before: float) -> list[str]:
        """What still runs on `host` that was active before `before`."""
        return [f"{k} ({r.role})" for k, r in self.reality.on(host).items() if r.since < before]

    def fence_confirmed(self, target: str, powered_on: bool, paused: bool = False) -> None:
        self.fenced[target] = self.now()
        if not powered_on:
            return
        running = [f"{k} ({r.role})" for k, r in self.reality.on(target).items()]
        if running:
            how = " (its VM is paused: it resumes with them running)" if paused else ""
            self.violate("fence-confirmed", f"a fence of {target} was confirmed while "
                         f"{target} is powered on and still runs {', '.join(running)}{how}",
                         target, running[0].split(" ")[0])

    def rejoined(self, host: str) -> None:
        """The host's node is a member again (a new lease): its fence is history."""
        self.fenced.pop(host, None)

    def host_changed(self, host: str, key: str, role: str | None) -> None:
        """Something changed on `host` (Reality): a fenced host must run nothing."""
        if role is not None and host in self.fenced:
            self.violate("fence-confirmed", f"{key} became {role} on {host}, whose fence was "
                         f"confirmed at t={self.fenced[host]:.3f} and which has not joined "
                         "again since", host, key)

    def rule6(self, host: str, key: str, action: str, lapsed: str | None) -> None:
        """A start, promote or migrate_from begins on `host`; `lapsed` says why
        its membership is over at this instant (None: it is a member)."""
        if lapsed is not None:
            self.violate("rule-6", f"{action} of {key} on {host} began while {host} is not a "
                         f"member: {lapsed}", host, key)

    # ------------------------------------------------------------------ colocation

    def _present(self, rid: str, host: str, promoted: bool) -> bool:
        prims = self.topo.prims_of(rid)
        for key, run in self.reality.on(host).items():
            if (key in prims or split_instance_id(key)[0] in prims) \
                    and (not promoted or run.role in PROMOTED_ROLES):
                return True
        return False

    def _is_apart(self, rule: ColocationRule, host: str) -> bool:
        here = self._present(rule.rsc, host, rule.rsc_promoted)
        if not here:
            return False
        with_here = self._present(rule.with_rsc, host, rule.with_promoted)
        return not with_here if rule.together else with_here

    def _colocation(self, rule: ColocationRule) -> None:
        if self.call_at is None:
            return
        for host in self.reality.hosts():
            k = (rule.id, host)
            if self._is_apart(rule, host):
                if k not in self.apart:
                    now = self.now()
                    self.apart[k] = now
                    self.call_at(now + self.colocation_grace, self._colocation_check, rule, host,
                                 now)
            else:
                self.apart.pop(k, None)
        for k in [k for k in self.apart if k[0] == rule.id
                  and not self.reality.on(k[1])]:
            del self.apart[k]

    def _colocation_check(self, rule: ColocationRule, host: str, since: float) -> None:
        k = (rule.id, host)
        if self.apart.get(k) != since or self.call_at is None:
            return  # together again (or apart afresh: its own check is pending)
        now = self.now()
        grace = self.colocation_grace
        prims = (*self.topo.prims_of(rule.rsc), *self.topo.prims_of(rule.with_rsc))
        if not self.can_act(host) or any(self.busy.get(p, 0) for p in prims):
            # The cluster cannot act there (fencing is the answer, checked
            # elsewhere), or it is acting: count again from now.
            self.apart[k] = now
            self.call_at(now + grace, self._colocation_check, rule, host, now)
            return
        quiet = max([since, *(self.last_action.get(p, since) for p in prims)])
        if quiet + grace > now:  # (the same sum as the timer's: no rounding gap)
            self.apart[k] = since
            self.call_at(quiet + grace, self._colocation_check, rule, host, since)
            return
        what = "without" if rule.together else "together with"
        self.violate("colocation", f"{rule.id}: {rule.rsc} has run on {host} {what} "
                     f"{rule.with_rsc} for {now - since:.1f}s, the last {now - quiet:.1f}s "
                     "with no action of either", host, rule.rsc)

    def takeover_begin(self, host: str, key: str, action: str,
                       lost_active: Callable[[], dict[str, dict[str, str]]]) -> None:
        """A start/promote elsewhere of something a lost, unfenced node holds."""
        info = self.topo.info(key)
        if info is None:
            return
        if info.clone is not None and action != "promote":
            return
        if info.clone is None and action not in ("start", "migrate_from"):
            return
        held = lost_active()  # lost node -> {primitive: role} per the store
        for node, rscs in held.items():
            if node == host:
                continue
            role = rscs.get(info.id)
            if role is None:
                continue
            if info.clone is not None:
                opts = info.opts
                if role != "Promoted" or opts is None or opts.promoted_max > 1:
                    continue
            self.violate("fenced-before-takeover", f"{action} of {key} on {host} began while "
                         f"the store still records it {role.lower()} on {node}, which is "
                         "lost and not fenced", host, key)
