"""The node daemon's settings and the numbers derived from them.

Everything time-related is derived from `lease_ttl` unless set explicitly, so
one number tunes a node: with the default TTL of 2 s a keepalive goes out every
0.5 s, the node fences itself 1.5 s after the last keepalive it *sent* that
etcd confirmed, and a watchdog (if armed) resets the host 4 s after its last
feed. `pacer/node/README.md` draws the timeline.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pacer.agents.api import DEFAULT_TIMEOUT_MS, NodeEnvironment

# The Pacemaker tools agents call, answered by `python -m pacer.shims NAME`.
SHIM_NAMES = ("crm_attribute", "crm_master", "crm_node", "crm_resource", "crm_mon",
              "attrd_updater")


@dataclass(frozen=True)
class NodeConfig:
    """How one node daemon runs.

    `state_dir` None means no filesystem at all (the fault simulator): nothing
    is emptied, no shims are installed, nothing is persisted.
    """

    node: str
    cluster: str = "default"
    state_dir: Path | None = None
    lease_ttl: int = 2
    # None: derived from lease_ttl (see the properties below).
    keepalive_interval: float | None = None
    self_fence_margin: float | None = None
    watchdog_grace: float | None = None
    # How long an agent's crm_* call may wait for etcd (PACER_ETCD_TIMEOUT).
    shim_etcd_timeout: float | None = None
    # How long a clean shutdown waits for the controller to move everything away
    # before the node stops what is left itself.
    shutdown_timeout: float = 120.0
    default_timeout_ms: int = DEFAULT_TIMEOUT_MS
    # Where this node listens for its peers' heartbeats (HOST:PORT), advertised
    # in its membership record; None: no heartbeats (lease expiry detects loss).
    heartbeat: str | None = None
    heartbeat_interval: float = 0.05
    heartbeat_timeout: float = 0.25
    # What agents (through the crm_* shims) need to reach the store.
    endpoints: Sequence[str] = ()
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # A virtual machine: its (emulated) watchdog stops while the VM is paused,
    # so it is not claimed for fencing unless `trust_vm_watchdog` (pacer/node/virt.py).
    virtual: bool = False
    trust_vm_watchdog: bool = False
    # The Python that runs the shims (`exec PYTHON -m pacer.shims NAME "$@"`).
    python: str = field(default_factory=lambda: sys.executable)

    def __post_init__(self) -> None:
        if not self.node or "/" in self.node:
            raise ValueError(f"node name {self.node!r}: empty or contains '/'")
        if self.lease_ttl < 1:
            raise ValueError(f"lease TTL must be at least 1 s, not {self.lease_ttl}")
        if not 0 < self.keepalive_s < self.lease_ttl:
            raise ValueError("the keepalive interval must be positive and shorter than the "
                             f"lease TTL ({self.keepalive_s} s vs {self.lease_ttl} s)")
        if not 0 < self.heartbeat_interval < self.heartbeat_timeout:
            raise ValueError(f"the heartbeat interval ({self.heartbeat_interval:g} s) must be "
                             "positive and shorter than the heartbeat timeout "
                             f"({self.heartbeat_timeout:g} s)")
        if not 0 <= self.margin_s < self.lease_ttl:
            raise ValueError(f"the self-fence margin ({self.margin_s} s) must be below the "
                             f"lease TTL ({self.lease_ttl} s)")

    # ------------------------------------------------------------- derived numbers

    @property
    def keepalive_s(self) -> float:
        return self.keepalive_interval if self.keepalive_interval is not None \
            else self.lease_ttl / 4

    @property
    def margin_s(self) -> float:
        """Self-fence this long before the lease can expire."""
        return self.self_fence_margin if self.self_fence_margin is not None \
            else self.lease_ttl / 4

    @property
    def watchdog_timeout_s(self) -> int:
        """Seconds a hardware watchdog waits after its last feed (whole seconds:
        the device's unit). TTL + grace, grace defaulting to one more TTL: the
        reset then lands before the controller's earliest recovery, which is the
        lease's expiry + stonith-watchdog-timeout (2 x TTL)."""
        grace = self.watchdog_grace if self.watchdog_grace is not None else self.lease_ttl
        return math.ceil(self.lease_ttl + grace)

    @property
    def shim_timeout_s(self) -> float:
        """Half the self-fence margin by default: agents call crm_* tools in their
        stop actions too (Stateful's crm_master -D), and while a self-fencing
        node's etcd is gone each such call must give up quickly, or the stops
        would run past the lease. etcd answers a healthy call in milliseconds."""
        if self.shim_etcd_timeout is not None:
            return self.shim_etcd_timeout
        return max(0.2, self.margin_s / 2)

    @property
    def join_retry_s(self) -> float:
        """How often to look again while an earlier incarnation's lease lives."""
        return self.lease_ttl / 4

    # ------------------------------------------------------------- agents' world

    def agent_env(self) -> dict[str, str]:
        """What agents (and the crm_* shims they call) learn about the cluster."""
        env = {"PACER_NODE": self.node, "PACER_CLUSTER": self.cluster,
               "PACER_ETCD_TIMEOUT": f"{self.shim_timeout_s:g}"}
        if self.endpoints:
            env["PACER_ENDPOINTS"] = ",".join(self.endpoints)
        for name, value in (("PACER_ETCD_CA", self.ca_file), ("PACER_ETCD_CERT", self.cert_file),
                            ("PACER_ETCD_KEY", self.key_file)):
            if value:
                env[name] = str(value)
        return env

    def environment(self, extra_env: Mapping[str, str] | None = None) -> NodeEnvironment:
        """The NodeEnvironment to build this node's AgentRunner with."""
        if self.state_dir is None:
            raise ValueError("a node without a state_dir has no agent environment")
        return NodeEnvironment(state_dir=self.state_dir, node_name=self.node,
                               extra_env={**self.agent_env(), **(extra_env or {})})
