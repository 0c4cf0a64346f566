"""pacer:process, the built-in that keeps a command line running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from agents_fixtures import act, arun, node_env

from pacer.agents.builtin.base import read_pidfile
from pacer.agents.procfs import group_members, proc_start_time
from pacer.agents.registry import AgentRegistry


@pytest.fixture
def reg(tmp_path: Path) -> AgentRegistry:
    return AgentRegistry(node_env(tmp_path / "node1"))


def pidfile(tmp_path: Path, instance: str) -> Path:
    return tmp_path / "node1" / "rsctmp" / f"pacer-process-{instance}.pid"


def test_process_lifecycle(reg: AgentRegistry, tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    # The command leaves a grandchild in its group: stop must take it down too.
    params = {"command": "sh -c 'sleep 300 & echo child $! ; echo $MYVAR; wait'",
              "logfile": str(log), "env": "MYVAR=hello"}
    assert act(reg, "pacer:process", "monitor", "svc", params=params).rc == 7
    start = act(reg, "pacer:process", "start", "svc", params=params)
    assert start.rc == 0, start
    entry = read_pidfile(pidfile(tmp_path, "svc"))
    assert entry is not None
    pid = entry[0]
    try:
        assert os.getsid(pid) == pid  # its own session: not in any action's group
        assert act(reg, "pacer:process", "monitor", "svc", params=params,
                   interval_ms=10_000).rc == 0
        assert act(reg, "pacer:process", "start", "svc", params=params).rc == 0  # idempotent
        assert read_pidfile(pidfile(tmp_path, "svc")) == entry
        deadline = time.monotonic() + 30
        while "hello" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "hello" in log.read_text()
        assert len(group_members(pid)) == 2
        stop = act(reg, "pacer:process", "stop", "svc", params=params)
        assert stop.rc == 0, stop
        assert group_members(pid) == [] and proc_start_time(pid) is None
        assert not pidfile(tmp_path, "svc").exists()
        assert act(reg, "pacer:process", "monitor", "svc", params=params).rc == 7
        assert act(reg, "pacer:process", "stop", "svc", params=params).rc == 0
    finally:
        if group_members(pid):
            os.killpg(pid, signal.SIGKILL)


def test_process_stop_escalates_to_kill(reg: AgentRegistry, tmp_path: Path) -> None:
    params = {"command": "sh -c 'trap \"\" TERM; sleep 300 & wait'", "stop_timeout": "1"}
    assert act(reg, "pacer:process", "start", "stubborn", params=params).rc == 0
    entry = read_pidfile(pidfile(tmp_path, "stubborn"))
    assert entry is not None
    try:
        assert act(reg, "pacer:process", "stop", "stubborn", params=params).rc == 0
        assert group_members(entry[0]) == []
    finally:
        if group_members(entry[0]):
            os.killpg(entry[0], signal.SIGKILL)


def test_process_died_is_not_running(reg: AgentRegistry, tmp_path: Path) -> None:
    params = {"command": "sleep 300"}
    assert act(reg, "pacer:process", "start", "d", params=params).rc == 0
    entry = read_pidfile(pidfile(tmp_path, "d"))
    assert entry is not None
    os.kill(entry[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while proc_start_time(entry[0]) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert act(reg, "pacer:process", "monitor", "d", params=params, interval_ms=10_000).rc == 7
    assert act(reg, "pacer:process", "stop", "d", params=params).rc == 0


def test_process_start_failures(reg: AgentRegistry) -> None:
    missing = act(reg, "pacer:process", "start", "m", params={"command": "/nonexistent/daemon"})
    assert missing.rc == 5 and "/nonexistent/daemon" in missing.exit_reason
    dies = act(reg, "pacer:process", "start", "f",
               params={"command": "false", "startup_check": "5000"})
    assert dies.rc == 1 and "exited at once with status 1" in dies.exit_reason
    unset = act(reg, "pacer:process", "start", "u")
    assert unset.rc == 6 and "command is required" in unset.exit_reason
    bad = act(reg, "pacer:process", "validate-all", "b", params={"command": "x 'unclosed"})
    assert bad.rc == 6
    bad_env = act(reg, "pacer:process", "validate-all", "b",
                  params={"command": "true", "env": "NOEQUALS"})
    assert bad_env.rc == 6
    assert act(reg, "pacer:process", "reload", "b", params={"command": "true"}).rc == 3


def test_builtin_metadata(reg: AgentRegistry) -> None:
    md = arun(reg.metadata("pacer:process"))
    assert md.name == "process" and md.required_parameters == ("command",)
    vip = arun(reg.metadata("pacer:vip"))
    ip = vip.parameter("ip")
    assert ip is not None and ip.required and ip.unique
    assert vip.default_timeout_ms("monitor", 10_000) == 20_000
