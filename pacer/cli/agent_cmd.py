"""`pacer agent`: run this node's daemon (one process per node, under systemd).

The shell around `pacer.controller.assemble.build_node` (the node daemon, its
heartbeats and its controller candidate, assembled as the fault simulator
assembles them): it reads the options, builds the real world the node is
written against (etcd, the monotonic clock, the system's epoch time, the
agent registry, the watchdog, a UDP socket, a worker thread for the
scheduler) and runs it until SIGTERM, on which the node moves its resources
away and leaves cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from pacer.cli.live import (
    Connection,
    LiveError,
    add_connection_arguments,
    connection_from_args,
    unreachable_message,
)
from pacer.node.config import NodeConfig
from pacer.node.watchdog import Watchdog, WatchdogError, open_watchdog

FORMATTER = argparse.RawDescriptionHelpFormatter

DESCRIPTION = """\
Run the pacer node daemon for this machine: it joins the cluster under an etcd
lease, runs the resource agent actions the elected controller asks of this
node, runs their recurring monitors and reports every result to etcd.

If the lease cannot be renewed in time (etcd unreachable, this node cut off
from its quorum), the node fences itself: it stops every resource it runs
before its lease can expire, so the cluster may safely start them elsewhere,
then joins again as a fresh node. With --watchdog, a hardware watchdog resets
the machine if the daemon itself hangs. The node tells the cluster it has a
watchdog (so the controller may count it fenced by waiting) only when the
device was armed and reported the timeout it runs with; if it cannot be armed,
pacer agent does not start.

On SIGTERM (systemctl stop) the node sets its `shutdown` attribute so the
controller moves its resources away, waits until nothing runs here (at most
--shutdown-timeout seconds, then stops what is left itself) and leaves.
"""

EPILOG = """\
timing (with the default --lease-ttl 5):
  keepalive every TTL/4 (1.25 s); self-fence TTL/4 (1.25 s) before the lease
  can expire, counted from the last keepalive etcd confirmed, so 2.5-3.75 s
  without a confirmed keepalive. That rides out an etcd leader election when
  the leader's host is the one lost (usually under 1.5 s, but split votes
  make some take 2-3 s) without every survivor fencing itself; a watchdog
  resets the machine 2 x TTL (10 s) after its last feed (or after the timeout
  its driver reports, if it rounds or clamps that). Failure detection does
  not depend on the TTL when --heartbeat is used; without it a lost node is
  noticed when its lease expires.

peer heartbeats (--heartbeat):
  every node that has one sends a small UDP datagram to every other member
  every --heartbeat-interval (0.05 s). A member not heard for
  --heartbeat-timeout (0.25 s) is suspected: the controller ends its
  membership and fences it, then starts its resources elsewhere (a member
  that suspects the controller's own node deposes it first), so a dead or
  frozen host is taken over in well under a second instead of after its
  lease expires. Give every node --heartbeat on an address the others reach;
  a node never heard from is left to lease expiry, never fenced on silence.
  A healthy host that stalls longer than the timeout is fenced too: the log
  says "late heartbeats" (at most once a minute) when a beat came after more
  than half of it; if that happens on healthy hosts, raise the timeout
  (docs/deployment.md has the timing guidance for real networks).

files:
  STATE_DIR            emptied at start (like /run): agents' state files live in
                       STATE_DIR/rsctmp and STATE_DIR/run; STATE_DIR/shims holds
                       crm_attribute, crm_master, crm_node, crm_resource, crm_mon
                       and attrd_updater for the agents (first on their PATH)

watchdog:
  --watchdog DEVICE     a hardware watchdog device. pacer sets its timeout
                        (WDIOC_SETTIMEOUT), reads back the one the driver uses
                        (WDIOC_GETTIMEOUT) and publishes it with the lease TTL
                        as the node attributes #pacer-watchdog-timeout and
                        #pacer-lease-ttl. A path that is not a character device,
                        or a device that cannot be armed, is a startup error.
  --watchdog-file PATH  for the lab and tests only: a JSON file rewritten at each
                        feed. It resets nothing by itself: an external process
                        must play the hardware (pacer lab runs one), or the node
                        claims a watchdog it does not have.
  --virtual auto|yes|no whether this node is a virtual machine (auto:
                        systemd-detect-virt). A VM's watchdog stops while the VM
                        is paused, so it cannot fence a paused VM: a VM arms it
                        but does not claim it for fencing (use a fence device
                        for VMs), unless --trust-vm-watchdog.

exit status: 0 after a clean shutdown, 1 on a startup error (bad options,
unusable state directory or watchdog), 2 on a usage error.

examples:
  pacer agent --endpoints http://10.0.0.1:2379,http://10.0.0.2:2379
  pacer agent --node node1 --cluster prod --watchdog /dev/watchdog
  pacer agent --node n1 --state-dir /tmp/n1 --lease-ttl 4 --log-level debug
  pacer agent --node n1 --heartbeat 10.0.0.11:7405
"""


def _default_node() -> str:
    # Pacemaker's default node name: `uname -n`.
    return os.uname().nodename


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agent", help="run this node's daemon (membership, actions, "
                       "self-fencing)", description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=FORMATTER)
    p.add_argument("--node", metavar="NAME", default=_default_node(),
                   help="this node's name in the cluster (default: the host name, "
                        f"{_default_node()!r})")
    p.add_argument("--state-dir", metavar="DIR", type=Path, default=None,
                   help="where agents keep their state; EMPTIED at start "
                        "(default /var/lib/pacer/NODE)")
    p.add_argument("--lease-ttl", metavar="SECONDS", type=int, default=5,
                   help="membership lease TTL in whole seconds (default 5); the node "
                        "self-fences TTL/4 before it could expire")
    p.add_argument("--shutdown-timeout", metavar="SECONDS", type=float, default=120.0,
                   help="on SIGTERM, how long to wait for the controller to move this "
                        "node's resources away before stopping them here (default 120)")
    wd = p.add_mutually_exclusive_group()
    wd.add_argument("--watchdog", metavar="DEVICE", default=None,
                    help="a hardware watchdog device (/dev/watchdog: arming it means the "
                         "machine is RESET if the daemon stops feeding it); pacer refuses "
                         "to start if it is not a character device or cannot be armed; "
                         "default: none")
    wd.add_argument("--watchdog-file", metavar="PATH", default=None,
                    help="FOR THE LAB AND TESTS ONLY: a file watchdog (JSON rewritten at "
                         "each feed); an external process must play the hardware and "
                         "reset this host when it is not fed in time (pacer lab runs one)")
    p.add_argument("--virtual", choices=("auto", "yes", "no"), default="auto",
                   help="whether this node is a virtual machine (default auto: "
                        "systemd-detect-virt); a VM does not claim its --watchdog for "
                        "fencing: it stops while the VM is paused")
    p.add_argument("--trust-vm-watchdog", action="store_true",
                   help="claim the watchdog of a VM anyway (its hypervisor never pauses it)")
    p.add_argument("--fence-dir", metavar="DIR", type=Path, action="append", default=[],
                   help="also look for fence agents (fence_*) in DIR, before /usr/sbin "
                        "(repeatable)")
    p.add_argument("--heartbeat", metavar="HOST:PORT", default=None,
                   help="listen for peer heartbeats on this UDP address and advertise it "
                        "(fast failure detection; default: none, lease expiry only)")
    p.add_argument("--heartbeat-interval", metavar="SECONDS", type=float, default=0.05,
                   help="send a heartbeat to every member this often (default 0.05)")
    p.add_argument("--heartbeat-timeout", metavar="SECONDS", type=float, default=0.25,
                   help="suspect a member not heard from for this long (default 0.25)")
    p.add_argument("--no-controller", action="store_true",
                   help="never become the controller (this node only runs resources)")
    p.add_argument("--log-level", metavar="LEVEL", default="info",
                   choices=("debug", "info", "warning", "error", "critical"),
                   help="debug, info (default), warning, error or critical")
    add_connection_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        conn = connection_from_args(args)
        if args.heartbeat is not None:
            from pacer.node.heartbeat import parse_addr
            parse_addr(args.heartbeat)
        state_dir = args.state_dir or Path("/var/lib/pacer") / args.node
        config = NodeConfig(node=args.node, cluster=conn.cluster, state_dir=state_dir,
                            lease_ttl=args.lease_ttl, shutdown_timeout=args.shutdown_timeout,
                            endpoints=conn.endpoints, ca_file=conn.config.ca_file,
                            cert_file=conn.config.cert_file, key_file=conn.config.key_file,
                            heartbeat=args.heartbeat,
                            heartbeat_interval=args.heartbeat_interval,
                            heartbeat_timeout=args.heartbeat_timeout,
                            virtual=_virtual(args),
                            trust_vm_watchdog=args.trust_vm_watchdog)
        watchdog = _watchdog(args)
    except (LiveError, ValueError, WatchdogError) as exc:
        print(f"pacer agent: error: {exc}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_main(config, conn, watchdog, args.fence_dir,
                                 not args.no_controller))
    except KeyboardInterrupt:
        return 130


def _virtual(args: argparse.Namespace) -> bool:
    """Only a hardware watchdog's claim depends on it (the lab's file watchdog
    is played by a process outside the hosts, which no pause of one host stops)."""
    if args.virtual != "auto":
        return args.virtual == "yes"
    if args.watchdog is None:
        return False
    from pacer.node.virt import running_in_vm
    return running_in_vm()


def _watchdog(args: argparse.Namespace) -> Watchdog:
    """The watchdog asked for, not armed yet (the daemon arms it once it has
    stopped what an earlier daemon left running). Raises WatchdogError."""
    if args.watchdog_file is not None:
        if Path(args.watchdog_file).is_char_device():
            raise WatchdogError(f"--watchdog-file {args.watchdog_file} is a device: a "
                                "hardware watchdog is --watchdog DEVICE")
        return open_watchdog(args.watchdog_file, time.time, allow_file=True)
    return open_watchdog(args.watchdog, time.time)


async def _main(config: NodeConfig, conn: Connection, watchdog: Watchdog,
                fence_dirs: list[Path], controller: bool) -> int:
    from pacer.agents.fence import DEFAULT_FENCE_DIRS
    from pacer.agents.registry import AgentRegistry
    from pacer.clock import MonotonicClock
    from pacer.controller.assemble import build_node
    from pacer.controller.offload import in_worker_thread
    from pacer.node.heartbeat import UdpLink
    from pacer.store.base import StoreUnavailable
    from pacer.store.etcd import EtcdStore

    store = EtcdStore(conn.config)
    try:
        registry = AgentRegistry(config.environment(),
                                 fence_dirs=[*fence_dirs, *DEFAULT_FENCE_DIRS])
        # The node daemon, its heartbeats and (unless --no-controller) one
        # controller session per membership, as the fault simulator builds
        # them. The registry runs the agents and fence devices and answers
        # meta-data (requests carry agents' own timeouts where the definition
        # sets none); schedule() runs off the event loop (offload.py).
        node = build_node(config, store=store, clock=MonotonicClock(), wall=time.time,
                          agents=registry, fencer=registry.fencer, catalog=registry,
                          watchdog=watchdog,
                          link=UdpLink(config.heartbeat) if config.heartbeat else None,
                          offload=in_worker_thread, controller=controller)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, node.daemon.request_shutdown)
        # Say plainly, once, when etcd does not answer; the daemon keeps trying
        # (etcd may be starting on this very machine), logging as it goes.
        try:
            async with asyncio.timeout(3):
                await store.get(f"/pacer/{conn.cluster}/definition")
        except (StoreUnavailable, TimeoutError) as exc:
            if not isinstance(exc, StoreUnavailable):
                exc = StoreUnavailable("no answer within 3 s", conn.endpoints)
            print(f"pacer agent: {unreachable_message(conn, exc)}\n"
                  "pacer agent: waiting for etcd; the node joins once it answers",
                  file=sys.stderr)

        try:
            await node.run()
        except WatchdogError as exc:  # the watchdog asked for cannot be armed
            print(f"pacer agent: error: cannot start: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:  # the state directory
            print(f"pacer agent: error: cannot start: {exc}", file=sys.stderr)
            return 1
        return 0
    finally:
        await store.close()
