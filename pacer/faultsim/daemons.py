"""The pacer process of one simulated host: the real node daemon and controller.

This is what `pacer agent` runs on a real host (`pacer.controller.sessions.
run_node`: one controller session per membership of the node), built from
the simulated world instead (`HostEnv`: the host's store client, drifting
clock, wall clock, simulated agents, the power switch and the host's watchdog).
"""

from __future__ import annotations

from pacer.controller import Controller, ControllerConfig
from pacer.controller.sessions import run_node
from pacer.faultsim.world import HostEnv
from pacer.node import NodeConfig, NodeDaemon
from pacer.node.heartbeat import HeartbeatService
from pacer.store.cluster import ClusterStore


async def pacer_process(env: HostEnv) -> None:
    config = NodeConfig(node=env.name, state_dir=env.state_dir, lease_ttl=env.lease_ttl,
                        watchdog_grace=env.watchdog_grace,
                        heartbeat=env.name if env.link is not None else None,
                        heartbeat_interval=env.heartbeat_interval,
                        heartbeat_timeout=env.heartbeat_timeout, virtual=env.virtual)
    daemon = NodeDaemon(env.store, env.clock, env.runner, config, env.wall,
                        watchdog=env.watchdog)
    heartbeats = None
    if env.link is not None:
        heartbeats = HeartbeatService(ClusterStore(env.store), env.clock, env.link, daemon,
                                      env.name, interval=config.heartbeat_interval,
                                      timeout=config.heartbeat_timeout)
    await run_node(daemon, lambda: Controller(
        ClusterStore(env.store), daemon, env.fencer, env.clock, env.wall,
        ControllerConfig(node=env.name, lease_ttl=env.lease_ttl, schedule_in_thread=False),
        liveness=heartbeats),
        heartbeats)
