"""Load a cluster definition from pacer's YAML format (see docs/configuration.md).

The text is composed (not constructed) with PyYAML so that every value keeps its line:
each problem names the file, the line, the field path (`resources[2].meta.interval`)
and what would have been valid. Scalars are read as the text that was written, so
`0755`, `1.10` or `no` reach the definition exactly as typed (the CIB keeps strings too).

`load_yaml` collects every structural problem before giving up, then runs the semantic
checks of `pacer.model.validate`; any error raises `ConfigError`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pacer.model import ids
from pacer.model.definition import (
    Clone,
    Colocation,
    DateExpression,
    DateSpec,
    Definition,
    Expression,
    Group,
    Location,
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
from pacer.model.definition import (
    Node as ClusterNode,
)
from pacer.model.errors import ConfigError, Problem
from pacer.model.meta import normalize_role, parse_bool, parse_interval_ms, parse_score

NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"

TOP_KEYS = ("cluster", "defaults", "nodes", "resources", "constraints")
DEFAULTS_KEYS = ("resource", "operation")
NVSET_KEYS = ("id", "values", "rule", "score")
NODE_KEYS = ("name", "id", "type", "attributes", "utilization")
PRIMITIVE_KEYS = ("id", "agent", "params", "meta", "operations", "utilization")
GROUP_KEYS = ("group", "members", "meta")
CLONE_KEYS = ("clone", "child", "meta")
PROMOTABLE_KEYS = ("promotable", "child", "meta")
# Operation keys that are fields of `Operation`; any other key of OP_META_KEYS goes to meta.
OP_FIELD_KEYS = ("name", "interval", "timeout", "on-fail", "role", "enabled", "id", "meta",
                 "params")
OP_META_KEYS = ("start-delay", "interval-origin", "record-pending", "description")
CONSTRAINT_KINDS = ("location", "colocation", "order")
LOCATION_KEYS = (
    "id", "rsc", "rsc-pattern", "node", "score", "role", "resource-discovery", "rules", "sets",
)
COLOCATION_KEYS = (
    "id", "rsc", "with", "score", "rsc-role", "with-role", "node-attribute", "influence", "sets",
)
ORDER_KEYS = (
    "id", "first", "then", "first-action", "then-action", "kind", "symmetrical", "score",
    "require-all", "sets",
)
SET_KEYS = (
    "id", "resources", "sequential", "require-all", "action", "role", "score", "kind", "ordered",
    "ordering",
)
RULE_KEYS = ("id", "score", "score-attribute", "boolean-op", "role", "expressions")
EXPRESSION_KEYS = ("attribute", "op", "value", "type", "value-source", "id")
CONDITION_KINDS = ("date-expression", "rsc-expression", "op-expression", "rule")
DATE_KEYS = ("operation", "start", "end", "duration", "date-spec", "id")
RSC_EXPR_KEYS = ("class", "provider", "type", "id")
OP_EXPR_KEYS = ("name", "interval", "id")
DATE_FIELDS = (
    "years", "months", "weeks", "days", "hours", "minutes", "seconds", "monthdays",
    "weekdays", "yearsdays", "weekyears", "moon",
)

AGENT_HINT = (
    "write the agent as class:provider:type for OCF (ocf:heartbeat:IPaddr2) "
    "or class:type otherwise (systemd:haproxy, lsb:foo, stonith:fence_ipmilan, pacer:vip)"
)


class Origins(Mapping):
    """Definition.origins, read-only, with a short repr so that printing a Definition
    stays readable. Keys:

    - `ID` -> "file:line" of the object with that id (resources, operations,
      constraints, sets, rules, expressions, defaults sets); `node:NAME` for nodes;
    - `#FIELD.PATH` -> "file:line" of every field read (`#resources[2].meta.x`);
    - `@locations[3]` -> the YAML path of the Definition's 4th location
      (`constraints[7].location`), likewise `@colocations[i]`, `@orders[i]`,
      `@rsc_defaults[i]`, `@op_defaults[i]` — where the YAML's layout differs from
      the Definition's.
    """

    def __init__(self, data: dict[str, str]):
        self._data = dict(data)

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<origins of {len(self._data)} fields>"


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """A hint naming the closest valid choice (if any) and listing them all."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    valid = ", ".join(choices)
    if close:
        return f"did you mean '{close[0]}'? (valid: {valid})"
    return f"valid: {valid}"


def _kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "nothing"
    return f"the value {node.value!r}"


class _Loader:
    def __init__(self, filename: str):
        self.file = filename
        self.problems: list[Problem] = []
        self.origins: dict[str, str] = {}
        self.ids = ids.IdAllocator()

    # ------------------------------------------------------------------ plumbing

    def line(self, node: Node) -> int:
        return node.start_mark.line + 1

    def where(self, node: Node) -> str:
        return f"{self.file}:{self.line(node)}"

    def error(self, node: Node | None, path: str, message: str, hint: str | None = None) -> None:
        line = self.line(node) if node is not None else None
        self.problems.append(Problem(self.file, line, path, message, hint))

    def mark(self, path: str, node: Node) -> None:
        self.origins["#" + path] = self.where(node)

    def mark_object(self, id_: str, path: str, node: Node) -> None:
        self.origins.setdefault(id_, self.where(node))

    def pairs(self, node: MappingNode, path: str) -> list[tuple[str, Node, Node]]:
        """The key/value pairs of a mapping, `<<` merges applied, duplicates reported."""
        explicit: list[tuple[str, Node, Node]] = []
        merged: list[tuple[str, Node, Node]] = []
        seen: dict[str, Node] = {}
        for knode, vnode in node.value:
            if knode.tag == MERGE_TAG:
                sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
                for src in sources:
                    if isinstance(src, MappingNode):
                        merged.extend(self.pairs(src, path))
                    else:
                        self.error(vnode, path, "'<<' must merge a mapping or a list of mappings")
                continue
            if not isinstance(knode, ScalarNode):
                self.error(knode, path, f"a key must be a plain name, found {_kind_of(knode)}")
                continue
            key = knode.value
            if key in seen:
                self.error(
                    knode, _join(path, key),
                    f"duplicate key '{key}' (first at line {self.line(seen[key])})",
                )
                continue
            seen[key] = knode
            explicit.append((key, knode, vnode))
        out = list(explicit)
        for key, knode, vnode in merged:
            if key not in seen:
                seen[key] = knode
                out.append((key, knode, vnode))
        return out

    def mapping(
        self, node: Node, path: str, keys: Sequence[str], required: Sequence[str] = (), what: str = ""
    ) -> dict[str, Node] | None:
        """A mapping whose keys must be among `keys`; None (and a problem) if it is not one."""
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping{what}, found {_kind_of(node)}",
                       f"valid keys: {', '.join(keys)}")
            return None
        self.mark(path, node)
        out: dict[str, Node] = {}
        for key, knode, vnode in self.pairs(node, path):
            if key not in keys:
                self.error(knode, _join(path, key), f"unknown key '{key}'", did_you_mean(key, keys))
                continue
            out[key] = vnode
            self.mark(_join(path, key), vnode)
        for key in required:
            if key not in out:
                self.error(node, path, f"missing required key '{key}'")
        return out

    def seq(self, node: Node, path: str, what: str = "a list") -> list[Node]:
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return []
        if not isinstance(node, SequenceNode):
            self.error(node, path, f"expected {what}, found {_kind_of(node)}",
                       "write one '- item' per line, or [a, b]")
            return []
        self.mark(path, node)
        return list(node.value)

    def scalar(self, node: Node, path: str, required: bool = True) -> str | None:
        """The text of a single value; None if it is empty (`~`, `null` or nothing)."""
        if not isinstance(node, ScalarNode):
            self.error(node, path, f"expected a single value, found {_kind_of(node)}")
            return None
        if node.tag == NULL_TAG and node.style is None:
            if required:
                self.error(node, path, "a value is required here")
            return None
        self.mark(path, node)
        return node.value

    def text(self, m: dict[str, Node], key: str, path: str) -> str | None:
        return self.scalar(m[key], _join(path, key)) if key in m else None

    def role(self, m: dict[str, Node], key: str, path: str) -> str | None:
        """A role, with the legacy names Master/Slave read as Promoted/Unpromoted."""
        text = self.text(m, key, path)
        return normalize_role(text) if text is not None else None

    def converted(self, m: dict[str, Node], key: str, path: str, parse, default=None):
        """Parse m[key] with `parse` (a meta.parse_* function); problem + default on error."""
        if key not in m:
            return default
        text = self.scalar(m[key], _join(path, key))
        if text is None:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            message, _, hint = str(exc).partition("; ")
            self.error(m[key], _join(path, key), message, hint or None)
            return default

    def boolean(self, m: dict[str, Node], key: str, path: str, default=None):
        return self.converted(m, key, path, parse_bool, default)

    def score(self, m: dict[str, Node], key: str, path: str, default=None):
        return self.converted(m, key, path, parse_score, default)

    def interval(self, m: dict[str, Node], key: str, path: str, default=None):
        return self.converted(m, key, path, parse_interval_ms, default)

    def str_map(self, node: Node, path: str) -> dict[str, str]:
        """A free-form mapping of names to single values (params, meta, attributes)."""
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return {}
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping of names to values, found {_kind_of(node)}")
            return {}
        self.mark(path, node)
        out: dict[str, str] = {}
        for key, _knode, vnode in self.pairs(node, path):
            sub = _join(path, key)
            if not isinstance(vnode, ScalarNode):
                self.error(vnode, sub, f"expected a single value, found {_kind_of(vnode)}",
                           "quote it if it is meant as text")
                continue
            if vnode.tag == NULL_TAG and vnode.style is None:
                self.error(vnode, sub, f"'{key}' has no value", "write '' for an empty string")
                continue
            out[key] = vnode.value
            self.mark(sub, vnode)
        return out

    def id_list(self, node: Node, path: str) -> tuple[str, ...]:
        if isinstance(node, ScalarNode) and node.tag != NULL_TAG:
            self.mark(path, node)
            return (node.value,)
        out = []
        for i, item in enumerate(self.seq(node, path, "a list of resource ids")):
            text = self.scalar(item, f"{path}[{i}]")
            if text is not None:
                out.append(text)
        return tuple(out)

    def own_id(self, m: dict[str, Node], key: str, path: str, default_base: str) -> str:
        """An explicit id (already reserved by the pre-scan) or a fresh default one."""
        if key in m:
            text = self.scalar(m[key], _join(path, key))
            if text is not None:
                return text
        return self.ids.take(default_base)

    # ------------------------------------------------------------------ document

    def prescan_ids(self, node: Node) -> None:
        """Reserve every explicit id so that generated ids never collide with one."""
        stack = [node]
        seen: set[int] = set()
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if isinstance(n, MappingNode):
                for k, v in n.value:
                    if (
                        isinstance(k, ScalarNode)
                        and k.value in ("id", "group", "clone", "promotable")
                        and isinstance(v, ScalarNode)
                    ):
                        self.ids.reserve(v.value)
                    stack.append(v)
            elif isinstance(n, SequenceNode):
                stack.extend(n.value)

    def document(self, root: Node | None) -> Definition:
        if root is None:
            return Definition(origins=Origins(self.origins))
        top = self.mapping(root, "", TOP_KEYS, what=" at the top level")
        if top is None:
            return Definition(origins=Origins(self.origins))
        self.prescan_ids(root)

        properties = self.str_map(top["cluster"], "cluster") if "cluster" in top else {}
        rsc_defaults: tuple[NVSet, ...] = ()
        op_defaults: tuple[NVSet, ...] = ()
        if "defaults" in top:
            d = self.mapping(top["defaults"], "defaults", DEFAULTS_KEYS) or {}
            if "resource" in d:
                rsc_defaults = self.nvsets(d["resource"], "defaults.resource", "resource")
            if "operation" in d:
                op_defaults = self.nvsets(d["operation"], "defaults.operation", "operation")

        nodes = []
        if "nodes" in top:
            for i, n in enumerate(self.seq(top["nodes"], "nodes", "a list of nodes")):
                node = self.node(n, f"nodes[{i}]")
                if node is not None:
                    nodes.append(node)

        resources = []
        if "resources" in top:
            for i, n in enumerate(self.seq(top["resources"], "resources", "a list of resources")):
                r = self.resource(n, f"resources[{i}]")
                if r is not None:
                    resources.append(r)

        locations, colocations, orders = [], [], []
        if "constraints" in top:
            items = self.seq(top["constraints"], "constraints", "a list of constraints")
            for i, n in enumerate(items):
                c = self.constraint(n, f"constraints[{i}]")
                for kind, bucket, cls in (("location", locations, Location),
                                          ("colocation", colocations, Colocation),
                                          ("order", orders, Order)):
                    if isinstance(c, cls):
                        self.origins[f"@{kind}s[{len(bucket)}]"] = f"constraints[{i}].{kind}"
                        bucket.append(c)

        return Definition(
            nodes=tuple(nodes),
            resources=tuple(resources),
            locations=tuple(locations),
            colocations=tuple(colocations),
            orders=tuple(orders),
            properties=frozen(properties),
            rsc_defaults=rsc_defaults,
            op_defaults=op_defaults,
            origins=Origins(self.origins),
        )

    # ------------------------------------------------------------------ defaults

    def nvsets(self, node: Node, path: str, section: str) -> tuple[NVSet, ...]:
        struct = "rsc_defaults" if section == "resource" else "op_defaults"
        if isinstance(node, MappingNode):
            self.origins[f"@{struct}[0]"] = path
            values = self.str_map(node, path)
            set_id = self.ids.take(ids.nvset_id(section, 0))
            self.mark_object(set_id, path, node)
            return (NVSet(values=frozen(values), id=set_id),)
        out = []
        for i, item in enumerate(self.seq(node, path, "a mapping of defaults or a list of sets")):
            sub = f"{path}[{i}]"
            m = self.mapping(item, sub, NVSET_KEYS, required=("values",))
            if m is None:
                continue
            set_id = self.own_id(m, "id", sub, ids.nvset_id(section, i))
            self.mark_object(set_id, sub, item)
            self.origins[f"@{struct}[{len(out)}]"] = sub
            values = self.str_map(m["values"], _join(sub, "values")) if "values" in m else {}
            rule = self.rule(m["rule"], _join(sub, "rule"), set_id, 0) if "rule" in m else None
            score = self.score(m, "score", sub, 0)
            out.append(NVSet(values=frozen(values), rule=rule, score=score, id=set_id))
        return tuple(out)

    # ------------------------------------------------------------------ nodes

    def node(self, n: Node, path: str) -> ClusterNode | None:
        if isinstance(n, ScalarNode) and n.tag != NULL_TAG:
            self.mark(path, n)
            self.origins.setdefault(f"node:{n.value}", self.where(n))
            return ClusterNode(name=n.value, id=n.value)
        m = self.mapping(n, path, NODE_KEYS, required=("name",), what=" (a node)")
        if m is None or "name" not in m:
            return None
        name = self.text(m, "name", path)
        if name is None:
            return None
        self.origins.setdefault(f"node:{name}", self.where(n))
        node_id = self.text(m, "id", path) or name
        return ClusterNode(
            name=name,
            id=node_id,
            type=self.text(m, "type", path) or "member",
            attributes=frozen(self.str_map(m["attributes"], _join(path, "attributes")))
            if "attributes" in m else frozen(None),
            utilization=frozen(self.str_map(m["utilization"], _join(path, "utilization")))
            if "utilization" in m else frozen(None),
        )

    # ------------------------------------------------------------------ resources

    def resource(self, n: Node, path: str, allow=("primitive", "group", "clone")):
        if not isinstance(n, MappingNode):
            self.error(n, path, f"expected a resource (a mapping), found {_kind_of(n)}",
                       "a resource has 'id' and 'agent', or 'group', 'clone' or 'promotable'")
            return None
        keys = {k.value for k, _ in n.value if isinstance(k, ScalarNode)}
        kinds = [k for k in ("group", "clone", "promotable") if k in keys]
        if len(kinds) > 1:
            self.error(n, path, f"a resource cannot be both '{kinds[0]}' and '{kinds[1]}'")
            return None
        kind = kinds[0] if kinds else "primitive"
        if kind == "primitive" and "id" not in keys and "agent" not in keys:
            close = difflib.get_close_matches(
                next(iter(keys), ""), ["id", "agent", "group", "clone", "promotable"], n=1
            )
            hint = "a resource has 'id' and 'agent' (a primitive), or 'group', 'clone' or 'promotable'"
            if close:
                hint = f"did you mean '{close[0]}'? " + hint
            self.error(n, path, "cannot tell what kind of resource this is", hint)
            return None
        family = "clone" if kind == "promotable" else kind
        if family not in allow:
            where = "a group" if allow == ("primitive",) else "a clone"
            self.error(n, path, f"a {kind} cannot be placed inside {where}",
                       "groups hold primitives; clones hold a primitive or a group")
            return None
        if kind == "primitive":
            return self.primitive(n, path)
        if kind == "group":
            return self.group(n, path)
        return self.clone(n, path, promotable=(kind == "promotable"))

    def primitive(self, n: Node, path: str) -> Primitive | None:
        m = self.mapping(n, path, PRIMITIVE_KEYS, required=("id", "agent"), what=" (a primitive)")
        if m is None or "id" not in m or "agent" not in m:
            return None
        rid = self.text(m, "id", path)
        agent = self.text(m, "agent", path)
        if rid is None or agent is None:
            return None
        self.mark_object(rid, path, n)
        parts = _split_agent(agent)
        if parts is None:
            self.error(m["agent"], _join(path, "agent"), f"'{agent}' is not a valid agent", AGENT_HINT)
            parts = ("", None, agent)
        agent_class, provider, type_ = parts
        ops = []
        if "operations" in m:
            for i, item in enumerate(self.seq(m["operations"], _join(path, "operations"))):
                op = self.operation(item, f"{path}.operations[{i}]", rid)
                if op is not None:
                    ops.append(op)
        return Primitive(
            id=rid,
            agent_class=agent_class,
            type=type_,
            provider=provider,
            params=frozen(self.str_map(m["params"], _join(path, "params"))) if "params" in m else frozen(None),
            meta=frozen(self.str_map(m["meta"], _join(path, "meta"))) if "meta" in m else frozen(None),
            operations=tuple(ops),
            utilization=frozen(self.str_map(m["utilization"], _join(path, "utilization")))
            if "utilization" in m else frozen(None),
        )

    def operation(self, n: Node, path: str, rid: str) -> Operation | None:
        m = self.mapping(n, path, OP_FIELD_KEYS + OP_META_KEYS, required=("name",),
                         what=" (an operation)")
        if m is None or "name" not in m:
            return None
        name = self.text(m, "name", path)
        if name is None:
            return None
        interval = self.interval(m, "interval", path, 0)
        role = self.role(m, "role", path)
        meta = self.str_map(m["meta"], _join(path, "meta")) if "meta" in m else {}
        for key in OP_META_KEYS:
            if key in m:
                value = self.text(m, key, path)
                if value is not None:
                    meta[key] = value
        op_id = self.own_id(m, "id", path, ids.op_id(rid, name, interval, role))
        self.mark_object(op_id, path, n)
        return Operation(
            name=name,
            interval_ms=interval,
            timeout_ms=self.interval(m, "timeout", path),
            on_fail=self.text(m, "on-fail", path),
            role=role,
            enabled=self.boolean(m, "enabled", path, True),
            meta=frozen(meta),
            id=op_id,
            params=frozen(self.str_map(m["params"], _join(path, "params")) if "params" in m
                          else None),
        )

    def group(self, n: Node, path: str) -> Group | None:
        m = self.mapping(n, path, GROUP_KEYS, required=("group", "members"), what=" (a group)")
        if m is None or "group" not in m:
            return None
        gid = self.text(m, "group", path)
        if gid is None:
            return None
        self.mark_object(gid, path, n)
        members = []
        if "members" in m:
            items = self.seq(m["members"], _join(path, "members"), "a list of primitives")
            if not items and isinstance(m["members"], SequenceNode):
                self.error(m["members"], _join(path, "members"), "a group needs at least one member")
            for i, item in enumerate(items):
                r = self.resource(item, f"{path}.members[{i}]", allow=("primitive",))
                if r is not None:
                    members.append(r)
        meta = self.str_map(m["meta"], _join(path, "meta")) if "meta" in m else {}
        return Group(id=gid, members=tuple(members), meta=frozen(meta))

    def clone(self, n: Node, path: str, promotable: bool) -> Clone | None:
        kind = "promotable" if promotable else "clone"
        keys = PROMOTABLE_KEYS if promotable else CLONE_KEYS
        m = self.mapping(n, path, keys, required=(kind, "child"), what=f" (a {kind})")
        if m is None or kind not in m:
            return None
        cid = self.text(m, kind, path)
        if cid is None:
            return None
        self.mark_object(cid, path, n)
        child = None
        if "child" in m:
            child = self.resource(m["child"], _join(path, "child"), allow=("primitive", "group"))
        if child is None:
            return None
        meta = self.str_map(m["meta"], _join(path, "meta")) if "meta" in m else {}
        if not promotable and parse_bool(meta.get("promotable", "false"), default=False):
            promotable = True  # `clone:` with meta promotable=true, as in a CIB
        if promotable:
            meta.setdefault("promotable", "true")  # as a CIB carries it
        return Clone(id=cid, child=child, meta=frozen(meta), promotable=promotable)

    # ------------------------------------------------------------------ constraints

    def constraint(self, n: Node, path: str):
        if not isinstance(n, MappingNode) or len(n.value) != 1:
            self.error(n, path, "expected a constraint: a mapping with one key, "
                       "location, colocation or order",
                       "e.g. '- location: {rsc: vip, node: node1, score: 100}'")
            return None
        knode, vnode = n.value[0]
        kind = knode.value if isinstance(knode, ScalarNode) else ""
        if kind not in CONSTRAINT_KINDS:
            self.error(knode, path, f"unknown constraint type '{kind}'",
                       did_you_mean(str(kind), CONSTRAINT_KINDS))
            return None
        sub = f"{path}.{kind}"
        if kind == "location":
            return self.location(vnode, sub, sub)
        if kind == "colocation":
            return self.colocation(vnode, sub, sub)
        return self.order(vnode, sub, sub)

    def sets(self, m: dict[str, Node], path: str, cid_base: str) -> list[tuple[Node, str, dict]]:
        """Parse the sets' own fields; ids are given once the constraint id is known."""
        out = []
        if "sets" not in m:
            return out
        for i, item in enumerate(self.seq(m["sets"], _join(path, "sets"), "a list of resource sets")):
            sub = f"{path}.sets[{i}]"
            sm = self.mapping(item, sub, SET_KEYS, required=("resources",), what=" (a resource set)")
            if sm is None:
                continue
            out.append((item, sub, sm))
        return out

    def build_sets(self, parsed, cid: str) -> tuple[ResourceSet, ...]:
        out = []
        for i, (item, sub, sm) in enumerate(parsed):
            sid = self.own_id(sm, "id", sub, ids.set_id(cid, i))
            self.mark_object(sid, sub, item)
            out.append(ResourceSet(
                id=sid,
                resources=self.id_list(sm["resources"], _join(sub, "resources"))
                if "resources" in sm else (),
                sequential=self.boolean(sm, "sequential", sub, True),
                require_all=self.boolean(sm, "require-all", sub, True),
                action=self.text(sm, "action", sub),
                role=self.role(sm, "role", sub),
                score=self.score(sm, "score", sub),
                kind=self.text(sm, "kind", sub),
                ordered=self.boolean(sm, "ordered", sub),
                ordering=self.text(sm, "ordering", sub),
            ))
        return tuple(out)

    def _finish_id(self, m, path, item_path, node, provisional) -> str:
        if "id" in m:
            text = self.scalar(m["id"], _join(path, "id"))
            if text is not None:
                cid = text
            else:
                cid = self.ids.take(ids.constraint_id(provisional))
        else:
            cid = self.ids.take(ids.constraint_id(provisional))
        self.mark_object(cid, item_path, node)
        return cid

    def location(self, n: Node, path: str, item_path: str) -> Location | None:
        m = self.mapping(n, path, LOCATION_KEYS, what=" (a location constraint)")
        if m is None:
            return None
        parsed_sets = self.sets(m, path, "")
        loc = Location(
            id="",
            rsc=self.text(m, "rsc", path),
            rsc_pattern=self.text(m, "rsc-pattern", path),
            node=self.text(m, "node", path),
            score=self.score(m, "score", path),
            role=self.role(m, "role", path),
            resource_discovery=self.text(m, "resource-discovery", path) or "always",
            sets=tuple(ResourceSet(id="", resources=self.peek_ids(sm)) for _, _, sm in parsed_sets),
        )
        cid = self._finish_id(m, path, item_path, n, loc)
        rules: list[Rule] = []
        if "rules" in m:
            for i, item in enumerate(self.seq(m["rules"], _join(path, "rules"), "a list of rules")):
                r = self.rule(item, f"{path}.rules[{i}]", cid, i, top=True)
                if r is not None:
                    rules.append(r)
        return _replace(loc, id=cid, rules=tuple(rules), sets=self.build_sets(parsed_sets, cid))

    def peek_ids(self, sm: dict[str, Node]) -> tuple[str, ...]:
        node = sm.get("resources")
        if isinstance(node, SequenceNode):
            return tuple(x.value for x in node.value if isinstance(x, ScalarNode))
        if isinstance(node, ScalarNode):
            return (node.value,)
        return ()

    def colocation(self, n: Node, path: str, item_path: str) -> Colocation | None:
        m = self.mapping(n, path, COLOCATION_KEYS, what=" (a colocation constraint)")
        if m is None:
            return None
        parsed_sets = self.sets(m, path, "")
        if "score" not in m and not parsed_sets:
            self.error(n, path, "missing required key 'score'",
                       "INFINITY keeps the resources together, -INFINITY keeps them apart")
        col = Colocation(
            id="",
            rsc=self.text(m, "rsc", path),
            with_rsc=self.text(m, "with", path),
            score=self.score(m, "score", path, 0),
            rsc_role=self.role(m, "rsc-role", path),
            with_rsc_role=self.role(m, "with-role", path),
            node_attribute=self.text(m, "node-attribute", path) or "#uname",
            influence=self.boolean(m, "influence", path, True),
            sets=tuple(ResourceSet(id="", resources=self.peek_ids(sm)) for _, _, sm in parsed_sets),
        )
        cid = self._finish_id(m, path, item_path, n, col)
        return _replace(col, id=cid, sets=self.build_sets(parsed_sets, cid))

    def order(self, n: Node, path: str, item_path: str) -> Order | None:
        m = self.mapping(n, path, ORDER_KEYS, what=" (an order constraint)")
        if m is None:
            return None
        parsed_sets = self.sets(m, path, "")
        score = self.score(m, "score", path)
        kind = self.text(m, "kind", path)
        if kind is None:
            # as Pacemaker reads a score-only order (see cib_import)
            kind = "Optional" if score is not None and score <= 0 else "Mandatory"
        order = Order(
            id="",
            first=self.text(m, "first", path),
            then=self.text(m, "then", path),
            first_action=self.text(m, "first-action", path) or "start",
            then_action=self.text(m, "then-action", path),
            kind=kind,
            symmetrical=self.boolean(m, "symmetrical", path),
            score=score,
            require_all=self.boolean(m, "require-all", path, True),
            sets=tuple(ResourceSet(id="", resources=self.peek_ids(sm)) for _, _, sm in parsed_sets),
        )
        cid = self._finish_id(m, path, item_path, n, order)
        return _replace(order, id=cid, sets=self.build_sets(parsed_sets, cid))

    # ------------------------------------------------------------------ rules

    def rule(self, n: Node, path: str, parent_id: str, index: int, top: bool = False) -> Rule | None:
        """A rule; `top` for a location's own rules. Other rules (nested ones, those of
        defaults) only decide whether something applies: their score defaults to 0."""
        m = self.mapping(n, path, RULE_KEYS, required=("expressions",), what=" (a rule)")
        if m is None:
            return None
        rid = self.own_id(m, "id", path, ids.rule_id(parent_id, index))
        self.mark_object(rid, path, n)
        boolean_op = self.text(m, "boolean-op", path) or "and"
        score = self.score(m, "score", path)
        score_attribute = self.text(m, "score-attribute", path)
        if score is None and score_attribute is None and not top:
            score = 0
        conditions = []
        if "expressions" in m:
            items = self.seq(m["expressions"], _join(path, "expressions"), "a list of expressions")
            for i, item in enumerate(items):
                c = self.condition(item, f"{path}.expressions[{i}]", rid, i)
                if c is not None:
                    conditions.append(c)
        return Rule(
            id=rid,
            boolean_op=boolean_op,
            conditions=tuple(conditions),
            score=score,
            score_attribute=score_attribute,
            role=self.role(m, "role", path),
        )

    def condition(self, n: Node, path: str, rule_id: str, index: int):
        if isinstance(n, MappingNode) and len(n.value) == 1:
            knode, vnode = n.value[0]
            if isinstance(knode, ScalarNode) and knode.value in CONDITION_KINDS:
                kind = knode.value
                sub = f"{path}.{kind}"
                if kind == "rule":
                    return self.rule(vnode, sub, rule_id, index)
                if kind == "date-expression":
                    return self.date_expression(vnode, sub, ids.expression_id(rule_id, index))
                if kind == "rsc-expression":
                    m = self.mapping(vnode, sub, RSC_EXPR_KEYS)
                    if m is None:
                        return None
                    eid = self.own_id(m, "id", sub, ids.expression_id(rule_id, index))
                    self.mark_object(eid, sub, vnode)
                    return RscExpression(
                        agent_class=self.text(m, "class", sub),
                        provider=self.text(m, "provider", sub),
                        type=self.text(m, "type", sub),
                        id=eid,
                    )
                m = self.mapping(vnode, sub, OP_EXPR_KEYS, required=("name",))
                if m is None or "name" not in m:
                    return None
                eid = self.own_id(m, "id", sub, ids.expression_id(rule_id, index))
                self.mark_object(eid, sub, vnode)
                return OpExpression(
                    name=self.text(m, "name", sub) or "",
                    interval_ms=self.interval(m, "interval", sub),
                    id=eid,
                )
        if isinstance(n, MappingNode) and not any(
            isinstance(k, ScalarNode) and k.value == "attribute" for k, _ in n.value
        ):
            first = n.value[0][0].value if n.value and isinstance(n.value[0][0], ScalarNode) else ""
            self.error(n, path, "expected an expression",
                       "an attribute expression has 'attribute', 'op' and 'value'; other "
                       "conditions are one of " + ", ".join(f"'{k}:'" for k in CONDITION_KINDS)
                       + (f" (did you mean '{c[0]}'?)" if (c := difflib.get_close_matches(
                           first, EXPRESSION_KEYS + CONDITION_KINDS, n=1)) else ""))
            return None
        m = self.mapping(n, path, EXPRESSION_KEYS, required=("attribute", "op"),
                         what=" (an expression)")
        if m is None or "attribute" not in m or "op" not in m:
            return None
        eid = self.own_id(m, "id", path, ids.expression_id(rule_id, index))
        self.mark_object(eid, path, n)
        return Expression(
            attribute=self.text(m, "attribute", path) or "",
            operation=self.text(m, "op", path) or "",
            value=self.text(m, "value", path),
            type=self.text(m, "type", path),
            value_source=self.text(m, "value-source", path) or "literal",
            id=eid,
        )

    def date_expression(self, n: Node, path: str, default_id: str) -> DateExpression | None:
        m = self.mapping(n, path, DATE_KEYS, required=("operation",))
        if m is None or "operation" not in m:
            return None
        eid = self.own_id(m, "id", path, default_id)
        self.mark_object(eid, path, n)
        duration = None
        if "duration" in m:
            duration = self.date_fields(m["duration"], _join(path, "duration"))
        spec = None
        if "date-spec" in m:
            spec = DateSpec(fields=self.date_fields(m["date-spec"], _join(path, "date-spec")))
        return DateExpression(
            operation=self.text(m, "operation", path) or "",
            start=self.text(m, "start", path),
            end=self.text(m, "end", path),
            duration=duration,
            date_spec=spec,
            id=eid,
        )

    def date_fields(self, n: Node, path: str):
        values = self.str_map(n, path)
        for key in values:
            if key not in DATE_FIELDS:
                self.error(n, _join(path, key), f"unknown date field '{key}'",
                           did_you_mean(key, DATE_FIELDS))
        return frozen(values)


# --------------------------------------------------------------------------- helpers


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _replace(obj, **changes):
    from dataclasses import replace

    return replace(obj, **changes)


def _split_agent(agent: str) -> tuple[str, str | None, str] | None:
    """'ocf:heartbeat:IPaddr2' -> ('ocf', 'heartbeat', 'IPaddr2'); 'systemd:x' -> ('systemd', None, 'x')."""
    if ":" not in agent:
        return None
    cls, _, rest = agent.partition(":")
    if not cls or not rest:
        return None
    if cls == "ocf":
        provider, sep, type_ = rest.partition(":")
        if not sep or not provider or not type_:
            return None
        return cls, provider, type_
    return cls, None, rest


def _read_source(path_or_text: str | os.PathLike, filename: str | None) -> tuple[str, str]:
    if isinstance(path_or_text, os.PathLike):
        path = Path(path_or_text)
        try:
            return path.read_text(encoding="utf-8"), filename or str(path)
        except OSError as exc:
            raise ConfigError(Problem(str(path), None, "", f"cannot read: {exc.strerror}")) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(Problem(str(path), None, "", f"not UTF-8 text: {exc}")) from None
    text = str(path_or_text)
    if "\n" not in text and (os.path.exists(text) or text.endswith((".yaml", ".yml"))):
        return _read_source(Path(text), filename)
    return text, filename or "<string>"


def parse_yaml_document(text: str, filename: str) -> Node | None:
    """Compose one YAML document; a syntax error becomes a ConfigError with its line."""
    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or "invalid YAML"
        hint = None
        if exc.context:
            hint = exc.context
            if exc.context_mark and mark and exc.context_mark.line != mark.line:
                hint += f" (line {exc.context_mark.line + 1})"
        raise ConfigError(Problem(
            filename, mark.line + 1 if mark else None, "", f"invalid YAML: {message}", hint,
        )) from None
    except yaml.YAMLError as exc:
        raise ConfigError(Problem(filename, None, "", f"invalid YAML: {exc}")) from None
    if len(docs) > 1:
        raise ConfigError(Problem(filename, docs[1].start_mark.line + 1, "",
                                  "more than one YAML document", "keep one configuration per file"))
    return docs[0] if docs else None


def load_yaml(
    path_or_text: str | os.PathLike,
    filename: str | None = None,
    *,
    validate: bool = True,
    warnings: list[Problem] | None = None,
) -> Definition:
    """Load a Definition from a YAML file (path) or YAML text.

    `filename` names the source in messages (default: the path, or "<string>" for
    text). Raises ConfigError carrying every problem found. With `validate` (the
    default) the semantic checks of `pacer.model.validate` run too; their warnings are
    appended to `warnings` when a list is given.
    """
    text, name = _read_source(path_or_text, filename)
    root = parse_yaml_document(text, name)
    loader = _Loader(name)
    defn = loader.document(root)
    if loader.problems:
        raise ConfigError(sorted(loader.problems, key=lambda p: p.line or 0))
    if validate:
        from pacer.model.validate import validate as run_validate

        problems = run_validate(defn)
        if any(p.is_error for p in problems):
            raise ConfigError(problems)
        if warnings is not None:
            warnings.extend(problems)
    return defn

