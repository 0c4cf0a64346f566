"""Default ids for the objects a CIB needs ids for but a person should not have to name.

The YAML loader gives every operation, constraint, rule, expression, resource set and
defaults set without an `id` the default computed here; the YAML exporter leaves an id
out when it equals its default; the CIB exporter uses the same defaults for objects
built in code with an empty id. So ids survive YAML -> CIB -> YAML unchanged.
"""

from __future__ import annotations

import re

from pacer.model.definition import Colocation, Location, Order, ResourceSet
from pacer.model.meta import format_interval

# An XML NCName, which is what Pacemaker's schema requires of every id.
_ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def is_valid_id(text: str) -> bool:
    return bool(_ID_RE.fullmatch(text or ""))


def sanitize(text: str) -> str:
    """Turn arbitrary text into something usable inside an id."""
    out = _BAD_CHARS.sub("_", text or "")
    if not out or not re.match(r"[A-Za-z_]", out):
        out = "_" + out
    return out


class IdAllocator:
    """Hands out unique ids: the default if free, else the default with -2, -3, ..."""

    def __init__(self, used: set[str] | None = None):
        self.used: set[str] = set(used or ())

    def reserve(self, id_: str) -> None:
        self.used.add(id_)

    def take(self, base: str) -> str:
        base = sanitize(base)
        candidate = base
        n = 2
        while candidate in self.used:
            candidate = f"{base}-{n}"
            n += 1
        self.used.add(candidate)
        return candidate


def op_id(rsc_id: str, name: str, interval_ms: int, role: str | None = None) -> str:
    base = f"{rsc_id}-{name}-{format_interval(interval_ms)}"
    if role:
        base += f"-{role}"
    return sanitize(base)


def _set_names(sets: tuple[ResourceSet, ...]) -> str:
    return "-".join(r for s in sets for r in s.resources) or "empty"


def location_id(c: Location) -> str:
    if c.sets:
        target = "set-" + _set_names(c.sets)
    else:
        target = c.rsc or ("pattern-" + (c.rsc_pattern or ""))
    if c.node is not None:
        return sanitize(f"location-{target}-{c.node}")
    return sanitize(f"location-{target}")


def colocation_id(c: Colocation) -> str:
    if c.sets:
        return sanitize("colocation-set-" + _set_names(c.sets))
    return sanitize(f"colocation-{c.rsc}-with-{c.with_rsc}")


def order_id(c: Order) -> str:
    if c.sets:
        return sanitize("order-set-" + _set_names(c.sets))
    then_action = c.then_action or c.first_action
    if c.first_action == "start" and then_action == "start":
        return sanitize(f"order-{c.first}-then-{c.then}")
    return sanitize(f"order-{c.first_action}-{c.first}-then-{then_action}-{c.then}")


def constraint_id(c: Location | Colocation | Order) -> str:
    if isinstance(c, Location):
        return location_id(c)
    if isinstance(c, Colocation):
        return colocation_id(c)
    return order_id(c)


def indexed(base: str, i: int) -> str:
    """`base` for the first child, `base-2`, `base-3`, ... for the following ones."""
    return base if i == 0 else f"{base}-{i + 1}"


def rule_id(parent_id: str, i: int) -> str:
    return indexed(f"{parent_id}-rule", i)


def expression_id(rule_id_: str, i: int) -> str:
    return indexed(f"{rule_id_}-expr", i)


def set_id(constraint_id_: str, i: int) -> str:
    return indexed(f"{constraint_id_}-set", i)


def nvset_id(section: str, i: int) -> str:
    """Default id of the i-th rsc_defaults ("rsc-options") / op_defaults ("op-options") set."""
    return indexed("rsc-options" if section == "resource" else "op-options", i)
