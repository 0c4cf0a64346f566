"""What-if edits of a status, for `pacer simulate --node-down/--node-fail/--fail`."""

from __future__ import annotations

from dataclasses import replace

from pacer.model.definition import Definition
from pacer.status.types import OP_DONE, NodeState, OpRecord, ResourceHistory, Status


class WhatIfError(ValueError):
    pass


def apply_what_if(defn: Definition, status: Status, *, node_down: tuple[str, ...] = (),
                  node_fail: tuple[str, ...] = (), fail: tuple[str, ...] = ()) -> Status:
    names = {n.name for n in defn.nodes}
    states = dict(status.node_states)
    for n in node_down + node_fail:
        if n not in names:
            raise WhatIfError(f"unknown node {n!r}; nodes are: {', '.join(sorted(names))}")
    for n in node_down:
        ns = states.get(n, NodeState(name=n))
        states[n] = replace(ns, in_ccm="false", crmd="offline", join="down", expected="down")
    for n in node_fail:
        ns = states.get(n, NodeState(name=n))
        states[n] = replace(ns, in_ccm="false", crmd="offline", join="down", expected="member")
    for spec in fail:
        rsc, sep, node = spec.partition(":")
        if not sep or node not in names:
            raise WhatIfError(f"--fail expects RSC:NODE with a known node, got {spec!r}")
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
    return replace(status, node_states=states)
