"""`pacer history`: what the cluster did and why, newest last.

Three sources, merged by time: the controller's journal (`events/<sequence>`,
JSON records the controller appends: time, transition, kind, message, node,
rsc), fencing events (`fencing/<target>/<id>`) and the failed operations in
the nodes' history.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from pacer.cli.live import CONNECTION_HELP, EXIT_HELP, add_connection_arguments, run_live
from pacer.status.failures import is_failure
from pacer.status.types import OCF_RC_NAMES as RC_TEXT
from pacer.status_view import OP_STATUS_TEXT, format_time
from pacer.store.cluster import ClusterStore, HistoryLog

DESCRIPTION = """\
Show the cluster's history, oldest first (the newest are at the bottom):

  controller  the controller's journal: transitions, the actions it sent and
              their results, elections, aborts (with the transition number)
  fencing     fence requests and results: target, action, state, who asked
  failure     failed operations recorded in the nodes' history (until
              `pacer resource cleanup` forgets them)
"""

EXAMPLES = """\
examples:
  pacer history
  pacer history --limit 20
  pacer history --json | jq 'select(.source == "fencing")'

--json prints one object per line: {time, source, kind, message, node, rsc,
transition}.

""" + CONNECTION_HELP + "\n" + EXIT_HELP


@dataclass
class Entry:
    time: float
    source: str  # controller fencing failure
    kind: str
    message: str
    node: str | None = None
    rsc: str | None = None
    transition: int | None = None


def collect(log: HistoryLog) -> list[Entry]:
    """Every history entry of one read of the cluster, oldest first."""
    out: list[Entry] = []
    for j in log.journal:
        out.append(Entry(j.time, "controller", j.kind, j.message, j.node, j.rsc,
                         j.transition))
    for f in log.fencing:
        msg = (f"{f.action} of {f.target}: {f.state or '?'}"
               + (f" (asked by {f.origin})" if f.origin else ""))
        out.append(Entry(float(f.completed or 0), "fencing", str(f.state), msg, f.target))
    seen_failures: set[tuple[str, str, object]] = set()
    for rec in log.ops:
        key = (rec.node, rec.rsc, rec.call_id)
        if key in seen_failures:
            continue  # one failure sits in two slots (its own and last_failure_0)
        if not is_failure(rec):
            continue
        seen_failures.add(key)
        every = f" (every {rec.interval_ms / 1000:g}s)" if rec.interval_ms else ""
        out.append(Entry(float(rec.last_rc_change or rec.last_run), "failure",
                         OP_STATUS_TEXT.get(rec.op_status, str(rec.op_status)),
                         f"{rec.rsc} {rec.operation}{every} on {rec.node} failed: rc={rec.rc} "
                         f"({RC_TEXT.get(rec.rc, 'unknown')})", rec.node, rec.rsc))
    # A stable sort keeps the journal's own order (its sequence) for equal times.
    return sorted(out, key=lambda e: e.time)


async def _history(cs: ClusterStore, args: argparse.Namespace) -> int:
    entries = collect(await cs.history_log())
    if args.limit is not None:
        entries = entries[-args.limit:] if args.limit > 0 else []
    if args.json:
        for e in entries:
            print(json.dumps(asdict(e), sort_keys=True))
        return 0
    if not entries:
        print("no history yet (no controller journal, fencing or failed operation)")
        return 0
    for e in entries:
        tr = f" [transition {e.transition}]" if e.transition is not None else ""
        print(f"{format_time(int(e.time))}  {e.source:<10}  {e.kind:<12} {e.message}{tr}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        print("pacer: error: --limit must be 0 or more", file=sys.stderr)
        return 2
    return run_live(args, lambda cs: _history(cs, args))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "history", help="what the cluster did: controller journal, fencing, failures",
        description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", "-n", type=int, metavar="N", help="only the newest N entries")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_connection_arguments(p)
    p.set_defaults(func=cmd_history)
