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
from pacer.store.cluster import WATCHDOG_ATTR


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


def fence_action(key: str) -> str:
    """The action of a scheduler stonith key `stonith-<node>-<action>`."""
    return key.rsplit("-", 1)[1]
