"""`pacer simulate`: what would the cluster do now — and after a failure?

The pure scheduler run on a file, the way `crm_simulate -S` runs Pacemaker's:
the current state, the what-if modifications, the `Transition Summary:` in
crm_simulate's own line format and the actions of the transition.

The loading and what-if helpers here are shared with `pacer explain`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import MappingProxyType

from pacer.cli.main import UserError
from pacer.model.definition import Definition, resource_index
from pacer.model.errors import ConfigError
from pacer.scheduler.api import ScheduleResult, schedule
from pacer.scheduler.explain_text import close_matches, placement_of, score_table, scores_of
from pacer.scheduler.explain_text import status_lines as render_status
from pacer.status.fresh import all_online_status
from pacer.status.types import NodeState, Status

EXAMPLES = """\
examples:
  pacer simulate cluster.xml
      what the cluster would do now (the CIB's <status> is the current state)
  pacer simulate examples/demo.yaml --node-down node1
      a YAML definition (nothing running yet, every node up), with node1 shut down
  pacer simulate cluster.xml --node-fail node2 --show-scores
      node2 is lost (fenced if stonith is enabled); show every allocation score
  pacer simulate cluster.xml --fail vip:node1 --json
      the monitor of vip failed on node1; machine-readable output

input:
  FILE is a Pacemaker CIB (XML: configuration and status, e.g. from
  `cibadmin --query`) or a pacer YAML definition. A YAML definition has no
  status: pacer simulates a cluster whose nodes are all online and where
  nothing runs yet.

output:
  Current cluster status   nodes (online, offline, standby, unclean) and
                           where each resource is active
  Performing Requested Modifications   the --node-down/--node-fail/--fail edits
  Transition Summary       one line per change, exactly as crm_simulate -S
                           prints it: Start, Stop, Move, Recover, Restart,
                           Migrate, Fence, with the reason ("due to ...")
  Executing Cluster Transition   the actions of the transition
  --show-scores adds the allocation scores; `pacer explain RSC FILE` says in
  words why one resource ends up where it does.

  --json prints one object: "summary" (the Transition Summary lines),
  "actions" (each action of the transition: key, task, node, rsc,
  interval_ms, pseudo, runnable, reason), "placement" (primitive -> node, or
  null when stopped) and "scores" (primitive -> node -> allocation score;
  +/-1000000 is +/-INFINITY).

exit status: 0 on success, 1 when the input cannot be used (missing file,
malformed XML or YAML, unknown node or resource), 2 on a usage error.
"""

DESCRIPTION = """\
Run pacer's scheduler on a cluster configuration and status and show the
transition it computes: the current cluster status, then the Transition
Summary in crm_simulate's exact line format, then the actions. Nothing is
changed anywhere: this is a pure computation on FILE.

The what-if options edit the status before scheduling, like crm_simulate's:
--node-down is a clean shutdown (the node left the cluster as expected);
--node-fail is a node lost without warning (it must be fenced before its
resources can move, if stonith is enabled); --fail records a failed recurring
monitor of RSC on NODE and counts it in NODE's fail-count for RSC (as
crm_simulate -i RSC_monitor_10000@NODE=1 does), so migration-threshold applies.
"""


@dataclass(frozen=True)
class WhatIf:
    node_down: tuple[str, ...] = ()
    node_fail: tuple[str, ...] = ()
    fail: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.node_down or self.node_fail or self.fail)

    def lines(self) -> list[str]:
        out = [f"  * Taking node {n} offline" for n in self.node_down]
        out += [f"  * Failing node {n}" for n in self.node_fail]
        for spec in self.fail:
            rsc, _, node = spec.partition(":")
            out.append(f"  * Failing the recurring monitor of {rsc} on {node}")
        return out


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """FILE and the what-if options, shared by `simulate` and `explain`."""
    p.add_argument("file", metavar="FILE",
                   help="a Pacemaker CIB (.xml) or a pacer definition (.yaml)")
    g = p.add_argument_group("what if")
    g.add_argument("--node-down", metavar="NODE", action="append", default=[],
                   help="shut NODE down cleanly first (repeatable)")
    g.add_argument("--node-fail", metavar="NODE", action="append", default=[],
                   help="lose NODE without warning first: it must be fenced (repeatable)")
    g.add_argument("--fail", metavar="RSC:NODE", action="append", default=[],
                   help="record a failed monitor of resource RSC on NODE first (repeatable)")
    p.add_argument("--now", metavar="EPOCH", type=_epoch, default=None,
                   help="the time of the decision, in seconds since 1970 (default: the CIB's "
                        "execution-date, else the current time); matters for "
                        "failure-timeout and date rules")


def _epoch(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: expected seconds since 1970, e.g. 1700000000") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is before 1970")
    return value


def _debug() -> bool:
    return bool(os.environ.get("PACER_DEBUG"))


def load_snapshot(path_text: str) -> tuple[Definition, Status]:
    """Definition and status from a CIB or a YAML file; input problems → UserError."""
    path = Path(path_text)
    if not path.exists():
        raise UserError(f"{path_text}: no such file")
    if path.is_dir():
        raise UserError(f"{path_text}: is a directory, expected a CIB (.xml) or YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path_text}: not a text file (expected CIB XML or YAML)") from None
    except OSError as exc:
        raise UserError(f"{path_text}: cannot read: {exc.strerror or exc}") from None
    text = text.lstrip("\ufeff")
    is_xml = path.suffix.lower() == ".xml" or text.lstrip().startswith("<")
    if is_xml and not text.lstrip().startswith("<"):
        raise UserError(f"{path_text}: malformed XML: it does not start with '<' "
                        "(expected a CIB: <cib> ... </cib>)")
    try:
        if is_xml:
            from pacer.model.cib_import import load_cib

            return load_cib(text, filename=path_text)
        from pacer.model.yaml_loader import load_yaml

        defn = load_yaml(text, filename=path_text)
        return defn, all_online_status(defn)
    except ConfigError as exc:
        raise UserError(_config_error_text(exc)) from None
    except Exception as exc:  # the importers' own bugs: still one clean line
        if _debug():
            raise
        kind = "CIB" if is_xml else "YAML definition"
        raise UserError(f"{path_text}: cannot be read as a {kind}: "
                        f"{type(exc).__name__}: {exc} (PACER_DEBUG=1 shows a traceback)"
                        ) from None


def _config_error_text(exc: ConfigError) -> str:
    errors = exc.errors or exc.problems
    if len(errors) == 1:
        return str(errors[0])
    return f"{len(errors)} problems:\n" + "\n".join(f"  {p}" for p in errors)


def what_if_from_args(args: argparse.Namespace) -> WhatIf:
    return WhatIf(node_down=tuple(args.node_down), node_fail=tuple(args.node_fail),
                  fail=tuple(args.fail))


def apply_modifications(defn: Definition, status: Status, what: WhatIf,
                        now: int | None = None) -> Status:
    """The what-if edits, with clean errors for unknown nodes and resources."""
    if not what:
        return status
    from pacer.scheduler.whatif import WhatIfError, apply_what_if

    nodes = [n.name for n in defn.nodes]
    for n in what.node_down + what.node_fail:
        if n not in nodes:
            raise UserError(_unknown("node", n, nodes))
    rscs = sorted(resource_index(defn.resources))
    for spec in what.fail:
        rsc, sep, node = spec.partition(":")
        if not sep or not rsc or not node:
            raise UserError(f"--fail {spec!r}: expected RSC:NODE, e.g. --fail vip:node1")
        if rsc not in rscs:
            raise UserError(f"--fail {spec!r}: " + _unknown("resource", rsc, rscs))
        if node not in nodes:
            raise UserError(f"--fail {spec!r}: " + _unknown("node", node, nodes))
    try:
        status = apply_what_if(defn, status, node_down=what.node_down,
                               node_fail=what.node_fail, fail=what.fail)
    except WhatIfError as exc:
        raise UserError(str(exc)) from None
    return inject_failcounts(status, what.fail, decision_time(status, now))


def inject_failcounts(status: Status, fail: tuple[str, ...], now: int) -> Status:
    """Count each injected failure as crm_simulate's `-i RSC_monitor_10000@NODE=1` does.

    The failed operation itself is recorded by `whatif.apply_what_if`; Pacemaker also
    increments the node's fail-count attribute and stamps last-failure, which is what
    migration-threshold and failure-timeout read.
    """
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


def _unknown(kind: str, name: str, known: list[str]) -> str:
    near = close_matches(name, known)
    if near:
        hint = "did you mean " + " or ".join(repr(x) for x in near) + "?"
    else:
        hint = f"{kind}s are: {', '.join(known) if known else '(none)'}"
    return f"unknown {kind} {name!r}; {hint}"


def decision_time(status: Status, now: int | None) -> int:
    if now is not None:
        return now
    if status.now is not None:
        return status.now
    return int(time.time())


def run(args: argparse.Namespace) -> tuple[ScheduleResult, ScheduleResult | None, WhatIf]:
    """Schedule the file (after the what-ifs); also the run before them when there are any."""
    defn, status = load_snapshot(args.file)
    what = what_if_from_args(args)
    now = decision_time(status, args.now)
    modified = apply_modifications(defn, status, what, now)
    result = schedule(defn, replace(modified), now)
    before = schedule(defn, replace(status), now) if what else None
    return result, before, what


def result_json(result: ScheduleResult) -> dict:
    return {
        "summary": [line.strip() for line in result.summary_lines],
        "actions": [asdict(a) for a in result.transition.actions],
        "placement": placement_of(result),
        "scores": scores_of(result),
    }


def cmd_simulate(args: argparse.Namespace) -> int:
    result, before, what = run(args)
    if args.json:
        print(json.dumps(result_json(result), indent=2))
        return 0
    out: list[str] = []
    out.extend(render_status(before if before is not None else result))
    out.append("")
    if what:
        out.append("Performing Requested Modifications:")
        out.extend(what.lines())
        out.append("")
    if args.show_scores:
        out.extend(score_table(result))
        out.append("")
    out.append("Transition Summary:")
    out.extend(result.summary_lines)
    out.append("")
    out.append("Executing Cluster Transition:")
    out.extend(result.action_lines)
    print("\n".join(out))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="show what the scheduler would do (like crm_simulate -S)",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--show-scores", action="store_true",
                     help="also print the allocation score of every resource on every node")
    out.add_argument("--json", action="store_true",
                     help='print {"summary": [...], "actions": [...], "placement": {...}, '
                          '"scores": {...}} instead of text')
    p.set_defaults(func=cmd_simulate)
