"""Fence agents: the stdin protocol, and Debian's real fence_dummy.

fence_dummy (fence-agents) keeps the "power state" of its target in a status
file, so the whole on/off/status cycle runs here without hardware.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agents_fixtures import act, arun, node_env

from pacer.agents.api import Fencer, FenceRequest
from pacer.agents.fence import FenceAgentRunner, fence_stdin, parse_host_map
from pacer.agents.metadata import ParameterSpec, parse_metadata
from pacer.agents.registry import AgentRegistry

FENCE_DUMMY = Path("/usr/sbin/fence_dummy")
needs_fence_dummy = pytest.mark.skipif(not os.access(FENCE_DUMMY, os.X_OK),
                                       reason="fence_dummy not installed (Debian fence-agents)")

PLUG_MD = parse_metadata("""<resource-agent name="fence_x"><parameters>
<parameter name="plug"><content type="string"/></parameter>
<parameter name="port"><content type="string"/></parameter></parameters></resource-agent>""")


def test_stdin_protocol() -> None:
    request = FenceRequest(
        device="ipmi-1", agent="fence_x", action="reboot", target="node2",
        params={"ip": "10.0.0.9", "username": "admin", "pcmk_host_map": "node1:1;node2:2",
                "pcmk_reboot_action": "off", "pcmk_delay_max": "5",
                "CRM_meta_timeout": "20000", "crm_feature_set": "3.16.2"})
    lines = fence_stdin(request, PLUG_MD).splitlines()
    assert lines[:3] == ["action=off", "nodename=node2", "plug=2"]
    assert set(lines[3:]) == {"ip=10.0.0.9", "username=admin"}


def test_host_argument_choices() -> None:
    base = FenceRequest(device="d", agent="fence_x", action="off", target="n1")
    port_only = parse_metadata("""<resource-agent name="f"><parameters><parameter name="port">
        <content type="string"/></parameter></parameters></resource-agent>""")
    assert "port=n1" in fence_stdin(base, port_only)
    assert "plug" not in fence_stdin(base, None) and "port" not in fence_stdin(base, None)
    custom = FenceRequest(device="d", agent="fence_x", action="off", target="n1",
                          params={"pcmk_host_argument": "uuid"})
    assert "uuid=n1\n" in fence_stdin(custom, PLUG_MD)
    none = FenceRequest(device="d", agent="fence_x", action="off", target="n1",
                        params={"pcmk_host_argument": "none"})
    assert fence_stdin(none, PLUG_MD) == "action=off\nnodename=n1\n"
    configured = FenceRequest(device="d", agent="fence_x", action="off", target="n1",
                              params={"plug": "fixed"})
    assert fence_stdin(configured, PLUG_MD).count("plug=") == 1
    with pytest.raises(ValueError, match="newlines"):
        fence_stdin(FenceRequest(device="d", agent="f", action="off",
                                 params={"passwd": "a\naction=on"}), None)


def test_host_map_forms() -> None:
    assert parse_host_map("n1:1;n2:2") == {"n1": "1", "n2": "2"}
    assert parse_host_map("n1=a, n2=b  n3:c") == {"n1": "a", "n2": "b", "n3": "c"}
    assert parse_host_map("") == {}


@needs_fence_dummy
def test_fence_dummy_power_cycle(tmp_path: Path) -> None:
    fencer = FenceAgentRunner(node_env(tmp_path))
    assert isinstance(fencer, Fencer)
    params = {"status_file": str(tmp_path / "power")}

    def fence(action: str, **kw: object) -> object:
        return arun(fencer.fence(FenceRequest(device="fd", agent="fence_dummy", action=action,
                                              target="node2", params=params, **kw)))

    status = fence("status")
    assert (status.ok, status.rc, status.power) == (True, 2, "off")
    assert fence("on").ok
    assert (tmp_path / "power").read_text() == "on"
    assert fence("status").power == "on"
    off = fence("off")
    assert off.ok and off.rc == 0 and "Powered OFF" in off.output
    assert fence("status").power == "off"
    assert fence("reboot").ok
    assert fence("monitor").ok
    listing = fence("list")  # fence_dummy has no plugs to list
    assert not listing.ok and listing.rc == 1 and "Unrecognised action" in listing.error


@needs_fence_dummy
def test_fence_dummy_timeout(tmp_path: Path) -> None:
    fencer = FenceAgentRunner(node_env(tmp_path, kill_grace_s=0.5))
    # type=fail makes fence_dummy wait power_timeout seconds for a state that never comes.
    result = arun(fencer.fence(FenceRequest(
        device="fd", agent="fence_dummy", action="off", target="node2",
        params={"type": "fail", "power_timeout": "120"}, timeout_ms=1500)))
    assert result.timed_out and not result.ok and "timed out" in result.error


@needs_fence_dummy
def test_fence_dummy_metadata(tmp_path: Path) -> None:
    md = arun(FenceAgentRunner(node_env(tmp_path)).metadata(
        AgentRegistry(node_env(tmp_path)).resolve("stonith:fence_dummy")))
    assert md.name == "fence_dummy"
    status_file = md.parameter("status_file")
    assert isinstance(status_file, ParameterSpec)
    assert status_file.default == "/tmp/fence_dummy.status"
    assert status_file.getopt == "--status-file=[file]"
    action = md.parameter("action")
    assert action is not None and action.required
    assert md.has_action("reboot") and md.has_action("status")


def test_missing_fence_agent(tmp_path: Path) -> None:
    result = arun(FenceAgentRunner(node_env(tmp_path)).fence(
        FenceRequest(device="x", agent="fence_nonexistent", action="off", target="n1")))
    assert not result.ok and "fence_nonexistent is not installed" in result.error


@needs_fence_dummy
def test_stonith_resource_actions(tmp_path: Path) -> None:
    reg = AgentRegistry(node_env(tmp_path))
    params = {"status_file": str(tmp_path / "power")}
    assert act(reg, "stonith:fence_dummy", "start", "fd", params=params).rc == 0
    assert act(reg, "stonith:fence_dummy", "monitor", "fd", params=params,
               interval_ms=60_000).rc == 0
    assert act(reg, "stonith:fence_dummy", "stop", "fd").rc == 0
