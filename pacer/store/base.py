"""The store interface: etcd v3's data model, small enough to implement twice.

Two implementations sit behind `Store`: `pacer.store.etcd.EtcdStore` (production)
and `pacer.store.memory.MemoryStore` (the deterministic fault simulator). Both
follow etcd's semantics exactly where pacer relies on them, so code tested in the
simulator behaves the same on etcd:

- One global `revision` counts every write; a txn's writes share one revision.
  A txn or delete that changes nothing does not advance it.
- A key carries `create_revision` (revision of the put that created this
  incarnation), `mod_revision` (last write), `version` (writes since creation,
  reset by a delete) and `lease` (0: none).
- A compare on a missing key sees create/mod revision, version and lease 0, and
  a value compare on a missing key is always false (etcd cannot tell a missing
  value from an empty one).
- A lease expires `ttl` seconds after its grant or last keepalive; its keys are
  deleted at one revision.
- A watch sees every event from `start_revision` on, in revision order.

Keys are `str` (UTF-8 on the wire), values are `bytes`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@dataclass(frozen=True)
class Range:
    """The result of a prefix read: the keys, sorted, and the revision they were read at.

    Watching from `revision + 1` afterwards misses nothing and repeats nothing.
    """

    kvs: tuple[KeyValue, ...]
    revision: int


class EventType(Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True)
class Event:
    """A change seen by a watch.

    For a DELETE, `kv` holds only the key and `mod_revision` (the revision of the
    delete), as etcd sends it.
    """

    type: EventType
    kv: KeyValue

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True)
class Lease:
    id: int
    ttl: int  # seconds, as granted (etcd may raise a small TTL to its minimum)


# --------------------------------------------------------------------------- transactions

CompareTarget = Literal["value", "version", "create", "mod", "lease"]
CompareOp = Literal["==", "!=", "<", ">"]


@dataclass(frozen=True)
class Compare:
    """One condition of a txn: `target(key) op operand`.

    `operand` is bytes for "value", an int for the other targets.
    """

    key: str
    target: CompareTarget
    op: CompareOp
    operand: bytes | int

    @classmethod
    def absent(cls, key: str) -> Compare:
        return cls(key, "version", "==", 0)

    @classmethod
    def exists(cls, key: str) -> Compare:
        return cls(key, "version", ">", 0)

    @classmethod
    def created_at(cls, key: str, revision: int) -> Compare:
        """True while the key is the incarnation created at `revision`."""
        return cls(key, "create", "==", revision)

    def holds(self, kv: KeyValue | None) -> bool:
        """Evaluate against the key's current state (None: missing), as etcd does."""
        if kv is None:
            if self.target == "value":
                return False
            actual: bytes | int = 0
        else:
            actual = {
                "value": kv.value,
                "version": kv.version,
                "create": kv.create_revision,
                "mod": kv.mod_revision,
                "lease": kv.lease,
            }[self.target]
        operand = self.operand
        if isinstance(actual, bytes) != isinstance(operand, bytes):
            raise InvalidRequest(f"compare {self.target} of {self.key!r} with {operand!r}: "
                                 "value compares take bytes, the others an int")
        if self.op == "==":
            return actual == operand
        if self.op == "!=":
            return actual != operand
        if self.op == "<":
            return actual < operand  # type: ignore[operator]
        return actual > operand  # type: ignore[operator]


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    lease: int = 0


@dataclass(frozen=True)
class Delete:
    """Delete one key, or every key starting with `key` when `prefix` is set."""

    key: str
    prefix: bool = False


@dataclass(frozen=True)
class Get:
    """Read inside a txn (same revision as the compares)."""

    key: str
    prefix: bool = False


Op = Put | Delete | Get
# etcd refuses txns with more operations than --max-txn-ops (128 by default)
# in a branch or among the compares: batch below it.
MAX_TXN_OPS = 120
# Per op of the branch that ran: Get -> tuple of KeyValue, Delete -> number deleted, Put -> None.
OpResult = tuple[KeyValue, ...] | int | None


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int  # the store's revision after the txn (the txn's own if it wrote)
    results: tuple[OpResult, ...] = ()


def check_branch(ops: Sequence[Op]) -> None:
    """Refuse what etcd refuses: one key written twice in one txn branch."""
    puts: set[str] = set()
    deletes: list[Delete] = []
    for op in ops:
        if isinstance(op, Put):
            if op.key in puts:
                raise InvalidRequest(f"duplicate key {op.key!r} in one txn branch")
            puts.add(op.key)
        elif isinstance(op, Delete):
            deletes.append(op)
    for d in deletes:
        hit = [k for k in puts if (k.startswith(d.key) if d.prefix else k == d.key)]
        if hit:
            raise InvalidRequest(f"key {hit[0]!r} both put and deleted in one txn branch")


# --------------------------------------------------------------------------- errors


class StoreError(Exception):
    """Base of every store error."""


class StoreUnavailable(StoreError):
    """No store endpoint answered in time; nothing was applied.

    `endpoints` lists what was tried and why each failed.
    """

    def __init__(self, message: str, endpoints: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.endpoints = tuple(endpoints)


class OutcomeUnknown(StoreUnavailable):
    """A write was sent but its answer was lost: it may or may not have been applied.

    Never resent blindly (a txn could apply twice); re-read and decide again.
    """


class LeaseNotFound(StoreError):
    def __init__(self, lease_id: int) -> None:
        super().__init__(f"lease {lease_id:x} not found (expired or revoked)")
        self.lease_id = lease_id


class Compacted(StoreError):
    """A watch asked for history the store no longer keeps."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revisions before {compact_revision} were compacted; "
                         "read the current state and watch from its revision")
        self.compact_revision = compact_revision


class InvalidRequest(StoreError):
    """The store refused a malformed request (e.g. one key written twice in a txn)."""


# --------------------------------------------------------------------------- interface


class Store(ABC):
    """One client's view of the store. Every method may raise `StoreUnavailable`."""

    @abstractmethod
    async def get(self, key: str) -> KeyValue | None: ...

    @abstractmethod
    async def get_prefix(self, prefix: str) -> Range: ...

    @abstractmethod
    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        """Write a key (bound to `lease` if not 0); returns the write's revision.

        Raises LeaseNotFound for an unknown lease.
        """

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete one key; True if it existed."""

    @abstractmethod
    async def txn(self, compares: Sequence[Compare], on_success: Sequence[Op] = (),
                  on_failure: Sequence[Op] = ()) -> TxnResult:
        """If every compare holds, run `on_success`, else `on_failure`, atomically."""

    @abstractmethod
    async def grant(self, ttl: int) -> Lease: ...

    @abstractmethod
    async def keepalive(self, lease_id: int) -> int:
        """Restart the lease's countdown; returns its TTL. Raises LeaseNotFound."""

    @abstractmethod
    async def revoke(self, lease_id: int) -> None:
        """End the lease now, deleting its keys. Raises LeaseNotFound."""

    @abstractmethod
    async def time_to_live(self, lease_id: int) -> int:
        """Seconds the lease has left. Raises LeaseNotFound."""

    @abstractmethod
    def watch_prefix(self, prefix: str, start_revision: int | None = None
                     ) -> AsyncIterator[Event]:
        """Every change under `prefix` from `start_revision` on (None: from now).

        An async generator: close it (`aclose()`, or leave an `async with
        contextlib.aclosing(...)` block) to stop watching. Raises `Compacted` if
        the start is too old, `StoreUnavailable` when it cannot be kept open.
        """

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
