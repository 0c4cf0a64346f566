"""Agent specs to runners: the one `AgentRunner` the node daemon holds.

`resolve` says precisely why a spec names no installed agent (what was looked
for, where, and the nearest installed names); `run` turns the same problem
into a "not installed" result, which is how Pacemaker records a missing
agent, so the scheduler bans the resource from this node and carries on.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from pacer.agents.api import (
    ActionRequest,
    ActionResult,
    AgentError,
    AgentNotFoundError,
    AgentSpec,
    FenceRequest,
    FenceResult,
    NodeEnvironment,
    not_installed,
)
from pacer.agents.builtin.runner import BuiltinRunner
from pacer.agents.fence import DEFAULT_FENCE_DIRS, FenceAgentRunner
from pacer.agents.lsb import DEFAULT_INIT_DIRS, LsbRunner
from pacer.agents.metadata import AgentMetadata
from pacer.agents.ocf import DEFAULT_OCF_ROOT, OcfRunner
from pacer.agents.systemd import SystemdRunner

STANDARDS = ("ocf", "pacer", "systemd", "lsb", "service", "stonith")


class Backend(Protocol):
    standard: str

    def where(self, spec: AgentSpec) -> list[str]: ...

    def locate(self, spec: AgentSpec) -> object | None: ...

    def list_agents(self) -> list[AgentSpec]: ...

    async def run(self, request: ActionRequest) -> ActionResult: ...

    async def metadata(self, spec: AgentSpec) -> AgentMetadata: ...


class AgentRegistry:
    """Every class of agent on this node, behind one `run`."""

    def __init__(self, node: NodeEnvironment, *,
                 ocf_roots: Sequence[Path] = (DEFAULT_OCF_ROOT,),
                 init_dirs: Sequence[Path] = DEFAULT_INIT_DIRS,
                 fence_dirs: Sequence[Path] = DEFAULT_FENCE_DIRS,
                 systemd: SystemdRunner | None = None) -> None:
        self.node = node
        self.fencer = FenceAgentRunner(node, fence_dirs)
        self.systemd = systemd or SystemdRunner(node)
        self.backends: dict[str, Backend] = {
            "ocf": OcfRunner(node, ocf_roots),
            "pacer": BuiltinRunner(node),
            "systemd": self.systemd,
            "lsb": LsbRunner(node, init_dirs),
            "stonith": self.fencer,
        }

    def _standard(self, spec: AgentSpec) -> str:
        # Pacemaker's "service" class: systemd where systemd runs, else LSB.
        if spec.standard == "service":
            return "systemd" if self.systemd.available else "lsb"
        return spec.standard

    def resolve(self, spec: AgentSpec | str) -> AgentSpec:
        """The installed agent a spec names (service: → systemd:/lsb:).

        Raises AgentNotFoundError, or AgentError for text that is not a spec.
        """
        if isinstance(spec, str):
            try:
                spec = AgentSpec.parse(spec)
            except ValueError as exc:
                raise AgentError(str(exc)) from None
        standard = self._standard(spec)
        backend = self.backends.get(standard)
        if backend is None:
            raise AgentNotFoundError(
                str(spec), [], difflib.get_close_matches(spec.standard, STANDARDS, n=1),
                f"unknown agent class {spec.standard!r} (known: {', '.join(STANDARDS)})")
        concrete = AgentSpec(standard, spec.type, spec.provider)
        if backend.locate(concrete) is not None:
            return concrete
        detail = ""
        if standard == "systemd" and not self.systemd.available:
            detail = "systemd is not running on this machine (no /run/systemd/system)"
        elif standard == "stonith" and not spec.type.startswith("fence_"):
            detail = "fence agents are named fence_*"
        raise AgentNotFoundError(str(spec), backend.where(concrete),
                                 self.suggestions(concrete), detail)

    def suggestions(self, spec: AgentSpec, n: int = 3) -> list[str]:
        """Installed agents with the same name elsewhere, then the nearest spellings."""
        candidates = self.list_agents()
        found = [str(c) for c in candidates if c.type.lower() == spec.type.lower() and c != spec]
        # Then near spellings of the name, nearest provider first.
        kin = sorted((c for c in candidates if c.standard == spec.standard),
                     key=lambda c: c.provider != spec.provider)
        by_type: dict[str, list[AgentSpec]] = {}
        for c in kin:
            by_type.setdefault(c.type.lower(), []).append(c)
        for name in difflib.get_close_matches(spec.type.lower(), list(by_type), n=n, cutoff=0.7):
            found += [str(c) for c in by_type[name] if str(c) not in found]
        return found[:n]

    def list_agents(self, standard: str | None = None) -> list[AgentSpec]:
        if standard is not None:
            standard = self._standard(AgentSpec(standard, "*"))
            backend = self.backends.get(standard)
            if backend is None:
                raise AgentNotFoundError(f"{standard}:*", [], [],
                                         f"unknown agent class {standard!r} "
                                         f"(known: {', '.join(STANDARDS)})")
            return backend.list_agents()
        return [a for b in self.backends.values() for a in b.list_agents()]

    async def run(self, request: ActionRequest) -> ActionResult:
        try:
            spec = self.resolve(request.agent)
        except AgentNotFoundError as exc:
            unit = replace(request, agent=AgentSpec("systemd", request.agent.type))
            if (request.action == "stop" and self._standard(request.agent) == "systemd"
                    and self.systemd.available):
                # As Pacemaker's systemd class: a unit that does not exist is stopped.
                return await self.systemd.run(unit)
            return not_installed(str(exc))
        except AgentError as exc:
            return not_installed(str(exc))
        if spec != request.agent:
            request = replace(request, agent=spec)
        return await self.backends[spec.standard].run(request)

    async def metadata(self, spec: AgentSpec | str) -> AgentMetadata:
        concrete = self.resolve(spec)
        return await self.backends[concrete.standard].metadata(concrete)

    async def fence(self, request: FenceRequest) -> FenceResult:
        return await self.fencer.fence(request)

