"""The live-cluster commands against a real etcd: config push/show/edit, resource
move/ban/clear/enable/disable/cleanup, node standby/maintenance, status, history.

One single-member etcd for the module; each test works in its own cluster name
(its own key prefix). The store is populated the way node daemons do it
(ClusterStore.join, record_op with OpRecord), and the CLI runs in-process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from etcd_cluster import EtcdCluster, require_etcd

from pacer.cli.main import main
from pacer.scheduler.api import schedule
from pacer.status.types import OpRecord
from pacer.store.cluster import Agent, ClusterStore
from pacer.store.etcd import EtcdConfig, EtcdStore

DEFINITION = """\
# two nodes, one resource: comments must survive CLI edits
cluster:
  stonith-enabled: false
nodes: [n1, n2]
resources:
  - id: a
    agent: ocf:heartbeat:Dummy
    operations:
      - {name: monitor, interval: 10s}
"""

_names = itertools.count()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory):
    require_etcd()
    with EtcdCluster(tmp_path_factory.mktemp("etcd-cli"), size=1) as c:
        yield c


class Live:
    """One cluster (key prefix) in the shared etcd, with the CLI pointed at it."""

    def __init__(self, etcd: EtcdCluster, capsys: pytest.CaptureFixture[str]) -> None:
        self.endpoint = etcd.endpoints[0]
        self.cluster = f"c{next(_names)}"
        self.capsys = capsys

    def cli(self, *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--endpoints", self.endpoint, "--cluster", self.cluster])
        out, err = self.capsys.readouterr()
        return code, out, err

    def store(self, body: Callable[[ClusterStore], Awaitable[object]]) -> object:
        async def run() -> object:
            s = EtcdStore(EtcdConfig((self.endpoint,)))
            try:
                return await body(ClusterStore(s, self.cluster))
            finally:
                await s.close()
        return asyncio.run(run())

    def populate(self, running_on: str | None = "n1") -> None:
        """Push DEFINITION, join n1 and n2, record `a` started (on `running_on`)."""
        async def body(cs: ClusterStore) -> None:
            await cs.put_definition(DEFINITION, 0)
            leases = {}
            for n in ("n1", "n2"):
                leases[n] = (await cs.grant_lease(60)).id
                await cs.join(n, leases[n])
            agent = Agent("ocf", "heartbeat", "Dummy")
            for n in ("n1", "n2"):
                await cs.record_op(n, leases[n], OpRecord(
                    "a", n, "monitor", call_id=1, rc=0 if n == running_on else 7,
                    expected_rc=7, last_run=1000, last_rc_change=1000), agent)
            if running_on:
                await cs.record_op(running_on, leases[running_on], OpRecord(
                    "a", running_on, "start", call_id=2, rc=0, last_run=1001,
                    last_rc_change=1001), agent)
            await cs.campaign("n1", leases["n1"])
        self.store(body)

    def placement(self) -> str | None:
        """Where the scheduler puts `a` for the stored state."""
        snap = self.store(lambda cs: cs.snapshot())
        result = schedule(snap.definition.definition, snap.status, 2000)  # type: ignore[union-attr]
        return result.transition.placement["a"]

    def stored_text(self) -> str:
        stored = self.store(lambda cs: cs.definition())
        return stored.text  # type: ignore[union-attr]


@pytest.fixture
def live(etcd: EtcdCluster, capsys: pytest.CaptureFixture[str]) -> Live:
    return Live(etcd, capsys)


# --------------------------------------------------------------------------- config


def _user(attrs) -> dict:
    """Node attributes without those the node daemon publishes at join
    (`#pacer-lease`, `#pacer-watchdog`, ...)."""
    return {k: v for k, v in dict(attrs).items() if not k.startswith("#pacer-")}


def test_push_validates_and_a_bad_push_changes_nothing(live: Live, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(DEFINITION)
    code, out, err = live.cli("config", "push", str(good))
    assert code == 0, err
    assert "stored as definition revision" in out
    before = live.store(lambda cs: cs.definition())

    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFINITION.replace("interval: 10s", "interval: often"))
    code, out, err = live.cli("config", "push", str(bad))
    assert code == 1
    # where (file:line, field), what, and the valid forms
    assert f"{bad}:9: at resources[0].operations[0].interval: 'often'" in err
    assert "not a valid interval" in err
    after = live.store(lambda cs: cs.definition())
    assert after.revision == before.revision and after.text == DEFINITION  # type: ignore[union-attr]

    code, out, _ = live.cli("config", "show")
    assert code == 0 and out == DEFINITION
    code, out, _ = live.cli("config", "show", "--format", "cib")
    assert code == 0 and '<primitive id="a" class="ocf"' in out


def test_push_is_compare_and_swap(live: Live, tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(DEFINITION)
    assert live.cli("config", "push", str(f))[0] == 0
    rev = live.store(lambda cs: cs.definition()).revision  # type: ignore[union-attr]
    # someone else pushes meanwhile: a push based on the old revision is refused
    f2 = tmp_path / "d.yaml"
    f2.write_text(DEFINITION.replace("[n1, n2]", "[n1, n2, n3]"))
    assert live.cli("config", "push", str(f2))[0] == 0
    code, _, err = live.cli("config", "push", str(f), "--expect-revision", str(rev))
    assert code == 1 and "someone changed it meanwhile" in err
    assert "n3" in live.stored_text()


def test_edit_pushes_on_save_and_keeps_a_bad_edit(live: Live, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    live.populate()
    script = tmp_path / "ed.sh"
    script.write_text("#!/bin/sh\nsed -i 's/interval: 10s/interval: 20s/' \"$1\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    code, out, err = live.cli("config", "edit")
    assert code == 0, err
    assert "interval: 20s" in live.stored_text()

    script.write_text("#!/bin/sh\nsed -i 's/interval: 20s/interval: soon/' \"$1\"\n")
    code, out, err = live.cli("config", "edit")
    assert code == 1
    assert "nothing was stored" in err and "not a valid interval" in err
    kept = err.split("Your edit is kept in ")[1].split(":")[0]
    assert "interval: soon" in Path(kept).read_text()
    Path(kept).unlink()
    assert "interval: 20s" in live.stored_text()


# --------------------------------------------------------------------------- resource


def test_move_ban_clear_edit_constraints_and_the_scheduler_follows(live: Live) -> None:
    live.populate(running_on="n1")
    assert live.placement() == "n1"

    code, out, err = live.cli("resource", "move", "a", "--node", "n2")
    assert code == 0, err
    assert "cli-prefer-a" in out
    text = live.stored_text()
    assert "location: {id: cli-prefer-a, rsc: a, node: n2, score: INFINITY}" in text
    assert text.startswith("# two nodes")  # the file's comments are kept
    assert live.placement() == "n2"

    assert live.cli("resource", "clear", "a")[0] == 0
    assert "cli-" not in live.stored_text()
    assert live.placement() == "n1"

    # ban without --node: away from where the scheduler says it runs
    code, out, err = live.cli("resource", "ban", "a", "--json")
    assert code == 0, err
    assert json.loads(out)["constraints"] == ["cli-ban-a-on-n1"]
    assert live.placement() == "n2"

    code, out, _ = live.cli("resource", "ban", "a", "--node", "n2", "--lifetime", "1h")
    assert code == 0
    assert live.placement() is None  # banned from both
    assert "operation: lt" in live.stored_text()

    assert live.cli("resource", "clear", "a", "--node", "n2")[0] == 0
    assert live.placement() == "n2"  # the ban on n1 is still there
    assert live.cli("resource", "clear", "a")[0] == 0
    code, out, _ = live.cli("resource", "clear", "a")
    assert code == 0 and "definition unchanged" in out

    code, _, err = live.cli("resource", "move", "b", "--node", "n2")
    assert code == 1 and "no resource 'b'; resources are: a" in err
    code, _, err = live.cli("resource", "move", "a", "--node", "n9")
    assert code == 1 and "no node 'n9'" in err


def test_disable_enable_set_target_role(live: Live) -> None:
    live.populate()
    assert live.cli("resource", "disable", "a")[0] == 0
    assert "target-role: Stopped" in live.stored_text()
    assert live.placement() is None
    assert live.cli("resource", "enable", "a")[0] == 0
    assert "target-role" not in live.stored_text()
    assert live.placement() == "n1"


def test_cleanup_deletes_history_and_fail_counts(live: Live) -> None:
    live.populate()

    async def fail(cs: ClusterStore) -> None:
        lease = (await cs.members())["n1"]
        await cs.record_op("n1", lease, OpRecord("a", "n1", "monitor", interval_ms=10000,
                                                 call_id=3, rc=1, last_rc_change=1500),
                           Agent("ocf", "heartbeat", "Dummy"))
        await cs.set_attribute("n1", "fail-count-a#monitor_10000", "1")
        await cs.set_attribute("n1", "last-failure-a#monitor_10000", "1500")
        await cs.set_attribute("n1", "unrelated", "x")
    live.store(fail)
    code, out, _ = live.cli("status", "--json")
    status = json.loads(out)
    assert [f["operation"] for f in status["failures"]] == ["monitor"]
    assert status["fail_counts"][0]["count"] == "1"

    code, out, err = live.cli("resource", "cleanup", "a", "--node", "n1")
    assert code == 0, err
    snap = live.store(lambda cs: cs.snapshot())
    n1 = snap.status.node_states["n1"]  # type: ignore[union-attr]
    assert n1.history == ()
    assert _user(n1.transient) == {"unrelated": "x"}
    assert snap.status.node_states["n2"].history  # type: ignore[union-attr]
    code, out, _ = live.cli("status", "--json")
    assert json.loads(out)["failures"] == []


# --------------------------------------------------------------------------- node


def test_standby_and_maintenance_are_node_attributes(live: Live) -> None:
    live.populate()
    assert live.cli("node", "standby", "n1")[0] == 0
    attrs = live.store(lambda cs: cs._store.get(cs.keys.attr("n1", "standby", False)))
    assert attrs is not None and attrs.value == b"on"  # type: ignore[union-attr]
    assert live.placement() == "n2"
    code, out, _ = live.cli("status", "--json")
    n1 = next(n for n in json.loads(out)["nodes"] if n["name"] == "n1")
    assert n1["state"] == "standby" and n1["standby"] and n1["controller"]

    assert live.cli("node", "unstandby", "n1")[0] == 0
    assert live.placement() == "n1"

    assert live.cli("node", "maintenance", "n2", "--lifetime", "reboot")[0] == 0
    got = live.store(lambda cs: cs.attributes("n2"))
    assert _user(got) == {"maintenance": "on"}
    assert live.cli("node", "maintenance", "n2", "--off")[0] == 0
    assert _user(live.store(lambda cs: cs.attributes("n2"))) == {}
    code, _, err = live.cli("node", "standby", "n3")
    assert code == 1 and "no node 'n3'" in err


# --------------------------------------------------------------------------- status, history


def test_status_json_reads_the_store_as_the_scheduler_does(live: Live) -> None:
    live.populate(running_on="n2")

    async def more(cs: ClusterStore) -> None:
        await cs.set_attribute("n2", "maintenance", "on", transient=False)
        from pacer.store.cluster import NodeRequest
        await cs._store.put(cs.keys.action("n1", "7.1.1"), NodeRequest(
            id="7.1.1", token=7, node="n1", task="monitor", rsc="a").to_json())
    live.store(more)
    code, out, err = live.cli("status", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert s["cluster"] == live.cluster and s["controller"] == "n1"
    assert {n["name"]: n["state"] for n in s["nodes"]} == {"n1": "online",
                                                           "n2": "maintenance"}
    (a,) = s["resources"]
    assert a["id"] == "a" and a["agent"] == "ocf:heartbeat:Dummy"
    assert a["active"] == [{"node": "n2", "role": "Started", "failed": False}]
    assert s["in_flight"] == [{"node": "n1", "task": "monitor", "rsc": "a",
                               "interval_ms": 0, "state": "requested", "id": "7.1.1"}]
    code, out, _ = live.cli("status")
    assert code == 0
    n2_line = next(line for line in out.splitlines() if line.strip().startswith("n2 "))
    assert n2_line.split()[1] == "maintenance"
    assert "Started on n2 [unmanaged]" in out  # a maintenance node's resources are left alone


def test_history_merges_journal_fencing_and_failures(live: Live) -> None:
    live.populate()

    async def events(cs: ClusterStore) -> None:
        await cs._store.put(cs.keys.events + "0".zfill(20), json.dumps(
            {"time": 1200, "transition": 4, "kind": "transition", "message": "started",
             "node": None, "rsc": None}).encode())
        await cs._store.put(cs.keys.fence_event("n2", "e1"), json.dumps(
            {"target": "n2", "action": "reboot", "state": "success", "completed": 1100,
             "origin": "n1"}).encode())
        lease = (await cs.members())["n1"]
        await cs.record_op("n1", lease, OpRecord("a", "n1", "monitor", interval_ms=10000,
                                                 call_id=3, rc=7, last_rc_change=1300),
                           Agent("ocf", "heartbeat", "Dummy"))
    live.store(events)
    code, out, _ = live.cli("history", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["source"], r["time"]) for r in rows] == [
        ("fencing", 1100), ("controller", 1200), ("failure", 1300)]
    assert rows[1]["transition"] == 4
    code, out, _ = live.cli("history", "--limit", "1")
    assert len(out.splitlines()) == 1 and "not running" in out


def test_etcd_down_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from etcd_cluster import free_ports

    (port,) = free_ports(1)
    code = main(["status", "--endpoints", f"127.0.0.1:{port}", "--etcd-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot reach etcd for cluster 'default'" in err
    assert f"127.0.0.1:{port}" in err and "Connection refused" in err
    assert "endpoint health" in err and "$PACER_ENDPOINTS" in err
