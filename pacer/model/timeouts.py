"""How long an operation may take: its effective timeout (pure).

The controller puts this number in every request it sends, waits for the
result that long (plus a grace), and counts a result that never comes as a
timeout of that operation; the node daemon kills the agent at the same
number. Both must agree, so both ask this module.

Order of precedence, first that says something:

1. the operation configured on the primitive (`<op name interval timeout>`);
   a probe (`monitor` with interval 0) without an op of its own takes the
   timeout of the primitive's shortest recurring monitor, as Pacemaker does;
2. `op_defaults`' `timeout` (rule-less sets; rules need the scheduler's
   context and are not used for timeouts);
3. the agent's own meta-data (`<action name="stop" timeout="120s"/>`), as
   pcs copies it into the CIB when it creates a resource: an operator who
   writes `agent: ocf:heartbeat:galera` and no operations gets Galera's
   120 s stop, not a 20 s one that would fence a node in the middle of a
   normal shutdown;
4. Pacemaker's default, 20 s.
"""

from __future__ import annotations

from collections.abc import Mapping

from pacer.model.definition import Definition, Operation, Primitive
from pacer.model.meta import parse_interval_ms

# Pacemaker's default operation timeout.
DEFAULT_TIMEOUT_MS = 20_000


def find_op(prim: Primitive, task: str, interval_ms: int) -> Operation | None:
    for op in prim.operations:
        if op.name == task and op.interval_ms == interval_ms:
            return op
    return None


def rule_free_op_defaults(defn: Definition) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in defn.op_defaults:
        if s.rule is None:
            out.update(s.values)
    return out


def _op_timeout(prim: Primitive, task: str, interval_ms: int) -> int | None:
    op = find_op(prim, task, interval_ms)
    if op is not None and op.timeout_ms:
        return op.timeout_ms
    if task == "monitor" and interval_ms == 0:
        recurring = sorted((o for o in prim.operations
                            if o.name == "monitor" and o.interval_ms > 0 and o.timeout_ms),
                           key=lambda o: o.interval_ms)
        if recurring:
            return recurring[0].timeout_ms
    return None


def effective_timeout_ms(prim: Primitive | None, task: str, interval_ms: int,
                         op_defaults: Mapping[str, str],
                         agent_default_ms: int | None = None,
                         default_ms: int = DEFAULT_TIMEOUT_MS) -> int:
    """The timeout of `task` (with `interval_ms`) of `prim`, in milliseconds."""
    if prim is not None:
        t = _op_timeout(prim, task, interval_ms)
        if t:
            return t
    text = op_defaults.get("timeout")
    if text:
        try:
            t = parse_interval_ms(text, lenient=True)
        except ValueError:
            t = 0
        if t:
            return t
    if agent_default_ms:
        return agent_default_ms
    return default_ms
