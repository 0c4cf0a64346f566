"""What-if edits of a status — every one `pacer simulate`/`pacer explain` (and
anything else that asks "what if") can make, in one place — pure.

- `node_down`: the node left the cluster cleanly (expected down);
- `node_fail`: the node was lost without warning (expected member: it must be
  fenced before its resources can move, when stonith is enabled);
- `fail` (`RSC:NODE`): the recurring monitor of RSC failed on NODE, recorded
  in its history and counted in NODE's fail-count for RSC, as crm_simulate's
  `-i RSC_monitor_10000@NODE=1` does, so migration-threshold applies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

from pacer.model.definition import Definition, resource_index
from pacer.model.errors import close_matches
from pacer.status.types import OP_DONE, NodeState, OpRecord, ResourceHistory, Status


class WhatIfError(ValueError):
    """A what-if that names no known node or resource, or is malformed."""


@dataclass(frozen=True)
class WhatIf:
    node_down: tuple[str, ...] = ()
    node_fail: tuple[str, ...] = ()
    fail: tuple[str, ...] = ()  # RSC:NODE

    def __bool__(self) -> bool:
        return bool(self.node_down or self.node_fail or self.fail)


def apply_what_if(defn: Definition, status: Status, what: WhatIf, now: int) -> Status:
    """`status` edited by `what`; `now` (epoch s) stamps the injected failures."""
    if not what:
        return status
    _check(defn, what)
    states = dict(status.node_states)
    for n in what.node_down:
        ns = states.get(n, NodeState(name=n))
        states[n] = replace(ns, in_ccm="false", crmd="offline", join="down", expected="down")
    for n in what.node_fail:
        ns = states.get(n, NodeState(name=n))
        states[n] = replace(ns, in_ccm="false", crmd="offline", join="down", expected="member")
    for spec in what.fail:
        rsc, _, node = spec.partition(":")
        ns = states.get(node, NodeState(name=node))
        hist = list(ns.history)
        call = 1 + max((op.call_id for h in hist for op in h.ops), default=0)
        op = OpRecord(rsc=rsc, node=node, operation="monitor", interval_ms=10000, call_id=call,
                      rc=1, op_status=OP_DONE, expected_rc=0, id=f"{rsc}_last_failure_0")
        for i, h in enumerate(hist):
            if h.rsc == rsc:
                hist[i] = replace(h, ops=h.ops + (op,))
                break
        else:
            hist.append(ResourceHistory(rsc=rsc, node=node, ops=(op,)))
        states[node] = replace(ns, history=tuple(hist))
    return _count_failures(replace(status, node_states=states), what.fail, now)


def _check(defn: Definition, what: WhatIf) -> None:
    nodes = [n.name for n in defn.nodes]
    for n in what.node_down + what.node_fail:
        if n not in nodes:
            raise WhatIfError(_unknown("node", n, nodes))
    rscs = sorted(resource_index(defn.resources))
    for spec in what.fail:
        rsc, sep, node = spec.partition(":")
        if not sep or not rsc or not node:
            raise WhatIfError(f"--fail {spec!r}: expected RSC:NODE, e.g. --fail vip:node1")
        if rsc not in rscs:
            raise WhatIfError(f"--fail {spec!r}: " + _unknown("resource", rsc, rscs))
        if node not in nodes:
            raise WhatIfError(f"--fail {spec!r}: " + _unknown("node", node, nodes))


def _unknown(kind: str, name: str, known: list[str]) -> str:
    near = close_matches(name, known)
    if near:
        hint = "did you mean " + " or ".join(repr(x) for x in near) + "?"
    else:
        hint = f"{kind}s are: {', '.join(known) if known else '(none)'}"
    return f"unknown {kind} {name!r}; {hint}"


def _count_failures(status: Status, fail: tuple[str, ...], now: int) -> Status:
    """Each injected failure counted as crm_simulate's `-i RSC_monitor_10000@NODE=1`
    counts it: the node's fail-count attribute goes up and last-failure is
    stamped, which is what migration-threshold and failure-timeout read."""
    if not fail:
        return status
    per_op = _feature_at_least(status.feature_set, (3, 0, 13))
    states = dict(status.node_states)
    for spec in fail:
        rsc, _, node = spec.partition(":")
        ns = states.get(node, NodeState(name=node))
        attrs = dict(ns.transient)
        suffix = f"{rsc}#monitor_10000" if per_op else rsc
        try:
            count = int(attrs.get(f"fail-count-{suffix}", "0"))
        except ValueError:
            count = 0
        attrs[f"fail-count-{suffix}"] = str(count + 1)
        attrs[f"last-failure-{suffix}"] = str(now)
        states[node] = replace(ns, transient=MappingProxyType(attrs))
    return replace(status, node_states=states)


def _feature_at_least(feature_set: str, want: tuple[int, ...]) -> bool:
    try:
        return tuple(int(x) for x in feature_set.split(".")) >= want
    except ValueError:
        return True
