"""The controller's pure steps: DAG execution order, probes, monitors, fencing
choices, and what a store change means to a running transition."""

from __future__ import annotations

import json

from pacer.controller.changes import Change, Result, classify
from pacer.controller.fencing import devices_for, fence_action, watchdog_timeout
from pacer.controller.graph import State, TransitionRun
from pacer.model.yaml_loader import load_yaml
from pacer.scheduler import PlannedAction, Transition, schedule
from pacer.status.types import NodeState, OpRecord, ResourceHistory, Status
from pacer.store.base import Event, EventType, KeyValue
from pacer.store.cluster import Keys

DEFN = """
cluster: {stonith-enabled: false}
nodes: [{name: n1}, {name: n2}]
resources:
  - id: vip
    agent: ocf:heartbeat:Dummy
    operations:
      - {name: monitor, interval: 10s}
  - promotable: db-clone
    child:
      id: db
      agent: ocf:pacemaker:Stateful
      operations:
        - {name: monitor, interval: 10s, role: Unpromoted}
        - {name: monitor, interval: 5s, role: Promoted}
  - clone: u-clone
    meta: {globally-unique: true, clone-max: 2}
    child: {id: u, agent: ocf:heartbeat:Dummy}
  - id: fence1
    agent: stonith:fence_dummy
    params: {pcmk_host_list: "n2 n3"}
"""


def _defn():
    return load_yaml(DEFN)


def _op(rsc: str, node: str, op: str, rc: int = 0, interval: int = 0, call: int = 1,
        expected: int | None = 0) -> OpRecord:
    return OpRecord(rsc=rsc, node=node, operation=op, interval_ms=interval, call_id=call,
                    rc=rc, expected_rc=expected, id=f"{rsc}_{op}_{interval}")


def _hist(rsc: str, node: str, *ops: OpRecord, t: str = "Dummy",
          provider: str = "heartbeat") -> ResourceHistory:
    return ResourceHistory(rsc=rsc, node=node, agent_class="ocf", provider=provider,
                           type=t, ops=ops)


def _status(histories: dict[str, tuple[ResourceHistory, ...]], members=("n1", "n2")) -> Status:
    states = {}
    for n in ("n1", "n2"):
        m = n in members
        states[n] = NodeState(name=n, id=n, in_ccm="true" if m else "false",
                              crmd="online" if m else "offline",
                              join="member" if m else "down", expected="member" if m else "down",
                              history=histories.get(n, ()))
    return Status(node_states=states, now=1000)


# --------------------------------------------------------------------------- graph


def _pa(key: str, pseudo: bool = False, runnable: bool = True) -> PlannedAction:
    return PlannedAction(key=key, task="start", node=None if pseudo else "n1", rsc=key,
                         pseudo=pseudo, runnable=runnable)


def test_run_sends_in_order_and_completes_pseudo_actions_on_the_way() -> None:
    t = Transition(actions=(_pa("a"), _pa("grp-running", pseudo=True), _pa("b")),
                   edges=((0, 1), (1, 2)))
    run = TransitionRun(t)
    assert run.ready() == [0]
    assert run.ready() == []  # a is in flight: nothing else may go
    run.complete(0, True)
    assert run.ready() == [2]  # the pseudo action completed on the way
    assert run.states[1] is State.DONE
    assert not run.finished
    run.complete(2, True)
    assert run.finished and run.aborted is None


def test_unrunnable_action_never_runs_and_orders_nothing() -> None:
    # What must not run without `a` the scheduler has made unrunnable (`c`);
    # what it left runnable (`b`, after a clone's unrunnable instance start)
    # runs, as in Pacemaker's graph, which leaves unrunnable actions out.
    t = Transition(actions=(_pa("a", runnable=False), _pa("b"), _pa("c", runnable=False),
                            _pa("d")), edges=((0, 1), (0, 2), (2, 3)))
    run = TransitionRun(t)
    assert sorted(run.ready()) == [1, 3]
    assert run.states[0] is State.SKIPPED and run.states[2] is State.SKIPPED
    assert run.real_actions == [1, 3]


def test_what_follows_an_unconfirmed_fence_waits() -> None:
    fence = PlannedAction(key="stonith-n2-reboot", task="stonith", node="n2", rsc=None)
    t = Transition(actions=(fence, _pa("stop-pseudo", pseudo=True), _pa("b"), _pa("c")),
                   edges=((0, 1), (1, 2)))
    run = TransitionRun(t, fencing_pending=True)
    assert run.ready() == [3]
    assert [run.states[i] for i in (0, 1, 2)] == [State.SKIPPED] * 3


def test_a_failure_aborts_but_waits_for_what_is_in_flight() -> None:
    t = Transition(actions=(_pa("a"), _pa("b"), _pa("c")), edges=((0, 2),))
    run = TransitionRun(t)
    assert sorted(run.ready()) == [0, 1]
    run.complete(0, False)
    assert run.aborted is not None and "a" in run.aborted
    assert not run.finished  # b is still running
    assert run.ready() == []  # c is never sent
    run.complete(1, True)
    assert run.finished


# --------------------------------------------------------------------------- probes


def test_probes_every_primitive_on_members_only_and_each_unique_instance() -> None:
    status = _status({"n1": (_hist("vip", "n1", _op("vip", "n1", "monitor", rc=7)),)},
                     members=("n1",))
    probes = {(p.node, p.rsc) for p in schedule(_defn(), status, 1000).probes}
    assert probes == {("n1", "db"), ("n1", "u:0"), ("n1", "u:1")}  # vip known, fence skipped


# --------------------------------------------------------------------------- monitors


def test_monitors_follow_the_role_and_skip_what_history_has() -> None:
    defn = _defn()
    status = _status({
        "n1": (_hist("vip", "n1", _op("vip", "n1", "start"),
                     _op("vip", "n1", "monitor", interval=10000, call=2)),
               _hist("db", "n1", _op("db", "n1", "promote", rc=0), t="Stateful",
                     provider="pacemaker")),
        "n2": (_hist("db", "n2", _op("db", "n2", "start"), t="Stateful",
                     provider="pacemaker"),),
    })
    result = schedule(defn, status, 1000)
    got = {(m.node, m.rsc.split(":")[0], m.interval_ms, m.expected_rc)
           for m in result.monitors}
    assert got == {("n1", "db", 5000, 8), ("n2", "db", 10000, 0)}


# --------------------------------------------------------------------------- fencing


def test_fence_devices_by_host_list_and_never_the_controller_itself() -> None:
    defn = _defn()
    assert [d.prim.id for d in devices_for(defn, "n2", "n1")] == ["fence1"]
    assert devices_for(defn, "n1", "n2") == []  # not in its host list
    assert devices_for(defn, "n2", "n2") == []
    assert fence_action("stonith-node-a-1-reboot") == "reboot"
    assert watchdog_timeout(defn, 4.0) == 4.0


# --------------------------------------------------------------------------- changes


def _ev(key: str, value: dict | bytes | None, rev: int = 10) -> Event:
    if value is None:
        return Event(EventType.DELETE, KeyValue(key, b"", 0, rev, 0))
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Event(EventType.PUT, KeyValue(key, raw, rev, rev, 1))


def test_change_classification() -> None:
    k = Keys()
    rec = {"agent": {}, "op": {"operation": "start", "rc": 1, "op_status": 0,
                               "expected_rc": 0, "action_id": "5.1.1", "interval_ms": 0}}
    r = classify(_ev(k.op("n1", "vip", "last_0"), rec), k, {})
    assert isinstance(r, Result) and r.action_id == "5.1.1" and not r.as_expected
    assert classify(_ev(k.op("n1", "vip", "last_failure_0"), rec), k, {}) is None
    pending = {"agent": {}, "op": {**rec["op"], "op_status": -1}}
    assert classify(_ev(k.op("n1", "vip", "last_0"), pending), k, {}) is None
    assert classify(_ev(k.op("n1", "vip", "monitor_10000"), None), k, {}) is None
    assert isinstance(classify(_ev(k.op("n1", "vip", "last_0"), None), k, {}), Change)
    assert classify(_ev(k.action("n1", "x"), {}), k, {}) is None
    attr = k.attr("n1", "master-db", True)
    assert classify(_ev(attr, b"5"), k, {("n1", "master-db"): "5"}) is None
    assert isinstance(classify(_ev(attr, b"10"), k, {("n1", "master-db"): "5"}), Change)
    left = classify(_ev(k.node("n2"), None), k, {})
    assert isinstance(left, Change) and left.what == "node n2 left"


def test_a_failure_record_is_not_a_running_monitor() -> None:
    failed = OpRecord(rsc="vip", node="n1", operation="monitor", interval_ms=10000, call_id=2,
                      rc=7, expected_rc=0, id="vip_last_failure_0")
    status = _status({"n1": (_hist("vip", "n1", failed, _op("vip", "n1", "start", call=3)),)})
    result = schedule(_defn(), status, 1000)
    assert [(m.node, m.rsc, m.interval_ms) for m in result.monitors] == \
        [("n1", "vip", 10000)]
