"""The lab's etcd timing: chosen at `pacer lab up`, kept in lab.json, given to every member."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacer.lab import hosts
from pacer.lab.hosts import LabInfo
from pacer.lab.lab import Lab, LabError


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_members_get_the_timing_chosen_at_up(tmp_path: Path) -> None:
    info = LabInfo(dir=str(tmp_path), nodes=3, hosts=["n1", "n2", "n3"],
                   etcd_heartbeat_ms=100, etcd_election_ms=1000)
    argv = hosts.etcd_argv(info, "n2")
    assert _flag(argv, "--heartbeat-interval") == "100"
    assert _flag(argv, "--election-timeout") == "1000"


def test_a_lab_json_of_an_older_lab_loads_with_the_defaults(tmp_path: Path) -> None:
    info = LabInfo(dir=str(tmp_path), nodes=3, hosts=["n1", "n2", "n3"])
    info.save()
    text = (tmp_path / "lab.json").read_text()
    # a lab.json written before the timing was a setting
    (tmp_path / "lab.json").write_text("\n".join(
        line for line in text.splitlines() if "etcd_" not in line).replace(",\n}", "\n}"))
    loaded = LabInfo.load(tmp_path)
    assert loaded is not None
    argv = hosts.etcd_argv(loaded, "n1")
    assert _flag(argv, "--heartbeat-interval") == str(hosts.ETCD_HEARTBEAT_MS)
    assert _flag(argv, "--election-timeout") == str(hosts.ETCD_ELECTION_MS)


@pytest.mark.parametrize(("heartbeat", "election"), [(100, 400), (0, 300), (50, 0)])
def test_an_election_shorter_than_five_heartbeats_is_refused(
        tmp_path: Path, heartbeat: int, election: int) -> None:
    with pytest.raises(LabError, match="at least 5 heartbeats"):
        Lab(tmp_path, etcd_heartbeat_ms=heartbeat, etcd_election_ms=election)


def test_agents_get_the_lab_watchdog_as_a_file_watchdog(tmp_path: Path) -> None:
    """The lab's watchdog process plays every host's hardware: each agent runs
    with --watchdog-file (a plain --watchdog would refuse a file)."""
    from pacer.cli.agent_cmd import _watchdog
    from pacer.cli.main import build_parser
    from pacer.node.watchdog import FileWatchdog

    info = LabInfo(dir=str(tmp_path), nodes=3, hosts=["n1", "n2", "n3"])
    argv = hosts.agent_argv(info, "n2")
    assert "--watchdog" not in argv
    assert _flag(argv, "--watchdog-file") == str(hosts.watchdog_file(tmp_path, "n2"))
    hosts.host_dir(tmp_path, "n2").mkdir(parents=True)  # hosts.start makes it
    args = build_parser().parse_args(argv[argv.index("agent"):])
    wd = _watchdog(args)
    assert isinstance(wd, FileWatchdog) and wd.path == hosts.watchdog_file(tmp_path, "n2")
    wd.arm(4)
    assert wd.effective_timeout_s == 4  # verified: the node claims it
