"""Shared helpers for the agent runner tests (tests/test_agents_*.py)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pacer.agents.api import ActionRequest, ActionResult, AgentSpec, NodeEnvironment
from pacer.agents.registry import AgentRegistry

T = TypeVar("T")

OCF_ROOT = Path("/usr/lib/ocf")


def arun(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def node_env(path: Path, name: str = "node1", **kw: Any) -> NodeEnvironment:
    return NodeEnvironment(state_dir=path, node_name=name, **kw)


def act(registry: AgentRegistry, spec: str, action: str, instance: str = "r1",
        **kw: Any) -> ActionResult:
    request = ActionRequest(rsc_id=instance.split(":")[0], instance=instance,
                            agent=AgentSpec.parse(spec), action=action, **kw)
    return arun(registry.run(request))


def write_agent(root: Path, provider: str, name: str, body: str) -> Path:
    """An executable script at ROOT/resource.d/PROVIDER/NAME (a test OCF tree)."""
    path = root / "resource.d" / provider / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def have_agent(spec: str) -> bool:
    _, provider, type_ = spec.split(":")
    return os.access(OCF_ROOT / "resource.d" / provider / type_, os.X_OK)


def require_agents(*specs: str) -> pytest.MarkDecorator:
    missing = [s for s in specs if not have_agent(s)]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)} "
                              "(Debian resource-agents / pacemaker-resource-agents)")


@contextmanager
def netns() -> Iterator[str]:
    """A network namespace of the test's own with a veth pair pv0 (10.254.7.1/24) - pv1.

    Everything the network tests do happens in here; it is deleted afterwards.
    """
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root")
    name = f"pacer-t-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        for cmd in (["link", "add", "pv0", "type", "veth", "peer", "name", "pv1"],
                    ["link", "set", "pv0", "up"], ["link", "set", "pv1", "up"],
                    ["link", "set", "lo", "up"],
                    ["addr", "add", "10.254.7.1/24", "dev", "pv0"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ns_addresses(ns: str) -> str:
    return subprocess.run(["ip", "-n", ns, "-o", "-4", "addr", "show"], check=True,
                          capture_output=True, text=True).stdout
