"""The status of a cluster that was just defined: every node up, nothing run yet.

A YAML definition carries no status; simulating or exporting it starts from this.
"""

from __future__ import annotations

from pacer.model.definition import Definition
from pacer.status.types import NodeState, Status


def all_online_status(defn: Definition) -> Status:
    """Every configured node online and a cluster member, nothing running."""
    states = {
        n.name: NodeState(name=n.name, id=n.id or n.name, in_ccm="true", crmd="online",
                          join="member", expected="member")
        for n in defn.nodes
    }
    return Status(node_states=states)
