"""One node's pacer process, assembled once from the world it runs in.

`pacer agent` (real etcd, clock, agents, watchdog, UDP) and the fault
simulator (memory store, virtual clock, simulated agents, power switch,
datagram network) both call `build_node`, so the simulator tests the very
composition that runs on real hosts: the node daemon, its peer heartbeats
(when it has a datagram link) and, unless it must never lead, one controller
session per membership (`sessions.py`).

Everything outside the process comes in as an argument; what can be derived
from the node's config (the controller's config, the heartbeat timing) is
derived here, once. It lives in `controller/` because it needs the
controller, which already builds on the node daemon (the node package must
not reach up to the controller and, through it, the scheduler).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pacer.agents.api import AgentRunner, Fencer
from pacer.clock import Clock
from pacer.controller.config import ControllerConfig
from pacer.controller.controller import Controller
from pacer.controller.offload import Offload
from pacer.controller.optimeouts import AgentCatalog
from pacer.controller.sessions import run_node
from pacer.node.config import NodeConfig
from pacer.node.daemon import NodeDaemon
from pacer.node.heartbeat import DatagramLink, HeartbeatService
from pacer.node.watchdog import Watchdog
from pacer.store.base import Store
from pacer.store.cluster import ClusterStore


@dataclass(frozen=True)
class NodeProcess:
    """The parts of one node's process, built and not yet running."""

    daemon: NodeDaemon
    heartbeats: HeartbeatService | None
    # A fresh controller for each membership; None: this node never leads.
    make_controller: Callable[[], Controller] | None

    async def run(self) -> None:
        """Until the daemon ends (a clean shutdown); an error of any part ends
        them all. (WatchdogError: the watchdog cannot be armed; OSError: the
        state directory.)"""
        await run_node(self.daemon, self.make_controller, self.heartbeats)


def build_node(config: NodeConfig, *, store: Store, clock: Clock, wall: Callable[[], float],
               agents: AgentRunner, fencer: Fencer, catalog: AgentCatalog | None,
               watchdog: Watchdog | None, link: DatagramLink | None, offload: Offload,
               controller: bool = True) -> NodeProcess:
    """Assemble a node from its world.

    store     this process's store client (etcd, or the simulator's memory store)
    clock     monotonic seconds for every deadline (CLOCK_BOOTTIME on a host)
    wall      epoch seconds, for what is recorded (last-run, last-failure)
    agents    runs resource agent actions
    fencer    runs fence devices (used while this node is the controller)
    catalog   agents' meta-data, for the timeouts requests carry when the
              definition sets none (None: the definition's, else 20 s)
    watchdog  the host's watchdog, not armed yet (None: none)
    link      the datagram socket on `config.heartbeat` (None: no heartbeats;
              a lost peer is then noticed when its lease expires)
    offload   where the controller runs `schedule()` (`offload.py`)
    controller  False: never campaign (`pacer agent --no-controller`)
    """
    if (link is None) != (config.heartbeat is None):
        raise ValueError("a heartbeat address needs a datagram link, and a link an address")
    daemon = NodeDaemon(store, clock, agents, config, wall, watchdog=watchdog)
    heartbeats = None
    if link is not None:
        heartbeats = HeartbeatService(ClusterStore(store, config.cluster), clock, link, daemon,
                                      config.node, interval=config.heartbeat_interval,
                                      timeout=config.heartbeat_timeout)
    ctl_config = ControllerConfig(node=config.node, lease_ttl=config.lease_ttl)

    def make_controller() -> Controller:
        # (a store layer of its own per session, as the simulator always ran
        # it; its caches are memos checked against revisions: sharing one
        # with the heartbeats, as `pacer agent` did, decided nothing differently)
        return Controller(ClusterStore(store, config.cluster), daemon, fencer, clock, wall,
                          ctl_config, liveness=heartbeats, catalog=catalog, offload=offload)

    return NodeProcess(daemon, heartbeats, make_controller if controller else None)
