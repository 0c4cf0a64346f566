"""From a controller's request to an agent action, and from its result to history.

Pure functions, no I/O: the daemon reads the definition and the clock, these
decide what the agent gets and what the store records. The rules are the
runtime protocol's (docs/runtime-protocol.md, "Mapping to an agent" and
"Results").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pacer.agents.api import ActionRequest as AgentRequest
from pacer.agents.api import ActionResult, AgentSpec
from pacer.model.clones import CloneOptions
from pacer.model.definition import Clone, Definition, Primitive, iter_primitives
from pacer.model.meta import parse_bool
from pacer.model.timeouts import effective_timeout_ms, find_op, rule_free_op_defaults
from pacer.status.digests import params_digest
from pacer.status.instances import split_instance_id
from pacer.status.types import (
    OCF_ERR_CONFIGURED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    OP_ERROR,
    OP_PENDING,
    PENDING_RC,
    OpRecord,
)
from pacer.store.cluster import STOP_TIMEOUT_KEY, Agent, NodeRequest


class UnknownResource(LookupError):
    """The request names no primitive of the definition it refers to."""


@dataclass(frozen=True)
class DefinitionIndex:
    """What the mapping needs of one definition revision, looked up once."""

    revision: int
    primitives: Mapping[str, Primitive]
    clone_of: Mapping[str, Clone]  # primitive id -> the clone it is (part of) an instance of
    clone_opts: Mapping[str, CloneOptions]  # clone id -> its options
    op_defaults: Mapping[str, str]
    start_failure_is_fatal: bool


def index_definition(definition: Definition, revision: int, n_nodes: int) -> DefinitionIndex:
    """Index a definition; `n_nodes` is clone-max's default (the cluster's size)."""
    prims: dict[str, Primitive] = {}
    clone_of: dict[str, Clone] = {}
    opts: dict[str, CloneOptions] = {}
    for r in definition.resources:
        for p in iter_primitives((r,)):
            prims[p.id] = p
            if isinstance(r, Clone):
                clone_of[p.id] = r
        if isinstance(r, Clone):
            opts[r.id] = CloneOptions.from_meta(dict(r.meta), max(1, n_nodes), r.promotable)
    # Only rule-less op defaults apply here: rules need the scheduler's context.
    op_defaults = rule_free_op_defaults(definition)
    fatal = parse_bool(definition.properties.get("start-failure-is-fatal", "true"),
                       default=True)
    return DefinitionIndex(revision, MappingProxyType(prims), MappingProxyType(clone_of),
                           MappingProxyType(opts), MappingProxyType(op_defaults), fatal)


@dataclass(frozen=True)
class RunPlan:
    """Everything about one request the daemon needs to run and record it (the
    node's own plan for one request; the scheduler's working plan is another thing)."""

    request: NodeRequest
    hist_id: str  # history/<node>/<hist_id>/, also the serialisation key
    agent: Agent
    agent_request: AgentRequest
    expected_rc: int
    # params_digest of what the agent got, for one-shot operations.
    digest: str | None
    # What stopping this instance may take (a self-fence stops it without a request).
    stop_timeout_ms: int
    start_failure_is_fatal: bool = True
    # Set when the request cannot be mapped: it is answered without running.
    error: str | None = None


def _timeout_ms(requested: int | None, prim: Primitive, task: str, interval_ms: int,
                op_defaults: Mapping[str, str], default_ms: int) -> int:
    """The request's timeout (the controller resolved it, agent meta-data
    included: pacer.model.timeouts), else what the definition says."""
    if requested:
        return requested
    return effective_timeout_ms(prim, task, interval_ms, op_defaults, default_ms=default_ms)


def clone_meta(opts: CloneOptions, number: int | None) -> dict[str, str]:
    """The meta attributes Pacemaker gives a clone instance's agent
    (OCF_RESKEY_CRM_meta_clone_max and friends, once dashes become underscores)."""
    def b(v: bool) -> str:
        return "true" if v else "false"
    meta = {
        "clone-max": str(opts.clone_max),
        "clone-node-max": str(opts.clone_node_max),
        "globally-unique": b(opts.unique),
        "notify": b(opts.notify),
    }
    if number is not None:
        meta["clone"] = str(number)
    if opts.promotable:
        # Both spellings: older agents read master_*, newer ones promoted_*.
        meta.update({"promoted-max": str(opts.promoted_max),
                     "master-max": str(opts.promoted_max),
                     "promoted-node-max": str(opts.promoted_node_max),
                     "master-node-max": str(opts.promoted_node_max)})
    return meta


def default_expected_rc(request: NodeRequest) -> int:
    if request.task == "monitor" and request.interval_ms == 0:
        return OCF_NOT_RUNNING  # a probe: "not running" is what a fresh node expects
    return OCF_SUCCESS


def expected_rc(request: NodeRequest) -> int:
    text = request.extra.get("expected_rc")
    try:
        return int(text) if text is not None else default_expected_rc(request)
    except ValueError:
        return default_expected_rc(request)


def plan_action(request: NodeRequest, index: DefinitionIndex,
                default_timeout_ms: int) -> RunPlan:
    """Map a request to the agent action it means (raises UnknownResource)."""
    if not request.rsc:
        raise UnknownResource(f"action {request.id} names no resource")
    base, number = split_instance_id(request.rsc)
    prim = index.primitives.get(base) or index.primitives.get(request.rsc)
    if prim is None:
        raise UnknownResource(f"{request.rsc!r} is not a primitive of definition revision "
                              f"{index.revision}")
    if prim.id == request.rsc:
        number = None  # an id that merely contains ':'
    clone = index.clone_of.get(prim.id)
    meta: dict[str, str] = dict(prim.meta)
    instance = prim.id
    if clone is not None:
        opts = index.clone_opts[clone.id]
        meta.update(clone_meta(opts, number))
        if opts.unique and number is not None:
            instance = f"{prim.id}:{number}"
    op = find_op(prim, request.task, request.interval_ms)
    params = dict(prim.params)
    if op is not None:
        params.update(op.params)
        meta.update(op.meta)
    notify = {k: v for k, v in request.extra.items() if k.startswith("notify_")}
    for k in ("migrate_source", "migrate_target"):
        if k in request.extra:
            meta[k] = request.extra[k]
    agent_request = AgentRequest(
        rsc_id=prim.id, agent=AgentSpec(prim.agent_class, prim.type, prim.provider),
        action=request.task, instance=instance, params=MappingProxyType(params),
        meta=MappingProxyType(meta), interval_ms=request.interval_ms,
        timeout_ms=_timeout_ms(request.timeout_ms, prim, request.task, request.interval_ms,
                               index.op_defaults, default_timeout_ms),
        notify=MappingProxyType(notify))
    return RunPlan(request=request, hist_id=instance,
                   agent=Agent(prim.agent_class, prim.provider, prim.type),
                   agent_request=agent_request, expected_rc=expected_rc(request),
                   digest=params_digest(params) if request.interval_ms == 0 else None,
                   stop_timeout_ms=_stop_timeout_ms(request, prim, index, default_timeout_ms),
                   start_failure_is_fatal=index.start_failure_is_fatal)


def _stop_timeout_ms(request: NodeRequest, prim: Primitive, index: DefinitionIndex,
                     default_ms: int) -> int:
    """What stopping the instance may take, for a self-fence that stops it without
    a request: the controller says so in the requests that activate it (its
    resolution knows the agent's meta-data), else the definition."""
    text = request.extra.get(STOP_TIMEOUT_KEY)
    if text:
        try:
            if int(text) > 0:
                return int(text)
        except ValueError:
            pass
    return effective_timeout_ms(prim, "stop", 0, index.op_defaults, default_ms=default_ms)


def plan_without_definition(request: NodeRequest, agent_request: AgentRequest,
                            agent: Agent, hist_id: str, stop_timeout_ms: int) -> RunPlan:
    """A plan from what the node itself ran before: stopping an instance the
    definition no longer has (an orphan) with the parameters it was started with."""
    task_request = dataclasses.replace(
        agent_request, action=request.task, interval_ms=request.interval_ms,
        timeout_ms=request.timeout_ms or stop_timeout_ms)
    return RunPlan(request=request, hist_id=hist_id, agent=agent,
                   agent_request=task_request, expected_rc=expected_rc(request),
                   digest=params_digest(agent_request.params) if request.interval_ms == 0
                   else None, stop_timeout_ms=stop_timeout_ms)


# --------------------------------------------------------------------------- records


def pending_record(plan: RunPlan, node: str, call_id: int, now: int) -> OpRecord:
    """What history shows while the action runs (Pacemaker's record-pending)."""
    r = plan.request
    return OpRecord(rsc=plan.hist_id, node=node, operation=r.task, interval_ms=r.interval_ms,
                    call_id=call_id, rc=PENDING_RC, op_status=OP_PENDING,
                    expected_rc=plan.expected_rc, last_run=now, last_rc_change=now,
                    action_id=r.id, migrate_source=r.extra.get("migrate_source"),
                    migrate_target=r.extra.get("migrate_target"),
                    timeout_ms=plan.agent_request.effective_timeout_ms)


def result_record(plan: RunPlan, result: ActionResult, node: str, call_id: int, now: int,
                  action_id: str | None, last_rc_change: int | None = None) -> OpRecord:
    """The history entry of a finished run. `action_id` None for the later runs of
    a recurring monitor, which answer no request; `last_rc_change` keeps the time
    of the last change for them."""
    r = plan.request
    op = result.to_op_record(plan.agent_request, node, call_id=call_id, now=now,
                             expected_rc=plan.expected_rc)
    return dataclasses.replace(
        op, rsc=plan.hist_id, digest=plan.digest, action_id=action_id,
        last_rc_change=now if last_rc_change is None else last_rc_change,
        migrate_source=r.extra.get("migrate_source"),
        migrate_target=r.extra.get("migrate_target"))


def unknown_plan(request: NodeRequest, reason: str, default_timeout_ms: int) -> RunPlan:
    """A request whose resource the node cannot map (not in the definition, and
    not something it runs): recorded, never run."""
    rsc = request.rsc or "-"
    placeholder = AgentRequest(rsc_id=rsc, agent=AgentSpec("ocf", "unknown", "pacer"),
                               action=request.task, instance=rsc,
                               interval_ms=request.interval_ms, timeout_ms=default_timeout_ms)
    return RunPlan(request=request, hist_id=rsc, agent=Agent(), agent_request=placeholder,
                   expected_rc=expected_rc(request), digest=None,
                   stop_timeout_ms=default_timeout_ms, error=reason)


def unknown_result(plan: RunPlan) -> ActionResult:
    """The answer for an unknown resource. The node has no record of running it
    (its history was cleared when it joined, and everything it ran since is in
    its own record), so a stop or a probe truthfully finds it stopped; anything
    else is a configuration error, never a failed stop (which would fence)."""
    task = plan.request.task
    reason = plan.error or "unknown resource"
    if task == "stop":
        return ActionResult(rc=OCF_SUCCESS, exit_reason=f"{reason}; not running here")
    if task == "monitor" and plan.request.interval_ms == 0:
        return ActionResult(rc=OCF_NOT_RUNNING, exit_reason=f"{reason}; not running here")
    return ActionResult(rc=OCF_ERR_CONFIGURED, op_status=OP_ERROR, exit_reason=reason)


def runner_error(exc: BaseException) -> ActionResult:
    """An agent runner that raised instead of answering (a bug): an error result."""
    return ActionResult(rc=1, op_status=OP_ERROR, exit_reason=f"agent runner error: {exc!r}")
