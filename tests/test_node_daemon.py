"""The node daemon on the in-memory store, on virtual time, with a fake agent runner.

A fake controller (a ControllerSession) writes requests; the tests read what the
node recorded. Virtual time makes lease TTLs and monitor intervals free and
every run identical; waits are bounded in virtual time only.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from node_helpers import EPOCH, FakeDevice, FakeRunner, LoopClock, run_virtual

from pacer.node import NodeConfig, NodeDaemon
from pacer.node.daemon import JOINING, MEMBER
from pacer.node.watchdog import DeviceWatchdog, FileWatchdog, WatchdogError
from pacer.status.digests import params_digest
from pacer.status.types import OP_PENDING, FenceEvent
from pacer.store.cluster import (
    LEASE_TTL_ATTR,
    WATCHDOG_ATTR,
    WATCHDOG_TIMEOUT_ATTR,
    ClusterStore,
    ControllerSession,
    NodeRequest,
)
from pacer.store.memory import MemoryCluster

DEFINITION = """\
nodes:
  - name: n1
  - name: n2
resources:
  - id: vip
    agent: ocf:heartbeat:IPaddr2
    params: {ip: 192.0.2.10}
    operations:
      - {name: monitor, interval: 10s, timeout: 5s}
      - {name: stop, timeout: 7s}
  - id: other
    agent: ocf:heartbeat:Dummy
  - promotable: db-clone
    child: {id: db, agent: "ocf:pacemaker:Stateful"}
"""

CLUSTER = "t"


@dataclass
class World:
    mc: MemoryCluster
    admin: ClusterStore
    session: ControllerSession
    runner: FakeRunner
    daemon: NodeDaemon
    task: asyncio.Task
    revision: int
    n: int = 0
    extra_daemons: list[asyncio.Task] = field(default_factory=list)

    @property
    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    async def send(self, task: str, rsc: str, interval_ms: int = 0, node: str = "n1",
                   **extra: str) -> str:
        self.n += 1
        rid = f"{self.session.token}.1.{self.n}"
        await self.session.request_actions([NodeRequest(
            id=rid, token=self.session.token, node=node, task=task, rsc=rsc,
            interval_ms=interval_ms, definition_revision=self.revision, transition=1,
            extra=extra)])
        return rid

    async def op(self, rsc: str, slot: str, node: str = "n1") -> dict | None:
        kv = await self.admin._store.get(self.admin.keys.op(node, rsc, slot))
        return json.loads(kv.value)["op"] if kv else None

    async def result(self, rid: str, rsc: str, slot: str = "last_0", node: str = "n1") -> dict:
        """Wait (virtual time) for the finished record answering `rid`."""
        for _ in range(2000):
            op = await self.op(rsc, slot, node)
            if op and op.get("action_id") == rid and op["op_status"] != OP_PENDING:
                return op
            await asyncio.sleep(0.05)
        raise AssertionError(f"no result for {rid} in {rsc}/{slot}")

    async def attrs(self, node: str = "n1") -> dict[str, str]:
        return await self.admin.attributes(node)


async def until(cond: Callable[[], Awaitable[bool] | bool], what: str,
                limit: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while loop.time() < end:
        r = cond()
        if r if isinstance(r, bool) else await r:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened (virtual {limit} s): {what}")


async def world(runner: FakeRunner | None = None, definition: str = DEFINITION,
                **config: object) -> World:
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop)
    mc = MemoryCluster(clock)
    admin = ClusterStore(mc.client("admin"), cluster=CLUSTER)
    rev = await admin.put_definition(definition)
    ctl = ClusterStore(mc.client("ctl"), cluster=CLUSTER)
    ctl_lease = await ctl.grant_lease(100_000)
    session = await ctl.campaign("ctl", ctl_lease.id)
    assert session is not None
    runner = runner or FakeRunner()
    daemon = make_daemon(mc, runner, **config)
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_member(), 30)
    return World(mc, admin, session, runner, daemon, task, rev)


def make_daemon(mc: MemoryCluster, runner: FakeRunner, node: str = "n1",
                **config: object) -> NodeDaemon:
    loop = asyncio.get_running_loop()
    watchdog = config.pop("watchdog", None)
    return NodeDaemon(mc.client(node), LoopClock(loop), runner,
                      NodeConfig(node, cluster=CLUSTER, **config),  # type: ignore[arg-type]
                      wall=lambda: EPOCH + loop.time(), watchdog=watchdog)  # type: ignore[arg-type]


async def stop_daemon(w: World) -> None:
    w.task.cancel()
    try:
        await w.task
    except asyncio.CancelledError:
        pass


# --------------------------------------------------------------------------- actions


def test_start_is_run_and_recorded_with_digest_call_id_and_action_id() -> None:
    async def body() -> None:
        w = await world()
        rid = await w.send("start", "vip")
        op = await w.result(rid, "vip")
        assert (op["operation"], op["rc"], op["expected_rc"], op["op_status"]) == (
            "start", 0, 0, 0)
        assert op["digest"] == params_digest({"ip": "192.0.2.10"})
        assert op["call_id"] > 0 and op["last_run"] >= EPOCH
        assert w.runner.running == {"vip": "started"}
        req = w.runner.requests[-1]
        assert dict(req.params) == {"ip": "192.0.2.10"} and req.instance == "vip"
        # the request was consumed with the result
        assert await w.admin.pending_actions("n1") == []
        rid2 = await w.send("monitor", "other", extra_rc="x", expected_rc="7")
        probe = await w.result(rid2, "other")
        assert (probe["rc"], probe["expected_rc"]) == (7, 7)
        assert probe["call_id"] > op["call_id"]
        await stop_daemon(w)
    run_virtual(body)


def test_a_request_under_a_stale_token_is_never_run() -> None:
    async def body() -> None:
        w = await world()
        old = w.session
        stale = NodeRequest(id=f"{old.token}.1.99", token=old.token, node="n1",
                            task="start", rsc="vip", definition_revision=w.revision)
        await old.resign()
        ctl = ClusterStore(w.mc.client("ctl2"), cluster=CLUSTER)
        new = await ctl.campaign("ctl2", (await ctl.grant_lease(100_000)).id)
        assert new is not None
        # a request of the deposed controller lands after the takeover
        await w.admin._store.put(w.admin.keys.action("n1", stale.id), stale.to_json())
        w.session = new
        rid = await w.send("monitor", "vip", expected_rc="7")  # same instance, queued after
        assert (await w.result(rid, "vip"))["rc"] == 7
        assert ("vip", "start", 0) not in w.runner.calls
        assert "vip" not in w.runner.running
        await stop_daemon(w)
    run_virtual(body)


def test_failed_start_sets_an_infinite_fail_count_and_last_failure() -> None:
    async def body() -> None:
        w = await world(FakeRunner(fail={("vip", "start"): 1}))
        rid = await w.send("start", "vip")
        op = await w.result(rid, "vip")
        assert op["rc"] == 1
        assert (await w.op("vip", "last_failure_0"))["action_id"] == rid  # type: ignore[index]
        attrs = await w.attrs()
        assert attrs["fail-count-vip#start_0"] == "INFINITY"
        assert int(attrs["last-failure-vip#start_0"]) >= EPOCH
        # a failed start may have left something running: the node believes it active
        assert "vip" in w.daemon.active
        await stop_daemon(w)
    run_virtual(body)


def test_fail_counts_add_up_without_start_failure_is_fatal() -> None:
    defn = DEFINITION.replace("nodes:", "cluster:\n  start-failure-is-fatal: false\nnodes:", 1)

    async def body() -> None:
        w = await world(FakeRunner(fail={("vip", "start"): 1}), definition=defn)
        for expected in ("1", "2"):
            await w.result(await w.send("start", "vip"), "vip")
            assert (await w.attrs())["fail-count-vip#start_0"] == expected
        await stop_daemon(w)
    run_virtual(body)


def test_recurring_monitor_records_only_changes_and_counts_a_failure() -> None:
    async def body() -> None:
        w = await world()
        await w.result(await w.send("start", "vip"), "vip")
        rid = await w.send("monitor", "vip", 10_000)
        first = await w.result(rid, "vip", "monitor_10000")
        assert first["rc"] == 0 and first["digest"] is None
        key = w.admin.keys.op("n1", "vip", "monitor_10000")
        rev = (await w.admin._store.get(key)).mod_revision  # type: ignore[union-attr]
        await asyncio.sleep(35)  # three more runs, all rc 0
        assert w.runner.calls.count(("vip", "monitor", 10_000)) == 4
        assert (await w.admin._store.get(key)).mod_revision == rev  # type: ignore[union-attr]
        w.runner.running.clear()  # the resource dies
        await until(lambda: w.op("vip", "monitor_10000"), "monitor recorded")

        async def failed() -> bool:
            op = await w.op("vip", "monitor_10000")
            return op is not None and op["rc"] == 7
        await until(failed, "the failure is recorded")
        op = await w.op("vip", "monitor_10000")
        assert op["action_id"] is None and op["call_id"] > first["call_id"]  # type: ignore[index]
        assert (await w.attrs())["fail-count-vip#monitor_10000"] == "1"
        assert (await w.op("vip", "last_failure_0"))["operation"] == "monitor"  # type: ignore[index]
        rev = (await w.admin._store.get(key)).mod_revision  # type: ignore[union-attr]
        await asyncio.sleep(30)  # still failing: nothing new recorded, counted once
        assert (await w.admin._store.get(key)).mod_revision == rev  # type: ignore[union-attr]
        assert (await w.attrs())["fail-count-vip#monitor_10000"] == "1"
        await stop_daemon(w)
    run_virtual(body)


def test_stop_cancels_the_monitors_and_forgets_them() -> None:
    async def body() -> None:
        w = await world()
        await w.result(await w.send("start", "vip"), "vip")
        await w.result(await w.send("monitor", "vip", 10_000), "vip", "monitor_10000")
        await w.result(await w.send("stop", "vip"), "vip")
        assert await w.op("vip", "monitor_10000") is None
        assert w.daemon.executor is not None and w.daemon.executor.monitors.active() == []
        n = len(w.runner.calls)
        await asyncio.sleep(60)
        assert len(w.runner.calls) == n  # no monitor ran after the stop
        assert "vip" not in w.daemon.active
        await stop_daemon(w)
    run_virtual(body)


def test_cancel_ends_one_recurring_monitor() -> None:
    async def body() -> None:
        w = await world()
        await w.result(await w.send("start", "vip"), "vip")
        await w.result(await w.send("monitor", "vip", 10_000), "vip", "monitor_10000")
        await w.send("cancel", "vip", 10_000)
        await until(lambda: w.daemon.executor is not None
                    and w.daemon.executor.monitors.active() == [], "monitor cancelled")
        await until(lambda: _none(w.op("vip", "monitor_10000")), "record forgotten")
        n = w.runner.calls.count(("vip", "monitor", 10_000))
        await asyncio.sleep(45)
        assert w.runner.calls.count(("vip", "monitor", 10_000)) == n
        assert w.runner.running == {"vip": "started"}  # cancelled, not stopped
        await stop_daemon(w)
    run_virtual(body)


async def _none(aw: Awaitable[object]) -> bool:
    return await aw is None


def test_one_instance_runs_its_actions_in_order_others_in_parallel() -> None:
    async def body() -> None:
        runner = FakeRunner(duration=1.0)
        w = await world(runner)
        a = await w.send("start", "vip")
        b = await w.send("monitor", "vip", expected_rc="0")
        c = await w.send("start", "other")
        for rid, rsc in ((b, "vip"), (c, "other")):
            await w.result(rid, rsc)
        assert not w.task.done()
        assert a not in {r.id for r in await w.admin.pending_actions("n1")}
        spans = {(i, act): (s, e) for i, act, s, e in runner.spans}
        assert spans[("vip", "monitor")][0] >= spans[("vip", "start")][1]
        assert spans[("other", "start")][0] < spans[("vip", "start")][1]
        await stop_daemon(w)
    run_virtual(body)


def test_clone_instance_gets_clone_meta_and_promoted_monitor_expectation() -> None:
    async def body() -> None:
        w = await world()
        await w.result(await w.send("start", "db:1"), "db")
        rid = await w.send("promote", "db:1")
        assert (await w.result(rid, "db"))["rc"] == 0
        mon = await w.send("monitor", "db:1", 5_000, expected_rc="8")
        op = await w.result(mon, "db", "monitor_5000")
        assert (op["rc"], op["expected_rc"]) == (8, 8)
        req = next(r for r in w.runner.requests if r.action == "promote")
        assert req.instance == "db"  # anonymous: the primitive id
        assert req.meta["clone"] == "1" and req.meta["clone-max"] == "2"
        assert req.meta["promoted-max"] == req.meta["master-max"] == "1"
        await stop_daemon(w)
    run_virtual(body)


def test_an_orphan_is_stopped_with_the_parameters_it_was_started_with() -> None:
    async def body() -> None:
        w = await world()
        await w.result(await w.send("start", "vip"), "vip")
        w.revision = await w.admin.put_definition(DEFINITION.replace("  - id: vip", "  - id: vip2"))
        rid = await w.send("stop", "vip")
        assert (await w.result(rid, "vip"))["rc"] == 0
        stop = w.runner.requests[-1]
        assert stop.action == "stop" and dict(stop.params) == {"ip": "192.0.2.10"}
        assert stop.timeout_ms == 7000  # the stop op's timeout as configured then
        # an unknown resource the node never ran: a stop finds it stopped
        rid = await w.send("stop", "ghost")
        assert (await w.result(rid, "ghost"))["rc"] == 0
        assert ("ghost", "stop", 0) not in w.runner.calls
        await stop_daemon(w)
    run_virtual(body)


def test_requests_written_while_the_watch_was_down_are_run() -> None:
    async def body() -> None:
        w = await world()
        w.mc.partition("n1")
        rid = await w.send("start", "vip")  # the node's watch has ended
        await asyncio.sleep(0.3)  # well within the self-fence deadline
        w.mc.heal("n1")
        assert (await w.result(rid, "vip"))["rc"] == 0
        assert w.daemon.self_fences == 0
        await stop_daemon(w)
    run_virtual(body)


# --------------------------------------------------------------------------- membership


def test_self_fence_stops_everything_before_the_lease_expires_then_rejoins_fresh() -> None:
    async def body() -> None:
        w = await world()
        await w.result(await w.send("start", "vip"), "vip")
        await w.result(await w.send("start", "db:0"), "db")
        await w.result(await w.send("promote", "db:0"), "db")
        await w.result(await w.send("monitor", "vip", 10_000), "vip", "monitor_10000")
        lease = w.daemon.lease_id
        w.mc.partition("n1")
        await until(lambda: w.daemon.membership_lost.is_set(), "membership lost")
        expiry = w.mc.leases()[lease]  # no keepalive got through since the partition
        await until(lambda: not w.runner.running, "everything stopped")
        stops = [(i, a, e) for i, a, _, e in w.runner.spans if a in ("stop", "demote")]
        # the promoted db is demoted first; stops in reverse order of starting
        assert [(i, a) for i, a, _ in stops] == [("db", "demote"), ("db", "stop"),
                                                 ("vip", "stop")]
        assert all(end < expiry for _, _, end in stops)
        assert w.daemon.lease_id == 0 and not w.daemon.member.is_set()
        w.mc.heal("n1")
        await asyncio.wait_for(w.daemon.wait_member(), 30)
        assert w.daemon.lease_id != lease and w.daemon.incarnation == 2
        assert w.daemon.self_fences == 1
        assert (await w.admin.status()).node_states["n1"].history == ()  # cleared on joining
        assert not w.daemon.membership_lost.is_set()
        await stop_daemon(w)
    run_virtual(body)


def test_a_fenced_node_notices_stops_its_resources_and_rejoins() -> None:
    async def body() -> None:
        from pacer.status.types import FenceEvent
        w = await world()
        await w.result(await w.send("start", "vip"), "vip")
        assert await w.session.node_fenced(FenceEvent("n1", "off", "success"), "e1",
                                           w.daemon.lease_id)
        await until(lambda: w.daemon.self_fences == 1 and not w.runner.running, "self-fence")
        await asyncio.wait_for(w.daemon.wait_member(), 30)
        assert w.daemon.incarnation == 2
        await stop_daemon(w)
    run_virtual(body)


def test_an_earlier_incarnations_lease_is_waited_for_never_stolen() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        mc = MemoryCluster(LoopClock(loop))
        old = ClusterStore(mc.client("old"), cluster=CLUSTER)
        old_lease = (await old.grant_lease(30)).id
        await old.join("n1", old_lease)
        daemon = make_daemon(mc, FakeRunner())
        task = asyncio.create_task(daemon.run())
        await asyncio.sleep(10)
        assert daemon.state == JOINING and not daemon.member.is_set()
        assert (await old.members()) == {"n1": old_lease}
        await old.keepalive(old_lease)  # still alive: keep waiting
        await asyncio.sleep(20)
        assert daemon.state == JOINING
        # the old lease runs out (30 s after the keepalive): the node joins
        await asyncio.wait_for(daemon.wait_member(), 30)
        assert daemon.state == MEMBER and (await old.members()) == {"n1": daemon.lease_id}
        assert loop.time() >= 40
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    run_virtual(body)


def test_clean_shutdown_sets_the_attribute_waits_for_the_controller_and_leaves() -> None:
    async def body() -> None:
        w = await world()
        await w.result(await w.send("start", "vip"), "vip")
        w.daemon.request_shutdown()
        await until(lambda: _has_attr(w, "shutdown"), "shutdown attribute")
        assert int((await w.attrs())["shutdown"]) >= EPOCH
        await asyncio.sleep(5)
        assert not w.task.done()  # waits for the controller while vip runs
        await w.result(await w.send("stop", "vip"), "vip")
        await asyncio.wait_for(w.task, 30)
        assert await w.admin.members() == {}
        kv = await w.admin._store.get(w.admin.keys.expected_state("n1"))
        assert kv is not None and kv.value == b"down"
        assert [a for _, a, _ in w.runner.calls] == ["start", "stop"]
    run_virtual(body)


def test_clean_shutdown_stops_what_the_controller_left_when_the_wait_runs_out() -> None:
    async def body() -> None:
        w = await world(shutdown_timeout=20.0)
        await w.result(await w.send("start", "vip"), "vip")
        w.daemon.request_shutdown()
        await asyncio.wait_for(w.task, 60)
        assert w.runner.running == {} and await w.admin.members() == {}
    run_virtual(body)


async def _has_attr(w: World, name: str) -> bool:
    return name in await w.attrs()


# --------------------------------------------------------------------------- boot, watchdog


def test_boot_empties_the_state_dir_installs_shims_and_stops_leftovers(tmp_path: Path) -> None:
    state = tmp_path / "n1"

    async def body() -> None:
        runner = FakeRunner()
        w = await world(runner, state_dir=state)
        (state / "rsctmp" / "stale.state").write_text("x")
        await w.result(await w.send("start", "vip"), "vip")
        assert json.loads((state / "active.json").read_text())[0]["hist_id"] == "vip"
        await stop_daemon(w)  # a crash: the daemon is gone, vip runs on
        assert runner.running == {"vip": "started"}
        w.mc.client("admin")  # the old lease still lives; a new daemon must wait for it
        d2 = make_daemon(w.mc, runner, state_dir=state)
        t2 = asyncio.create_task(d2.run())
        await asyncio.wait_for(d2.wait_member(), 30)
        assert runner.running == {}  # stopped before it joined
        assert runner.requests[-1].action == "stop" and runner.requests[-1].timeout_ms == 7000
        assert not (state / "rsctmp" / "stale.state").exists()
        shim = state / "shims" / "crm_attribute"
        text = shim.read_text()
        assert shim.stat().st_mode & 0o111 and "-m pacer.shims crm_attribute" in text
        assert {p.name for p in (state / "shims").iterdir()} >= {
            "crm_attribute", "crm_master", "crm_node", "crm_resource", "crm_mon",
            "attrd_updater"}
        t2.cancel()
        await asyncio.gather(t2, return_exceptions=True)
    run_virtual(body)


def test_file_watchdog_is_fed_while_a_member_and_disarmed_on_a_clean_leave(
        tmp_path: Path) -> None:
    path = tmp_path / "wd"

    async def body() -> None:
        loop = asyncio.get_running_loop()
        wd = FileWatchdog(path, lambda: EPOCH + loop.time())
        w = await world(watchdog=wd)
        assert json.loads(path.read_text())["timeout"] == 4  # 2 x lease_ttl
        await asyncio.sleep(10)
        fed = json.loads(path.read_text())
        assert fed["state"] == "armed" and fed["feeds"] >= 15  # every 0.5 s
        w.daemon.request_shutdown()
        await asyncio.wait_for(w.task, 30)
        assert json.loads(path.read_text())["state"] == "disarmed"
    run_virtual(body)


def test_the_watchdog_starves_while_a_self_stop_hangs(tmp_path: Path) -> None:
    path = tmp_path / "wd"

    async def body() -> None:
        loop = asyncio.get_running_loop()
        wd = FileWatchdog(path, lambda: EPOCH + loop.time())
        runner = FakeRunner(hang={("vip", "stop")})
        w = await world(runner, watchdog=wd)
        await w.result(await w.send("start", "vip"), "vip")
        w.mc.partition("n1")
        await until(lambda: w.daemon.membership_lost.is_set(), "membership lost")
        feeds = json.loads(path.read_text())["feeds"]
        await asyncio.sleep(60)
        assert json.loads(path.read_text())["feeds"] == feeds  # the hardware would reset
        await stop_daemon(w)
    run_virtual(body)


# --------------------------------------------------------------------------- the watchdog it claims


async def permanent_attrs(w: World, node: str = "n1") -> dict[str, str]:
    """What the node published at join, but the lease id (test_store_cluster)."""
    rng = await w.admin._store.get_prefix(w.admin.keys.node_attrs(node, False))
    return {name: kv.value.decode() for kv in rng.kvs
            if (name := kv.key.rsplit("/", 1)[1]) != "#pacer-lease"}


def test_a_verified_watchdog_is_claimed_with_the_timeout_it_read_back() -> None:
    async def body() -> None:
        dev = FakeDevice(step=3)  # the driver rounds the 4 s asked for up to 6 s
        w = await world(watchdog=DeviceWatchdog("/dev/fake-watchdog", io=dev))
        assert ("set", 4) in dev.calls and ("get",) in dev.calls
        assert await permanent_attrs(w) == {WATCHDOG_ATTR: "true", WATCHDOG_TIMEOUT_ATTR: "6",
                                            LEASE_TTL_ATTR: "2"}
        assert w.daemon.watchdog_timeout == 6
        await asyncio.sleep(5)
        assert dev.calls.count(("write", b"\0")) >= 8  # fed at every keepalive (0.5 s)
        w.daemon.request_shutdown()
        await asyncio.wait_for(w.task, 30)
        assert dev.calls[-2:] == [("write", b"V"), ("close",)] and not dev.open_fds
    run_virtual(body)


def test_no_watchdog_or_an_unverified_one_is_not_claimed(tmp_path: Path) -> None:
    async def body(watchdog: object) -> dict[str, str]:
        w = await world(watchdog=watchdog, lease_ttl=3)
        # a stale claim from an earlier run of this node must not survive the join
        attrs = await permanent_attrs(w)
        await stop_daemon(w)
        return attrs

    for wd in (None, FileWatchdog(tmp_path / "wd", lambda: EPOCH)):
        attrs = run_virtual(lambda wd=wd: body(wd))  # type: ignore[misc]
        assert attrs == {WATCHDOG_ATTR: "false", LEASE_TTL_ATTR: "3"}, wd
    assert json.loads((tmp_path / "wd").read_text())["state"] == "armed"  # armed all the same


def test_a_stale_watchdog_timeout_is_deleted_when_the_node_joins_without_one() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        mc = MemoryCluster(LoopClock(loop))
        admin = ClusterStore(mc.client("admin"), cluster=CLUSTER)
        lease = (await admin.grant_lease(1)).id
        await admin.join("n1", lease, watchdog=True, watchdog_timeout=9, lease_ttl=1)
        assert (await admin.attributes("n1"))[WATCHDOG_TIMEOUT_ATTR] == "9"
        await admin.revoke_lease(lease)
        daemon = make_daemon(mc, FakeRunner())
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon.wait_member(), 30)
        attrs = await admin.attributes("n1")
        assert attrs[WATCHDOG_ATTR] == "false" and WATCHDOG_TIMEOUT_ATTR not in attrs
        assert attrs[LEASE_TTL_ATTR] == "2"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    run_virtual(body)


def test_a_watchdog_that_cannot_be_armed_stops_the_daemon_before_it_joins() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        mc = MemoryCluster(LoopClock(loop))
        dev = FakeDevice(fail={"set": errno.EINVAL})
        daemon = make_daemon(mc, FakeRunner(), watchdog=DeviceWatchdog("/dev/fake", io=dev))
        try:
            await asyncio.wait_for(daemon.run(), 30)
        except WatchdogError as exc:
            assert "/dev/fake" in str(exc) and "WDIOC_SETTIMEOUT" in str(exc)
        else:
            raise AssertionError("the daemon ran without the watchdog asked for")
        assert not dev.open_fds and daemon.incarnation == 0
        admin = ClusterStore(mc.client("admin"), cluster=CLUSTER)
        assert await admin.members() == {}
        assert await admin.attributes("n1") == {}
    run_virtual(body)


def test_a_watchdog_that_did_not_reset_the_host_is_no_longer_claimed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "wd"

    async def body() -> None:
        loop = asyncio.get_running_loop()
        # verified, but nothing plays the hardware here: the reset never comes
        wd = FileWatchdog(path, lambda: EPOCH + loop.time(), verified=True)
        runner = FakeRunner(fail={("vip", "stop"): 1})
        w = await world(runner, watchdog=wd)
        assert (await permanent_attrs(w))[WATCHDOG_TIMEOUT_ATTR] == "4"
        await w.result(await w.send("start", "vip"), "vip")
        assert await w.session.node_fenced(FenceEvent("n1", "off", "success"), "e1",
                                           w.daemon.lease_id)
        await until(lambda: w.daemon.membership_lost.is_set(), "membership lost")
        # it waits twice the watchdog's timeout (2 x 4 s) for the reset, still claiming it
        await asyncio.sleep(7.5)
        assert w.daemon.incarnation == 1 and not w.daemon.member.is_set()
        assert w.daemon.watchdog_timeout == 4
        await until(lambda: w.daemon.incarnation == 2 and w.daemon.member.is_set(),
                    "joined again", limit=2)
        assert w.daemon.watchdog_timeout is None
        attrs = await permanent_attrs(w)
        assert attrs[WATCHDOG_ATTR] == "false" and WATCHDOG_TIMEOUT_ATTR not in attrs
        assert attrs[LEASE_TTL_ATTR] == "2"
        # a later failed self-fence does not wait for it again
        assert await w.session.node_fenced(FenceEvent("n1", "off", "success"), "e2",
                                           w.daemon.lease_id)
        await until(lambda: w.daemon.self_fences == 2 and w.daemon.incarnation == 3
                    and w.daemon.member.is_set(), "fenced and joined a third time", limit=4)
        await stop_daemon(w)

    with caplog.at_level(logging.CRITICAL, logger="pacer.node"):
        run_virtual(body)
    assert any("did not reset this host within 8 s" in r.getMessage()
               and "WITHOUT claiming a watchdog" in r.getMessage() for r in caplog.records)


def test_a_notification_is_recorded_apart_from_the_start() -> None:
    """In `last_0` a notify would take the start's place, and a clone instance
    without a recurring monitor would read as stopped after its first
    notification (found while reviewing issue 13's pending records)."""
    async def body() -> None:
        from pacer.scheduler.history import interpret
        w = await world()
        await w.result(await w.send("start", "other"), "other")
        rid = await w.send("notify", "other", notify_type="post", notify_operation="start")
        await w.result(rid, "other", slot="notify_0")
        assert (await w.op("other", "last_0"))["operation"] == "start"
        snap = await w.admin.snapshot()
        hist = next(h for h in snap.status.node_states["n1"].history if h.rsc == "other")
        assert interpret(hist.ops, None, True, {}).role == "Started"
        await stop_daemon(w)
    run_virtual(body)
