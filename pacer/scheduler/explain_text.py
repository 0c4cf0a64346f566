"""Scheduling decisions in plain words: what `pacer simulate` and `pacer explain` print.

Pure rendering. The input is a `ScheduleResult` from `pacer.scheduler.api.schedule`
(its `plan` carries node health and each resource's state and actions, its `explain`
the score contributions recorded during placement); the output is text lines or
plain data for JSON. Nothing here changes a decision: it only reads what the
scheduler recorded, so what it says is what the scheduler did.

- `status_lines(result)`      the "Current cluster status" block (crm_mon's layout)
- `score_table(result)`       the allocation scores per resource and node, as a table
- `explain_resource(result, rsc_id)` → `ResourceExplanation`, and `render(...)` → lines
"""

from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pacer.model.meta import INFINITY, MINUS_INFINITY, format_score

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    from pacer.scheduler.api import ScheduleResult
    from pacer.scheduler.nodes import NodeInfo
    from pacer.scheduler.resources import Rsc

WIDTH = 100


# --------------------------------------------------------------------------- nodes


def node_health(info: NodeInfo) -> str | None:
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
    if getattr(info, "standby_onfail", False):
        return "in standby because a resource with on-fail=standby failed there"
    if info.maintenance:
        return "in maintenance mode"
    return None


def _node_state_word(info: NodeInfo) -> str:
    """crm_mon's word for a node that is not plainly online or offline."""
    if info.unclean:
        return "UNCLEAN (online)" if info.online else "UNCLEAN (offline)"
    if info.pending:
        return "pending"
    if info.standby or getattr(info, "standby_onfail", False):
        return "standby" if info.online else "OFFLINE (standby)"
    if info.maintenance:
        return "maintenance"
    if info.shutdown:
        return "shutting down"
    return "online" if info.online else "OFFLINE"


# --------------------------------------------------------------------------- status


def _agent(r: Rsc) -> str:
    prim = getattr(r, "prim", None)
    return prim.agent if prim is not None else "?"


def _primitive_state(r: Rsc) -> str:
    nodes = list(r.running_on)
    failed = set(r.failed_nodes)
    roles = getattr(r, "roles", {}) or {}
    if not nodes:
        text = "Stopped"
        if r.target_role == "Stopped":
            text += " (disabled)"
    elif len(nodes) == 1:
        n = nodes[0]
        role = roles.get(n, "Started")
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
    if getattr(r, "blocked", False):
        flags.append("blocked")
    if flags:
        text += " (" + ", ".join(flags) + ")"
    return text


def _resource_status_lines(r: Rsc, indent: str) -> list[str]:
    if r.kind == "primitive":
        if r.orphan and not r.running_on:
            return []  # stopped orphans are history, not resources
        return [f"{indent}* {r.id}\t({_agent(r)}):\t {_primitive_state(r)}"]
    if r.kind == "group":
        head = f"{indent}* Resource Group: {r.id}:"
    else:
        child = r.config.child.id if r.config is not None else "?"  # type: ignore[union-attr]
        kind = " (promotable)" if r.promotable else ""
        head = f"{indent}* Clone Set: {r.id} [{child}]{kind}:"
        out = [head]
        stopped = 0
        for c in r.children:
            if any(p.running_on for p in c.primitives()):
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
    plan = result.plan
    out = [title, "  * Node List:"]
    online: list[str] = []
    offline: list[str] = []
    special: list[str] = []
    for name, info in plan.nodes.items():
        word = _node_state_word(info)
        if word == "online":
            online.append(name)
        elif word == "OFFLINE":
            offline.append(name)
        else:
            special.append(f"    * Node {name}: {word}")
    out.extend(special)
    if online:
        out.append(f"    * Online: [ {' '.join(online)} ]")
    if offline:
        out.append(f"    * OFFLINE: [ {' '.join(offline)} ]")
    out.append("")
    out.append("  * Full List of Resources:")
    body: list[str] = []
    for r in plan.rscs.top:
        body.extend(_resource_status_lines(r, "    "))
    out.extend(body or ["    * No resources"])
    return out


# --------------------------------------------------------------------------- scores


def placement_of(result: ScheduleResult) -> dict[str, str | None]:
    return dict(result.transition.placement)


def scores_of(result: ScheduleResult) -> dict[str, dict[str, int]]:
    """Final allocation scores per primitive and node (nodes in configuration order)."""
    order = list(result.plan.nodes)
    out: dict[str, dict[str, int]] = {}
    for r in result.plan.rscs.primitives:
        scores = result.explain.final_scores.get(r.id)
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
    plan = result.plan
    nodes = list(plan.nodes)
    scores = scores_of(result)
    placement = placement_of(result)
    rows = [r.id for r in plan.rscs.primitives if r.id in scores]
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
    unusable = [(n, node_health(info)) for n, info in plan.nodes.items()]
    unusable = [(n, h) for n, h in unusable if h]
    if unusable:
        out.append("  Nodes that cannot run resources now:")
        for n, h in unusable:
            out.append(f"    {n}: {h}")
    return out


# --------------------------------------------------------------------------- explain


@dataclass
class NodeVerdict:
    node: str
    health: str | None  # why it cannot run resources; None when it can
    score: int | None  # final score; None when the resource may not run there at all
    contributions: list[dict[str, Any]] = field(default_factory=list)
    chosen: bool = False

    @property
    def eligible(self) -> bool:
        return self.health is None and self.score is not None and self.score >= 0


@dataclass
class PrimitiveExplanation:
    id: str
    agent: str
    parent: str | None
    active_on: list[str]
    failed_on: list[str]
    active_before: list[str] | None  # before the what-if edits (None: there were none)
    chosen: str | None
    chosen_score: int | None
    outcome: str  # what happens to it, in one line
    nodes: list[NodeVerdict]
    why: list[str]
    happens: list[str]  # Transition Summary lines for it ("" when nothing changes)
    actions: list[str]  # its required actions, in words
    constraints: list[str]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for v, nv in zip(d["nodes"], self.nodes, strict=True):
            v["eligible"] = nv.eligible
        return d


@dataclass
class ResourceExplanation:
    id: str
    kind: str
    headline: list[str]
    primitives: list[PrimitiveExplanation]

    def to_json(self) -> dict[str, Any]:
        return {"resource": self.id, "kind": self.kind, "headline": self.headline,
                "primitives": [p.to_json() for p in self.primitives]}


class UnknownResource(LookupError):
    """No resource of that id; `suggestions` holds close matches."""

    def __init__(self, rsc_id: str, suggestions: list[str], known: list[str]):
        self.rsc_id = rsc_id
        self.suggestions = suggestions
        self.known = known
        if suggestions:
            hint = "did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
        elif known:
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            hint = f"resources are: {shown}"
        else:
            hint = "the configuration has no resources"
        super().__init__(f"no resource {rsc_id!r}; {hint}")


def close_matches(word: str, choices: list[str]) -> list[str]:
    lower = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lower), n=3, cutoff=0.6)
    out = [lower[f] for f in found]
    # A prefix or substring is also a good guess ("glance" for "glance-api").
    for c in choices:
        if len(out) >= 3:
            break
        if c not in out and word and (word.lower() in c.lower()):
            out.append(c)
    return out


def _signed(score: int) -> str:
    text = format_score(score)
    return text if text.startswith("-") else "+" + text


_GROUP_INTERNAL = re.compile(r"colocation (\S+):internal with (\S+?)(?=:?(?:\s|$))")
_SUMMARY_RE = re.compile(r"^\s*\*\s+(\S+)\s+(\S+)\s+\(")


def summary_lines_for(result: ScheduleResult, rsc_id: str) -> list[str]:
    out = []
    for line in result.summary_lines:
        m = _SUMMARY_RE.match(line)
        if m and m.group(1) != "Fence" and m.group(2) == rsc_id:
            out.append(line.strip())
    return out


def reason_words(reason: str | None) -> str | None:
    """A transition reason (`unrunnable X start`, `node availability`, ...) in words."""
    if not reason:
        return None
    m = re.fullmatch(r"(required|unrunnable) (\S+) (\S+)", reason)
    if m:
        kind, other, task = m.groups()
        verb = {"start": "start", "stop": "stop", "running": "be running",
                "stopped": "be stopped", "promote": "be promoted", "demote": "be demoted",
                "promoted": "be promoted", "demoted": "be demoted"}.get(task, task)
        if kind == "required":
            return (f"{other} must {verb}, and an ordering (order constraint or group) "
                    "makes this action necessary with it")
        return (f"{other} cannot {verb}, and an ordering (order constraint or group) "
                "says this must happen after it")
    fixed = {
        "node availability": "no node is available to run it",
        "no quorum": "this partition has no quorum (no-quorum-policy forbids running it)",
        "quorum freeze": "this partition has no quorum and no-quorum-policy=freeze "
                         "allows nothing new to start",
        "resource definition change": "its parameters changed since it was started",
        "being multiply active": "it was found active on more than one node",
    }
    if reason in fixed:
        return fixed[reason]
    if reason.startswith("colocation with "):
        return (f"it must be colocated with {reason[len('colocation with '):]}, "
                "which cannot run")
    return reason


_BLOCKING = 8 | 16  # Edge.RUNNABLE_LEFT | Edge.ASYMMETRICAL: "first unrunnable ⇒ then unrunnable"


def blocking_chain(a) -> list:
    """The unrunnable actions that make `a` unrunnable, nearest first, down to the root.

    Follows ordering edges backwards ("then cannot run because first cannot") through
    pseudo actions of groups, and stops at an action that is unrunnable for a reason of
    its own (no node, no quorum, ...).
    """
    chain = []
    seen = {id(a)}
    cur = a
    while True:
        nxt = None
        for first, flags in getattr(cur, "edges_in", []):
            if int(flags) & _BLOCKING and not first.runnable and id(first) not in seen:
                nxt = first
                break
        if nxt is None:
            return chain
        seen.add(id(nxt))
        chain.append(nxt)
        cur = nxt


def _own_rsc(a) -> Rsc | None:
    r = getattr(a, "rsc", None)
    return r if r is not None and getattr(r, "kind", None) == "primitive" else None


def _why_unrunnable(a) -> str:
    """Why this one action cannot run, not counting what it is ordered after."""
    r = _own_rsc(a)
    words = reason_words(a.reason) if a.reason and not a.reason.startswith(
        ("unrunnable", "required")) else None
    if words:
        return words
    if a.task == "start" and a.node is None:
        return "no node can run it" if r is None else f"{r.id} has no node it can run on"
    return "it cannot run"


def blocked_sentence(result: ScheduleResult, r: Rsc, a) -> str:
    """Why r's action `a` cannot run, in words, naming the ordering and the root cause."""
    chain = [x for x in blocking_chain(a) if not x.pseudo or x.rsc is None]
    prims = [x for x in chain if _own_rsc(x) is not None and x.rsc_id != r.id]
    if not prims:
        return f"it cannot {a.task}: {_why_unrunnable(a)}"
    first = prims[0]
    root = prims[-1]
    via = order_between(result, first.rsc, r)
    text = f"it must {a.task} after {first.rsc_id} {first.task}s ({via}), "
    if root is first:
        text += f"and {first.rsc_id} cannot {first.task}: {_why_unrunnable(first)}"
    else:
        text += (f"which cannot happen because {root.rsc_id} cannot {root.task}: "
                 f"{_why_unrunnable(root)}")
    return text


def order_between(result: ScheduleResult, first: Rsc, then: Rsc) -> str:
    """The ordering that puts `then` after `first`: an order constraint or a group."""
    def names(x: Rsc) -> set[str]:
        out = set()
        while x is not None:
            out.add(x.id)
            x = x.parent
        return out

    f, t = names(first), names(then)
    for o in result.plan.defn.orders:
        if o.first in f and o.then in t:
            return f"order constraint {o.id}"
        for s1 in o.sets:
            if f & set(s1.resources) and t & {x for s in o.sets for x in s.resources}:
                return f"order set {o.id}"
    if first.parent is not None and first.parent is then.parent and first.parent.kind == "group":
        return f"group {first.parent.id} starts its members in order"
    return "an ordering"


def _action_words(result: ScheduleResult, r: Rsc, a) -> str | None:
    if a.task == "start" and a.node is None:
        return None  # "start nowhere": the stop lines say it
    task = a.task
    if a.interval_ms:
        task = f"{task} (every {a.interval_ms // 1000}s)"
    where = f" on {a.node}" if a.node else ""
    text = f"{task}{where}"
    if getattr(a, "pseudo", False):
        text += (" — implied by fencing: no command runs" if a.task == "stop"
                 else " (pseudo action)")
    if not a.runnable:
        return text + " — BLOCKED: " + blocked_sentence(result, r, a)
    reason = reason_words(a.reason)
    if reason:
        text += " — because " + reason
    return text


def _constraint_lines(result: ScheduleResult, r: Rsc) -> list[str]:
    """Constraints in the definition that name the resource (or its group or clone)."""
    defn = result.plan.defn
    names = {r.id}
    via: dict[str, str] = {}
    p = r.parent
    while p is not None:
        names.add(p.id)
        via[p.id] = f" (through {p.kind} {p.id})"
        p = p.parent

    def named(rid: str | None) -> str | None:
        return rid if rid in names else None

    out: list[str] = []
    for loc in defn.locations:
        targets: list[str] = []
        if loc.rsc is not None and named(loc.rsc):
            targets.append(loc.rsc)
        elif loc.rsc_pattern is not None:
            try:
                if any(re.search(loc.rsc_pattern, n) for n in names):
                    targets.append(f"/{loc.rsc_pattern}/")
            except re.error:
                pass
        for s in loc.sets:
            targets.extend(x for x in s.resources if x in names)
        if not targets:
            continue
        extra = "".join(via.get(t, "") for t in targets)
        role = f" (role {loc.role})" if loc.role else ""
        if loc.rules:
            rules = ", ".join(ru.id or "?" for ru in loc.rules)
            out.append(f"location {loc.id}: rule(s) {rules}{role}{extra}")
        elif loc.node is not None and loc.score is not None:
            if loc.score <= MINUS_INFINITY:
                what = f"never on {loc.node}"
            elif loc.score >= INFINITY:
                what = f"only on {loc.node} (if it can run there)"
            elif loc.score < 0:
                what = f"avoid {loc.node} ({format_score(loc.score)})"
            else:
                what = f"prefer {loc.node} ({format_score(loc.score)})"
            out.append(f"location {loc.id}: {what}{role}{extra}")
    for col in defn.colocations:
        members = [x for s in col.sets for x in s.resources]
        if col.rsc is not None and (named(col.rsc) or named(col.with_rsc)):
            extra = via.get(col.rsc or "", "") + via.get(col.with_rsc or "", "")
            out.append(f"colocation {col.id}: {col.rsc} with {col.with_rsc} "
                       f"({format_score(col.score)}){extra}")
        elif any(x in names for x in members):
            out.append(f"colocation set {col.id}: {' '.join(members)} "
                       f"({format_score(col.score)})")
    for o in defn.orders:
        members = [x for s in o.sets for x in s.resources]
        kind = o.kind
        if o.first is not None and (named(o.first) or named(o.then)):
            then_action = o.then_action or o.first_action
            extra = via.get(o.first or "", "") + via.get(o.then or "", "")
            out.append(f"order {o.id}: {o.first_action} {o.first} then {then_action} "
                       f"{o.then} ({kind}){extra}")
        elif any(x in names for x in members):
            out.append(f"order set {o.id}: {' '.join(members)} ({kind})")
    return out


def _node_verdicts(result: ScheduleResult, r: Rsc) -> list[NodeVerdict]:
    plan = result.plan
    final = result.explain.final_scores.get(r.id)
    if final is None:
        final = dict(r.allowed)
    contributions: dict[str, list[dict[str, Any]]] = {}
    for c in result.explain.contributions.get(r.id, []):
        source = _GROUP_INTERNAL.sub(r"group \1 (it follows \2)", c.source)
        contributions.setdefault(c.node, []).append({"score": c.score, "source": source})
    out = []
    for name, info in plan.nodes.items():
        out.append(NodeVerdict(node=name, health=node_health(info), score=final.get(name),
                               contributions=contributions.get(name, []),
                               chosen=r.assigned == name))

    def key(v: NodeVerdict):
        return (not v.chosen, not v.eligible, -(v.score if v.score is not None else -INFINITY - 1))

    out.sort(key=key)  # stable: configuration order among equals
    return out


def _history_reasons(r: Rsc) -> list[str]:
    """Failures in the history that stop the resource outright."""
    out = []
    for node, nh in sorted(r.history.items()):
        if getattr(nh, "fatal", False):
            out.append(f"an operation on {node} reported the resource is not configured "
                       "correctly (OCF_ERR_CONFIGURED), which stops it on every node")
        elif nh.failed and nh.on_fail == "stop" and node in r.running_on:
            out.append(f"it failed on {node}, and its on-fail policy is 'stop'")
    return out


def _colocation_sentences(r: Rsc) -> list[str]:
    """What each colocation with a primary did to this resource."""
    out = []
    for c in getattr(r, "with_primaries", []):
        p = c.primary
        where = p.assigned
        cid = c.id.replace(":internal", "") if c.id.endswith(":internal") else None
        name = f"group {cid} (it follows {p.id})" if cid else f"colocation {c.id}"
        if c.score >= INFINITY:
            if where:
                out.append(f"It must run where {p.id} runs ({name}, INFINITY): {p.id} "
                           f"is on {where}.")
            else:
                out.append(f"It can only run where {p.id} runs ({name}, INFINITY), and "
                           f"{p.id} is not running anywhere, so neither can it.")
        elif c.score <= MINUS_INFINITY:
            if where:
                out.append(f"It must never run where {p.id} runs ({name}, -INFINITY): "
                           f"{p.id} is on {where}.")
        elif where and c.score:
            verb = "adds" if c.score > 0 else "subtracts"
            out.append(f"{name} {verb} {abs(c.score)} on {where}, where {p.id} runs.")
    return out


def _why(result: ScheduleResult, r: Rsc, verdicts: list[NodeVerdict]) -> list[str]:
    plan = result.plan
    opts = plan.opts
    out: list[str] = []
    chosen = r.assigned
    cur = list(r.running_on)
    eligible = [v for v in verdicts if v.eligible]
    if chosen is not None and getattr(r, "fixed_node", None) == chosen:
        if getattr(r, "blocked", False):
            out.append(f"It is blocked on {chosen}: a failure there cannot be recovered "
                       "automatically (on-fail=block, or a failed stop with fencing "
                       "disabled), so pacer leaves it alone until an administrator "
                       "cleans it up.")
        else:
            out.append(f"It is not managed (is-managed=false or maintenance mode), so pacer "
                       f"leaves it on {chosen} whatever the scores say.")
        return out
    colocs = _colocation_sentences(r)
    if chosen is not None:
        best = next(v for v in verdicts if v.chosen)
        score = format_score(best.score) if best.score is not None else "?"
        if cur == [chosen]:
            lead = f"It stays on {chosen}, which has the highest score ({score})."
        elif cur:
            lead = (f"It goes to {chosen}, which has the highest score ({score}); it is "
                    f"active on {', '.join(cur)} now.")
        else:
            lead = f"It is placed on {chosen}, which has the highest score ({score})."
        out.append(lead)
        out.extend(colocs)
        ties = [v.node for v in eligible if not v.chosen and v.score == best.score]
        if ties:
            out.append(f"{', '.join(ties)} {'has' if len(ties) == 1 else 'have'} the same "
                       "score. Ties go to the node with fewer resources already placed on "
                       "it, then to the node it runs on now, then by node name.")
        runners = [v for v in eligible if not v.chosen and v.node not in ties]
        if runners:
            out.append("Runner-up: " + ", ".join(
                f"{v.node} ({format_score(v.score)})" for v in runners[:3]) + ".")
        elif not ties:
            out.append("No other node could take it.")
        start = r.actions.get("start") if isinstance(getattr(r, "actions", None), dict) else None
        if start is not None and not start.runnable and (start.required or chosen not in cur):
            text = f"But it cannot start on {chosen} now: {blocked_sentence(result, r, start)}."
            if any(x.required and x.runnable for x in r.actions.get("stops", [])):
                text += " So it stops."
            out.append(text)
        return out
    # Not placed anywhere.
    if r.orphan:
        out.append("It is no longer in the configuration (an orphan), so it is stopped"
                   + ("." if opts.stop_orphan_resources else
                      " — but stop-orphan-resources=false leaves it alone."))
        return out
    if r.target_role == "Stopped":
        out.append("It is disabled: target-role=Stopped.")
        return out
    hist = _history_reasons(r)
    if hist:
        out.append("It must stop: " + "; ".join(hist) + ".")
        return out
    if opts.stop_all_resources:
        out.append("stop-all-resources=true: every resource is stopped.")
        return out
    if not plan.nodes:
        out.append("The cluster has no nodes.")
        return out
    out.extend(colocs)
    out.append("No node can run it:")
    for v in verdicts:
        if v.health is not None:
            out.append(f"- {v.node} is {v.health}.")
        elif v.score is None:
            out.append(f"- {v.node}: it may not run there (asymmetric cluster, and no "
                       "location constraint allows it).")
        elif v.score < 0:
            negs = [c for c in v.contributions if c["score"] < 0]
            why = "; ".join(f"{c['source']} ({format_score(c['score'])})" for c in negs)
            out.append(f"- {v.node} has score {format_score(v.score)}"
                       + (f": {why}." if why else "."))
        else:
            out.append(f"- {v.node} has score {format_score(v.score)} but was not chosen.")
    return out


def _outcome(r: Rsc, happens: list[str]) -> str:
    if happens:
        parts = []
        for line in happens:
            words = line.split()
            verb, details = words[1], line.split("(", 1)[1].rsplit(")", 1)
            text = f"{verb} ({details[0].strip()})"
            if details[1].strip():
                text += " " + details[1].strip()
            parts.append(text)
        return "; ".join(parts)
    if r.running_on:
        return f"no change: stays on {', '.join(r.running_on)}"
    return "no change: stays stopped"


def _explain_primitive(result: ScheduleResult, r: Rsc,
                       before: ScheduleResult | None) -> PrimitiveExplanation:
    verdicts = _node_verdicts(result, r)
    chosen_v = next((v for v in verdicts if v.chosen), None)
    actions = []
    for a in result.plan.actions:
        if getattr(a, "rsc_id", None) == r.id and a.required:
            words = _action_words(result, r, a)
            if words:
                actions.append(words)
    happens = summary_lines_for(result, r.id)
    return PrimitiveExplanation(
        id=r.id,
        agent=_agent(r),
        parent=r.parent.id if r.parent is not None else None,
        active_on=list(r.running_on),
        failed_on=list(r.failed_nodes),
        active_before=_active_before(before, r.id),
        chosen=r.assigned,
        chosen_score=chosen_v.score if chosen_v is not None else None,
        outcome=_outcome(r, happens),
        nodes=verdicts,
        why=_why(result, r, verdicts),
        happens=happens,
        actions=actions,
        constraints=_constraint_lines(result, r),
        notes=list(result.explain.notes.get(r.id, [])),
    )


def _active_before(before: ScheduleResult | None, rsc_id: str) -> list[str] | None:
    if before is None:
        return None
    r = before.plan.rscs.by_id.get(rsc_id)
    return list(r.running_on) if r is not None else []


def explain_resource(result: ScheduleResult, rsc_id: str,
                     before: ScheduleResult | None = None) -> ResourceExplanation:
    """Why `rsc_id` (a primitive, or each member of a group or clone) is where it is.

    `before` is the run without the what-if edits, if there were any: the
    explanation then also says where the resource was active before them.
    """
    by_id = result.plan.rscs.by_id
    r = by_id.get(rsc_id)
    if r is None:
        known = sorted(by_id)
        raise UnknownResource(rsc_id, close_matches(rsc_id, known), known)
    headline: list[str] = []
    if r.kind == "group":
        members = [c.id for c in r.children]
        headline.append(
            f"{r.id} is a group of {len(members)}: {', '.join(members)}. Its members run "
            "together on one node and start in this order: each member must be on the node "
            "of the one before it (an INFINITY colocation), and the first member carries "
            "the preferences of the whole group.")
    elif r.kind == "clone":
        headline.append(f"{r.id} is a clone of {r.children[0].id if r.children else '?'}.")
    prims = [_explain_primitive(result, p, before) for p in r.primitives()]
    return ResourceExplanation(id=r.id, kind=r.kind, headline=headline, primitives=prims)


# --------------------------------------------------------------------------- rendering


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent, break_on_hyphens=False) or [indent]


def render_primitive(p: PrimitiveExplanation) -> list[str]:
    out: list[str] = []
    title = f"{p.id} ({p.agent})"
    if p.parent:
        title += f", member of {p.parent}"
    out.append(title)
    if p.active_on:
        now = "active on " + ", ".join(
            n + (" (FAILED)" if n in p.failed_on else "") for n in p.active_on)
    else:
        now = "stopped"
    if p.active_before is not None and p.active_before != p.active_on:
        was = ", ".join(p.active_before) if p.active_before else "nowhere"
        now += f" after the what-if edits (before them: active on {was})"
    out.append(f"  Now:        {now}")
    if p.chosen is not None:
        placed = f"{p.chosen} (score {format_score(p.chosen_score or 0)})"
    else:
        placed = "none: no node is chosen"
    out.append(f"  Placement:  {placed}")
    out.append(f"  Outcome:    {p.outcome}")
    out.append("  Why:")
    for sentence in p.why:
        if sentence.startswith("- "):
            out.extend(_wrap(sentence[2:], "      ", "    - "))
        else:
            out.extend(_wrap(sentence, "    "))
    out.append("  Scores by node (best first):")
    nwidth = max([4] + [len(v.node) for v in p.nodes])
    for v in p.nodes:
        score = format_score(v.score) if v.score is not None else "not allowed"
        tags = []
        if v.chosen:
            tags.append("<- chosen")
        if v.health:
            tags.append(f"cannot run resources: {v.health}")
        out.append(f"    {v.node.ljust(nwidth)}  {score:>11}  {'  '.join(tags)}".rstrip())
        if not v.contributions:
            if v.score is None:
                out.append(f"    {'':{nwidth}}  {'':>11}    (no location constraint allows it "
                           "here: asymmetric cluster)")
            else:
                out.append(f"    {'':{nwidth}}  {'':>11}    (nothing but the base score 0)")
        for c in v.contributions:
            prefix = f"    {'':{nwidth}}  {_signed(c['score']):>11}    "
            out.extend(_wrap(c["source"], " " * len(prefix), prefix))
    if p.constraints:
        out.append("  Constraints that name it:")
        for c in p.constraints:
            out.extend(_wrap(c, "      ", "    "))
    if p.notes:
        out.append("  Notes:")
        for n in p.notes:
            out.extend(_wrap(n, "      ", "    "))
    out.append("  What happens:")
    if p.happens:
        for line in p.happens:
            out.append("    " + line)
    else:
        out.append("    nothing changes")
    for a in p.actions:
        out.extend(_wrap(a, "        ", "    - "))
    return out


def render(expl: ResourceExplanation) -> list[str]:
    out: list[str] = []
    for h in expl.headline:
        out.extend(_wrap(h, ""))
        out.append("")
    for i, p in enumerate(expl.primitives):
        if i:
            out.append("")
        out.extend(render_primitive(p))
    return out
