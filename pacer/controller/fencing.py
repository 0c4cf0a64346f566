"""How to fence a node (pure decisions; the controller carries them out).

With fence devices (`stonith:` primitives) the controller runs them, in
configuration order, until one confirms. A device fences the nodes its
`pcmk_host_list` / `pcmk_host_map` name, or every node when it names none,
but never the node the controller runs on (it would shoot itself; another
controller takes over then). Without a device that can, fencing is by
watchdog, for a node that has one (its daemon says so when it joins, or the
operator sets stonith-watchdog-timeout): the target's lease must be gone —
it self-fenced before the lease could expire — and the watchdog timeout must
have passed since the controller saw it go, so a node too hung to stop its
resources has been reset by its watchdog. A node with neither cannot be
fenced: its resources stay blocked, as in Pacemaker without fencing. A target that still holds its lease (a failed stop,
say) first has its lease revoked: the node sees that as losing the cluster
and self-fences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pacer.agents.api import FenceRequest
from pacer.model.definition import Definition, Primitive, iter_primitives
from pacer.model.meta import parse_interval_ms
from pacer.status.types import NodeState
from pacer.store.cluster import LEASE_ATTR, LEASE_TTL_ATTR, WATCHDOG_ATTR, WATCHDOG_TIMEOUT_ATTR


@dataclass(frozen=True)
class FenceDevice:
    prim: Primitive

    def targets(self, node: str) -> bool:
        host_list = self.prim.params.get("pcmk_host_list")
        host_map = self.prim.params.get("pcmk_host_map")
        if host_list is None and host_map is None:
            return True
        names: set[str] = set()
        if host_list:
            names |= set(re.split(r"[\s,;]+", host_list.strip()))
        if host_map:
            for item in re.split(r"[\s,;]+", host_map.strip()):
                if item:
                    names.add(item.split(":", 1)[0])
        return node in names

    def request(self, target: str, action: str, timeout_ms: int = 60_000) -> FenceRequest:
        return FenceRequest(device=self.prim.id, agent=self.prim.type, action=action,
                            target=target, params=dict(self.prim.params),
                            timeout_ms=timeout_ms)


def devices_for(defn: Definition, target: str, controller_node: str) -> list[FenceDevice]:
    if target == controller_node:
        return []
    return [d for p in iter_primitives(defn.resources) if p.agent_class == "stonith"
            if (d := FenceDevice(p)).targets(target)]


def _duration_s(defn: Definition, name: str, default: float) -> float:
    """A duration property in seconds; `default` when unset or unreadable."""
    v = defn.properties.get(name)
    if not v:
        return default
    try:
        return parse_interval_ms(v) / 1000
    except ValueError:
        return default


def fence_timeout_ms(defn: Definition) -> int:
    return int(_duration_s(defn, "stonith-timeout", 60.0) * 1000)


def dc_deadtime(defn: Definition) -> float:
    """Seconds a node never seen may take to join before it is fenced (default 20 s)."""
    return _duration_s(defn, "dc-deadtime", 20.0)


def watchdog_fencing_allowed(defn: Definition, ns: NodeState | None) -> bool:
    """Only a node with a watchdog can be fenced by waiting: its daemon said so
    when it joined (the permanent attribute `#pacer-watchdog`), or the operator
    set stonith-watchdog-timeout, asserting every node has one (as with SBD)."""
    if _duration_s(defn, "stonith-watchdog-timeout", 0.0) > 0:
        return True
    return ns is not None and ns.transient.get(WATCHDOG_ATTR) == "true"


def watchdog_timeout(defn: Definition, default: float) -> float:
    """Seconds (the definition's stonith-watchdog-timeout wins when positive)."""
    t = _duration_s(defn, "stonith-watchdog-timeout", 0.0)
    return t if t > 0 else default


# A watchdog resets its host within its timeout of the last feed, by its own
# crystal; the controller counts on its own clock, and the last feed may follow
# the moment etcd said the lease was gone by a network delay (a keepalive
# confirmed just before the revoke). Real watchdogs count in whole seconds and
# may fire up to one late. So the wait has a margin.
WATCHDOG_MARGIN_S = 1.0
WATCHDOG_MARGIN_RATIO = 0.1


def _attr_seconds(ns: NodeState | None, name: str) -> float | None:
    if ns is None:
        return None
    try:
        v = float(ns.transient.get(name, ""))
    except ValueError:
        return None
    return v if v > 0 else None


def lease_of(ns: NodeState | None) -> int:
    """The lease of the node's latest membership, as it published it (0: unknown)."""
    if ns is None:
        return 0
    try:
        return int(ns.transient.get(LEASE_ATTR, "0"), 16)
    except ValueError:
        return 0


def watchdog_wait(defn: Definition, ns: NodeState | None, default: float, *,
                  device_done: bool = False) -> float:
    """Seconds from the moment the target's lease is known to be gone until it
    counts as fenced. By its watchdog: the target's own published watchdog
    timeout (not this controller's idea of it: finding 3 of issue 13) with a
    margin, or stonith-watchdog-timeout if that is longer; `default` only when
    the node published nothing. With `device_done` (fence-confirm:
    device-and-lease, the device already said it acted): the same for a node
    with a watchdog, else the target's lease TTL — time for a live node to see
    its lease gone and begin its self-fence."""
    published = _attr_seconds(ns, WATCHDOG_TIMEOUT_ATTR)
    has_wd = ns is not None and ns.transient.get(WATCHDOG_ATTR) == "true"
    if device_done and not has_wd:
        return _attr_seconds(ns, LEASE_TTL_ATTR) or default / 2
    swt = _duration_s(defn, "stonith-watchdog-timeout", 0.0)
    if published is not None:
        wd = published * (1 + WATCHDOG_MARGIN_RATIO) + WATCHDOG_MARGIN_S
        return max(wd, swt)
    return swt if swt > 0 else default


def verify_device_fence(defn: Definition) -> bool:
    """`fence-confirm: device-and-lease`: a device's success counts only once
    the target's lease is gone too (and its watchdog or lease time passed):
    for fence devices that can report success without acting. Default
    `device`: the device's word is enough, as in Pacemaker."""
    v = (defn.properties.get("fence-confirm") or "device").strip().lower()
    return v == "device-and-lease"


def fence_action(key: str) -> str:
    """The action of a scheduler stonith key `stonith-<node>-<action>`."""
    return key.rsplit("-", 1)[1]
