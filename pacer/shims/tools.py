"""The shims themselves: one function per tool, `(argv, environ) -> exit code`.

Option letters and output follow Pacemaker 2.1's tools (checked against
`crm_attribute --help-all` and the tools' own output with a CIB_file), for the
queries and updates agents make. They reach the cluster through the typed
layer (`pacer.store.client`: the connection from the agent's environment,
`ClusterStore`) and show it as `pacer status` does (`pacer.status_view`),
loading nothing of the `pacer` command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Mapping

from pacer.shims import (
    CRM_EX_ERROR,
    CRM_EX_NOSUCH,
    CRM_EX_NOT_CONNECTED,
    CRM_EX_OK,
    CRM_EX_UNIMPLEMENT_FEATURE,
    CRM_EX_USAGE,
)
from pacer.store.client import BadConnection, connection_from_env, run_client
from pacer.store.cluster import ClusterStore, NotMember

NOSUCH = "No such device or address"


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error with Pacemaker's exit code (64)."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise _Usage


def _parse(parser: _Parser, argv: list[str]) -> argparse.Namespace | None:
    try:
        return parser.parse_args(argv)
    except _Usage:
        return None


def _run(prog: str, env: Mapping[str, str],
         body: Callable[[ClusterStore], Awaitable[int]]) -> int:
    try:
        conn = connection_from_env(env)
    except BadConnection as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return CRM_EX_ERROR
    return run_client(conn, body, prog=prog, unreachable=CRM_EX_NOT_CONNECTED)


def _local_node(env: Mapping[str, str]) -> str:
    # The daemon sets PACER_NODE; like Pacemaker, fall back to the host's name.
    return env.get("PACER_NODE") or os.uname().nodename


# --------------------------------------------------------------------------- crm_attribute


def _attribute_parser(prog: str) -> _Parser:
    p = _Parser(prog=prog, description="query and update node attributes and cluster "
                "options (pacer's crm_attribute)")
    p.add_argument("-n", "--name", "--attr-name")
    p.add_argument("-v", "--update", "--attr-value", dest="update")
    p.add_argument("-G", "--query", "--get-value", action="store_true")
    p.add_argument("-D", "--delete", "--delete-attr", action="store_true")
    p.add_argument("-N", "--node", "-U", "--uname", dest="node")
    p.add_argument("-l", "--lifetime", choices=("reboot", "forever"))
    p.add_argument("-t", "--type", choices=("crm_config", "rsc_defaults", "op_defaults",
                                            "tickets", "nodes", "status"))
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-p", "--promotion", nargs="?", const="", default=None, metavar="RSC")
    p.add_argument("-d", "--default")
    p.add_argument("-i", "--id", "--attr-id")
    p.add_argument("-s", "--set-name")
    p.add_argument("-P", "--pattern")
    p.add_argument("-z", "--utilization", action="store_true")
    p.add_argument("-V", "--verbose", action="count", default=0)
    return p


def crm_attribute(argv: list[str], env: Mapping[str, str], prog: str = "crm_attribute"
                  ) -> int:
    args = _parse(_attribute_parser(prog), argv)
    if args is None:
        return CRM_EX_USAGE
    if args.promotion is not None:
        rsc = args.promotion or env.get("OCF_RESOURCE_INSTANCE")
        if not rsc:
            print(f"{prog}: --promotion needs a resource (or OCF_RESOURCE_INSTANCE)",
                  file=sys.stderr)
            return CRM_EX_USAGE
        args.name = f"master-{rsc}"
        args.lifetime = args.lifetime or "reboot"
    if args.type == "status":
        args.lifetime = "reboot"
    elif args.type == "nodes":
        args.lifetime = args.lifetime or "forever"
    node_mode = bool(args.node or args.lifetime or args.promotion is not None
                     or args.type in ("nodes", "status"))
    if args.utilization or args.type == "tickets" or args.pattern:
        print(f"{prog}: this option is not supported by pacer's shim", file=sys.stderr)
        return CRM_EX_UNIMPLEMENT_FEATURE
    if not node_mode:
        return _cluster_option(prog, args, env)
    if not args.name and not args.query:
        print(f"{prog}: an attribute name is needed (-n NAME)", file=sys.stderr)
        return CRM_EX_USAGE
    node = args.node or _local_node(env)
    transient = (args.lifetime or "forever") == "reboot"
    scope = "status" if transient else "nodes"

    async def body(cs: ClusterStore) -> int:
        if args.update is not None and not args.delete:
            try:
                await cs.set_attribute(node, args.name, args.update, transient=transient)
            except NotMember:
                print(f"{prog}: Error performing operation: {node} is not a cluster member "
                      "(a reboot-lifetime attribute needs one)", file=sys.stderr)
                return CRM_EX_NOSUCH
            return CRM_EX_OK
        if args.delete:
            if await cs.attribute(node, args.name, transient) is None:
                return CRM_EX_OK  # nothing to delete is no error, as in Pacemaker
            try:
                await cs.set_attribute(node, args.name, None, transient=transient)
            except NotMember:
                # its lease is going anyway
                await cs.delete_attribute(node, args.name, transient)
            if not args.quiet:
                print(f"Deleted {scope} attribute: id={scope}-{node}-{args.name} "
                      f"name={args.name}")
            return CRM_EX_OK
        values = await cs.node_attributes(node, transient)
        wanted = [args.name] if args.name else sorted(values)
        for name in wanted:
            rc = _print_value(prog, scope, name, values.get(name, args.default), args.quiet)
            if rc != CRM_EX_OK:
                return rc
        return CRM_EX_OK

    return _run(prog, env, body)


def _print_value(prog: str, scope: str, name: str, value: str | None, quiet: bool) -> int:
    """A query's answer as crm_attribute prints it (-q: the value alone)."""
    if value is None:
        print(f"{prog}: Error performing operation: {NOSUCH}", file=sys.stderr)
        return CRM_EX_NOSUCH
    print(value if quiet else f"scope={scope}  name={name} value={value}")
    return CRM_EX_OK


def _cluster_option(prog: str, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    section = args.type or "crm_config"
    if args.update is not None or args.delete:
        print(f"{prog}: pacer keeps {section} in the cluster's definition; change it with "
              "`pacer config edit`", file=sys.stderr)
        return CRM_EX_UNIMPLEMENT_FEATURE
    if not args.name:
        print(f"{prog}: an option name is needed (-n NAME)", file=sys.stderr)
        return CRM_EX_USAGE

    async def body(cs: ClusterStore) -> int:
        stored = await cs.definition()
        values: dict[str, str] = {}
        if stored is not None:
            d = stored.definition
            if section == "crm_config":
                values = dict(d.properties)
            else:
                for s in (d.rsc_defaults if section == "rsc_defaults" else d.op_defaults):
                    if s.rule is None:
                        values = {**dict(s.values), **values}
        return _print_value(prog, section, args.name, values.get(args.name, args.default),
                            args.quiet)

    return _run(prog, env, body)


# --------------------------------------------------------------------------- crm_master


def crm_master(argv: list[str], env: Mapping[str, str]) -> int:
    """Pacemaker's deprecated wrapper: crm_attribute -n master-$OCF_RESOURCE_INSTANCE
    on the local node, lifetime forever unless -l says otherwise."""
    p = _Parser(prog="crm_master", description="query, update or delete a resource's "
                "promotion score (pacer's crm_master)")
    p.add_argument("-v", "--update", "--attr-value", dest="update")
    p.add_argument("-G", "--query", "--get-value", "-Q", action="store_true")
    p.add_argument("-D", "--delete", "--delete-attr", action="store_true")
    p.add_argument("-N", "--node", "-U", "--uname", dest="node")
    p.add_argument("-l", "--lifetime", choices=("reboot", "forever"), default="forever")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-r", "--resource")
    p.add_argument("-i", "--id", "--attr-id")
    p.add_argument("-V", "--verbose", action="count", default=0)
    args = _parse(p, argv)
    if args is None:
        return CRM_EX_USAGE
    rsc = args.resource or env.get("OCF_RESOURCE_INSTANCE")
    if not rsc:
        print("crm_master: No resource specified", file=sys.stderr)
        return CRM_EX_ERROR
    out = ["-n", f"master-{rsc}", "-l", args.lifetime]
    if args.node:
        out += ["-N", args.node]
    if args.update is not None:
        out += ["-v", args.update]
    if args.query:
        out.append("-G")
    if args.delete:
        out.append("-D")
    if args.quiet:
        out.append("-q")
    return crm_attribute(out, env, prog="crm_attribute")


# --------------------------------------------------------------------------- attrd_updater


def attrd_updater(argv: list[str], env: Mapping[str, str]) -> int:
    """Transient node attributes (Pacemaker's attrd keeps them until the node leaves)."""
    p = _Parser(prog="attrd_updater", description="update, delete or query a transient "
                "node attribute (pacer's attrd_updater)")
    p.add_argument("-n", "--name", required=True)
    p.add_argument("-U", "--update", "-v")
    p.add_argument("-B", "--update-both")
    p.add_argument("-Y", "--update-delay", action="store_true")
    p.add_argument("-Q", "--query", action="store_true")
    p.add_argument("-D", "--delete", action="store_true")
    p.add_argument("-R", "--refresh", action="store_true")
    p.add_argument("-N", "--node")
    p.add_argument("-A", "--all", action="store_true")
    p.add_argument("-d", "--delay")
    p.add_argument("-s", "--set")
    p.add_argument("-l", "--lifetime")
    p.add_argument("-p", "--private", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-V", "--verbose", action="count", default=0)
    args = _parse(p, argv)
    if args is None:
        return CRM_EX_USAGE
    value = args.update if args.update is not None else args.update_both
    node = args.node or _local_node(env)

    async def body(cs: ClusterStore) -> int:
        if args.query:
            nodes = sorted(await cs.members()) if args.all else [node]
            found = False
            for n in nodes:
                have = await cs.attribute(n, args.name, True)
                if have is not None:
                    found = True
                    print(f'name="{args.name}" host="{n}" value="{have}"')
            if not found:
                print(f"attrd_updater: Could not query value of {args.name}: attribute "
                      "does not exist", file=sys.stderr)
                return CRM_EX_NOSUCH
            return CRM_EX_OK
        if args.refresh or args.update_delay:
            return CRM_EX_OK  # nothing is cached or dampened: every write is immediate
        if not args.delete and value is None:
            print("attrd_updater: one of -U, -B, -D, -Q is needed", file=sys.stderr)
            return CRM_EX_USAGE
        try:
            await cs.set_attribute(node, args.name, None if args.delete else value,
                                   transient=True)
        except NotMember:
            print(f"attrd_updater: Could not update {args.name}: {node} is not a cluster "
                  "member", file=sys.stderr)
            return CRM_EX_NOSUCH
        return CRM_EX_OK

    return _run("attrd_updater", env, body)


# --------------------------------------------------------------------------- crm_node


def crm_node(argv: list[str], env: Mapping[str, str]) -> int:
    p = _Parser(prog="crm_node", description="node information (pacer's crm_node)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--name", action="store_true")
    g.add_argument("-i", "--cluster-id", action="store_true")
    g.add_argument("-l", "--list", action="store_true")
    g.add_argument("-p", "--partition", action="store_true")
    g.add_argument("-q", "--quorum", action="store_true")
    g.add_argument("-N", "--name-for-id")
    p.add_argument("-Q", "--quiet", action="store_true")
    p.add_argument("-V", "--verbose", action="count", default=0)
    args = _parse(p, argv)
    if args is None:
        return CRM_EX_USAGE
    if args.name:
        print(_local_node(env))  # no store access: agents call this a lot
        return CRM_EX_OK
    if not (args.cluster_id or args.list or args.partition or args.quorum
            or args.name_for_id):
        print("crm_node: one of -n -i -l -p -q -N is needed", file=sys.stderr)
        return CRM_EX_USAGE
    me = _local_node(env)

    async def body(cs: ClusterStore) -> int:
        snap = await cs.snapshot()
        members = {n for n, ns in snap.status.node_states.items() if ns.crmd == "online"}
        if args.quorum:
            print("1")  # a read from etcd succeeds only with etcd's quorum
            return CRM_EX_OK
        if args.partition:
            print(" ".join(sorted(members)))
            return CRM_EX_OK
        defn_nodes = ([n.name for n in snap.definition.definition.nodes]
                      if snap.definition else [])
        ids = {name: ns.id or name for name, ns in snap.status.node_states.items()}
        names = list(dict.fromkeys(defn_nodes + sorted(snap.status.node_states)))
        if args.cluster_id:
            if me not in ids:
                print(f"crm_node: {me} has not joined the cluster", file=sys.stderr)
                return CRM_EX_NOSUCH
            print(ids[me])
            return CRM_EX_OK
        if args.name_for_id:
            name = next((n for n, i in ids.items() if i == args.name_for_id), None)
            if name is None:
                print(f"crm_node: Could not find node with ID {args.name_for_id}",
                      file=sys.stderr)
                return CRM_EX_NOSUCH
            print(name)
            return CRM_EX_OK
        for n in names:
            state = "member" if n in members else "lost"
            print(n if args.quiet else f"{ids.get(n, n)} {n} {state}")
        return CRM_EX_OK

    if args.quorum:
        # Unreachable etcd is no quorum: say 0 (what an agent asking wants to know).
        code = _run("crm_node", env, body)
        if code == CRM_EX_NOT_CONNECTED:
            print("0")
        return CRM_EX_OK if code in (CRM_EX_OK, CRM_EX_NOT_CONNECTED) else code
    return _run("crm_node", env, body)


# --------------------------------------------------------------------------- crm_mon


def crm_mon(argv: list[str], env: Mapping[str, str]) -> int:
    """One-shot status (pacer's crm_mon never runs interactively)."""
    p = _Parser(prog="crm_mon", description="cluster status, once (pacer's crm_mon)")
    p.add_argument("-1", "--one-shot", action="store_true")
    p.add_argument("-s", "--simple-status", action="store_true")
    for flag in ("-r", "-f", "-A", "-n", "-o", "-t", "-c", "-L", "-R", "-j", "-b", "-Q"):
        p.add_argument(flag, action="store_true")
    p.add_argument("--output-as")
    p.add_argument("-V", "--verbose", action="count", default=0)
    args = _parse(p, argv)
    if args is None:
        return CRM_EX_USAGE
    from pacer.status_view import render, status_line, view_of

    async def body(cs: ClusterStore) -> int:
        view = view_of(await cs.snapshot(), env.get("PACER_CLUSTER") or "default")
        if args.simple_status:
            line = status_line(view)
            print(line)
            return 0 if line.startswith("CLUSTER OK") else 1
        print("\n".join(render(view)))
        return CRM_EX_OK

    code = _run("crm_mon", env, body)
    if code == CRM_EX_NOT_CONNECTED and args.simple_status:
        print("CLUSTER CRIT: Connection to cluster failed")
        return 2
    return code


# --------------------------------------------------------------------------- crm_resource


def crm_resource(argv: list[str], env: Mapping[str, str]) -> int:
    p = _Parser(prog="crm_resource", description="resource queries (pacer's crm_resource)")
    p.add_argument("-r", "--resource")
    p.add_argument("-W", "--locate", action="store_true")
    p.add_argument("-L", "--list", action="store_true")
    p.add_argument("-l", "--list-raw", action="store_true")
    p.add_argument("-g", "--get-parameter", metavar="NAME")
    p.add_argument("--meta", action="store_true")
    p.add_argument("-Q", "--quiet", action="store_true")
    p.add_argument("-N", "--node")
    p.add_argument("-V", "--verbose", action="count", default=0)
    args = _parse(p, argv)
    if args is None:
        return CRM_EX_USAGE
    if (args.locate or args.get_parameter) and not args.resource:
        print("crm_resource: Must supply a resource id with -r", file=sys.stderr)
        return CRM_EX_USAGE
    if not (args.locate or args.list or args.list_raw or args.get_parameter):
        print("crm_resource: pacer's shim supports --locate, --list, --list-raw and "
              "--get-parameter; use `pacer resource` for the rest", file=sys.stderr)
        return CRM_EX_UNIMPLEMENT_FEATURE
    from pacer.model.definition import resource_index
    from pacer.status_view import find_resource, view_of

    async def body(cs: ClusterStore) -> int:
        snap = await cs.snapshot()
        index = resource_index(snap.definition.definition.resources) if snap.definition else {}
        if args.list or args.list_raw:
            for rid in index:
                print(rid)
            return CRM_EX_OK
        rsc = args.resource.split(":", 1)[0] if args.resource not in index else args.resource
        if rsc not in index:
            print(f"crm_resource: Resource '{args.resource}' not found", file=sys.stderr)
            return CRM_EX_NOSUCH
        if args.get_parameter:
            r = index[rsc]
            values = r.meta if args.meta else getattr(r, "params", {})
            value = values.get(args.get_parameter)
            if value is None:
                print(f"Attribute '{args.get_parameter}' not found for '{args.resource}'",
                      file=sys.stderr)
                return CRM_EX_NOSUCH
            print(value)
            return CRM_EX_OK
        view = view_of(snap, env.get("PACER_CLUSTER") or "default")
        v = find_resource(view, rsc)
        placements = [] if v is None else [
            pl for x in v.walk() if x.kind == "primitive" for pl in x.active]
        if not placements:
            print(f"resource {args.resource} is NOT running", file=sys.stderr)
            return CRM_EX_OK
        for pl in placements:
            if args.quiet:
                print(pl.node)
            else:
                role = f" {pl.role}" if pl.role == "Promoted" else ""
                print(f"resource {args.resource} is running on: {pl.node}{role}")
        return CRM_EX_OK

    return _run("crm_resource", env, body)
