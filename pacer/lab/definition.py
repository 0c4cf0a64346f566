"""The lab's default cluster definition (what `pacer lab up` pushes without --config).

A VIP (ocf:heartbeat:IPaddr2, 10.250.0.100/24 on eth0) that runs where the
HTTP service runs: a clone of ocf:heartbeat:anything running
`python -m pacer.lab.web` on port 8080 on every host; the lab's power switch
as the fence device; fencing on, a fenced host stays off
(`stonith-action: off`) until `pacer lab power-on HOST`; stickiness, so the
VIP does not move back when a host returns.
"""

from __future__ import annotations

import sys

from pacer.lab import net

WEB_PORT = 8080

TEMPLATE = """\
# pacer lab: the default definition, written by `pacer lab up`.
cluster:
  cluster-name: lab
  stonith-enabled: true
  stonith-action: "off"         # a fenced host stays off until `pacer lab power-on HOST`
  no-quorum-policy: stop

defaults:
  resource:
    resource-stickiness: 100    # the VIP stays where it is when a host comes back
    migration-threshold: 3

nodes:
{nodes}

resources:
  # The lab's power switch (pacer/lab/fence_agent.py): off = every process of
  # the host's namespace SIGKILLed and its link down.
  - id: power
    agent: stonith:fence_pacer_lab
    params: {{pcmk_host_list: "{host_list}"}}
    operations:
      - {{name: monitor, interval: 60s, timeout: 20s}}

  # The service: an HTTP server on every host answering with the host's name.
  # One failure on a host and the VIP leaves it (the instance stays down
  # there for failure-timeout): moving an address takes a tenth of a second,
  # restarting the service in place (su - for ocf:heartbeat:anything) longer.
  - clone: web-clone
    meta: {{migration-threshold: 1, failure-timeout: 30s}}
    child:
      id: web
      agent: ocf:heartbeat:anything
      params:
        binfile: {python}
        cmdline_options: "-m pacer.lab.web --port {port}"
      operations:
        - {{name: monitor, interval: 250ms, timeout: 10s}}
        - {{name: stop, interval: 0, timeout: 10s}}

  # The address clients use, on one host where the service runs.
  - id: vip
    agent: ocf:heartbeat:IPaddr2
    params: {{ip: {vip}, cidr_netmask: "{prefix}", nic: {dev}}}
    operations:
      - {{name: monitor, interval: 2s, timeout: 10s}}

constraints:
  - colocation: {{rsc: vip, with: web-clone, score: INFINITY}}
  # Optional: web starts before the VIP when both start, but restarting the
  # web instance under the VIP does not restart the VIP.
  - order: {{first: web-clone, then: vip, kind: Optional}}
"""


def lab_definition(nodes: int, python: str = sys.executable) -> str:
    names = net.host_names(nodes)
    return TEMPLATE.format(
        nodes="\n".join(f"  - name: {n}" for n in names), host_list=" ".join(names),
        python=python, port=WEB_PORT, vip=net.VIP, prefix=net.PREFIXLEN, dev=net.DEV)
