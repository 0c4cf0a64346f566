"""Small edits of a stored YAML definition, as `pacer resource move|ban|clear|enable|disable`
make them: add a location constraint, remove constraints, set or remove a meta attribute.

Pure: text in, text out. The administrator's file keeps its comments and layout:
each edit is applied to the YAML *text*, at the places PyYAML's composer
reports, and the result is then checked to load into exactly the definition
the same edit makes on the Definition object. When the text cannot be patched
safely (an unusual layout, flow-style lists), the definition is written anew
with `export_yaml`, which is correct but drops comments; `EditResult.preserved`
says which happened.

Pacemaker's names are kept, so a CIB exported from pacer and `crm_resource
--clear` agree on what a command-line constraint is:

- `cli-prefer-RSC`: RSC prefers NODE with INFINITY (`crm_resource --move --node NODE`)
- `cli-ban-RSC-on-NODE`: RSC avoids NODE with -INFINITY (`crm_resource --ban`)

With a lifetime, the constraint holds a rule that also requires
`date lt END` (Pacemaker's `--lifetime`): once END has passed the rule no
longer matches and the constraint stops applying, without anyone deleting it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pacer.model.definition import (
    Clone,
    Definition,
    Group,
    Location,
    Resource,
    frozen,
    resource_index,
)
from pacer.model.errors import ConfigError
from pacer.model.yaml_export import export_yaml
from pacer.model.yaml_loader import load_yaml

CLI_PREFIX = "cli-"


def cli_prefer_id(rsc: str) -> str:
    return f"cli-prefer-{rsc}"


def cli_ban_id(rsc: str, node: str) -> str:
    return f"cli-ban-{rsc}-on-{node}"


# --------------------------------------------------------------------------- the edits


@dataclass(frozen=True)
class AddLocation:
    """A location of `rsc` on `node` (replacing any constraint of the same id)."""

    id: str
    rsc: str
    node: str
    score: str  # "INFINITY", "-INFINITY", ...
    role: str | None = None
    until: str | None = None  # ISO 8601 end of the constraint's lifetime (UTC)

    def data(self) -> dict:
        """The constraint as the YAML mapping under `location:`."""
        out: dict = {"id": self.id, "rsc": self.rsc}
        if self.role:
            out["role"] = self.role
        if self.until is None:
            out.update(node=self.node, score=self.score)
            return out
        kind = "prefer" if self.id.startswith("cli-prefer-") else "ban"
        out["rules"] = [{
            "id": f"cli-{kind}-rule-{self.rsc}", "score": self.score,
            "expressions": [
                {"id": f"cli-{kind}-expr-{self.rsc}", "attribute": "#uname", "op": "eq",
                 "value": self.node},
                {"date-expression": {"id": f"cli-{kind}-lifetime-end-{self.rsc}",
                                     "operation": "lt", "end": self.until}},
            ],
        }]
        return out


@dataclass(frozen=True)
class RemoveConstraints:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class SetMeta:
    """Set meta `name` of resource `rsc` to `value`; None removes it."""

    rsc: str
    name: str
    value: str | None


Edit = AddLocation | RemoveConstraints | SetMeta


@dataclass(frozen=True)
class EditResult:
    text: str
    definition: Definition
    changed: bool
    preserved: bool  # the text was patched (comments kept), not rewritten


class EditError(ValueError):
    """The edit does not apply to this definition (unknown resource, ...)."""


def cli_constraints(defn: Definition, rsc: str, node: str | None = None) -> list[Location]:
    """The command-line constraints of `rsc` (on `node` only, if given), as `--clear` sees them."""
    out = []
    for loc in defn.locations:
        if loc.rsc != rsc:
            continue
        if loc.id == cli_prefer_id(rsc):
            target = loc.node or _rule_node(loc)
            if node is None or target == node:
                out.append(loc)
        elif loc.id.startswith(f"cli-ban-{rsc}-on-"):
            if node is None or loc.id == cli_ban_id(rsc, node):
                out.append(loc)
    return out


def _rule_node(loc: Location) -> str | None:
    for rule in loc.rules:
        for c in rule.conditions:
            if getattr(c, "attribute", None) == "#uname":
                return c.value  # type: ignore[union-attr]
    return None


# --------------------------------------------------------------------------- on the Definition


def _edit_definition(defn: Definition, edit: Edit) -> Definition:
    if isinstance(edit, AddLocation):
        index = resource_index(defn.resources)
        if edit.rsc not in index:
            raise EditError(f"no resource {edit.rsc!r}")
        loc = _location_of(edit)
        kept = tuple(c for c in defn.locations if c.id != edit.id)
        return dataclasses.replace(defn, locations=(*kept, loc))
    if isinstance(edit, RemoveConstraints):
        drop = set(edit.ids)
        return dataclasses.replace(
            defn,
            locations=tuple(c for c in defn.locations if c.id not in drop),
            colocations=tuple(c for c in defn.colocations if c.id not in drop),
            orders=tuple(c for c in defn.orders if c.id not in drop))
    found = False

    def walk(r: Resource) -> Resource:
        nonlocal found
        if r.id == edit.rsc:
            found = True
            meta = dict(r.meta)
            if edit.value is None:
                meta.pop(edit.name, None)
            else:
                meta[edit.name] = edit.value
            r = dataclasses.replace(r, meta=frozen(meta))
        if isinstance(r, Group):
            return dataclasses.replace(r, members=tuple(walk(m) for m in r.members))  # type: ignore[misc]
        if isinstance(r, Clone):
            return dataclasses.replace(r, child=walk(r.child))  # type: ignore[arg-type]
        return r

    resources = tuple(walk(r) for r in defn.resources)
    if not found:
        raise EditError(f"no resource {edit.rsc!r}")
    return dataclasses.replace(defn, resources=resources)


def _location_of(edit: AddLocation) -> Location:
    # The loader's own reading of the snippet, so defaults (ids of rules, types)
    # are exactly what reading the patched file gives.
    mini = load_yaml(f"constraints:\n  - location: {_flow(edit.data())}\n",
                     filename="<edit>", validate=False)
    return mini.locations[0]


# --------------------------------------------------------------------------- on the text


def _flow(value: object) -> str:
    """A value in YAML flow style, every scalar plain where the loader reads it back as is."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    text = str(value)
    if re.fullmatch(r"[+-]?[A-Za-z0-9_][A-Za-z0-9_.@+-]*", text) and text not in (
            "null", "Null", "NULL", "~"):
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _content_end(node: Node) -> int:
    """Where a node's last character is (a block collection's end mark lies past
    the comments that follow it, which belong to what comes next)."""
    if isinstance(node, ScalarNode) or node.flow_style:
        return node.end_mark.index
    if isinstance(node, MappingNode):
        return max(_content_end(v) for pair in node.value for v in pair)
    return max(_content_end(v) for v in node.value)


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _pair(mapping: Node | None, key: str) -> tuple[int, Node, Node] | None:
    if not isinstance(mapping, MappingNode):
        return None
    for i, (k, v) in enumerate(mapping.value):
        if isinstance(k, ScalarNode) and k.value == key:
            return i, k, v
    return None


class _Unsafe(Exception):
    """This layout is not patched in place; the definition is written anew."""


Splice = tuple[int, int, str]


def _own_line(text: str, node: Node) -> bool:
    """Does `node` start its line (only indentation before it)?"""
    start = node.start_mark.index
    return text[_line_start(text, start):start].strip() == ""


def _item_indent(text: str, seq: SequenceNode) -> str:
    """The indentation of a block sequence's dashes ("  " for "  - x")."""
    first = seq.value[0]
    before = text[_line_start(text, first.start_mark.index):first.start_mark.index]
    m = re.fullmatch(r"( *)- +", before)
    if not m:
        raise _Unsafe
    return m.group(1)


def _append_item(text: str, root: Node | None, snippet: str) -> list[Splice]:
    entry = _pair(root, "constraints")
    if entry is None:
        if root is not None and (not isinstance(root, MappingNode) or root.flow_style):
            raise _Unsafe
        sep = "" if not text or text.endswith("\n") else "\n"
        return [(len(text), len(text), f"{sep}\nconstraints:\n  - {snippet}\n")]
    _, key, seq = entry
    if not isinstance(seq, SequenceNode):
        raise _Unsafe
    if seq.flow_style:
        end = seq.end_mark.index - 1  # the closing ']'
        if not seq.value:
            indent = " " * (key.start_mark.column + 2)
            return [(key.end_mark.index, seq.end_mark.index, f":\n{indent}- {snippet}")]
        return [(end, end, f", {{{snippet}}}")]
    indent = _item_indent(text, seq)
    at = _line_end(text, _content_end(seq.value[-1]))
    sep = "" if text[:at].endswith("\n") else "\n"
    return [(at, at, f"{sep}{indent}- {snippet}\n")]


def _remove_items(text: str, root: Node | None, ids: set[str]) -> list[Splice]:
    entry = _pair(root, "constraints")
    if entry is None:
        return []
    _, key, seq = entry
    if not isinstance(seq, SequenceNode):
        raise _Unsafe
    doomed = [item for item in seq.value if _constraint_id(item) in ids]
    if not doomed:
        return []
    if seq.flow_style:
        raise _Unsafe
    _item_indent(text, seq)
    if len(doomed) == len(seq.value):
        return [(key.end_mark.index, _line_end(text, _content_end(seq)), ": []\n")]
    return [(_line_start(text, item.start_mark.index),
             _line_end(text, _content_end(item)), "") for item in doomed]


def _constraint_id(item: Node) -> str | None:
    if not isinstance(item, MappingNode) or len(item.value) != 1:
        return None
    found = _pair(item.value[0][1], "id")
    return found[2].value if found and isinstance(found[2], ScalarNode) else None


_RESOURCE_ID_KEYS = ("id", "group", "clone", "promotable")


def _resource_nodes(node: Node | None) -> Iterator[tuple[str, MappingNode]]:
    """Every resource mapping under `resources:` (group members, clone children too)."""
    if not isinstance(node, SequenceNode):
        return
    for item in node.value:
        yield from _resource_node(item)


def _resource_node(item: Node) -> Iterator[tuple[str, MappingNode]]:
    if not isinstance(item, MappingNode):
        return
    for key in _RESOURCE_ID_KEYS:
        found = _pair(item, key)
        if found and isinstance(found[2], ScalarNode):
            yield found[2].value, item
            break
    members = _pair(item, "members")
    if members:
        yield from _resource_nodes(members[2])
    child = _pair(item, "child")
    if child:
        yield from _resource_node(child[2])


def _set_pair(text: str, mapping: MappingNode, key: str, value: str) -> list[Splice]:
    """Set `key: value` in a mapping (replacing the value, or adding the pair)."""
    found = _pair(mapping, key)
    if found is not None:
        _, _, v = found
        if not isinstance(v, ScalarNode):
            raise _Unsafe
        return [(v.start_mark.index, v.end_mark.index, value)]
    if mapping.flow_style:
        end = mapping.end_mark.index - 1  # the closing '}'
        return [(end, end, f"{', ' if mapping.value else ''}{key}: {value}")]
    first = mapping.value[0][0]
    at = _line_end(text, _content_end(mapping))
    sep = "" if text[:at].endswith("\n") else "\n"
    return [(at, at, f"{sep}{' ' * first.start_mark.column}{key}: {value}\n")]


def _delete_pair(text: str, mapping: MappingNode, index: int) -> list[Splice]:
    pairs = mapping.value
    k, v = pairs[index]
    if mapping.flow_style:
        if len(pairs) == 1:
            return [(mapping.start_mark.index, mapping.end_mark.index, "{}")]
        if index > 0:  # ", key: value" after the previous pair
            return [(pairs[index - 1][1].end_mark.index, v.end_mark.index, "")]
        return [(k.start_mark.index, pairs[1][0].start_mark.index, "")]
    if not _own_line(text, k):
        raise _Unsafe
    return [(_line_start(text, k.start_mark.index), _line_end(text, _content_end(v)), "")]


def _set_meta(text: str, root: Node | None, edit: SetMeta) -> list[Splice]:
    target = next((m for rid, m in _resource_nodes(_pair(root, "resources")[2]
                                                    if _pair(root, "resources") else None)
                   if rid == edit.rsc), None)
    if target is None:
        raise _Unsafe
    meta = _pair(target, "meta")
    if edit.value is None:
        if meta is None:
            return []
        meta_index, _, meta_map = meta
        if not isinstance(meta_map, MappingNode):
            raise _Unsafe
        found = _pair(meta_map, edit.name)
        if found is None:
            return []
        if len(meta_map.value) == 1:  # no `meta: {}` left behind (`meta:` alone is invalid)
            return _delete_pair(text, target, meta_index)
        return _delete_pair(text, meta_map, found[0])
    value = _flow(edit.value)
    if meta is None:
        return _set_pair(text, target, "meta", f"{{{edit.name}: {value}}}")
    if not isinstance(meta[2], MappingNode):
        raise _Unsafe
    return _set_pair(text, meta[2], edit.name, value)


def _splice(text: str, splices: list[Splice]) -> str:
    for start, end, new in sorted(splices, key=lambda s: s[0], reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _patch(text: str, edit: Edit) -> str:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(edit, AddLocation):
        splices = _remove_items(text, root, {edit.id})
        if splices:  # replace in two steps: positions change after the removal
            text = _splice(text, splices)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        return _splice(text, _append_item(text, root, f"location: {_flow(edit.data())}"))
    if isinstance(edit, RemoveConstraints):
        return _splice(text, _remove_items(text, root, set(edit.ids)))
    return _splice(text, _set_meta(text, root, edit))


def apply_edit(text: str, edit: Edit, header: str | None = None) -> EditResult:
    """Apply one edit to a YAML definition's text (which must load).

    Raises EditError when the edit does not fit the definition, ConfigError when
    the text does not load or the edited definition is invalid.
    """
    before = load_yaml(text, filename="<stored definition>")
    expected = _edit_definition(before, edit)
    if expected == before:
        return EditResult(text, before, changed=False, preserved=True)
    try:
        patched = _patch(text, edit)
        after = load_yaml(patched, filename="<edited definition>")
        if after == expected:
            return EditResult(patched, after, changed=True, preserved=True)
    except (_Unsafe, yaml.YAMLError, ValueError, ConfigError):
        pass  # written anew below
    rewritten = export_yaml(expected, header=header)
    return EditResult(rewritten, load_yaml(rewritten, filename="<edited definition>"),
                      changed=True, preserved=False)

