"""The cluster as one scheduling run saw it, in words: what `pacer simulate`
prints before the transition, and `--show-scores`; `pacer explain` uses the
node health words too.

Pure rendering of the scheduler's result (`ScheduleResult.view`): it reads
decisions, it never makes one.

- `status_lines(result)`  the "Current cluster status" block (crm_mon's layout)
- `score_table(result)`   the allocation scores per resource and node, as a table
"""

from __future__ import annotations

from pacer.model.meta import format_score
from pacer.scheduler import NodeHealth, ResourceState, ScheduleResult

# --------------------------------------------------------------------------- nodes


def node_health(info: NodeHealth) -> str | None:
    """Why resources cannot be placed on this node, in words; None when they can."""
    if info.unclean:
        reason = f": {info.fence_reason}" if info.fence_reason else ""
        state = "online" if info.online else "offline"
        return f"unclean ({state}), it must be fenced{reason}"
    if not info.online:
        return "offline"
    if info.pending:
        return "pending (still joining the cluster)"
    if info.shutdown:
        return "shutting down"
    if info.standby:
        return "in standby"
    if info.standby_onfail:
        return "in standby because a resource with on-fail=standby failed there"
    if info.maintenance:
        return "in maintenance mode"
    return None


def _node_state_word(info: NodeHealth) -> str:
    """crm_mon's word for a node that is not plainly online or offline."""
    if info.unclean:
        return "UNCLEAN (online)" if info.online else "UNCLEAN (offline)"
    if info.pending:
        return "pending"
    if info.standby or info.standby_onfail:
        return "standby" if info.online else "OFFLINE (standby)"
    if info.maintenance:
        return "maintenance"
    if info.shutdown:
        return "shutting down"
    return "online" if info.online else "OFFLINE"


# --------------------------------------------------------------------------- status


def _primitive_state(r: ResourceState) -> str:
    nodes = list(r.active)
    failed = set(r.failed_on)
    if not nodes:
        text = "Stopped"
        if r.target_role == "Stopped":
            text += " (disabled)"
    elif len(nodes) == 1:
        n = nodes[0]
        role = r.roles.get(n, "Started")
        if r.promotable and role != "Promoted":
            role = "Unpromoted"
        text = f"FAILED {n}" if n in failed else f"{role} {n}"
    else:
        parts = []
        for n in nodes:
            parts.append(f"{n} (FAILED)" if n in failed else n)
        text = f"Started [ {' '.join(parts)} ]"
    flags = []
    if r.orphan:
        flags.append("ORPHANED")
    if nodes and not r.managed:
        flags.append("unmanaged")
    if r.blocked:
        flags.append("blocked")
    if flags:
        text += " (" + ", ".join(flags) + ")"
    return text


def _resource_status_lines(r: ResourceState, indent: str) -> list[str]:
    if r.kind == "primitive":
        if r.orphan and not r.active:
            return []  # stopped orphans are history, not resources
        return [f"{indent}* {r.id}\t({r.agent or '?'}):\t {_primitive_state(r)}"]
    if r.kind == "group":
        head = f"{indent}* Resource Group: {r.id}:"
    else:
        child = r.clone_child or "?"
        kind = " (promotable)" if r.promotable else ""
        head = f"{indent}* Clone Set: {r.id} [{child}]{kind}:"
        out = [head]
        stopped = 0
        for c in r.children:
            if any(p.active for p in c.primitives()):
                out.extend(_resource_status_lines(c, indent + "  "))
            elif not c.orphan:
                stopped += 1
        if stopped:
            out.append(f"{indent}  * Stopped: {stopped} instance{'s' if stopped > 1 else ''}")
        return out
    out = [head]
    for c in r.children:
        out.extend(_resource_status_lines(c, indent + "  "))
    return out


def status_lines(result: ScheduleResult, title: str = "Current cluster status:") -> list[str]:
    """The cluster as the scheduler saw it: node health, then where each resource is."""
    view = result.view
    out = [title, "  * Node List:"]
    online: list[str] = []
    offline: list[str] = []
    special: list[str] = []
    for info in view.nodes:
        word = _node_state_word(info)
        if word == "online":
            online.append(info.name)
        elif word == "OFFLINE":
            offline.append(info.name)
        else:
            special.append(f"    * Node {info.name}: {word}")
    out.extend(special)
    if online:
        out.append(f"    * Online: [ {' '.join(online)} ]")
    if offline:
        out.append(f"    * OFFLINE: [ {' '.join(offline)} ]")
    out.append("")
    out.append("  * Full List of Resources:")
    body: list[str] = []
    for r in view.resources:
        body.extend(_resource_status_lines(r, "    "))
    out.extend(body or ["    * No resources"])
    return out


# --------------------------------------------------------------------------- scores


def placement_of(result: ScheduleResult) -> dict[str, str | None]:
    return dict(result.transition.placement)


def scores_of(result: ScheduleResult) -> dict[str, dict[str, int]]:
    """Final allocation scores per primitive and node (nodes in configuration order)."""
    order = [n.name for n in result.view.nodes]
    final_scores = result.view.explanation.final_scores
    out: dict[str, dict[str, int]] = {}
    for r in result.view.primitives:
        scores = final_scores.get(r.id)
        if scores is None:
            continue
        out[r.id] = {n: scores[n] for n in order if n in scores}
        out[r.id].update({n: s for n, s in scores.items() if n not in out[r.id]})
    return out


def score_table(result: ScheduleResult) -> list[str]:
    """Allocation scores as a table: one row per primitive, one column per node.

    `*` marks the node each resource is placed on; `.` a node it may not run on at all
    (an asymmetric cluster with no location constraint allowing it). Nodes that
    cannot run resources are listed under the table.
    """
    view = result.view
    nodes = [n.name for n in view.nodes]
    scores = scores_of(result)
    placement = placement_of(result)
    rows = [r.id for r in view.primitives if r.id in scores]
    out = ["Allocation scores (* = placed there, . = not allowed there):"]
    if not rows or not nodes:
        out.append("  (no resources)" if not rows else "  (no nodes)")
        return out
    cells: list[list[str]] = []
    for rid in rows:
        row = []
        for n in nodes:
            if n not in scores[rid]:
                row.append(".")
            else:
                mark = "*" if placement.get(rid) == n else ""
                row.append(mark + format_score(scores[rid][n]))
        cells.append(row)
    first = max([len("resource")] + [len(r) for r in rows])
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(nodes)]
    head = "  " + "resource".ljust(first) + "".join(
        "  " + n.rjust(w) for n, w in zip(nodes, widths, strict=True))
    out.append(head.rstrip())
    for rid, row in zip(rows, cells, strict=True):
        line = "  " + rid.ljust(first) + "".join(
            "  " + c.rjust(w) for c, w in zip(row, widths, strict=True))
        where = placement.get(rid)
        if where is None:
            line += "   (stopped)"
        out.append(line.rstrip())
    unusable = [(n.name, node_health(n)) for n in view.nodes]
    unusable = [(n, h) for n, h in unusable if h]
    if unusable:
        out.append("  Nodes that cannot run resources now:")
        for n, h in unusable:
            out.append(f"    {n}: {h}")
    return out
