"""`pacer simulate`: what would the cluster do now — and after a failure?

The pure scheduler run on a file, the way `crm_simulate -S` runs Pacemaker's:
the current state, the what-if modifications, the `Transition Summary:` in
crm_simulate's own line format and the actions of the transition.

The file is read by the one loader (`pacer.status.load`) and edited by the
what-ifs (`pacer.status.whatif`); `run` is shared with `pacer explain`.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pacer.cli.cluster_text import placement_of, score_table, scores_of
from pacer.cli.cluster_text import status_lines as render_status
from pacer.cli.main import UserError
from pacer.model.definition import Definition
from pacer.model.errors import ConfigError
from pacer.scheduler import ScheduleResult, schedule
from pacer.status.load import FileSnapshot, decision_time, is_cib, load_snapshot
from pacer.status.whatif import WhatIf, WhatIfError, apply_what_if

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


def what_if_lines(what: WhatIf) -> list[str]:
    """The "Performing Requested Modifications" lines."""
    out = [f"  * Taking node {n} offline" for n in what.node_down]
    out += [f"  * Failing node {n}" for n in what.node_fail]
    for spec in what.fail:
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


def load_file(path_text: str) -> FileSnapshot:
    """Definition and status from a CIB or a YAML file; input problems → UserError."""
    try:
        return load_snapshot(path_text)
    except ConfigError as exc:
        raise UserError(_config_error_text(exc)) from None
    except Exception as exc:  # the importers' own bugs: still one clean line
        if _debug():
            raise
        path = Path(path_text)
        text = path.read_text(errors="replace").lstrip("\ufeff")
        kind = "CIB" if is_cib(path, text) else "YAML definition"
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


@dataclass(frozen=True)
class Run:
    """One file scheduled (after the what-ifs), and before them when there were any."""

    definition: Definition
    result: ScheduleResult
    before: ScheduleResult | None
    what: WhatIf


def run(args: argparse.Namespace) -> Run:
    """Schedule the file (after the what-ifs); also the run before them when there are any."""
    snap = load_file(args.file)
    defn, status = snap.definition, snap.status
    what = what_if_from_args(args)
    now = decision_time(status, args.now)
    try:
        modified = apply_what_if(defn, status, what, now)
    except WhatIfError as exc:
        raise UserError(str(exc)) from None
    result = schedule(defn, replace(modified), now)
    before = schedule(defn, replace(status), now) if what else None
    return Run(defn, result, before, what)


def result_json(result: ScheduleResult) -> dict:
    return {
        "summary": [line.strip() for line in result.summary_lines],
        "actions": [asdict(a) for a in result.transition.actions],
        "placement": placement_of(result),
        "scores": scores_of(result),
    }


def cmd_simulate(args: argparse.Namespace) -> int:
    r = run(args)
    result, before, what = r.result, r.before, r.what
    if args.json:
        print(json.dumps(result_json(result), indent=2))
        return 0
    out: list[str] = []
    out.extend(render_status(before if before is not None else result))
    out.append("")
    if what:
        out.append("Performing Requested Modifications:")
        out.extend(what_if_lines(what))
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
