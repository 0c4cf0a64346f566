"""`pacer ra`: list, describe and try resource and fence agents by hand.

The same runners the node daemon uses (`pacer.agents`), so what an operator
sees here is what the cluster will see: the same environment, timeouts,
exit-code mapping and state directory layout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import textwrap
from dataclasses import asdict
from pathlib import Path

from pacer.agents.api import (
    DEFAULT_TIMEOUT_MS,
    ActionRequest,
    ActionResult,
    AgentError,
    AgentSpec,
    FenceRequest,
    FenceResult,
    NodeEnvironment,
)
from pacer.agents.metadata import AgentMetadata, ParameterSpec
from pacer.agents.registry import STANDARDS, AgentRegistry
from pacer.cli.main import UserError
from pacer.model.meta import format_interval, parse_interval_ms

FORMATTER = argparse.RawDescriptionHelpFormatter
# root shares one directory; others get their own (agents keep state files there).
DEFAULT_STATE_DIR = (Path("/run/pacer/ra") if os.geteuid() == 0 else
                     Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
                     / f"pacer-ra-{os.geteuid()}")
FENCE_ONLY_ACTIONS = ("off", "on", "reboot", "status", "list", "list-status")

RA_DESCRIPTION = """\
List, describe and run resource agents and fence agents by hand, exactly as a
pacer node runs them: OCF agents (ocf:PROVIDER:TYPE, from /usr/lib/ocf),
pacer's built-in agents (pacer:vip, pacer:process), systemd units
(systemd:NAME), LSB init scripts (lsb:NAME), service:NAME (systemd where
systemd runs, else LSB) and fence agents (stonith:fence_NAME, from /usr/sbin).
"""

RA_EPILOG = """\
examples:
  pacer ra list ocf
  pacer ra info ocf:heartbeat:IPaddr2
  pacer ra run ocf:heartbeat:Dummy start --instance d1
  pacer ra run ocf:heartbeat:Dummy monitor --instance d1        (a probe: rc 0 or 7)
  pacer ra run stonith:fence_dummy status --target node1 --param status_file=/tmp/s

Run 'pacer ra COMMAND --help' for the options of each command.
"""

RUN_DESCRIPTION = """\
Run one action of an agent once and report what the cluster would record:
the OCF return code (with its meaning), the operation status (complete, timed
out, not installed, ...), the exit reason the agent gave on an
`ocf-exit-reason:` line, the time it took and the tail of its output.

The agent gets the environment a pacer node gives it: OCF_ROOT,
OCF_RA_VERSION_MAJOR/MINOR, OCF_RESOURCE_INSTANCE (--instance),
OCF_RESOURCE_TYPE/PROVIDER, one OCF_RESKEY_<name> per --param (and only
those: unset and empty differ to agents), OCF_RESKEY_CRM_meta_<name> per
--meta (dashes become underscores) plus timeout and interval in milliseconds,
OCF_CHECK_LEVEL (--check-level), and HA_RSCTMP/HA_VARRUN under --state-dir,
where agents keep the state files that let monitor and stop find what start
did. Use the same --state-dir for every step of a test, and a node's own
state directory to see what that node sees.

The action runs in its own process group; at the timeout the whole group gets
SIGTERM and, after a short grace, SIGKILL, and the action counts as timed out.
"""

RUN_EPILOG = """\
actions:
  start, stop, monitor (--interval 0, the default, makes it a probe), promote,
  demote, notify, reload, reload-agent, migrate_to, migrate_from,
  validate-all, meta-data, or anything else the agent implements.
  Fence agents (stonith:fence_*): off, on, reboot, status, monitor, list,
  list-status, validate-all, metadata; --target names the node to act on,
  --param gives device parameters (pcmk_host_map, pcmk_host_argument honoured).

exit status:
  the OCF return code the cluster would record: 0 ok, 1 error (also a
  timeout, an unknown code, or a process killed by a signal), 2 bad
  parameter, 3 unimplemented, 4 insufficient privileges, 5 not installed
  (also an agent that does not exist), 6 not configured, 7 not running,
  8 running promoted, 9 failed promoted, 190/191 degraded. For fence agents,
  the agent's own exit status (status: 0 on, 2 off). 2 also for a usage error.

examples:
  pacer ra run ocf:pacemaker:Stateful start --instance st:0 --meta promotable=true
  pacer ra run ocf:heartbeat:IPaddr2 start --param ip=10.0.0.50 --param cidr_netmask=24
  pacer ra run pacer:process start --instance web --param 'command=python3 -m http.server'
  pacer ra run ocf:heartbeat:Dummy monitor --interval 10s --json
"""


def _kv(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


def _ms(text: str) -> int:
    try:
        return parse_interval_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _registry(args: argparse.Namespace) -> AgentRegistry:
    state = Path(getattr(args, "state_dir", None) or DEFAULT_STATE_DIR)
    node = NodeEnvironment(state_dir=state, node_name=getattr(args, "node", None),
                           shim_dir=getattr(args, "shim_dir", None))
    roots = [Path(r) for r in (getattr(args, "ocf_root", None) or ["/usr/lib/ocf"])]
    return AgentRegistry(node, ocf_roots=roots)


def _spec(registry: AgentRegistry, text: str) -> AgentSpec:
    try:
        return registry.resolve(text)
    except AgentError as exc:
        raise UserError(str(exc)) from None


# --------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        agents = registry.list_agents(args.standard)
    except AgentError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps([str(a) for a in agents], indent=2))
    else:
        for a in agents:
            print(a)
    return 0


# --------------------------------------------------------------------------- info


def _flags(p: ParameterSpec) -> str:
    flags = [f for f, on in (("required", p.required), ("unique", p.unique),
                             ("reloadable", p.reloadable), ("deprecated", p.deprecated)) if on]
    if p.unique_group:
        flags.append(f"unique-group={p.unique_group}")
    return ", ".join(flags)


def info_text(spec: AgentSpec, md: AgentMetadata) -> str:
    lines = [f"{spec} ({md.name} {md.version})".rstrip(), ""]
    if md.shortdesc:
        lines += [md.shortdesc, ""]
    if md.longdesc and md.longdesc != md.shortdesc:
        lines += textwrap.wrap(md.longdesc, 78) + [""]
    lines.append("Parameters:" if md.parameters else "Parameters: none")
    for p in md.parameters:
        head = f"  {p.name} ({p.type}"
        if p.default not in (None, ""):
            head += f", default {p.default!r}"
        flags = _flags(p)
        head += f"; {flags})" if flags else ")"
        lines.append(head)
        if p.shortdesc:
            lines += textwrap.wrap(p.shortdesc, 74, initial_indent="      ",
                                   subsequent_indent="      ")
    lines += ["", "Actions:" if md.actions else "Actions: none advertised"]
    for a in md.actions:
        parts = [f"  {a.name:<14}"]
        if a.timeout_ms is not None:
            parts.append(f"timeout {format_interval(a.timeout_ms)}")
        if a.interval_ms:
            parts.append(f"interval {format_interval(a.interval_ms)}")
        if a.role:
            parts.append(f"role {a.role}")
        if a.depth:
            parts.append(f"depth {a.depth}")
        lines.append("  ".join(parts).rstrip())
    if spec.standard != "stonith":
        lines += ["", f"Promotable: {'yes' if md.promotable else 'no'}   "
                      f"Migratable: {'yes' if md.migratable else 'no'}   "
                      f"reload-agent: {'yes' if md.reload_agent else 'no'}"]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    registry = _registry(args)
    spec = _spec(registry, args.spec)
    try:
        md = asyncio.run(registry.metadata(spec))
    except AgentError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        data = asdict(md)
        data.update(spec=str(spec), promotable=md.promotable, migratable=md.migratable,
                    reload_agent=md.reload_agent)
        print(json.dumps(data, indent=2))
    else:
        print(info_text(spec, md))
    return 0


# --------------------------------------------------------------------------- run


def _warn(text: str) -> None:
    print(f"pacer: warning: {text}", file=sys.stderr)


def _check_params(spec: AgentSpec, md: AgentMetadata | None, params: dict[str, str],
                  action: str) -> None:
    if md is None or action in ("meta-data", "metadata", "stop"):
        return
    known = {p.name for p in md.parameters}
    for name in params:
        if name not in known and name != "OCF_CHECK_LEVEL" and md.parameters:
            _warn(f"{spec} has no parameter {name!r} (see 'pacer ra info {spec}')")
    if spec.standard != "stonith":
        for name in md.required_parameters:
            if name not in params:
                _warn(f"{spec} requires parameter {name!r}")


def result_text(spec: AgentSpec, action: str, instance: str, r: ActionResult) -> str:
    head = (f"{spec} {action}" + (f" ({instance})" if instance else "")
            + f": rc {r.rc} ({r.rc_name}), {r.op_status_name}, {r.duration_ms} ms")
    lines = [head]
    if r.exit_status is not None and r.exit_status != r.rc:
        lines.append(f"agent exit status: {r.exit_status}")
    if r.exit_reason:
        lines.append(f"reason: {r.exit_reason}")
    return "\n".join(lines + _output_lines(r.output, r.stderr))


def _output_lines(out: str, err: str) -> list[str]:
    lines = []
    if out.strip():
        lines += ["--- stdout ---", out.rstrip()]
    if err.strip():
        lines += ["--- stderr ---", err.rstrip()]
    return lines


def fence_text(req: FenceRequest, r: FenceResult) -> str:
    what = f"{req.action}" + (f" {req.target}" if req.target else "")
    state = "ok" if r.ok else ("timed out" if r.timed_out else "failed")
    head = f"stonith:{req.agent} {what}: rc {r.rc}, {state}, {r.duration_ms} ms"
    lines = [head]
    if r.power:
        lines.append(f"power: {r.power}")
    if r.error:
        lines.append(f"error: {r.error}")
    return "\n".join(lines + _output_lines(r.output, r.stderr))


async def _metadata_or_none(registry: AgentRegistry, spec: AgentSpec) -> AgentMetadata | None:
    try:
        return await registry.metadata(spec)
    except AgentError:
        return None


async def _run(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        spec = registry.resolve(args.spec)
    except AgentError as exc:
        print(f"pacer: error: {exc}", file=sys.stderr)
        return 5  # what the cluster would record: not installed
    params = dict(args.param or [])
    meta = dict(args.meta or [])
    md = None
    if args.action not in ("meta-data", "metadata"):
        md = await _metadata_or_none(registry, spec)
    _check_params(spec, md, params, args.action)
    timeout_ms = args.timeout
    if timeout_ms is None:
        timeout_ms = (md.default_timeout_ms(args.action, args.interval or 0) if md else None) \
            or DEFAULT_TIMEOUT_MS
    if spec.standard == "stonith" and (args.target or args.action in FENCE_ONLY_ACTIONS):
        freq = FenceRequest(device=args.instance or spec.type, agent=spec.type,
                            action=args.action, target=args.target, params=params,
                            timeout_ms=timeout_ms)
        fres = await registry.fence(freq)
        if args.json:
            print(json.dumps({"spec": str(spec), "action": args.action, "target": args.target,
                              **asdict(fres)}, indent=2))
        else:
            print(fence_text(freq, fres))
        return fres.rc if 0 <= fres.rc <= 255 else 1
    instance = args.instance or spec.type
    notify = dict(args.notify or [])
    request = ActionRequest(
        rsc_id=instance.split(":")[0], instance=instance, agent=spec, action=args.action,
        params=params, meta=meta, interval_ms=args.interval or 0, timeout_ms=timeout_ms,
        notify=notify, check_level=args.check_level,
    )
    result = await registry.run(request)
    if args.json:
        data = asdict(result)
        data.update(spec=str(spec), action=args.action, instance=instance,
                    rc_name=result.rc_name, op_status_name=result.op_status_name)
        print(json.dumps(data, indent=2))
    else:
        print(result_text(spec, args.action, instance, result))
    return result.rc if 0 <= result.rc <= 255 else 1


def cmd_run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


# --------------------------------------------------------------------------- register


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ocf-root", action="append", metavar="DIR",
                   help="OCF root to find ocf: agents in (repeatable, searched in order; "
                        "default /usr/lib/ocf)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: argparse._SubParsersAction) -> None:
    ra = subparsers.add_parser(
        "ra", help="list, describe and try resource and fence agents by hand",
        description=RA_DESCRIPTION, epilog=RA_EPILOG, formatter_class=FORMATTER,
    )
    sub = ra.add_subparsers(dest="ra_command", metavar="COMMAND")
    ra.set_defaults(func=lambda args: (ra.print_help(), 2)[1])

    p = sub.add_parser(
        "list", help="list the installed agents",
        description="List every agent installed on this machine as a spec you can use "
                    "in a configuration, optionally only one class. systemd units are "
                    "listed only where systemd runs.",
        epilog="classes: " + ", ".join(STANDARDS), formatter_class=FORMATTER,
    )
    p.add_argument("standard", nargs="?", metavar="CLASS",
                   help="only this class: " + ", ".join(STANDARDS))
    _common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "info", help="describe an agent: parameters, actions, defaults",
        description="Run the agent's meta-data action and show what it says: each "
                    "parameter with its type, default and flags (required, unique, "
                    "reloadable), each advertised action with its default timeout and "
                    "interval, and whether it can be promoted, migrated or reloaded "
                    "(inferred from the actions, as Pacemaker does).",
        epilog="example:\n  pacer ra info ocf:pacemaker:Stateful --json",
        formatter_class=FORMATTER,
    )
    p.add_argument("spec", metavar="SPEC", help="ocf:PROVIDER:TYPE, pacer:TYPE, systemd:UNIT, "
                                                 "lsb:SCRIPT, service:NAME or stonith:fence_X")
    _common(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("run", help="run one action of an agent and show the result",
                       description=RUN_DESCRIPTION, epilog=RUN_EPILOG, formatter_class=FORMATTER)
    p.add_argument("spec", metavar="SPEC", help="the agent, e.g. ocf:heartbeat:Dummy")
    p.add_argument("action", metavar="ACTION", help="start, stop, monitor, ... (see below)")
    p.add_argument("-p", "--param", action="append", type=_kv, metavar="NAME=VALUE",
                   help="an instance parameter (repeatable)")
    p.add_argument("-m", "--meta", action="append", type=_kv, metavar="NAME=VALUE",
                   help="a meta attribute, e.g. clone-max=3 or promotable=true (repeatable)")
    p.add_argument("--notify", action="append", type=_kv, metavar="NAME=VALUE",
                   help="a clone notification variable without its prefix, e.g. type=pre, "
                        "operation=start, start_resource='st:0' (repeatable)")
    p.add_argument("-i", "--instance", metavar="NAME",
                   help="OCF_RESOURCE_INSTANCE, with :N for a clone instance "
                        "(default: the agent's type); for fence agents, the device name")
    p.add_argument("--interval", type=_ms, metavar="TIME", default=0,
                   help="the op interval (10s, 1min; default 0: a probe for monitor)")
    p.add_argument("-t", "--timeout", type=_ms, metavar="TIME",
                   help="kill the action after this long (default: the agent's advertised "
                        "timeout for the action, else 20s)")
    p.add_argument("--check-level", type=int, metavar="N", help="OCF_CHECK_LEVEL (monitor depth)")
    p.add_argument("--target", metavar="NODE", help="fence agents: the node to act on")
    p.add_argument("--state-dir", metavar="DIR",
                   help=f"the node state directory holding HA_RSCTMP (rsctmp/) and HA_VARRUN "
                        f"(run/) (default {DEFAULT_STATE_DIR})")
    p.add_argument("--shim-dir", type=Path, metavar="DIR",
                   help="directory of crm_* shims put first in PATH and used as HA_SBIN_DIR "
                        "(default STATE_DIR/shims)")
    p.add_argument("--node", metavar="NAME",
                   help="node name passed as OCF_RESKEY_CRM_meta_on_node")
    _common(p)
    p.set_defaults(func=cmd_run)

