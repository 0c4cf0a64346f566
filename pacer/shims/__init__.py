"""Pacemaker's command-line tools as agents call them, answered from pacer's store.

Resource agents (ocf:pacemaker:Stateful, galera, rabbitmq-server-ha, ...) call
`crm_attribute`, `crm_master`, `crm_node`, `attrd_updater`, `crm_mon` and
`crm_resource` (by `$HA_SBIN_DIR/NAME`, or from PATH). The node daemon puts a
directory of small wrappers (`pacer.node.statedir.install_shims`) first in PATH and as HA_SBIN_DIR; each
runs `python -m pacer.shims NAME ARGS` and reaches the cluster through the
environment the daemon sets: PACER_NODE (this node), PACER_CLUSTER,
PACER_ENDPOINTS and PACER_ETCD_CA/CERT/KEY (`pacer/store/client.py`), with the
store's typed layer (`ClusterStore`); `crm_mon` renders as `pacer status` does
(`pacer/status_view.py`). Nothing of `pacer/cli/` is loaded: an agent calls
these often, and on a node.

Only what agents rely on is copied, but that exactly: the output agents parse
(`crm_attribute -G -q` prints the bare value, `crm_node -n` the bare name) and
Pacemaker's exit codes (105 "No such device or address" for a missing
attribute, 64 for a usage error).
"""

from __future__ import annotations

import os
import sys

TOOLS = ("crm_attribute", "crm_master", "crm_node", "attrd_updater", "crm_mon",
         "crm_resource")

# Pacemaker's exit codes (crm_exit_t) that the shims use.
CRM_EX_OK = 0
CRM_EX_ERROR = 1
CRM_EX_USAGE = 64
CRM_EX_UNIMPLEMENT_FEATURE = 3
CRM_EX_NOT_CONNECTED = 102
CRM_EX_NOSUCH = 105


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TOOLS:
        print(f"usage: python -m pacer.shims TOOL [ARGS...]; TOOL is one of "
              f"{', '.join(TOOLS)}", file=sys.stderr)
        return CRM_EX_USAGE
    from pacer.shims import tools

    return getattr(tools, argv[0])(argv[1:], dict(os.environ))

