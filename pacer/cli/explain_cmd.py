"""`pacer explain RSC FILE`: why a resource is where it is, in plain words.

The same scheduler run as `pacer simulate` (same file, same what-if options);
instead of the whole transition it prints, for one resource (each member of a
group), the node chosen and its score, the runner-up nodes, every contribution
to every node's score with its source, the nodes that cannot run anything and
why, and what will happen to the resource and why.
"""

from __future__ import annotations

import argparse
import json

from pacer.cli.explain_text import ResourceNotFound, explain_resource, render
from pacer.cli.main import UserError
from pacer.cli.simulate_cmd import run

DESCRIPTION = """\
Explain, in plain words, why resource RSC is placed where it is (or why it is
stopped) in the transition pacer computes for FILE.

For a primitive it prints: where it is active now; its placement (the node
chosen and its total score) and the outcome (its Transition Summary line);
why (ties and runner-up nodes, the colocations that tied it to another
resource, an ordering that blocks its start and the root cause, or for a
stopped resource what rules out every node); the score of every node with each
contribution and its source (location constraints and rules, stickiness,
colocations, fail counts reaching migration-threshold, hard errors) and the
nodes that cannot run resources at all (offline, standby, unclean, ...);
the constraints that name it; and what will happen to it (its Transition
Summary line and actions, with their reasons). For a group, each member is
explained in turn.

The what-if options are those of `pacer simulate`: explain the decision
after a node shutdown, a node loss or a resource failure.
"""

EXAMPLES = """\
examples:
  pacer explain vip cluster.xml
      why vip runs where it runs
  pacer explain api examples/demo.yaml --node-down node1
      where each member of group api goes when node1 shuts down, and why
  pacer explain db cluster.xml --fail db:node2 --json
      the same as data

exit status: 0 on success, 1 for unusable input (missing or malformed file,
unknown resource or node; close matches are suggested), 2 on a usage error.
"""


def cmd_explain(args: argparse.Namespace) -> int:
    r = run(args)
    try:
        expl = explain_resource(r.definition, r.result, args.rsc, r.before)
    except ResourceNotFound as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(expl.to_json(), indent=2))
        return 0
    print("\n".join(render(expl)))
    return 0


def register(subparsers) -> None:
    from pacer.cli.simulate_cmd import add_input_arguments

    p = subparsers.add_parser(
        "explain",
        help="say in plain words why a resource is placed where it is",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rsc", metavar="RSC", help="a resource id: a primitive, group or clone")
    add_input_arguments(p)
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(func=cmd_explain)
