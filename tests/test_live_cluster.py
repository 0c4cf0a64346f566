"""The live cluster end to end: real etcd members, one `pacer agent` process per
node, real OCF agents (ocf:heartbeat:Dummy), a fence device that powers a
test node off (tests/live_fixtures/fence_pacer_node).

Each test asserts what a user would see; waits are bounded so that a broken
cluster fails the test with the daemons' logs instead of hanging it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from etcd_cluster import require_etcd
from live_cluster import FIXTURES, LiveCluster

RA = Path("/usr/lib/ocf/resource.d/heartbeat/Dummy")


@pytest.fixture(autouse=True)
def _needs() -> None:
    require_etcd()
    if not RA.exists():
        pytest.skip("live cluster tests need ocf:heartbeat:Dummy (apt-get install resource-agents)")


def _defn(lc: LiveCluster, resources: str, constraints: str = "", props: str = "") -> str:
    return f"""
cluster:
  stonith-enabled: true
{props}
defaults:
  resource: {{resource-stickiness: 100, migration-threshold: 2}}
nodes: [{", ".join(f"{{name: {n}}}" for n in lc.names)}]
resources:
  - id: fence
    agent: stonith:fence_pacer_node
    params: {{cluster: {lc.id}, state_root: "{lc.base / 'nodes'}"}}
{resources}
constraints:
{constraints or "  []"}
"""


DUMMIES = """
  - group: app
    members:
      - id: a
        agent: ocf:pacemaker:Dummy
        params: {op_sleep: "1"}
        operations: [{name: monitor, interval: 1s, timeout: 10s}]
      - id: b
        agent: ocf:heartbeat:Dummy
        operations: [{name: monitor, interval: 1s, timeout: 10s}]
  - id: solo
    agent: ocf:heartbeat:Dummy
    operations: [{name: monitor, interval: 1s, timeout: 10s}]
"""


def _ops(lc: LiveCluster, node: str, rsc: str) -> dict[str, object]:
    snap = lc.snapshot()
    ns = snap.status.node_states.get(node)
    out = {}
    for h in ns.history if ns else ():
        if h.rsc == rsc:
            for op in h.ops:
                out[op.id] = op
    return out


def _single(lc: LiveCluster, rsc: str) -> str | None:
    nodes = lc.running(rsc)
    return nodes[0] if len(nodes) == 1 else None


class Watcher:
    """Samples the real state files while a failover happens: never two copies."""

    def __init__(self, lc: LiveCluster, rscs: list[str]) -> None:
        self.lc, self.rscs = lc, rscs
        self.doubles: list[tuple[str, list[str]]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for r in self.rscs:
                nodes = self.lc.running(r)
                if len(nodes) > 1:
                    self.doubles.append((r, nodes))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


@pytest.fixture
def lc(tmp_path: Path):
    with LiveCluster(tmp_path, nodes=3) as cluster:
        yield cluster


def test_start_order_monitor_recovery_and_migration_threshold(lc: LiveCluster) -> None:
    lc.push(_defn(lc, DUMMIES))
    node = lc.wait(lambda c: _single(c, "b") if _single(c, "a") == _single(c, "b") else None,
                   "the group to run on one node")
    a_start = _ops(lc, node, "a")["a_last_0"]
    b_start = _ops(lc, node, "b")["b_last_0"]
    assert b_start.operation == "start" and a_start.operation == "start"
    assert a_start.exec_time_ms >= 1000  # its op_sleep
    assert b_start.call_id > a_start.call_id
    # b was started only after a's start completed: Dummy writes its state file
    # at the end of a start, so b's is newer (in parallel it would be 1 s older).
    sd = lc.state_dir(node)
    assert (sd / "rsctmp" / "Dummy-b.state").stat().st_mtime_ns >= \
        (sd / "run" / "Dummy-a.state").stat().st_mtime_ns
    # Every member gets its recurring monitor.
    lc.wait(lambda c: "b_monitor_1000" in _ops(c, node, "b"), "b's recurring monitor")

    # b crashes (its state file vanishes): the monitor sees it, b is recovered in place.
    (lc.state_dir(node) / "rsctmp" / "Dummy-b.state").unlink()
    lc.wait(lambda c: c.snapshot().status.node_states[node].transient.get(
        "fail-count-b#monitor_1000") == "1", "b's fail-count to be 1")
    lc.wait(lambda c: c.running("b") == [node] and c.placement().get("b") == [node],
            "b running again where it was")
    # A second crash reaches migration-threshold=2: the group moves away.
    lc.wait(lambda c: "b_monitor_1000" in _ops(c, node, "b")
            and _ops(c, node, "b")["b_monitor_1000"].rc == 0, "b monitored again")
    (lc.state_dir(node) / "rsctmp" / "Dummy-b.state").unlink()
    other = lc.wait(lambda c: (n := _single(c, "b")) not in (None, node) and n,
                    "b to move away after its second failure")
    assert lc.running("a") == [other]


def test_daemon_killed_resources_move_only_after_fencing(lc: LiveCluster) -> None:
    lc.push(_defn(lc, DUMMIES))
    victim = lc.wait(lambda c: _single(c, "solo"), "solo to run")
    lc.wait(lambda c: _single(c, "a") and _single(c, "b"), "the group to run")
    watch = Watcher(lc, ["solo", "a", "b"])
    lc.kill_daemon(victim)  # its resources keep running, as after a crash
    assert lc.running("solo") == [victim]
    new = lc.wait(lambda c: (n := _single(c, "solo")) not in (None, victim) and n,
                  "solo to run elsewhere")
    watch.stop()
    assert watch.doubles == []
    snap = lc.snapshot()
    fenced = [ev for ev in snap.status.fencing_history if ev.target == victim]
    assert fenced and fenced[-1].state == "success"
    start = _ops(lc, new, "solo")["solo_last_0"]
    assert start.operation == "start" and start.last_run >= fenced[-1].completed
    assert lc.daemons[victim].poll() is not None


def test_a_frozen_node_is_evicted_on_silence_fenced_then_taken_over(lc: LiveCluster) -> None:
    """SIGSTOP of every process of the node running `solo` (a hung host: its
    lease would live on for a while, its resources keep running): its peers'
    heartbeats stop, the controller evicts it, fences it and only then starts
    `solo` elsewhere."""
    ctl = lc.wait(lambda c: (s := c.snapshot()).controller and s.controller.node,
                  "a controller to be elected")
    lc.push(_defn(lc, DUMMIES, f"  - location: {{rsc: solo, node: {ctl}, score: -INFINITY}}\n"))
    victim = lc.wait(lambda c: _single(c, "solo"), "solo to run")
    watch = Watcher(lc, ["solo", "a", "b"])
    lc.freeze(victim)
    try:
        new = lc.wait(lambda c: (n := _single(c, "solo")) not in (None, victim) and n,
                      "solo to run elsewhere")
    finally:
        lc.thaw(victim)
    watch.stop()
    assert watch.doubles == []
    kinds = [(e["kind"], e.get("node")) for e in lc.journal()]
    assert ("suspected", victim) in kinds, kinds
    assert kinds.index(("suspected", victim)) < kinds.index(("fenced", victim))
    start = _ops(lc, new, "solo")["solo_last_0"]
    fenced = [ev for ev in lc.snapshot().status.fencing_history if ev.target == victim]
    assert fenced and start.last_run >= fenced[-1].completed


def test_a_frozen_controller_is_deposed_by_a_peer_and_fenced(lc: LiveCluster) -> None:
    ctl = lc.wait(lambda c: (s := c.snapshot()).controller and s.controller.node,
                  "a controller to be elected")
    lc.push(_defn(lc, DUMMIES, f"  - location: {{rsc: solo, node: {ctl}, score: 100}}\n"))
    lc.wait(lambda c: _single(c, "solo") == ctl, "solo to run on the controller's node")
    lc.freeze(ctl)
    try:
        new = lc.wait(lambda c: (n := _single(c, "solo")) not in (None, ctl) and n,
                      "solo to run elsewhere")
    finally:
        lc.thaw(ctl)
    journal = lc.journal()
    deposed = [e for e in journal if e["kind"] == "deposed" and e.get("node") == ctl]
    assert deposed, [(e["kind"], e.get("node")) for e in journal]
    assert any(e["kind"] == "fenced" and e.get("node") == ctl for e in journal)
    assert lc.snapshot().controller.node != ctl
    assert new != ctl


def test_controller_killed_another_takes_over_without_restarting_anything(
        lc: LiveCluster) -> None:
    ctl = lc.wait(lambda c: (s := c.snapshot()).controller and s.controller.node,
                  "a controller to be elected")
    # Nothing runs on the controller's node, so losing it must disturb nothing.
    lc.push(_defn(lc, DUMMIES, f"  - location: {{rsc: app, node: {ctl}, score: -INFINITY}}\n"
                               f"  - location: {{rsc: solo, node: {ctl}, score: -INFINITY}}\n"))
    lc.wait(lambda c: _single(c, "solo") and _single(c, "b"), "everything to run")
    lc.wait(lambda c: all(f"{r}_monitor_1000" in _ops(c, n, r)
                          for r in ("a", "b", "solo") for n in c.running(r)), "monitors")
    before = {r: (n, _ops(lc, n, r)[f"{r}_last_0"].call_id)
              for r in ("a", "b", "solo") for n in lc.running(r)}
    lc.kill_daemon(ctl)
    new = lc.wait(lambda c: (s := c.snapshot()).controller and s.controller.node != ctl
                  and s.controller.node, "a new controller")
    assert new != ctl
    # The new controller fences the lost node, then has nothing to do.
    lc.wait(lambda c: any(ev.target == ctl for ev in c.snapshot().status.fencing_history),
            "the old controller's node to be fenced")
    time.sleep(2)
    after = {r: (n, _ops(lc, n, r)[f"{r}_last_0"].call_id)
             for r in ("a", "b", "solo") for n in lc.running(r)}
    assert after == before


def test_etcd_member_lost_and_a_node_cut_off_from_etcd_stops_its_resources(
        tmp_path: Path) -> None:
    # n1 reaches etcd only through member 0; the others through all members.
    with LiveCluster(tmp_path, nodes=3, members_of={"n1": [0]}) as lc:
        lc.push(_defn(lc, DUMMIES, "  - location: {rsc: solo, node: n1, score: 1000}\n"))
        lc.wait(lambda c: c.running("solo") == ["n1"], "solo on n1")
        ops_before = {n: _ops(lc, n, "b") for n in lc.running("b")}
        # Losing one etcd member (of three) changes nothing for the cluster...
        watch = Watcher(lc, ["solo", "a", "b"])
        lc.etcd.kill(0)
        # ...except for n1, which can no longer renew its lease: it stops solo
        # itself, and only then may solo start elsewhere.
        lc.wait(lambda c: "n1" not in c.running("solo"), "n1 to stop solo itself", 30)
        lc.wait(lambda c: _single(c, "solo") not in (None, "n1"), "solo elsewhere")
        watch.stop()
        assert watch.doubles == []
        for n, ops in ops_before.items():
            if n != "n1":
                assert _ops(lc, n, "b")["b_last_0"].call_id == ops["b_last_0"].call_id


def test_bad_config_push_is_refused_and_changes_nothing(lc: LiveCluster,
                                                        tmp_path: Path) -> None:
    good = _defn(lc, DUMMIES)
    rev = lc.push(good)
    lc.wait(lambda c: _single(c, "solo"), "solo to run")
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.replace("ocf:heartbeat:Dummy", "ocf:heartbeat:Dummy", 1)
                   .replace("migration-threshold: 2", "migration-threshold: lots"))
    proc = subprocess.run([sys.executable, "-m", "pacer", "config", "push", str(bad),
                           "--endpoints", ",".join(lc.etcd.endpoints)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "migration-threshold" in proc.stderr + proc.stdout
    snap = lc.snapshot()
    assert snap.definition is not None and snap.definition.revision == rev
    assert lc.running("solo") and len(lc.running("solo")) == 1


def test_fence_fixture_is_executable() -> None:
    assert (FIXTURES / "fence_pacer_node").stat().st_mode & 0o111


def _pacer(lc: LiveCluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pacer", *args,
                           "--endpoints", ",".join(lc.etcd.endpoints)],
                          capture_output=True, text=True, timeout=120)


def test_operator_commands_on_the_live_cluster(lc: LiveCluster) -> None:
    import json

    lc.push(_defn(lc, DUMMIES))
    node = lc.wait(lambda c: _single(c, "solo"), "solo to run")
    first = _ops(lc, node, "solo")["solo_last_0"].call_id
    # restart: stopped, then started again (a new start), on the same node.
    p = _pacer(lc, "resource", "restart", "solo", "--timeout", "60")
    assert p.returncode == 0, p.stderr
    lc.wait(lambda c: c.running("solo") == [node], "solo running again")
    again = _ops(lc, node, "solo")["solo_last_0"]
    assert again.operation == "start" and again.call_id > first
    # move: it goes to the named node, and status says so.
    target = next(n for n in lc.names if n != node)
    p = _pacer(lc, "resource", "move", "solo", "--node", target)
    assert p.returncode == 0, p.stderr
    lc.wait(lambda c: c.running("solo") == [target], "solo on the move target")
    p = _pacer(lc, "status", "--json")
    assert p.returncode == 0, p.stderr
    assert target in json.dumps(json.loads(p.stdout))
    # standby: nothing stays on a standby node.
    p = _pacer(lc, "node", "standby", target)
    assert p.returncode == 0, p.stderr
    lc.wait(lambda c: target not in c.running("solo") and len(c.running("solo")) == 1,
            "solo off the standby node")
