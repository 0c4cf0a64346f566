"""Part of the result: which resources must be probed where (pure).

The scheduler reads "no history on a node" as "not running there". That is
only true once the node has been asked: a node that (re)joins clears its own
history, so every resource is probed on it (`monitor` with interval 0) and
the answers — running, not running, promoted — are what the next schedule
starts from. Pacemaker puts these probes at the front of a transition; pacer's
controller runs them as their own step (and schedules again once they are
answered), with the same effect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pacer.model.clones import CloneOptions
from pacer.model.definition import Clone, Definition, Group, Primitive, Resource
from pacer.status.types import Status


@dataclass(frozen=True)
class ProbeRequest:
    """A one-shot monitor to run: is `rsc` running on `node`?"""

    node: str
    rsc: str  # the id the node records history under


def probe_targets(defn: Definition) -> Iterator[tuple[Primitive, str]]:
    """Every primitive with the id(s) a probe asks about, as a node keeps its
    history: the id, or `id:N` per instance of a globally-unique clone."""
    n_nodes = len(defn.nodes)

    def walk(r: Resource, clone: Clone | None) -> Iterator[tuple[Primitive, str]]:
        if isinstance(r, Clone):
            yield from walk(r.child, r)
        elif isinstance(r, Group):
            for m in r.members:
                yield from walk(m, clone)
        elif clone is not None:
            opts = CloneOptions.from_meta(dict(clone.meta), n_nodes, clone.promotable)
            if opts.unique:
                for i in range(opts.clone_max):
                    yield r, f"{r.id}:{i}"
            else:
                yield r, r.id
        else:
            yield r, r.id

    for r in defn.resources:
        yield from walk(r, None)


def _never_discovered(defn: Definition, rsc: str, node: str) -> bool:
    """A location with resource-discovery=never for this node: do not probe there."""
    return any(loc.rsc == rsc and loc.node == node and loc.resource_discovery == "never"
               for loc in defn.locations)


def needed_probes(defn: Definition, status: Status) -> list[ProbeRequest]:
    """Probes still missing on member nodes, in node then configuration order."""
    out: list[ProbeRequest] = []
    prims = list(probe_targets(defn))
    for name, ns in sorted(status.node_states.items()):
        if ns.in_ccm != "true":
            continue
        known = {h.rsc for h in ns.history}
        for prim, hid in prims:
            # Fence devices are not resources a node runs (see the node daemon).
            if prim.agent_class == "stonith":
                continue
            if hid not in known and not _never_discovered(defn, prim.id, name):
                out.append(ProbeRequest(name, hid))
    return out
