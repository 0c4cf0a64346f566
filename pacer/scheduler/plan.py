"""The plan: the working state of one scheduling run, which every step of the
pipeline takes and fills (api.py draws the steps).

Private to the scheduler: it is built by `state.read_state`, changed in place
by each step, and read by `result.build_result`, which is all that leaves a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacer.model.definition import Definition
from pacer.scheduler.explanation import Explain
from pacer.scheduler.graph import Action
from pacer.scheduler.nodes import NodeInfo, suicide
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.resources import Resources, Rsc
from pacer.status.types import Status


@dataclass
class Plan:
    defn: Definition
    status: Status
    opts: ClusterOptions
    nodes: dict[str, NodeInfo]
    rscs: Resources
    now: int
    explain: Explain = field(default_factory=Explain)
    actions: list[Action] = field(default_factory=list)
    fences: dict[str, Action] = field(default_factory=dict)
    pseudo: dict[tuple[str, str], Action] = field(default_factory=dict)
    # Interleaved mandatory start orders (first clone, then clone), for ordering.py.
    interleaved_starts: list[tuple[Rsc, Rsc]] = field(default_factory=list)
    # Per top-level resource (by id()): the colocations an unrunnable start blocks.
    blocking_colocations: dict[int, list] = field(default_factory=dict)
    # Nodes unfenced again because the unfencing device running there changed.
    reunfenced: dict[str, Action] = field(default_factory=dict)

    def new(self, task: str, node: str | None, rsc: Rsc | None = None, **kw) -> Action:
        a = Action(uid=len(self.actions), task=task, node=node, rsc=rsc,
                   rsc_id=rsc.id if rsc is not None else kw.pop("rsc_id", None), **kw)
        self.actions.append(a)
        return a

    def pseudo_action(self, rsc: Rsc, task: str) -> Action:
        k = (rsc.id, task)
        a = self.pseudo.get(k)
        if a is None:
            a = self.new(task, None, rsc, pseudo=True)
            self.pseudo[k] = a
        return a


def fence_node(plan: Plan, node: str, reason: str) -> Action | None:
    if not plan.opts.stonith_enabled:
        return None
    a = plan.fences.get(node)
    if a is None:
        a = plan.new("stonith", node, rsc_id=None, required=True, fence_reason=reason)
        a.fence_action = plan.opts.stonith_action
        plan.fences[node] = a
    return a


def startup_disabled(plan: Plan) -> bool:
    """Fencing is required but nothing could fence (no fence device, no watchdog):
    Pacemaker then disables resource start-up, and in fact every action."""
    return (plan.opts.stonith_enabled and not plan.opts.have_watchdog
            and not any(r.prim is not None and r.prim.agent_class == "stonith" and not r.orphan
                        for r in plan.rscs.primitives))


def can_fence(plan: Plan, info: NodeInfo | None = None) -> bool:
    """Fencing is possible with quorum (or when quorum does not matter); without
    it, only a node still online in our membership can be fenced
    (stop-failure-no-quorum)."""
    if startup_disabled(plan):
        return False
    return plan.opts.stonith_enabled and (
        plan.status.have_quorum or plan.opts.no_quorum_policy == "ignore"
        or suicide(plan.status, plan.opts) or (info is not None and info.online))
