"""Fence agents (Debian's fence-agents: /usr/sbin/fence_*) and the `Fencer` on them.

Protocol (`shared/ocf-agents.md` §6): no argv, one `key=value` per line on
stdin. What goes on stdin is what Pacemaker's fencer sends: `action=` (after
`pcmk_<action>_action` substitution), `nodename=<target>`, the target under
the host argument (`pcmk_host_argument`, else `plug` or `port` as the
agent's meta-data lists them) mapped through `pcmk_host_map`, and every
device parameter except Pacemaker's own (`pcmk_*`, `CRM_meta_*`,
`crm_feature_set`). Exit status: 0 success; for `status` 0 means on and 2
off; anything else is a failure (the agents exit 1 whatever went wrong).

The same runner serves `stonith:fence_x` resources (start/stop register and
unregister a device, which needs no agent call; monitor runs the agent's
monitor) so `pacer ra` can list, describe and try fence agents too.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from pacer.agents.api import (
    ActionRequest,
    ActionResult,
    AgentSpec,
    FenceRequest,
    FenceResult,
    NodeEnvironment,
)
from pacer.agents.execute import abnormal_result, execute, exited_result
from pacer.agents.files import find_program, missing, programs
from pacer.agents.metadata import AgentMetadata, MetadataError, parse_metadata
from pacer.status.types import OCF_ERR_GENERIC, OCF_SUCCESS, OP_DONE, OP_TIMEOUT

DEFAULT_FENCE_DIRS = (Path("/usr/sbin"),)
FENCE_ACTIONS = ("off", "on", "reboot", "status", "monitor", "list", "list-status",
                 "metadata", "validate-all")
# Parameters that configure Pacemaker's handling of the device, not the agent.
_NOT_FOR_AGENT = re.compile(r"^(pcmk_|CRM_meta_|crm_feature_set$)")

FENCE_RC_OFF = 2


def parse_host_map(text: str) -> dict[str, str]:
    """`pcmk_host_map`: "node1:port1;node2:port2" (also `=`, and space/comma separated)."""
    mapping = {}
    for item in re.split(r"[;,\s]+", text.strip()):
        if not item:
            continue
        m = re.match(r"([^:=]+)[:=](.*)", item)
        if m:
            mapping[m.group(1)] = m.group(2)
    return mapping


def host_argument(params: Mapping[str, str], md: AgentMetadata | None) -> str | None:
    explicit = params.get("pcmk_host_argument")
    if explicit:
        return None if explicit == "none" else explicit
    if md is not None:
        for name in ("plug", "port"):
            if md.parameter(name) is not None:
                return name
    return None


def fence_stdin(request: FenceRequest, md: AgentMetadata | None) -> str:
    """The agent's stdin for one request (raises ValueError for values with newlines)."""
    params = request.params
    action = params.get(f"pcmk_{request.action}_action") or request.action
    lines = [("action", action)]
    if request.target:
        lines.append(("nodename", request.target))
        arg = host_argument(params, md)
        if arg and arg not in params:
            target = parse_host_map(params.get("pcmk_host_map", "")).get(request.target,
                                                                          request.target)
            lines.append((arg, target))
    for key, value in params.items():
        if not _NOT_FOR_AGENT.match(key) and key not in ("action", "nodename"):
            lines.append((key, str(value)))
    for key, value in lines:
        if "\n" in key or "\n" in value or "=" in key:
            raise ValueError(f"fence parameter {key!r} cannot be sent to the agent "
                             "(no '=' in names, no newlines anywhere)")
    return "".join(f"{k}={v}\n" for k, v in lines)


def _error_line(*texts: str) -> str:
    # fencing.py prints "ERROR: Failed: <why>" and then generic hints; keep the why.
    for marker in ("Failed", "ERROR"):
        for text in texts:
            for line in reversed(text.strip().splitlines()):
                if marker in line:
                    return line.strip()
    for text in texts:
        lines = text.strip().splitlines()
        if lines:
            return lines[-1].strip()
    return ""


class FenceAgentRunner:
    """A `Fencer` running fence agents, and the runner of `stonith:` resources."""

    standard = "stonith"

    def __init__(self, node: NodeEnvironment, dirs: Sequence[Path] = DEFAULT_FENCE_DIRS) -> None:
        self.node = node
        self.dirs = [Path(d) for d in dirs]
        self._metadata: dict[str, AgentMetadata] = {}
        self._prefetched: set[str] = set()

    def where(self, spec: AgentSpec) -> list[str]:
        return [str(d / spec.type) for d in self.dirs]

    def locate(self, spec: AgentSpec) -> Path | None:
        return find_program(self.dirs, spec.type) if spec.type.startswith("fence_") else None

    def list_agents(self) -> list[AgentSpec]:
        return [AgentSpec("stonith", name) for name in sorted(programs(self.dirs, "fence_*"))]

    async def _call(self, path: Path, request: FenceRequest, stdin: str
                    ) -> ActionResult:
        internal = ActionRequest(rsc_id=request.device, agent=AgentSpec("stonith", request.agent),
                                 action=request.action, timeout_ms=request.timeout_ms)
        outcome = await execute([str(path)], self.node.base_env(), internal, self.node,
                                stdin=stdin.encode())
        if isinstance(outcome, ActionResult):
            return outcome
        abnormal = abnormal_result(outcome, internal)
        if abnormal is not None:
            return abnormal
        assert outcome.exit_status is not None
        return exited_result(outcome, outcome.exit_status)

    async def metadata(self, spec: AgentSpec) -> AgentMetadata:
        cached = self._metadata.get(spec.type)
        if cached is not None:
            return cached
        path = self.locate(spec)
        if path is None:
            raise MetadataError(f"{spec} is not installed (looked for "
                                f"{', '.join(self.where(spec))})")
        result = await self._call(path, FenceRequest(device="", agent=spec.type,
                                                     action="metadata", timeout_ms=10_000),
                                  "action=metadata\n")
        if result.rc != 0 or result.op_status != OP_DONE:
            raise MetadataError(f"{spec} metadata failed: rc {result.rc}: "
                                f"{result.exit_reason or _error_line(result.stderr)}")
        md = parse_metadata(result.output)
        self._metadata[spec.type] = md
        return md

    async def fence(self, request: FenceRequest) -> FenceResult:
        spec = AgentSpec("stonith", request.agent)
        path = self.locate(spec)
        if path is None:
            return FenceResult(rc=OCF_ERR_GENERIC, ok=False,
                               error=f"fence agent {request.agent} is not installed "
                                     f"(looked for {', '.join(self.where(spec))})")
        md = None
        if request.target and not request.params.get("pcmk_host_argument"):
            try:
                md = await self.metadata(spec)
            except MetadataError as exc:
                return FenceResult(rc=OCF_ERR_GENERIC, ok=False, error=str(exc))
        try:
            stdin = fence_stdin(request, md)
        except ValueError as exc:
            return FenceResult(rc=OCF_ERR_GENERIC, ok=False, error=str(exc))
        result = await self._call(path, request, stdin)
        rc = result.exit_status if result.exit_status is not None else OCF_ERR_GENERIC
        is_status = request.action == "status"
        ok = not result.timed_out and (rc == 0 or (is_status and rc == FENCE_RC_OFF))
        power = None
        if is_status and ok:
            power = "on" if rc == 0 else "off"
        return FenceResult(
            rc=rc, ok=ok, power=power, output=result.output, stderr=result.stderr,
            error="" if ok else (result.exit_reason if result.timed_out or result.signal
                                 else _error_line(result.stderr, result.output)),
            duration_ms=result.duration_ms, timed_out=result.timed_out,
        )

    async def run(self, request: ActionRequest) -> ActionResult:
        """A `stonith:` resource action (what `pacer ra run` uses)."""
        spec = request.agent
        if self.locate(spec) is None:
            return missing(spec, self.where(spec))
        if request.action in ("start", "monitor") and spec.type not in self._prefetched:
            self._prefetched.add(spec.type)
            # Every node probes the device when it joins: learn the agent's
            # metadata then, so that a fence later (this node's controller,
            # possibly elected because a host just died) runs the agent once,
            # not twice (lab: +0.08 s on the takeover).
            with contextlib.suppress(MetadataError):
                await self.metadata(spec)
        if request.action in ("start", "stop"):
            return ActionResult(rc=OCF_SUCCESS)
        action = {"meta-data": "metadata"}.get(request.action, request.action)
        result = await self.fence(FenceRequest(
            device=request.rsc_id, agent=spec.type, action=action,
            params=request.params, timeout_ms=request.timeout_ms))
        if result.timed_out:
            return ActionResult(rc=OCF_ERR_GENERIC, op_status=OP_TIMEOUT, timed_out=True,
                                exit_reason=result.error, output=result.output,
                                stderr=result.stderr, duration_ms=result.duration_ms)
        return ActionResult(rc=OCF_SUCCESS if result.ok else OCF_ERR_GENERIC,
                            exit_reason=result.error, output=result.output,
                            stderr=result.stderr, duration_ms=result.duration_ms,
                            exit_status=result.rc)
