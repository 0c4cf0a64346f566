"""`pacer lab`: a real multi-host pacer cluster on this machine, in network namespaces.

The shell around `pacer.lab.Lab`: one subcommand per verb (up, down, status,
logs, exec, fault, power-on, power-off), each printing words or, with --json,
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from pacer.lab import hosts, net
from pacer.lab.lab import FAULTS, Lab, LabError

FORMATTER = argparse.RawDescriptionHelpFormatter

DESCRIPTION = f"""\
Run a real pacer cluster on this machine: every host is a network namespace
on one bridge, with its own etcd member and its own `pacer agent`; a client
namespace reaches them as a user would. Faults are real: processes killed or
frozen by signals, links taken down, the network partitioned.

layout:
  hosts       namespaces pacer-n1 .. pacer-nN (default N=3), eth0 = 10.250.0.(10+X)/24
  client      namespace pacer-c, eth0 = {net.CLIENT_IP}/24
  bridge      {net.BRIDGE} in the root namespace, no address (the lab reaches
              nothing outside, nothing outside reaches the lab); veths pl-NAME
  VIP         {net.VIP}/24 on eth0 of the host that holds it (ocf:heartbeat:IPaddr2)
  service     an HTTP server on port 8080 on every host answering its host name
  etcd        one member per host (client 2379, peer 2380, heartbeat 50 ms,
              election timeout 500 ms)
  fencing     fence_pacer_lab, a power switch: off = link down + every process of
              the host's namespace SIGKILLed; a fenced host stays off until
              `pacer lab power-on HOST`
  watchdog    one process in the root namespace reads each host's watchdog file
              and cuts the power of a host whose agent stopped feeding it
  state       $PACER_LAB_DIR, default {hosts.DEFAULT_DIR}: lab.json, cluster.yaml,
              nX/{{etcd,state}}/, nX/etcd.log, nX/pacer.log, fence.log,
              watchdog.log, faults.log

Everything needs root. See docs/lab.md.
"""

EPILOG = """\
commands:
  up          make the lab (removing a stale one first) and wait until it is ready
  down        kill everything the lab started, remove namespaces, bridge, state
  status      the cluster's status (`pacer status`) and the hosts' power and links
  logs        a host's pacer log (or etcd log), or the lab's fence/watchdog logs
  exec        run a command inside a host's namespace (PACER_ENDPOINTS is set)
  fault       inject a fault: kill-host, freeze-host, thaw-host, partition, heal,
              link-down, link-up, kill-daemon, kill-resource
  power-on    boot a host that is off (link up, etcd, pacer agent)
  power-off   cut a host's power, as the fence device does

examples:
  pacer lab up
  pacer lab status
  pacer lab exec c -- curl -s http://10.250.0.100:8080/
  pacer lab fault kill-host n2
  pacer lab power-on n2
  pacer lab fault partition n1 / n2 n3
  pacer lab fault heal
  pacer lab logs n1 --follow
  pacer lab down

exit status: 0 done, 1 failed (with one line saying why), 2 usage error.
"""

FAULT_HELP = """\
Inject one fault into the running lab. Each is a real event on the host:

  kill-host HOST        power cut: link down, every process in the host's
                        namespace SIGKILLed, the addresses it added (the VIP)
                        forgotten; it stays off until `pacer lab power-on HOST`
  freeze-host HOST      SIGSTOP every process of the host (a hung machine: its
                        kernel still answers ARP and TCP handshakes)
  thaw-host HOST        SIGCONT every process of the host
  link-down HOST        pull the host's cable (its processes keep running)
  link-up HOST          plug it back
  partition G1 / G2 ..  split the hosts into groups that cannot reach each other
                        (blackhole routes in each host); hosts not named (the
                        client) still reach everyone
  heal                  remove every partition
  kill-daemon HOST      SIGKILL the host's pacer agent only (its resources keep
                        running, as after a crash of the daemon)
  kill-resource HOST RSC
                        SIGKILL the process of resource RSC on HOST (found by its
                        agent's pid file), e.g. `kill-resource n2 web`

examples:
  pacer lab fault kill-host n1
  pacer lab fault freeze-host n2; sleep 5; pacer lab fault thaw-host n2
  pacer lab fault partition n1 / n2 n3
  pacer lab fault kill-resource n3 web --json
"""


# What `pacer lab fault` says after each kind of fault, from the record's keys.
FAULT_DETAILS = (("killed", "{n} processes killed, link down"),
                 ("stopped", "{n} processes stopped"), ("continued", "{n} processes continued"),
                 ("groups", "{groups}"), ("removed", "{value} blackhole routes removed"),
                 ("pid", "pid {value} killed"), ("pids", "pid {pids} killed"))


def _lab(args: argparse.Namespace, say: bool = True) -> Lab:
    quiet = getattr(args, "json", False) or not say

    def emit(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr if quiet else sys.stdout,
              flush=True)

    return Lab(getattr(args, "dir", None), nodes=getattr(args, "nodes", None),
               config=getattr(args, "config", None),
               lease_ttl=getattr(args, "lease_ttl", 5) or 5, say=emit,
               etcd_heartbeat_ms=getattr(args, "etcd_heartbeat_ms", hosts.ETCD_HEARTBEAT_MS),
               etcd_election_ms=getattr(args, "etcd_election_ms", hosts.ETCD_ELECTION_MS))


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def host_table(lab: Lab) -> list[dict[str, Any]]:
    info = lab.info
    holders = set(net.vip_holders(info.vip))
    rows = []
    for h in [*info.hosts, net.CLIENT]:
        rows.append({"host": h, "namespace": net.ns_name(h), "ip": net.host_ip(h),
                     "power": hosts.power_state(h), "link": "up" if net.link_is_up(h)
                     else "down", "processes": len(net.ns_pids(h)),
                     "partitioned_from": net.blackholes(h), "vip": h in holders})
    return rows


def _host_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = ["Lab hosts:"]
    for r in rows:
        notes = []
        if r["vip"]:
            notes.append("holds the VIP")
        if r["partitioned_from"]:
            notes.append("cut off from " + " ".join(r["partitioned_from"]))
        role = "client" if r["host"] == net.CLIENT else "host"
        out.append(f"  {r['host']:<4} {role:<6} {r['ip']:<13} power {r['power']:<3}  "
                   f"link {r['link']:<4}  {r['processes']:>3} processes"
                   + (f"  ({'; '.join(notes)})" if notes else ""))
    return out


# ------------------------------------------------------------------ subcommands

def cmd_up(args: argparse.Namespace) -> int:
    if not 1 <= args.nodes <= 39:
        print("pacer lab up: error: --nodes must be 1 to 39", file=sys.stderr)
        return 2
    lab = _lab(args)
    status = lab.up(timeout=args.timeout)
    if args.json:
        _print_json({"lab": {"dir": str(lab.dir), "hosts": host_table(lab),
                             "endpoints": lab.info.endpoints, "cluster": lab.info.cluster,
                             "vip": lab.info.vip}, "status": status})
        return 0
    print()
    print("\n".join(_host_lines(host_table(lab))))
    print()
    print(lab.pacer("status").rstrip())
    print(f"\nThe lab is up. Try: pacer lab fault kill-host {lab.where('vip', status)[0]}"
          "   (then: pacer lab status, pacer lab down)")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab = Lab(args.dir)
    done = lab.down(keep_state=args.keep_state, force=args.force)
    if args.json:
        _print_json({"done": done})
    else:
        print("\n".join(done) if done else "nothing to remove: no lab was up")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    lab = Lab(args.dir)
    rows = host_table(lab)
    if args.json:
        data = lab.status()
        data["lab"] = {"dir": str(lab.dir), "hosts": rows, "vip": lab.info.vip,
                       "vip_holders": [r["host"] for r in rows if r["vip"]],
                       "endpoints": lab.info.endpoints}
        _print_json(data)
        return 0
    print("\n".join(_host_lines(rows)))
    print()
    print(lab.pacer("status").rstrip())
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    lab = Lab(args.dir)
    if args.host in (None, "lab"):
        files = lab.logs(None)
        if args.host is None:
            files += [f for h in lab.hosts for f in lab.logs(h) if f.name == "pacer.log"]
    else:
        try:
            host = net.host_of(args.host)
        except net.NetError as exc:
            raise LabError(str(exc)) from exc
        files = [f for f in lab.logs(host) if f.name == ("etcd.log" if args.etcd
                                                        else "pacer.log")]
    if not files:
        raise LabError(f"no log files yet in {lab.dir}")
    argv = ["tail", "-n", str(args.lines)]
    if args.follow:
        argv.append("-F")
    if len(files) == 1:
        argv.append("-q")
    sys.stdout.flush()
    os.execvp("tail", [*argv, *map(str, files)])
    return 0  # not reached


def cmd_exec(args: argparse.Namespace) -> int:
    lab = Lab(args.dir)
    info = lab.info
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("pacer lab exec: error: give a command after the host, e.g. "
              "`pacer lab exec n1 -- ip addr`", file=sys.stderr)
        return 2
    try:
        ns = net.ns_name(args.host)
    except net.NetError as exc:
        raise LabError(str(exc)) from exc
    if ns not in net.namespaces():
        raise LabError(f"host {args.host} has no namespace {ns}: is the lab up?")
    os.environ["PACER_ENDPOINTS"] = ",".join(info.endpoints)
    os.environ["PACER_CLUSTER"] = info.cluster
    # `pacer` itself on the PATH: the bin directory of the lab's Python (a venv's)
    bindir = os.path.dirname(info.python)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    sys.stdout.flush()
    os.execvp("ip", ["ip", "netns", "exec", ns, *cmd])
    return 0  # not reached


def cmd_fault(args: argparse.Namespace) -> int:
    lab = Lab(args.dir)
    record = lab.fault(args.kind, *args.args)
    if args.json:
        _print_json(record)
        return 0
    detail = ""
    for key, text in FAULT_DETAILS:
        if key in record:
            value = record[key]
            detail = ": " + text.format(n=len(value) if isinstance(value, list) else value,
                                        value=value, pids=" ".join(map(str, value))
                                        if isinstance(value, list) else value,
                                        groups=" | ".join(" ".join(g) for g in value)
                                        if key == "groups" else "")
            break
    print(f"{time.strftime('%H:%M:%S')} {args.kind} {' '.join(args.args)}".rstrip() + detail)
    return 0


def cmd_power(args: argparse.Namespace) -> int:
    lab = Lab(args.dir)
    if args.action == "on":
        started = lab.power_on(args.host)
        if args.wait:
            lab.say = lambda text: None if args.json else print(text, flush=True)
            lab.wait_ready(args.timeout)
        if args.json:
            _print_json({"host": args.host, "power": "on", "pids": started})
        else:
            print(f"{args.host}: power on (etcd pid {started['etcd']}, "
                  f"pacer agent pid {started['pacer']})")
        return 0
    record = lab.fault("kill-host", args.host)
    if args.json:
        _print_json({"host": args.host, "power": "off", "killed": record["killed"]})
    else:
        print(f"{args.host}: power off ({len(record['killed'])} processes killed, link down)")
    return 0


def run(args: argparse.Namespace) -> int:
    if not getattr(args, "lab_func", None):
        args.lab_parser.print_help()
        return 2
    try:
        return int(args.lab_func(args) or 0)
    except LabError as exc:
        print(f"pacer lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pacer lab: interrupted", file=sys.stderr)
        return 130


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="a real multi-host cluster on this machine, in network "
                       "namespaces (root)", description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=FORMATTER)
    p.set_defaults(func=run, lab_parser=p)
    cmds = p.add_subparsers(dest="lab_command", metavar="COMMAND")

    def add(name: str, func: Any, help: str, description: str, epilog: str = ""
            ) -> argparse.ArgumentParser:
        c = cmds.add_parser(name, help=help, description=description, epilog=epilog,
                            formatter_class=FORMATTER)
        c.add_argument("--dir", metavar="DIR", default=None,
                       help=f"the lab's state directory ($PACER_LAB_DIR, default "
                            f"{hosts.DEFAULT_DIR})")
        c.set_defaults(lab_func=func)
        return c

    c = add("up", cmd_up, "make the lab and wait until the cluster is ready", """\
Make the lab: the bridge, one namespace per host and the client's, one etcd
member and one `pacer agent` per host, the lab's watchdog and fence agent;
push the definition and wait until every host is online, every resource runs
and the VIP answers from the client; then print the status.

A lab left by an earlier run (even a killed one) is removed first. Refuses
when not root, or when 10.250.0.0/24 or the bridge name pacerbr0 is used by
something that is not the lab. If anything fails (or on Ctrl-C), everything
made is removed again; the logs stay in the state directory.

The default definition (written to DIR/cluster.yaml): a VIP 10.250.0.100/24
(ocf:heartbeat:IPaddr2) colocated with a clone of an HTTP server on port 8080
(ocf:heartbeat:anything running `python -m pacer.lab.web`), the lab's power
switch as fence device, stonith-enabled, stonith-action off, stickiness 100.""",
            """\
examples:
  pacer lab up
  pacer lab up --nodes 5
  pacer lab up --config my-cluster.yaml --json
""")
    c.add_argument("--nodes", type=int, default=3, metavar="N",
                   help="how many hosts (default 3; named n1..nN)")
    c.add_argument("--config", metavar="FILE", default=None,
                   help="push this definition instead of the lab's default (its nodes "
                        "must be n1..nN; fence devices: stonith:fence_pacer_lab)")
    c.add_argument("--lease-ttl", type=int, default=5, metavar="S",
                   help="the agents' lease TTL in seconds (default 5)")
    c.add_argument("--etcd-heartbeat-ms", type=int, default=hosts.ETCD_HEARTBEAT_MS, metavar="MS",
                   help=f"etcd's --heartbeat-interval (default {hosts.ETCD_HEARTBEAT_MS}; "
                        "etcd's own default is 100)")
    c.add_argument("--etcd-election-ms", type=int, default=hosts.ETCD_ELECTION_MS, metavar="MS",
                   help=f"etcd's --election-timeout (default {hosts.ETCD_ELECTION_MS}, for one "
                        "bridge; etcd's own default is 1000). Losing the host of etcd's leader "
                        "costs an election of 1-2x this; see docs/deployment.md")
    c.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="how long to wait for the cluster to be ready (default 120)")
    c.add_argument("--json", action="store_true",
                   help="print the hosts and the status as JSON (progress goes to stderr)")

    c = add("down", cmd_down, "remove the lab: processes, namespaces, bridge, state", """\
Kill everything the lab started (by pid, then every process left in its
namespaces), remove the namespaces, veth pairs and the bridge, and remove the
state directory unless --keep-state. Also cleans up what a killed earlier run
left behind (any pacer-nX or pacer-c namespace, pl-* link, the bridge). Safe to run twice.""")
    c.add_argument("--keep-state", action="store_true",
                   help="keep the state directory (logs, etcd data) for a post-mortem")
    c.add_argument("--force", action="store_true",
                   help="also when another program (another lab directory, the keepalived "
                        "anchor) has the lab network up")
    c.add_argument("--json", action="store_true", help="print what was removed as JSON")

    c = add("status", cmd_status, "the lab's hosts and the cluster's status", """\
The hosts (power, link, processes, partitions, who holds the VIP, read from
the namespaces themselves) and `pacer status` of the lab's cluster, run from
the client namespace against every host's etcd.""", """\
--json prints `pacer status --json` with one more key, "lab": {dir, hosts
[{host, namespace, ip, power, link, processes, partitioned_from, vip}],
vip, vip_holders, endpoints}.
""")
    c.add_argument("--json", action="store_true", help="print the status as JSON")

    c = add("logs", cmd_logs, "show (or follow) a host's or the lab's logs", """\
Show the last lines of a log. HOST (n1, n2, ...): its pacer agent's log (with
--etcd, its etcd member's). `lab`: the lab's own logs, fence.log (every power
cut and power on, by fence device, watchdog or fault), watchdog.log and
faults.log. No HOST: the lab's logs and every host's pacer log.""", """\
examples:
  pacer lab logs
  pacer lab logs n2 --lines 100
  pacer lab logs n1 --etcd
  pacer lab logs lab --follow
""")
    c.add_argument("host", nargs="?", metavar="HOST", help="n1, n2, ... or lab")
    c.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    c.add_argument("--lines", "-n", type=int, default=40, metavar="N",
                   help="how many lines of each log (default 40)")
    c.add_argument("--etcd", action="store_true", help="the host's etcd log, not pacer's")

    c = add("exec", cmd_exec, "run a command inside a host's namespace", """\
Run CMD inside the network namespace of HOST (n1, n2, ... or c, the client),
with PACER_ENDPOINTS and PACER_CLUSTER set to the lab's, so `pacer status`,
`pacer history`, `pacer resource ...` work as they are. The exit status is
the command's.""", """\
examples:
  pacer lab exec n1 -- ip -br addr
  pacer lab exec c -- curl -s http://10.250.0.100:8080/
  pacer lab exec n2 -- pacer history --limit 20
""")
    c.add_argument("host", metavar="HOST")
    c.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...")

    c = add("fault", cmd_fault, "inject a fault: kill-host, freeze-host, partition, ...",
            FAULT_HELP)
    c.add_argument("kind", choices=FAULTS, metavar="KIND", help=", ".join(FAULTS))
    c.add_argument("args", nargs="*", metavar="ARG", help="hosts (and a resource, groups)")
    c.add_argument("--json", action="store_true",
                   help="print what was done as JSON (with the fault's epoch time)")

    c = add("power-on", cmd_power, "boot a host that is off (link up, etcd, pacer agent)", """\
Boot HOST again after a power cut (a fault, the fence device or the watchdog):
its cable goes back in, the addresses a running host had added are gone (as
after a reboot), then its etcd member and its pacer agent start (only what is
not running: after kill-daemon, this restarts the agent alone). The agent
empties its state directory and joins as a fresh node.""")
    c.add_argument("host", metavar="HOST")
    c.add_argument("--wait", action="store_true",
                   help="wait until the cluster is ready again")
    c.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="with --wait: how long (default 120)")
    c.add_argument("--json", action="store_true", help="print the pids started as JSON")
    c.set_defaults(action="on")

    c = add("power-off", cmd_power, "cut a host's power, as the fence device does", """\
Cut HOST's power: its link goes down, every process in its namespace is
SIGKILLed, the addresses it added are forgotten. The same as `pacer lab fault
kill-host HOST`.""")
    c.add_argument("host", metavar="HOST")
    c.add_argument("--json", action="store_true", help="print the pids killed as JSON")
    c.set_defaults(action="off")
