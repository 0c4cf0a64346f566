"""What a recorded operation result means: a probe's answer, the code it was
expected to return, and whether it is a failure — pure.

Shared by everything that reads history: the scheduler (on-fail, bans), the
node daemon (fail counts), the store's status building and the operators' views.
"""

from __future__ import annotations

from pacer.status.types import (
    OCF_DEGRADED,
    OCF_DEGRADED_PROMOTED,
    OCF_NOT_RUNNING,
    OCF_RUNNING_PROMOTED,
    OCF_SUCCESS,
    OP_CANCELLED,
    OP_DONE,
    OP_ERROR,
    OP_PENDING,
    OpRecord,
)

# A degraded result counts as the plain one: still running (promoted).
DEGRADED_AS = {OCF_DEGRADED: OCF_SUCCESS, OCF_DEGRADED_PROMOTED: OCF_RUNNING_PROMOTED}


def is_probe(op: OpRecord) -> bool:
    """A one-shot monitor: "is it running here?"."""
    return op.operation == "monitor" and op.interval_ms == 0


def expected_rc(op: OpRecord) -> int:
    """The code the operation was expected to return: recorded, else what a
    probe (not running) or any other operation (success) expects."""
    if op.expected_rc is not None:
        return op.expected_rc
    return OCF_NOT_RUNNING if is_probe(op) else OCF_SUCCESS


def is_failure(op: OpRecord) -> bool:
    """Did the operation fail? (A probe's running / not running / promoted are answers.)"""
    if op.op_status in (OP_PENDING, OP_CANCELLED):
        return False
    if op.op_status not in (OP_DONE, OP_ERROR):
        return True
    expected = expected_rc(op)
    if DEGRADED_AS.get(op.rc, op.rc) == expected:
        return False
    return not (is_probe(op) and op.rc in (OCF_SUCCESS, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED))
