"""From one read of the cluster's keys to what the scheduler decides from: pure.

`build_status` turns the keys of one prefix read into the scheduler's
`Status`; `read_snapshot` adds the definition, the controller, the pending
requests and the members (`Snapshot`). Both are pure, so the simulator can
also feed them `MemoryCluster.snapshot()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pacer.model.definition import Definition
from pacer.status.types import FenceEvent, NodeState, OpRecord, ResourceHistory, Status
from pacer.store.base import KeyValue
from pacer.store.keys import Keys
from pacer.store.records import (
    Agent,
    ControllerInfo,
    NodeRequest,
    StoredDefinition,
    decode_op,
    from_dict,
    load_record,
)


@dataclass(frozen=True)
class Snapshot:
    """Everything the controller schedules from, read at one revision."""

    revision: int
    definition: StoredDefinition | None
    status: Status
    controller: ControllerInfo | None
    actions: tuple[NodeRequest, ...] = ()
    # Member name → the lease its membership key is bound to.
    members: Mapping[str, int] = field(default_factory=dict)


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
    rec, agent = decode_op(kv.value, node, rsc)
    if cache is not None:
        cache[kv.key] = (kv.mod_revision, rec, agent)
    return rec, agent


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
            fences.append((kv.key, from_dict(FenceEvent, load_record(kv.value))))  # type: ignore[arg-type]
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


def read_snapshot(kvs: tuple[KeyValue, ...], revision: int, keys: Keys,
                  stored: StoredDefinition | None, now: int | None = None,
                  cache: ParseCache | None = None) -> Snapshot:
    """The Snapshot of one prefix read (`stored`: its definition, parsed)."""
    status = build_status(kvs, keys, stored.definition if stored else None, now, cache)
    ctl_kv = next((kv for kv in kvs if kv.key == keys.controller), None)
    controller = ControllerInfo.from_kv(ctl_kv) if ctl_kv else None
    actions = tuple(a for kv in kvs if kv.key.startswith(keys.actions)
                    if (a := NodeRequest.from_json(kv.value)) is not None)
    members = {kv.key[len(keys.nodes):]: kv.lease for kv in kvs
               if kv.key.startswith(keys.nodes)}
    return Snapshot(revision, stored, status, controller, actions, members)
