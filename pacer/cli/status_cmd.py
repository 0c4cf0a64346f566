"""`pacer status`: the live cluster's nodes, resources, failures and what happens next."""

from __future__ import annotations

import argparse
import json
import sys
import time

from pacer.cli.live import (
    CONNECTION_HELP,
    EXIT_HELP,
    add_connection_arguments,
    run_live,
    wait_for_change,
)
from pacer.status_view import render, view_of
from pacer.store.base import Compacted
from pacer.store.cluster import ClusterStore

DESCRIPTION = """\
Show the live cluster as its controller sees it: one consistent read of the
store, interpreted by the same scheduler the controller runs.

  Nodes       online, OFFLINE, UNCLEAN (must be fenced, and why), pending,
              standby, maintenance; which one is the controller
  Resources   each resource with its agent, the nodes it is active on and in
              which role (Started, Promoted, Unpromoted), disabled, unmanaged
  Failures    failed operations (rc and what it means, when) and fail-counts;
              `pacer resource cleanup RSC` forgets them
  In flight   actions the controller requested and operations running now
  Next        the scheduler's Transition Summary for this state: what the
              controller is about to do (empty when the cluster is settled)
"""

EXAMPLES = """\
examples:
  pacer status
  pacer status --watch                 redraw on every change
  pacer status --json | jq '.resources[] | {id, active}'
  PACER_ENDPOINTS=https://10.0.0.1:2379 pacer status --ca ca.pem --cert c.pem --key c.key

--json prints one object: cluster, revision (etcd's), definition_revision,
controller, nodes [{name, state, member, controller, standby, maintenance,
unclean, reason, configured}], resources [{id, kind, agent, description,
active [{node, role, failed}], target_role, managed, blocked, orphan,
children}], failures [{rsc, node, operation, interval_ms, rc, rc_text,
op_status, time}], fail_counts [{rsc, node, operation, count, last_failure}],
in_flight [{node, task, rsc, interval_ms, state, id}], planned [lines].
With --watch, one such object per line, each time the cluster changes.

""" + CONNECTION_HELP + "\n" + EXIT_HELP


async def _status(cs: ClusterStore, args: argparse.Namespace) -> int:
    name = cs.cluster
    snap = await cs.snapshot()
    if not args.watch:
        view = view_of(snap, name)
        if args.json:
            print(json.dumps(view.to_json(), indent=2, sort_keys=True))
        else:
            print("\n".join(render(view)))
        return 0
    tty = sys.stdout.isatty()
    while True:
        view = view_of(snap, name)
        if args.json:
            print(json.dumps(view.to_json(), sort_keys=True), flush=True)
        else:
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J")
            else:
                sys.stdout.write(f"--- {time.strftime('%H:%M:%S')} revision {snap.revision}\n")
            sys.stdout.write("\n".join(render(view)) + "\n")
            sys.stdout.flush()
        try:
            await wait_for_change(cs, snap.revision)
        except Compacted:
            pass  # history we asked for is gone: just read everything again
        snap = await cs.snapshot()


def cmd_status(args: argparse.Namespace) -> int:
    return run_live(args, lambda cs: _status(cs, args))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "status",
        help="show the live cluster: nodes, resources, failures, what happens next",
        description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--watch", "-w", action="store_true",
                   help="stay and redraw on every change in the cluster (Ctrl-C ends)")
    add_connection_arguments(p)
    p.set_defaults(func=cmd_status)
