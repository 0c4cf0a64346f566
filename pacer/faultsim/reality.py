"""What really runs where: the ground truth the invariants are checked against.

The store holds what the cluster *believes*; `Reality` holds what the
simulated agents actually did. A resource instance is active on a host from
the moment its start begins until its stop completes (a start in progress may
already hold the address), and dies with its host when the host crashes or is
powered off; a frozen host's resources keep running.

Keys are what an agent is told it is (OCF_RESOURCE_INSTANCE): the primitive id,
or `id:N` for an instance of a globally-unique clone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

STARTING = "starting"
STARTED = "started"
STOPPING = "stopping"
PROMOTING = "promoting"
PROMOTED = "promoted"
DEMOTING = "demoting"
# Counted as promoted while in doubt: a promote in progress may already accept
# writes, a demote in progress may still do.
PROMOTED_ROLES = frozenset({PROMOTING, PROMOTED, DEMOTING})


@dataclass
class Running:
    role: str
    since: float  # when it became active on this host (its start began)


class Reality:
    def __init__(self) -> None:
        self._by_host: dict[str, dict[str, Running]] = {}
        self.version = 0  # bumped on every change, so checks run only after changes
        self.on_change: Callable[[str, str, str | None], None] | None = None

    def hosts(self) -> Iterator[str]:
        return iter(self._by_host)

    def on(self, host: str) -> dict[str, Running]:
        """Everything active on `host` (do not mutate)."""
        return self._by_host.get(host, {})

    def get(self, host: str, key: str) -> Running | None:
        return self._by_host.get(host, {}).get(key)

    def where(self, key: str) -> list[tuple[str, Running]]:
        return [(h, rs[key]) for h, rs in self._by_host.items() if key in rs]

    def set_role(self, host: str, key: str, role: str, now: float) -> None:
        rs = self._by_host.setdefault(host, {})
        cur = rs.get(key)
        if cur is None:
            rs[key] = Running(role, now)
        elif cur.role == role:
            return
        else:
            cur.role = role
        self._changed(host, key, role)

    def remove(self, host: str, key: str) -> bool:
        rs = self._by_host.get(host)
        if not rs or key not in rs:
            return False
        del rs[key]
        self._changed(host, key, None)
        return True

    def clear_host(self, host: str) -> list[str]:
        """The host lost power: everything on it is gone."""
        rs = self._by_host.pop(host, {})
        for key in rs:
            self._changed(host, key, None)
        return list(rs)

    def _changed(self, host: str, key: str, role: str | None) -> None:
        self.version += 1
        if self.on_change is not None:
            self.on_change(host, key, role)
