"""systemd units (`systemd:nginx` → nginx.service) through `systemctl`.

Pacemaker talks to systemd over D-Bus; pacer uses the `systemctl` client,
which gives the same job semantics without a D-Bus dependency: `start`/`stop`
block until systemd's job finishes, and `is-active` answers monitor. Unit
state → OCF, as Pacemaker's systemd class maps it: active/reloading → 0,
activating/deactivating → pending, anything else → 7 (not running).
A unit that does not exist is "not installed", except for stop, where it is
already stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pacer.agents.api import (
    ActionRequest,
    ActionResult,
    AgentSpec,
    NodeEnvironment,
    not_installed,
)
from pacer.agents.execute import abnormal_result, execute, exited_result
from pacer.agents.metadata import (
    AgentMetadata,
    metadata_xml,
    parse_metadata,
    synthesize_metadata,
)
from pacer.agents.proc import ProcessOutcome
from pacer.status.types import (
    OCF_ERR_GENERIC,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    OP_PENDING,
    PENDING_RC,
)

UNIT_DIRS = (Path("/etc/systemd/system"), Path("/run/systemd/system"),
             Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
UNIT_SUFFIXES = (".service", ".socket", ".target", ".timer", ".mount", ".path", ".scope",
                 ".slice", ".swap", ".automount", ".device")
SYSTEMD_ACTIONS = {"start": 100_000, "stop": 100_000, "monitor": 100_000,
                   "status": 100_000, "meta-data": 5_000}


def unit_name(type_: str) -> str:
    return type_ if type_.endswith(UNIT_SUFFIXES) else f"{type_}.service"


def systemd_running(root: Path = Path("/")) -> bool:
    """sd_booted(): systemd is PID 1 exactly when this directory exists."""
    return (root / "run/systemd/system").is_dir()


def systemctl_argv(systemctl: str, action: str, unit: str) -> list[str]:
    """The systemctl command line for one action."""
    if action in ("monitor", "status"):
        return [systemctl, "is-active", unit]
    if action == "meta-data":
        return [systemctl, "show", "--property=Description", "--value", unit]
    return [systemctl, action, unit]


def state_to_ocf(state: str) -> tuple[int, int | None]:
    """(rc, op_status override) for an `is-active` answer."""
    state = state.strip()
    if state in ("active", "reloading"):
        return OCF_SUCCESS, None
    if state in ("activating", "deactivating"):
        return PENDING_RC, OP_PENDING
    return OCF_NOT_RUNNING, None


class SystemdRunner:
    standard = "systemd"

    def __init__(self, node: NodeEnvironment, *, systemctl: str = "systemctl",
                 unit_dirs: Sequence[Path] = UNIT_DIRS, check_running: bool = True) -> None:
        self.node = node
        self.systemctl = systemctl
        self.unit_dirs = [Path(d) for d in unit_dirs]
        # Tests point systemctl at a stand-in and say systemd counts as running.
        self.check_running = check_running

    @property
    def available(self) -> bool:
        return not self.check_running or systemd_running()

    def where(self, spec: AgentSpec) -> list[str]:
        return [str(d / unit_name(spec.type)) for d in self.unit_dirs]

    def locate(self, spec: AgentSpec) -> Path | None:
        if not self.available:
            return None
        for d in self.unit_dirs:
            path = d / unit_name(spec.type)
            if path.exists():
                return path
        return None

    def list_agents(self) -> list[AgentSpec]:
        if not self.available:
            return []
        found = {AgentSpec("systemd", p.name.removesuffix(".service"))
                 for d in self.unit_dirs if d.is_dir() for p in d.iterdir()
                 if p.name.endswith(".service") and "@." not in p.name}
        return sorted(found, key=str)

    async def metadata(self, spec: AgentSpec) -> AgentMetadata:
        result = await self.run(ActionRequest(rsc_id="", agent=spec, action="meta-data",
                                              timeout_ms=5_000))
        if result.rc == OCF_SUCCESS and result.output:
            return parse_metadata(result.output)
        return self._metadata(spec, "")

    def _metadata(self, spec: AgentSpec, description: str) -> AgentMetadata:
        unit = unit_name(spec.type)
        return synthesize_metadata(spec.type, description or f"systemd unit file for {unit}",
                                   f"Cluster controlled systemd unit {unit}", SYSTEMD_ACTIONS)

    async def run(self, request: ActionRequest) -> ActionResult:
        spec = request.agent
        unit = unit_name(spec.type)
        if not self.available:
            return not_installed("systemd is not running on this machine "
                                 "(no /run/systemd/system)")
        if self.locate(spec) is None and request.action != "stop":
            return not_installed(f"{spec}: no unit file {unit} (looked for "
                                 f"{', '.join(self.where(spec))})")
        if self.locate(spec) is None:
            return ActionResult(rc=OCF_SUCCESS, exit_reason=f"{unit} does not exist")
        argv = systemctl_argv(self.systemctl, request.action, unit)
        env = self.node.base_env()
        env["SYSTEMD_PAGER"] = ""
        outcome = await execute(argv, env, request, self.node)
        if isinstance(outcome, ActionResult):
            return outcome
        return self.result(request, outcome)

    def result(self, request: ActionRequest, outcome: ProcessOutcome) -> ActionResult:
        abnormal = abnormal_result(outcome, request)
        if abnormal is not None:
            return abnormal
        action = request.action
        out = outcome.text("stdout")
        if action in ("monitor", "status"):
            rc, status = state_to_ocf(out)
            if status is not None:
                return exited_result(outcome, rc, f"unit is {out.strip()}", op_status=status)
            return exited_result(outcome, rc)
        if action == "meta-data":
            md = self._metadata(request.agent, out.strip())
            return ActionResult(rc=OCF_SUCCESS, output=metadata_xml(md),
                                duration_ms=outcome.duration_ms)
        if outcome.exit_status == 0:
            return exited_result(outcome, OCF_SUCCESS)
        err = outcome.text("stderr").strip().splitlines()
        return exited_result(outcome, OCF_ERR_GENERIC,
                             err[-1] if err else f"systemctl {action} exited with "
                                                 f"status {outcome.exit_status}")
