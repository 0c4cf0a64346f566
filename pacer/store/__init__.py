"""The coordination store: one interface (`base.Store`), etcd and in-memory
implementations, and the one typed layer on top (`cluster.ClusterStore`), which
every caller uses. See README.md in this directory for the modules, the key
layout and who writes what."""

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
