"""The registry (spec → runner, not-found errors), LSB scripts and the systemd runner.

systemd is not PID 1 on the test machines, so the systemd runner is tested
against a stand-in `systemctl` script: that checks the command lines pacer
issues and how it reads the answers, not systemd itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from agents_fixtures import act, arun, node_env, require_agents

from pacer.agents.api import ActionRequest, AgentError, AgentNotFoundError, AgentRunner, AgentSpec
from pacer.agents.lsb import LsbRunner, lsb_header, lsb_to_ocf
from pacer.agents.registry import AgentRegistry
from pacer.agents.systemd import (
    SystemdRunner,
    state_to_ocf,
    systemctl_argv,
    systemd_running,
    unit_name,
)
from pacer.status.types import OP_DONE, OP_NOT_INSTALLED, OP_PENDING, PENDING_RC


@pytest.fixture
def reg(tmp_path: Path) -> AgentRegistry:
    return AgentRegistry(node_env(tmp_path))


def test_spec_parsing() -> None:
    spec = AgentSpec.parse("ocf:heartbeat:IPaddr2")
    assert (spec.standard, spec.provider, spec.type, str(spec)) == (
        "ocf", "heartbeat", "IPaddr2", "ocf:heartbeat:IPaddr2")
    assert str(AgentSpec.parse("systemd:nginx")) == "systemd:nginx"
    assert AgentSpec.parse("pacer:vip").provider is None
    for bad in ("ocf:Dummy", "Dummy", "ocf::Dummy", "ocf:heartbeat:../../bin/sh", "lsb:"):
        with pytest.raises(ValueError):
            AgentSpec.parse(bad)


def test_registry_is_an_agent_runner(reg: AgentRegistry) -> None:
    assert isinstance(reg, AgentRunner)


@require_agents("ocf:heartbeat:Dummy", "ocf:pacemaker:Dummy", "ocf:heartbeat:IPaddr2")
def test_unknown_agent_says_where_and_suggests(reg: AgentRegistry) -> None:
    with pytest.raises(AgentNotFoundError) as err:
        reg.resolve("ocf:heartbeat:Dumy")
    text = str(err.value)
    assert "/usr/lib/ocf/resource.d/heartbeat/Dumy" in text
    assert "did you mean ocf:heartbeat:Dummy" in text
    assert err.value.suggestions[:2] == ["ocf:heartbeat:Dummy", "ocf:pacemaker:Dummy"]
    # The right name under another provider comes first.
    with pytest.raises(AgentNotFoundError, match="did you mean ocf:heartbeat:IPaddr2"):
        reg.resolve("ocf:pacemaker:IPaddr2")
    with pytest.raises(AgentNotFoundError, match="did you mean ocf:heartbeat:IPaddr2"):
        reg.resolve("ocf:heartbeat:ipaddr2")
    with pytest.raises(AgentNotFoundError, match="did you mean pacer:vip"):
        reg.resolve("pacer:vipp")
    with pytest.raises(AgentNotFoundError, match="unknown agent class 'ocff'.*did you mean ocf"):
        reg.resolve("ocff:heartbeat:Dummy")
    with pytest.raises(AgentError, match="needs a provider"):
        reg.resolve("ocf:Dummy")


def test_missing_agent_result(reg: AgentRegistry) -> None:
    result = act(reg, "ocf:heartbeat:NoSuchAgent", "monitor")
    assert (result.rc, result.op_status) == (5, OP_NOT_INSTALLED)
    assert "resource.d/heartbeat/NoSuchAgent" in result.exit_reason


@require_agents("ocf:heartbeat:Dummy")
def test_listing(reg: AgentRegistry) -> None:
    names = {str(a) for a in reg.list_agents()}
    assert {"ocf:heartbeat:Dummy", "pacer:vip", "pacer:process"} <= names
    assert {str(a) for a in reg.list_agents("pacer")} == {"pacer:vip", "pacer:process"}
    with pytest.raises(AgentNotFoundError, match="unknown agent class"):
        reg.list_agents("nope")


def test_concurrent_actions(reg: AgentRegistry) -> None:
    async def many() -> list[int]:
        spec = AgentSpec.parse("ocf:heartbeat:Dummy")
        requests = [ActionRequest(rsc_id=f"d{i}", agent=spec, action="start") for i in range(8)]
        return [r.rc for r in await asyncio.gather(*(reg.run(q) for q in requests))]

    assert arun(many()) == [0] * 8


# --------------------------------------------------------------------------- LSB

INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          pacertest
# Short-Description: A test service
# Description:       Pretends to be a daemon,
#                    for pacer's tests.
### END INIT INFO
STATE="${STATE_DIR:-$(dirname "$0")}/pacertest.running"
case "$1" in
  start) touch "$STATE" ;;
  stop) rm -f "$STATE" ;;
  status) [ -e "$STATE" ] && exit 0; exit 3 ;;
  *) echo "Usage: $0 {start|stop|status}"; exit 3 ;;
esac
"""


def test_lsb_script(tmp_path: Path) -> None:
    init = tmp_path / "init.d"
    init.mkdir()
    script = init / "pacertest"
    script.write_text(INIT_SCRIPT)
    script.chmod(0o755)
    reg = AgentRegistry(node_env(tmp_path / "node"), init_dirs=[init])
    assert reg.resolve("service:pacertest") == AgentSpec("lsb", "pacertest")
    assert act(reg, "lsb:pacertest", "monitor").rc == 7
    assert act(reg, "lsb:pacertest", "start").rc == 0
    assert act(reg, "lsb:pacertest", "monitor", interval_ms=10_000).rc == 0
    assert act(reg, "service:pacertest", "stop").rc == 0
    assert act(reg, "lsb:pacertest", "status").rc == 7
    assert act(reg, "lsb:pacertest", "stop").rc == 0
    md = arun(reg.metadata("lsb:pacertest"))
    assert md.shortdesc == "A test service"
    assert md.longdesc == "Pretends to be a daemon, for pacer's tests."
    meta = act(reg, "lsb:pacertest", "meta-data")
    assert meta.rc == 0 and "<resource-agent" in meta.output


def test_lsb_exit_codes() -> None:
    assert [lsb_to_ocf("status", rc) for rc in (0, 1, 2, 3, 4, 150, 151, 99)] == [
        0, 7, 7, 7, 1, 5, 4, 1]
    assert [lsb_to_ocf("start", rc) for rc in (0, 1, 2, 3, 5, 6, 7, 8, 150)] == [
        0, 1, 2, 3, 5, 6, 7, 1, 1]
    assert lsb_to_ocf("monitor", 3) == 7


def test_lsb_header_real_script() -> None:
    path = Path("/etc/init.d/procps")
    if not path.exists():
        pytest.skip("no /etc/init.d/procps")
    assert lsb_header(path.read_text())["Provides"] == "procps"
    assert LsbRunner(node_env(Path("/tmp"))).locate(AgentSpec("lsb", "procps")) == path


# --------------------------------------------------------------------------- systemd

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
state="$(dirname "$0")/state.$2"
case "$1" in
  start)
    case "$2" in broken.service) echo "Job for broken.service failed." >&2; exit 1 ;; esac
    echo active > "$state" ;;
  stop) echo inactive > "$state" ;;
  is-active) if [ -e "$state" ]; then cat "$state"; else echo inactive; fi
             [ "$(cat "$state" 2>/dev/null)" = active ] ;;
  show) echo "The web server" ;;
  *) exit 1 ;;
esac
"""


def fake_systemd(tmp_path: Path) -> tuple[SystemdRunner, Path]:
    bindir = tmp_path / "fake"
    units = tmp_path / "units"
    bindir.mkdir()
    units.mkdir()
    for unit in ("nginx.service", "broken.service", "slow.service"):
        (units / unit).write_text("[Service]\nExecStart=/bin/true\n")
    systemctl = bindir / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL)
    systemctl.chmod(0o755)
    runner = SystemdRunner(node_env(tmp_path / "node"), systemctl=str(systemctl),
                           unit_dirs=[units], check_running=False)
    return runner, bindir


def test_systemd_commands_and_results_with_a_stand_in(tmp_path: Path) -> None:
    runner, bindir = fake_systemd(tmp_path)
    reg = AgentRegistry(node_env(tmp_path / "node"), systemd=runner)
    assert act(reg, "systemd:nginx", "monitor").rc == 7
    assert act(reg, "systemd:nginx", "start").rc == 0
    assert act(reg, "systemd:nginx", "monitor", interval_ms=60_000).rc == 0
    assert act(reg, "service:nginx", "stop").rc == 0
    assert act(reg, "systemd:nginx.service", "monitor").rc == 7
    broken = act(reg, "systemd:broken", "start")
    assert broken.rc == 1 and broken.exit_reason == "Job for broken.service failed."
    (bindir / "state.slow.service").write_text("activating\n")
    pending = act(reg, "systemd:slow", "monitor")
    assert (pending.rc, pending.op_status) == (PENDING_RC, OP_PENDING)
    gone = act(reg, "systemd:gone", "start")
    assert (gone.rc, gone.op_status) == (5, OP_NOT_INSTALLED)
    stop_gone = act(reg, "systemd:gone", "stop")
    assert (stop_gone.rc, stop_gone.op_status) == (0, OP_DONE)
    md = arun(reg.metadata("systemd:nginx"))
    assert md.shortdesc == "The web server" and md.has_action("monitor")
    assert (bindir / "calls").read_text().splitlines() == [
        "is-active nginx.service", "start nginx.service", "is-active nginx.service",
        "stop nginx.service", "is-active nginx.service", "start broken.service",
        "is-active slow.service", "show --property=Description --value nginx.service",
    ]


def test_systemd_mapping() -> None:
    assert unit_name("nginx") == "nginx.service"
    assert unit_name("web.socket") == "web.socket"
    assert systemctl_argv("systemctl", "monitor", "a.service") == [
        "systemctl", "is-active", "a.service"]
    assert systemctl_argv("systemctl", "reload", "a.service") == [
        "systemctl", "reload", "a.service"]
    assert state_to_ocf("active\n") == (0, None)
    assert state_to_ocf("reloading") == (0, None)
    assert state_to_ocf("failed") == (7, None)
    assert state_to_ocf("deactivating") == (PENDING_RC, OP_PENDING)


@pytest.mark.skipif(systemd_running(), reason="systemd runs here")
def test_systemd_not_running_is_said_plainly(reg: AgentRegistry) -> None:
    with pytest.raises(AgentNotFoundError, match="systemd is not running on this machine"):
        reg.resolve("systemd:nginx")
    result = act(reg, "systemd:nginx", "start")
    assert result.rc == 5 and "systemd is not running" in result.exit_reason
    assert reg.list_agents("systemd") == []
