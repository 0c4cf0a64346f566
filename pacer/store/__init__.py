"""The coordination store: one interface (`base.Store`), etcd and in-memory
implementations, and the cluster's typed records on top (`cluster.ClusterStore`).
See README.md in this directory for the key layout."""

from pacer.store.base import (
    Compacted,
    Compare,
    Delete,
    Event,
    EventType,
    Get,
    InvalidRequest,
    KeyValue,
    Lease,
    LeaseNotFound,
    OutcomeUnknown,
    Put,
    Range,
    Store,
    StoreError,
    StoreUnavailable,
    TxnResult,
)

__all__ = [
    "Compacted", "Compare", "Delete", "Event", "EventType", "Get", "InvalidRequest", "KeyValue",
    "Lease", "LeaseNotFound", "OutcomeUnknown", "Put", "Range", "Store", "StoreError",
    "StoreUnavailable", "TxnResult",
]
