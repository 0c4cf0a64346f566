"""The pacer process of one simulated host: the real node daemon and controller.

Built by `pacer.controller.assemble.build_node`, exactly as `pacer agent`
builds it on a real host, from the simulated world instead (`HostEnv`: the
host's store client, drifting clock, wall clock, simulated agents, the power
switch, the host's watchdog and its datagram link). Two choices are the
simulator's own: `schedule()` runs inline (virtual time has no threads), and
there is no agent catalog (simulated agents have no meta-data: requests carry
the definition's timeouts, else 20 s).
"""

from __future__ import annotations

from pacer.controller.assemble import build_node
from pacer.controller.offload import inline
from pacer.faultsim.world import HostEnv
from pacer.node.config import NodeConfig


async def pacer_process(env: HostEnv) -> None:
    config = NodeConfig(node=env.name, state_dir=env.state_dir, lease_ttl=env.lease_ttl,
                        watchdog_grace=env.watchdog_grace,
                        heartbeat=env.name if env.link is not None else None,
                        heartbeat_interval=env.heartbeat_interval,
                        heartbeat_timeout=env.heartbeat_timeout, virtual=env.virtual)
    node = build_node(config, store=env.store, clock=env.clock, wall=env.wall,
                      agents=env.runner, fencer=env.fencer, catalog=None,
                      watchdog=env.watchdog, link=env.link, offload=inline)
    await node.run()
