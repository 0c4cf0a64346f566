"""From planned actions to the requests node daemons run (pure)."""

from __future__ import annotations

from pacer.controller.monitors import MonitorRequest
from pacer.controller.probes import Probe
from pacer.scheduler.transition import PlannedAction
from pacer.store.cluster import ActionRequest

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


def for_action(a: PlannedAction, ids: RequestIds, definition_revision: int) -> ActionRequest:
    assert a.node is not None and a.rsc is not None
    # Every planned action succeeds with 0; a planned migration is carried out
    # as stop + start (the scheduler plans both), so no task needs mapping.
    extra = {"expected_rc": "0", **a.extra}
    return ActionRequest(id=ids.next(), token=ids.token, node=a.node,
                         task=a.task, rsc=a.rsc, interval_ms=a.interval_ms,
                         definition_revision=definition_revision, transition=ids.transition,
                         extra=extra)


def for_probe(p: Probe, ids: RequestIds, definition_revision: int) -> ActionRequest:
    return ActionRequest(id=ids.next(), token=ids.token, node=p.node, task="monitor",
                         rsc=p.rsc, interval_ms=0, definition_revision=definition_revision,
                         transition=ids.transition,
                         extra={"expected_rc": str(OCF_NOT_RUNNING)})


def for_monitor(m: MonitorRequest, ids: RequestIds, definition_revision: int) -> ActionRequest:
    return ActionRequest(id=ids.next(), token=ids.token, node=m.node, task="monitor",
                         rsc=m.rsc, interval_ms=m.interval_ms,
                         definition_revision=definition_revision, transition=ids.transition,
                         timeout_ms=m.timeout_ms, extra={"expected_rc": str(m.expected_rc)})
