"""`pacer node standby|unstandby|maintenance NODE`: node attributes, as Pacemaker's
`crm_standby` / `crm_attribute -N NODE -n maintenance` set them."""

from __future__ import annotations

import argparse
import json

from pacer.cli.live import CONNECTION_HELP, EXIT_HELP, LiveError, add_connection_arguments, run_live
from pacer.model.errors import close_matches
from pacer.store.cluster import ClusterStore, NotMember

DESCRIPTION = """\
Put a node in standby (it runs no resources; what runs there moves away),
take it out again, or switch its maintenance mode (resources there are left
alone: neither monitored nor stopped nor started).

These are the node attributes `standby` and `maintenance`, as in Pacemaker:
permanent by default (they survive the node's reboot), or with --lifetime
reboot transient (bound to the node's membership: gone when it leaves or
reboots; the node must be a member). unstandby and maintenance --off remove
the attribute in both lifetimes, so the node really leaves that mode.
"""

EXAMPLES = """\
examples:
  pacer node standby node2
  pacer node standby node2 --lifetime reboot    until node2 next restarts
  pacer node unstandby node2
  pacer node maintenance node3
  pacer node maintenance node3 --off

""" + CONNECTION_HELP + "\n" + EXIT_HELP


async def _known_nodes(cs: ClusterStore) -> list[str]:
    snap = await cs.snapshot()
    names = [n.name for n in snap.definition.definition.nodes] if snap.definition else []
    return list(dict.fromkeys(names + list(snap.status.node_states)))


async def _node(cs: ClusterStore, args: argparse.Namespace) -> int:
    known = await _known_nodes(cs)
    if args.node not in known:
        matches = close_matches(args.node, known)
        hint = (f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else
                f"; nodes are: {', '.join(known)}" if known else
                "; no node is configured or has joined")
        raise LiveError(f"no node {args.node!r}{hint}")
    cmd = args.node_command
    name = "maintenance" if cmd == "maintenance" else "standby"
    on = cmd == "standby" or (cmd == "maintenance" and not args.off)
    transient = args.lifetime == "reboot"
    try:
        if on:
            await cs.set_attribute(args.node, name, "on", transient=transient)
        else:
            await cs.set_attribute(args.node, name, None, transient=False)
            if args.node in (await cs.members()):
                await cs.set_attribute(args.node, name, None, transient=True)
    except NotMember:
        raise LiveError(f"{args.node} is not a member now: a --lifetime reboot attribute "
                        "lives only while the node is; leave out --lifetime for a "
                        "permanent one") from None
    attrs = await cs.attributes(args.node)
    if args.json:
        print(json.dumps({"node": args.node, "attribute": name, "value": attrs.get(name),
                          "lifetime": args.lifetime}, indent=2))
        return 0
    if on:
        what = ("in standby: its resources move elsewhere" if name == "standby" else
                "in maintenance: its resources are left alone")
        until = " until it reboots" if transient else ""
        print(f"{args.node} is {what}{until} ({name}=on)")
    else:
        print(f"{args.node}: {name} removed" + (
            f" (still {name}={attrs[name]} from the definition's node attributes)"
            if name in attrs else ""))
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    return run_live(args, lambda cs: _node(cs, args))


_HELP = {
    "standby": "move every resource off NODE and keep them off",
    "unstandby": "let NODE run resources again",
    "maintenance": "leave NODE's resources alone (--off: manage them again)",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "node", help="standby, unstandby or maintenance of a node",
        description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="node_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    for name, text in _HELP.items():
        s = sub.add_parser(name, help=text, description=f"pacer node {name}: {text}.\n\n"
                           + DESCRIPTION, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.add_argument("node", metavar="NODE", help="the node's name")
        if name == "maintenance":
            s.add_argument("--off", action="store_true", help="end maintenance mode")
        s.add_argument("--lifetime", "-l", choices=("forever", "reboot"), default="forever",
                       help="forever (default: survives reboots) or reboot (until the node "
                            "leaves or restarts)")
        s.add_argument("--json", action="store_true", help="print the outcome as JSON")
        add_connection_arguments(s)
        s.set_defaults(func=cmd_node)
