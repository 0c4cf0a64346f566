"""`pacer resource move|ban|clear|cleanup|restart|enable|disable`: act on a live resource.

move, ban, clear, enable and disable edit the stored definition (compare-and-swap
on its revision, redone on a conflict; see `pacer.model.edits` for the
constraints, named as Pacemaker names them). cleanup deletes operation history
and fail-counts so the controller probes the resource again. restart is
disable, wait until stopped, enable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable

from pacer.cli.live import (
    CONNECTION_HELP,
    EXIT_HELP,
    LiveError,
    add_connection_arguments,
    run_live,
    update_definition,
    wait_for_change,
)
from pacer.cli.status_cmd import view_of
from pacer.model.definition import Clone, Definition, Group, Resource, resource_index
from pacer.model.edits import (
    AddLocation,
    Edit,
    RemoveConstraints,
    SetMeta,
    cli_ban_id,
    cli_constraints,
    cli_prefer_id,
)
from pacer.model.errors import close_matches
from pacer.model.meta import parse_interval_ms
from pacer.status_view import ResourceView, StatusView, find_resource, parse_fail_attribute
from pacer.store.cluster import ClusterStore, Snapshot

DESCRIPTION = """\
Act on one resource of the live cluster.

  move RSC --node N   RSC prefers N: adds cli-prefer-RSC (score INFINITY)
  move RSC            RSC leaves the node it is on: adds cli-ban-RSC-on-NODE
  ban RSC [--node N]  RSC may not run on N (default: where it runs now):
                      adds cli-ban-RSC-on-N (score -INFINITY)
  clear RSC [--node N]  removes what move and ban added (only those about N)
  enable RSC          removes the meta attribute target-role (RSC may run)
  disable RSC         sets target-role=Stopped (RSC and what depends on it stop)
  cleanup [RSC] [--node N]  forgets RSC's operation history and fail-counts
                      (on N only, or everywhere; every resource without RSC):
                      the controller probes it again and recovers from scratch
  restart RSC         disable, wait until it is stopped, enable, wait until it
                      runs again (--timeout bounds each wait)

move, ban, clear, enable and disable change the stored definition, like
`crm_resource`, with Pacemaker's constraint names; the change stays until it
is cleared. With --lifetime the constraint holds only until then (its rule
says `date lt END`): --lifetime 1h, 30min, PT2H, P1D.
"""

EXAMPLES = """\
examples:
  pacer resource move vip --node node2
  pacer resource move vip                  away from where it runs now
  pacer resource ban db-clone --node node3 --lifetime 2h
  pacer resource clear vip
  pacer resource disable api && pacer resource enable api
  pacer resource cleanup vip --node node1
  pacer resource restart haproxy-clone --timeout 120

""" + CONNECTION_HELP + "\n" + EXIT_HELP


# --------------------------------------------------------------------------- helpers


def _resource(defn: Definition, rsc: str) -> Resource:
    index = resource_index(defn.resources)
    if rsc in index:
        return index[rsc]
    matches = close_matches(rsc, list(index))
    hint = (f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches
            else f"; resources are: {', '.join(list(index)[:12])}" if index else
            "; the definition has no resources")
    raise LiveError(f"no resource {rsc!r}{hint}")


def _check_node(snap: Snapshot, node: str) -> None:
    assert snap.definition is not None
    known = [n.name for n in snap.definition.definition.nodes] + list(snap.status.node_states)
    if node not in known:
        matches = close_matches(node, known)
        hint = f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else (
            f"; nodes are: {', '.join(dict.fromkeys(known))}")
        raise LiveError(f"no node {node!r}{hint}")


def lifetime_end(lifetime: str | None, now: float) -> str | None:
    """`--lifetime 2h` → the ISO 8601 UTC time it ends, as a date expression wants it."""
    if lifetime is None:
        return None
    try:
        ms = parse_interval_ms(lifetime)
    except ValueError as exc:
        raise LiveError(f"--lifetime: {exc}") from None
    if ms <= 0:
        raise LiveError("--lifetime must be longer than 0")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + ms / 1000))


def _view(snap: Snapshot, cs: ClusterStore) -> StatusView:
    return view_of(snap, cs.cluster)


def _current_node(snap: Snapshot, cs: ClusterStore, rsc: str, verb: str) -> str:
    """Where RSC runs now, for move/ban without --node (the scheduler's reading)."""
    v = find_resource(_view(snap, cs), rsc)
    nodes = v.nodes() if v else []
    if not nodes:
        raise LiveError(f"{rsc} is not active anywhere; say which node to {verb}: --node NODE")
    if len(nodes) > 1:
        raise LiveError(f"{rsc} is active on {len(nodes)} nodes ({' '.join(nodes)}); "
                        f"say which one to {verb}: --node NODE")
    return nodes[0]


def _edit_for(args: argparse.Namespace, cs: ClusterStore, until: str | None
              ) -> Callable[[Snapshot], Edit]:
    """The definition edit a command makes, computed from a fresh snapshot each attempt."""
    node: str | None = getattr(args, "node", None)

    def change(snap: Snapshot) -> Edit:
        assert snap.definition is not None
        defn = snap.definition.definition
        _resource(defn, args.rsc)
        if node:
            _check_node(snap, node)
        cmd = args.resource_command
        if cmd == "move" and node:
            return AddLocation(cli_prefer_id(args.rsc), args.rsc, node, "INFINITY",
                               until=until)
        if cmd in ("move", "ban"):
            where = node or _current_node(snap, cs, args.rsc, cmd)
            return AddLocation(cli_ban_id(args.rsc, where), args.rsc, where, "-INFINITY",
                               until=until)
        if cmd == "clear":
            return RemoveConstraints(tuple(c.id for c in cli_constraints(defn, args.rsc,
                                                                         node)))
        if cmd == "disable":
            return SetMeta(args.rsc, "target-role", "Stopped")
        return SetMeta(args.rsc, "target-role", None)

    return change


def _emit(args: argparse.Namespace, data: dict, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text)


# --------------------------------------------------------------------------- definition edits


async def _edit(cs: ClusterStore, args: argparse.Namespace) -> int:
    until = lifetime_end(getattr(args, "lifetime", None), time.time())
    result, revision = await update_definition(cs, _edit_for(args, cs, until))
    cmd, rsc, node = args.resource_command, args.rsc, getattr(args, "node", None)
    data = {"rsc": rsc, "command": cmd, "changed": result.changed, "revision": revision,
            "comments_kept": result.preserved}
    if not result.changed:
        what = {"clear": f"{rsc} has no move/ban constraints"
                + (f" about {node}" if node else ""),
                "enable": f"{rsc} is already enabled (no target-role)",
                "disable": f"{rsc} is already disabled"}.get(cmd, "nothing to change")
        _emit(args, data, f"{what}; definition unchanged (revision {revision})")
        return 0
    ids = _cli_ids(result.definition, rsc)
    data["constraints"] = ids
    if cmd == "move" and node:
        text = f"{rsc} now prefers {node} (constraint {cli_prefer_id(rsc)})"
    elif cmd in ("move", "ban"):
        banned = [i for i in ids if i.startswith(f"cli-ban-{rsc}-on-")]
        text = f"{rsc} may not run on {banned[-1].rsplit('-on-', 1)[1] if banned else '?'}"
        text += f" (constraint {banned[-1] if banned else '?'})"
    elif cmd == "clear":
        text = f"{rsc}: move/ban constraints removed"
    elif cmd == "disable":
        text = f"{rsc} disabled (target-role=Stopped): it and what depends on it stop"
    else:
        text = f"{rsc} enabled (target-role removed)"
    if cmd in ("move", "ban"):
        data["until"] = until
        text += (f", until {until}" if until else
                 f", until `pacer resource clear {rsc}`")
    text += f"; definition revision {revision}"
    if not result.preserved:
        text += " (the stored YAML was rewritten: its comments are gone)"
    _emit(args, data, text)
    return 0


def _cli_ids(defn: Definition, rsc: str) -> list[str]:
    return [c.id for c in cli_constraints(defn, rsc)]


# --------------------------------------------------------------------------- cleanup


def primitives_of(defn: Definition | None, rsc: str) -> set[str]:
    """The primitive ids whose history belongs to RSC (a group's members, a clone's child)."""
    if defn is None:
        return {rsc}
    index = resource_index(defn.resources)
    r = index.get(rsc)
    if r is None:
        return {rsc}  # an orphan: only in history
    out: set[str] = set()

    def walk(x: Resource) -> None:
        if isinstance(x, Group):
            for m in x.members:
                walk(m)
        elif isinstance(x, Clone):
            walk(x.child)
        else:
            out.add(x.id)

    walk(r)
    return out


def _belongs(hid: str, prims: set[str] | None) -> bool:
    # Globally-unique clone instances keep their history as `id:N`.
    return prims is None or hid in prims or hid.split(":", 1)[0] in prims


def _failure_of(attribute: str) -> str | None:
    """The history id a fail-count or last-failure attribute counts for."""
    parsed = parse_fail_attribute(attribute)
    return parsed[1] if parsed else None


async def _cleanup(cs: ClusterStore, args: argparse.Namespace) -> int:
    snap = await cs.snapshot()
    defn = snap.definition.definition if snap.definition else None
    if args.rsc and defn is not None and args.rsc not in resource_index(defn.resources):
        orphans = {h.rsc.split(":", 1)[0] for ns in snap.status.node_states.values()
                   for h in ns.history}
        if args.rsc not in orphans:
            _resource(defn, args.rsc)
    if args.node and args.node not in snap.status.node_states:
        raise LiveError(f"node {args.node!r} has never joined: it has no history")
    prims = primitives_of(defn, args.rsc) if args.rsc else None
    done = await cs.clean_up(lambda hid: _belongs(hid, prims), _failure_of, args.node)
    what = args.rsc or "every resource"
    where = f"on {args.node}" if args.node else "on every node"
    data = {"rsc": args.rsc, "node": args.node, "deleted_keys": done.deleted,
            "cleaned": {k: sorted(v) for k, v in sorted(done.cleaned.items())}}
    if not done.deleted:
        _emit(args, data, f"{what}: no history or fail-count {where}; nothing to clean up")
        return 0
    lines = [f"cleaned up {what} {where}: {done.deleted} keys deleted"]
    lines += [f"  {hid} on {' '.join(sorted(nodes))}"
              for hid, nodes in sorted(done.cleaned.items())]
    lines.append("the controller probes it again and decides from what it finds")
    _emit(args, data, "\n".join(lines))
    return 0


# --------------------------------------------------------------------------- restart


async def wait_until(cs: ClusterStore, done: Callable[[StatusView], bool], timeout: float,
                     progress: Callable[[StatusView], None] | None = None) -> StatusView:
    """Re-read the cluster on every change until `done(view)`; TimeoutError after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        snap = await cs.snapshot()
        view = _view(snap, cs)
        if done(view):
            return view
        if progress is not None:
            progress(view)
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError
        try:
            await asyncio.wait_for(wait_for_change(cs, snap.revision, settle=0.05), left)
        except TimeoutError:
            raise TimeoutError from None


def _prims_of(view: StatusView, rsc: str) -> list[ResourceView]:
    v = find_resource(view, rsc)
    return [x for x in v.walk() if x.kind == "primitive"] if v else []


async def _restart(cs: ClusterStore, args: argparse.Namespace) -> int:
    snap = await cs.snapshot()
    if snap.definition is None:
        raise LiveError("no definition is stored yet")
    r = _resource(snap.definition.definition, args.rsc)
    original = r.meta.get("target-role")
    if original is not None and original.lower() == "stopped":
        raise LiveError(f"{args.rsc} is disabled; `pacer resource enable {args.rsc}` starts it")
    if not any(p.active for p in _prims_of(_view(snap, cs), args.rsc)):
        raise LiveError(f"{args.rsc} is not running anywhere; nothing to restart")
    started = time.monotonic()
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if args.json else (
        lambda text: print(text, flush=True))
    shown: set[str] = set()

    def progress(view: StatusView) -> None:
        where = " ".join(sorted({n for p in _prims_of(view, args.rsc) for n in p.nodes()}))
        if where not in shown:
            shown.add(where)
            say(f"  [{time.monotonic() - started:5.1f}s] still active on {where}" if where
                else f"  [{time.monotonic() - started:5.1f}s] stopped")

    edit_off = SetMeta(args.rsc, "target-role", "Stopped")
    edit_on = SetMeta(args.rsc, "target-role", original)
    await update_definition(cs, lambda _snap: edit_off)
    say(f"{args.rsc}: disabled, waiting for it to stop (at most {args.timeout:g}s)")
    try:
        await wait_until(cs, lambda v: not any(p.active for p in _prims_of(v, args.rsc)),
                         args.timeout, progress)
    except TimeoutError:
        await update_definition(cs, lambda _snap: edit_on)
        raise LiveError(f"{args.rsc} did not stop within {args.timeout:g}s; it was enabled "
                        "again (see `pacer status` for why it could not stop)") from None
    say(f"  [{time.monotonic() - started:5.1f}s] stopped; enabling")
    await update_definition(cs, lambda _snap: edit_on)
    shown.clear()
    try:
        view = await wait_until(
            cs, lambda v: all(p.active for p in _prims_of(v, args.rsc)) or (
                find_resource(v, args.rsc) is not None
                and find_resource(v, args.rsc).kind == "clone"  # type: ignore[union-attr]
                and any(p.active for p in _prims_of(v, args.rsc))),
            max(args.timeout - (time.monotonic() - started), 1.0))
    except TimeoutError:
        raise LiveError(f"{args.rsc} was restarted but is not running again after "
                        f"{args.timeout:g}s; see `pacer status`") from None
    where = " ".join(sorted({n for p in _prims_of(view, args.rsc) for n in p.nodes()}))
    _emit(args, {"rsc": args.rsc, "restarted": True, "nodes": where.split(),
                 "seconds": round(time.monotonic() - started, 1)},
          f"  [{time.monotonic() - started:5.1f}s] {args.rsc} runs again on {where}")
    return 0


# --------------------------------------------------------------------------- parser


def cmd_resource(args: argparse.Namespace) -> int:
    cmd = args.resource_command
    if cmd == "cleanup":
        return run_live(args, lambda cs: _cleanup(cs, args))
    if cmd == "restart":
        if args.timeout <= 0:
            print("pacer: error: --timeout must be positive", file=sys.stderr)
            return 2
        return run_live(args, lambda cs: _restart(cs, args))
    return run_live(args, lambda cs: _edit(cs, args))


_HELP = {
    "move": "make RSC run on --node (or leave the node it is on)",
    "ban": "keep RSC off --node (default: the node it is on)",
    "clear": "remove the constraints move and ban added",
    "cleanup": "forget RSC's history and fail-counts so it is probed again",
    "restart": "stop RSC, wait, start it again",
    "enable": "let RSC run (remove target-role)",
    "disable": "stop RSC (target-role=Stopped)",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "resource", help="move, ban, clear, clean up, restart, enable or disable a resource",
        description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="resource_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    for name, text in _HELP.items():
        s = sub.add_parser(name, help=text, description=f"pacer resource {name}: {text}.\n\n"
                           + DESCRIPTION, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.add_argument("rsc", metavar="RSC", nargs="?" if name == "cleanup" else None,
                       help="the resource id (primitive, group or clone)")
        if name in ("move", "ban", "clear", "cleanup"):
            s.add_argument("--node", "-N", metavar="NODE", help={
                "move": "the node to move to (default: away from where it runs)",
                "ban": "the node to keep it off (default: where it runs now)",
                "clear": "only the constraints about NODE",
                "cleanup": "only on NODE (default: every node)"}[name])
        if name in ("move", "ban"):
            s.add_argument("--lifetime", "-u", metavar="DURATION",
                           help="the constraint expires after DURATION (1h, 30min, PT2H)")
        if name == "restart":
            s.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                           help="how long to wait for it to stop, and to start (default 60)")
        s.add_argument("--json", action="store_true", help="print the outcome as JSON")
        add_connection_arguments(s)
        s.set_defaults(func=cmd_resource)

