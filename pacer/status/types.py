"""Cluster status: what is true right now, as opposed to what is configured.

Read from a CIB `<status>` section (`pacer.status.cib`) or, on a live cluster,
from the store. The scheduler interprets these raw facts (which node is unclean,
which resource is active where) in `pacer.scheduler.state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EMPTY: Mapping[str, str] = MappingProxyType({})


def _empty() -> Mapping[str, str]:
    return EMPTY

# OCF return codes.
OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_PERM = 4
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7
OCF_RUNNING_PROMOTED = 8
OCF_FAILED_PROMOTED = 9
# Pacemaker's "degraded" extensions: running (promoted), but not well.
OCF_DEGRADED = 190
OCF_DEGRADED_PROMOTED = 191
PENDING_RC = 193

# What each return code means, in words (status output, agent runs, history).
OCF_RC_NAMES = {
    0: "ok", 1: "error", 2: "invalid parameter", 3: "unimplemented feature",
    4: "insufficient privileges", 5: "not installed", 6: "not configured",
    7: "not running", 8: "promoted", 9: "promoted (failed)",
    OCF_DEGRADED: "degraded", OCF_DEGRADED_PROMOTED: "promoted (degraded)", PENDING_RC: "pending",
}

# Execution status of an operation (Pacemaker's op-status).
OP_PENDING = -1
OP_DONE = 0
OP_CANCELLED = 1
OP_TIMEOUT = 2
OP_NOTSUPPORTED = 3
OP_ERROR = 4
OP_ERROR_HARD = 5
OP_ERROR_FATAL = 6
OP_NOT_INSTALLED = 7
OP_NOT_CONNECTED = 8
OP_INVALID = 9


@dataclass(frozen=True)
class OpRecord:
    """One entry of a resource's operation history on one node."""

    rsc: str
    node: str
    operation: str
    interval_ms: int = 0
    call_id: int = 0
    rc: int = 0
    op_status: int = OP_DONE
    expected_rc: int | None = None
    last_rc_change: int = 0
    last_run: int = 0
    exec_time_ms: int = 0
    digest: str | None = None
    restart_digest: str | None = None
    force_restart: str | None = None
    secure_params: str | None = None
    secure_digest: str | None = None
    migrate_source: str | None = None
    migrate_target: str | None = None
    id: str = ""
    # The controller's request this result answers (live cluster only).
    action_id: str | None = None
    # How long the operation may run (live cluster, pending records): a
    # controller waits that long (plus a grace) for its result, whoever sent it.
    timeout_ms: int | None = None

    @property
    def key(self) -> str:
        return f"{self.rsc}_{self.operation}_{self.interval_ms}"


@dataclass(frozen=True)
class ResourceHistory:
    """A resource's operations on one node (`<lrm_resource>`)."""

    rsc: str
    node: str
    agent_class: str = ""
    provider: str | None = None
    type: str = ""
    container: str | None = None
    ops: tuple[OpRecord, ...] = ()
    # shutdown-lock: when the node shut down with the resource locked to it
    # (epoch seconds), recorded on `<lrm_resource shutdown-lock=...>`.
    shutdown_lock: int | None = None


@dataclass(frozen=True)
class NodeState:
    """One node's membership as the cluster layer reported it (`<node_state>`)."""

    name: str
    id: str = ""
    in_ccm: str | None = None  # "true"/"false" or a timestamp; None = absent
    crmd: str | None = None  # online offline or a timestamp
    join: str | None = None  # member down pending banned
    expected: str | None = None  # member down
    transient: Mapping[str, str] = field(default_factory=_empty)
    history: tuple[ResourceHistory, ...] = ()


@dataclass(frozen=True)
class FenceEvent:
    target: str
    action: str
    state: str
    completed: int = 0
    origin: str = ""


@dataclass(frozen=True)
class Status:
    have_quorum: bool = True
    # The partition lost quorum it had (`no-quorum-panic` on the CIB): with
    # no-quorum-policy=suicide its nodes must fence themselves.
    no_quorum_panic: bool = False
    node_states: Mapping[str, NodeState] = field(default_factory=dict)
    now: int | None = None  # epoch seconds; None means "use the caller's clock"
    dc: str | None = None
    feature_set: str = "3.16.1"
    fencing_history: tuple[FenceEvent, ...] = ()
    tickets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
