"""The values stored under the keys (`keys.py`): wire records and their codecs.

JSON objects unless the key layout says otherwise, written compactly with
sorted keys; a record read back is never trusted to parse (`load_record`
gives {} for anything that is not an object). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pacer.model.definition import Definition
from pacer.model.yaml_loader import load_yaml
from pacer.status.failures import is_failure
from pacer.status.types import OpRecord
from pacer.store.base import KeyValue, Op, Put
from pacer.store.keys import Keys

# --------------------------------------------------------------------------- codec


def dumps(data: object) -> bytes:
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


def from_dict(cls: type, data: Mapping) -> object:
    """A dataclass from a record, ignoring fields it does not have."""
    names = _field_names(cls)
    return cls(**{k: v for k, v in data.items() if k in names})


def fields_dict(obj: object) -> dict:
    """A flat dataclass's fields as a dict (dataclasses.asdict deep-copies every
    value, and records are written on every operation result)."""
    return {n: getattr(obj, n) for n in _field_names(type(obj))}


# --------------------------------------------------------------------------- definition


@functools.lru_cache(maxsize=16)
def parse_stored_definition(text: str) -> Definition:
    """The stored definition's text, parsed. Definitions are immutable and parsing
    is pure, so every ClusterStore in a process shares the result: a daemon
    re-reading after every incarnation, and the fault simulator's many daemons
    in one process, parse each text once (parsing takes tens of milliseconds)."""
    return load_yaml(text, filename="<stored definition>")


@functools.lru_cache(maxsize=16)
def validate_definition(text: str) -> None:
    """Raise ConfigError unless `text` is a valid definition (pure: a text that
    passed once passes again; the fault simulator stores the same text per run)."""
    load_yaml(text, filename="<definition>")


def definition_value(text: str) -> bytes:
    """What `definition` holds: the YAML text as the operator wrote it."""
    return dumps({"format": "pacer-yaml", "text": text})


@dataclass(frozen=True)
class StoredDefinition:
    definition: Definition
    text: str
    revision: int  # the key's mod_revision: the definition's version


# --------------------------------------------------------------------------- controller


@dataclass(frozen=True)
class ControllerInfo:
    node: str
    token: int  # create_revision of the controller key
    lease: int

    @classmethod
    def from_kv(cls, kv: KeyValue) -> ControllerInfo:
        """The controller key as read from the store."""
        return cls(load_record(kv.value).get("node", ""), kv.create_revision, kv.lease)


def controller_value(node: str) -> bytes:
    return dumps({"node": node})


@dataclass(frozen=True)
class JournalEntry:
    """One line of the controller's journal (`events/<id>`), for `pacer history`.

    `id` orders the journal: the controller makes it from the time in ms and a
    counter, so that ids sort as the entries were written.
    """

    id: str
    time: float
    kind: str
    message: str
    controller: str | None = None
    transition: int | None = None
    node: str | None = None
    rsc: str | None = None

    def to_json(self) -> bytes:
        # (json.dumps's own spacing and this key order: what journals have held)
        return json.dumps({"time": self.time, "kind": self.kind, "message": self.message,
                           "controller": self.controller, "transition": self.transition,
                           "node": self.node, "rsc": self.rsc}).encode()

    @classmethod
    def from_json(cls, event_id: str, value: bytes) -> JournalEntry:
        d = load_record(value)
        return cls(id=event_id, time=float(d.get("time") or 0), kind=str(d.get("kind", "")),
                   message=str(d.get("message", "")), controller=d.get("controller"),
                   transition=d.get("transition"), node=d.get("node"), rsc=d.get("rsc"))


# --------------------------------------------------------------------------- requests


# A node request's `extra` entry: how long stopping the instance may take
# (ms), sent with the requests that make it active, for a self-fence that
# stops it without a request.
STOP_TIMEOUT_KEY = "stop_timeout_ms"


@dataclass(frozen=True)
class NodeRequest:
    """An action the controller asks one node daemon to run (`actions/<node>/<id>`).

    `token` is the controller's fencing token; a node accepts the request only
    while it is current (`ClusterStore.accept_action`). Parameters come from the
    definition at `definition_revision`. (Not the agent's `ActionRequest`, which
    the node daemon makes of it: `pacer/node/mapping.py`.)
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
        data = fields_dict(self)
        data["extra"] = dict(self.extra)
        return dumps(data)

    @classmethod
    def from_json(cls, value: bytes) -> NodeRequest | None:
        try:
            return from_dict(cls, load_record(value))  # type: ignore[return-value]
        except TypeError:
            return None


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class Agent:
    """What runs a resource, kept with its history as Pacemaker's `<lrm_resource>` does."""

    agent_class: str = ""
    provider: str | None = None
    type: str = ""


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


def op_puts(keys: Keys, node: str, op: OpRecord, agent: Agent) -> list[Op]:
    """The writes that record `op` on `node`: one per slot it belongs in
    (`{"agent": Agent, "op": OpRecord}`; the key says the node and resource)."""
    puts: list[Op] = []
    for slot in history_slots(op):
        rec = dataclasses.replace(op, node=node, id=f"{op.rsc}_{slot}")
        data = fields_dict(rec)
        del data["rsc"], data["node"]  # the key says both
        puts.append(Put(keys.op(node, op.rsc, slot),
                        dumps({"agent": fields_dict(agent), "op": data})))
    return puts


def decode_op(value: bytes, node: str, rsc: str) -> tuple[OpRecord | None, Agent]:
    """A history record: the operation (None if the record has none) and its agent."""
    data = load_record(value)
    op = data.get("op")
    rec = from_dict(OpRecord, {**op, "rsc": rsc, "node": node}) \
        if isinstance(op, dict) else None
    agent = from_dict(Agent, data.get("agent") or {})
    return rec, agent  # type: ignore[return-value]
