"""`pacer ra list | info | run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agents_fixtures import require_agents, write_agent

from pacer.cli.main import main


def ra(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["ra", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@require_agents("ocf:heartbeat:Dummy")
def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ra(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert "ocf:heartbeat:Dummy" in lines and "pacer:vip" in lines
    code, out, _ = ra(capsys, "list", "pacer", "--json")
    assert json.loads(out) == ["pacer:process", "pacer:vip"]
    code, _, err = ra(capsys, "list", "bogus")
    assert code == 1 and "unknown agent class 'bogus'" in err


@require_agents("ocf:pacemaker:Stateful")
def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ra(capsys, "info", "ocf:pacemaker:Stateful")
    assert code == 0
    assert "ocf:pacemaker:Stateful (Stateful 1.2)" in out
    assert "monitor         timeout 20s  interval 10s  role Promoted" in out
    assert "Promotable: yes" in out
    code, out, _ = ra(capsys, "info", "ocf:pacemaker:Stateful", "--json")
    data = json.loads(out)
    assert data["promotable"] is True and data["reload_agent"] is True
    assert [p["name"] for p in data["parameters"]] == ["state", "envfile", "notify_delay"]


def test_info_unknown_agent(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = ra(capsys, "info", "ocf:heartbeat:Dumy")
    assert code == 1
    assert err.startswith("pacer: error: agent ocf:heartbeat:Dumy not found (looked for ")
    assert "did you mean ocf:heartbeat:Dummy" in err


@require_agents("ocf:heartbeat:Dummy")
def test_run_lifecycle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    code, out, _ = ra(capsys, "run", "ocf:heartbeat:Dummy", "monitor", "-i", "d1",
                      "--state-dir", state)
    assert code == 7 and out.startswith("ocf:heartbeat:Dummy monitor (d1): rc 7 (not running), "
                                        "complete, ")
    code, out, _ = ra(capsys, "run", "ocf:heartbeat:Dummy", "start", "-i", "d1",
                      "--state-dir", state)
    assert code == 0 and "rc 0 (ok)" in out
    code, out, _ = ra(capsys, "run", "ocf:heartbeat:Dummy", "monitor", "-i", "d1",
                      "--interval", "10s", "--state-dir", state, "--json")
    data = json.loads(out)
    assert code == 0 and data["rc"] == 0 and data["op_status_name"] == "complete"
    code, _, err = ra(capsys, "run", "ocf:heartbeat:Dummy", "stop", "-i", "d1",
                      "--state-dir", state, "-p", "nosuch=1")
    assert code == 0 and err == ""  # stop does not nag about parameters


@require_agents("ocf:pacemaker:Dummy")
def test_run_warns_and_reports_reason(capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    ra(capsys, "run", "ocf:pacemaker:Dummy", "start", "--state-dir", state)
    code, out, err = ra(capsys, "run", "ocf:pacemaker:Dummy", "monitor", "--check-level", "30",
                        "--interval", "10s", "--state-dir", state, "-p", "colour=blue")
    assert code == 1
    assert "reason: hyperdrive quota reached" in out
    assert "has no parameter 'colour'" in err
    ra(capsys, "run", "ocf:pacemaker:Dummy", "stop", "--state-dir", state)


def test_run_unknown_agent_and_timeout(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    code, _, err = ra(capsys, "run", "ocf:heartbeat:Dumy", "start")
    assert code == 5 and "not found" in err
    root = tmp_path / "ocf"
    write_agent(root, "test", "slow", "#!/bin/sh\n[ \"$1\" = meta-data ] && exit 3\nexec sleep 300\n")
    code, out, _ = ra(capsys, "run", "ocf:test:slow", "start", "--ocf-root", str(root),
                      "--timeout", "500ms", "--state-dir", str(tmp_path / "s"))
    assert code == 1 and "timed out" in out and "start timed out after 500 ms" in out


@pytest.mark.skipif(not os.access("/usr/sbin/fence_dummy", os.X_OK),
                    reason="fence_dummy not installed")
def test_run_fence_agent(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status_file = f"status_file={tmp_path / 'power'}"
    code, out, _ = ra(capsys, "run", "stonith:fence_dummy", "status", "--target", "node1",
                      "-p", status_file, "--state-dir", str(tmp_path / "s"))
    assert code == 2 and "power: off" in out
    code, out, _ = ra(capsys, "run", "stonith:fence_dummy", "on", "--target", "node1",
                      "-p", status_file, "--state-dir", str(tmp_path / "s"), "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_help_pages() -> None:
    for argv in (["ra", "--help"], ["ra", "run", "--help"], ["ra", "info", "--help"],
                 ["ra", "list", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "pacer", *argv], capture_output=True,
                              text=True, check=True)
        assert "usage: pacer ra" in proc.stdout
    run_help = subprocess.run([sys.executable, "-m", "pacer", "ra", "run", "--help"],
                              capture_output=True, text=True, check=True).stdout
    assert "exit status:" in run_help and "OCF_RESKEY_CRM_meta_" in run_help


def test_bad_param_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ra", "run", "ocf:heartbeat:Dummy", "start", "-p", "novalue"])
    assert exc.value.code == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
