"""OCF resource agents: `<OCF_ROOT>/resource.d/<provider>/<type> <action>`.

The environment follows `shared/ocf-agents.md` §1.2 and §8 exactly: a clean
dict, OCF_RESKEY_* only for configured parameters (agents treat unset and
empty differently), CRM_meta_* with dashes turned into underscores and times
in milliseconds, the node's own HA_RSCTMP/HA_VARRUN, and the shim directory
first in PATH and as HA_SBIN_DIR so agents calling crm_* reach pacer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pacer.agents.api import (
    EXIT_REASON_PREFIX,
    ActionRequest,
    ActionResult,
    AgentSpec,
    NodeEnvironment,
    map_ocf_rc,
)
from pacer.agents.execute import abnormal_result, execute, exit_reason, exited_result
from pacer.agents.files import find_program, missing, programs
from pacer.agents.metadata import AgentMetadata, MetadataError, parse_metadata
from pacer.agents.proc import ProcessOutcome
from pacer.status.types import OCF_ERR_ARGS, OP_DONE

DEFAULT_OCF_ROOT = Path("/usr/lib/ocf")
META_PREFIX = "OCF_RESKEY_CRM_meta_"
METADATA_TIMEOUT_MS = 10_000
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_key(name: str) -> str:
    key = name.replace("-", "_")
    if not _ENV_NAME.fullmatch(key):
        raise ValueError(f"{name!r} cannot be passed to an agent as an environment variable")
    return key


def ocf_environment(request: ActionRequest, node: NodeEnvironment, *, ocf_root: Path,
                    provider: str, type_: str) -> dict[str, str]:
    """The complete environment of one OCF action (raises ValueError on bad names)."""
    env = node.base_env()
    env.update({
        "OCF_ROOT": str(ocf_root),
        # Without MAJOR the shell library runs in "init-script mode" and
        # silently calls every instance "default".
        "OCF_RA_VERSION_MAJOR": "1",
        "OCF_RA_VERSION_MINOR": "1",
        "OCF_RESOURCE_TYPE": type_,
        "OCF_RESOURCE_PROVIDER": provider,
        "OCF_EXIT_REASON_PREFIX": EXIT_REASON_PREFIX,
        "OCF_RESKEY_crm_feature_set": node.feature_set,
    })
    if request.instance_name:
        env["OCF_RESOURCE_INSTANCE"] = request.instance_name
    for name, value in request.params.items():
        if name == "OCF_CHECK_LEVEL":
            continue  # an op attribute Pacemaker passes without the prefix (below)
        env[f"OCF_RESKEY_{env_key(name)}"] = str(value)
    for name, value in request.meta.items():
        env[META_PREFIX + env_key(name)] = str(value)
    # Agents do arithmetic on these (rabbitmq-cluster: `expr $timeout / 1000`).
    env[META_PREFIX + "timeout"] = str(int(request.effective_timeout_ms))
    env[META_PREFIX + "interval"] = str(int(request.interval_ms))
    env[META_PREFIX + "name"] = request.action
    if node.node_name and META_PREFIX + "on_node" not in env:
        env[META_PREFIX + "on_node"] = node.node_name
    for name, value in request.notify.items():
        key = env_key(name if name.startswith("notify_") else f"notify_{name}")
        # Pacemaker passes an empty list as a single space; agents rely on it.
        env[META_PREFIX + key] = str(value) if str(value) else " "
    level = request.check_level
    if level is None and "OCF_CHECK_LEVEL" in request.params:
        level = int(request.params["OCF_CHECK_LEVEL"])
    if level is not None:
        env["OCF_CHECK_LEVEL"] = str(level)
    return env


def ocf_result(outcome: ProcessOutcome, request: ActionRequest) -> ActionResult:
    """Map a finished OCF action as Pacemaker's executor does (services__ocf2ocf)."""
    abnormal = abnormal_result(outcome, request)
    if abnormal is not None:
        return abnormal
    assert outcome.exit_status is not None
    rc = map_ocf_rc(outcome.exit_status)
    reason = exit_reason(outcome)
    if rc != outcome.exit_status and not reason:
        reason = f"agent exited with unknown status {outcome.exit_status}"
    return exited_result(outcome, rc, reason)


async def run_ocf_argv(argv: Sequence[str], request: ActionRequest, node: NodeEnvironment, *,
                       ocf_root: Path, provider: str, type_: str) -> ActionResult:
    try:
        env = ocf_environment(request, node, ocf_root=ocf_root, provider=provider, type_=type_)
    except ValueError as exc:
        return ActionResult(rc=OCF_ERR_ARGS, op_status=OP_DONE, exit_reason=str(exc))
    outcome = await execute([*argv, request.action], env, request, node)
    if isinstance(outcome, ActionResult):
        return outcome
    return ocf_result(outcome, request)


def metadata_from_result(spec: AgentSpec, result: ActionResult) -> AgentMetadata:
    if result.rc != 0 or result.op_status != OP_DONE:
        raise MetadataError(
            f"{spec} meta-data failed: rc {result.rc} ({result.rc_name}), "
            f"{result.op_status_name}" + (f": {result.exit_reason}" if result.exit_reason else "")
        )
    try:
        return parse_metadata(result.output)
    except MetadataError as exc:
        raise MetadataError(f"{spec}: {exc}") from None


class OcfRunner:
    """Runs agents found under one or more OCF roots (the first root that has it wins)."""

    standard = "ocf"

    def __init__(self, node: NodeEnvironment,
                 roots: Sequence[Path] = (DEFAULT_OCF_ROOT,)) -> None:
        self.node = node
        self.roots = [Path(r) for r in roots]

    def where(self, spec: AgentSpec) -> list[str]:
        return [str(r / "resource.d" / (spec.provider or "?") / spec.type) for r in self.roots]

    def locate(self, spec: AgentSpec) -> tuple[Path, Path] | None:
        """(OCF root, agent path) of an executable agent, or None."""
        if spec.provider is None:
            return None
        for root in self.roots:
            path = find_program([root / "resource.d" / spec.provider], spec.type)
            if path is not None:
                return root, path
        return None

    def list_agents(self) -> list[AgentSpec]:
        found: set[AgentSpec] = set()
        for root in self.roots:
            base = root / "resource.d"
            providers = [p for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
            for provider in providers:
                found |= {AgentSpec("ocf", name, provider.name) for name in programs([provider])}
        return sorted(found, key=str)

    async def run(self, request: ActionRequest) -> ActionResult:
        spec = request.agent
        located = self.locate(spec)
        if located is None:
            return missing(spec, self.where(spec))
        root, path = located
        return await run_ocf_argv([str(path)], request, self.node, ocf_root=root,
                                  provider=spec.provider or "", type_=spec.type)

    async def metadata(self, spec: AgentSpec) -> AgentMetadata:
        result = await self.run(metadata_request(spec))
        return metadata_from_result(spec, result)


def metadata_request(spec: AgentSpec) -> ActionRequest:
    # No instance: agents then describe defaults with the RESOURCE_ID placeholder.
    return ActionRequest(rsc_id="", agent=spec, action="meta-data",
                         timeout_ms=METADATA_TIMEOUT_MS)
