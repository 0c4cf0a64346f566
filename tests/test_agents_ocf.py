"""The OCF runner with Debian's real agents, and with misbehaving test agents."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from agents_fixtures import act, arun, node_env, require_agents, write_agent

from pacer.agents.api import ActionRequest, AgentSpec, map_ocf_rc
from pacer.agents.metadata import MetadataError, parse_metadata
from pacer.agents.ocf import OcfRunner, ocf_environment
from pacer.agents.procfs import group_members, proc_start_time
from pacer.agents.registry import AgentRegistry
from pacer.status.types import OP_DONE, OP_ERROR, OP_NOT_INSTALLED, OP_TIMEOUT


@pytest.fixture
def reg(tmp_path: Path) -> AgentRegistry:
    return AgentRegistry(node_env(tmp_path / "node1"))


@pytest.fixture
def test_root(tmp_path: Path) -> Path:
    return tmp_path / "ocf"


def test_rc_mapping() -> None:
    assert [map_ocf_rc(rc) for rc in (0, 7, 8, 9, 190, 191)] == [0, 7, 8, 9, 190, 191]
    assert [map_ocf_rc(rc) for rc in (10, 42, 126, 127, 189, 192, 255)] == [1] * 7


@require_agents("ocf:heartbeat:Dummy")
def test_heartbeat_dummy_lifecycle(reg: AgentRegistry, tmp_path: Path) -> None:
    spec = "ocf:heartbeat:Dummy"
    assert act(reg, spec, "monitor").rc == 7  # probe of a stopped resource
    assert act(reg, spec, "start").rc == 0
    # The state file lives in this node's HA_RSCTMP, not the machine's.
    assert (tmp_path / "node1/rsctmp/Dummy-r1.state").exists()
    assert act(reg, spec, "monitor").rc == 0
    assert act(reg, spec, "monitor", interval_ms=10_000).rc == 0
    assert act(reg, spec, "validate-all").rc == 0
    assert act(reg, spec, "stop").rc == 0
    assert act(reg, spec, "monitor").rc == 7
    assert act(reg, spec, "stop").rc == 0  # stopping a stopped resource succeeds
    bogus = act(reg, spec, "bogus")
    assert (bogus.rc, bogus.op_status) == (3, OP_DONE)


@require_agents("ocf:pacemaker:Dummy")
def test_pacemaker_dummy_per_node_state(tmp_path: Path) -> None:
    node1 = AgentRegistry(node_env(tmp_path / "n1", "node1"))
    node2 = AgentRegistry(node_env(tmp_path / "n2", "node2"))
    spec = "ocf:pacemaker:Dummy"
    assert act(node1, spec, "start").rc == 0
    assert (tmp_path / "n1/run/Dummy-r1.state").exists()  # HA_VARRUN
    # Two node daemons on one machine: node2's probe does not see node1's resource.
    assert act(node2, spec, "monitor").rc == 7
    assert act(node1, spec, "monitor").rc == 0
    failing = act(node1, spec, "monitor", interval_ms=10_000, check_level=30)
    assert failing.rc == 1
    assert failing.exit_reason == "hyperdrive quota reached"
    assert act(node1, spec, "stop").rc == 0
    assert act(node1, spec, "monitor").rc == 7


@require_agents("ocf:pacemaker:Dummy")
def test_fail_start_on_this_node(reg: AgentRegistry) -> None:
    result = act(reg, "ocf:pacemaker:Dummy", "start",
                 params={"fail_start_on": os.uname().nodename})
    assert result.rc == 1 and result.op_status == OP_DONE


@require_agents("ocf:pacemaker:Stateful")
def test_stateful_promote_demote(reg: AgentRegistry, tmp_path: Path) -> None:
    spec = "ocf:pacemaker:Stateful"
    meta = {"clone-max": "2", "promotable": "true", "globally-unique": "false"}

    def st(action: str, interval_ms: int = 0) -> int:
        return act(reg, spec, action, instance="st:0", meta=meta, interval_ms=interval_ms).rc

    assert st("monitor") == 7
    assert st("start") == 0
    # Anonymous clone: the :N is stripped from the state file name.
    assert (tmp_path / "node1/run/Stateful-st.state").read_text().strip() == "Unpromoted"
    assert st("monitor", 11_000) == 0
    assert st("promote") == 0
    assert st("monitor") == 8
    assert st("monitor", 10_000) == 8
    assert st("demote") == 0
    assert st("monitor", 11_000) == 0
    assert st("migrate_to") == 3
    assert st("stop") == 0
    assert st("monitor") == 7


@require_agents("ocf:pacemaker:Stateful")
def test_notify_with_empty_lists(reg: AgentRegistry) -> None:
    result = act(reg, "ocf:pacemaker:Stateful", "notify", instance="st:1",
                 meta={"clone-max": "2", "promotable": "true", "notify": "true"},
                 notify={"type": "pre", "operation": "start", "start_resource": "st:1",
                         "start_uname": "node1", "active_resource": ""})
    assert result.rc == 0


@require_agents("ocf:heartbeat:Dummy", "ocf:heartbeat:IPaddr2", "ocf:pacemaker:Stateful",
                "ocf:pacemaker:Dummy")
def test_metadata_of_real_agents(reg: AgentRegistry) -> None:
    ip = arun(reg.metadata("ocf:heartbeat:IPaddr2"))
    assert ip.name == "IPaddr2"
    p = ip.parameter("ip")
    assert p is not None and p.required and p.unique
    nic = ip.parameter("nic")
    assert nic is not None and nic.default is None
    assert ip.default_timeout_ms("start") == 20_000
    assert ip.default_timeout_ms("monitor", 10_000) == 20_000
    assert not ip.promotable and not ip.migratable

    st = arun(reg.metadata("ocf:pacemaker:Stateful"))
    assert st.promotable and st.reload_agent and st.version == "1.2"
    assert {(a.role, a.interval_ms) for a in st.actions if a.name == "monitor"} == {
        ("Promoted", 10_000), ("Unpromoted", 11_000)}
    state = st.parameter("state")
    assert state is not None and state.unique_group == "state"

    dummy = arun(reg.metadata("ocf:heartbeat:Dummy"))
    assert dummy.migratable and not dummy.promotable
    assert dummy.default_timeout_ms("meta-data") == 5_000
    pdummy = arun(reg.metadata("ocf:pacemaker:Dummy"))
    assert pdummy.migratable and pdummy.reload_agent
    assert {p.name for p in pdummy.parameters if p.reloadable} >= {"fake", "op_sleep"}


def test_metadata_errors() -> None:
    with pytest.raises(MetadataError, match="not well-formed"):
        parse_metadata("<resource-agent")
    with pytest.raises(MetadataError, match="expected <resource-agent>"):
        parse_metadata("<html/>")


ENV_DUMP = """#!/bin/sh
env > "$HA_RSCTMP/env.$OCF_RESOURCE_INSTANCE"
exit 0
"""


def test_environment(tmp_path: Path, test_root: Path) -> None:
    write_agent(test_root, "test", "envdump", ENV_DUMP)
    node = node_env(tmp_path / "node1", feature_set="3.16.2")
    reg = AgentRegistry(node, ocf_roots=[test_root])
    result = act(reg, "ocf:test:envdump", "monitor", instance="web:2",
                 params={"ip": "10.0.0.1", "empty": ""},
                 meta={"clone-max": "3", "globally-unique": "false"},
                 interval_ms=10_000, timeout_ms=30_000, check_level=10,
                 notify={"type": "post", "operation": "stop", "stop_uname": ""})
    assert result.rc == 0
    env = dict(line.split("=", 1) for line in
               (node.rsctmp / "env.web:2").read_text().splitlines() if "=" in line)
    assert env["OCF_ROOT"] == str(test_root)
    assert env["OCF_RA_VERSION_MAJOR"] == "1" and env["OCF_RA_VERSION_MINOR"] == "1"
    assert env["OCF_RESOURCE_INSTANCE"] == "web:2"
    assert (env["OCF_RESOURCE_TYPE"], env["OCF_RESOURCE_PROVIDER"]) == ("envdump", "test")
    assert env["OCF_RESKEY_ip"] == "10.0.0.1"
    assert env["OCF_RESKEY_empty"] == ""  # configured empty stays empty
    assert not any(k.startswith("OCF_RESKEY_") and k.endswith("fake") for k in env)
    assert env["OCF_RESKEY_CRM_meta_clone_max"] == "3"
    assert env["OCF_RESKEY_CRM_meta_globally_unique"] == "false"
    assert env["OCF_RESKEY_CRM_meta_interval"] == "10000"
    assert env["OCF_RESKEY_CRM_meta_timeout"] == "30000"
    assert env["OCF_RESKEY_CRM_meta_name"] == "monitor"
    assert env["OCF_RESKEY_CRM_meta_on_node"] == "node1"
    assert env["OCF_RESKEY_CRM_meta_notify_type"] == "post"
    assert env["OCF_RESKEY_CRM_meta_notify_stop_uname"] == " "  # an empty list
    assert env["OCF_RESKEY_crm_feature_set"] == "3.16.2"
    assert env["OCF_CHECK_LEVEL"] == "10"
    assert env["OCF_EXIT_REASON_PREFIX"] == "ocf-exit-reason:"
    assert env["HA_RSCTMP"] == str(node.rsctmp)
    assert env["HA_VARRUN"].rstrip("/") == str(node.varrun)
    assert env["HA_SBIN_DIR"] == str(node.sbin)
    assert env["PATH"].split(":")[0] == str(node.sbin)
    # A clean environment: nothing of the runner's own leaks in.
    assert "PYTEST_CURRENT_TEST" not in env and "HOME" not in env


def test_bad_parameter_name(tmp_path: Path, test_root: Path) -> None:
    write_agent(test_root, "test", "envdump", ENV_DUMP)
    reg = AgentRegistry(node_env(tmp_path), ocf_roots=[test_root])
    result = act(reg, "ocf:test:envdump", "start", params={"a=b": "x"})
    assert result.rc == 2 and "environment variable" in result.exit_reason


HANGING = """#!/bin/sh
echo $$ > "$HA_RSCTMP/leader.pid"
sleep 300 &
echo $! > "$HA_RSCTMP/child.pid"
echo "ocf-exit-reason:still thinking" >&2
wait
"""

TERM_PROOF = """#!/bin/sh
trap '' TERM
echo $$ > "$HA_RSCTMP/leader.pid"
sh -c 'trap "" TERM; sleep 300' &
echo $! > "$HA_RSCTMP/child.pid"
while :; do sleep 1; done
"""


@pytest.mark.parametrize("body", [HANGING, TERM_PROOF], ids=["hangs", "ignores-term"])
def test_timeout_kills_the_whole_group(tmp_path: Path, test_root: Path, body: str) -> None:
    write_agent(test_root, "test", "hang", body)
    node = node_env(tmp_path / "node1", kill_grace_s=0.5)
    reg = AgentRegistry(node, ocf_roots=[test_root])
    result = act(reg, "ocf:test:hang", "start", timeout_ms=1000)
    assert result.timed_out and result.op_status == OP_TIMEOUT and result.rc == 1
    assert "timed out after 1000 ms" in result.exit_reason
    leader = int((node.rsctmp / "leader.pid").read_text())
    child = int((node.rsctmp / "child.pid").read_text())
    assert group_members(leader) == []
    assert proc_start_time(leader) is None and proc_start_time(child) is None
    if body is HANGING:
        assert "still thinking" in result.exit_reason


def test_successful_agent_leaves_its_children_alone(tmp_path: Path, test_root: Path) -> None:
    # Like IPaddr2's send_arp: a background child keeps the agent's stdout open.
    write_agent(test_root, "test", "bg", """#!/bin/sh
sleep 300 &
echo $! > "$HA_RSCTMP/child.pid"
echo started
exit 0
""")
    node = node_env(tmp_path)
    reg = AgentRegistry(node, ocf_roots=[test_root])
    started = time.monotonic()
    result = act(reg, "ocf:test:bg", "start", timeout_ms=60_000)
    child = int((node.rsctmp / "child.pid").read_text())
    try:
        # Completion is the agent exiting, not its pipes closing (that takes 300 s).
        assert time.monotonic() - started < 60
        assert (result.rc, result.op_status, result.output) == (0, OP_DONE, "started\n")
        assert proc_start_time(child) is not None  # not killed after a success
    finally:
        os.kill(child, signal.SIGKILL)


def test_garbage_and_huge_output_and_unknown_rc(tmp_path: Path, test_root: Path) -> None:
    write_agent(test_root, "test", "noisy", """#!/bin/sh
head -c 3000000 /dev/urandom
head -c 300000 /dev/urandom >&2
printf 'ocf-exit-reason:first\\n' >&2
printf '\\377\\376 not utf-8 \\n' >&2
printf 'ocf-exit-reason:the real reason\\n' >&2
printf 'trailing' >&2
exit 42
""")
    node = node_env(tmp_path, capture_limit=4096)
    reg = AgentRegistry(node, ocf_roots=[test_root])
    result = act(reg, "ocf:test:noisy", "monitor", timeout_ms=60_000)
    assert (result.rc, result.op_status, result.exit_status) == (1, OP_DONE, 42)
    assert result.exit_reason == "the real reason"
    assert len(result.output) < 8000 and "bytes dropped" in result.output
    assert result.stderr.endswith("trailing")


def test_unknown_rc_without_reason_says_so(tmp_path: Path, test_root: Path) -> None:
    write_agent(test_root, "test", "rc42", "#!/bin/sh\nexit 42\n")
    write_agent(test_root, "test", "degraded", "#!/bin/sh\nexit 191\n")
    reg = AgentRegistry(node_env(tmp_path), ocf_roots=[test_root])
    result = act(reg, "ocf:test:rc42", "monitor")
    assert result.rc == 1 and "unknown status 42" in result.exit_reason
    degraded = act(reg, "ocf:test:degraded", "monitor", interval_ms=10_000)
    assert degraded.rc == 191 and degraded.degraded


def test_killed_by_signal(tmp_path: Path, test_root: Path) -> None:
    write_agent(test_root, "test", "segv", "#!/bin/sh\nkill -SEGV $$\n")
    reg = AgentRegistry(node_env(tmp_path), ocf_roots=[test_root])
    result = act(reg, "ocf:test:segv", "start")
    assert (result.rc, result.op_status, result.signal) == (1, OP_ERROR, signal.SIGSEGV)
    assert "SIGSEGV" in result.exit_reason


def test_not_executable_and_missing(tmp_path: Path, test_root: Path) -> None:
    path = write_agent(test_root, "test", "noexec", "#!/bin/sh\nexit 0\n")
    path.chmod(0o644)
    reg = AgentRegistry(node_env(tmp_path), ocf_roots=[test_root])
    result = act(reg, "ocf:test:noexec", "start")
    assert (result.rc, result.op_status) == (5, OP_NOT_INSTALLED)
    assert str(path) in result.exit_reason


def test_ocf_environment_without_instance(tmp_path: Path) -> None:
    request = ActionRequest(rsc_id="", agent=AgentSpec.parse("ocf:heartbeat:Dummy"),
                            action="meta-data")
    env = ocf_environment(request, node_env(tmp_path), ocf_root=Path("/usr/lib/ocf"),
                          provider="heartbeat", type_="Dummy")
    assert "OCF_RESOURCE_INSTANCE" not in env


@require_agents("ocf:heartbeat:Dummy")
def test_ocf_runner_lists_agents(tmp_path: Path) -> None:
    agents = OcfRunner(node_env(tmp_path)).list_agents()
    names = {str(a) for a in agents}
    assert "ocf:heartbeat:Dummy" in names
    assert not any(a.type.startswith(".") for a in agents)


def test_cancelled_action_kills_its_group(tmp_path: Path, test_root: Path) -> None:
    # A node daemon shutting down cancels its running actions: nothing may linger.
    write_agent(test_root, "test", "hang", HANGING)
    node = node_env(tmp_path / "node1")
    reg = AgentRegistry(node, ocf_roots=[test_root])
    request = ActionRequest(rsc_id="r1", agent=AgentSpec.parse("ocf:test:hang"),
                            action="start", timeout_ms=300_000)

    async def cancel_soon() -> None:
        task = asyncio.ensure_future(reg.run(request))
        while not (node.rsctmp / "child.pid").exists():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    arun(cancel_soon())
    leader = int((node.rsctmp / "leader.pid").read_text())
    child = int((node.rsctmp / "child.pid").read_text())
    assert group_members(leader) == []
    assert proc_start_time(leader) is None and proc_start_time(child) is None


@require_agents("ocf:heartbeat:Dummy")
def test_unwritable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    reg = AgentRegistry(node_env(blocker / "state"))
    result = act(reg, "ocf:heartbeat:Dummy", "start")
    assert (result.rc, result.op_status) == (1, OP_ERROR)
    assert "state directory" in result.exit_reason
