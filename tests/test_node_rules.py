"""The node daemon's pure parts: request mapping, fail counts, beliefs, watchdog files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacer.model.yaml_loader import load_yaml
from pacer.node.config import NodeConfig
from pacer.node.mapping import UnknownResource, index_definition, plan_action
from pacer.node.rules import Activity, failure_attributes, next_activity
from pacer.node.watchdog import (
    DeviceWatchdog,
    FileWatchdog,
    NoWatchdog,
    WatchdogError,
    open_watchdog,
)
from pacer.status.types import OP_DONE, OP_NOT_INSTALLED, OP_TIMEOUT, OpRecord
from pacer.store.cluster import NodeRequest

DEFN = """\
defaults:
  operation: {timeout: 33s}
resources:
  - id: plain
    agent: ocf:heartbeat:Dummy
    params: {a: "1"}
    operations:
      - {name: start, timeout: 40s}
      - {name: monitor, interval: 10s, params: {OCF_CHECK_LEVEL: "10"}}
  - clone: anon-clone
    meta: {clone-max: 3, notify: true}
    child:
      group: g
      members:
        - {id: m1, agent: "ocf:heartbeat:Dummy"}
  - clone: uniq-clone
    meta: {globally-unique: true, clone-max: 4, clone-node-max: 2}
    child: {id: u, agent: "ocf:heartbeat:Dummy"}
"""


def req(task: str, rsc: str, interval_ms: int = 0, timeout_ms: int | None = None,
        **extra: str) -> NodeRequest:
    return NodeRequest(id="1.1.1", token=1, node="n1", task=task, rsc=rsc,
                       interval_ms=interval_ms, timeout_ms=timeout_ms, extra=extra)


@pytest.fixture(scope="module")
def index():
    return index_definition(load_yaml(DEFN), 5, n_nodes=2)


def test_plain_primitive_timeouts_params_and_digest(index) -> None:
    start = plan_action(req("start", "plain"), index, 20_000)
    assert start.agent_request.timeout_ms == 40_000  # the op's
    assert plan_action(req("start", "plain", timeout_ms=5000), index, 20_000
                       ).agent_request.timeout_ms == 5000  # the request's wins
    assert plan_action(req("stop", "plain"), index, 20_000).agent_request.timeout_ms == 33_000
    assert start.hist_id == "plain" and start.agent_request.instance == "plain"
    assert "clone" not in start.agent_request.meta and start.digest is not None
    mon = plan_action(req("monitor", "plain", 10_000), index, 20_000)
    assert dict(mon.agent_request.params) == {"a": "1", "OCF_CHECK_LEVEL": "10"}
    assert mon.digest is None and mon.expected_rc == 0
    assert plan_action(req("monitor", "plain"), index, 20_000).expected_rc == 7  # a probe


def test_anonymous_clone_in_a_group(index) -> None:
    p = plan_action(req("notify", "m1:2", notify_type="pre", notify_operation="start"),
                    index, 20_000)
    assert p.hist_id == "m1" and p.agent_request.instance == "m1"
    meta = p.agent_request.meta
    assert (meta["clone"], meta["clone-max"], meta["notify"], meta["globally-unique"]) == (
        "2", "3", "true", "false")
    assert dict(p.agent_request.notify) == {"notify_type": "pre", "notify_operation": "start"}


def test_unique_clone_instance_names(index) -> None:
    p = plan_action(req("start", "u:3"), index, 20_000)
    assert p.hist_id == "u:3" and p.agent_request.instance == "u:3"
    assert p.agent_request.meta["clone-node-max"] == "2"
    assert p.agent_request.rsc_id == "u"


def test_unknown_resource(index) -> None:
    with pytest.raises(UnknownResource):
        plan_action(req("start", "nope"), index, 20_000)


def test_migration_extras_become_meta(index) -> None:
    p = plan_action(req("migrate_to", "plain", migrate_source="n1", migrate_target="n2"),
                    index, 20_000)
    assert p.agent_request.meta["migrate_target"] == "n2"


def op(operation: str, rc: int, expected: int = 0, interval_ms: int = 0,
       status: int = OP_DONE) -> OpRecord:
    return OpRecord(rsc="r", node="n1", operation=operation, interval_ms=interval_ms, rc=rc,
                    op_status=status, expected_rc=expected)


@pytest.mark.parametrize("record,current,fatal,want", [
    (op("start", 0), None, True, None),
    (op("start", 1), None, True, "INFINITY"),
    (op("start", 1), "2", False, "3"),
    (op("monitor", 7, interval_ms=10_000), None, True, "1"),
    (op("monitor", 7, expected=7), None, True, None),  # a probe's answer
    (op("monitor", 0, expected=7), None, True, None),  # a probe finding it running
    (op("monitor", 8, expected=8, interval_ms=5000), None, True, None),
    (op("stop", 1), "INFINITY", True, "INFINITY"),
    (op("stop", 0, status=OP_TIMEOUT), "1", True, "2"),
])
def test_fail_count_rule(record: OpRecord, current: str | None, fatal: bool,
                         want: str | None) -> None:
    attrs = failure_attributes("r:1", record, current, fatal, 1234)
    if want is None:
        assert attrs == {}
    else:
        suffix = f"r:1#{record.operation}_{record.interval_ms}"
        assert attrs == {f"fail-count-{suffix}": want, f"last-failure-{suffix}": "1234"}


@pytest.mark.parametrize("current,task,rc,status,want", [
    (Activity.STOPPED, "start", 1, OP_DONE, Activity.STARTED),  # doubt counts as active
    (Activity.STOPPED, "start", 5, OP_NOT_INSTALLED, Activity.STOPPED),
    (Activity.STARTED, "stop", 0, OP_DONE, Activity.STOPPED),
    (Activity.STARTED, "stop", 1, OP_DONE, Activity.STARTED),
    (Activity.STARTED, "stop", 1, OP_TIMEOUT, Activity.STARTED),
    (Activity.STARTED, "promote", 1, OP_DONE, Activity.PROMOTED),
    (Activity.PROMOTED, "demote", 0, OP_DONE, Activity.STARTED),
    (Activity.STOPPED, "monitor", 0, OP_DONE, Activity.STARTED),
    (Activity.STOPPED, "monitor", 8, OP_DONE, Activity.PROMOTED),
    (Activity.STARTED, "monitor", 7, OP_DONE, Activity.STOPPED),
    (Activity.STOPPED, "monitor", 1, OP_DONE, Activity.STARTED),
    (Activity.STARTED, "migrate_to", 0, OP_DONE, Activity.STARTED),
    (Activity.STARTED, "notify", 1, OP_DONE, Activity.STARTED),
])
def test_beliefs(current: Activity, task: str, rc: int, status: int, want: Activity) -> None:
    assert next_activity(current, task, rc, status) == want


def test_config_numbers() -> None:
    c = NodeConfig("n1")
    assert (c.keepalive_s, c.margin_s, c.watchdog_timeout_s) == (0.5, 0.5, 4)
    assert NodeConfig("n1", lease_ttl=5, watchdog_grace=1.5).watchdog_timeout_s == 7
    with pytest.raises(ValueError):
        NodeConfig("n1", lease_ttl=2, self_fence_margin=2)
    with pytest.raises(ValueError):
        NodeConfig("a/b")
    env = NodeConfig("n1", cluster="c", endpoints=("http://127.0.0.1:2379", "x:1"),
                     ca_file="/ca").agent_env()
    assert env == {"PACER_NODE": "n1", "PACER_CLUSTER": "c", "PACER_ETCD_TIMEOUT": "0.25",
                   "PACER_ENDPOINTS": "http://127.0.0.1:2379,x:1", "PACER_ETCD_CA": "/ca"}


def test_open_watchdog_chooses_by_path(tmp_path: Path) -> None:
    # More in tests/test_node_watchdog.py (the device through a fake, the refusals).
    assert isinstance(open_watchdog(None, lambda: 0.0), NoWatchdog)
    assert isinstance(open_watchdog("/dev/null", lambda: 0.0), DeviceWatchdog)  # not armed
    assert isinstance(open_watchdog(tmp_path / "wd", lambda: 0.0, allow_file=True),
                      FileWatchdog)
    with pytest.raises(WatchdogError):
        open_watchdog(tmp_path / "wd", lambda: 0.0)
