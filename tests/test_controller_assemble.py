"""One way to assemble a node (issue 14): `pacer agent` and the fault
simulator both build their node with `pacer.controller.assemble.build_node`,
and nothing else in the product constructs a node daemon or a controller."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from pacer.clock import ManualClock
from pacer.controller.assemble import build_node
from pacer.controller.offload import in_worker_thread, inline
from pacer.node.config import NodeConfig
from pacer.store.memory import MemoryCluster

ROOT = Path(__file__).resolve().parents[1] / "pacer"


class _Link:
    async def open(self, on_receive: Callable[[bytes], None]) -> None: ...

    def send(self, addr: str, data: bytes) -> None: ...

    def close(self) -> None: ...


class _World:
    async def run(self, request: object) -> object: ...

    async def fence(self, request: object) -> object: ...


def _build(config: NodeConfig, **kw: object):  # type: ignore[no-untyped-def]
    world = _World()
    args: dict[str, object] = dict(store=MemoryCluster(ManualClock()).client(config.node),
                                   clock=ManualClock(), wall=lambda: 0.0, agents=world,
                                   fencer=world, catalog=None, watchdog=None, link=None,
                                   offload=inline)
    args.update(kw)
    return build_node(config, **args)  # type: ignore[arg-type]


def test_the_node_gets_what_it_is_given() -> None:
    link, catalog = _Link(), object()
    node = _build(NodeConfig("n1", cluster="c", heartbeat="n1", lease_ttl=3), link=link,
                  catalog=catalog, offload=in_worker_thread)
    assert node.daemon.config.node == "n1"
    assert node.heartbeats is not None and node.heartbeats.link is link
    assert node.make_controller is not None
    ctl = node.make_controller()
    assert ctl.offload is in_worker_thread and ctl.liveness is node.heartbeats
    assert ctl.membership is node.daemon and ctl.config.lease_ttl == 3
    assert ctl.cluster.cluster == "c" and ctl._timeouts.catalog is catalog
    # a fresh controller (and store layer) for each membership
    assert node.make_controller() is not ctl


def test_no_heartbeats_without_a_link_and_no_controller_when_told() -> None:
    node = _build(NodeConfig("n1"), controller=False)
    assert node.heartbeats is None and node.make_controller is None


@pytest.mark.parametrize("heartbeat,link", [("n1", None), (None, _Link())])
def test_an_address_needs_a_link_and_a_link_an_address(heartbeat: str | None,
                                                       link: _Link | None) -> None:
    with pytest.raises(ValueError):
        _build(NodeConfig("n1", heartbeat=heartbeat), link=link)


def _constructs(path: Path, names: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name) and n.func.id in names}


def test_only_build_node_constructs_a_node_daemon_or_a_controller() -> None:
    where = {str(p.relative_to(ROOT.parent)) for p in ROOT.rglob("*.py")
             if _constructs(p, {"NodeDaemon", "Controller", "HeartbeatService"})}
    assert where == {"pacer/controller/assemble.py"}
    for caller in ("pacer/cli/agent_cmd.py", "pacer/faultsim/daemons.py"):
        assert "build_node(" in (ROOT.parent / caller).read_text()
