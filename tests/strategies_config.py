"""Hypothesis strategies for whole Definitions, in the canonical form the loaders produce.

Shared by the YAML and CIB round-trip tests. `for_cib=True` keeps to what a CIB can
carry exactly (no pacer: agent class, no ResourceSet.ordered, an order's score agrees
with its kind).
"""

from __future__ import annotations

from hypothesis import strategies as st

from pacer.model.definition import (
    Clone,
    Colocation,
    DateExpression,
    DateSpec,
    Definition,
    Expression,
    Group,
    Location,
    Node,
    NVSet,
    Operation,
    OpExpression,
    Order,
    Primitive,
    ResourceSet,
    RscExpression,
    Rule,
    frozen,
)
from pacer.model.meta import INFINITY

NAME = st.from_regex(r"[a-z][a-z0-9_-]{0,7}", fullmatch=True)
# printable text, including characters YAML and XML must quote or escape
TEXT = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 .:-#'\"&<>{}[],*!|%@`éü")), max_size=10
)
SCORE = st.one_of(st.integers(-2000, 2000), st.sampled_from([INFINITY, -INFINITY, 0]))
INTERVAL = st.sampled_from([0, 500, 1000, 10_000, 60_000, 90_000, 3_600_000])
ROLE = st.sampled_from([None, "Started", "Promoted", "Unpromoted"])


def text_map(keys=NAME, max_size=3):
    return st.dictionaries(keys, TEXT, max_size=max_size).map(frozen)


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


@st.composite
def operations(draw, rsc_id: str, new_id):
    ops = []
    seen = set()
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["monitor", "start", "stop", "promote"]))
        interval = draw(INTERVAL)
        if (name, interval) in seen:
            continue
        seen.add((name, interval))
        meta_keys = st.sampled_from(["start-delay", "record-pending", "description", "x-custom"])
        ops.append(Operation(
            name=name,
            interval_ms=interval,
            timeout_ms=draw(st.one_of(st.none(), INTERVAL)),
            on_fail=draw(st.sampled_from([None, "restart", "block", "ignore"])),
            role=draw(ROLE),
            enabled=draw(st.booleans()),
            meta=draw(text_map(meta_keys, 2)),
            id=new_id("op"),
            params=draw(text_map(st.sampled_from(["OCF_CHECK_LEVEL", "depth"]), 1)),
        ))
    return tuple(ops)


@st.composite
def primitives(draw, new_id, for_cib: bool):
    rid = new_id("p")
    classes = ["ocf", "systemd", "lsb", "stonith", "service"] + ([] if for_cib else ["pacer"])
    cls = draw(st.sampled_from(classes))
    return Primitive(
        id=rid,
        agent_class=cls,
        type=draw(NAME),
        provider=draw(NAME) if cls == "ocf" else None,
        params=draw(text_map()),
        meta=draw(text_map(st.sampled_from(["target-role", "resource-stickiness", "x"]))),
        operations=draw(operations(rid, new_id)),
        utilization=draw(st.dictionaries(NAME, st.integers(0, 99).map(str), max_size=2).map(frozen)),
    )


@st.composite
def resources(draw, new_id, for_cib: bool):
    kind = draw(st.sampled_from(["primitive", "group", "clone", "promotable"]))
    if kind == "primitive":
        return draw(primitives(new_id, for_cib))
    if kind == "group":
        gid = new_id("g")
        members = tuple(draw(primitives(new_id, for_cib)) for _ in range(draw(st.integers(1, 3))))
        return Group(id=gid, members=members, meta=draw(text_map(st.sampled_from(["ordered", "y"]))))
    cid = new_id("c")
    if draw(st.booleans()):
        child = draw(primitives(new_id, for_cib))
    else:
        gid = new_id("g")
        child = Group(id=gid, members=(draw(primitives(new_id, for_cib)),))
    meta = dict(draw(text_map(st.sampled_from(["clone-max", "interleave", "z"]))))
    if kind == "promotable":
        meta["promotable"] = "true"
    return Clone(id=cid, child=child, meta=frozen(meta), promotable=kind == "promotable")


@st.composite
def conditions(draw, new_id, depth: int, context: str):
    choices = ["expr", "date"]
    if depth < 1:
        choices.append("rule")
    if context == "rsc_defaults":
        choices.append("rsc")
    if context == "op_defaults":
        choices.append("op")
    kind = draw(st.sampled_from(choices))
    if kind == "expr":
        op = draw(st.sampled_from(["eq", "ne", "lt", "defined", "not_defined"]))
        return Expression(
            attribute=draw(st.sampled_from(["#uname", "rack", "site"])),
            operation=op,
            value=None if op in ("defined", "not_defined") else draw(TEXT),
            type=draw(st.sampled_from([None, "string", "integer", "version"])),
            value_source=draw(st.sampled_from(["literal", "param"])),
            id=new_id("e"),
        )
    if kind == "date":
        if draw(st.booleans()):
            return DateExpression(operation="date_spec", id=new_id("d"),
                                  date_spec=DateSpec(fields=frozen({"hours": "9-16"})))
        return DateExpression(operation="in_range", start="2024-01-01", id=new_id("d"),
                              duration=frozen({"years": "1"}))
    if kind == "rsc":
        return RscExpression(agent_class="ocf", provider=draw(st.none() | NAME), type=draw(NAME),
                             id=new_id("e"))
    if kind == "op":
        return OpExpression(name="monitor", interval_ms=draw(st.none() | INTERVAL), id=new_id("e"))
    return draw(rules(new_id, depth + 1, context, top=False))


@st.composite
def rules(draw, new_id, depth: int = 0, context: str = "location", top: bool = True):
    score_attribute = None
    score = draw(SCORE)
    if top and draw(st.booleans()):
        score, score_attribute = None, draw(NAME)
    return Rule(
        id=new_id("r"),
        boolean_op=draw(st.sampled_from(["and", "or"])),
        conditions=tuple(draw(conditions(new_id, depth, context))
                         for _ in range(draw(st.integers(1, 2)))),
        score=score,
        score_attribute=score_attribute,
        role=draw(ROLE) if top else None,
    )


@st.composite
def resource_sets(draw, new_id, rsc_ids, kind: str, for_cib: bool):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        score = draw(st.none() | SCORE)
        out.append(ResourceSet(
            id=new_id("s"),
            resources=tuple(draw(st.lists(st.sampled_from(rsc_ids), min_size=1, max_size=3))),
            sequential=draw(st.booleans()),
            require_all=draw(st.booleans()),
            action=draw(st.sampled_from([None, "start", "promote"])) if kind == "order" else None,
            role=draw(ROLE) if kind != "order" else None,
            score=score,
            kind=draw(st.sampled_from([None, "Optional"])) if kind == "order" and score is None
            else None,
            ordered=None if for_cib else draw(st.sampled_from([None, True, False])),
            ordering=draw(st.sampled_from([None, "group", "listed"])) if kind == "colocation"
            else None,
        ))
    return tuple(out)


@st.composite
def definitions(draw, for_cib: bool = False):
    new_id = _Ids()
    nodes = tuple(
        Node(name=f"node{i}", id=draw(st.sampled_from([f"node{i}", str(i)])),
             type=draw(st.sampled_from(["member", "remote"])),
             attributes=draw(text_map()),
             utilization=draw(st.dictionaries(NAME, st.integers(0, 9).map(str), max_size=2)
                              .map(frozen)))
        for i in range(1, draw(st.integers(1, 4)) + 1)
    )
    rscs = tuple(draw(resources(new_id, for_cib)) for _ in range(draw(st.integers(1, 4))))
    rsc_ids = [r.id for r in rscs]
    node_names = [n.name for n in nodes]
    locations = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            locations.append(Location(
                id=new_id("loc"), rsc=draw(st.sampled_from(rsc_ids)),
                node=draw(st.sampled_from(node_names)), score=draw(SCORE), role=draw(ROLE),
                resource_discovery=draw(st.sampled_from(["always", "never", "exclusive"]))))
        else:
            target = draw(st.sampled_from(["rsc", "pattern", "sets"]))
            locations.append(Location(
                id=new_id("loc"),
                rsc=draw(st.sampled_from(rsc_ids)) if target == "rsc" else None,
                rsc_pattern="^p" if target == "pattern" else None,
                sets=draw(resource_sets(new_id, rsc_ids, "location", for_cib))
                if target == "sets" else (),
                rules=tuple(draw(rules(new_id)) for _ in range(draw(st.integers(1, 2)))),
            ))
    colocations = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            colocations.append(Colocation(
                id=new_id("col"), rsc=draw(st.sampled_from(rsc_ids)),
                with_rsc=draw(st.sampled_from(rsc_ids)), score=draw(SCORE),
                rsc_role=draw(ROLE), with_rsc_role=draw(ROLE),
                node_attribute=draw(st.sampled_from(["#uname", "rack"])),
                influence=draw(st.booleans())))
        else:
            colocations.append(Colocation(
                id=new_id("col"), score=draw(SCORE),
                sets=draw(resource_sets(new_id, rsc_ids, "colocation", for_cib))))
    orders = []
    for _ in range(draw(st.integers(0, 3))):
        score = draw(st.none() | SCORE)
        kinds = ["Mandatory", "Optional", "Serialize"]
        if for_cib and score is not None:
            kinds = ["Optional" if score <= 0 else "Mandatory"]
        kind = draw(st.sampled_from(kinds))
        common = dict(id=new_id("ord"), kind=kind, score=score,
                      symmetrical=draw(st.sampled_from([None, True, False])),
                      require_all=draw(st.booleans()))
        if draw(st.booleans()):
            first_action = draw(st.sampled_from(["start", "promote"]))
            orders.append(Order(
                first=draw(st.sampled_from(rsc_ids)), then=draw(st.sampled_from(rsc_ids)),
                first_action=first_action,
                then_action=draw(st.sampled_from([None, "start", "stop"])), **common))
        else:
            orders.append(Order(sets=draw(resource_sets(new_id, rsc_ids, "order", for_cib)),
                                **common))

    def nvsets(context):
        out = []
        for _ in range(draw(st.integers(0, 2))):
            out.append(NVSet(
                values=draw(text_map(st.sampled_from(["resource-stickiness", "timeout", "q"]))),
                rule=draw(st.none() | rules(new_id, 0, context, top=False)),
                score=draw(st.integers(0, 10)),
                id=new_id("nv"),
            ))
        return tuple(out)

    return Definition(
        nodes=nodes,
        resources=rscs,
        locations=tuple(locations),
        colocations=tuple(colocations),
        orders=tuple(orders),
        properties=draw(text_map(st.sampled_from(["stonith-enabled", "cluster-name", "x-y"]))),
        rsc_defaults=nvsets("rsc_defaults"),
        op_defaults=nvsets("op_defaults"),
    )
