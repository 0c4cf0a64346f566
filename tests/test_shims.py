"""The crm_* shims as agents run them: installed wrappers, the node daemon's
environment, a real etcd — and the real ocf:pacemaker:Stateful agent setting its
promotion score through them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from etcd_cluster import EtcdCluster, free_ports, require_etcd

from pacer.node.config import SHIM_NAMES
from pacer.node.statedir import install_shims
from pacer.store.cluster import ClusterStore
from pacer.store.etcd import EtcdConfig, EtcdStore

STATEFUL = Path("/usr/lib/ocf/resource.d/pacemaker/Stateful")
DEFINITION = """\
cluster: {stonith-enabled: false, cluster-name: shimtest}
nodes: [n1, n2]
resources:
  - promotable: st-clone
    child: {id: st, agent: "ocf:pacemaker:Stateful", params: {state: /tmp/x}}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """etcd, a cluster with n1 a member (and n2 known), and the shims installed."""
    require_etcd()
    d = tmp_path_factory.mktemp("shims")
    with EtcdCluster(d / "etcd", size=1) as etcd:
        endpoint = etcd.endpoints[0]

        async def setup(cs: ClusterStore) -> None:
            await cs.put_definition(DEFINITION, 0)
            await cs.join("n1", (await cs.grant_lease(120)).id)
            await cs.join("n2", (await cs.grant_lease(120)).id)
        _store(endpoint, setup)
        sbin = d / "sbin"
        install_shims(sbin, sys.executable, SHIM_NAMES)
        env = {"PATH": f"{sbin}:/usr/sbin:/usr/bin:/bin", "HA_SBIN_DIR": str(sbin),
               "PACER_NODE": "n1", "PACER_CLUSTER": "shims",
               "PACER_ENDPOINTS": endpoint, "LC_ALL": "C"}
        yield endpoint, sbin, env, d


def _store(endpoint: str, body: Callable[[ClusterStore], Awaitable[object]]) -> object:
    async def run() -> object:
        s = EtcdStore(EtcdConfig((endpoint,)))
        try:
            return await body(ClusterStore(s, "shims"))
        finally:
            await s.close()
    return asyncio.run(run())


def shim(world, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    _endpoint, sbin, env, _d = world
    return subprocess.run([str(sbin / argv[0]), *argv[1:]], env={**env, **extra},
                          capture_output=True, text=True, timeout=30)


def test_crm_attribute_round_trip(world) -> None:
    endpoint = world[0]
    r = shim(world, "crm_attribute", "-N", "n2", "-n", "rack", "-G")
    assert (r.returncode, r.stderr) == (
        105, "crm_attribute: Error performing operation: No such device or address\n")
    assert shim(world, "crm_attribute", "-N", "n2", "-n", "rack", "-v", "b").returncode == 0
    r = shim(world, "crm_attribute", "-N", "n2", "-n", "rack", "-G")
    assert (r.returncode, r.stdout) == (0, "scope=nodes  name=rack value=b\n")
    r = shim(world, "crm_attribute", "-N", "n2", "-n", "rack", "-G", "-q")
    assert r.stdout == "b\n"
    # reboot lifetime on the local node (PACER_NODE): a transient attribute
    assert shim(world, "crm_attribute", "-n", "x", "-l", "reboot", "-v", "7").returncode == 0
    attrs = _store(endpoint, lambda cs: cs._store.get(cs.keys.attr("n1", "x", True)))
    assert attrs is not None and attrs.value == b"7"  # type: ignore[union-attr]
    r = shim(world, "crm_attribute", "-N", "n2", "-n", "rack", "-D")
    assert r.stdout == "Deleted nodes attribute: id=nodes-n2-rack name=rack\n"
    left = _store(endpoint, lambda cs: cs.attributes("n2"))
    # (only what the node daemon publishes at join)
    assert {k for k in left if not k.startswith("#pacer-")} == set()  # type: ignore[union-attr]
    r = shim(world, "crm_attribute", "-t", "crm_config", "-n", "cluster-name", "-G", "-q")
    assert (r.returncode, r.stdout) == (0, "shimtest\n")


def test_crm_master_attrd_updater_and_crm_node(world) -> None:
    endpoint = world[0]
    r = shim(world, "crm_master", "-l", "reboot", "-v", "42", OCF_RESOURCE_INSTANCE="db")
    assert r.returncode == 0, r.stderr
    assert _store(endpoint, lambda cs: cs.attributes("n1"))["master-db"] == "42"
    r = shim(world, "crm_master", "-l", "reboot", "-G", "-q", OCF_RESOURCE_INSTANCE="db")
    assert r.stdout == "42\n"
    assert shim(world, "crm_master", "-l", "reboot", "-D",
                OCF_RESOURCE_INSTANCE="db").returncode == 0
    r = shim(world, "crm_master", "-l", "reboot", "-G", OCF_RESOURCE_INSTANCE="db")
    assert r.returncode == 105

    assert shim(world, "attrd_updater", "-n", "pingd", "-U", "100").returncode == 0
    r = shim(world, "attrd_updater", "-n", "pingd", "-Q")
    assert r.stdout == 'name="pingd" host="n1" value="100"\n'
    assert shim(world, "attrd_updater", "-n", "pingd", "-D").returncode == 0
    assert shim(world, "attrd_updater", "-n", "pingd", "-Q").returncode == 105

    assert shim(world, "crm_node", "-n").stdout == "n1\n"
    assert shim(world, "crm_node", "-p").stdout == "n1 n2\n"
    assert shim(world, "crm_node", "-q").stdout == "1\n"
    assert shim(world, "crm_node", "-l").stdout == "n1 n1 member\nn2 n2 member\n"


def test_crm_mon_and_crm_resource(world) -> None:
    r = shim(world, "crm_mon", "-1", "-s")
    assert (r.returncode, r.stdout) == (
        0, "CLUSTER OK: 2 nodes online, 2 resource instances configured\n")
    r = shim(world, "crm_resource", "--locate", "-r", "st-clone")
    assert (r.returncode, r.stderr) == (0, "resource st-clone is NOT running\n")
    r = shim(world, "crm_resource", "-r", "st", "-g", "state")
    assert (r.returncode, r.stdout) == (0, "/tmp/x\n")


def test_stateful_agent_sets_its_promotion_score_through_the_shims(world) -> None:
    if not STATEFUL.exists():
        pytest.skip("ocf:pacemaker:Stateful is not installed")
    endpoint, _sbin, env, d = world
    agent_env = {**env, "OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "st",
                 "OCF_RESKEY_state": str(d / "st.state"),
                 "OCF_RESKEY_CRM_meta_clone": "0", "OCF_RESKEY_CRM_meta_clone_max": "2"}

    def run(action: str) -> int:
        return subprocess.run([str(STATEFUL), action], env=agent_env, capture_output=True,
                              text=True, timeout=60).returncode

    def score() -> str | None:
        return _store(endpoint, lambda cs: cs.attributes("n1")).get("master-st")  # type: ignore[union-attr]

    assert run("start") == 0
    assert score() == "5"  # SCORE_UNPROMOTED, set by `crm_attribute --promotion -v 5`
    assert run("promote") == 0
    assert score() == "10"
    assert run("monitor") == 8  # promoted
    assert run("demote") == 0
    assert run("stop") == 0
    assert score() is None  # `crm_attribute --promotion -D`


def test_unreachable_etcd(world) -> None:
    (port,) = free_ports(1)
    r = shim(world, "crm_attribute", "-n", "x", "-l", "reboot", "-G",
             PACER_ENDPOINTS=f"127.0.0.1:{port}", PACER_ETCD_TIMEOUT="1")
    assert r.returncode == 102  # CRM_EX_NOT_CONNECTED
    assert "cannot reach etcd" in r.stderr and f"127.0.0.1:{port}" in r.stderr
    assert shim(world, "crm_node", "-q", PACER_ENDPOINTS=f"127.0.0.1:{port}",
                PACER_ETCD_TIMEOUT="1").stdout == "0\n"
    assert shim(world, "crm_node", "-n").stdout == "n1\n"  # needs no store at all


