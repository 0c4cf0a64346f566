"""What an operator (the `pacer` command, the crm_* shims) does in the store
beyond reading: store the definition, clean up a resource's history, read
what the cluster did. (Node attributes, which operators, agents and node
daemons all set, are in `layer.py`.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pacer.status.types import FenceEvent, OpRecord
from pacer.store.base import MAX_TXN_OPS, Compare, Delete, Get, KeyValue, Put, StoreError
from pacer.store.errors import DefinitionConflict
from pacer.store.layer import Layer
from pacer.store.records import (
    JournalEntry,
    decode_op,
    definition_value,
    load_record,
    validate_definition,
)

# A cleanup whose keys keep changing under it gives up after this many reads.
CLEANUP_ATTEMPTS = 20


_Pick = tuple[KeyValue, str, str]  # a key to delete, its node, its history id


def _batches(by_node: Mapping[str, list[_Pick]]) -> list[list[_Pick]]:
    """Txns of at most MAX_TXN_OPS keys; a node's keys share one where they fit."""
    out: list[list[_Pick]] = []
    cur: list[_Pick] = []
    for n in sorted(by_node):
        picks = by_node[n]
        if cur and len(cur) + len(picks) > MAX_TXN_OPS:
            out.append(cur)
            cur = []
        for i in range(0, len(picks), MAX_TXN_OPS):
            chunk = picks[i:i + MAX_TXN_OPS]
            if len(cur) + len(chunk) > MAX_TXN_OPS:
                out.append(cur)
                cur = []
            cur.extend(chunk)
    if cur:
        out.append(cur)
    return out


@dataclass(frozen=True)
class Cleanup:
    """What `clean_up` deleted."""

    deleted: int  # keys
    cleaned: Mapping[str, frozenset[str]]  # history id → the nodes it was cleaned on


@dataclass(frozen=True)
class HistoryLog:
    """What `pacer history` shows, from one read, each part in key order."""

    journal: tuple[JournalEntry, ...]
    fencing: tuple[FenceEvent, ...]
    ops: tuple[OpRecord, ...]  # every operation record, failed or not


class OperatorOperations(Layer):
    async def put_definition(self, text: str, expected_revision: int | None = None) -> int:
        """Store a YAML definition after validating it (raises ConfigError).

        With `expected_revision` (0: none stored yet) the write is a compare-and-swap
        and raises DefinitionConflict if someone else changed it. Returns the new
        revision, the definition's version.
        """
        validate_definition(text)
        value = definition_value(text)
        k = self.keys.definition
        compares = [] if expected_revision is None else [Compare(k, "mod", "==",
                                                                 expected_revision)]
        r = await self._store.txn(compares, [Put(k, value)], [Get(k)])
        if not r.succeeded:
            current = r.results[0][0].mod_revision if r.results[0] else 0  # type: ignore[index]
            raise DefinitionConflict(expected_revision or 0, current)
        return r.revision

    async def clean_up(self, wanted: Callable[[str], bool],
                       failure_of: Callable[[str], str | None],
                       node: str | None = None) -> Cleanup:
        """Forget operation history and fail counts (`crm_resource --cleanup`): the
        controller then probes those resources again and decides from what it
        finds. Deletes every history record of a history id `wanted` accepts,
        and every transient attribute `failure_of` names such a history id for
        (a fail count or last failure), on `node` or on every node.

        One txn when it fits etcd's limit, else a node's keys together in as
        few txns as fit; each txn is guarded by the revision of every key it
        deletes, so what it deletes is what was read: after a write landed in
        between (a result replacing a pending record, a new failure), the
        keys are read and chosen again.
        """
        deleted = 0
        cleaned: dict[str, set[str]] = {}
        for _ in range(CLEANUP_ATTEMPTS):
            todo = await self._cleanup_keys(wanted, failure_of, node)
            for batch in _batches(todo):
                r = await self._store.txn(
                    [Compare(kv.key, "mod", "==", kv.mod_revision) for kv, _, _ in batch],
                    [Delete(kv.key) for kv, _, _ in batch])
                if not r.succeeded:
                    break  # something changed since the read: read again
                deleted += len(batch)
                for _, n, hid in batch:
                    cleaned.setdefault(hid, set()).add(n)
            else:
                return Cleanup(deleted, {h: frozenset(ns) for h, ns in cleaned.items()})
        raise StoreError(f"the history kept changing during the cleanup ({deleted} keys "
                         "deleted); try again")

    async def _cleanup_keys(self, wanted: Callable[[str], bool],
                            failure_of: Callable[[str], str | None], node: str | None
                            ) -> dict[str, list[_Pick]]:
        """node → the keys to delete there."""
        keys = self.keys
        out: dict[str, list[_Pick]] = {}
        history = await self._store.get_prefix(keys.node_history(node) if node
                                               else keys.history)
        for kv in history.kvs:
            parts = keys.parse(kv.key)
            if len(parts) == 4 and wanted(parts[2]):
                out.setdefault(parts[1], []).append((kv, parts[1], parts[2]))
        attrs = await self._store.get_prefix(keys.node_attrs(node, True) if node
                                             else keys.transient)
        for kv in attrs.kvs:
            parts = keys.parse(kv.key)
            if len(parts) == 3 and (hid := failure_of(parts[2])) is not None and wanted(hid):
                out.setdefault(parts[1], []).append((kv, parts[1], hid))
        return out

    async def history_log(self) -> HistoryLog:
        """The controller's journal, the fencing events and every operation
        record, from one read."""
        r = await self._store.get_prefix(self.keys.prefix)
        journal: list[JournalEntry] = []
        fencing: list[FenceEvent] = []
        ops: list[OpRecord] = []
        for kv in r.kvs:
            parts = self.keys.parse(kv.key)
            if not parts:
                continue
            if parts[0] == "events" and len(parts) == 2:
                journal.append(JournalEntry.from_json(parts[1], kv.value))
            elif parts[0] == "fencing" and len(parts) == 3:
                d = load_record(kv.value)
                fencing.append(FenceEvent(target=parts[1], action=d.get("action", "fence"),
                                          state=d.get("state", ""),
                                          completed=d.get("completed") or 0,
                                          origin=d.get("origin") or ""))
            elif parts[0] == "history" and len(parts) == 4:
                rec, _ = decode_op(kv.value, parts[1], parts[2])
                if rec is not None:
                    ops.append(rec)
        return HistoryLog(tuple(journal), tuple(fencing), tuple(ops))
