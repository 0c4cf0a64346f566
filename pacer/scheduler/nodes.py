"""Interpret node membership facts into node health (online, unclean, standby, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pacer.model.definition import Definition
from pacer.model.meta import parse_bool
from pacer.scheduler.options import ClusterOptions
from pacer.status.types import NodeState, Status


def _true(value: str | None) -> bool:
    return value is not None and parse_bool(value, default=False)


def _attr_true(value: str | None) -> bool:
    """Attributes such as `shutdown`/`terminate` hold a timestamp or a boolean."""
    if value is None or value == "":
        return False
    if value.isdigit():
        return int(value) != 0
    return _true(value)


@dataclass
class NodeInfo:
    name: str
    id: str = ""
    online: bool = False
    unclean: bool = False
    pending: bool = False
    standby: bool = False
    maintenance: bool = False
    shutdown: bool = False
    fence_reason: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    # Pending but already a cluster member (in_ccm): resources must be probed
    # here before they may start anywhere, and a probe cannot run here yet.
    probe_pending: bool = False
    # Set when an on-fail=standby failure happened on this node.
    standby_onfail: bool = False
    # Filled during scheduling: how many resources were assigned here this run.
    assigned_count: int = 0
    # The fail-count-* and last-failure-* attributes, without their prefixes
    # (scores.failcount asks for every resource on every node; most nodes
    # have none). Built on first use; `attrs` does not change once built.
    failure_attrs: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None = \
        field(default=None, repr=False, compare=False)

    @property
    def can_run(self) -> bool:
        """May resources be placed here at all?"""
        return (
            self.online
            and not self.unclean
            and not self.pending
            and not self.standby
            and not self.standby_onfail
            and not self.maintenance
            and not self.shutdown
        )


def _membership(ns: NodeState, info: NodeInfo, opts: ClusterOptions) -> None:
    """Pacemaker's order of checks on `<node_state>` (see pacemaker-semantics.md §7.1)."""
    shutdown = _attr_true(ns.transient.get("shutdown"))
    terminate = _attr_true(ns.transient.get("terminate"))
    in_ccm = ns.in_ccm
    crmd_online = ns.crmd == "online" or (ns.crmd is not None and ns.crmd.isdigit() and ns.crmd != "0")
    ccm_true = in_ccm is not None and (_true(in_ccm) or (in_ccm.isdigit() and in_ccm != "0"))
    if shutdown:
        info.shutdown = True
        info.online = crmd_online and ccm_true
        return
    if in_ccm is None:
        info.unclean = True
        info.fence_reason = "peer has not been seen by the cluster"
        return
    if ns.join == "banned":
        info.unclean = True
        info.fence_reason = "peer failed Pacemaker membership criteria"
        return
    if (ns.expected is None or ns.expected == "down") and not terminate:
        if ccm_true or crmd_online:
            if ccm_true and crmd_online and ns.join == "member":
                info.online = True
            else:
                info.pending = True
                info.online = ccm_true and crmd_online
                info.probe_pending = ccm_true and opts.stonith_enabled
        return
    if terminate and ns.join == "down" and not ccm_true and not crmd_online:
        return  # just shot: clean offline
    if not ccm_true:
        info.unclean = True
        info.fence_reason = "peer is no longer part of the cluster"
        return
    if not crmd_online:
        info.unclean = True
        info.fence_reason = "peer process is no longer available"
        return
    if terminate:
        info.unclean = True
        info.online = True
        info.fence_reason = "termination was requested"
        return
    if ns.join == "member":
        info.online = True
    elif ns.join in ("pending", "down", None):
        info.pending = True
        info.online = True
        # Without fencing, Pacemaker has no "pending": such a node is just not up.
        info.probe_pending = opts.stonith_enabled
    else:
        info.unclean = True
        info.fence_reason = "peer was in an unknown state"


def suicide(status: Status, opts: ClusterOptions) -> bool:
    """A partition that lost quorum under no-quorum-policy=suicide fences its own nodes."""
    return (not status.have_quorum and status.no_quorum_panic
            and opts.no_quorum_policy == "suicide")


def interpret_nodes(defn: Definition, status: Status, opts: ClusterOptions) -> dict[str, NodeInfo]:
    nodes: dict[str, NodeInfo] = {}
    for n in defn.nodes:
        if n.type not in ("member", "normal"):
            continue
        info = NodeInfo(name=n.name, id=n.id or n.name)
        attrs = dict(n.attributes)
        ns = status.node_states.get(n.name)
        if ns is None:
            if opts.startup_fencing:
                info.unclean = True
                info.fence_reason = "node is unclean"
        else:
            attrs.update(ns.transient)
            _membership(ns, info, opts)
        attrs["#uname"] = n.name
        attrs["#id"] = n.id or n.name
        attrs["#kind"] = "cluster"
        attrs["#is_dc"] = "true" if status.dc == n.name else "false"
        info.attrs = attrs
        if suicide(status, opts) and info.online and not info.unclean:
            info.unclean = True
            info.fence_reason = "cluster does not have quorum"
        info.standby = _true(attrs.get("standby"))
        info.maintenance = _true(attrs.get("maintenance"))
        nodes[n.name] = info
    return nodes
