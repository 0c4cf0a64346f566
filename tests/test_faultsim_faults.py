"""The fault kinds of issue 13 do what the README says, seen by scripted
processes (test-only) on the simulated world; and what seeds draw besides
their faults (slow operations, watchdog modes, lease TTLs)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from pathlib import Path

import pytest

from pacer.agents.api import ActionRequest, AgentSpec, FenceRequest
from pacer.faultsim import disk
from pacer.faultsim.config import ALL_FAULT_KINDS, FAULT_KINDS, OPT_IN_KINDS, SimConfig
from pacer.faultsim.explore import explore
from pacer.faultsim.faults import Fault, generate, parse_fault
from pacer.faultsim.run import RunResult, run
from pacer.faultsim.world import HostEnv
from pacer.store.base import LeaseNotFound, OutcomeUnknown, StoreError
from pacer.store.cluster import ClusterStore

DUMMY = AgentSpec.parse("ocf:heartbeat:Dummy")
STATEFUL = AgentSpec.parse("ocf:pacemaker:Stateful")
QUIET = dict(slow_share=0.0, watchdog_mode_share=0.0, ttl_share=0.0, converge_bound=1.0)


def _scripted(script):
    async def process(env: HostEnv) -> None:
        lease = await env.store.grant(env.lease_ttl)
        await ClusterStore(env.store).join(env.name, lease.id)

        async def keepalive() -> None:
            while True:
                await asyncio.sleep(env.lease_ttl / 4)
                with contextlib.suppress(StoreError):
                    await env.store.keepalive(lease.id)
                    if env.watchdog is not None:
                        env.watchdog.feed()

        keep = asyncio.ensure_future(keepalive())
        await script(env, lease.id)
        await keep
    return process


def _run(script, faults: list[Fault], **config) -> RunResult:
    return run(SimConfig(**{**QUIET, **config}), 1, faults, factory=_scripted(script))


def test_every_kind_parses_and_round_trips() -> None:
    examples = ["agent-fail-always@30+40:n1/db/stop", "fence-hang@29+20",
                "fence-slow-fail@29+20=10", "fence-lie@29+20", "oneway-out@30+5:n1",
                "oneway-in@30+5:n1", "hb-cut@30+5:n1,n2", "hb-cut-in@30+5:n2",
                "watch-stall@30+5:n3", "revoke-lost@30+5=1", "store-slow@30+5:n1=2.5",
                "loop-stall@30+2:n1", "vm-pause@30+8:n1", "disk-full@30+20:n2"]
    kinds = set()
    for text in examples:
        f = parse_fault(text)
        kinds.add(f.kind)
        assert Fault.from_json(json.loads(json.dumps(f.to_json()))) == f
        assert f.describe()
    assert kinds | {"crash", "freeze", "partition", "rsc-die", "agent-fail", "agent-hang",
                    "drift", "store-leader-loss", "store-flaky", "fence-fail"} \
        == set(ALL_FAULT_KINDS)
    assert parse_fault("store-slow@30+5:n1=2.5").value == 2.5


def test_opt_in_kinds_are_drawn_only_on_request() -> None:
    assert "fence-lie" in OPT_IN_KINDS and "fence-lie" not in FAULT_KINDS
    drawn = {f.kind for s in range(300) for f in generate(s, SimConfig())}
    assert drawn == set(FAULT_KINDS)
    lie = SimConfig(fault_kinds=("fence-lie",))
    assert {f.kind for f in generate(1, lie)} == {"fence-lie"}


def test_seed_profiles_are_drawn_from_the_seed_alone() -> None:
    cfg = SimConfig()
    profiles = [cfg.profile(s) for s in range(2000)]
    slow = sum(p.slow for p in profiles) / len(profiles)
    assert 0.17 < slow < 0.23  # slow_share 0.2
    assert sum(p.mixed_ttls for p in profiles) > 200
    modes = {m for p in profiles for m in p.watchdogs}
    assert modes == {"ok", "none", "late:3", "late:8"}  # "dead" only on request
    assert cfg.profile(7) == cfg.profile(7)
    fixed = SimConfig(lease_ttls=(2, 2, 5), watchdog_modes=("ok", "dead", "late:4"))
    p = fixed.profile(7)
    assert p.ttls == (2, 2, 5) and p.watchdogs == ("ok", "dead", "late:4")
    assert p.kinds() == ["watchdog-dead", "watchdog-late", "mixed-ttl"] or \
        set(p.kinds()) == {"watchdog-dead", "watchdog-late", "mixed-ttl"}
    assert SimConfig.from_json(json.loads(json.dumps(fixed.to_json()))) == fixed
    with pytest.raises(ValueError):
        SimConfig(watchdog_modes=("ok", "maybe", "ok")).profile(0)
    # --fencing watchdog: every host has a working watchdog.
    assert {m for s in range(500) for m in SimConfig(fencing="watchdog").profile(s).watchdogs} \
        == {"ok"}


def test_slow_operations_take_minutes_and_honour_their_timeouts() -> None:
    durations: dict[str, float] = {}

    async def script(env: HostEnv, lease: int) -> None:
        if env.name != "n1":
            return
        meta = {"promoted-max": "1"}
        loop = asyncio.get_running_loop()
        for action, timeout in (("start", 120_000), ("promote", 300_000), ("stop", 600_000),
                                ("monitor", 10_000)):
            t0 = loop.time()
            r = await env.runner.run(ActionRequest("db", STATEFUL, action, meta=meta,
                                                   timeout_ms=timeout))
            durations[action] = loop.time() - t0
            assert r.op_status == 0, (action, r)
        t0 = loop.time()
        r = await env.runner.run(ActionRequest("api-web", DUMMY, "stop", timeout_ms=5_000))
        durations["short timeout"] = loop.time() - t0
        assert r.op_status_name == "timed out"

    _run(script, [], slow_share=1.0, converge_bound=2000.0)
    assert 5 <= durations["start"] <= 60
    assert 30 <= durations["promote"] <= 240
    assert 30 <= durations["stop"] <= 300
    assert durations["monitor"] < 1
    assert durations["short timeout"] == pytest.approx(5.0)


def test_a_stop_that_fails_every_time() -> None:
    rcs: list[int] = []

    async def script(env: HostEnv, lease: int) -> None:
        if env.name == "n1":
            await asyncio.sleep(25)
            await env.runner.run(ActionRequest("lb", DUMMY, "start"))
            for _ in range(3):
                rcs.append((await env.runner.run(ActionRequest("lb", DUMMY, "stop"))).rc)
            await asyncio.sleep(20)  # the fault is over
            rcs.append((await env.runner.run(ActionRequest("lb", DUMMY, "stop"))).rc)

    _run(script, [parse_fault("agent-fail-always@20+20:n1/lb/stop")], converge_bound=30.0)
    assert rcs == [1, 1, 1, 0]


@pytest.mark.parametrize("kind, took, ok", [
    ("fence-fail@20+60", 1.0, False), ("fence-hang@20+60", 30.0, False),
    ("fence-slow-fail@20+60=12", 12.0, False), ("fence-lie@20+60", 1.0, True)])
def test_fence_device_faults(kind: str, took: float, ok: bool) -> None:
    seen: dict[str, object] = {}

    async def script(env: HostEnv, lease: int) -> None:
        if env.name == "n2":
            await asyncio.sleep(25)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            res = await env.fencer.fence(FenceRequest("fence-sim", "fence_sim", "off", "n1",
                                                      timeout_ms=30_000))
            seen["took"], seen["ok"] = loop.time() - t0, res.ok

    r = _run(script, [parse_fault(kind)])
    assert seen == {"took": pytest.approx(took), "ok": ok}
    # Only a device that works powers n1 off; a lying one says it did.
    assert "power off (fenced" not in r.trace.text()


@pytest.mark.parametrize("mode, reset_after", [("ok", 4.0), ("late:3", 7.0), ("dead", None)])
def test_watchdog_modes(mode: str, reset_after: float | None) -> None:
    armed: dict[str, object] = {}

    async def script(env: HostEnv, lease: int) -> None:
        if env.name == "n1":
            assert env.watchdog is not None
            env.watchdog.arm(4)
            armed["effective"] = env.watchdog.effective_timeout_s
            armed["at"] = asyncio.get_running_loop().time()

    r = _run(script, [parse_fault("freeze@10+20:n1")],  # frozen: nobody feeds it
             watchdog_modes=("ok", "ok", "ok"), converge_bound=30.0)
    del r
    r = _run(script, [parse_fault("freeze@10+20:n1")],
             watchdog_modes=(mode, "ok", "ok"), converge_bound=30.0)
    resets = [line for line in r.trace.lines if line.text == "watchdog expired: hardware reset"]
    if reset_after is None:
        assert resets == []
        assert armed["effective"] == 4  # it claims what was asked
    else:
        # Fed last at the last keepalive before the freeze (9.5 s).
        assert [line.t for line in resets] == [pytest.approx(9.5 + reset_after)]
        assert armed["effective"] == int(reset_after)


def test_datagram_faults_cut_what_they_say() -> None:
    heard: dict[str, list[float]] = {"n1": [], "n2": [], "n3": []}

    async def script(env: HostEnv, lease: int) -> None:
        assert env.link is not None
        await env.link.open(lambda data: heard[env.name].append(
            asyncio.get_running_loop().time()))
        for _ in range(60):
            await asyncio.sleep(1.0)
            for peer in ("n1", "n2", "n3"):
                if peer != env.name:
                    env.link.send(peer, b"x")

    _run(script, [parse_fault("hb-cut-in@20.5+10:n2"), parse_fault("hb-cut@40.5+10:n3"),
                  parse_fault("oneway-out@50.5+5:n1")])

    def count(host: str, a: float, b: float) -> int:
        return sum(a < t < b for t in heard[host])

    assert count("n2", 21, 30) == 0 and count("n1", 21, 30) == 18  # n2 hears nothing
    assert count("n3", 41, 50) == 0 and count("n1", 41, 50) == 9  # n3 cut both ways...
    assert count("n2", 41, 50) == 9  # ... from n1 and n2, which still hear each other
    assert count("n2", 51, 55) == 4 and count("n1", 51, 55) == 8  # n1 sends nothing


def test_store_path_faults() -> None:
    seen: dict[str, object] = {}

    async def script(env: HostEnv, lease: int) -> None:
        if env.name != "n1":
            return
        loop = asyncio.get_running_loop()
        await asyncio.sleep(21)  # store-slow 2 s from 20
        t0 = loop.time()
        await env.store.put("/x", b"1")
        seen["slow put"] = loop.time() - t0
        await asyncio.sleep(10)  # revoke-lost (dropped) from 30
        spare = await env.store.grant(60)
        with pytest.raises(OutcomeUnknown):
            await env.store.revoke(spare.id)
        seen["lease lives"] = await env.store.time_to_live(spare.id) > 0
        await asyncio.sleep(10)  # oneway-in from 40: applied, answer lost
        with pytest.raises(OutcomeUnknown):
            await env.store.put("/y", b"2")
        await asyncio.sleep(10)  # oneway-out from 50: never applied
        with pytest.raises(OutcomeUnknown):
            await env.store.put("/z", b"3")
        await asyncio.sleep(10)
        seen["y"] = (await env.store.get("/y")) is not None
        seen["z"] = (await env.store.get("/z")) is not None
        with contextlib.suppress(LeaseNotFound):
            await env.store.revoke(spare.id)

    _run(script, [parse_fault("store-slow@20+5:n1=2"), parse_fault("revoke-lost@30+5=0"),
                  parse_fault("oneway-in@40+5:n1"), parse_fault("oneway-out@50+5:n1")],
         converge_bound=30.0)
    assert seen == {"slow put": pytest.approx(2.0), "lease lives": True, "y": True, "z": False}


def test_a_stalled_watch_sees_nothing_while_unary_calls_work() -> None:
    events: list[tuple[float, str]] = []

    async def script(env: HostEnv, lease: int) -> None:
        loop = asyncio.get_running_loop()
        if env.name == "n1":
            async for ev in env.store.watch_prefix("/w/"):
                events.append((loop.time(), ev.kv.key))
        if env.name == "n2":
            for i in range(4):
                await asyncio.sleep(10)
                await env.store.put(f"/w/{i}", b"")
                assert (await env.store.get(f"/w/{i}")) is not None

    _run(script, [parse_fault("watch-stall@15+20:n1")], converge_bound=30.0)
    assert events == [(10.0, "/w/0"), (35.0, "/w/1"), (35.0, "/w/2"), (40.0, "/w/3")]


def test_a_paused_vm_s_clock_does_not_count_the_pause() -> None:
    clocks: list[tuple[float, float]] = []

    async def script(env: HostEnv, lease: int) -> None:
        if env.name == "n1":
            loop = asyncio.get_running_loop()
            for _ in range(4):
                await asyncio.sleep(10)
                clocks.append((loop.now, env.clock.now()))  # global, the VM's

    r = _run(script, [parse_fault("vm-pause@15+7:n1")], converge_bound=30.0)
    # The sleep due at 20 (VM time) ran at 27: the VM's clock lost the 7 s.
    assert [(round(g, 3), round(v, 3)) for g, v in clocks] == \
        [(10.0, 10.0), (27.0, 20.0), (37.0, 30.0), (47.0, 40.0)]
    assert [round(line.t, 3) for line in r.trace.lines if "vm-pause" in line.text] == [15.0, 22.0]


def test_a_full_disk_fails_writes_not_reads(tmp_path: Path) -> None:
    d = tmp_path / "n1"
    d.mkdir()
    (d / "a").write_text("kept")
    disk.fill(d)
    try:
        with pytest.raises(OSError, match="No space left on device"):
            (d / "b").write_text("x")
        with pytest.raises(OSError):
            (d / "sub").mkdir()
        assert (d / "a").read_text() == "kept"
        (tmp_path / "elsewhere").write_text("fine")
        assert disk.failures(d) == 2
    finally:
        disk.forget(d)
    (d / "b").write_text("x")


def test_the_real_daemon_s_state_dir_fills_up() -> None:
    """On main at 0e2c3b3 every recurring monitor died of the full disk
    (daemon-error: No space left on device); now the node goes on from its
    record in memory, and its monitors still find a resource that dies."""
    r = run(SimConfig(**QUIET), 1, [parse_fault("disk-full@30+20:n1"),
                                    parse_fault("rsc-die@40:n1/lb")])
    assert r.ok, r.violations
    found = [line for line in r.trace.lines if line.who == "n1" and "monitor" in line.text
             and "lb" in line.text and "not running" in line.text]
    assert found and 40 < found[0].t < 50, r.trace.text()


def test_explore_counts_what_seeds_drew_and_reached() -> None:
    cfg = dataclasses.replace(SimConfig(), slow_share=0.0)
    report = explore(cfg, range(3), jobs=1)
    stats = report.kind_stats()
    drawn = {f.kind for o in report.outcomes for f in o.faults}
    assert drawn <= set(stats)
    for st in stats.values():
        assert st["reached"] <= st["drawn"] and st["failed"] <= st["drawn"]
    data = report.to_json(3)
    assert data["seeds"] == 3 and data["kinds"] == stats and data["slow_seeds"] == 0
    assert any("fault kind" in line for line in report.stat_lines())
