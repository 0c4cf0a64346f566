"""Part of the result: the `Transition Summary:` block and the action lines,
in crm_simulate's line format.

One line per fenced node, then per primitive whose state changes, with the
verb a reader expects (Start, Stop, Move, Recover, Restart, Migrate, ...) and
the reason carried by the action that explains it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacer.model.meta import PROMOTED, STARTED, STOPPED, UNPROMOTED
from pacer.scheduler.graph import Action
from pacer.scheduler.plan import Plan
from pacer.scheduler.resources import Rsc


@dataclass
class Line:
    verb: str
    rsc: str
    details: str
    suffix: str = ""


def _suffix(a: Action | None, fallback: Action | None = None, blocked_from: Action | None = None
            ) -> str:
    reason = None
    for x in (a, fallback):
        if x is not None and x.reason:
            reason = x.reason
            break
    blk = blocked_from if blocked_from is not None else a
    blocked = blk is not None and not blk.runnable
    if reason:
        return f"due to {reason}" + (" (blocked)" if blocked else "")
    return "blocked" if blocked else ""


def _details(frm: str | None, to: str | None, role: str, nxt: str) -> str:
    """crm_simulate's detail text for an instance with roles (promotable clones)."""
    show = role in (UNPROMOTED, PROMOTED) or nxt == PROMOTED
    if frm is None:
        return f"{role} -> {nxt} {to}" if show else f"{to}"
    if to is None:
        return f"{role} {frm}" if show else frm
    if frm == to and role == nxt:
        return f"{role} {frm}" if show else frm
    if role == nxt:
        return f"{frm} -> {to} {role}" if show else f"{frm} -> {to}"
    if frm == to:
        return f"{role} -> {nxt} {frm}"
    return f"{role} {frm} -> {nxt} {to}"


def _role_lines(r: Rsc) -> list[Line]:
    start: Action = r.actions["start"]
    stops: list[Action] = r.actions.get("stops", [])
    promote: Action | None = r.actions.get("promote")
    demotes: list[Action] = r.actions.get("demotes", [])
    cur = r.running_on
    frm = cur[0] if cur else None
    role = STOPPED if frm is None else (PROMOTED if r.roles.get(frm) == PROMOTED
                                         else UNPROMOTED)
    nxt = r.next_role if r.next_role in (PROMOTED, STOPPED) else UNPROMOTED
    target = start.node
    stopping = target is None or not start.runnable
    if frm is None:
        if target is None or not start.required:
            return []
        if nxt == PROMOTED and promote is not None:
            return [Line("Promote", r.id, _details(None, target, STOPPED, PROMOTED),
                         # (only the promote's own reason: promoted-9)
                         _suffix(promote, None, promote if not promote.runnable else start))]
        return [Line("Start", r.id, target, _suffix(start))]
    if stopping:
        if not any(s.required for s in stops) and not start.required:
            return []
        return [Line("Stop", r.id, _details(s.node, None, role, STOPPED),
                     _suffix(s, start, s)) for s in stops]
    if len(cur) > 1:
        return _primitive_lines(r, plain=True)
    if nxt == STOPPED:
        nxt = role
    promoting = promote is not None and promote.required and promote.runnable
    demoting = any(d.required for d in demotes)
    if target == frm:
        if start.required:
            verb = "Recover" if frm in r.failed_nodes else "Restart"
            if not promoting and nxt == PROMOTED and role != PROMOTED:
                nxt = UNPROMOTED
            return [Line(verb, r.id, _details(frm, frm, role, nxt),
                         _suffix(start, stops[0] if stops else None))]
        if promoting and demoting:
            return [Line("Re-promote", r.id, _details(frm, frm, role, role), _suffix(promote))]
        if promote is not None and promote.required:
            return [Line("Promote", r.id, _details(frm, frm, role, PROMOTED),
                         _suffix(promote))]
        if demoting:
            d = next(d for d in demotes if d.required)
            return [Line("Demote", r.id, _details(frm, frm, role, UNPROMOTED), _suffix(d))]
        return []
    if not start.required and not any(s.required for s in stops):
        return []
    if nxt == PROMOTED and not promoting:
        nxt = UNPROMOTED
    verb = "Migrate" if r.migrating else ("Recover" if r.failed_nodes else "Move")
    return [Line(verb, r.id, _details(frm, target, role, nxt),
                 _suffix(start, stops[0] if stops else None))]


def _primitive_lines(r: Rsc, plain: bool = False) -> list[Line]:
    if "start" not in r.actions:
        return []
    if not r.managed or r.blocked:
        return []  # left alone: Pacemaker prints nothing for it
    if r.promotable and not plain:
        return _role_lines(r)
    start: Action = r.actions["start"]
    stops: list[Action] = r.actions.get("stops", [])
    cur = r.running_on
    out: list[Line] = []
    if not cur:
        if start.node is not None and start.required:
            out.append(Line("Start", r.id, start.node, _suffix(start)))
        return out
    if len(cur) > 1:
        # Copies on nodes being fenced stop with their node: not multiply active.
        live = [(n, s) for n, s in zip(cur, stops, strict=False) if not s.pseudo]
        if len(live) == 1:
            cur = [live[0][0]]
            stops = [live[0][1]]
    current = cur[0]
    target = start.node
    stopping = target is None or not start.runnable
    if stopping:
        for s in stops:
            out.append(Line("Stop", r.id, s.node or "", _suffix(s, start, s)))
        return out
    if not start.required and not any(s.required for s in stops):
        reload = r.actions.get("reload")
        if reload is not None and reload.required:
            out.append(Line("Reload", r.id, reload.node or ""))
        return out
    failed = bool(r.failed_nodes)
    if len(cur) > 1:
        # Multiply active: it stops everywhere and starts on its node, which
        # reads as a move unless that is the first node it is active on.
        if target == current:
            out.append(Line("Recover" if failed else "Restart", r.id, target, _suffix(start)))
        else:
            # (a stop that failed on a node being fenced still makes it a
            # recovery: stonith-0)
            failed = failed or any(r.history[n].stop_failed for n in cur if n in r.history)
            out.append(Line("Recover" if failed else "Move", r.id,
                            _move_details(r, current, target), _suffix(start)))
        return out
    if target == current:
        if not start.required:
            return out
        verb = "Recover" if current in r.failed_nodes else "Restart"
        # A restart in place reports why it starts again, never why it stops.
        out.append(Line(verb, r.id, target, _suffix(start)))
        return out
    if r.migrating:
        out.append(Line("Migrate", r.id, f"{current} -> {target}"))
        return out
    # A failure on a node fenced for another resource's failure goes with the
    # node: it just moves (stonith-0; fenced for its own: rec-rsc-5).
    failed = any(s.node in r.failed_nodes and (not s.pseudo or s.node in r.fence_causes)
                 for s in stops)
    verb = "Recover" if failed else "Move"
    # A move reports why its stop happens (the start's reason, e.g. a definition
    # change, is moot once it starts afresh elsewhere).
    out.append(Line(verb, r.id, f"{current} -> {target}",
                    _suffix(stops[0] if stops else None, None, start)))
    return out


def _move_details(r: Rsc, current: str, target: str | None) -> str:
    """`from -> to`, with the roles when it was promoted (a primitive found
    promoted, e.g. by a probe, runs as a plain started resource again)."""
    if r.roles.get(current) == PROMOTED:
        return f"{PROMOTED} {current} -> {STARTED} {target}"
    return f"{current} -> {target}"


def print_order(plan: Plan) -> list[Rsc]:
    configured = [r for r in plan.rscs.top if not r.orphan]
    orphans = [r for r in plan.rscs.top if r.orphan]
    configured.sort(key=lambda r: -r.priority)
    out: list[Rsc] = []
    for r in configured + orphans:
        out.extend(r.primitives())
    return out


def summary_lines(plan: Plan) -> list[str]:
    out: list[str] = []
    for a in plan.actions:
        if a.task == "stonith":
            out.append(f"  * Fence ({a.fence_action}) {a.node} '{a.fence_reason}'")
    lines: list[Line] = []
    for r in print_order(plan):
        lines.extend(_primitive_lines(r))
    width = 5
    for ln in lines:
        if len(ln.rsc) > width:
            width = len(ln.rsc) + 2
    dwidth = max([5] + [len(ln.details) for ln in lines])
    for ln in lines:
        text = f"  * {ln.verb:<8}   {ln.rsc:<{width}}   ( {ln.details:>{dwidth}} )"
        if ln.suffix:
            text += "  " + ln.suffix
        out.append(text)
    return out


def action_lines(plan: Plan) -> list[str]:
    out: list[str] = []
    for a in plan.actions:
        if a.task == "stonith":
            out.append(f"  * Fencing {a.node} ({a.fence_action})")
            continue
        if not a.required or not a.runnable or a.node is None and not a.pseudo:
            continue
        if a.pseudo and a.rsc_id is None:
            out.append(f"  * Pseudo action:   {a.task}")
        elif a.pseudo:
            out.append(f"  * Pseudo action:   {a.rsc_id}_{a.task}_0")
        else:
            task = a.task if not a.interval_ms else f"{a.task}={a.interval_ms}"
            out.append(f"  * Resource action: {a.rsc_id:<15} {task} on {a.node}")
    return out
