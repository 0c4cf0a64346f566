"""From a process to an `ActionResult`: what every runner shares.

Timeouts, signals and processes that cannot be started are reported the same
way for every class of agent; only the mapping of a normal exit status to an
OCF rc differs (OCF, LSB, systemd), and that stays with each runner.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence

from pacer.agents.api import (
    EXIT_REASON_PREFIX,
    ActionRequest,
    ActionResult,
    NodeEnvironment,
    spawn_failed,
    timed_out,
)
from pacer.agents.proc import ProcessOutcome, run_process
from pacer.status.types import OCF_ERR_ARGS, OCF_ERR_GENERIC, OP_DONE, OP_ERROR

# meta-data of a large agent is tens of KiB; keep all of it, unlike action output.
METADATA_CAPTURE = 1024 * 1024
_MAX_REASON = 1024


async def execute(argv: Sequence[str], env: Mapping[str, str], request: ActionRequest,
                  node: NodeEnvironment, *, stdin: bytes | None = None
                  ) -> ProcessOutcome | ActionResult:
    """Run one action's process; an ActionResult when it could not even start."""
    try:
        node.ensure_dirs()
    except OSError as exc:
        return ActionResult(rc=OCF_ERR_GENERIC, op_status=OP_ERROR,
                            exit_reason=f"cannot prepare the node state directory: {exc}")
    try:
        return await run_process(
            argv, env=env, timeout_s=request.effective_timeout_ms / 1000, cwd=str(node.state_dir),
            stdin=stdin, kill_grace_s=node.kill_grace_s,
            capture_limit=(METADATA_CAPTURE if request.action in ("meta-data", "metadata")
                           else node.capture_limit),
            watch_prefix=EXIT_REASON_PREFIX.encode(),
        )
    except OSError as exc:
        return spawn_failed(exc)
    except ValueError as exc:  # a NUL byte in a parameter value
        return ActionResult(rc=OCF_ERR_ARGS, op_status=OP_DONE, exit_reason=str(exc))


def exit_reason(outcome: ProcessOutcome) -> str:
    """The last `ocf-exit-reason:` line on stderr, without the prefix."""
    if not outcome.marked_line:
        return ""
    return outcome.marked_line[len(EXIT_REASON_PREFIX):].strip()[:_MAX_REASON]


def abnormal_result(outcome: ProcessOutcome, request: ActionRequest) -> ActionResult | None:
    """The result of a timed-out or signalled process; None if it exited normally."""
    out, err = outcome.text("stdout"), outcome.text("stderr")
    reason = exit_reason(outcome)
    if outcome.timed_out:
        timeout_ms = request.effective_timeout_ms
        return timed_out(timeout_ms, outcome.duration_ms, out, err,
                         f"{request.action} timed out after {timeout_ms} ms"
                         + (f" ({reason})" if reason else ""))
    if outcome.exit_status is None:
        sig = outcome.signal or 0
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return ActionResult(rc=OCF_ERR_GENERIC, op_status=OP_ERROR, output=out, stderr=err,
                            exit_reason=reason or f"agent was killed by signal {name}",
                            duration_ms=outcome.duration_ms, signal=sig)
    return None


def exited_result(outcome: ProcessOutcome, rc: int, reason: str = "",
                  op_status: int = OP_DONE) -> ActionResult:
    return ActionResult(rc=rc, op_status=op_status, exit_reason=reason or exit_reason(outcome),
                        output=outcome.text("stdout"), stderr=outcome.text("stderr"),
                        duration_ms=outcome.duration_ms, exit_status=outcome.exit_status)
