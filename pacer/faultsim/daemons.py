"""The pacer process of one simulated host: the real node daemon and controller.

This is what `pacer agent` runs on a real host, built from the simulated
world instead (`HostEnv`: the host's store client, drifting clock, wall
clock, simulated agents, the power switch and the host's watchdog). The
controller campaigns with the daemon's lease; a controller session ends when
the daemon's membership does (`membership_lost`), and a new one starts once
it is a member again.
"""

from __future__ import annotations

import asyncio
import contextlib

from pacer.controller import Controller, ControllerConfig
from pacer.faultsim.world import HostEnv
from pacer.node import NodeConfig, NodeDaemon
from pacer.store.cluster import ClusterStore

# A cancelled task must end at its next await; virtual seconds allowed for that.
CANCEL_GRACE_S = 5.0


async def pacer_process(env: HostEnv) -> None:
    config = NodeConfig(node=env.name, state_dir=None, lease_ttl=env.lease_ttl,
                        watchdog_grace=env.watchdog_grace)
    daemon = NodeDaemon(env.store, env.clock, env.runner, config, env.wall,
                        watchdog=env.watchdog)
    node = asyncio.ensure_future(daemon.run())
    ctl = asyncio.ensure_future(_controller_sessions(env, daemon))
    try:
        await asyncio.wait([node, ctl], return_when=asyncio.FIRST_COMPLETED)
        if ctl.done():
            ctl.result()  # its error is the process's
        await node
    finally:
        ctl.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctl


async def _controller_sessions(env: HostEnv, daemon: NodeDaemon) -> None:
    """One Controller per membership of the node daemon."""
    while True:
        await daemon.wait_member()
        controller = Controller(ClusterStore(env.store), daemon, env.fencer, env.clock, env.wall,
                                ControllerConfig(node=env.name, lease_ttl=env.lease_ttl))
        run = asyncio.ensure_future(controller.run())
        lost = asyncio.ensure_future(daemon.membership_lost.wait())
        try:
            await asyncio.wait([run, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (run, lost):
                t.cancel()
            await asyncio.wait([run, lost], timeout=CANCEL_GRACE_S)
        if not run.done():
            # A session that outlives its membership is a second controller loop
            # in this process: a bug, reported rather than waited for.
            raise RuntimeError(f"the controller session on {env.name} ignored its "
                               f"cancellation ({CANCEL_GRACE_S:g} s)")
        if not run.cancelled() and run.exception() is not None:
            raise run.exception()  # type: ignore[misc]
