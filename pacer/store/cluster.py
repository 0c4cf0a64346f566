"""`ClusterStore`: the cluster's records in the store, the one typed layer over `Store`.

The controller, the node daemons, the CLI, the crm_* shims and the fault
simulator all read and write the cluster through it, whichever `Store` is
underneath; the raw store is private to it. It is assembled from the
operations of each kind of client, so that what each may write is plain
(and can be granted as etcd roles, `pacer/store/README.md`):

- reads, and node attributes, which everyone sets (`layer.py`);
- node daemons: lease, membership, operation history, the requests
  addressed to them — txns guarded by the node's own membership key
  (`node_ops.py`);
- controller candidates: campaign, depose; the elected controller writes
  only through its `ControllerSession`, txns guarded by the controller key's
  create_revision, the fencing token (`controller_ops.py`);
- operators: the definition (compare-and-swap), cleanup, the history log
  (`operator_ops.py`).

The key layout is `keys.py`, the records `records.py`, the refusals
`errors.py`, and the pure reading of one prefix read into the scheduler's
`Status` is `snapshot.py`. This module is the layer's face: callers outside
`pacer/store/` import what they need of it from here.
"""

from __future__ import annotations

from pacer.store.controller_ops import CandidateOperations, ControllerSession
from pacer.store.errors import DefinitionConflict, NodeAlreadyMember, NotController, NotMember
from pacer.store.keys import (
    LEASE_ATTR,
    LEASE_TTL_ATTR,
    WATCHDOG_ATTR,
    WATCHDOG_TIMEOUT_ATTR,
    Keys,
)
from pacer.store.node_ops import NodeOperations
from pacer.store.operator_ops import Cleanup, HistoryLog, OperatorOperations
from pacer.store.records import (
    STOP_TIMEOUT_KEY,
    Agent,
    ControllerInfo,
    JournalEntry,
    NodeRequest,
    StoredDefinition,
    load_record,
    parse_stored_definition,
)
from pacer.store.snapshot import Snapshot, build_status


class ClusterStore(NodeOperations, CandidateOperations, OperatorOperations):
    """The one typed layer: `ClusterStore(store, cluster="default", root="/pacer")`."""


# What callers outside pacer/store/ use.
__all__ = [
    "LEASE_ATTR", "LEASE_TTL_ATTR", "STOP_TIMEOUT_KEY", "WATCHDOG_ATTR",
    "WATCHDOG_TIMEOUT_ATTR", "Agent", "Cleanup", "ClusterStore", "ControllerInfo",
    "ControllerSession", "DefinitionConflict", "HistoryLog", "JournalEntry", "Keys",
    "NodeAlreadyMember", "NodeRequest", "NotController", "NotMember", "Snapshot",
    "StoredDefinition", "build_status", "load_record", "parse_stored_definition",
]
