"""The typed layer's common part: the raw store (private to the layer), the
keys, the parse caches, and what every kind of client does — read the
definition, the members, the controller, everything at once (`snapshot`),
follow changes, and read or set node attributes.

`ClusterStore` (`cluster.py`) adds the operations of each kind of client:
node daemons (`node_ops.py`), controller candidates (`controller_ops.py`),
operators (`operator_ops.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pacer.status.types import Status
from pacer.store.base import (
    Compare,
    Delete,
    Event,
    KeyValue,
    LeaseNotFound,
    Op,
    Put,
    Store,
    StoreError,
)
from pacer.store.errors import NotMember
from pacer.store.keys import Keys
from pacer.store.records import (
    ControllerInfo,
    StoredDefinition,
    load_record,
    parse_stored_definition,
)
from pacer.store.snapshot import ParseCache, Snapshot, read_snapshot


class Layer:
    def __init__(self, store: Store, cluster: str = "default", root: str = "/pacer") -> None:
        # Private: every caller goes through a typed operation, so that the key
        # layout, the records and the guards are written once (issue 14).
        self._store = store
        self.cluster = cluster
        self.keys = Keys(cluster, root)
        self._defn_cache: StoredDefinition | None = None
        self._parsed: ParseCache = {}
        self._addrs: dict[str, tuple[int, str | None]] = {}

    # ------------------------------------------------------------- guards

    def _member_guard(self, node: str, lease: int) -> Compare:
        """Holds while `nodes/<node>` is bound to `lease`: a node that lost its
        lease (and may have been fenced and wiped) writes nothing stale."""
        return Compare(self.keys.node(node), "lease", "==", lease)

    async def revoke_quietly(self, lease: int, attempts: int = 3) -> bool:
        """Revoke a lease whose membership key was just deleted, so that its node
        (if alive) sees at its next keepalive that it must fence itself; the
        node also watches its key, so a revocation lost here is not fatal."""
        for _ in range(attempts):
            try:
                await self._store.revoke(lease)
                return True
            except LeaseNotFound:
                return True
            except StoreError:
                continue
        return False

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
        return self._definition(await self._store.get(self.keys.definition))

    # ------------------------------------------------------------- members, controller

    async def members(self) -> dict[str, int]:
        """Current members and their leases."""
        r = await self._store.get_prefix(self.keys.nodes)
        return {kv.key[len(self.keys.nodes):]: kv.lease for kv in r.kvs}

    async def member_records(self) -> dict[str, tuple[int, str | None]]:
        """Current members: name → (lease, heartbeat address or None)."""
        r = await self._store.get_prefix(self.keys.nodes)
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

    async def membership_lease(self, node: str) -> int | None:
        """The lease `node`'s membership key is bound to; None: not a member."""
        kv = await self._store.get(self.keys.node(node))
        return kv.lease if kv is not None else None

    async def controller(self) -> ControllerInfo | None:
        kv = await self._store.get(self.keys.controller)
        if kv is None:
            return None
        return ControllerInfo.from_kv(kv)

    # ------------------------------------------------------------- reading everything

    async def snapshot(self, now: int | None = None) -> Snapshot:
        """Definition, Status, controller and pending actions from one read."""
        r = await self._store.get_prefix(self.keys.prefix)
        defn_kv = next((kv for kv in r.kvs if kv.key == self.keys.definition), None)
        stored = self._definition(defn_kv)
        if len(self._parsed) > 2 * len(r.kvs) + 64:
            self._parsed.clear()  # (records deleted since: start again)
        return read_snapshot(r.kvs, r.revision, self.keys, stored, now, self._parsed)

    async def status(self, now: int | None = None) -> Status:
        return (await self.snapshot(now)).status

    def watch(self, start_revision: int | None = None) -> AsyncIterator[Event]:
        """Every change in this cluster; follow `snapshot()` with `watch(revision + 1)`."""
        return self._store.watch_prefix(self.keys.prefix, start_revision)

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
                await self._store.delete(k)
            else:
                await self._store.put(k, value.encode())
            return
        member = await self._store.get(self.keys.node(node))
        if member is None:
            raise NotMember(node)
        op: Op = Delete(k) if value is None else Put(k, value.encode(), member.lease)
        r = await self._store.txn([self._member_guard(node, member.lease)], [op])
        if not r.succeeded:
            raise NotMember(node)

    async def delete_attribute(self, node: str, name: str, transient: bool = True) -> bool:
        """Delete a node attribute whatever the node's membership (a transient one
        of a node that is no member goes with its lease anyway); True if it
        was there."""
        return await self._store.delete(self.keys.attr(node, name, transient))

    async def attribute(self, node: str, name: str, transient: bool = True) -> str | None:
        """One node attribute as stored (None: not set)."""
        kv = await self._store.get(self.keys.attr(node, name, transient))
        return kv.value.decode() if kv is not None else None

    async def node_attributes(self, node: str, transient: bool) -> dict[str, str]:
        """A node's transient or permanent attributes, by name."""
        r = await self._store.get_prefix(self.keys.node_attrs(node, transient))
        return {kv.key.rsplit("/", 1)[1]: kv.value.decode() for kv in r.kvs}

    async def attributes(self, node: str) -> dict[str, str]:
        """Permanent attributes overlaid by transient ones (as the scheduler sees them)."""
        out = await self.node_attributes(node, False)
        out.update(await self.node_attributes(node, True))
        return out
