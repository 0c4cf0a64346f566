"""The key layout of one cluster, spelled once (`pacer/store/README.md`, "Key layout").

Every key lives under `<root>/<cluster>/`. The layout is grouped so that etcd
roles can grant it per kind of client (node daemons, operators, readers) and
so that a node can watch what is addressed to it alone (`actions/<node>/`);
the README says who writes what. Pure: no I/O.
"""

from __future__ import annotations


def check_name(kind: str, value: str) -> str:
    """`value` as one path segment of a key; a name with '/' would read as two."""
    if not value or "/" in value:
        raise ValueError(f"{kind} name {value!r} cannot be stored: empty or contains '/'")
    return value


# Permanent node attributes a node's daemon writes at join (permanent, so the
# controller still reads them once the node is lost):
# "true" when the node's daemon feeds a verified watchdog, else "false";
WATCHDOG_ATTR = "#pacer-watchdog"
# that watchdog's effective timeout in whole seconds (only while "true");
WATCHDOG_TIMEOUT_ATTR = "#pacer-watchdog-timeout"
# the node's lease TTL in whole seconds (the controller waits for the
# target's, not its own);
LEASE_TTL_ATTR = "#pacer-lease-ttl"
# the lease (hex) of the node's latest membership: the membership key goes
# with the lease, this stays, so a controller that never saw the node can
# still ask etcd whether that lease is really gone before it counts the node
# as fenced by its watchdog.
LEASE_ATTR = "#pacer-lease"


class Keys:
    """Every key of one cluster, under `<root>/<cluster>/`."""

    def __init__(self, cluster: str = "default", root: str = "/pacer") -> None:
        self.prefix = f"{root.rstrip('/')}/{check_name('cluster', cluster)}/"
        p = self.prefix
        self.definition = p + "definition"
        self.controller = p + "controller"
        self.nodes = p + "nodes/"
        self.expected = p + "expected/"
        self.transient = p + "attrs/transient/"
        self.permanent = p + "attrs/permanent/"
        self.history = p + "history/"
        self.fencing = p + "fencing/"
        self.actions = p + "actions/"
        # The controller's journal (what it did and why), for `pacer history`.
        self.events = p + "events/"

    def node(self, node: str) -> str:
        return self.nodes + check_name("node", node)

    def expected_state(self, node: str) -> str:
        return self.expected + check_name("node", node)

    def node_attrs(self, node: str, transient: bool) -> str:
        return f"{self.transient if transient else self.permanent}{check_name('node', node)}/"

    def attr(self, node: str, name: str, transient: bool) -> str:
        return self.node_attrs(node, transient) + check_name("attribute", name)

    def node_history(self, node: str) -> str:
        return f"{self.history}{check_name('node', node)}/"

    def rsc_history(self, node: str, rsc: str) -> str:
        return f"{self.node_history(node)}{check_name('resource', rsc)}/"

    def op(self, node: str, rsc: str, slot: str) -> str:
        return f"{self.rsc_history(node, rsc)}{slot}"

    def fence_event(self, target: str, event_id: str) -> str:
        return f"{self.fencing}{check_name('node', target)}/{check_name('fence event', event_id)}"

    def node_actions(self, node: str) -> str:
        return f"{self.actions}{check_name('node', node)}/"

    def action(self, node: str, action_id: str) -> str:
        return self.node_actions(node) + check_name("action", action_id)

    def event(self, event_id: str) -> str:
        """A journal entry; ids sort in the order they were written."""
        return self.events + check_name("journal entry", event_id)

    def parse(self, key: str) -> tuple[str, ...]:
        """("nodes", "n1"), ("history", "n1", "rsc", "last_0"), ... or () if foreign."""
        if not key.startswith(self.prefix):
            return ()
        parts = tuple(key[len(self.prefix):].split("/"))
        if parts[0] == "attrs" and len(parts) > 1:
            return (f"attrs/{parts[1]}", *parts[2:])
        return parts
