"""Properties of clone and promotable-clone scheduling on random small clusters.

Each example: 2-5 nodes (online, standby or cleanly offline), one clone of a
Dummy (anonymous or globally unique, promotable or not) with random clone-max,
clone-node-max, promoted-max and promoted-node-max, random location scores on
the clone (including ±INFINITY), random promotion scores (`master-R` node
attributes), and a random current state (instances running, some promoted).

The properties, on the state the transition leads to:
- never more than clone-max instances, nor more than clone-node-max per node
  (one per node for an anonymous clone);
- never more than promoted-max promoted instances, nor more than
  promoted-node-max per node;
- no instance on a node that bans the clone, is offline or in standby;
- promotion only where the instance is placed, and only for promotable clones;
- the same input gives the same transition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacer.model.definition import Clone, Definition, Location, Node, Primitive
from pacer.model.meta import INFINITY, PROMOTED, STOPPED
from pacer.scheduler.api import schedule
from pacer.status.digests import params_digest
from pacer.status.types import NodeState, OpRecord, ResourceHistory, Status

NOW = 1_700_000_000
DIGEST = params_digest({})
SCORES = (-INFINITY, -10, 0, 10, 100, INFINITY)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Case:
    defn: Definition
    status: Status
    node_state: dict[str, str]
    banned: frozenset[str]
    promotable: bool
    unique: bool
    clone_max: int
    clone_node_max: int
    promoted_max: int
    promoted_node_max: int


def _op(rsc: str, node: str, operation: str, call: int, rc: int = 0) -> OpRecord:
    return OpRecord(rsc=rsc, node=node, operation=operation, call_id=call, rc=rc,
                    digest=DIGEST, last_rc_change=NOW - 100, last_run=NOW - 100)


@st.composite
def cases(draw) -> Case:
    n_nodes = draw(st.integers(2, 5))
    names = [f"n{i}" for i in range(1, n_nodes + 1)]
    state = {n: draw(st.sampled_from(("online", "online", "online", "standby", "offline")))
             for n in names}
    promotable = draw(st.booleans())
    unique = draw(st.booleans())
    clone_max = draw(st.integers(0, 6))
    clone_node_max = draw(st.integers(1, 3))
    promoted_max = draw(st.integers(0, 3))
    promoted_node_max = draw(st.integers(1, 2))
    meta = {"clone-max": str(clone_max), "clone-node-max": str(clone_node_max),
            "globally-unique": "true" if unique else "false"}
    if promotable:
        meta["promoted-max"] = str(promoted_max)
        meta["promoted-node-max"] = str(promoted_node_max)
    child = Primitive(id="R", agent_class="ocf", provider="pacemaker",
                      type="Stateful" if promotable else "Dummy")
    clone = Clone(id="C", child=child, meta=meta, promotable=promotable)
    locations = []
    banned = set()
    for n in names:
        s = draw(st.sampled_from(SCORES))
        if s != 0:
            locations.append(Location(id=f"loc-{n}", rsc="C", node=n, score=s))
        if s == -INFINITY:
            banned.add(n)
    # Current state: some online nodes run an instance, some promoted.
    node_states = {}
    count = 0
    for i, n in enumerate(names):
        history = []
        running = state[n] == "online" and draw(st.booleans())
        if running:
            rid = f"R:{count}" if unique else "R"
            count += 1
            ops = [_op(rid, n, "start", 2)]
            if promotable and draw(st.booleans()):
                ops.append(_op(rid, n, "promote", 3))
            history.append(ResourceHistory(rsc=rid, node=n, agent_class="ocf",
                                           provider="pacemaker", type=child.type,
                                           ops=tuple(ops)))
        transient = {}
        if promotable and draw(st.booleans()):
            transient["master-R"] = str(draw(st.sampled_from((-INFINITY, 1, 5, 10, 100))))
        st_ = state[n]
        node_states[n] = NodeState(
            name=n, id=str(i + 1), in_ccm="true" if st_ != "offline" else "false",
            crmd="online" if st_ != "offline" else "offline", join="member" if st_ != "offline" else "down",
            expected="member" if st_ != "offline" else "down",
            transient=transient, history=tuple(history))
    attrs_nodes = tuple(
        Node(name=n, attributes={"standby": "on"} if state[n] == "standby" else {})
        for n in names)
    defn = Definition(nodes=attrs_nodes, resources=(clone,), locations=tuple(locations),
                      properties={"stonith-enabled": "false", "no-quorum-policy": "ignore"})
    status = Status(node_states=node_states, have_quorum=True, now=NOW)
    return Case(defn, status, state, frozenset(banned), promotable, unique, clone_max,
                clone_node_max, promoted_max, promoted_node_max)


def _after(case: Case) -> list[tuple[str, str, str]]:
    """(instance, node, role) of every instance active after the transition."""
    res = schedule(case.defn, case.status, NOW)
    clone = res.view.resource("C")
    out = []
    for inst in clone.children:
        for p in inst.primitives():
            if p.assigned is not None and p.next_role != STOPPED:
                out.append((p.id, p.assigned, p.next_role))
    return out


@SETTINGS
@given(cases())
def test_clone_limits_and_bans(case: Case) -> None:
    active = _after(case)
    assert len(active) <= case.clone_max
    per_node = Counter(n for _, n, _ in active)
    node_max = case.clone_node_max if case.unique else 1
    assert all(k <= node_max for k in per_node.values()), per_node
    for rid, node, _ in active:
        assert node not in case.banned, f"{rid} placed on {node}, which bans the clone"
        assert case.node_state[node] == "online", f"{rid} placed on {case.node_state[node]} {node}"


@SETTINGS
@given(cases())
def test_promotion_limits(case: Case) -> None:
    active = _after(case)
    promoted = [(rid, n) for rid, n, role in active if role == PROMOTED]
    if not case.promotable:
        assert not promoted
        return
    assert len(promoted) <= case.promoted_max
    per_node = Counter(n for _, n in promoted)
    assert all(k <= case.promoted_node_max for k in per_node.values()), per_node


@SETTINGS
@given(cases())
def test_clone_scheduling_is_deterministic(case: Case) -> None:
    a = schedule(case.defn, case.status, NOW)
    b = schedule(case.defn, case.status, NOW)
    assert a.summary_lines == b.summary_lines
    assert [x.key for x in a.transition.actions] == [x.key for x in b.transition.actions]
