"""What a change seen in the store means to a running transition (pure).

Every change under the cluster's prefix reaches the controller. Most of them
mean "the cluster is not what the transition was computed from: schedule
again"; a few are the transition's own results, and a few are noise that must
not abort it (the controller's own writes, a pending marker, a cancelled
recurring monitor's record going away, an attribute rewritten with the value
it had).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pacer.status.types import OP_PENDING
from pacer.store.base import Event, EventType
from pacer.store.cluster import Keys


@dataclass(frozen=True)
class Result:
    """A node's report for a request of this controller."""

    action_id: str
    node: str
    rsc: str
    rc: int
    op_status: int
    expected_rc: int | None

    @property
    def as_expected(self) -> bool:
        return self.op_status == 0 and (self.expected_rc is None or self.rc == self.expected_rc)


@dataclass(frozen=True)
class Change:
    """Something that calls for a new schedule."""

    what: str
    node_left: str | None = None  # the change is this node's membership ending


Meaning = Result | Change | None


def classify(ev: Event, keys: Keys, attrs: Mapping[tuple[str, str], str]) -> Meaning:
    """`attrs`: (node, attribute) → value as last scheduled from."""
    parts = keys.parse(ev.kv.key)
    if not parts:
        return None
    kind = parts[0]
    if kind in ("actions", "events", "fencing"):
        return None
    if kind == "history" and len(parts) == 4:
        node, rsc, slot = parts[1], parts[2], parts[3]
        if ev.type is EventType.DELETE:
            # A recurring op's record is dropped when it is cancelled; losing
            # last_0 (cleanup, or a node clearing its history) is news.
            return None if slot not in ("last_0", "last_failure_0") else \
                Change(f"history of {rsc} on {node} cleared")
        try:
            op = json.loads(ev.kv.value).get("op") or {}
        except ValueError:
            return Change(f"unreadable history record {ev.kv.key}")
        status = op.get("op_status", 0)
        if status == OP_PENDING:
            return None
        action_id = op.get("action_id")
        if action_id and slot == "last_failure_0":
            return None  # the same txn also writes the op's own slot
        if action_id:
            # The controller treats it as a change unless it awaits this action.
            return Result(action_id, node, rsc, int(op.get("rc", 0)), int(status),
                          op.get("expected_rc"))
        return Change(f"{op.get('operation', '?')} of {rsc} on {node}: rc {op.get('rc')}")
    if kind.startswith("attrs/") and len(parts) == 3:
        node, name = parts[1], parts[2]
        value = None if ev.type is EventType.DELETE else ev.kv.value.decode()
        if attrs.get((node, name)) == value:
            return None
        return Change(f"attribute {name} of {node} is now {value}")
    if kind == "nodes" and len(parts) == 2:
        if ev.type is EventType.PUT:
            return Change(f"node {parts[1]} joined")
        return Change(f"node {parts[1]} left", node_left=parts[1])
    if kind == "definition":
        return Change("definition changed")
    if kind == "controller":
        return Change("controller key changed")
    return Change(f"{ev.kv.key} changed")
