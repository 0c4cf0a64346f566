"""The timeout each request carries: the definition's, else the agent's own.

`pacer.model.timeouts` decides (pure); this adds what it needs from outside:
each agent's meta-data, asked once per agent per controller session through
an `AgentCatalog` (the node's agent registry in `pacer agent`). An agent that
cannot be asked (missing on this node, broken meta-data) falls back to the
definition and Pacemaker's 20 s, and is asked again on the next session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from pacer.agents.api import AgentSpec
from pacer.agents.metadata import AgentMetadata
from pacer.model.definition import Definition, Primitive, iter_primitives
from pacer.model.timeouts import effective_timeout_ms, rule_free_op_defaults
from pacer.status.instances import split_instance_id

log = logging.getLogger("pacer.controller")

# How long one agent's meta-data may take to answer.
METADATA_TIMEOUT_S = 10.0


class AgentCatalog(Protocol):
    async def metadata(self, spec: AgentSpec) -> AgentMetadata: ...


def spec_of(prim: Primitive) -> AgentSpec:
    return AgentSpec(prim.agent_class, prim.type, prim.provider)


class OpTimeouts:
    def __init__(self, catalog: AgentCatalog | None) -> None:
        self.catalog = catalog
        self._md: dict[AgentSpec, AgentMetadata | None] = {}
        self._index: tuple[Definition, dict[str, Primitive], Mapping[str, str]] | None = None

    async def learn(self, defn: Definition) -> None:
        """Ask every agent of `defn` not asked yet for its meta-data."""
        if self.catalog is None:
            return
        for prim in iter_primitives(defn.resources):
            spec = spec_of(prim)
            if prim.agent_class == "stonith" or spec in self._md:
                continue
            try:
                async with asyncio.timeout(METADATA_TIMEOUT_S):
                    self._md[spec] = await self.catalog.metadata(spec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an agent that cannot say: the definition decides
                log.warning("no meta-data from %s (%s): its operations time out as the "
                            "definition says, else after 20 s", spec, exc)
                self._md[spec] = None

    def _prims(self, defn: Definition) -> tuple[dict[str, Primitive], Mapping[str, str]]:
        if self._index is None or self._index[0] is not defn:
            prims = {p.id: p for p in iter_primitives(defn.resources)}
            self._index = (defn, prims, rule_free_op_defaults(defn))
        return self._index[1], self._index[2]

    def timeout_ms(self, defn: Definition, rsc: str, task: str, interval_ms: int) -> int:
        """The effective timeout of `task` of instance `rsc` (`web:1`, `db`)."""
        prims, op_defaults = self._prims(defn)
        prim = prims.get(rsc) or prims.get(split_instance_id(rsc)[0])
        md = self._md.get(spec_of(prim)) if prim is not None else None
        agent_default = md.default_timeout_ms(task, interval_ms) if md is not None else None
        return effective_timeout_ms(prim, task, interval_ms, op_defaults, agent_default)
