"""Write a Definition as a Pacemaker CIB (`pacer.status.cib.export_cib` adds the
`<status>` section and writes the text).

The result validates against Pacemaker's `pacemaker-3.7` schema and is accepted by
`crm_simulate -x FILE -S`, so any pacer configuration can be checked against the real
scheduler. Objects built in code without ids get the same default ids the YAML loader
would give them (`pacer.model.ids`).

pacer's built-in agents (`pacer:vip`) have no CIB class: they are written as OCF agents
of provider "pacer" (`ocf:pacer:vip`), the name under which pacer installs them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from pacer.model import ids
from pacer.model.definition import (
    Clone,
    Colocation,
    DateExpression,
    Definition,
    Expression,
    Group,
    Location,
    NVSet,
    Operation,
    OpExpression,
    Order,
    Primitive,
    Resource,
    ResourceSet,
    RscExpression,
    Rule,
    resource_index,
)
from pacer.model.meta import format_score

FEATURE_SET = "3.16.1"
SCHEMA = "pacemaker-3.7"
# Operation settings that are attributes of <op>; the rest of Operation.meta goes to
# the op's <meta_attributes>.
OP_ATTRIBUTES = ("description", "start-delay", "interval-origin", "record-pending")
_XSD_BOOLEANS = ("true", "false", "1", "0")


def _ms_text(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _b(value: bool) -> str:
    return "true" if value else "false"


class _Writer:
    def __init__(self, defn: Definition):
        self.defn = defn
        self.ids = ids.IdAllocator(self._all_ids(defn))

    @staticmethod
    def _all_ids(defn: Definition) -> set[str]:
        used = set(resource_index(defn.resources))
        for r in resource_index(defn.resources).values():
            if isinstance(r, Primitive):
                used.update(op.id for op in r.operations if op.id)
        for c in (*defn.locations, *defn.colocations, *defn.orders):
            used.add(c.id)
            used.update(s.id for s in c.sets if s.id)
        for s in (*defn.rsc_defaults, *defn.op_defaults):
            used.add(s.id)
        used.discard("")
        return used

    def fresh(self, base: str) -> str:
        return self.ids.take(base)

    def nvset(self, parent: ET.Element, tag: str, set_id: str, values: Mapping[str, str],
              score: int = 0, rule: Rule | None = None) -> ET.Element | None:
        if not values and rule is None and tag != "cluster_property_set":
            return None
        el = ET.SubElement(parent, tag, id=self.fresh(set_id))
        if score:
            el.set("score", format_score(score))
        if rule is not None:
            self.rule(el, rule, ids.rule_id(el.get("id"), 0), nested=True)
        for name, value in values.items():
            ET.SubElement(el, "nvpair", id=self.fresh(f"{el.get('id')}-{name}"), name=str(name),
                          value=str(value))
        return el

    # ------------------------------------------------------------------ resources

    def resource(self, parent: ET.Element, r: Resource) -> None:
        if isinstance(r, Primitive):
            self.primitive(parent, r)
        elif isinstance(r, Group):
            el = ET.SubElement(parent, "group", id=r.id)
            self.nvset(el, "meta_attributes", f"{r.id}-meta_attributes", r.meta)
            for m in r.members:
                self.primitive(el, m)
        else:
            assert isinstance(r, Clone)
            el = ET.SubElement(parent, "clone", id=r.id)
            meta = dict(r.meta)
            if r.promotable:
                meta.setdefault("promotable", "true")
            self.nvset(el, "meta_attributes", f"{r.id}-meta_attributes", meta)
            self.resource(el, r.child)

    def primitive(self, parent: ET.Element, p: Primitive) -> None:
        el = ET.SubElement(parent, "primitive", id=p.id)
        if p.agent_class == "pacer":
            el.set("class", "ocf")
            el.set("provider", "pacer")
        else:
            el.set("class", p.agent_class)
            if p.provider:
                el.set("provider", p.provider)
        el.set("type", p.type)
        self.nvset(el, "instance_attributes", f"{p.id}-instance_attributes", p.params)
        self.nvset(el, "meta_attributes", f"{p.id}-meta_attributes", p.meta)
        self.nvset(el, "utilization", f"{p.id}-utilization", p.utilization)
        if p.operations:
            ops = ET.SubElement(el, "operations")
            for op in p.operations:
                self.operation(ops, p.id, op)

    def operation(self, parent: ET.Element, rsc_id: str, op: Operation) -> None:
        op_id = op.id or self.fresh(ids.op_id(rsc_id, op.name, op.interval_ms, op.role))
        el = ET.SubElement(parent, "op", id=op_id, name=op.name, interval=_ms_text(op.interval_ms))
        if op.timeout_ms is not None:
            el.set("timeout", _ms_text(op.timeout_ms))
        if op.on_fail is not None:
            el.set("on-fail", op.on_fail)
        if op.role is not None:
            el.set("role", op.role)
        if not op.enabled:
            el.set("enabled", "false")
        meta = dict(op.meta)
        for key in OP_ATTRIBUTES:
            if key not in meta:
                continue
            value = str(meta[key])
            if key == "record-pending" and value not in _XSD_BOOLEANS:
                continue  # the schema wants true/false here; a meta attribute takes any text
            if key == "interval-origin" and el.get("start-delay") is not None:
                continue  # the schema allows one of start-delay and interval-origin
            el.set(key, value)
            del meta[key]
        self.nvset(el, "meta_attributes", f"{op_id}-meta_attributes", meta)
        self.nvset(el, "instance_attributes", f"{op_id}-instance_attributes", op.params)

    # ------------------------------------------------------------------ rules

    def rule(self, parent: ET.Element, r: Rule, default_id: str, nested: bool = False) -> None:
        rid = r.id or self.fresh(default_id)
        el = ET.SubElement(parent, "rule", id=rid)
        if r.score_attribute is not None:
            el.set("score-attribute", r.score_attribute)
        else:
            # the schema wants a score on every rule; 0 is what Pacemaker assumes
            el.set("score", format_score(r.score or 0))
        if r.boolean_op != "and":
            el.set("boolean-op", r.boolean_op)
        if r.role is not None:
            el.set("role", r.role)
        for i, c in enumerate(r.conditions):
            self.condition(el, c, rid, i)

    def condition(self, parent: ET.Element, c, rule_id: str, i: int) -> None:
        if isinstance(c, Rule):
            self.rule(parent, c, ids.rule_id(rule_id, i), nested=True)
            return
        cid = c.id or self.fresh(ids.expression_id(rule_id, i))
        if isinstance(c, Expression):
            el = ET.SubElement(parent, "expression", id=cid, attribute=c.attribute,
                               operation=c.operation)
            if c.value is not None:
                el.set("value", c.value)
            if c.type is not None:
                el.set("type", c.type)
            if c.value_source != "literal":
                el.set("value-source", c.value_source)
        elif isinstance(c, DateExpression):
            el = ET.SubElement(parent, "date_expression", id=cid, operation=c.operation)
            if c.start is not None:
                el.set("start", c.start)
            if c.end is not None:
                el.set("end", c.end)
            if c.duration:
                ET.SubElement(el, "duration", id=self.fresh(f"{cid}-duration"),
                              **{k: str(v) for k, v in c.duration.items()})
            if c.date_spec is not None:
                ET.SubElement(el, "date_spec", id=self.fresh(f"{cid}-spec"),
                              **{k: str(v) for k, v in c.date_spec.fields.items()})
        elif isinstance(c, RscExpression):
            el = ET.SubElement(parent, "rsc_expression", id=cid)
            for key, value in (("class", c.agent_class), ("provider", c.provider),
                               ("type", c.type)):
                if value is not None:
                    el.set(key, value)
        else:
            assert isinstance(c, OpExpression)
            el = ET.SubElement(parent, "op_expression", id=cid, name=c.name)
            if c.interval_ms is not None:
                el.set("interval", _ms_text(c.interval_ms))

    # ------------------------------------------------------------------ constraints

    def sets(self, parent: ET.Element, sets: tuple[ResourceSet, ...], cid: str) -> None:
        for i, s in enumerate(sets):
            el = ET.SubElement(parent, "resource_set", id=s.id or self.fresh(ids.set_id(cid, i)))
            if not s.sequential:
                el.set("sequential", "false")
            if not s.require_all:
                el.set("require-all", "false")
            # ResourceSet.ordered has no counterpart in the pacemaker-3.7 schema: not written.
            if s.ordering is not None:
                el.set("ordering", s.ordering)
            if s.action is not None:
                el.set("action", s.action)
            if s.role is not None:
                el.set("role", s.role)
            if s.score is not None:
                el.set("score", format_score(s.score))
            elif s.kind is not None:
                el.set("kind", s.kind)
            for rsc in s.resources:
                ET.SubElement(el, "resource_ref", id=rsc)

    def location(self, parent: ET.Element, c: Location) -> None:
        cid = c.id or self.fresh(ids.location_id(c))
        el = ET.SubElement(parent, "rsc_location", id=cid)
        if c.rsc is not None:
            el.set("rsc", c.rsc)
        if c.rsc_pattern is not None:
            el.set("rsc-pattern", c.rsc_pattern)
        if c.role is not None:
            el.set("role", c.role)
        if c.node is not None:
            el.set("node", c.node)
            el.set("score", format_score(c.score or 0))
        if c.resource_discovery != "always":
            el.set("resource-discovery", c.resource_discovery)
        self.sets(el, c.sets, cid)
        for i, r in enumerate(c.rules):
            self.rule(el, r, ids.rule_id(cid, i))

    def colocation(self, parent: ET.Element, c: Colocation) -> None:
        cid = c.id or self.fresh(ids.colocation_id(c))
        el = ET.SubElement(parent, "rsc_colocation", id=cid, score=format_score(c.score))
        if c.rsc is not None:
            el.set("rsc", c.rsc)
        if c.with_rsc is not None:
            el.set("with-rsc", c.with_rsc)
        if c.rsc_role is not None:
            el.set("rsc-role", c.rsc_role)
        if c.with_rsc_role is not None:
            el.set("with-rsc-role", c.with_rsc_role)
        if c.node_attribute != "#uname":
            el.set("node-attribute", c.node_attribute)
        if not c.influence:
            el.set("influence", "false")
        self.sets(el, c.sets, cid)

    def order(self, parent: ET.Element, c: Order) -> None:
        cid = c.id or self.fresh(ids.order_id(c))
        el = ET.SubElement(parent, "rsc_order", id=cid)
        if c.first is not None:
            el.set("first", c.first)
        if c.then is not None:
            el.set("then", c.then)
        if c.first_action != "start" or c.then_action is not None:
            el.set("first-action", c.first_action)
        if c.then_action is not None:
            el.set("then-action", c.then_action)
        # The schema allows a score or a kind. A score only says Optional (0) or
        # Mandatory (anything else); write it when it agrees with the kind.
        if c.score is not None and c.kind == ("Optional" if c.score <= 0 else "Mandatory"):
            el.set("score", format_score(c.score))
        else:
            el.set("kind", c.kind)
        if c.symmetrical is not None:
            el.set("symmetrical", _b(c.symmetrical))
        if not c.require_all:
            el.set("require-all", "false")
        self.sets(el, c.sets, cid)

    # ------------------------------------------------------------------ whole document

    def configuration(self, cib: ET.Element) -> None:
        defn = self.defn
        conf = ET.SubElement(cib, "configuration")
        crm_config = ET.SubElement(conf, "crm_config")
        self.nvset(crm_config, "cluster_property_set", "cib-bootstrap-options", defn.properties)
        nodes = ET.SubElement(conf, "nodes")
        for n in defn.nodes:
            node_id = n.id or n.name
            el = ET.SubElement(nodes, "node", id=node_id, uname=n.name)
            if n.type != "member":
                el.set("type", n.type)
            self.nvset(el, "instance_attributes", f"nodes-{node_id}", n.attributes)
            self.nvset(el, "utilization", f"nodes-{node_id}-utilization", n.utilization)
        resources = ET.SubElement(conf, "resources")
        for r in defn.resources:
            self.resource(resources, r)
        constraints = ET.SubElement(conf, "constraints")
        for c in defn.locations:
            self.location(constraints, c)
        for c in defn.colocations:
            self.colocation(constraints, c)
        for c in defn.orders:
            self.order(constraints, c)
        for tag, sets, section in (("rsc_defaults", defn.rsc_defaults, "resource"),
                                   ("op_defaults", defn.op_defaults, "operation")):
            if sets:
                el = ET.SubElement(conf, tag)
                for i, s in enumerate(sets):
                    self.nvset_default(el, s, ids.nvset_id(section, i))

    def nvset_default(self, parent: ET.Element, s: NVSet, default_id: str) -> None:
        el = ET.SubElement(parent, "meta_attributes", id=s.id or self.fresh(default_id))
        if s.score:
            el.set("score", format_score(s.score))
        if s.rule is not None:
            self.rule(el, s.rule, ids.rule_id(el.get("id"), 0), nested=True)
        for name, value in s.values.items():
            ET.SubElement(el, "nvpair", id=self.fresh(f"{el.get('id')}-{name}"), name=str(name),
                          value=str(value))


def cib_element(defn: Definition) -> ET.Element:
    """The definition as a CIB root element: `<configuration>` and an empty
    `<status/>` (`pacer.status.cib.export_cib` fills it, and writes the text)."""
    writer = _Writer(defn)
    cib = ET.Element("cib")
    cib.set("crm_feature_set", FEATURE_SET)
    cib.set("validate-with", SCHEMA)
    cib.set("epoch", "1")
    cib.set("num_updates", "0")
    cib.set("admin_epoch", "0")
    cib.set("have-quorum", "1")
    writer.configuration(cib)
    ET.SubElement(cib, "status")
    return cib
