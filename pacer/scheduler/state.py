"""Step 1, state: the snapshot read into a plan, and what history and options
mean for placement, before any score is computed.

The cluster options are typed (options.py), node health read from membership
facts (nodes.py), each resource joined with its history (resources.py, with
history.py and, for clones, clones.py). Then failures decide on-fail effects
(stop the resource, put the node in standby, fence the node, block the
resource), unclean nodes decide whether their resources count as active, and
unmanaged resources stay where they are.
"""

from __future__ import annotations

from pacer.model.definition import Definition
from pacer.model.meta import STOPPED
from pacer.scheduler.history import NodeHistory
from pacer.scheduler.nodes import interpret_nodes
from pacer.scheduler.options import ClusterOptions
from pacer.scheduler.plan import Plan, can_fence, startup_disabled
from pacer.scheduler.resources import Rsc, build_resources
from pacer.status.types import Status


def read_state(defn: Definition, status: Status, now: int) -> Plan:
    """The plan of a run: options, node health, resources with their history,
    and the effects of failures, unclean nodes and unmanaged resources."""
    opts = ClusterOptions.from_properties(defn.properties)
    nodes = interpret_nodes(defn, status, opts)
    rscs = build_resources(defn, status, nodes, opts, now)
    plan = Plan(defn=defn, status=status, opts=opts, nodes=nodes, rscs=rscs, now=now)
    prepare_state(plan)
    return plan


def _container_of(plan: Plan, r: Rsc) -> Rsc | None:
    """The primitive that meta `container` names (not r itself), if any."""
    c = plan.rscs.by_id.get(r.meta.get("container", ""))
    if c is None or c is r or c.kind != "primitive":
        return None
    return c


def _default_on_fail(plan: Plan, r: Rsc, nh: NodeHistory) -> bool:
    """Was the failure's on-fail left to its default (no op, no op_defaults)?"""
    op = nh.failed_op
    if op is None:
        return True
    if any(o.name == op.operation and o.interval_ms == op.interval_ms and o.on_fail
           for o in (r.prim.operations if r.prim is not None else ())):
        return False
    return not any("on-fail" in s.values for s in plan.defn.op_defaults)


def prepare_state(plan: Plan) -> None:
    opts = plan.opts
    nodes = plan.nodes
    disabled = startup_disabled(plan)
    for r in plan.rscs.primitives:
        if opts.maintenance_mode or disabled:
            r.meta["is-managed"] = "false"
        # Failures and their on-fail policy.
        container = _container_of(plan, r)
        for n in list(r.running_on):
            nh = r.history.get(n)
            info = nodes.get(n)
            if nh is None or info is None:
                continue
            if not info.online:
                if nh.stop_failed and nh.ban_node and not can_fence(plan, info):
                    # A stop that failed hard (not installed, ...) on a lost node
                    # that cannot be fenced (no quorum): blocked there, nothing
                    # more is asked of it (stop-failure-no-quorum; a plain
                    # failed stop shows a blocked stop instead, rec-node-10).
                    r.blocked = True
                continue  # a lost node's failures end with the node (fenced or ignored)
            if container is not None and (nh.failed or nh.stop_failed) \
                    and _default_on_fail(plan, r, nh):
                # on-fail=restart-container (the default inside a container): the
                # container restarts, and takes down what failed in it.
                container.restart_needed.add(n)
                if nh.stop_failed:
                    r.running_on.remove(n)
                    if n in r.failed_nodes:
                        r.failed_nodes.remove(n)
                continue
            if nh.fatal:
                r.next_role = STOPPED
            if nh.stop_failed:
                if nh.on_fail == "block":
                    r.blocked = True
                elif opts.stonith_enabled:
                    if not info.unclean:
                        info.unclean = True
                        info.fence_reason = f"{r.id} failed there"
                        r.fence_causes.add(n)
                else:
                    r.blocked = True
                continue
            if not nh.failed:
                continue
            of = nh.on_fail
            if of == "block":
                r.blocked = True
            elif of == "stop":
                r.next_role = STOPPED
            elif of == "standby":
                info.standby_onfail = True
            elif of == "fence" and opts.stonith_enabled and not info.unclean:
                info.unclean = True
                info.fence_reason = f"{r.id} failed there"
                r.fence_causes.add(n)
        if len(r.running_on) > 1:
            policy = r.multiple_active
            if policy == "block":
                r.blocked = True
                g = r.parent
                if g is not None and g.kind == "group" and g.multiple_active == "block":
                    # A group configured to block is blocked as a whole.
                    for m in g.primitives():
                        m.blocked = True
            elif policy == "stop_only":
                r.next_role = STOPPED
        if r.target_role == "Stopped":
            r.next_role = STOPPED
        if r.orphan:
            # An extra instance of a configured clone is stopped whatever the option.
            if opts.stop_orphan_resources or r.clone is not None:
                r.next_role = STOPPED
            else:
                r.meta["is-managed"] = "false"

    for r in plan.rscs.primitives:
        # Resources on nodes that are down: active only if the node must be fenced.
        kept = []
        for n in r.running_on:
            info = nodes.get(n)
            if info is None:
                continue
            if info.unclean and not opts.stonith_enabled:
                continue  # never fenced: treated as stopped there
            if not info.online and not info.unclean:
                if info.maintenance:
                    r.meta["is-managed"] = "false"
                    kept.append(n)
                    continue
                if not r.managed:
                    # Only a managed resource thought active there calls for
                    # fencing; an unmanaged one is left as it is (unmanaged-promoted).
                    kept.append(n)
                    continue
                if opts.stonith_enabled:
                    info.unclean = True
                    info.fence_reason = f"{r.id} is thought to be active there"
                else:
                    continue
            if info.maintenance:
                r.meta["is-managed"] = "false"
            kept.append(n)
        r.running_on = kept
        r.failed_nodes = [n for n in r.failed_nodes if n in kept and nodes[n].online]
        if (not r.managed or r.blocked) and r.running_on:
            r.fixed_node = r.running_on[0]
