"""Clone instances: which history belongs to which instance.

A clone `C` of primitive `R` becomes `clone-max` instance resources `R:0 ..`;
a clone of group `G` (members A, B) becomes groups `G:0 ..` whose members are
`A:0, B:0 ..`. Instances are ordinary `Rsc` objects (children of the clone's
`Rsc`), so placement, actions and the summary treat them like any primitive
or group, with clone-specific steps in `assignment.py` (the clone placed as a
whole), `roles.py` (promotion) and `clone_actions.py`. A clone's options are
the model's (`pacer.model.clones.CloneOptions`).

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

from pacer.model.meta import STOPPED
from pacer.scheduler.history import NodeHistory
from pacer.status.instances import split_instance_id


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
