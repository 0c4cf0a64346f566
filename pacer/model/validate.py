"""Semantic checks of a Definition, shared by the YAML loader and the CIB importer.

`validate(defn)` returns every problem found, errors and warnings (`Problem.level`).
Each problem is located through `defn.origins`: the YAML loader records the line of
every field ("#resources[2].meta.x" -> "file:12"), the line of every object by id,
and where its layout differs from the definition's ("@locations[0]" ->
"constraints[3].location"); a definition from a CIB has at most id -> "file:line", and
paths are then those of the definition's own structure ("locations[0].rsc").
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

from pacer.model.definition import (
    Clone,
    Colocation,
    DateExpression,
    Definition,
    Expression,
    Group,
    Location,
    NVSet,
    OpExpression,
    Order,
    Primitive,
    Resource,
    ResourceSet,
    RscExpression,
    Rule,
)
from pacer.model.errors import Problem
from pacer.model.ids import is_valid_id
from pacer.model.meta import (
    CLUSTER_PROPERTIES,
    OPERATION_META,
    RESOURCE_META,
    ROLES,
    check_value,
    parse_bool,
    parse_score,
)

AGENT_CLASSES = ("ocf", "lsb", "service", "systemd", "stonith", "upstart", "nagios", "heartbeat", "pacer")
ON_FAIL = ("ignore", "block", "stop", "restart", "standby", "fence", "demote", "restart-container")
ORDER_KINDS = ("Mandatory", "Optional", "Serialize")
ACTIONS = ("start", "stop", "promote", "demote")
NODE_TYPES = ("member", "remote", "ping")
DISCOVERY = ("always", "never", "exclusive")
EXPR_OPS = ("lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined")
EXPR_TYPES = ("string", "integer", "number", "version")
VALUE_SOURCES = ("literal", "param", "meta")
DATE_OPS = ("in_range", "date_spec", "gt", "lt")
OP_NAMES = (
    "start", "stop", "monitor", "promote", "demote", "notify", "migrate_to", "migrate_from",
    "reload", "reload-agent", "meta-data", "validate-all", "status",
)
ID_HINT = "an id starts with a letter or '_' and holds only letters, digits, '-', '_' and '.'"

_CONDITION_KEYS = {
    Rule: "rule",
    DateExpression: "date-expression",
    RscExpression: "rsc-expression",
    OpExpression: "op-expression",
}

_ROLES_LOWER = {r.lower() for r in ROLES}

# Properties seen in real CIBs that pacer does not interpret but must not warn about.
_QUIET_PROPERTIES = {"last-lrm-refresh", "expected-quorum-votes", "default-resource-stickiness"}


def _close(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return found[0] if found else None


def _one_of(choices: Iterable[str], value: str | None = None) -> str:
    choices = list(choices)
    close = _close(value, choices) if value else None
    text = f"expected one of {', '.join(choices)}"
    return f"did you mean '{close}'? ({text})" if close else text


class _Checker:
    def __init__(self, defn: Definition):
        self.defn = defn
        self.origins: Mapping[str, str] = defn.origins or {}
        self.problems: list[Problem] = []
        self.paths: dict[str, str] = {}  # resource id -> its path
        self.order_paths: dict[str, str] = {}  # order id -> its path
        self.resources: dict[str, Resource] = {}
        self.parent: dict[str, Resource] = {}  # member/child id -> its group/clone
        self.ids: dict[str, str] = {}  # every id -> path of its first use
        self.id_objects: dict[str, object] = {}
        self.node_names = {n.name for n in defn.nodes}

    # ------------------------------------------------------------------ plumbing

    def struct(self, path: str) -> str:
        """The source's path for a path in the Definition's structure."""
        return self.origins.get("@" + path, path)

    def locate(self, path: str, obj_id: str | None) -> tuple[str | None, int | None]:
        origin = self.origins.get("#" + path)
        if origin is None and obj_id:
            origin = self.origins.get(obj_id)
        while origin is None and path:
            # the nearest enclosing field that was read (a default left out, say)
            path = path.rpartition(".")[0] if "." in path else ""
            origin = self.origins.get("#" + path)
        if origin is None:
            return None, None
        file, sep, line = origin.rpartition(":")
        if sep and line.isdigit():
            return file or None, int(line)
        return origin, None

    def add(self, path: str, message: str, hint: str | None = None, *, obj_id: str | None = None,
            level: str = "error") -> None:
        file, line = self.locate(path, obj_id)
        self.problems.append(Problem(file, line, path, message, hint, level))

    def warn(self, path: str, message: str, hint: str | None = None, *, obj_id: str | None = None):
        self.add(path, message, hint, obj_id=obj_id, level="warning")

    def enum(self, value, choices, path, what, obj_id) -> None:
        if value is not None and choices is ROLES and value.lower() in _ROLES_LOWER:
            return  # Pacemaker reads role names case-insensitively
        if value is not None and value not in choices:
            self.add(path, f"'{value}' is not a valid {what}", _one_of(choices, value), obj_id=obj_id)

    def register_id(self, id_: str, path: str, what: str, obj: object = None) -> None:
        """Record an id; report it if invalid or already used. `obj` (for parts such
        as operations and rules) lets an identical copy through: a CIB's id-ref
        repeats the referenced element, id included."""
        if not id_:
            return
        if not is_valid_id(id_):
            self.add(path, f"'{id_}' is not a valid {what} id", ID_HINT, obj_id=id_)
        if obj is not None and id_ in self.id_objects and self.id_objects[id_] == obj:
            return
        if obj is not None:
            self.id_objects.setdefault(id_, obj)
        if id_ in self.ids:
            first = self.ids[id_]
            file, line = self.locate(first, id_)
            where = f" at line {line}" if line else ""
            self.add(path, f"duplicate id '{id_}'", f"already used by {first}{where}; ids must be unique",
                     obj_id=None)
        else:
            self.ids[id_] = path

    def check_values(self, values: Mapping[str, str], table: Mapping[str, object], path: str,
                     obj_id: str | None, what: str, quiet: set[str] = frozenset()) -> None:
        for name, value in values.items():
            sub = f"{path}.{name}"
            if name in table and value == "#default":
                continue  # Pacemaker's "unset, use the default"
            if name in table:
                kind = table[name]
                msg = check_value(kind, value)
                if msg and kind in ("int", "score") and re.match(r"\s*[+-]?\d", str(value)):
                    # Pacemaker reads the leading integer ("1.0" -> 1): suspicious, not fatal
                    read = parse_score(value, lenient=True)
                    self.warn(sub, f"{str(value)!r} is not an integer", f"it is read as {read}",
                              obj_id=obj_id)
                elif msg:
                    message, _, hint = msg.partition("; ")
                    self.add(sub, message, hint or None, obj_id=obj_id)
            elif name not in quiet:
                close = _close(name, table)
                if close:
                    self.warn(sub, f"unknown {what} '{name}'", f"did you mean '{close}'?", obj_id=obj_id)

    # ------------------------------------------------------------------ everything

    def run(self) -> list[Problem]:
        self.check_nodes()
        for i, r in enumerate(self.defn.resources):
            self.index_resource(r, f"resources[{i}]", None)
        for i, r in enumerate(self.defn.resources):
            self.check_resource(r, f"resources[{i}]")
        self.check_properties()
        for section, sets, table in (
            ("rsc_defaults", self.defn.rsc_defaults, RESOURCE_META),
            ("op_defaults", self.defn.op_defaults, OPERATION_META),
        ):
            for i, s in enumerate(sets):
                self.check_nvset(s, self.struct(f"{section}[{i}]"), table, section)
        for i, c in enumerate(self.defn.locations):
            self.check_location(c, self.struct(f"locations[{i}]"))
        for i, c in enumerate(self.defn.colocations):
            self.check_colocation(c, self.struct(f"colocations[{i}]"))
        for i, c in enumerate(self.defn.orders):
            path = self.struct(f"orders[{i}]")
            self.order_paths.setdefault(c.id, path)
            self.check_order(c, path)
        self.check_fencing()
        self.check_order_cycles()
        return self.problems

    # ------------------------------------------------------------------ nodes

    def check_nodes(self) -> None:
        seen: dict[str, str] = {}
        seen_ids: dict[str, str] = {}
        for i, n in enumerate(self.defn.nodes):
            path = f"nodes[{i}]"
            key = f"node:{n.name}"
            if not n.name:
                self.add(path, "a node needs a name", obj_id=key)
            elif n.name in seen:
                self.add(path, f"duplicate node '{n.name}'", f"already defined at {seen[n.name]}",
                         obj_id=key)
            else:
                seen[n.name] = path
            if n.id and n.id in seen_ids and seen_ids[n.id] != n.name:
                self.add(path, f"duplicate node id '{n.id}'", f"already used by node {seen_ids[n.id]}",
                         obj_id=key)
            seen_ids.setdefault(n.id, n.name)
            self.enum(n.type, NODE_TYPES, f"{path}.type", "node type", key)
            self.check_utilization(n.utilization, f"{path}.utilization", key)

    def check_utilization(self, values: Mapping[str, str], path: str, obj_id: str | None) -> None:
        for name, value in values.items():
            if not re.fullmatch(r"\+?\d+", str(value).strip()):
                self.add(f"{path}.{name}", f"{value!r} is not a valid utilization",
                         "expected a non-negative integer", obj_id=obj_id)

    # ------------------------------------------------------------------ resources

    def index_resource(self, r: Resource, path: str, parent: Resource | None) -> None:
        self.paths.setdefault(r.id, path)
        what = "group" if isinstance(r, Group) else "clone" if isinstance(r, Clone) else "resource"
        self.register_id(r.id, path, what)
        if r.id and r.id in self.node_names:
            self.warn(path, f"resource '{r.id}' has the same name as a node", obj_id=r.id)
        self.resources.setdefault(r.id, r)
        if parent is not None:
            self.parent[r.id] = parent
        if isinstance(r, Group):
            for j, m in enumerate(r.members):
                self.index_resource(m, f"{path}.members[{j}]", r)
        elif isinstance(r, Clone):
            self.index_resource(r.child, f"{path}.child", r)
        else:
            for j, op in enumerate(r.operations):
                self.register_id(op.id, f"{path}.operations[{j}]", "operation", op)

    def check_resource(self, r: Resource, path: str) -> None:
        if not r.id:
            self.add(path, "a resource needs an id")
        self.check_values(r.meta, RESOURCE_META, f"{path}.meta", r.id, "meta attribute")
        if isinstance(r, Group):
            if not r.members:
                self.add(path, f"group '{r.id}' has no members", obj_id=r.id)
            for j, m in enumerate(r.members):
                self.check_resource(m, f"{path}.members[{j}]")
        elif isinstance(r, Clone):
            meta_promotable = r.meta.get("promotable")
            if meta_promotable is not None and not r.promotable:
                try:
                    if parse_bool(meta_promotable):
                        self.add(f"{path}.meta.promotable",
                                 "meta promotable=true on a clone that is not promotable",
                                 "declare it with 'promotable: ID' instead of 'clone: ID'",
                                 obj_id=r.id)
                except ValueError:
                    pass
            self.check_resource(r.child, f"{path}.child")
        else:
            self.check_primitive(r, path)

    def check_primitive(self, p: Primitive, path: str) -> None:
        if p.agent_class not in AGENT_CLASSES:
            self.add(f"{path}.agent", f"unknown agent class '{p.agent_class}' in '{p.agent}'",
                     _one_of(AGENT_CLASSES, p.agent_class), obj_id=p.id)
        elif p.agent_class == "ocf" and not p.provider:
            self.add(f"{path}.agent", f"OCF agent '{p.agent}' needs a provider",
                     "write ocf:PROVIDER:TYPE, e.g. ocf:heartbeat:IPaddr2", obj_id=p.id)
        elif p.agent_class != "ocf" and p.provider:
            self.add(f"{path}.agent", f"only OCF agents have a provider, not '{p.agent_class}'",
                     f"write {p.agent_class}:{p.type}", obj_id=p.id)
        if not p.type:
            self.add(f"{path}.agent", "the agent type is missing", obj_id=p.id)
        self.check_utilization(p.utilization, f"{path}.utilization", p.id)
        seen: dict[tuple[str, int], str] = {}
        for j, op in enumerate(p.operations):
            opath = f"{path}.operations[{j}]"
            oid = op.id or p.id
            if not op.name:
                self.add(f"{opath}.name", "an operation needs a name", obj_id=oid)
            elif op.name not in OP_NAMES:
                self.warn(f"{opath}.name", f"unusual operation name '{op.name}'",
                          _one_of(OP_NAMES, op.name), obj_id=oid)
            key = (op.name, op.interval_ms)
            if key in seen:
                self.warn(opath, f"operation '{op.name}' with interval {op.interval_ms}ms is "
                         f"defined twice (also {seen[key]})",
                         "give each operation of a resource a different interval "
                         "(even for different roles); Pacemaker may ignore one", obj_id=oid)
            else:
                seen[key] = opath
            if op.interval_ms < 0:
                self.add(f"{opath}.interval", "an interval must not be negative", obj_id=oid)
            self.enum(op.on_fail, ON_FAIL, f"{opath}.on-fail", "on-fail value", oid)
            self.enum(op.role, ROLES, f"{opath}.role", "role", oid)
            self.check_values(op.meta, OPERATION_META, f"{opath}.meta", oid, "operation attribute")

    # ------------------------------------------------------------------ properties and defaults

    def check_properties(self) -> None:
        self.check_values(self.defn.properties, CLUSTER_PROPERTIES, "cluster", None,
                          "cluster property", _QUIET_PROPERTIES)

    def check_nvset(self, s: NVSet, path: str, table, section: str) -> None:
        self.register_id(s.id, path, "defaults set", s)
        values_path = f"{path}.values" if f"#{path}.values" in self.origins else path
        self.check_values(s.values, table, values_path, s.id, "meta attribute")
        if s.rule is not None:
            self.check_rule(s.rule, f"{path}.rule", context=section, top=False)

    # ------------------------------------------------------------------ constraints

    def check_ref(self, rsc: str | None, path: str, cid: str, what: str = "resource") -> None:
        if rsc is None:
            return
        if rsc not in self.resources:
            self.add(path, f"unknown {what} '{rsc}'",
                     _hint_known(rsc, self.resources), obj_id=cid)
            return
        parent = self.parent.get(rsc)
        if isinstance(parent, Clone):
            self.warn(path, f"'{rsc}' is inside clone '{parent.id}'",
                      f"constraints normally name the clone: '{parent.id}'", obj_id=cid)

    def check_sets(self, sets: tuple[ResourceSet, ...], path: str, cid: str, kind: str) -> None:
        for i, s in enumerate(sets):
            spath = f"{path}.sets[{i}]"
            self.register_id(s.id, spath, "resource set", s)
            if not s.resources:
                self.add(f"{spath}.resources", "a resource set needs at least one resource",
                         obj_id=s.id or cid)
            for j, rsc in enumerate(s.resources):
                self.check_ref(rsc, f"{spath}.resources[{j}]", s.id or cid)
            self.enum(s.action, ACTIONS, f"{spath}.action", "action", s.id or cid)
            self.enum(s.role, ROLES, f"{spath}.role", "role", s.id or cid)
            self.enum(s.kind, ORDER_KINDS, f"{spath}.kind", "order kind", s.id or cid)
            if s.kind is not None and kind != "order":
                self.add(f"{spath}.kind", f"'kind' only applies to sets of an order, not a {kind}",
                         obj_id=s.id or cid)
            self.enum(s.ordering, ("group", "listed"), f"{spath}.ordering", "set ordering",
                      s.id or cid)

    def check_location(self, c: Location, path: str) -> None:
        self.register_id(c.id, path, "constraint")
        targets = [x for x in ("rsc", "rsc-pattern", "sets") if {
            "rsc": c.rsc is not None, "rsc-pattern": c.rsc_pattern is not None,
            "sets": bool(c.sets)}[x]]
        if len(targets) != 1:
            self.add(path, "a location constraint needs exactly one of rsc, rsc-pattern or sets"
                     + (f" (found {', '.join(targets)})" if targets else ""), obj_id=c.id)
        self.check_ref(c.rsc, f"{path}.rsc", c.id)
        if c.rsc_pattern is not None:
            try:
                re.compile(c.rsc_pattern)
            except re.error as exc:
                self.add(f"{path}.rsc-pattern", f"invalid regular expression: {exc}", obj_id=c.id)
        self.check_sets(c.sets, path, c.id, "location")
        if c.rules:
            if c.node is not None or c.score is not None:
                self.add(path, "a location constraint has either node and score, or rules, not both",
                         obj_id=c.id)
            for i, r in enumerate(c.rules):
                self.check_rule(r, f"{path}.rules[{i}]", context="location",
                                top=True)
        else:
            if c.node is None:
                self.add(path, "a location constraint needs a node (with a score) or rules",
                         "e.g. {rsc: vip, node: node1, score: 100}", obj_id=c.id)
            elif c.score is None:
                self.add(path, f"location on node '{c.node}' needs a score",
                         "a positive score prefers the node, -INFINITY bans it", obj_id=c.id)
            if c.node is not None and c.node not in self.node_names:
                self.warn(f"{path}.node", f"unknown node '{c.node}'",
                          " ".join(filter(None, (_hint_known(c.node, self.node_names),
                                                 "The constraint applies only if such a node joins."))),
                          obj_id=c.id)
        self.enum(c.role, ROLES, f"{path}.role", "role", c.id)
        self.enum(c.resource_discovery, DISCOVERY, f"{path}.resource-discovery",
                  "resource-discovery value", c.id)

    def check_colocation(self, c: Colocation, path: str) -> None:
        self.register_id(c.id, path, "constraint")
        if c.sets:
            if c.rsc is not None or c.with_rsc is not None:
                self.add(path, "a colocation has either rsc and with, or sets, not both", obj_id=c.id)
        elif c.rsc is None or c.with_rsc is None:
            self.add(path, "a colocation needs rsc and with (or sets)",
                     "e.g. {rsc: web, with: vip, score: INFINITY}", obj_id=c.id)
        self.check_ref(c.rsc, f"{path}.rsc", c.id)
        self.check_ref(c.with_rsc, f"{path}.with", c.id)
        if c.rsc is not None and c.rsc == c.with_rsc:
            self.add(path, f"'{c.rsc}' cannot be colocated with itself", obj_id=c.id)
        self.enum(c.rsc_role, ROLES, f"{path}.rsc-role", "role", c.id)
        self.enum(c.with_rsc_role, ROLES, f"{path}.with-role", "role", c.id)
        self.check_sets(c.sets, path, c.id, "colocation")

    def check_order(self, c: Order, path: str) -> None:
        self.register_id(c.id, path, "constraint")
        if c.sets:
            if c.first is not None or c.then is not None:
                self.add(path, "an order has either first and then, or sets, not both", obj_id=c.id)
        elif c.first is None or c.then is None:
            self.add(path, "an order needs first and then (or sets)",
                     "e.g. {first: vip, then: web}", obj_id=c.id)
        self.check_ref(c.first, f"{path}.first", c.id)
        self.check_ref(c.then, f"{path}.then", c.id)
        then_action = c.then_action or c.first_action
        if c.first is not None and c.first == c.then and c.first_action == then_action:
            self.add(path, f"'{c.first}' cannot be ordered after itself", obj_id=c.id)
        self.enum(c.first_action, ACTIONS, f"{path}.first-action", "action", c.id)
        self.enum(c.then_action, ACTIONS, f"{path}.then-action", "action", c.id)
        self.enum(c.kind, ORDER_KINDS, f"{path}.kind", "order kind", c.id)
        if c.kind == "Serialize" and c.symmetrical:
            self.warn(f"{path}.symmetrical", "Serialize orders cannot be symmetrical", obj_id=c.id)
        self.check_sets(c.sets, path, c.id, "order")

    # ------------------------------------------------------------------ rules

    def check_rule(self, r: Rule, path: str, context: str, top: bool) -> None:
        self.register_id(r.id, path, "rule", r)
        oid = r.id or None
        if r.boolean_op not in ("and", "or"):
            self.add(f"{path}.boolean-op", f"'{r.boolean_op}' is not a valid boolean-op",
                     _one_of(("and", "or"), r.boolean_op), obj_id=oid)
        if not r.conditions:
            self.add(f"{path}.expressions", "a rule needs at least one expression", obj_id=oid)
        if top and context == "location" and r.score is None and r.score_attribute is None:
            self.add(path, "a location rule needs a score or a score-attribute",
                     "e.g. score: -INFINITY to ban the nodes where the rule holds", obj_id=oid)
        if r.score is not None and r.score_attribute is not None:
            self.add(path, "a rule has a score or a score-attribute, not both", obj_id=oid)
        self.enum(r.role, ROLES, f"{path}.role", "role", oid)
        for i, cond in enumerate(r.conditions):
            cpath = f"{path}.expressions[{i}]"
            suffix = _CONDITION_KEYS.get(type(cond))
            if suffix and f"#{cpath}.{suffix}" in self.origins:
                cpath += f".{suffix}"  # the YAML's `- rule: {...}` / `- date-expression: ...`
            if isinstance(cond, Rule):
                self.check_rule(cond, cpath, context, top=False)
            else:
                self.check_condition(cond, cpath, context)

    def check_condition(self, cond, path: str, context: str) -> None:
        oid = cond.id or None
        self.register_id(cond.id, path, "expression", cond)
        if isinstance(cond, Expression):
            if not cond.attribute:
                self.add(f"{path}.attribute", "an expression needs an attribute", obj_id=oid)
            self.enum(cond.operation, EXPR_OPS, f"{path}.op", "expression op", oid)
            if cond.operation in EXPR_OPS and cond.operation not in ("defined", "not_defined"):
                if cond.value is None:
                    self.add(f"{path}.value", f"'{cond.operation}' needs a value", obj_id=oid)
            elif cond.operation in ("defined", "not_defined") and cond.value is not None:
                self.warn(f"{path}.value", f"'{cond.operation}' ignores its value", obj_id=oid)
            self.enum(cond.type, EXPR_TYPES, f"{path}.type", "expression type", oid)
            self.enum(cond.value_source, VALUE_SOURCES, f"{path}.value-source", "value-source", oid)
            if (cond.type in ("integer", "number") and cond.value is not None
                    and cond.value_source == "literal"):
                try:
                    float(cond.value) if cond.type == "number" else int(cond.value)
                except ValueError:
                    self.warn(f"{path}.value", f"{cond.value!r} is not a valid {cond.type}",
                              "Pacemaker then compares the values as strings", obj_id=oid)
        elif isinstance(cond, DateExpression):
            self.enum(cond.operation, DATE_OPS, f"{path}.operation", "date operation", oid)
            if cond.operation == "in_range" and cond.end is None and not (cond.start and cond.duration):
                self.add(path, "in_range needs an end, or a start and a duration", obj_id=oid)
            elif cond.operation == "gt" and cond.start is None:
                self.add(path, "date 'gt' needs a start", obj_id=oid)
            elif cond.operation == "lt" and cond.end is None:
                self.add(path, "date 'lt' needs an end", obj_id=oid)
            elif cond.operation == "date_spec" and cond.date_spec is None:
                self.add(path, "date_spec needs a date-spec", obj_id=oid)
        elif isinstance(cond, RscExpression):
            if context not in ("rsc_defaults", "op_defaults"):
                self.add(path, "rsc-expression is only meaningful in resource and operation "
                         "defaults", obj_id=oid)
        elif isinstance(cond, OpExpression):
            if context != "op_defaults":
                self.add(path, "op-expression is only meaningful in operation defaults", obj_id=oid)

    # ------------------------------------------------------------------ whole-cluster checks

    def check_fencing(self) -> None:
        value = self.defn.properties.get("stonith-enabled",
                                         self.defn.properties.get("fencing-enabled", "true"))
        try:
            enabled = parse_bool(value)
        except ValueError:
            return
        if not self.defn.resources:
            return
        has_device = any(
            isinstance(r, Primitive) and r.agent_class == "stonith" for r in self.resources.values()
        )
        if enabled and not has_device:
            self.warn("cluster.stonith-enabled",
                      "fencing is enabled (the default) but no fence device is configured",
                      "Pacemaker starts no resources then; add a stonith: resource or set "
                      "stonith-enabled: false")

    def check_order_cycles(self) -> None:
        edges: dict[tuple[str, str], list[tuple[tuple[str, str], str]]] = defaultdict(list)
        for c in self.defn.orders:
            if c.kind != "Mandatory":
                continue
            if c.first is not None and c.then is not None:
                a = (c.first, c.first_action or "start")
                b = (c.then, c.then_action or c.first_action or "start")
                if a != b:
                    edges[a].append((b, c.id))
            for s in c.sets:
                if s.kind is not None and s.kind != "Mandatory":
                    break
            else:
                # Inside a sequential set each member follows the previous one; between
                # sets, the last of a sequential set (or every member of another set)
                # comes before the first of a sequential set (or every member).
                prev: list[tuple[str, str]] = []
                for s in c.sets:
                    members = [(r, s.action or "start") for r in s.resources]
                    if not members:
                        continue
                    if s.sequential:
                        for x, y in zip(members, members[1:], strict=False):
                            if x != y:
                                edges[x].append((y, c.id))
                    heads = members[:1] if s.sequential else members
                    for x in prev:
                        for y in heads:
                            if x != y:
                                edges[x].append((y, c.id))
                    prev = members[-1:] if s.sequential else members
        for cycle in _find_cycles(edges):
            nodes = [n for n, _ in cycle]
            same_action = len({a for _, a in nodes}) == 1 and nodes[0][1] == "start"
            names = [r if same_action else f"{a} {r}" for r, a in nodes]
            text = " -> ".join(names + [names[0]])
            cids = list(dict.fromkeys(cid for _, cid in cycle))
            first_cid = cids[0]
            path = self.order_paths.get(first_cid, first_cid)
            self.add(path, f"Mandatory orders form a cycle: {text}",
                     f"these can never all be satisfied ({', '.join(cids)}); make one "
                     "of them kind: Optional or remove it", obj_id=first_cid)


def _hint_known(name: str, known: Iterable[str]) -> str | None:
    close = _close(name, known)
    if close is None:
        found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        close = found[0] if found else None
    return f"did you mean '{close}'?" if close else None


def _find_cycles(edges) -> list[list[tuple[tuple[str, str], str]]]:
    """One cycle per strongly connected component (Tarjan, iterative), as (node, edge id) steps."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    sccs: list[list] = []
    counter = 0
    nodes = list(edges)
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w, _cid in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges.get(w, ()))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    sccs.append(comp)
    cycles = []
    for comp in sccs:
        members = set(comp)
        # the first node of the component in configuration order, for a stable report
        start = min(comp, key=nodes.index if all(c in nodes for c in comp) else str)
        cycles.append(_cycle_through(start, members, edges))
    return cycles


def _cycle_through(start, members, edges):
    """A shortest cycle from `start` back to itself inside `members` (breadth first)."""
    from collections import deque

    prev: dict = {}
    queue = deque([start])
    seen = {start}
    while queue:
        v = queue.popleft()
        for w, cid in edges.get(v, ()):
            if w not in members:
                continue
            if w == start:
                steps = [(v, cid)]
                while v != start:
                    pv, pcid = prev[v]
                    steps.append((pv, pcid))
                    v = pv
                steps.reverse()
                return steps
            if w not in seen:
                seen.add(w)
                prev[w] = (v, cid)
                queue.append(w)
    return [(start, "")]


def validate(defn: Definition) -> list[Problem]:
    """Every problem of a definition: errors first, then warnings, each in file order."""
    problems = _Checker(defn).run()
    return sorted(problems, key=lambda p: (p.level != "error", p.file or "", p.line or 0))


def errors_of(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]
