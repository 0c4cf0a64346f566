"""LSB init scripts (`lsb:NAME` → /etc/init.d/NAME ACTION).

Exit codes per the LSB spec (Core, "Init Script Actions"), mapped as
Pacemaker's services__lsb2ocf does: for every action except status the LSB
codes 0..7 mean what the OCF codes mean; for status (which is what monitor
runs) 0 is running, 1..3 are "not running" flavours, 4 is "unknown" (an
error), and anything unexpected is an unknown error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pacer.agents.api import (
    ActionRequest,
    ActionResult,
    AgentSpec,
    NodeEnvironment,
)
from pacer.agents.execute import abnormal_result, execute, exited_result
from pacer.agents.files import find_program, missing, programs
from pacer.agents.metadata import (
    AgentMetadata,
    MetadataError,
    metadata_xml,
    synthesize_metadata,
)
from pacer.status.types import (
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
)

DEFAULT_INIT_DIRS = (Path("/etc/init.d"),)

LSB_STATUS_OK = 0
LSB_STATUS_VAR_PID = 1  # dead, but a pid file exists
LSB_STATUS_VAR_LOCK = 2  # dead, but a lock file exists
LSB_STATUS_NOT_RUNNING = 3
LSB_STATUS_UNKNOWN = 4
# Pacemaker's own additions, from the range the LSB reserves for applications.
LSB_STATUS_NOT_INSTALLED = 150
LSB_STATUS_INSUFFICIENT_PRIV = 151

_STATUS_TO_OCF = {
    LSB_STATUS_OK: OCF_SUCCESS,
    LSB_STATUS_VAR_PID: OCF_NOT_RUNNING,
    LSB_STATUS_VAR_LOCK: OCF_NOT_RUNNING,
    LSB_STATUS_NOT_RUNNING: OCF_NOT_RUNNING,
    LSB_STATUS_NOT_INSTALLED: OCF_ERR_INSTALLED,
    LSB_STATUS_INSUFFICIENT_PRIV: OCF_ERR_PERM,
}

LSB_ACTIONS = {"start": 15_000, "stop": 15_000, "status": 15_000, "restart": 15_000,
               "force-reload": 15_000, "monitor": 15_000, "meta-data": 5_000}


def lsb_to_ocf(action: str, exit_status: int) -> int:
    if action in ("status", "monitor"):
        return _STATUS_TO_OCF.get(exit_status, OCF_ERR_GENERIC)
    # Outside status the LSB codes 0..7 coincide with OCF's.
    return exit_status if 0 <= exit_status <= 7 else OCF_ERR_GENERIC


def lsb_header(text: str) -> dict[str, str]:
    """The `### BEGIN INIT INFO` block: keyword → value (continuation lines joined)."""
    m = re.search(r"^### BEGIN INIT INFO\s*$(.*?)^### END INIT INFO", text, re.M | re.S)
    fields: dict[str, str] = {}
    if not m:
        return fields
    last = None
    for line in m.group(1).splitlines():
        kv = re.match(r"#\s*([A-Za-z-]+):\s*(.*)", line)
        if kv:
            last = kv.group(1)
            fields[last] = kv.group(2).strip()
        elif last and re.match(r"#(\t|  )", line):
            fields[last] += " " + line[1:].strip()
    return fields


class LsbRunner:
    standard = "lsb"

    def __init__(self, node: NodeEnvironment, dirs: Sequence[Path] = DEFAULT_INIT_DIRS) -> None:
        self.node = node
        self.dirs = [Path(d) for d in dirs]

    def where(self, spec: AgentSpec) -> list[str]:
        return [str(d / spec.type) for d in self.dirs]

    def locate(self, spec: AgentSpec) -> Path | None:
        return find_program(self.dirs, spec.type)

    def list_agents(self) -> list[AgentSpec]:
        return [AgentSpec("lsb", name) for name in sorted(programs(self.dirs))]

    def metadata_for(self, spec: AgentSpec, path: Path) -> AgentMetadata:
        try:
            header = lsb_header(path.read_text(errors="replace"))
        except OSError:
            header = {}
        return synthesize_metadata(
            spec.type, header.get("Short-Description", f"LSB init script {spec.type}"),
            header.get("Description", f"{path}"), LSB_ACTIONS)

    async def metadata(self, spec: AgentSpec) -> AgentMetadata:
        path = self.locate(spec)
        if path is None:
            raise MetadataError(f"{spec} is not installed (looked for {', '.join(self.where(spec))})")
        return self.metadata_for(spec, path)

    async def run(self, request: ActionRequest) -> ActionResult:
        spec = request.agent
        path = self.locate(spec)
        if path is None:
            return missing(spec, self.where(spec))
        if request.action == "meta-data":
            return ActionResult(rc=OCF_SUCCESS,
                                output=metadata_xml(self.metadata_for(spec, path)))
        action = "status" if request.action == "monitor" else request.action
        env = self.node.base_env()
        # Debian's init-functions would hand the script to systemctl; run the script.
        env["_SYSTEMCTL_SKIP_REDIRECT"] = "1"
        outcome = await execute([str(path), action], env, request, self.node)
        if isinstance(outcome, ActionResult):
            return outcome
        abnormal = abnormal_result(outcome, request)
        if abnormal is not None:
            return abnormal
        assert outcome.exit_status is not None
        rc = lsb_to_ocf(action, outcome.exit_status)
        reason = ""
        if rc == OCF_ERR_GENERIC and outcome.exit_status != 1:
            reason = f"init script {action} exited with status {outcome.exit_status}"
        return exited_result(outcome, rc, reason)
