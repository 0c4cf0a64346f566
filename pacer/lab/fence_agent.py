"""`fence_pacer_lab`: the lab's power switch, as a fence agent.

`pacer lab up` writes a two-line script `<lab dir>/bin/fence_pacer_lab` that
calls `main()` with the lab's directory; every `pacer agent` of the lab gets
`--fence-dir <lab dir>/bin`. It speaks the fence-agents protocol: one
`key=value` per line on stdin (`action`, `plug` or `port`, `nodename`; other
keys are ignored), exit 0 on success, 1 on failure; `status` exits 0 for on,
2 for off.

    off      cut the power of `pacer-<plug>`: link down, SIGKILL every process
             in the namespace, forget the addresses it added (hosts.power_off)
    on       link up, boot etcd and the pacer agent (hosts.power_on)
    reboot   off, then on
    status   on (0) or off (2)
    monitor  the switch answers (0); list: the lab's hosts; metadata: XML

Each call is logged to `<lab dir>/fence.log`, with the node that asked. The
agent runs inside the asking host's network namespace; the `ip` commands it
uses reach the others through /run/netns (the mount namespace is shared).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pacer.lab import hosts, net

_ROOT = Path(__file__).resolve().parents[2]  # where `import pacer` finds this pacer

METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_pacer_lab" shortdesc="pacer lab power switch (network namespaces)">
<longdesc>Powers lab hosts off and on: off SIGKILLs every process of network namespace
pacer-PLUG and takes its link down; on boots the host again (etcd, pacer agent).</longdesc>
<parameters>
 <parameter name="action" unique="0" required="1">
  <getopt mixed="-o, --action=[action]"/><content type="string" default="reboot"/>
  <shortdesc lang="en">Fencing action</shortdesc></parameter>
 <parameter name="plug" unique="0" required="0" obsoletes="port">
  <getopt mixed="-n, --plug=[id]"/><content type="string"/>
  <shortdesc lang="en">The lab host (n1, n2, ...)</shortdesc></parameter>
 <parameter name="port" unique="0" required="0" deprecated="1">
  <getopt mixed="-n, --plug=[id]"/><content type="string"/>
  <shortdesc lang="en">The lab host (n1, n2, ...)</shortdesc></parameter>
</parameters>
<actions>
 <action name="on"/><action name="off"/><action name="reboot"/><action name="status"/>
 <action name="monitor"/><action name="list"/><action name="metadata"/>
 <action name="validate-all"/>
</actions>
</resource-agent>
"""

# -S and an explicit path: the agent needs only the standard library and
# pacer, and site's start-up (the editable install's finder) is a third of
# its run time, which a takeover waits for.
SCRIPT = """#!{python} -S
# Written by `pacer lab up`: the lab's power switch (pacer/lab/fence_agent.py).
import sys
sys.path.insert(0, {root!r})
from pacer.lab.fence_agent import main
sys.exit(main({dir!r}))
"""


def install(d: Path, python: str = sys.executable) -> Path:
    """Write `<d>/bin/fence_pacer_lab` for this lab."""
    path = d / "bin" / "fence_pacer_lab"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPT.format(python=python, dir=str(d), root=str(_ROOT)))
    path.chmod(0o755)
    return path


def parse_options(text: str) -> dict[str, str]:
    opts = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            opts[key.strip()] = value.strip()
    return opts


def main(directory: str, stdin: str | None = None) -> int:
    d = Path(directory)
    opts = parse_options(sys.stdin.read() if stdin is None else stdin)
    action = opts.get("action") or opts.get("option") or "reboot"
    target = opts.get("plug") or opts.get("port") or opts.get("nodename") or ""
    asker = os.environ.get("PACER_NODE", "?")
    log = d / "fence.log"
    if action == "metadata":
        print(METADATA)
        return 0
    info = hosts.LabInfo.load(d)
    if action in ("monitor", "validate-all"):
        return 0 if info is not None else 1
    if action in ("list", "list-status"):
        for h in info.hosts if info else []:
            print(f"{h},{h}")
        return 0
    try:
        host = net.host_of(target)
    except net.NetError as exc:
        hosts.log_line(log, f"{action} {target!r} asked by {asker}: refused: {exc}")
        print(f"ERROR: Failed: {exc}", file=sys.stderr)
        return 1
    if info is None or host not in info.hosts:
        why = f"{host} is not a host of the lab in {d}"
        hosts.log_line(log, f"{action} {host} asked by {asker}: refused: {why}")
        print(f"ERROR: Failed: {why}", file=sys.stderr)
        return 1
    try:
        if action == "status":
            state = hosts.power_state(host)
            hosts.log_line(log, f"status {host} asked by {asker}: {state}")
            return 0 if state == "on" else 2
        if action in ("off", "reboot"):
            hosts.log_line(log, f"{action} {host} asked by {asker}")
            hosts.power_off(d, host, f"fence {action} asked by {asker}", log)
        if action in ("on", "reboot"):
            if action == "on":
                hosts.log_line(log, f"on {host} asked by {asker}")
            hosts.power_on(d, host, f"fence {action} asked by {asker}", log)
        if action not in ("off", "on", "reboot"):
            print(f"ERROR: Failed: unknown action {action!r}", file=sys.stderr)
            return 1
    except (net.NetError, OSError) as exc:
        hosts.log_line(log, f"{action} {host} asked by {asker}: FAILED: {exc}")
        print(f"ERROR: Failed: {exc}", file=sys.stderr)
        return 1
    return 0
