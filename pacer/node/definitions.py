"""The definition a node maps requests with, read once per revision."""

from __future__ import annotations

from pacer.model.errors import ConfigError
from pacer.node.mapping import DefinitionIndex, index_definition
from pacer.store.cluster import ClusterStore


class DefinitionCache:
    def __init__(self, cluster: ClusterStore) -> None:
        self.cluster = cluster
        self._index: DefinitionIndex | None = None

    @property
    def current(self) -> DefinitionIndex | None:
        return self._index

    async def at_least(self, revision: int) -> DefinitionIndex | None:
        """The cached index if it is as new as `revision`, else the stored one
        (None: no definition stored, or it no longer loads). Raises StoreUnavailable."""
        if self._index is not None and self._index.revision >= revision:
            return self._index
        try:
            stored = await self.cluster.definition()
        except ConfigError:
            return self._index
        if stored is None:
            return self._index
        # clone-max defaults to the number of nodes: the definition's, else the members.
        n_nodes = len(stored.definition.nodes) or len(await self.cluster.members())
        self._index = index_definition(stored.definition, stored.revision, n_nodes)
        return self._index
