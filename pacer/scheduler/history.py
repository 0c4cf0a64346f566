"""Interpret one resource's operation history on one node — pure.

The result says what the scheduler needs: the role the resource is in there,
whether it failed (and what on-fail asks for), whether the node must be banned
for it, whether an operation is still in flight, and the digest to compare with
the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pacer.model.definition import Primitive
from pacer.model.meta import PROMOTED, STARTED, STOPPED, UNPROMOTED
from pacer.status.failures import DEGRADED_AS, expected_rc, is_failure, is_probe
from pacer.status.types import (
    OCF_ERR_ARGS,
    OCF_ERR_CONFIGURED,
    OCF_ERR_INSTALLED,
    OCF_FAILED_PROMOTED,
    OCF_NOT_RUNNING,
    OCF_RUNNING_PROMOTED,
    OCF_SUCCESS,
    OP_CANCELLED,
    OP_DONE,
    OP_ERROR,
    OP_ERROR_FATAL,
    OP_ERROR_HARD,
    OP_NOT_INSTALLED,
    OP_PENDING,
    OpRecord,
)

# Results that mean "this node can never run it" when the agent reported them
# itself (op-status done); op-status "error" recorded by old versions stays soft.
HARD_RCS = {OCF_ERR_ARGS, 3, 4, OCF_ERR_INSTALLED}


@dataclass
class NodeHistory:
    """What the history of resource R on node N means."""

    role: str = STOPPED
    known: bool = False  # any history at all (no probe needed)
    failed: bool = False
    failed_op: OpRecord | None = None
    on_fail: str | None = None  # effective on-fail of the failure that is current
    # A promoted-role failure with on-fail=demote: demoted in place, not recovered,
    # and not promoted again there in this transition.
    demote_failed: bool = False
    ban_node: bool = False  # hard error or not installed here
    fatal: bool = False  # not configured: banned everywhere
    stop_failed: bool = False
    pending: str | None = None  # task of an in-flight operation
    last_op: OpRecord | None = None  # op that set the current state
    # Non-recurring operations since the resource was last stopped here: the
    # ones whose recorded digests say whether its definition changed since.
    active_ops: list[OpRecord] = field(default_factory=list)
    partial_migration_target: str | None = None
    partial_migration_source: str | None = None
    migrate_to_failed: bool = False
    migrated_to: OpRecord | None = None  # the latest successful migrate_to from here
    latest_time: int = 0  # when the newest operation here ran (epoch s)
    # Recorded for another agent (class, provider or type changed since): its
    # failures here are forgotten, and a running instance is replaced.
    agent_changed: bool = False
    recurring: dict[tuple[str, int], OpRecord] = field(default_factory=dict)
    last_failure_ts: int = 0
    # Failures of operations with on-fail=ignore, and any other failures: a
    # fail count made only of ignored failures does not reach migration-threshold.
    ignored_failures: bool = False
    counted_failures: bool = False
    expired_failures: list[OpRecord] = field(default_factory=list)
    shutdown_lock: int | None = None  # locked here when the node shut down (epoch s)


def default_on_fail(op_name: str, stonith_enabled: bool) -> str:
    if op_name == "stop":
        return "fence" if stonith_enabled else "block"
    return "restart"


def configured_on_fail(prim: Primitive | None, op: OpRecord, stonith_enabled: bool,
                       op_defaults: Mapping[str, str]) -> str:
    name = op.operation
    interval = op.interval_ms
    if prim is not None:
        # A disabled operation still says how its past failures are handled.
        for o in prim.operations:
            if o.name == name and o.interval_ms == interval and o.on_fail:
                return _normalize_on_fail(o.on_fail, name, stonith_enabled)
    default = op_defaults.get("on-fail")
    if default:
        return _normalize_on_fail(default, name, stonith_enabled)
    return default_on_fail(name, stonith_enabled)


def _normalize_on_fail(value: str, op_name: str, stonith_enabled: bool) -> str:
    value = value.lower()
    if value == "fence" and not stonith_enabled:
        return "stop"
    if value not in ("ignore", "block", "stop", "restart", "standby", "fence", "demote",
                     "restart-container", "reset"):
        return default_on_fail(op_name, stonith_enabled)
    return value


def _sort_key(op: OpRecord) -> tuple[int, int]:
    # Pending operations (call-id -1) sort last.
    # Equal call ids (an operation and its last_failure record): older change first.
    return (1, 0, 0) if op.call_id < 0 else (0, op.call_id, op.last_rc_change)


def interpret(
    ops: tuple[OpRecord, ...] | list[OpRecord],
    prim: Primitive | None,
    stonith_enabled: bool,
    op_defaults: Mapping[str, str],
    failure_timeout_s: int = 0,
    now: int = 0,
) -> NodeHistory:
    h = NodeHistory()
    if not ops:
        return h
    h.known = True
    h.latest_time = max(op.last_rc_change or op.last_run for op in ops)
    for op in sorted(ops, key=_sort_key):
        if failure_timeout_s > 0 and is_failure(op) and op.operation != "stop":
            changed = op.last_rc_change or op.last_run
            if changed and now > changed + failure_timeout_s:
                h.expired_failures.append(op)
                continue  # an expired failure is forgotten
        _apply(h, op, prim, stonith_enabled, op_defaults)
    return h


def _apply(h: NodeHistory, op: OpRecord, prim: Primitive | None, stonith: bool,
           op_defaults: Mapping[str, str]) -> None:
    task = op.operation
    if op.interval_ms > 0 and task == "monitor":
        h.recurring[(task, op.interval_ms)] = op
    if op.op_status == OP_CANCELLED:
        return
    if op.interval_ms == 0:
        h.active_ops.append(op)
    if op.op_status == OP_PENDING or op.rc == 193:
        h.pending = task
        if task in ("start", "migrate_from"):
            h.role = STARTED
        elif task == "promote":
            h.role = PROMOTED
        elif task == "migrate_to":
            h.partial_migration_target = op.migrate_target
        return
    expected = expected_rc(op)
    rc = DEGRADED_AS.get(op.rc, op.rc)
    if is_probe(op) and op.op_status == OP_NOT_INSTALLED:
        # The executor found no agent for it here: not running, cannot run here.
        h.ban_node = True
        h.role = STOPPED
        h.last_op = op
        h.active_ops = []
        return
    failed = False
    hard = op.op_status in (OP_ERROR_HARD, OP_NOT_INSTALLED)
    fatal = op.op_status == OP_ERROR_FATAL
    if op.op_status in (OP_DONE, OP_ERROR):
        if rc == expected:
            failed = False
        elif is_probe(op) and rc in (OCF_SUCCESS, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED):
            failed = False
        elif is_probe(op) and rc == OCF_ERR_INSTALLED:
            # Not installed here: cannot run here, but not a failure.
            h.ban_node = True
            h.role = STOPPED
            h.last_op = op
            return
        else:
            failed = True
    else:
        failed = True

    if not failed:
        _success(h, op)
        return

    # A failure.
    h.last_failure_ts = max(h.last_failure_ts, op.last_rc_change or op.last_run)
    on_fail = configured_on_fail(prim, op, stonith, op_defaults)
    # on-fail=ignore covers what the agent said, not an executor that could not run it.
    ignorable = not hard and not fatal
    if op.op_status == OP_DONE:
        hard = hard or rc in HARD_RCS
        fatal = fatal or rc == OCF_ERR_CONFIGURED
    elif op.op_status == OP_ERROR:
        hard = hard or rc in (OCF_ERR_ARGS, OCF_ERR_INSTALLED)
        fatal = fatal or rc == OCF_ERR_CONFIGURED
    if on_fail != "ignore" or not ignorable:
        h.ban_node = h.ban_node or hard
        h.fatal = h.fatal or fatal
    if on_fail == "ignore" and ignorable:
        # The failure is recorded but does not change the state.
        h.ignored_failures = True
        if task in ("start", "monitor", "promote", "demote") and h.role == STOPPED:
            h.role = STARTED
        return
    h.counted_failures = True
    if on_fail == "demote" and (task == "promote" or (task == "monitor" and op.interval_ms > 0)):
        # (on-fail=demote is only valid there; elsewhere it was the default)
        h.on_fail = on_fail
        h.demote_failed = True
        h.role = PROMOTED
        h.last_op = op
        return
    h.failed = True
    h.failed_op = op
    h.on_fail = on_fail
    if task == "stop":
        h.stop_failed = True
        if h.role == STOPPED:
            h.role = STARTED
    elif task == "migrate_to":
        h.migrate_to_failed = True
        h.role = STARTED
    elif task == "migrate_from":
        h.role = STARTED
    elif task == "demote":
        h.role = UNPROMOTED  # a failed demote leaves it (at best) unpromoted
    elif rc in (OCF_RUNNING_PROMOTED, OCF_FAILED_PROMOTED):
        h.role = PROMOTED
    elif task == "promote":
        h.role = PROMOTED
    elif task == "monitor" and op.interval_ms == 0 and rc == OCF_NOT_RUNNING:
        h.role = STOPPED
        h.failed = False
    else:
        if h.role == STOPPED:
            h.role = STARTED
    h.last_op = op


def _success(h: NodeHistory, op: OpRecord) -> None:
    task = op.operation
    rc = op.rc
    clears = True
    if task == "stop":
        h.role = STOPPED
        h.partial_migration_target = None
        h.active_ops = []
    elif task == "start":
        # A start that was expected to find it not running (rc 7 = the
        # transition key's target) leaves it stopped (unfence-startup).
        h.role = STOPPED if rc == OCF_NOT_RUNNING else STARTED
    elif task == "promote":
        h.role = PROMOTED
    elif task == "demote":
        h.role = UNPROMOTED
        # A demote clears an earlier failure only when that failure asked for
        # the demote (on-fail=demote); otherwise it still needs recovery
        # (promoted-demote-2).
        clears = h.on_fail == "demote"
    elif task == "migrate_from":
        h.role = STARTED
        h.partial_migration_source = op.migrate_source
    elif task == "migrate_to":
        h.role = STARTED
        h.partial_migration_target = op.migrate_target
        h.migrated_to = op
    elif task == "monitor":
        if rc == OCF_NOT_RUNNING:
            h.role = STOPPED
            h.active_ops = []
        elif rc == OCF_RUNNING_PROMOTED:
            h.role = PROMOTED
        elif op.interval_ms == 0 or h.role == STOPPED:
            if h.role != PROMOTED or op.interval_ms == 0:
                h.role = STARTED if rc == OCF_SUCCESS else h.role
        # A recurring monitor that succeeds again after it failed clears that
        # failure's on-fail (the fail count stays: monitor-recovery).
        # (on-fail=stop, fence or standby is never cleared so: monitor-onfail-stop)
        clears = op.interval_ms == 0 or (
            h.failed_op is not None and h.failed_op.operation == "monitor"
            and h.failed_op.interval_ms == op.interval_ms
            and h.on_fail not in ("stop", "fence", "standby"))
    else:
        clears = False
    if clears:
        h.failed = False
        h.failed_op = None
        h.on_fail = None
        h.stop_failed = False
        h.migrate_to_failed = False
        h.demote_failed = False
    if task not in ("notify", "cancel", "meta-data") and op.interval_ms == 0:
        h.last_op = op
