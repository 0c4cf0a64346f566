"""A clone's options as configured (clone-max, interleave, promotable, ...),
typed, with Pacemaker's defaults — read by the scheduler, the node daemon (the
clone meta an agent gets) and the simulator's invariants."""

from __future__ import annotations

from dataclasses import dataclass

from pacer.model.meta import parse_bool, parse_score


@dataclass(frozen=True)
class CloneOptions:
    clone_max: int
    clone_node_max: int
    unique: bool
    interleave: bool
    promotable: bool
    promoted_max: int
    promoted_node_max: int
    notify: bool
    clone_min: int
    ordered: bool

    @staticmethod
    def from_meta(meta: dict[str, str], n_nodes: int, promotable: bool) -> CloneOptions:
        def num(names: tuple[str, ...], default: int) -> int:
            for n in names:
                v = meta.get(n)
                if v is not None:
                    try:
                        return max(0, parse_score(v, lenient=True))
                    except ValueError:
                        return default
            return default

        def flag(name: str, default: bool) -> bool:
            v = meta.get(name)
            return default if v is None else parse_bool(v, default=default)

        promotable = promotable or flag("promotable", False)
        unique = flag("globally-unique", False)
        clone_max = num(("clone-max",), max(1, n_nodes))
        node_max = num(("clone-node-max",), 1)
        if not unique:
            node_max = 1  # an anonymous clone has one instance per node at most
        return CloneOptions(
            clone_max=clone_max,
            clone_node_max=max(1, node_max),
            unique=unique,
            interleave=flag("interleave", False),
            promotable=promotable,
            promoted_max=num(("promoted-max", "master-max"), 1),
            promoted_node_max=num(("promoted-node-max", "master-node-max"), 1),
            notify=flag("notify", False),
            clone_min=num(("clone-min",), 0),
            ordered=flag("ordered", False),
        )
