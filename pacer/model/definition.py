"""The validated cluster definition: immutable value types.

Everything the scheduler needs to know about *configuration* lives here; what is
happening right now (node membership, operation history, fail counts) lives in
`pacer.status`. Both the YAML loader and the CIB importer produce these types, and
the CIB exporter consumes them, so a definition survives a round trip.

Meta attributes and parameters stay as strings (as in the CIB): their meaning is
interpreted where they are used, through the typed accessors in `pacer.model.meta`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Union

EMPTY: Mapping[str, str] = MappingProxyType({})


def _empty() -> Mapping[str, str]:
    return EMPTY


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Expression:
    """`<expression attribute operation value type value-source>`."""

    attribute: str
    operation: str  # lt gt lte gte eq ne defined not_defined
    value: str | None = None
    type: str | None = None  # string integer number version (None: inferred)
    value_source: str = "literal"  # literal param meta
    id: str = ""


@dataclass(frozen=True)
class DateSpec:
    """Cron-like ranges (`years="2005-2010" hours="9-16"`), each field `"a-b"` or `"a"`."""

    fields: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class DateExpression:
    operation: str  # in_range date_spec gt lt
    start: str | None = None
    end: str | None = None
    duration: Mapping[str, str] | None = None
    date_spec: DateSpec | None = None
    id: str = ""


@dataclass(frozen=True)
class RscExpression:
    """Matches a resource's agent (only meaningful in rsc_defaults rules)."""

    agent_class: str | None = None
    provider: str | None = None
    type: str | None = None
    id: str = ""


@dataclass(frozen=True)
class OpExpression:
    """Matches an operation (only meaningful in op_defaults rules)."""

    name: str
    interval_ms: int | None = None
    id: str = ""


Condition = Union[Expression, DateExpression, RscExpression, OpExpression, "Rule"]


@dataclass(frozen=True)
class Rule:
    """A boolean combination of conditions, optionally carrying a score."""

    id: str = ""
    boolean_op: Literal["and", "or"] = "and"
    conditions: tuple[Condition, ...] = ()
    score: int | None = None
    score_attribute: str | None = None
    role: str | None = None


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Operation:
    """One configured operation of a primitive (`<op name interval timeout on-fail>`)."""

    name: str
    interval_ms: int = 0
    timeout_ms: int | None = None
    on_fail: str | None = None
    role: str | None = None
    enabled: bool = True
    meta: Mapping[str, str] = field(default_factory=_empty)
    id: str = ""
    # Agent parameters given to this operation only (`<op><instance_attributes>`):
    # added to the resource's parameters when it runs, and part of its digest.
    params: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class Primitive:
    id: str
    agent_class: str  # ocf systemd lsb stonith service pacer
    type: str
    provider: str | None = None
    params: Mapping[str, str] = field(default_factory=_empty)
    meta: Mapping[str, str] = field(default_factory=_empty)
    operations: tuple[Operation, ...] = ()
    utilization: Mapping[str, str] = field(default_factory=_empty)
    kind: Literal["primitive"] = "primitive"

    @property
    def agent(self) -> str:
        if self.provider:
            return f"{self.agent_class}:{self.provider}:{self.type}"
        return f"{self.agent_class}:{self.type}"


@dataclass(frozen=True)
class Group:
    id: str
    members: tuple[Primitive, ...]
    meta: Mapping[str, str] = field(default_factory=_empty)
    kind: Literal["group"] = "group"


@dataclass(frozen=True)
class Clone:
    """A clone (`promotable=True` for promotable clones; also the legacy `<master>`)."""

    id: str
    child: Primitive | Group
    meta: Mapping[str, str] = field(default_factory=_empty)
    promotable: bool = False
    kind: Literal["clone"] = "clone"


Resource = Primitive | Group | Clone


# --------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class ResourceSet:
    id: str
    resources: tuple[str, ...]
    sequential: bool = True
    require_all: bool = True
    action: str | None = None
    role: str | None = None
    score: int | None = None
    kind: str | None = None
    ordered: bool | None = None
    # Colocation sets: "group" (default: each member with the one before it) or
    # "listed" (each member with the one after it).
    ordering: str | None = None


@dataclass(frozen=True)
class Location:
    id: str
    rsc: str | None = None
    rsc_pattern: str | None = None
    node: str | None = None
    score: int | None = None
    rules: tuple[Rule, ...] = ()
    role: str | None = None
    resource_discovery: str = "always"  # always never exclusive
    sets: tuple[ResourceSet, ...] = ()


@dataclass(frozen=True)
class Colocation:
    id: str
    rsc: str | None = None  # the dependent
    with_rsc: str | None = None  # the primary
    score: int = 0
    rsc_role: str | None = None
    with_rsc_role: str | None = None
    node_attribute: str = "#uname"
    influence: bool = True
    sets: tuple[ResourceSet, ...] = ()


@dataclass(frozen=True)
class Order:
    id: str
    first: str | None = None
    then: str | None = None
    first_action: str = "start"
    then_action: str | None = None  # defaults to first_action
    kind: str = "Mandatory"  # Mandatory Optional Serialize
    symmetrical: bool | None = None  # None: default for the kind
    score: int | None = None
    sets: tuple[ResourceSet, ...] = ()
    require_all: bool = True


Constraint = Location | Colocation | Order


# --------------------------------------------------------------------------- nodes and cluster


@dataclass(frozen=True)
class Node:
    name: str
    id: str = ""
    type: str = "member"  # member remote ping
    attributes: Mapping[str, str] = field(default_factory=_empty)
    utilization: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class NVSet:
    """A set of name/value pairs that applies when its rule (if any) holds."""

    values: Mapping[str, str]
    rule: Rule | None = None
    score: int = 0
    id: str = ""


@dataclass(frozen=True)
class Definition:
    """Everything configured: the input that stays the same between transitions."""

    nodes: tuple[Node, ...] = ()
    resources: tuple[Resource, ...] = ()
    locations: tuple[Location, ...] = ()
    colocations: tuple[Colocation, ...] = ()
    orders: tuple[Order, ...] = ()
    properties: Mapping[str, str] = field(default_factory=_empty)
    rsc_defaults: tuple[NVSet, ...] = ()
    op_defaults: tuple[NVSet, ...] = ()
    # Where each object was defined ("file:line"), for error messages and explain.
    origins: Mapping[str, str] = field(default_factory=_empty, compare=False)

    def node(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None


def iter_primitives(resources: tuple[Resource, ...]):
    """Every primitive, depth first, in configuration order."""
    for r in resources:
        if isinstance(r, Primitive):
            yield r
        elif isinstance(r, Group):
            yield from r.members
        else:
            yield from iter_primitives((r.child,))


def resource_index(resources: tuple[Resource, ...]) -> dict[str, Resource]:
    """Every resource id (top-level, group members, clone children) to its object."""
    out: dict[str, Resource] = {}

    def walk(r: Resource) -> None:
        out[r.id] = r
        if isinstance(r, Group):
            for m in r.members:
                walk(m)
        elif isinstance(r, Clone):
            walk(r.child)

    for r in resources:
        walk(r)
    return out


def frozen(d: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(d)) if d else EMPTY
