"""The node daemon: lease and membership, action execution, recurring monitors,
self-fencing. See pacer/node/README.md and docs/runtime-protocol.md."""

from pacer.node.config import SHIM_NAMES, NodeConfig
from pacer.node.daemon import NodeDaemon
from pacer.node.watchdog import (
    DeviceWatchdog,
    FileWatchdog,
    NoWatchdog,
    Watchdog,
    WatchdogError,
    open_watchdog,
)

__all__ = ["SHIM_NAMES", "DeviceWatchdog", "FileWatchdog", "NoWatchdog", "NodeConfig",
           "NodeDaemon", "Watchdog", "WatchdogError", "open_watchdog"]
