"""Write a Definition as pacer YAML (the format `pacer.model.yaml_loader` reads).

Every value is written as the text the definition holds, unquoted where YAML allows
(the loader reads scalars as written, so `false`, `0755` or `1.10` come back as the
same strings). Ids that equal the loader's defaults are left out, so a file written
here reads back into an equal definition and stays pleasant to edit.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml
from yaml.emitter import Emitter
from yaml.representer import SafeRepresenter
from yaml.resolver import BaseResolver
from yaml.serializer import Serializer

from pacer.model import ids
from pacer.model.definition import (
    Clone,
    Colocation,
    DateExpression,
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
    Resource,
    ResourceSet,
    RscExpression,
    Rule,
)
from pacer.model.meta import format_interval, format_score

OP_META_KEYS = ("start-delay", "interval-origin", "record-pending", "description")
_NULL_WORDS = {"", "~", "null", "Null", "NULL", "<<"}


class _Dumper(Emitter, Serializer, SafeRepresenter, BaseResolver):
    """A dumper without implicit typing: every string that may be plain is written plain."""

    def __init__(self, stream, default_style=None, default_flow_style=None, canonical=None,
                 indent=None, width=None, allow_unicode=None, line_break=None, encoding=None,
                 explicit_start=None, explicit_end=None, version=None, tags=None, sort_keys=False):
        Emitter.__init__(self, stream, canonical=canonical, indent=indent, width=width,
                         allow_unicode=allow_unicode, line_break=line_break)
        Serializer.__init__(self, encoding=encoding, explicit_start=explicit_start,
                            explicit_end=explicit_end, version=version, tags=tags)
        SafeRepresenter.__init__(self, default_style=default_style,
                                 default_flow_style=default_flow_style, sort_keys=sort_keys)
        BaseResolver.__init__(self)

    def increase_indent(self, flow=False, indentless=False):
        # Indent list items under their key ("key:\n  - item"), as people write them.
        return super().increase_indent(flow, False)


class _Block(dict):
    """A mapping always written in block style (one key per line)."""


def _represent_str(dumper: _Dumper, data: str):
    # Words a standard YAML reader takes for null must stay strings: quote them.
    style = "'" if data in _NULL_WORDS else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(
    _Block, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)
)


def _flat(values: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()}


def _b(value: bool) -> str:
    return "true" if value else "false"


# --------------------------------------------------------------------------- pieces


def node_data(n: Node):
    if n.id in ("", n.name) and n.type == "member" and not n.attributes and not n.utilization:
        return n.name
    out: dict = {"name": n.name}
    if n.id not in ("", n.name):
        out["id"] = n.id
    if n.type != "member":
        out["type"] = n.type
    if n.attributes:
        out["attributes"] = _flat(n.attributes)
    if n.utilization:
        out["utilization"] = _flat(n.utilization)
    return out


def operation_data(rsc_id: str, op: Operation) -> dict:
    out: dict = {"name": op.name}
    if op.interval_ms:
        out["interval"] = format_interval(op.interval_ms)
    if op.timeout_ms is not None:
        out["timeout"] = format_interval(op.timeout_ms)
    if op.on_fail is not None:
        out["on-fail"] = op.on_fail
    if op.role is not None:
        out["role"] = op.role
    if not op.enabled:
        out["enabled"] = "false"
    meta = dict(op.meta)
    for key in OP_META_KEYS:
        if key in meta:
            out[key] = str(meta.pop(key))
    if meta:
        out["meta"] = _flat(meta)
    if op.params:
        out["params"] = _flat(op.params)
    if op.id and op.id != ids.op_id(rsc_id, op.name, op.interval_ms, op.role):
        out["id"] = op.id
    return out


def resource_data(r: Resource) -> dict:
    if isinstance(r, Primitive):
        out: dict = {"id": r.id, "agent": r.agent}
        if r.params:
            out["params"] = _flat(r.params)
        if r.meta:
            out["meta"] = _flat(r.meta)
        if r.utilization:
            out["utilization"] = _flat(r.utilization)
        if r.operations:
            out["operations"] = [operation_data(r.id, op) for op in r.operations]
        return out
    if isinstance(r, Group):
        out = {"group": r.id}
        if r.meta:
            out["meta"] = _flat(r.meta)
        out["members"] = [resource_data(m) for m in r.members]
        return out
    assert isinstance(r, Clone)
    out = {("promotable" if r.promotable else "clone"): r.id}
    meta = _flat(r.meta)
    if r.promotable and meta.get("promotable") == "true":
        del meta["promotable"]  # implied by `promotable:`
    if meta:
        out["meta"] = meta
    out["child"] = resource_data(r.child)
    return out


def condition_data(c, rule_id: str, i: int) -> dict:
    if isinstance(c, Rule):
        return {"rule": rule_data(c, ids.rule_id(rule_id, i))}
    default_id = ids.expression_id(rule_id, i)
    if isinstance(c, Expression):
        out: dict = {"attribute": c.attribute, "op": c.operation}
        if c.value is not None:
            out["value"] = c.value
        if c.type is not None:
            out["type"] = c.type
        if c.value_source != "literal":
            out["value-source"] = c.value_source
        if c.id and c.id != default_id:
            out["id"] = c.id
        return out
    if isinstance(c, DateExpression):
        d: dict = {"operation": c.operation}
        if c.start is not None:
            d["start"] = c.start
        if c.end is not None:
            d["end"] = c.end
        if c.duration:
            d["duration"] = _flat(c.duration)
        if c.date_spec is not None:
            d["date-spec"] = _flat(c.date_spec.fields)
        if c.id and c.id != default_id:
            d["id"] = c.id
        return {"date-expression": d}
    if isinstance(c, RscExpression):
        d = {}
        for key, value in (("class", c.agent_class), ("provider", c.provider), ("type", c.type)):
            if value is not None:
                d[key] = value
        if c.id and c.id != default_id:
            d["id"] = c.id
        return {"rsc-expression": d}
    assert isinstance(c, OpExpression)
    d = {"name": c.name}
    if c.interval_ms is not None:
        d["interval"] = format_interval(c.interval_ms)
    if c.id and c.id != default_id:
        d["id"] = c.id
    return {"op-expression": d}


def rule_data(r: Rule, default_id: str, top: bool = False) -> dict:
    out: dict = {}
    if r.id and r.id != default_id:
        out["id"] = r.id
    if r.score is not None and (top or r.score != 0 or r.score_attribute is not None):
        out["score"] = format_score(r.score)
    if r.score_attribute is not None:
        out["score-attribute"] = r.score_attribute
    if r.boolean_op != "and":
        out["boolean-op"] = r.boolean_op
    if r.role is not None:
        out["role"] = r.role
    rid = r.id or default_id
    out["expressions"] = [condition_data(c, rid, i) for i, c in enumerate(r.conditions)]
    return out


def set_data(s: ResourceSet, cid: str, i: int) -> dict:
    out: dict = {}
    if s.id and s.id != ids.set_id(cid, i):
        out["id"] = s.id
    out["resources"] = list(s.resources)
    if not s.sequential:
        out["sequential"] = "false"
    if not s.require_all:
        out["require-all"] = "false"
    for key, value in (("action", s.action), ("role", s.role), ("kind", s.kind),
                       ("ordering", s.ordering)):
        if value is not None:
            out[key] = value
    if s.score is not None:
        out["score"] = format_score(s.score)
    if s.ordered is not None:
        out["ordered"] = _b(s.ordered)
    return out


def _with_id(c, out: dict, default: str) -> dict:
    if c.id and c.id != default:
        return {"id": c.id, **out}
    return out


def location_data(c: Location) -> dict:
    out: dict = {}
    if c.rsc is not None:
        out["rsc"] = c.rsc
    if c.rsc_pattern is not None:
        out["rsc-pattern"] = c.rsc_pattern
    if c.sets:
        out["sets"] = [set_data(s, c.id, i) for i, s in enumerate(c.sets)]
    if c.node is not None:
        out["node"] = c.node
    if c.score is not None:
        out["score"] = format_score(c.score)
    if c.role is not None:
        out["role"] = c.role
    if c.resource_discovery != "always":
        out["resource-discovery"] = c.resource_discovery
    if c.rules:
        out["rules"] = [rule_data(r, ids.rule_id(c.id, i), top=True) for i, r in enumerate(c.rules)]
    return {"location": _with_id(c, out, ids.location_id(c))}


def colocation_data(c: Colocation) -> dict:
    out: dict = {}
    if c.rsc is not None:
        out["rsc"] = c.rsc
    if c.with_rsc is not None:
        out["with"] = c.with_rsc
    if c.sets:
        out["sets"] = [set_data(s, c.id, i) for i, s in enumerate(c.sets)]
    out["score"] = format_score(c.score)
    if c.rsc_role is not None:
        out["rsc-role"] = c.rsc_role
    if c.with_rsc_role is not None:
        out["with-role"] = c.with_rsc_role
    if c.node_attribute != "#uname":
        out["node-attribute"] = c.node_attribute
    if not c.influence:
        out["influence"] = "false"
    return {"colocation": _with_id(c, out, ids.colocation_id(c))}


def order_data(c: Order) -> dict:
    out: dict = {}
    if c.first is not None:
        out["first"] = c.first
    if c.then is not None:
        out["then"] = c.then
    if c.sets:
        out["sets"] = [set_data(s, c.id, i) for i, s in enumerate(c.sets)]
    if c.first_action != "start":
        out["first-action"] = c.first_action
    if c.then_action is not None:
        out["then-action"] = c.then_action
    default_kind = "Optional" if c.score is not None and c.score <= 0 else "Mandatory"
    if c.kind != default_kind:
        out["kind"] = c.kind
    if c.score is not None:
        out["score"] = format_score(c.score)
    if c.symmetrical is not None:
        out["symmetrical"] = _b(c.symmetrical)
    if not c.require_all:
        out["require-all"] = "false"
    return {"order": _with_id(c, out, ids.order_id(c))}


def nvsets_data(sets: tuple[NVSet, ...], section: str):
    if len(sets) == 1:
        s = sets[0]
        if s.rule is None and s.score == 0 and s.id in ("", ids.nvset_id(section, 0)):
            return _Block(_flat(s.values)) if len(s.values) > 3 else _flat(s.values)
    out = []
    for i, s in enumerate(sets):
        d: dict = {}
        if s.id and s.id != ids.nvset_id(section, i):
            d["id"] = s.id
        d["values"] = _flat(s.values)
        if s.score:
            d["score"] = format_score(s.score)
        if s.rule is not None:
            d["rule"] = rule_data(s.rule, ids.rule_id(s.id or ids.nvset_id(section, i), 0))
        out.append(d)
    return out


def definition_data(defn: Definition) -> dict:
    """The Definition as plain dicts, lists and strings, in the YAML format's shape."""
    out: dict = {}
    if defn.properties:
        out["cluster"] = _Block(_flat(defn.properties))
    defaults: dict = {}
    if defn.rsc_defaults:
        defaults["resource"] = nvsets_data(defn.rsc_defaults, "resource")
    if defn.op_defaults:
        defaults["operation"] = nvsets_data(defn.op_defaults, "operation")
    if defaults:
        out["defaults"] = defaults
    if defn.nodes:
        out["nodes"] = [node_data(n) for n in defn.nodes]
    if defn.resources:
        out["resources"] = [resource_data(r) for r in defn.resources]
    constraints = (
        [location_data(c) for c in defn.locations]
        + [colocation_data(c) for c in defn.colocations]
        + [order_data(c) for c in defn.orders]
    )
    if constraints:
        out["constraints"] = constraints
    return out


def export_yaml(defn: Definition, header: str | None = None) -> str:
    """The Definition as pacer YAML text; `header` (if any) becomes a leading comment."""
    data = definition_data(defn)
    text = yaml.dump(data, Dumper=_Dumper, default_flow_style=None, sort_keys=False,
                     width=100, allow_unicode=True) if data else "{}\n"
    # a blank line between the top-level sections
    lines = text.splitlines(keepends=True)
    text = "".join(
        ("\n" + line) if i and line[:1].isalpha() else line for i, line in enumerate(lines)
    )
    if header:
        comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
        text = comment + "\n" + text
    return text
