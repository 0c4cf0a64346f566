"""The agent side of pacer's built-in agents: OCF agents written in Python.

A built-in runs as its own process (`python -m pacer.agents.builtin TYPE
ACTION`) with the same OCF environment and the same process-group timeout
handling as any shell agent: one way to run an agent, and a hung netlink call
or child can be killed like anything else.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from pacer.agents.api import EXIT_REASON_PREFIX
from pacer.agents.metadata import ActionSpec, AgentMetadata, metadata_xml
from pacer.agents.procfs import proc_start_time
from pacer.status.types import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_UNIMPLEMENTED,
    OCF_SUCCESS,
)

_META = "OCF_RESKEY_CRM_meta_"


def standard_actions(validate_timeout_ms: int) -> tuple[ActionSpec, ...]:
    """What every built-in advertises: start, stop, a 10 s monitor, meta-data, validate-all."""
    return (
        ActionSpec("start", timeout_ms=20_000), ActionSpec("stop", timeout_ms=20_000),
        ActionSpec("monitor", timeout_ms=20_000, interval_ms=10_000),
        ActionSpec("meta-data", timeout_ms=5_000),
        ActionSpec("validate-all", timeout_ms=validate_timeout_ms),
    )


class OcfExit(Exception):
    """Leave the action with an OCF rc and, for failures, a reason."""

    def __init__(self, rc: int, reason: str = "") -> None:
        super().__init__(reason)
        self.rc = rc
        self.reason = reason


class BuiltinAgent:
    METADATA: AgentMetadata

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)
        self.instance = environ.get("OCF_RESOURCE_INSTANCE", "default")
        self.rsctmp = Path(environ.get("HA_RSCTMP", "/run/resource-agents"))

    # -- the OCF environment

    def param(self, name: str) -> str:
        value = self.environ.get(f"OCF_RESKEY_{name}")
        if value is not None:
            return value
        spec = self.METADATA.parameter(name)
        return spec.default if spec is not None and spec.default is not None else ""

    def meta_int(self, name: str, default: int) -> int:
        try:
            return int(self.environ.get(_META + name, default))
        except ValueError:
            return default

    @property
    def is_probe(self) -> bool:
        return self.meta_int("interval", 0) == 0

    def state_path(self, suffix: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", self.instance)
        return self.rsctmp / f"pacer-{self.METADATA.name}-{safe}.{suffix}"

    def require(self, name: str) -> str:
        value = self.param(name)
        if not value:
            raise OcfExit(OCF_ERR_CONFIGURED, f"parameter {name} is required")
        return value

    # -- actions

    def actions(self) -> dict[str, Callable[[], int]]:
        return {"start": self.start, "stop": self.stop, "monitor": self.monitor,
                "validate-all": self.validate}

    def start(self) -> int:
        raise NotImplementedError

    def stop(self) -> int:
        raise NotImplementedError

    def monitor(self) -> int:
        raise NotImplementedError

    def validate(self) -> int:
        return OCF_SUCCESS


def run_agent(cls: type[BuiltinAgent], action: str) -> int:
    if action == "meta-data":
        sys.stdout.write(metadata_xml(cls.METADATA))
        return OCF_SUCCESS
    try:
        agent = cls(os.environ)
        method = agent.actions().get(action)
        if method is None:
            print(f"usage: {cls.METADATA.name} {{{'|'.join(agent.actions())}|meta-data}}")
            return OCF_ERR_UNIMPLEMENTED
        return method()
    except OcfExit as exc:
        if exc.reason:
            print(f"{EXIT_REASON_PREFIX}{exc.reason}", file=sys.stderr)
        return exc.rc
    except Exception as exc:  # a bug or an unforeseen system error: say what, exit 1
        traceback.print_exc()
        print(f"{EXIT_REASON_PREFIX}{type(exc).__name__}: {exc}", file=sys.stderr)
        return OCF_ERR_GENERIC


# --------------------------------------------------------------------------- pid files


def write_pidfile(path: Path, pid: int) -> bool:
    """Record pid with its start time; False (nothing written) if it is gone already."""
    start = proc_start_time(pid)
    if start is None:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid} {start}\n")
    tmp.replace(path)
    return True


def read_pidfile(path: Path) -> tuple[int, int] | None:
    try:
        pid, start = path.read_text().split()[:2]
        return int(pid), int(start)
    except (OSError, ValueError):
        return None


def pidfile_alive(path: Path) -> int | None:
    """The pid recorded in `path` if that very process is still alive."""
    entry = read_pidfile(path)
    if entry is None:
        return None
    pid, start = entry
    now = proc_start_time(pid)
    return pid if now is not None and now == start else None
