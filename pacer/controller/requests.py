"""From planned actions to the requests node daemons run (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pacer.node.mapping import STOP_TIMEOUT_KEY
from pacer.scheduler import MonitorRequest, PlannedAction, ProbeRequest
from pacer.store.cluster import NodeRequest

OCF_NOT_RUNNING = 7


class RequestIds:
    """Action ids `<token>.<transition>.<n>`: unique for ever, since a token is
    never reused (it is a store revision)."""

    def __init__(self, token: int) -> None:
        self.token = token
        self.transition = 0
        self._n = 0

    def next_transition(self) -> int:
        self.transition += 1
        self._n = 0
        return self.transition

    def next(self) -> str:
        self._n += 1
        return f"{self.token}.{self.transition}.{self._n}"


# Tasks after which the instance may run on the node: their requests also say
# how long stopping it may take, for a self-fence that stops it unasked.
ACTIVATING = frozenset({"start", "promote", "migrate_from"})


@dataclass(frozen=True)
class Context:
    """What every request of one round is built with."""

    ids: RequestIds
    definition_revision: int
    # (instance, task, interval_ms) → the operation's effective timeout (ms).
    timeout_ms: Callable[[str, str, int], int]
    members: Mapping[str, int]  # member → its lease, as the round saw them


def _request(ctx: Context, node: str, rsc: str, task: str, interval_ms: int,
             extra: Mapping[str, str]) -> NodeRequest:
    extra = dict(extra)
    if task in ACTIVATING:
        extra[STOP_TIMEOUT_KEY] = str(ctx.timeout_ms(rsc, "stop", 0))
    return NodeRequest(id=ctx.ids.next(), token=ctx.ids.token, node=node, task=task,
                       rsc=rsc, interval_ms=interval_ms,
                       definition_revision=ctx.definition_revision,
                       transition=ctx.ids.transition,
                       timeout_ms=ctx.timeout_ms(rsc, task, interval_ms), extra=extra,
                       lease=ctx.members.get(node, 0))


def for_action(a: PlannedAction, ctx: Context) -> NodeRequest:
    assert a.node is not None and a.rsc is not None
    # Every planned action succeeds with 0; a planned migration is carried out
    # as stop + start (the scheduler plans both), so no task needs mapping.
    return _request(ctx, a.node, a.rsc, a.task, a.interval_ms,
                    {"expected_rc": "0", **a.extra})


def for_probe(p: ProbeRequest, ctx: Context) -> NodeRequest:
    return _request(ctx, p.node, p.rsc, "monitor", 0,
                    {"expected_rc": str(OCF_NOT_RUNNING)})


def for_monitor(m: MonitorRequest, ctx: Context) -> NodeRequest:
    return _request(ctx, m.node, m.rsc, "monitor", m.interval_ms,
                    {"expected_rc": str(m.expected_rc)})
