"""Evaluate CIB rules (node-attribute expressions, date expressions) — pure.

A rule is evaluated against a node's attributes, the current time, and
optionally a resource's parameters/meta (for `value-source`).
"""

from __future__ import annotations

import calendar
import re
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field

from pacer.model.definition import (
    DateExpression,
    Expression,
    OpExpression,
    RscExpression,
    Rule,
)


@dataclass(frozen=True)
class RuleContext:
    node_attrs: Mapping[str, str] = field(default_factory=dict)
    now: int = 0
    rsc_params: Mapping[str, str] = field(default_factory=dict)
    rsc_meta: Mapping[str, str] = field(default_factory=dict)
    agent: tuple[str, str | None, str] | None = None  # class, provider, type
    op: tuple[str, int] | None = None  # name, interval ms
    role: str | None = None


def evaluate(rule: Rule, ctx: RuleContext) -> bool:
    if rule.role is not None and ctx.role is not None and rule.role != ctx.role:
        return False
    results = (_condition(c, ctx) for c in rule.conditions)
    if not rule.conditions:
        return True
    if rule.boolean_op == "or":
        return any(results)
    return all(results)


def _condition(cond, ctx: RuleContext) -> bool:
    if isinstance(cond, Expression):
        return _expression(cond, ctx)
    if isinstance(cond, DateExpression):
        return _date_expression(cond, ctx.now)
    if isinstance(cond, Rule):
        return evaluate(cond, ctx)
    if isinstance(cond, RscExpression):
        if ctx.agent is None:
            return False
        cls, prov, typ = ctx.agent
        return (
            (cond.agent_class is None or cond.agent_class == cls)
            and (cond.provider is None or cond.provider == prov)
            and (cond.type is None or cond.type == typ)
        )
    if isinstance(cond, OpExpression):
        if ctx.op is None:
            return False
        name, interval = ctx.op
        return cond.name == name and (cond.interval_ms is None or cond.interval_ms == interval)
    return False


_NUM_RE = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")


def _to_number(v: str, integer: bool) -> float | None:
    v = v.strip()
    if integer:
        m = re.match(r"[+-]?\d+", v)
        return float(int(m.group(0))) if m else None
    m = _NUM_RE.match(v)
    return float(m.group(0)) if m else None


def _version_key(v: str) -> tuple[int, ...]:
    parts = []
    for p in re.split(r"[.\-]", v):
        m = re.match(r"\d+", p)
        parts.append(int(m.group(0)) if m else 0)
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _compare(lhs: str, rhs: str, typ: str) -> int:
    if typ in ("integer", "number"):
        a = _to_number(lhs, typ == "integer")
        b = _to_number(rhs, typ == "integer")
        if a is not None and b is not None:
            return (a > b) - (a < b)
        typ = "string"
    if typ == "version":
        a, b = _version_key(lhs), _version_key(rhs)
        return (a > b) - (a < b)
    # Pacemaker compares strings case-insensitively.
    la, lb = lhs.lower(), rhs.lower()
    return (la > lb) - (la < lb)


def _expression(expr: Expression, ctx: RuleContext) -> bool:
    attr_value = ctx.node_attrs.get(expr.attribute)
    op = expr.operation
    if op == "defined":
        return attr_value is not None
    if op == "not_defined":
        return attr_value is None
    value = expr.value
    if expr.value_source == "param" and value is not None:
        value = ctx.rsc_params.get(value)
    elif expr.value_source == "meta" and value is not None:
        value = ctx.rsc_meta.get(value)
    if attr_value is None or value is None:
        # A comparison with a missing attribute: only "ne" can hold.
        return op == "ne" and not (attr_value is None and value is None)
    typ = expr.type
    if typ is None:
        if op in ("lt", "lte", "gt", "gte") and _to_number(attr_value, False) is not None \
                and _to_number(value, False) is not None:
            typ = "number"
        else:
            typ = "string"
    if typ == "int":
        typ = "integer"
    c = _compare(attr_value, value, typ)
    return {
        "eq": c == 0,
        "ne": c != 0,
        "lt": c < 0,
        "lte": c <= 0,
        "gt": c > 0,
        "gte": c >= 0,
    }.get(op, False)


# --------------------------------------------------------------------------- dates


def parse_datetime(text: str) -> int | None:
    """ISO 8601 date/time (several common shapes) → epoch seconds (UTC)."""
    text = text.strip()
    m = re.match(
        r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2}))?)?)?"
        r"\s*(Z|[+-]\d{2}:?\d{2})?$",
        text,
    )
    if not m:
        m2 = re.match(r"(\d{4})-(\d{3})", text)  # ordinal date
        if m2:
            y, d = int(m2.group(1)), int(m2.group(2))
            return calendar.timegm((y, 1, 1, 0, 0, 0)) + (d - 1) * 86400
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    h = int(m.group(4) or 0)
    mi = int(m.group(5) or 0)
    s = int(m.group(6) or 0)
    ts = calendar.timegm((y, mo, d, h, mi, s))
    tz = m.group(7)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return ts


_DURATION_SECONDS = {
    "years": 365 * 86400,
    "months": 30 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}


def _add_duration(start: int, duration: Mapping[str, str]) -> int:
    tm = list(_time.gmtime(start))
    years = int(duration.get("years", 0) or 0)
    months = int(duration.get("months", 0) or 0)
    tm[0] += years
    tm[1] += months
    while tm[1] > 12:
        tm[1] -= 12
        tm[0] += 1
    base = calendar.timegm(tuple(tm[:6]) + (0, 0, 0))
    for k in ("weeks", "days", "hours", "minutes", "seconds"):
        base += int(duration.get(k, 0) or 0) * _DURATION_SECONDS[k]
    return base


def _in_ranges(value: int, spec: str) -> bool:
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1)
            if int(a) <= value <= int(b):
                return True
        elif int(part) == value:
            return True
    return False


def _date_spec_matches(spec: Mapping[str, str], now: int) -> bool:
    tm = _time.gmtime(now)
    iso = _time.strftime("%G %V %u", tm).split()
    values = {
        "seconds": tm.tm_sec,
        "minutes": tm.tm_min,
        "hours": tm.tm_hour,
        "monthdays": tm.tm_mday,
        "weekdays": tm.tm_wday + 1,
        "yeardays": tm.tm_yday,
        "months": tm.tm_mon,
        "weeks": int(iso[1]),
        "years": tm.tm_year,
        "weekyears": int(iso[0]),
        "moon": 0,
    }
    for key, rng in spec.items():
        if key not in values:
            continue
        try:
            if not _in_ranges(values[key], rng):
                return False
        except ValueError:
            return False
    return True


def _date_expression(expr: DateExpression, now: int) -> bool:
    op = expr.operation
    start = parse_datetime(expr.start) if expr.start else None
    end = parse_datetime(expr.end) if expr.end else None
    if op == "gt":
        return start is not None and now > start
    if op == "lt":
        return end is not None and now < end
    if op == "date_spec":
        return expr.date_spec is not None and _date_spec_matches(expr.date_spec.fields, now)
    # in_range
    if end is None and start is not None and expr.duration:
        end = _add_duration(start, expr.duration)
    if start is not None and now < start:
        return False
    if end is not None and now > end:
        return False
    return start is not None or end is not None
