"""The agent interface: what the node daemon asks of an agent and what it gets back.

The node daemon (and the fault simulator, which substitutes its own runner)
sees agents only through `AgentRunner.run(ActionRequest) -> ActionResult` and
fencing only through `Fencer.fence(FenceRequest) -> FenceResult`. Results are
recorded the way Pacemaker's executor records them (`rc` + `op_status`, see
`pacer.status.types`), so the scheduler reads them like CIB history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from pacer.model.timeouts import DEFAULT_TIMEOUT_MS  # noqa: F401 (re-exported)
from pacer.status.types import (
    OCF_DEGRADED,
    OCF_DEGRADED_PROMOTED,
    OCF_ERR_GENERIC,
    OCF_RC_NAMES,
    OP_DONE,
    OP_ERROR,
    OP_NOT_INSTALLED,
    OP_TIMEOUT,
    OpRecord,
)

EMPTY: Mapping[str, str] = MappingProxyType({})


def _empty() -> Mapping[str, str]:
    return EMPTY

# 0..9 are OCF's own codes; 190/191 are Pacemaker's "degraded" extensions.
KNOWN_OCF_RCS = frozenset(range(10)) | {OCF_DEGRADED, OCF_DEGRADED_PROMOTED}

OP_STATUS_NAMES = {
    -1: "pending", 0: "complete", 1: "cancelled", 2: "timed out",
    3: "not supported", 4: "error", 5: "hard error", 6: "fatal error",
    7: "not installed", 8: "not connected", 9: "invalid",
}

DEFAULT_FEATURE_SET = "3.16.2"
EXIT_REASON_PREFIX = "ocf-exit-reason:"

_SPEC_PART = re.compile(r"[A-Za-z0-9_.@+-][A-Za-z0-9_.@:+-]*")


class AgentError(Exception):
    """A problem with an agent itself (not with one of its actions)."""


class AgentNotFoundError(AgentError):
    """No installed agent matches a spec; the message says what was looked for, where."""

    def __init__(self, spec: str, looked_in: list[str], suggestions: list[str],
                 detail: str = "") -> None:
        self.spec = spec
        self.looked_in = looked_in
        self.suggestions = suggestions
        text = f"agent {spec} not found"
        if detail:
            text += f": {detail}"
        if looked_in:
            text += f" (looked for {', '.join(looked_in)})"
        if suggestions:
            text += f"; did you mean {' or '.join(suggestions)}?"
        super().__init__(text)


@dataclass(frozen=True, order=True)
class AgentSpec:
    """`class:provider:type` as Pacemaker writes it (`ocf:heartbeat:IPaddr2`),
    or `class:type` for classes without providers (`systemd:nginx`, `lsb:x`,
    `pacer:vip`, `stonith:fence_dummy`)."""

    standard: str
    type: str
    provider: str | None = None

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        parts = text.strip().split(":")
        if len(parts) < 2 or not all(parts):
            raise ValueError(f"{text!r} is not an agent spec; write class:provider:type "
                             "(ocf:heartbeat:IPaddr2) or class:type (systemd:nginx, pacer:vip)")
        standard = parts[0].lower()
        if standard == "ocf":
            if len(parts) != 3:
                raise ValueError(f"{text!r}: an OCF agent needs a provider: ocf:PROVIDER:TYPE "
                                 "(e.g. ocf:heartbeat:Dummy)")
            provider, type_ = parts[1], parts[2]
        else:
            # systemd unit names may contain ':' only escaped, so the rest is the type.
            provider, type_ = None, ":".join(parts[1:])
        for part in (provider, type_):
            if part is not None and (not _SPEC_PART.fullmatch(part) or "/" in part
                                     or part in (".", "..")):
                raise ValueError(f"{text!r}: {part!r} is not a valid agent name")
        return cls(standard=standard, type=type_, provider=provider)

    def __str__(self) -> str:
        if self.provider is not None:
            return f"{self.standard}:{self.provider}:{self.type}"
        return f"{self.standard}:{self.type}"


@dataclass(frozen=True)
class ActionRequest:
    """One action of one resource instance on this node.

    `instance` is what the agent sees as OCF_RESOURCE_INSTANCE: the resource id,
    with `:N` for clone instances. `params` are the configured instance
    attributes only (agents treat unset and empty differently). `meta` are the
    resource's and the op's meta attributes as written (`clone-max`,
    `notify`, ...); `interval_ms`/`timeout_ms` win over any interval/timeout
    in `meta`. `notify` holds the clone notification variables without their
    prefix (`type`, `operation`, `start_resource`, `active_uname`, ...).
    """

    rsc_id: str
    agent: AgentSpec
    action: str
    instance: str = ""
    params: Mapping[str, str] = field(default_factory=_empty)
    meta: Mapping[str, str] = field(default_factory=_empty)
    interval_ms: int = 0
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    notify: Mapping[str, str] = field(default_factory=_empty)
    check_level: int | None = None

    @property
    def instance_name(self) -> str:
        return self.instance or self.rsc_id

    @property
    def effective_timeout_ms(self) -> int:
        # 0 means "the default", as for a Pacemaker op without a timeout.
        return self.timeout_ms if self.timeout_ms > 0 else DEFAULT_TIMEOUT_MS

    @property
    def is_probe(self) -> bool:
        return self.action == "monitor" and self.interval_ms == 0


@dataclass(frozen=True)
class ActionResult:
    """What happened, recorded as Pacemaker's executor records it.

    `rc` is the OCF code the scheduler reads: 0..9 and 190/191 as the agent
    returned them, anything else mapped to 1 ("unknown error", a soft failure);
    `exit_status` keeps what the process really exited with. Interpreting rc
    against the expected result (a recurring monitor's rc 3, a probe's 7) is
    the caller's business.
    """

    rc: int
    op_status: int = OP_DONE
    exit_reason: str = ""
    output: str = ""
    stderr: str = ""
    duration_ms: int = 0
    timed_out: bool = False
    exit_status: int | None = None
    signal: int | None = None

    @property
    def degraded(self) -> bool:
        return self.rc in (OCF_DEGRADED, OCF_DEGRADED_PROMOTED)

    @property
    def rc_name(self) -> str:
        return OCF_RC_NAMES.get(self.rc, "unknown")

    @property
    def op_status_name(self) -> str:
        return OP_STATUS_NAMES.get(self.op_status, "unknown")

    def to_op_record(self, request: ActionRequest, node: str, *, call_id: int = 0,
                     now: int = 0, expected_rc: int | None = None) -> OpRecord:
        """This result as one entry of the resource's operation history."""
        return OpRecord(
            rsc=request.rsc_id, node=node, operation=request.action,
            interval_ms=request.interval_ms, call_id=call_id, rc=self.rc,
            op_status=self.op_status, expected_rc=expected_rc, last_rc_change=now,
            last_run=now, exec_time_ms=self.duration_ms,
            id=f"{request.rsc_id}_{request.action}_{request.interval_ms}",
        )


def map_ocf_rc(exit_status: int) -> int:
    """The rc Pacemaker records for an OCF agent's exit status (services__ocf2ocf)."""
    return exit_status if exit_status in KNOWN_OCF_RCS else OCF_ERR_GENERIC


def not_installed(reason: str) -> ActionResult:
    return ActionResult(rc=5, op_status=OP_NOT_INSTALLED, exit_reason=reason)


def timed_out(timeout_ms: int, duration_ms: int, output: str = "", stderr: str = "",
              exit_reason: str = "") -> ActionResult:
    return ActionResult(
        rc=OCF_ERR_GENERIC, op_status=OP_TIMEOUT, timed_out=True, duration_ms=duration_ms,
        output=output, stderr=stderr,
        exit_reason=exit_reason or f"timed out after {timeout_ms} ms",
    )


def spawn_failed(exc: OSError) -> ActionResult:
    if isinstance(exc, FileNotFoundError):
        return not_installed(f"cannot execute agent: {exc.strerror}: {exc.filename}")
    return ActionResult(rc=OCF_ERR_GENERIC, op_status=OP_ERROR,
                        exit_reason=f"cannot execute agent: {exc}")


@runtime_checkable
class AgentRunner(Protocol):
    """Runs resource agent actions. The node daemon's only way to touch resources."""

    async def run(self, request: ActionRequest) -> ActionResult: ...


@dataclass(frozen=True)
class NodeEnvironment:
    """Where one node daemon keeps agent state, and what agents see of the node.

    Several node daemons run on one machine in tests and in the lab, and agents
    keep state files under HA_RSCTMP/HA_VARRUN, so each node has its own
    `state_dir`; it must be cleared at boot, like /run.
    """

    state_dir: Path
    node_name: str | None = None
    shim_dir: Path | None = None
    feature_set: str = DEFAULT_FEATURE_SET
    base_path: str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Seconds between SIGTERM and SIGKILL to a timed-out action's process group.
    kill_grace_s: float = 2.0
    # Bytes of stdout and of stderr kept per action (the tail).
    capture_limit: int = 64 * 1024

    @property
    def rsctmp(self) -> Path:
        return self.state_dir / "rsctmp"

    @property
    def varrun(self) -> Path:
        return self.state_dir / "run"

    @property
    def sbin(self) -> Path:
        return self.shim_dir if self.shim_dir is not None else self.state_dir / "shims"

    def ensure_dirs(self) -> None:
        for d in (self.rsctmp, self.varrun, self.sbin):
            d.mkdir(parents=True, exist_ok=True)

    def base_env(self) -> dict[str, str]:
        """A clean environment: nothing of the daemon's own leaks into agents."""
        env = {
            "PATH": f"{self.sbin}:{self.base_path}",
            "HA_SBIN_DIR": str(self.sbin),
            "HA_RSCTMP": str(self.rsctmp),
            # Agents write "${HA_VARRUN%/}/x" or "$HA_VARRUN/x"; the slash suits both.
            "HA_VARRUN": f"{self.varrun}/",
            "LC_ALL": "C",
        }
        env.update(self.extra_env)
        return env


# --------------------------------------------------------------------------- fencing


@dataclass(frozen=True)
class FenceRequest:
    """One fence-agent action against one target node through one device.

    `params` are the device's parameters as configured, including Pacemaker's
    `pcmk_host_map`, `pcmk_host_argument` and `pcmk_<action>_action`, which are
    interpreted here and not passed to the agent.
    """

    device: str
    agent: str
    action: str
    target: str | None = None
    params: Mapping[str, str] = field(default_factory=_empty)
    timeout_ms: int = 60_000


@dataclass(frozen=True)
class FenceResult:
    rc: int
    ok: bool
    # For status: "on" (rc 0) or "off" (rc 2); None otherwise or on failure.
    power: str | None = None
    output: str = ""
    stderr: str = ""
    error: str = ""
    duration_ms: int = 0
    timed_out: bool = False


@runtime_checkable
class Fencer(Protocol):
    async def fence(self, request: FenceRequest) -> FenceResult: ...
