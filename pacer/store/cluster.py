"""The cluster's records in the store, written once on top of `Store`.

The controller, the node daemons, the CLI and the fault simulator all read and
write the cluster through `ClusterStore`, whichever `Store` is underneath. The
key layout is documented in `pacer/store/README.md`; `Keys` is its only
spelling. Three kinds of writes:

- node writes (membership, transient attributes, operation results) are txns
  guarded by the node's own membership key: they apply only while `nodes/<name>`
  is bound to the writer's lease, so a node that lost its lease (and may have
  been fenced and wiped) cannot write stale facts afterwards;
- controller writes go through a `ControllerSession` and are txns guarded by the
  controller key's create_revision (the fencing token): a deposed controller
  writes nothing (DESIGN.md safety rule 3);
- administrative writes (the definition, permanent attributes) are plain or
  compare-and-swap writes.

`build_status` turns the keys of one prefix read into the scheduler's `Status`;
it is pure, so the simulator can also feed it `MemoryCluster.snapshot()`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from pacer.model.definition import Definition
from pacer.model.yaml_loader import load_yaml
from pacer.status.failures import is_failure
from pacer.status.types import (
    OP_TIMEOUT,
    FenceEvent,
    NodeState,
    OpRecord,
    ResourceHistory,
    Status,
)
from pacer.store.base import (
    Compare,
    Delete,
    Event,
    Get,
    KeyValue,
    LeaseNotFound,
    Op,
    Put,
    Store,
    StoreError,
    TxnResult,
)

# etcd refuses txns with more operations than --max-txn-ops (128 by default).
MAX_TXN_OPS = 120


# --------------------------------------------------------------------------- errors


class NotController(StoreError):
    def __init__(self, token: int) -> None:
        super().__init__(f"not the controller any more: the controller key is no longer "
                         f"the one created at revision {token}; nothing was written")
        self.token = token


class NotMember(StoreError):
    def __init__(self, node: str) -> None:
        super().__init__(f"node {node!r} is not a member with this lease "
                         "(its lease expired or it never joined); nothing was written")
        self.node = node


class NodeAlreadyMember(StoreError):
    def __init__(self, node: str, lease: int) -> None:
        super().__init__(f"node {node!r} is already a member under lease {lease:x}; "
                         "wait for that lease to expire or revoke it")
        self.node = node
        self.lease = lease


class DefinitionConflict(StoreError):
    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"the definition changed meanwhile (expected revision {expected}, "
                         f"now {current}); read it again and reapply the change")
        self.expected = expected
        self.current = current


# --------------------------------------------------------------------------- key layout


def _name(kind: str, value: str) -> str:
    if not value or "/" in value:
        raise ValueError(f"{kind} name {value!r} cannot be stored: empty or contains '/'")
    return value


# Permanent node attributes a node's daemon writes at join (permanent, so the
# controller still reads them once the node is lost):
# "true" when the node's daemon feeds a verified watchdog, else "false";
WATCHDOG_ATTR = "#pacer-watchdog"
# that watchdog's effective timeout in whole seconds (only while "true");
WATCHDOG_TIMEOUT_ATTR = "#pacer-watchdog-timeout"
# the node's lease TTL in whole seconds (the controller waits for the
# target's, not its own);
LEASE_TTL_ATTR = "#pacer-lease-ttl"
# the lease (hex) of the node's latest membership: the membership key goes
# with the lease, this stays, so a controller that never saw the node can
# still ask etcd whether that lease is really gone before it counts the node
# as fenced by its watchdog.
LEASE_ATTR = "#pacer-lease"


class Keys:
    """Every key of one cluster, under `<root>/<cluster>/`."""

    def __init__(self, cluster: str = "default", root: str = "/pacer") -> None:
        self.prefix = f"{root.rstrip('/')}/{_name('cluster', cluster)}/"
        p = self.prefix
        self.definition = p + "definition"
        self.controller = p + "controller"
        self.nodes = p + "nodes/"
        self.expected = p + "expected/"
        self.transient = p + "attrs/transient/"
        self.permanent = p + "attrs/permanent/"
        self.history = p + "history/"
        self.fencing = p + "fencing/"
        self.actions = p + "actions/"
        # The controller's journal (what it did and why), for `pacer history`.
        self.events = p + "events/"

    def node(self, node: str) -> str:
        return self.nodes + _name("node", node)

    def expected_state(self, node: str) -> str:
        return self.expected + _name("node", node)

    def node_attrs(self, node: str, transient: bool) -> str:
        return f"{self.transient if transient else self.permanent}{_name('node', node)}/"

    def attr(self, node: str, name: str, transient: bool) -> str:
        return self.node_attrs(node, transient) + _name("attribute", name)

    def node_history(self, node: str) -> str:
        return f"{self.history}{_name('node', node)}/"

    def op(self, node: str, rsc: str, slot: str) -> str:
        return f"{self.node_history(node)}{_name('resource', rsc)}/{slot}"

    def fence_event(self, target: str, event_id: str) -> str:
        return f"{self.fencing}{_name('node', target)}/{_name('fence event', event_id)}"

    def node_actions(self, node: str) -> str:
        return f"{self.actions}{_name('node', node)}/"

    def action(self, node: str, action_id: str) -> str:
        return self.node_actions(node) + _name("action", action_id)

    def parse(self, key: str) -> tuple[str, ...]:
        """("nodes", "n1"), ("history", "n1", "rsc", "last_0"), ... or () if foreign."""
        if not key.startswith(self.prefix):
            return ()
        parts = tuple(key[len(self.prefix):].split("/"))
        if parts[0] == "attrs" and len(parts) > 1:
            return (f"attrs/{parts[1]}", *parts[2:])
        return parts


# --------------------------------------------------------------------------- records


@functools.lru_cache(maxsize=16)
def parse_stored_definition(text: str) -> Definition:
    """The stored definition's text, parsed. Definitions are immutable and parsing
    is pure, so every ClusterStore in a process shares the result: a daemon
    re-reading after every incarnation, and the fault simulator's many daemons
    in one process, parse each text once (parsing takes tens of milliseconds)."""
    return load_yaml(text, filename="<stored definition>")


@functools.lru_cache(maxsize=16)
def _validate_definition(text: str) -> None:
    """Raise ConfigError unless `text` is a valid definition (pure: a text that
    passed once passes again; the fault simulator stores the same text per run)."""
    load_yaml(text, filename="<definition>")


def _dumps(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def load_record(value: bytes) -> dict:
    """A stored JSON object; {} for anything else (a record is never trusted to parse)."""
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _from_dict(cls: type, data: Mapping) -> object:
    names = _field_names(cls)
    return cls(**{k: v for k, v in data.items() if k in names})


def _fields_dict(obj: object) -> dict:
    """A flat dataclass's fields as a dict (dataclasses.asdict deep-copies every
    value, and records are written on every operation result)."""
    return {n: getattr(obj, n) for n in _field_names(type(obj))}


@dataclass(frozen=True)
class StoredDefinition:
    definition: Definition
    text: str
    revision: int  # the key's mod_revision: the definition's version


@dataclass(frozen=True)
class ControllerInfo:
    node: str
    token: int  # create_revision of the controller key
    lease: int

    @classmethod
    def from_kv(cls, kv: KeyValue) -> ControllerInfo:
        """The controller key as read from the store."""
        return cls(load_record(kv.value).get("node", ""), kv.create_revision, kv.lease)


@dataclass(frozen=True)
class Agent:
    """What runs a resource, kept with its history as Pacemaker's `<lrm_resource>` does."""

    agent_class: str = ""
    provider: str | None = None
    type: str = ""


# An action request's `extra` entry: how long stopping the instance may take
# (ms), sent with the requests that make it active, for a self-fence that
# stops it without a request.
STOP_TIMEOUT_KEY = "stop_timeout_ms"


@dataclass(frozen=True)
class ActionRequest:
    """An action the controller asks one node daemon to run.

    `token` is the controller's fencing token; a node accepts the request only
    while it is current (`ClusterStore.accept_action`). Parameters come from the
    definition at `definition_revision`.
    """

    id: str
    token: int
    node: str
    task: str
    rsc: str | None = None
    interval_ms: int = 0
    definition_revision: int = 0
    transition: int = 0
    timeout_ms: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    # The target's membership lease when the controller decided: a node takes
    # the request only under that lease (a later incarnation knows nothing of
    # what it was computed from). 0: any (requests of older controllers).
    lease: int = 0

    def to_json(self) -> bytes:
        data = _fields_dict(self)
        data["extra"] = dict(self.extra)
        return _dumps(data)

    @classmethod
    def from_json(cls, value: bytes) -> ActionRequest | None:
        try:
            return _from_dict(cls, load_record(value))  # type: ignore[return-value]
        except TypeError:
            return None


def history_slots(op: OpRecord) -> list[str]:
    """Where Pacemaker keeps an operation result: `last_0` for one-shot operations,
    `<op>_<interval>` for recurring ones, and `last_failure_0` too for a failure.
    A notification has a slot of its own (Pacemaker keeps them apart too,
    `<rsc>_post_notify_start_0`): in `last_0` it would take the place of the
    start, and the instance would read as stopped after its first notify."""
    if op.operation == "notify":
        slots = ["notify_0"]
    else:
        slots = [f"{op.operation}_{op.interval_ms}" if op.interval_ms > 0 else "last_0"]
    if is_failure(op):
        slots.append("last_failure_0")
    return slots


@dataclass(frozen=True)
class Snapshot:
    """Everything the controller schedules from, read at one revision."""

    revision: int
    definition: StoredDefinition | None
    status: Status
    controller: ControllerInfo | None
    actions: tuple[ActionRequest, ...] = ()
    # Member name → the lease its membership key is bound to.
    members: Mapping[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- status


# Parsed history records by key: (mod_revision, record, agent). A cache, so the
# result is the same with or without it; a controller reads every record on
# every change and most have not changed since its last read.
ParseCache = dict[str, tuple[int, "OpRecord | None", "Agent"]]


def _history_record(kv: KeyValue, node: str, rsc: str,
                    cache: ParseCache | None) -> tuple[OpRecord | None, Agent]:
    if cache is not None:
        hit = cache.get(kv.key)
        if hit is not None and hit[0] == kv.mod_revision:
            return hit[1], hit[2]
    data = load_record(kv.value)
    op = data.get("op")
    rec = _from_dict(OpRecord, {**op, "rsc": rsc, "node": node}) \
        if isinstance(op, dict) else None
    agent = _from_dict(Agent, data.get("agent") or {})
    if cache is not None:
        cache[kv.key] = (kv.mod_revision, rec, agent)  # type: ignore[assignment]
    return rec, agent  # type: ignore[return-value]


def build_status(kvs: Iterable[KeyValue], keys: Keys, definition: Definition | None = None,
                 now: int | None = None, cache: ParseCache | None = None) -> Status:
    """The scheduler's Status from the cluster's keys (one consistent read).

    A node gets a NodeState once it has joined at least once (`nodes/` or
    `expected/`): online while its lease-bound key exists; otherwise offline,
    and unclean to the scheduler while `expected` still says member (it left
    without stopping cleanly and has not been fenced). A node never seen has no
    NodeState, which Pacemaker's startup-fencing reads as unclean. Permanent
    attributes from the store are overlaid by transient ones (Pacemaker's
    precedence); the definition's node attributes lie under both.
    """
    members: dict[str, KeyValue] = {}
    expected: dict[str, str] = {}
    attrs: dict[str, dict[str, str]] = {}
    transient: dict[str, dict[str, str]] = {}
    ops: dict[str, dict[str, list[OpRecord]]] = {}
    agents: dict[tuple[str, str], Agent] = {}
    fences: list[tuple[str, FenceEvent]] = []
    dc: str | None = None
    for kv in kvs:
        parts = keys.parse(kv.key)
        if not parts:
            continue
        kind = parts[0]
        if kind == "nodes" and len(parts) == 2:
            members[parts[1]] = kv
        elif kind == "expected" and len(parts) == 2:
            expected[parts[1]] = kv.value.decode()
        elif kind == "attrs/permanent" and len(parts) == 3:
            attrs.setdefault(parts[1], {})[parts[2]] = kv.value.decode()
        elif kind == "attrs/transient" and len(parts) == 3:
            transient.setdefault(parts[1], {})[parts[2]] = kv.value.decode()
        elif kind == "history" and len(parts) == 4:
            node, rsc = parts[1], parts[2]
            rec, agent = _history_record(kv, node, rsc, cache)
            if rec is None:
                continue
            ops.setdefault(node, {}).setdefault(rsc, []).append(rec)
            agents[(node, rsc)] = agent
        elif kind == "fencing" and len(parts) == 3:
            fences.append((kv.key, _from_dict(FenceEvent, load_record(kv.value))))  # type: ignore[arg-type]
        elif kind == "controller" and len(parts) == 1:
            dc = load_record(kv.value).get("node")
    ids = {n.name: n.id or n.name for n in definition.nodes} if definition else {}
    states: dict[str, NodeState] = {}
    for name in sorted(set(members) | set(expected)):
        member = name in members
        node_id = load_record(members[name].value).get("id") if member else None
        merged = {**attrs.get(name, {}), **transient.get(name, {})}
        history = tuple(
            ResourceHistory(rsc=rsc, node=name, agent_class=agents[(name, rsc)].agent_class,
                            provider=agents[(name, rsc)].provider, type=agents[(name, rsc)].type,
                            ops=tuple(sorted(rops, key=lambda o: (o.call_id, o.id))))
            for rsc, rops in sorted(ops.get(name, {}).items())
        )
        states[name] = NodeState(
            name=name, id=str(node_id or ids.get(name, name)),
            in_ccm="true" if member else "false",
            crmd="online" if member else "offline",
            join="member" if member else "down",
            expected=expected.get(name, "member" if member else None),
            transient=MappingProxyType(merged),
            history=history,
        )
    return Status(have_quorum=True, node_states=states, now=now, dc=dc,
                  fencing_history=tuple(ev for _, ev in sorted(fences, key=lambda f: f[0])))


# --------------------------------------------------------------------------- the layer


class ClusterStore:
    def __init__(self, store: Store, cluster: str = "default", root: str = "/pacer") -> None:
        self.store = store
        self.cluster = cluster
        self.keys = Keys(cluster, root)
        self._defn_cache: StoredDefinition | None = None
        self._parsed: ParseCache = {}
        self._addrs: dict[str, tuple[int, str | None]] = {}

    # ------------------------------------------------------------- definition

    def _definition(self, kv: KeyValue | None) -> StoredDefinition | None:
        if kv is None:
            return None
        cached = self._defn_cache
        if cached is not None and cached.revision == kv.mod_revision:
            return cached
        text = load_record(kv.value).get("text", "")
        stored = StoredDefinition(parse_stored_definition(text), text,
                                  kv.mod_revision)
        self._defn_cache = stored
        return stored

    async def definition(self) -> StoredDefinition | None:
        return self._definition(await self.store.get(self.keys.definition))

    async def put_definition(self, text: str, expected_revision: int | None = None) -> int:
        """Store a YAML definition after validating it (raises ConfigError).

        With `expected_revision` (0: none stored yet) the write is a compare-and-swap
        and raises DefinitionConflict if someone else changed it. Returns the new
        revision, the definition's version.
        """
        _validate_definition(text)
        value = _dumps({"format": "pacer-yaml", "text": text})
        k = self.keys.definition
        compares = [] if expected_revision is None else [Compare(k, "mod", "==",
                                                                 expected_revision)]
        r = await self.store.txn(compares, [Put(k, value)], [Get(k)])
        if not r.succeeded:
            current = r.results[0][0].mod_revision if r.results[0] else 0  # type: ignore[index]
            raise DefinitionConflict(expected_revision or 0, current)
        return r.revision

    # ------------------------------------------------------------- membership

    def _member_guard(self, node: str, lease: int) -> Compare:
        return Compare(self.keys.node(node), "lease", "==", lease)

    async def join(self, node: str, lease: int, node_id: str | None = None,
                   watchdog: bool | None = None, heartbeat: str | None = None,
                   watchdog_timeout: int | None = None,
                   lease_ttl: int | None = None) -> None:
        """Become a member: `nodes/<node>` bound to `lease`, `expected/<node>` = member.

        A joining node knows nothing of what runs on it (it booted, or it
        self-fenced): its old history and pending actions go in the same txn,
        so the controller probes everything there before using it.
        Idempotent for the same lease (safe to repeat after OutcomeUnknown).
        `heartbeat`: where this node listens for its peers' heartbeats (HOST:PORT).
        `watchdog` (None: say nothing): whether a verified watchdog guards the
        node, with its effective `watchdog_timeout` (seconds, required when
        True); `lease_ttl` (None: say nothing): the node's lease TTL (seconds).
        Both go into permanent attributes in the same txn.
        """
        if watchdog and (watchdog_timeout is None or watchdog_timeout <= 0):
            raise ValueError(f"node {node} claims a watchdog without its timeout "
                             f"({watchdog_timeout!r})")
        k = self.keys.node(node)
        record: dict[str, str] = {"id": node_id or node}
        if heartbeat:
            record["heartbeat"] = heartbeat
        attrs: list[Op] = []
        # Permanent, so the controller still knows them once the node is lost:
        # watchdog fencing is safe only for a node a watchdog can reset, and
        # only after that watchdog's time (and the lease's) has passed.
        if watchdog is not None:
            attrs.append(Put(self.keys.attr(node, WATCHDOG_ATTR, False),
                             b"true" if watchdog else b"false"))
            timeout_key = self.keys.attr(node, WATCHDOG_TIMEOUT_ATTR, False)
            if watchdog:
                assert watchdog_timeout is not None  # checked above
                attrs.append(Put(timeout_key, str(int(watchdog_timeout)).encode()))
            else:
                attrs.append(Delete(timeout_key))
        if lease_ttl is not None:
            attrs.append(Put(self.keys.attr(node, LEASE_TTL_ATTR, False),
                             str(int(lease_ttl)).encode()))
        r = await self.store.txn(
            [Compare.absent(k)],
            [Put(k, _dumps(record), lease),
             Put(self.keys.expected_state(node), b"member"),
             Delete(self.keys.node_history(node), prefix=True),
             Delete(self.keys.node_actions(node), prefix=True),
             Put(self.keys.attr(node, LEASE_ATTR, False), f"{lease:x}".encode()),
             *attrs],
            [Get(k)])
        if r.succeeded:
            return
        kvs = r.results[0]
        if kvs and kvs[0].lease == lease:  # type: ignore[index,union-attr]
            return
        raise NodeAlreadyMember(node, kvs[0].lease if kvs else 0)  # type: ignore[index,union-attr]

    async def leave(self, node: str, lease: int) -> None:
        """Leave cleanly, after every resource here was stopped: expected=down, then
        revoking the lease removes the membership key and transient attributes."""
        r = await self.store.txn([self._member_guard(node, lease)],
                                 [Put(self.keys.expected_state(node), b"down")])
        if not r.succeeded:
            raise NotMember(node)
        try:
            await self.store.revoke(lease)
        except LeaseNotFound:
            pass

    async def members(self) -> dict[str, int]:
        """Current members and their leases."""
        r = await self.store.get_prefix(self.keys.nodes)
        return {kv.key[len(self.keys.nodes):]: kv.lease for kv in r.kvs}

    async def member_records(self) -> dict[str, tuple[int, str | None]]:
        """Current members: name → (lease, heartbeat address or None)."""
        r = await self.store.get_prefix(self.keys.nodes)
        out: dict[str, tuple[int, str | None]] = {}
        seen = self._addrs
        self._addrs = {}
        for kv in r.kvs:
            hit = seen.get(kv.key)
            if hit is not None and hit[0] == kv.mod_revision:
                addr = hit[1]
            else:  # (every node polls this each second: parse what changed only)
                value = load_record(kv.value).get("heartbeat")
                addr = value if isinstance(value, str) else None
            self._addrs[kv.key] = (kv.mod_revision, addr)
            out[kv.key[len(self.keys.nodes):]] = (kv.lease, addr)
        return out

    async def depose(self, node: str, lease: int, controller: ControllerInfo,
                     journal: Op | None = None) -> bool:
        """`node` (a member under `lease`) suspects the controller's node is dead:
        end that node's membership and so the controller's term, in one txn
        that holds only while the controller is the one suspected, its node is
        a member under the controller's lease and `node` itself is still a
        member. The last condition is what makes a controller that decided to
        evict `node` and `node` deposing it exclude each other. The deposed
        node, if alive, finds its lease revoked and fences itself; the next
        controller fences it anyway. False: the conditions did not hold."""
        ctl_node = self.keys.node(controller.node)
        r = await self.store.txn(
            [Compare.created_at(self.keys.controller, controller.token),
             Compare(ctl_node, "lease", "==", controller.lease),
             self._member_guard(node, lease)],
            [Delete(self.keys.controller), Delete(ctl_node),
             *([journal] if journal is not None else [])])
        if not r.succeeded:
            return False
        await self.revoke_quietly(controller.lease)
        return True

    async def revoke_quietly(self, lease: int, attempts: int = 3) -> bool:
        """Revoke a lease whose membership key was just deleted, so that its node
        (if alive) sees at its next keepalive that it must fence itself; the
        node also watches its key, so a revocation lost here is not fatal."""
        for _ in range(attempts):
            try:
                await self.store.revoke(lease)
                return True
            except LeaseNotFound:
                return True
            except StoreError:
                continue
        return False

    # ------------------------------------------------------------- attributes

    async def set_attribute(self, node: str, name: str, value: str | None,
                            transient: bool = True) -> None:
        """Set (or with None delete) a node attribute, like `crm_attribute`.

        A transient attribute is bound to the node's current lease and vanishes
        with its membership; setting one on a node that is not a member raises
        NotMember. Permanent attributes survive everything.
        """
        k = self.keys.attr(node, name, transient)
        if not transient:
            if value is None:
                await self.store.delete(k)
            else:
                await self.store.put(k, value.encode())
            return
        member = await self.store.get(self.keys.node(node))
        if member is None:
            raise NotMember(node)
        op: Op = Delete(k) if value is None else Put(k, value.encode(), member.lease)
        r = await self.store.txn([self._member_guard(node, member.lease)], [op])
        if not r.succeeded:
            raise NotMember(node)

    async def attributes(self, node: str) -> dict[str, str]:
        """Permanent attributes overlaid by transient ones (as the scheduler sees them)."""
        perm = await self.store.get_prefix(self.keys.node_attrs(node, False))
        trans = await self.store.get_prefix(self.keys.node_attrs(node, True))
        out = {kv.key.rsplit("/", 1)[1]: kv.value.decode() for kv in perm.kvs}
        out.update({kv.key.rsplit("/", 1)[1]: kv.value.decode() for kv in trans.kvs})
        return out

    # ------------------------------------------------------------- operation history

    def _op_puts(self, node: str, op: OpRecord, agent: Agent) -> list[Op]:
        puts: list[Op] = []
        for slot in history_slots(op):
            rec = dataclasses.replace(op, node=node, id=f"{op.rsc}_{slot}")
            data = _fields_dict(rec)
            del data["rsc"], data["node"]  # the key says both
            puts.append(Put(self.keys.op(node, op.rsc, slot),
                            _dumps({"agent": _fields_dict(agent), "op": data})))
        return puts

    async def record_op(self, node: str, lease: int, op: OpRecord, agent: Agent,
                        action_id: str | None = None) -> None:
        """A node reports an operation result (or a pending operation).

        Guarded by the node's membership; completing `action_id` deletes its request
        in the same txn. Raises NotMember if the node's lease is gone.
        """
        ops = self._op_puts(node, op, agent)
        if action_id is not None:
            ops.append(Delete(self.keys.action(node, action_id)))
        r = await self.store.txn([self._member_guard(node, lease)], ops)
        if not r.succeeded:
            raise NotMember(node)

    async def forget_op(self, node: str, lease: int, rsc: str, operation: str,
                        interval_ms: int) -> None:
        """Drop a cancelled recurring operation's record (Pacemaker does on cancel)."""
        r = await self.store.txn([self._member_guard(node, lease)],
                                 [Delete(self.keys.op(node, rsc, f"{operation}_{interval_ms}"))])
        if not r.succeeded:
            raise NotMember(node)

    # ------------------------------------------------------------- actions (node side)

    async def pending_actions(self, node: str) -> list[ActionRequest]:
        r = await self.store.get_prefix(self.keys.node_actions(node))
        return [a for kv in r.kvs if (a := ActionRequest.from_json(kv.value)) is not None]

    async def accept_action(self, node: str, lease: int, request: ActionRequest,
                            pending: OpRecord | None = None, agent: Agent | None = None
                            ) -> bool:
        """Take an action request if, at this moment, its token is the current
        controller's, the node is a member with `lease` and the request is still
        there. Deletes the request and records `pending` (if given) atomically.
        False: stale or gone; do not run it (DESIGN.md safety rule 6).
        """
        k = self.keys.action(node, request.id)
        ops: list[Op] = [Delete(k)]
        if pending is not None:
            ops += self._op_puts(node, pending, agent or Agent())
        r = await self.store.txn(
            [Compare.created_at(self.keys.controller, request.token),
             self._member_guard(node, lease), Compare.exists(k)], ops)
        return r.succeeded

    async def drop_action(self, node: str, lease: int, action_id: str) -> None:
        """Delete a request this node will never run (meant for another of its
        incarnations), so that it does not linger; guarded by membership."""
        r = await self.store.txn([self._member_guard(node, lease)],
                                 [Delete(self.keys.action(node, action_id))])
        if not r.succeeded:
            raise NotMember(node)

    def watch_actions(self, node: str, start_revision: int | None = None
                      ) -> AsyncIterator[Event]:
        return self.store.watch_prefix(self.keys.node_actions(node), start_revision)

    # ------------------------------------------------------------- controller

    async def controller(self) -> ControllerInfo | None:
        kv = await self.store.get(self.keys.controller)
        if kv is None:
            return None
        return ControllerInfo.from_kv(kv)

    async def campaign(self, node: str, lease: int) -> ControllerSession | None:
        """Become the controller if there is none; None if another node is.

        The session's token is the controller key's create_revision. If the key
        already names this node under this lease (a campaign whose answer was
        lost), the session is resumed with that key's token.
        """
        k = self.keys.controller
        r = await self.store.txn([Compare.absent(k)],
                                 [Put(k, _dumps({"node": node}), lease)], [Get(k)])
        if r.succeeded:
            return ControllerSession(self, node, lease, r.revision)
        kvs = r.results[0]
        if kvs:
            kv = kvs[0]  # type: ignore[index]
            if kv.lease == lease and load_record(kv.value).get("node") == node:  # type: ignore[union-attr]
                return ControllerSession(self, node, lease, kv.create_revision)  # type: ignore[union-attr]
        return None

    # ------------------------------------------------------------- reading everything

    async def snapshot(self, now: int | None = None) -> Snapshot:
        """Definition, Status, controller and pending actions from one read."""
        r = await self.store.get_prefix(self.keys.prefix)
        defn_kv = next((kv for kv in r.kvs if kv.key == self.keys.definition), None)
        stored = self._definition(defn_kv)
        if len(self._parsed) > 2 * len(r.kvs) + 64:
            self._parsed.clear()  # (records deleted since: start again)
        status = build_status(r.kvs, self.keys, stored.definition if stored else None, now,
                              self._parsed)
        ctl_kv = next((kv for kv in r.kvs if kv.key == self.keys.controller), None)
        controller = ControllerInfo.from_kv(ctl_kv) if ctl_kv else None
        actions = tuple(a for kv in r.kvs if kv.key.startswith(self.keys.actions)
                        if (a := ActionRequest.from_json(kv.value)) is not None)
        members = {kv.key[len(self.keys.nodes):]: kv.lease for kv in r.kvs
                   if kv.key.startswith(self.keys.nodes)}
        return Snapshot(r.revision, stored, status, controller, actions, members)

    async def status(self, now: int | None = None) -> Status:
        return (await self.snapshot(now)).status

    def watch(self, start_revision: int | None = None) -> AsyncIterator[Event]:
        """Every change in this cluster; follow `snapshot()` with `watch(revision + 1)`."""
        return self.store.watch_prefix(self.keys.prefix, start_revision)

    def watch_controller(self, start_revision: int | None = None) -> AsyncIterator[Event]:
        """Changes of the controller key (and of keys it is a prefix of)."""
        return self.store.watch_prefix(self.keys.controller, start_revision)


class ControllerSession:
    """The elected controller's handle: every write is guarded by its token."""

    def __init__(self, cluster: ClusterStore, node: str, lease: int, token: int) -> None:
        self.cluster = cluster
        self.keys = cluster.keys
        self.node = node
        self.lease = lease
        self.token = token

    def guard(self) -> Compare:
        return Compare.created_at(self.keys.controller, self.token)

    async def write(self, ops: Sequence[Op], compares: Sequence[Compare] = ()) -> TxnResult:
        """Apply `ops` atomically if still the controller (and `compares` hold).

        Raises NotController when the token is stale, whatever `compares` say, and
        returns the failed result when only `compares` failed.
        """
        r = await self.cluster.store.txn([self.guard(), *compares], ops,
                                         [Get(self.keys.controller)] if compares else [])
        if r.succeeded:
            return r
        if compares:
            kvs = r.results[0] if r.results else ()
            if kvs and kvs[0].create_revision == self.token:  # type: ignore[index,union-attr]
                return r
        raise NotController(self.token)

    async def is_current(self) -> bool:
        ctl = await self.cluster.controller()
        return ctl is not None and ctl.token == self.token

    async def request_actions(self, requests: Sequence[ActionRequest]) -> None:
        """Send actions to node daemons (in batches etcd accepts, each guarded)."""
        puts = [Put(self.keys.action(a.node, a.id),
                    dataclasses.replace(a, token=self.token).to_json()) for a in requests]
        for i in range(0, len(puts), MAX_TXN_OPS):
            await self.write(puts[i:i + MAX_TXN_OPS])

    async def discard_stale_actions(self) -> int:
        """Delete every request not yet taken (do this on taking over, and on
        resuming after a store error): it was computed from a cluster that may
        be gone, and a node takes a request only in a txn that requires it to
        still be there, so a deleted one never runs."""
        r = await self.cluster.store.get_prefix(self.keys.actions)
        stale = [Delete(kv.key) for kv in r.kvs]
        for i in range(0, len(stale), MAX_TXN_OPS):
            await self.write(stale[i:i + MAX_TXN_OPS])
        return len(stale)

    async def record_fencing(self, event: FenceEvent, event_id: str) -> None:
        await self.write([Put(self.keys.fence_event(event.target, event_id),
                              _dumps(dataclasses.asdict(event)))])

    async def node_fenced(self, event: FenceEvent, event_id: str, lease: int) -> bool:
        """A confirmed fence of `event.target`: record it and, as Pacemaker does, forget
        the node's membership, transient attributes, history and pending actions
        and mark it cleanly down, in one txn — only if the node's membership is
        still the one that was fenced (`lease`; 0: it was no member). A node that
        joined again meanwhile is a new incarnation that knows nothing: wiping
        it would lose what it has done since (found by review: a retry that
        re-read the member key's lease did exactly that). False: not recorded,
        schedule again. The fenced lease is revoked afterwards."""
        t = event.target
        r = await self.write([
            Put(self.keys.fence_event(t, event_id), _dumps(dataclasses.asdict(event))),
            Put(self.keys.expected_state(t), b"down"),
            Delete(self.keys.node(t)),
            Delete(self.keys.node_attrs(t, True), prefix=True),
            Delete(self.keys.node_history(t), prefix=True),
            Delete(self.keys.node_actions(t), prefix=True),
        ], [Compare(self.keys.node(t), "lease", "==", lease)])
        if not r.succeeded:
            return False
        if lease:
            await self.cluster.revoke_quietly(lease)
        return True

    async def withdraw(self, request: ActionRequest) -> bool:
        """Delete a request its node has not taken yet; True if it was still
        there (then it can never run: a node takes a request only in a txn that
        requires it to exist), False if the node took it (or a fence wiped it)."""
        k = self.keys.action(request.node, request.id)
        r = await self.write([Delete(k)], [Compare.exists(k)])
        return r.succeeded

    async def record_timeout(self, node: str, op: OpRecord, attrs: Mapping[str, str],
                             lease: int, now: int) -> bool:
        """An operation `node` took (its pending record `op`) whose result never came
        within its timeout plus a grace: record it as timed out, as Pacemaker's
        controller does when an action's timer expires, so the scheduler applies
        its on-fail (a stop: fence the node, or block). `attrs`: the fail-count
        and last-failure attributes to set (bound to the node's `lease`). Only
        if the pending record is still that one and the node still that member;
        False otherwise (a result came after all: schedule again)."""
        k = self.keys.op(node, op.rsc, history_slots(op)[0])
        kv = await self.cluster.store.get(k)
        if kv is None:
            return False
        data = load_record(kv.value)
        cur = data.get("op") or {}
        if cur.get("op_status") != op.op_status or cur.get("call_id") != op.call_id \
                or cur.get("action_id") != op.action_id:
            return False
        agent = _from_dict(Agent, data.get("agent") or {})
        done = dataclasses.replace(op, rc=1, op_status=OP_TIMEOUT,
                                   exec_time_ms=op.timeout_ms or 0,
                                   last_rc_change=now)
        ops = self.cluster._op_puts(node, done, agent)  # type: ignore[arg-type]
        ops += [Put(self.keys.attr(node, name, True), value.encode(), lease)
                for name, value in attrs.items()]
        r = await self.write(ops, [Compare(k, "mod", "==", kv.mod_revision),
                                   Compare(self.keys.node(node), "lease", "==", lease)])
        return r.succeeded

    async def revoke(self, lease: int) -> None:
        """Revoke a node's lease, only while still the controller (a deposed one
        must not touch the cluster: finding 8 of issue 13). Raises NotController."""
        if not await self.is_current():
            raise NotController(self.token)
        await self.cluster.revoke_quietly(lease)

    async def evict(self, node: str, lease: int, journal: Op | None = None) -> bool:
        """End `node`'s membership under `lease` (a suspected member): its key goes
        in a guarded txn, then its lease is revoked so that the node, if it is
        alive after all, sees it and fences itself. False: not that member."""
        r = await self.write([Delete(self.keys.node(node)),
                              *([journal] if journal is not None else [])],
                             [Compare(self.keys.node(node), "lease", "==", lease)])
        if not r.succeeded:
            return False
        await self.cluster.revoke_quietly(lease)
        return True

    async def clear_history(self, node: str, rsc: str | None = None) -> None:
        """Forget a resource's history on a node (crm_resource --cleanup): it is re-probed."""
        prefix = self.keys.node_history(node) + (f"{_name('resource', rsc)}/" if rsc else "")
        await self.write([Delete(prefix, prefix=True)])

    async def resign(self) -> None:
        """Stop being the controller (the lease itself stays with the node)."""
        await self.write([Delete(self.keys.controller)])
