"""Cluster-wide options (CIB `crm_config` properties) with their defaults, typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pacer.model.meta import parse_bool, parse_interval_ms


def _bool(props: Mapping[str, str], name: str, default: bool) -> bool:
    value = props.get(name)
    return default if value is None else parse_bool(value, default=default)


def _interval_s(value: str | None) -> int:
    if not value:
        return 0
    try:
        return parse_interval_ms(value, lenient=True) // 1000
    except ValueError:
        return 0


@dataclass(frozen=True)
class ClusterOptions:
    stonith_enabled: bool = True
    symmetric_cluster: bool = True
    no_quorum_policy: str = "stop"
    stop_orphan_resources: bool = True
    stop_orphan_actions: bool = True
    start_failure_is_fatal: bool = True
    maintenance_mode: bool = False
    stonith_action: str = "reboot"
    startup_fencing: bool = True
    placement_strategy: str = "default"
    shutdown_lock: bool = False
    stop_all_resources: bool = False
    have_watchdog: bool = False  # set by the cluster: sbd can fence without a device
    shutdown_lock_limit_s: int = 0  # 0: a shutdown lock lasts until the node is back

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> ClusterOptions:
        stonith_action = props.get("stonith-action", "reboot")
        if stonith_action == "poweroff":
            stonith_action = "off"
        nqp = props.get("no-quorum-policy", "stop")
        if nqp not in ("stop", "freeze", "ignore", "demote", "suicide"):
            nqp = "stop"
        return cls(
            stonith_enabled=_bool(props, "stonith-enabled", True),
            symmetric_cluster=_bool(props, "symmetric-cluster", True),
            no_quorum_policy=nqp,
            stop_orphan_resources=_bool(props, "stop-orphan-resources", True),
            stop_orphan_actions=_bool(props, "stop-orphan-actions", True),
            start_failure_is_fatal=_bool(props, "start-failure-is-fatal", True),
            maintenance_mode=_bool(props, "maintenance-mode", False),
            stonith_action=stonith_action,
            startup_fencing=_bool(props, "startup-fencing", True),
            placement_strategy=props.get("placement-strategy", "default"),
            shutdown_lock=_bool(props, "shutdown-lock", False),
            stop_all_resources=_bool(props, "stop-all-resources", False),
            have_watchdog=_bool(props, "have-watchdog", False),
            shutdown_lock_limit_s=_interval_s(props.get("shutdown-lock-limit")),
        )
