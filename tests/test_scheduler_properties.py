"""Properties of the scheduler on random small clusters (hypothesis).

Each example is a cluster built directly from the model's dataclasses: 2-5 nodes,
each online, in standby, cleanly offline or lost (unclean); 1-8 Dummy primitives,
some of them in groups; random location scores (including ±INFINITY); random
colocations and mandatory orders between top-level resources, acyclic; and a
random current placement recorded as successful starts in the status.

The properties:

- safety: nothing is placed on, or started on, a node that is banned for it
  (-INFINITY), offline, in standby or unclean;
- an INFINITY colocation is honoured (the dependent is on its primary's node, or
  stopped) and a -INFINITY one too (never on the primary's node);
- the order of the constraints in the input does not change the placement;
- determinism: the same input gives the same transition;
- fixpoint: once the transition is carried out (its fencing, stops and starts
  applied to the status), scheduling again asks for no start or stop.

When a property fails, hypothesis shrinks it to a minimal cluster; `cib_of(case)`
turns that into a CIB to check with `crm_simulate -x FILE -S`.

Set PACER_ORACLE_FUZZ=N to also compare N random clusters' Transition Summaries
with crm_simulate (slow, and it reports every scheduler difference it meets, so it
is not part of the default run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from pacer.model.definition import (
    Colocation,
    Definition,
    Group,
    Location,
    Node,
    NVSet,
    Order,
    Primitive,
)
from pacer.model.meta import INFINITY
from pacer.scheduler.api import ScheduleResult, schedule
from pacer.status.digests import params_digest
from pacer.status.types import NodeState, OpRecord, ResourceHistory, Status

NOW = 1_700_000_000
DIGEST = params_digest({})
NODE_STATES = ("online", "online", "online", "standby", "offline", "lost")
SCORES = (-INFINITY, -100, -10, 0, 5, 10, 50, 100, INFINITY)
COLOC_SCORES = (-INFINITY, -50, 20, 100, INFINITY)

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- the cluster


@dataclass(frozen=True)
class Case:
    """One random cluster: the definition and status, plus what the generator chose."""

    defn: Definition
    status: Status
    node_state: dict[str, str]
    top: dict[str, tuple[str, ...]]  # top-level id -> its primitives

    def members(self, rid: str) -> tuple[str, ...]:
        return self.top[rid]


def _node_state(name: str, state: str, running: list[str], call_base: int) -> NodeState:
    fields = {
        "online": dict(in_ccm="true", crmd="online", join="member", expected="member"),
        "standby": dict(in_ccm="true", crmd="online", join="member", expected="member"),
        "offline": dict(in_ccm="false", crmd="offline", join="down", expected="down"),
        "lost": dict(in_ccm="false", crmd="offline", join="down", expected="member"),
    }[state]
    transient = {"standby": "on"} if state == "standby" else {}
    history = tuple(started(r, name, call_base + i) for i, r in enumerate(running))
    return NodeState(name=name, id=name, transient=transient, history=history, **fields)


def started(rsc: str, node: str, call_id: int) -> ResourceHistory:
    op = OpRecord(rsc=rsc, node=node, operation="start", call_id=call_id, rc=0,
                  last_rc_change=NOW - 100, last_run=NOW - 100, digest=DIGEST,
                  id=f"{rsc}_last_0")
    return ResourceHistory(rsc=rsc, node=node, agent_class="ocf", provider="pacemaker",
                           type="Dummy", ops=(op,))


def _dummy(rid: str) -> Primitive:
    return Primitive(id=rid, agent_class="ocf", provider="pacemaker", type="Dummy")


@st.composite
def clusters(draw, coloc_scores: tuple[int, ...] = COLOC_SCORES,
             one_primary: bool = False) -> Case:
    """A random cluster. `one_primary`: each resource is the dependent of at most one
    colocation constraint; `coloc_scores`: the colocation scores to draw from."""
    n_nodes = draw(st.integers(2, 5))
    nodes = [f"n{i}" for i in range(1, n_nodes + 1)]
    states = {n: draw(st.sampled_from(NODE_STATES)) for n in nodes}

    n_prims = draw(st.integers(1, 8))
    prims = [f"r{i}" for i in range(1, n_prims + 1)]
    # Cut the primitives into top-level items: single primitives and groups of 2-3.
    top: dict[str, tuple[str, ...]] = {}
    resources = []
    i = 0
    g = 0
    while i < n_prims:
        size = draw(st.sampled_from((1, 1, 2, 3)))
        chunk = prims[i:i + size]
        i += len(chunk)
        if len(chunk) == 1:
            top[chunk[0]] = tuple(chunk)
            resources.append(_dummy(chunk[0]))
        else:
            g += 1
            gid = f"g{g}"
            top[gid] = tuple(chunk)
            resources.append(Group(id=gid, members=tuple(_dummy(m) for m in chunk)))
    ids = list(top)

    locations = []
    for k in range(draw(st.integers(0, 6))):
        locations.append(Location(id=f"loc{k}", rsc=draw(st.sampled_from(ids)),
                                  node=draw(st.sampled_from(nodes)),
                                  score=draw(st.sampled_from(SCORES))))
    # Colocations and orders only go "down" a random permutation: no cycles.
    rank = draw(st.permutations(ids))
    pairs = [(a, b) for x, a in enumerate(rank) for b in rank[x + 1:]]
    colocations = []
    orders = []
    if pairs:
        chosen = draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True))
        if one_primary:
            chosen = list({dep: (dep, prim) for dep, prim in reversed(chosen)}.values())
        for k, (dep, prim) in enumerate(chosen):
            colocations.append(Colocation(id=f"col{k}", rsc=dep, with_rsc=prim,
                                          score=draw(st.sampled_from(coloc_scores))))
        for k, (then, first) in enumerate(draw(st.lists(st.sampled_from(pairs), max_size=3,
                                                        unique=True))):
            orders.append(Order(id=f"ord{k}", first=first, then=then, kind="Mandatory"))

    # Current placement: each primitive stopped or active on one node that has a
    # status to show it (online, standby, or lost and so unclean).
    hosts = [n for n in nodes if states[n] != "offline"]
    running: dict[str, list[str]] = {n: [] for n in nodes}
    for p in prims:
        where = draw(st.sampled_from([None, None] + hosts))
        if where is not None:
            running[where].append(p)
    stickiness = draw(st.sampled_from((0, 0, 100)))
    defn = Definition(
        nodes=tuple(Node(name=n, id=n) for n in nodes),
        resources=tuple(resources),
        locations=tuple(locations),
        colocations=tuple(colocations),
        orders=tuple(orders),
        properties={"stonith-enabled": "false"},
        rsc_defaults=(NVSet(values={"resource-stickiness": str(stickiness)}, id="rd"),)
        if stickiness else (),
    )
    status = Status(node_states={n: _node_state(n, states[n], running[n], 10 * x + 2)
                                 for x, n in enumerate(nodes)}, now=NOW)
    return Case(defn=defn, status=status, node_state=states, top=top)


def cib_of(case: Case) -> str:
    """The case as CIB XML, to check a failing example with crm_simulate."""
    from pacer.status.cib import export_cib

    return export_cib(case.defn, case.status)


def run(case: Case, defn: Definition | None = None, status: Status | None = None
        ) -> ScheduleResult:
    return schedule(defn or case.defn, status or case.status, NOW)


def describe(case: Case, result: ScheduleResult) -> None:
    note(cib_of(case))
    note("\n".join(result.summary_lines))


# --------------------------------------------------------------------------- helpers


def banned(case: Case) -> set[tuple[str, str]]:
    """(primitive, node) pairs with a -INFINITY location constraint."""
    out = set()
    for loc in case.defn.locations:
        if loc.score is not None and loc.score <= -INFINITY:
            for p in case.members(loc.rsc):
                out.add((p, loc.node))
    return out


def unusable(case: Case) -> set[str]:
    return {n for n, s in case.node_state.items() if s != "online"}


def started_on(result: ScheduleResult) -> list[tuple[str, str]]:
    return [(a.rsc, a.node) for a in result.transition.actions
            if a.task == "start" and a.runnable and not a.pseudo and a.node is not None]


def after_transition(case: Case, result: ScheduleResult) -> Status:
    """The status once the transition has run: fenced nodes down, stops and starts done."""
    view = result.view
    fenced = {a.node for a in result.transition.actions if a.task == "stonith"}
    active: dict[str, set[str]] = {}
    for r in view.primitives:
        nodes = set(r.active)
        actions = view.actions(r.id)
        for s in actions.stops:
            if s.required and (s.runnable or s.pseudo):
                nodes.discard(s.node)
        start = actions.start
        if start is not None and start.required and start.runnable and start.node:
            nodes.add(start.node)
        nodes -= fenced
        active[r.id] = nodes
    states = {}
    for x, (name, ns) in enumerate(case.status.node_states.items()):
        here = [r for r in active if name in active[r]]
        history = tuple(started(r, name, 100 * x + i + 2) for i, r in enumerate(here))
        if name in fenced:
            ns = replace(ns, in_ccm="false", crmd="offline", join="down", expected="down")
        states[name] = replace(ns, history=history)
    return replace(case.status, node_states=states)


def transition_key(result: ScheduleResult):
    t = result.transition
    return (t.summary, t.action_lines, tuple(t.actions), tuple(sorted(
        (k, v or "") for k, v in t.placement.items())))


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(clusters())
def test_never_on_a_banned_or_unusable_node(case):
    result = run(case)
    describe(case, result)
    bad_nodes = unusable(case)
    bans = banned(case)
    for rsc, node in result.transition.placement.items():
        if node is None:
            continue
        assert node not in bad_nodes, f"{rsc} placed on {node} ({case.node_state[node]})"
        assert (rsc, node) not in bans, f"{rsc} placed on {node}, where it is banned"
    for rsc, node in started_on(result):
        assert node not in bad_nodes, f"{rsc} started on {node} ({case.node_state[node]})"
        assert (rsc, node) not in bans, f"{rsc} started on {node}, where it is banned"


@SETTINGS
@given(clusters())
def test_mandatory_colocations_are_honoured(case):
    result = run(case)
    describe(case, result)
    where = result.transition.placement
    for col in case.defn.colocations:
        primary_nodes = {where[p] for p in case.members(col.with_rsc) if where[p]}
        for dep in case.members(col.rsc):
            node = where[dep]
            if node is None:
                continue
            if col.score >= INFINITY:
                assert primary_nodes == {node}, (
                    f"{dep} on {node} but {col.with_rsc} on {primary_nodes or 'no node'} "
                    f"({col.id} INFINITY)")
            elif col.score <= -INFINITY:
                assert node not in primary_nodes, (
                    f"{dep} on {node} together with {col.with_rsc} ({col.id} -INFINITY)")


def _reorderings(case: Case, rnd, fields: tuple[str, ...]):
    """The definition with `fields` reversed, then shuffled."""
    rev = case.defn
    shuffled = case.defn
    for field in fields:
        items = list(getattr(case.defn, field))
        rev = replace(rev, **{field: tuple(reversed(items))})
        rnd.shuffle(items)
        shuffled = replace(shuffled, **{field: tuple(items)})
    return rev, shuffled


def _same_placement_when_reordered(case: Case, rnd, fields: tuple[str, ...]) -> None:
    result = run(case)
    describe(case, result)
    for defn in _reorderings(case, rnd, fields):
        again = run(case, defn=defn)
        note("reordered:\n" + "\n".join(again.summary_lines))
        assert again.transition.placement == result.transition.placement


# Pacemaker assigns a dependent's primaries in a fixed order (by the primary's
# priority, then kind, then id), whatever the order of the colocation
# constraints, and so does pacer: where a resource is the dependent of several
# colocations, the order of constraints must not matter either. D1_CASE is the
# minimal case that once told them apart (nodes n1 n2, primitives A Z C,
# colocations [A with Z -INFINITY, A with C 20]: crm_simulate A=n1 Z=n2 C=n1,
# whichever order the constraints come in).


def pinned_case(nodes: list[str], resources: list, colocations: list[tuple[str, str, int]],
                stickiness: int = 0, bans: list[tuple[str, str]] = ()) -> Case:
    """A hand-written case: every node online, nothing running; `bans` are
    (resource, node) -INFINITY locations."""
    top = {}
    for r in resources:
        top[r.id] = tuple(m.id for m in r.members) if isinstance(r, Group) else (r.id,)
    defn = Definition(
        nodes=tuple(Node(name=n, id=n) for n in nodes),
        resources=tuple(resources),
        colocations=tuple(Colocation(id=f"c-{d}-{p}", rsc=d, with_rsc=p, score=sc)
                          for d, p, sc in colocations),
        locations=tuple(Location(id=f"ban-{r}-{n}", rsc=r, node=n, score=-INFINITY)
                        for r, n in bans),
        properties={"stonith-enabled": "false"},
        rsc_defaults=(NVSet(values={"resource-stickiness": str(stickiness)}, id="rd"),)
        if stickiness else (),
    )
    status = Status(node_states={n: _node_state(n, "online", [], 2) for n in nodes}, now=NOW)
    return Case(defn=defn, status=status, node_state={n: "online" for n in nodes}, top=top)


D1_CASE = pinned_case(["n1", "n2"], [_dummy("A"), _dummy("Z"), _dummy("C")],
                      [("A", "Z", -INFINITY), ("A", "C", 20)])

# Once pacer's first transition differed from Pacemaker's here and was no
# fixpoint (primaries taken in constraint order); now both start r1 on n2, r3
# and g1 on n1, and nothing more once that has run.
FIXPOINT_CASE = pinned_case(
    ["n1", "n2"],
    [_dummy("r1"), _dummy("r3"), Group(id="g1", members=(_dummy("r4"), _dummy("r5")))],
    [("r1", "r3", 20), ("r1", "g1", -INFINITY), ("g1", "r3", 20)],
    stickiness=100,
)

NOT_A_FIXPOINT_REASON = (
    "Pacemaker itself is no fixpoint here, and pacer agrees with crm_simulate in both "
    "rounds: a dependent's stickiness flows back through two -INFINITY colocations as a "
    "liking. Nodes n1..n4 online, nothing running, resource-stickiness=100, group "
    "g1=(r1 r2 r3) banned from n1, primitives r4 r5 r6, colocations [g1 with r4 "
    "-INFINITY, g1 with r5 -INFINITY, r4 with r6 -INFINITY]: g1 starts on n4, r4 on n1, "
    "r5 on n3, r6 on n2; once that has run, r6 gets g1's 300 on n4 (through r4) and "
    "moves there: 'Move r6 ( n2 -> n4 )'"
)

NOT_A_FIXPOINT_CASE = pinned_case(
    ["n1", "n2", "n3", "n4"],
    [Group(id="g1", members=(_dummy("r1"), _dummy("r2"), _dummy("r3"))),
     _dummy("r4"), _dummy("r5"), _dummy("r6")],
    [("g1", "r4", -INFINITY), ("g1", "r5", -INFINITY), ("r4", "r6", -INFINITY)],
    stickiness=100,
    bans=[("g1", "n1")],
)


@SETTINGS
@given(clusters(one_primary=True), st.randoms(use_true_random=False))
def test_constraint_order_does_not_matter(case, rnd):
    _same_placement_when_reordered(case, rnd, ("locations", "colocations", "orders"))


@SETTINGS
@given(clusters(), st.randoms(use_true_random=False))
def test_location_and_order_constraint_order_does_not_matter(case, rnd):
    _same_placement_when_reordered(case, rnd, ("locations", "orders"))


@SETTINGS
@given(clusters(), st.randoms(use_true_random=False))
@example(case=D1_CASE, rnd=Random(0))
def test_colocation_order_does_not_matter_for_shared_dependents(case, rnd):
    _same_placement_when_reordered(case, rnd, ("colocations",))


@settings(SETTINGS, max_examples=60)
@given(clusters())
def test_deterministic(case):
    first = run(case)
    second = run(case)
    describe(case, first)
    assert transition_key(first) == transition_key(second)


def _fixpoint(case: Case) -> None:
    result = run(case)
    describe(case, result)
    status = after_transition(case, result)
    again = run(case, status=status)
    note("after the transition:\n" + cib_of(replace(case, status=status)))
    note("\n".join(again.summary_lines))
    moves = [(a.task, a.rsc, a.node) for a in again.transition.actions
             if a.task in ("start", "stop", "stonith") and a.runnable]
    assert moves == []


# Finite negative colocations are left out: there Pacemaker itself is no fixpoint.
# Nodes n1 n2, resource-stickiness=100, group g1=(r1 r2) banned from n1, r6,
# colocation g1 with r6 -50, r2 and r6 active on n2: crm_simulate starts r1 and
# restarts r2 on n2; once that has run it moves r6 to n1; then nothing.
FIXPOINT_SCORES = (-INFINITY, 20, 100, INFINITY)


@SETTINGS
@given(clusters(coloc_scores=FIXPOINT_SCORES, one_primary=True))
def test_fixpoint_after_the_transition(case):
    _fixpoint(case)


@settings(SETTINGS, max_examples=1)
@given(st.just(FIXPOINT_CASE))
def test_fixpoint_after_the_transition_pinned_shared_dependents(case):
    _fixpoint(case)


@pytest.mark.xfail(strict=True, reason=NOT_A_FIXPOINT_REASON)
@SETTINGS
@given(clusters(coloc_scores=FIXPOINT_SCORES))
@example(case=NOT_A_FIXPOINT_CASE)
def test_fixpoint_after_the_transition_for_shared_dependents(case):
    _fixpoint(case)


# --------------------------------------------------------------------------- oracle fuzz

FUZZ = int(os.environ.get("PACER_ORACLE_FUZZ", "0") or 0)


def crm_simulate_summary(xml: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cib.xml"
        path.write_text(xml)
        env = dict(os.environ, LC_ALL="C", CIB_shadow_dir=tmp)
        proc = subprocess.run(["crm_simulate", "-x", str(path), "-S"], env=env,
                              capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    start = lines.index("Transition Summary:") + 1
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line)
    return out


@pytest.mark.skipif(not FUZZ, reason="set PACER_ORACLE_FUZZ=N to compare N random clusters "
                                     "with crm_simulate")
@pytest.mark.skipif(shutil.which("crm_simulate") is None,
                    reason="crm_simulate (Debian pacemaker-cli-utils) is not installed")
@settings(max_examples=max(FUZZ, 1), deadline=None, derandomize=False,
          suppress_health_check=list(HealthCheck))
@given(clusters())
def test_summary_agrees_with_crm_simulate(case):
    result = run(case)
    xml = cib_of(case)
    note(xml)
    fold = [re.sub(r"\s+", " ", x).strip() for x in result.summary_lines]
    theirs = [re.sub(r"\s+", " ", x).strip() for x in crm_simulate_summary(xml)]
    assert fold == theirs


def test_generator_covers_the_space():
    """The strategy itself: it does make groups, bans, lost and standby nodes, history."""
    seen = {"group": 0, "ban": 0, "lost": 0, "standby": 0, "running": 0, "colocation": 0,
            "order": 0}

    @settings(max_examples=200, deadline=None, derandomize=True, database=None)
    @given(clusters())
    def collect(case):
        seen["group"] += any(len(m) > 1 for m in case.top.values())
        seen["ban"] += bool(banned(case))
        seen["lost"] += "lost" in case.node_state.values()
        seen["standby"] += "standby" in case.node_state.values()
        seen["running"] += any(ns.history for ns in case.status.node_states.values())
        seen["colocation"] += bool(case.defn.colocations)
        seen["order"] += bool(case.defn.orders)

    collect()
    assert all(v > 10 for v in seen.values()), seen
