"""The YAML configuration format: loading, error reporting, and YAML round trips."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from strategies_config import definitions

from pacer.model.definition import (
    Clone,
    DateExpression,
    Expression,
    Group,
    OpExpression,
    Primitive,
    Rule,
)
from pacer.model.errors import ConfigError
from pacer.model.meta import INFINITY
from pacer.model.yaml_export import export_yaml
from pacer.model.yaml_loader import load_yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

FULL = textwrap.dedent("""\
    cluster:
      stonith-enabled: false
      no-quorum-policy: stop
    defaults:
      resource: {resource-stickiness: 100}
      operation: {timeout: 20s}
    nodes:
      - name: node1
        attributes: {rack: a}
      - node2
      - {name: node3, id: "3", utilization: {cpu: 4}}
    resources:
      - id: vip
        agent: ocf:heartbeat:IPaddr2
        params: {ip: 192.0.2.10, mode: 0755, version: 1.10}
        meta: {migration-threshold: 3}
        operations:
          - {name: monitor, interval: 10s, timeout: 20s, on-fail: restart}
          - {name: start, timeout: 1min, start-delay: 5s}
      - group: web
        meta: {target-role: Started}
        members:
          - {id: a, agent: "systemd:a"}
          - {id: b, agent: "lsb:b"}
      - clone: haproxy-clone
        meta: {clone-max: 3}
        child: {id: haproxy, agent: "systemd:haproxy"}
      - promotable: db-clone
        child:
          id: db
          agent: ocf:heartbeat:pgsql
          operations:
            - {name: monitor, interval: 11s, role: Master}
    constraints:
      - location: {rsc: vip, node: node1, score: 100}
      - location:
          rsc: vip
          rules:
            - score: -INFINITY
              expressions:
                - {attribute: rack, op: eq, value: b}
                - date-expression: {operation: date_spec, date-spec: {hours: 9-16}}
      - colocation: {rsc: web, with: vip, score: INFINITY}
      - order: {first: vip, then: web, kind: Mandatory, symmetrical: true}
      - order: {sets: [{resources: [a, b], sequential: false}, {resources: [haproxy-clone]}]}
""")


def load(text: str, **kw):
    return load_yaml(textwrap.dedent(text), "c.yaml", **kw)


def problems_of(text: str, **kw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load(text, **kw)
    return [str(p) for p in exc.value.problems]


# --------------------------------------------------------------------------- loading


def test_full_example_loads():
    d = load_yaml(FULL, "full.yaml")
    assert d.properties == {"stonith-enabled": "false", "no-quorum-policy": "stop"}
    assert d.rsc_defaults[0].values == {"resource-stickiness": "100"}
    assert d.rsc_defaults[0].id == "rsc-options"
    assert d.op_defaults[0].values == {"timeout": "20s"}
    assert [n.name for n in d.nodes] == ["node1", "node2", "node3"]
    assert d.nodes[0].attributes == {"rack": "a"}
    assert d.nodes[1].id == "node2"
    assert d.nodes[2].id == "3" and d.nodes[2].utilization == {"cpu": "4"}

    vip, web, hap, db = d.resources
    assert isinstance(vip, Primitive)
    assert (vip.agent_class, vip.provider, vip.type) == ("ocf", "heartbeat", "IPaddr2")
    # scalars are kept as written, not as YAML would type them
    assert vip.params == {"ip": "192.0.2.10", "mode": "0755", "version": "1.10"}
    assert vip.meta == {"migration-threshold": "3"}
    mon, start = vip.operations
    assert (mon.name, mon.interval_ms, mon.timeout_ms, mon.on_fail) == ("monitor", 10_000, 20_000, "restart")
    assert mon.id == "vip-monitor-10s"
    assert start.timeout_ms == 60_000 and start.meta == {"start-delay": "5s"}
    assert start.id == "vip-start-0"

    assert isinstance(web, Group) and [m.id for m in web.members] == ["a", "b"]
    assert web.members[1].agent == "lsb:b"
    assert isinstance(hap, Clone) and not hap.promotable and hap.child.id == "haproxy"
    assert isinstance(db, Clone) and db.promotable
    assert db.meta == {"promotable": "true"}
    assert db.child.operations[0].role == "Promoted"  # legacy role name normalised

    loc1, loc2 = d.locations
    assert (loc1.id, loc1.rsc, loc1.node, loc1.score) == ("location-vip-node1", "vip", "node1", 100)
    assert loc2.id == "location-vip"
    rule = loc2.rules[0]
    assert rule.id == "location-vip-rule" and rule.score == -INFINITY
    expr, date = rule.conditions
    assert expr == Expression(attribute="rack", operation="eq", value="b",
                              id="location-vip-rule-expr")
    assert isinstance(date, DateExpression) and date.date_spec.fields == {"hours": "9-16"}
    assert date.id == "location-vip-rule-expr-2"

    (col,) = d.colocations
    assert (col.rsc, col.with_rsc, col.score, col.id) == ("web", "vip", INFINITY,
                                                         "colocation-web-with-vip")
    o1, o2 = d.orders
    assert (o1.first, o1.then, o1.kind, o1.symmetrical) == ("vip", "web", "Mandatory", True)
    assert o2.id == "order-set-a-b-haproxy-clone"
    assert o2.sets[0].resources == ("a", "b") and not o2.sets[0].sequential
    assert o2.sets[0].id == "order-set-a-b-haproxy-clone-set"
    assert o2.sets[1].id == "order-set-a-b-haproxy-clone-set-2"


def test_origins_name_file_and_line():
    d = load_yaml(FULL, "full.yaml")
    assert d.origins["vip"] == "full.yaml:13"
    assert d.origins["a"] == "full.yaml:23"
    assert d.origins["location-vip-node1"] == "full.yaml:35"
    assert d.origins["node:node2"] == "full.yaml:10"
    assert d.origins["#resources[0].meta.migration-threshold"] == "full.yaml:16"
    assert "origins" in repr(d)  # a short repr, not every field
    assert len(repr(d.origins)) < 40


def test_load_from_path_and_examples():
    for name in ("demo.yaml", "openstack.yaml"):
        warnings = []
        d = load_yaml(EXAMPLES / name, warnings=warnings)
        assert d.resources and d.nodes
        assert warnings == [], [str(w) for w in warnings]
        assert d.origins[d.resources[0].id].startswith(str(EXAMPLES / name) + ":")
    d = load_yaml(str(EXAMPLES / "demo.yaml"))
    assert [n.name for n in d.nodes] == ["node1", "node2", "node3"]


def test_demo_is_the_documented_shape():
    d = load_yaml(EXAMPLES / "demo.yaml")
    ids = {r.id for r in d.resources}
    assert {"vip", "haproxy-clone", "api"} <= ids
    assert d.properties["stonith-enabled"] == "false"
    assert d.colocations and d.orders and d.locations


def test_explicit_ids_win_and_generated_ids_avoid_them():
    d = load("""
        resources:
          - {id: a, agent: "systemd:a"}
          - {id: b, agent: "systemd:b"}
        constraints:
          - location: {rsc: a, node: n, score: 1}
          - location: {id: location-a-n, rsc: b, node: n, score: 1}
    """, validate=False)
    assert [c.id for c in d.locations] == ["location-a-n-2", "location-a-n"]


def test_merge_keys_and_anchors():
    d = load("""
        resources:
          - id: a
            agent: "systemd:a"
            meta: &common {resource-stickiness: 10, priority: 1}
          - id: b
            agent: "systemd:b"
            meta:
              <<: *common
              priority: 5
    """)
    assert d.resources[1].meta == {"priority": "5", "resource-stickiness": "10"}


def test_empty_document_is_an_empty_definition():
    d = load("")
    assert d.resources == () and d.nodes == ()


def test_pacer_agent_class():
    d = load("""
        cluster: {stonith-enabled: false}
        resources:
          - {id: v, agent: "pacer:vip", params: {ip: 192.0.2.1}}
    """)
    assert d.resources[0].agent_class == "pacer" and d.resources[0].provider is None


def test_op_expression_and_defaults_sets():
    d = load("""
        defaults:
          operation:
            - values: {timeout: 120s}
            - id: mon
              score: 5
              values: {timeout: 30s}
              rule:
                expressions:
                  - op-expression: {name: monitor, interval: 10s}
    """)
    a, b = d.op_defaults
    assert a.id == "op-options" and b.id == "mon" and b.score == 5
    assert b.rule.score == 0  # rules of defaults only decide whether they apply
    assert b.rule.conditions[0] == OpExpression(name="monitor", interval_ms=10_000,
                                                id="mon-rule-expr")


def test_nested_rules():
    d = load("""
        nodes: [n1]
        resources: [{id: a, agent: "systemd:a"}]
        constraints:
          - location:
              rsc: a
              rules:
                - score-attribute: weight
                  boolean-op: or
                  expressions:
                    - {attribute: "#uname", op: eq, value: n1}
                    - rule:
                        expressions:
                          - {attribute: rack, op: defined}
    """)
    top = d.locations[0].rules[0]
    assert top.score is None and top.score_attribute == "weight" and top.boolean_op == "or"
    nested = top.conditions[1]
    assert isinstance(nested, Rule) and nested.score == 0
    assert nested.id == "location-a-rule-rule-2"


# --------------------------------------------------------------------------- bad input


def test_malformed_yaml_names_the_line():
    (msg,) = problems_of("""
        resources:
          - id: a
            agent: [unclosed
        nodes: []
    """)
    assert msg.startswith("c.yaml:")
    assert "invalid YAML" in msg
    line = int(msg.split(":")[1])
    assert 4 <= line <= 6


def test_tab_indentation_is_a_yaml_error():
    (msg,) = problems_of("resources:\n\t- id: a\n")
    assert msg.startswith("c.yaml:2: ") and "invalid YAML" in msg


def test_several_documents_rejected():
    (msg,) = problems_of("nodes: []\n---\nnodes: []\n")
    assert "more than one YAML document" in msg


def test_top_level_must_be_a_mapping():
    (msg,) = problems_of("- a\n- b\n")
    assert "expected a mapping at the top level, found a list" in msg


def test_unknown_keys_get_did_you_mean():
    msgs = problems_of("""
        resorces: []
        resources:
          - id: a
            agnet: "systemd:a"
            agent: "systemd:a"
            operations:
              - {name: monitor, intervl: 10s}
        constraints:
          - colocation: {rsc: a, wiht: a, score: 1}
          - ordr: {first: a, then: a}
    """)
    assert any("c.yaml:2: at resorces: unknown key 'resorces'; did you mean 'resources'?" in m
               for m in msgs), msgs
    assert any("c.yaml:5: at resources[0].agnet: unknown key 'agnet'; did you mean 'agent'?" in m
               for m in msgs), msgs
    assert any("at resources[0].operations[0].intervl: unknown key 'intervl'; did you mean "
               "'interval'?" in m for m in msgs), msgs
    assert any("at constraints[0].colocation.wiht: unknown key 'wiht'; did you mean 'with'?" in m
               for m in msgs), msgs
    assert any("at constraints[1]: unknown constraint type 'ordr'; did you mean 'order'?" in m
               for m in msgs), msgs
    # problems come in file order
    lines = [int(m.split(":")[1]) for m in msgs]
    assert lines == sorted(lines)


def test_duplicate_keys():
    (msg,) = problems_of("""
        resources:
          - id: a
            agent: "systemd:a"
            id: b
    """)
    assert "c.yaml:5: at resources[0].id: duplicate key 'id' (first at line 3)" in msg


def test_bad_values_name_field_and_valid_forms():
    msgs = problems_of("""
        resources:
          - id: a
            agent: "systemd:a"
            operations:
              - {name: monitor, interval: 10x}
              - {name: start, enabled: maybe}
        constraints:
          - location: {rsc: a, node: n1, score: lots}
    """)
    assert ("c.yaml:6: at resources[0].operations[0].interval: '10x' is not a valid interval; "
            "expected a number of seconds") in msgs[0]
    assert "c.yaml:7: at resources[0].operations[1].enabled: 'maybe' is not a valid boolean" in msgs[1]
    assert ("c.yaml:9: at constraints[0].location.score: 'lots' is not a valid score; expected an "
            "integer, INFINITY") in msgs[2]


def test_bad_agent_and_resource_shapes():
    msgs = problems_of("""
        resources:
          - id: a
            agent: IPaddr2
          - id: b
            agent: "ocf:IPaddr2"
          - group: g
            members:
              - clone: c
                child: {id: x, agent: "systemd:x"}
          - {name: oops}
          - just-a-string
          - group: empty
            members: []
    """)
    text = "\n".join(msgs)
    assert "c.yaml:4: at resources[0].agent: 'IPaddr2' is not a valid agent; write the agent as class:provider:type" in text
    assert "at resources[1].agent: 'ocf:IPaddr2' is not a valid agent" in text
    assert "at resources[2].members[0]: a clone cannot be placed inside a group" in text
    assert "at resources[3]: cannot tell what kind of resource this is" in text
    assert "at resources[4]: expected a resource (a mapping), found the value 'just-a-string'" in text
    assert "at resources[5].members: a group needs at least one member" in text


def test_missing_values_and_wrong_types():
    msgs = problems_of("""
        cluster:
          stonith-enabled:
        nodes: {node1: {}}
        resources:
          - id: a
            agent: "systemd:a"
            params: [x, y]
            meta: {k: {nested: 1}}
    """)
    text = "\n".join(msgs)
    assert "c.yaml:3: at cluster.stonith-enabled: 'stonith-enabled' has no value" in text
    assert "at nodes: expected a list of nodes, found a mapping" in text
    assert "at resources[0].params: expected a mapping of names to values, found a list" in text
    assert "at resources[0].meta.k: expected a single value, found a mapping" in text


def test_colocation_needs_a_score():
    (msg,) = problems_of("""
        resources: [{id: a, agent: "systemd:a"}, {id: b, agent: "systemd:b"}]
        constraints:
          - colocation: {rsc: a, with: b}
    """)
    assert "missing required key 'score'" in msg and "INFINITY keeps" in msg


def test_semantic_errors_come_from_validate_with_lines():
    msgs = problems_of("""
        cluster: {stonith-enabled: false}
        resources:
          - id: a
            agent: "systemd:a"
            meta: {migration-threshold: abc}
        constraints:
          - order: {first: a, then: ghost}
    """)
    assert msgs[0].startswith("c.yaml:6: at resources[0].meta.migration-threshold: 'abc' is not a valid score")
    assert msgs[1] == "c.yaml:8: at constraints[0].order.then: unknown resource 'ghost'"


def test_warnings_are_returned_not_raised():
    warnings = []
    d = load("""
        cluster: {stonith-enabled: false}
        nodes: [node1]
        resources: [{id: a, agent: "systemd:a"}]
        constraints:
          - location: {rsc: a, node: node7, score: 10}
    """, warnings=warnings)
    assert d.locations[0].node == "node7"
    (w,) = warnings
    assert w.level == "warning" and "unknown node 'node7'" in str(w) and w.line == 6


def test_missing_file():
    with pytest.raises(ConfigError) as exc:
        load_yaml("/nonexistent/cluster.yaml")
    assert "cannot read" in str(exc.value)


# --------------------------------------------------------------------------- round trips


def test_yaml_round_trip_of_examples_and_full():
    for src in (FULL, EXAMPLES / "demo.yaml", EXAMPLES / "openstack.yaml"):
        d1 = load_yaml(src)
        text = export_yaml(d1)
        d2 = load_yaml(text)
        assert d2 == d1
        assert export_yaml(d2) == text


def test_export_leaves_default_ids_out():
    text = export_yaml(load_yaml(FULL))
    assert "vip-monitor-10s" not in text
    assert "location-vip-node1" not in text
    assert "rsc-options" not in text
    assert "mode: 0755" in text  # written as it was read
    assert "promotable: db-clone" in text


def test_export_quotes_what_must_be_quoted():
    d = load("""
        cluster: {stonith-enabled: false}
        resources:
          - id: a
            agent: "systemd:a"
            params: {empty: "", tilde: "~", nul: "null", colon: "a: b", hash: "x #y", lead: " x"}
    """)
    d2 = load_yaml(export_yaml(d))
    assert d2.resources[0].params == d.resources[0].params


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions())
def test_yaml_round_trip_property(defn):
    text = export_yaml(defn)
    again = load_yaml(text, validate=False)
    assert again == defn, text
