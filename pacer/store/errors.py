"""The typed layer's refusals: a guarded write whose guard did not hold.

Each means "nothing was written" and says which guard failed; the store's own
errors (unreachable, outcome unknown, lease not found, ...) are in `base.py`.
"""

from __future__ import annotations

from pacer.store.base import StoreError


class NotController(StoreError):
    def __init__(self, token: int) -> None:
        super().__init__(f"not the controller any more: the controller key is no longer "
                         f"the one created at revision {token}; nothing was written")
        self.token = token


class NotMember(StoreError):
    def __init__(self, node: str) -> None:
        super().__init__(f"node {node!r} is not a member with this lease "
                         "(its lease expired or it never joined); nothing was written")
        self.node = node


class NodeAlreadyMember(StoreError):
    def __init__(self, node: str, lease: int) -> None:
        super().__init__(f"node {node!r} is already a member under lease {lease:x}; "
                         "wait for that lease to expire or revoke it")
        self.node = node
        self.lease = lease


class DefinitionConflict(StoreError):
    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"the definition changed meanwhile (expected revision {expected}, "
                         f"now {current}); read it again and reapply the change")
        self.expected = expected
        self.current = current
