"""pacer's scheduler: `schedule(definition, status, now)` → `ScheduleResult`.

This package's public face (the only names code outside it imports): the
entry point, the result and what it holds, and `monitors_after` (the recurring
monitors an action asks for once it completed). Everything else is the
pipeline's insides (README.md draws it).
"""

from pacer.scheduler.api import schedule
from pacer.scheduler.explanation import Contribution
from pacer.scheduler.monitors import MonitorRequest, monitors_after
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.probes import ProbeRequest
from pacer.scheduler.result import ScheduleResult
from pacer.scheduler.transition import PlannedAction, Transition
from pacer.scheduler.view import (
    ActionState,
    ClusterView,
    ColocationState,
    Explanation,
    NodeHealth,
    ResourceActions,
    ResourceState,
)

__all__ = [
    "ActionState",
    "ClusterOptions",
    "ClusterView",
    "ColocationState",
    "Contribution",
    "Explanation",
    "MonitorRequest",
    "NodeHealth",
    "PlannedAction",
    "ProbeRequest",
    "ResourceActions",
    "ResourceState",
    "ScheduleResult",
    "Transition",
    "monitors_after",
    "schedule",
]
