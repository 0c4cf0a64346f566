"""The node side of the built-in agents: run `python -m pacer.agents.builtin TYPE ACTION`."""

from __future__ import annotations

import sys
from pathlib import Path

from pacer.agents.api import (
    ActionRequest,
    ActionResult,
    AgentSpec,
    NodeEnvironment,
    not_installed,
)
from pacer.agents.builtin import BUILTINS
from pacer.agents.metadata import AgentMetadata, MetadataError
from pacer.agents.ocf import DEFAULT_OCF_ROOT, metadata_from_result, metadata_request, run_ocf_argv

PACKAGE_ROOT = Path(__file__).resolve().parents[3]


class BuiltinRunner:
    standard = "pacer"

    def __init__(self, node: NodeEnvironment, python: str = sys.executable) -> None:
        self.node = node
        self.python = python

    def where(self, spec: AgentSpec) -> list[str]:
        return [f"pacer.agents.builtin ({', '.join(sorted(BUILTINS))})"]

    def locate(self, spec: AgentSpec) -> list[str] | None:
        if spec.type not in BUILTINS or spec.provider is not None:
            return None
        return [self.python, "-m", "pacer.agents.builtin", spec.type]

    def list_agents(self) -> list[AgentSpec]:
        return [AgentSpec("pacer", t) for t in sorted(BUILTINS)]

    async def run(self, request: ActionRequest) -> ActionResult:
        argv = self.locate(request.agent)
        if argv is None:
            return not_installed(f"{request.agent} is not a pacer built-in agent")
        node = self.node
        # The agent imports pacer: make sure it finds this very copy.
        env = dict(node.extra_env)
        env["PYTHONPATH"] = str(PACKAGE_ROOT)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        node = NodeEnvironment(**{**node.__dict__, "extra_env": env})
        return await run_ocf_argv(argv, request, node, ocf_root=DEFAULT_OCF_ROOT,
                                  provider="pacer", type_=request.agent.type)

    async def metadata(self, spec: AgentSpec) -> AgentMetadata:
        if spec.type not in BUILTINS:
            raise MetadataError(f"{spec} is not a pacer built-in agent")
        return metadata_from_result(spec, await self.run(metadata_request(spec)))
