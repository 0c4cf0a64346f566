"""`pacer explain`: why a resource is where it is, in plain words — pure.

The input is a `ScheduleResult` (its read-only view: node health, each
resource's state, actions and what blocks them, and the explanation record of
every score contribution) and the definition it was computed from; the output
is plain data (`ResourceExplanation`, for JSON) and text lines (`render`).
Nothing here changes a decision: it only reads what the scheduler recorded, so
what it says is what the scheduler did.

- `explain_resource(defn, result, rsc_id)` → `ResourceExplanation`
- `render(explanation)` → lines
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

from pacer.cli.cluster_text import node_health
from pacer.model.definition import Definition
from pacer.model.errors import close_matches
from pacer.model.meta import INFINITY, MINUS_INFINITY, format_score
from pacer.scheduler import ActionState, ResourceState, ScheduleResult

WIDTH = 100


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


class ResourceNotFound(LookupError):
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


def _why_unrunnable(a: ActionState) -> str:
    """Why this one action cannot run, not counting what it is ordered after."""
    words = reason_words(a.reason) if a.reason and not a.reason.startswith(
        ("unrunnable", "required")) else None
    if words:
        return words
    if a.task == "start" and a.node is None:
        return "no node can run it" if not a.of_primitive else f"{a.rsc} has no node it can run on"
    return "it cannot run"


def blocked_sentence(defn: Definition, result: ScheduleResult, r: ResourceState,
                     a: ActionState) -> str:
    """Why r's action `a` cannot run, in words, naming the ordering and the root cause."""
    # (the primitives' own actions in what blocks it: a group's or clone's
    # pseudo actions only carry the order through)
    prims = [x for x in a.blocked_by if x.of_primitive and not x.pseudo and x.rsc != r.id]
    if not prims:
        return f"it cannot {a.task}: {_why_unrunnable(a)}"
    first = prims[0]
    root = prims[-1]
    via = order_between(defn, result, first.rsc or "", r)
    text = f"it must {a.task} after {first.rsc} {first.task}s ({via}), "
    if root is first:
        text += f"and {first.rsc} cannot {first.task}: {_why_unrunnable(first)}"
    else:
        text += (f"which cannot happen because {root.rsc} cannot {root.task}: "
                 f"{_why_unrunnable(root)}")
    return text


def _lineage(result: ScheduleResult, r: ResourceState | None) -> list[ResourceState]:
    """r, its parent, its parent's parent, ..."""
    out = []
    while r is not None:
        out.append(r)
        r = result.view.resource(r.parent) if r.parent is not None else None
    return out


def order_between(defn: Definition, result: ScheduleResult, first: str,
                  then: ResourceState) -> str:
    """The ordering that puts `then` after `first`: an order constraint or a group."""
    first_line = _lineage(result, result.view.resource(first))
    f, t = {x.id for x in first_line}, {x.id for x in _lineage(result, then)}
    for o in defn.orders:
        if o.first in f and o.then in t:
            return f"order constraint {o.id}"
        for s1 in o.sets:
            if f & set(s1.resources) and t & {x for s in o.sets for x in s.resources}:
                return f"order set {o.id}"
    parent = first_line[1] if len(first_line) > 1 else None
    if parent is not None and parent.id == then.parent and parent.kind == "group":
        return f"group {parent.id} starts its members in order"
    return "an ordering"


def _action_words(defn: Definition, result: ScheduleResult, r: ResourceState,
                  a: ActionState) -> str | None:
    if a.task == "start" and a.node is None:
        return None  # "start nowhere": the stop lines say it
    task = a.task
    if a.interval_ms:
        task = f"{task} (every {a.interval_ms // 1000}s)"
    where = f" on {a.node}" if a.node else ""
    text = f"{task}{where}"
    if a.pseudo:
        text += (" — implied by fencing: no command runs" if a.task == "stop"
                 else " (pseudo action)")
    if not a.runnable:
        return text + " — BLOCKED: " + blocked_sentence(defn, result, r, a)
    reason = reason_words(a.reason)
    if reason:
        text += " — because " + reason
    return text


def _constraint_lines(defn: Definition, result: ScheduleResult, r: ResourceState) -> list[str]:
    """Constraints in the definition that name the resource (or its group or clone)."""
    names = {r.id}
    via: dict[str, str] = {}
    for p in _lineage(result, r)[1:]:
        names.add(p.id)
        via[p.id] = f" (through {p.kind} {p.id})"
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


def _node_verdicts(result: ScheduleResult, r: ResourceState) -> list[NodeVerdict]:
    explanation = result.view.explanation
    final = explanation.final_scores.get(r.id)
    if final is None:
        final = r.scores
    contributions: dict[str, list[dict[str, Any]]] = {}
    for c in explanation.contributions.get(r.id, ()):
        source = _GROUP_INTERNAL.sub(r"group \1 (it follows \2)", c.source)
        contributions.setdefault(c.node, []).append({"score": c.score, "source": source})
    out = []
    for info in result.view.nodes:
        out.append(NodeVerdict(node=info.name, health=node_health(info),
                               score=final.get(info.name),
                               contributions=contributions.get(info.name, []),
                               chosen=r.assigned == info.name))

    def key(v: NodeVerdict):
        return (not v.chosen, not v.eligible, -(v.score if v.score is not None else -INFINITY - 1))

    out.sort(key=key)  # stable: configuration order among equals
    return out


def _history_reasons(r: ResourceState) -> list[str]:
    """Failures in the history that stop the resource outright."""
    out = []
    for node in sorted(set(r.fatal_on) | set(r.on_fail)):
        if node in r.fatal_on:
            out.append(f"an operation on {node} reported the resource is not configured "
                       "correctly (OCF_ERR_CONFIGURED), which stops it on every node")
        elif r.on_fail.get(node) == "stop" and node in r.active:
            out.append(f"it failed on {node}, and its on-fail policy is 'stop'")
    return out


def _colocation_sentences(r: ResourceState) -> list[str]:
    """What each colocation with a primary did to this resource."""
    out = []
    for c in r.colocations:
        primary = c.primary
        where = c.primary_node
        cid = c.id.replace(":internal", "") if c.id.endswith(":internal") else None
        name = f"group {cid} (it follows {primary})" if cid else f"colocation {c.id}"
        if c.score >= INFINITY:
            if where:
                out.append(f"It must run where {primary} runs ({name}, INFINITY): {primary} "
                           f"is on {where}.")
            else:
                out.append(f"It can only run where {primary} runs ({name}, INFINITY), and "
                           f"{primary} is not running anywhere, so neither can it.")
        elif c.score <= MINUS_INFINITY:
            if where:
                out.append(f"It must never run where {primary} runs ({name}, -INFINITY): "
                           f"{primary} is on {where}.")
        elif where and c.score:
            verb = "adds" if c.score > 0 else "subtracts"
            out.append(f"{name} {verb} {abs(c.score)} on {where}, where {primary} runs.")
    return out


def _why(defn: Definition, result: ScheduleResult, r: ResourceState,
         verdicts: list[NodeVerdict]) -> list[str]:
    view = result.view
    opts = view.options
    out: list[str] = []
    chosen = r.assigned
    cur = list(r.active)
    eligible = [v for v in verdicts if v.eligible]
    if chosen is not None and r.fixed_node == chosen:
        if r.blocked:
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
        actions = view.actions(r.id)
        start = actions.start if actions is not None else None
        if start is not None and not start.runnable and (start.required or chosen not in cur):
            text = (f"But it cannot start on {chosen} now: "
                    f"{blocked_sentence(defn, result, r, start)}.")
            if actions is not None and any(x.required and x.runnable for x in actions.stops):
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
    if not view.nodes:
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


def _outcome(r: ResourceState, happens: list[str]) -> str:
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
    if r.active:
        return f"no change: stays on {', '.join(r.active)}"
    return "no change: stays stopped"


def _explain_primitive(defn: Definition, result: ScheduleResult, r: ResourceState,
                       before: ScheduleResult | None) -> PrimitiveExplanation:
    verdicts = _node_verdicts(result, r)
    chosen_v = next((v for v in verdicts if v.chosen), None)
    actions = []
    own = result.view.actions(r.id)
    for a in own.required if own is not None else ():
        words = _action_words(defn, result, r, a)
        if words:
            actions.append(words)
    happens = summary_lines_for(result, r.id)
    return PrimitiveExplanation(
        id=r.id,
        agent=r.agent or "?",
        parent=r.parent,
        active_on=list(r.active),
        failed_on=list(r.failed_on),
        active_before=_active_before(before, r.id),
        chosen=r.assigned,
        chosen_score=chosen_v.score if chosen_v is not None else None,
        outcome=_outcome(r, happens),
        nodes=verdicts,
        why=_why(defn, result, r, verdicts),
        happens=happens,
        actions=actions,
        constraints=_constraint_lines(defn, result, r),
        notes=list(result.view.explanation.notes.get(r.id, ())),
    )


def _active_before(before: ScheduleResult | None, rsc_id: str) -> list[str] | None:
    if before is None:
        return None
    r = before.view.resource(rsc_id)
    return list(r.active) if r is not None else []


def explain_resource(defn: Definition, result: ScheduleResult, rsc_id: str,
                     before: ScheduleResult | None = None) -> ResourceExplanation:
    """Why `rsc_id` (a primitive, or each member of a group or clone) is where it is,
    in the run `result` of `defn`.

    `before` is the run without the what-if edits, if there were any: the
    explanation then also says where the resource was active before them.
    """
    r = result.view.resource(rsc_id)
    if r is None:
        known = list(result.view.resource_ids)
        raise ResourceNotFound(rsc_id, close_matches(rsc_id, known), known)
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
    prims = [_explain_primitive(defn, result, p, before) for p in r.primitives()]
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
