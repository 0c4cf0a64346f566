"""Clone instances: options, instance objects, and which history belongs to which.

A clone `C` of primitive `R` becomes `clone-max` instance resources `R:0 ..`;
a clone of group `G` (members A, B) becomes groups `G:0 ..` whose members are
`A:0, B:0 ..`. Instances are ordinary `Rsc` objects (children of the clone's
`Rsc`), so placement, actions and the summary treat them like any primitive
or group, with clone-specific steps in `clone_placement.py` and `promotion.py`.

History binding (pacemaker-semantics-clones.md §3.1):
- anonymous clones ignore the number in history: walking nodes in status order,
  what is active on a node goes to the lowest-numbered instance not yet bound;
- globally-unique clones: `R:N` is instance N;
- anything past `clone-max` (or a second copy on one node) is an orphan
  instance that is stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pacer.model.meta import parse_bool, parse_score
from pacer.scheduler.history import STOPPED, NodeHistory


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


def split_instance_id(rid: str) -> tuple[str, int | None]:
    """`R:3` → ("R", 3); `R` → ("R", None)."""
    base, sep, num = rid.rpartition(":")
    if sep and num.isdigit():
        return base, int(num)
    return rid, None


@dataclass
class HistoryEntry:
    """One member's interpreted history on one node, waiting to be bound."""

    node: str
    member: int  # index of the member in a cloned group (0 for a primitive child)
    hist_id: str
    history: NodeHistory


def bind_histories(entries: list[HistoryEntry], node_order: list[str], unique: bool,
                   clone_max: int, bind: Callable[[int, HistoryEntry], None]) -> None:
    """Give each history entry its instance number; `bind(number, entry)` records it.

    Stopped histories (probes, clean stops) of anonymous clones carry no
    instance: they are bound to the lowest instance that has no history on that
    node, so they never make an instance look active.
    """
    if unique:
        for e in entries:
            _, n = split_instance_id(e.hist_id)
            bind(n if n is not None else 0, e)
        return
    taken: set[int] = set()
    rank = {n: i for i, n in enumerate(node_order)}
    by_node: dict[str, list[HistoryEntry]] = {}
    for e in entries:
        by_node.setdefault(e.node, []).append(e)

    def take(lowest: int) -> int:
        """The lowest instance number from `lowest` on that is still free."""
        n = lowest
        while n in taken:
            n += 1
        taken.add(n)
        return n

    has: set[tuple[int, str, int]] = set()
    idle: list[HistoryEntry] = []
    for node in sorted(by_node, key=lambda n: rank.get(n, len(rank))):
        es = by_node[node]
        # A cloned group's members on one node form one instance; a second
        # active copy of the same member is a duplicate instance.
        copies: dict[int, int] = {}
        numbers: list[int] = []
        for e in es:
            if e.history.role == STOPPED:
                idle.append(e)
                continue
            k = copies.get(e.member, 0)
            copies[e.member] = k + 1
            if k >= len(numbers):
                # A second copy on one node is a duplicate: an orphan past clone-max.
                numbers.append(take(0) if k == 0 else take(clone_max))
            has.add((numbers[k], node, e.member))
            bind(numbers[k], e)
    for e in idle:
        n = 0
        while (n, e.node, e.member) in has:
            n += 1
        if n >= clone_max:
            continue  # every instance already has history there
        has.add((n, e.node, e.member))
        bind(n, e)
