"""Small pure rules: fail counts and what the node believes runs where.

Kept apart from the daemon so each can be tested as a table.
"""

from __future__ import annotations

from enum import IntEnum

from pacer.model.meta import INFINITY, format_score, parse_score
from pacer.status.failures import is_failure
from pacer.status.types import OCF_DEGRADED as DEGRADED
from pacer.status.types import OCF_DEGRADED_PROMOTED as DEGRADED_PROMOTED
from pacer.status.types import (
    OCF_ERR_INSTALLED,
    OCF_NOT_RUNNING,
    OCF_RUNNING_PROMOTED,
    OCF_SUCCESS,
    OP_DONE,
    OP_NOT_INSTALLED,
    OpRecord,
)


def fail_attribute_suffix(hist_id: str, operation: str, interval_ms: int) -> str:
    """`<histid>#<op>_<interval>`, the per-operation suffix Pacemaker 2.1 uses."""
    return f"{hist_id}#{operation}_{interval_ms}"


def failure_attributes(hist_id: str, op: OpRecord, current_count: str | None,
                       start_failure_is_fatal: bool, now: int) -> dict[str, str]:
    """The transient attributes a finished operation sets: none unless it failed
    (rc != expected, a probe's 0/7/8 are answers); then the fail count goes up by
    one, or to INFINITY for a failed start when start-failure-is-fatal, and the
    last-failure time is `now` (epoch seconds)."""
    if not is_failure(op):
        return {}
    suffix = fail_attribute_suffix(hist_id, op.operation, op.interval_ms)
    if op.operation == "start" and start_failure_is_fatal:
        count = INFINITY
    else:
        try:
            current = parse_score(current_count or "0", lenient=True)
        except ValueError:
            current = 0
        count = min(INFINITY, max(0, current) + 1)
    return {f"fail-count-{suffix}": format_score(count), f"last-failure-{suffix}": str(now)}


class Activity(IntEnum):
    """What the node believes of one instance: the self-fence stops all but STOPPED."""

    STOPPED = 0
    STARTED = 1
    PROMOTED = 2


def next_activity(current: Activity, task: str, rc: int, op_status: int) -> Activity:
    """The belief after an operation. Doubt counts as active: an action that
    failed or was interrupted may have left something running, and stopping a
    stopped resource is harmless where leaving one running is not."""
    if op_status == OP_NOT_INSTALLED or rc == OCF_ERR_INSTALLED:
        return current  # no agent here: it did nothing
    ok = op_status == OP_DONE
    if task == "stop":
        return Activity.STOPPED if ok and rc == OCF_SUCCESS else current
    if task in ("start", "migrate_from"):
        return max(current, Activity.STARTED)
    if task == "promote":
        return Activity.PROMOTED
    if task == "demote":
        return Activity.STARTED if ok and rc == OCF_SUCCESS else current
    if task == "monitor":
        if ok and rc == OCF_NOT_RUNNING:
            return Activity.STOPPED
        if ok and rc in (OCF_SUCCESS, DEGRADED):
            return Activity.STARTED
        if ok and rc in (OCF_RUNNING_PROMOTED, DEGRADED_PROMOTED):
            return Activity.PROMOTED
        return max(current, Activity.STARTED)
    return current  # notify, migrate_to, reload-agent, cancel: no change of state
