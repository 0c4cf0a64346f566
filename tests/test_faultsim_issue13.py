"""Issue 13: what the simulator found on the product, one case per finding.

Each case is a seed (its profile: slow operations, watchdog modes, TTLs) and
a schedule that random `pacer faultsim explore` runs found and ddmin shrank
(or, where random seeds did not get there, a hand-written one), with the
violation it showed on main at 0e2c3b3 (the last field). Every one passes
since the fixes of issue 13; each stays here so that it stays fixed.
pacer/faultsim/README.md, "Issue 13", tells each story.
"""

from __future__ import annotations

import pytest

from pacer.faultsim.config import SimConfig
from pacer.faultsim.faults import parse_fault
from pacer.faultsim.run import run

QUIET = dict(slow_share=0.0, watchdog_mode_share=0.0, ttl_share=0.0)
SLOW = dict(slow_share=1.0, watchdog_mode_share=0.0, ttl_share=0.0)
A_KINDS = ("agent-fail", "agent-hang", "agent-fail-always", "rsc-die", "crash", "freeze",
           "partition")

CASES = [
    # (finding, config, seed, schedule, the invariant it broke on main at 0e2c3b3)
    ("1: a slow stop written off, what it protects stopped under it",
     dict(fault_kinds=A_KINDS, **SLOW), 54, "rsc-die@53.364:n2/lb", "order"),
    ("1: a slow pending op holds every recovery (vip dead 30 s under api)",
     dict(fault_kinds=A_KINDS, **SLOW), 16, "rsc-die@48.829:n2/vip", "colocation"),
    ("1/5: written-off promotes and demotes pile up and run later",
     dict(fault_kinds=A_KINDS, **SLOW), 2, "agent-fail@25.092:n3/api-web/monitor", "converges"),
    ("2: the watchdog wait counted from before a hung device",
     QUIET, 408, "agent-fail@32.428:n2/vip/stop fence-hang@51.843+11.987 rsc-die@56.76:n2/lb",
     "fence-confirmed"),
    ("2: the same with a device that fails after 10 s (by hand)",
     QUIET, 1, "agent-fail-always@30+30:n2/vip/stop rsc-die@31:n2/lb fence-slow-fail@29+40=10",
     "fence-confirmed"),
    ("3: a late watchdog (late:8 on n2), the controller's own wait",
     dict(slow_share=0.0, watchdog_mode_share=1.0, ttl_share=1.0), 497,
     "fence-fail@37.036+13.14 freeze@37.997+6.768:n2", "fence-confirmed"),
    ("3: the controller's TTL, not the target's (TTLs 3 5 3)",
     dict(slow_share=0.0, watchdog_mode_share=1.0, ttl_share=1.0), 584,
     "fence-fail@60.791+16.149 freeze@69.927+11.868:n2 partition@75.592+11.924:n3",
     "fence-confirmed"),
    ("4: key gone is not lease gone (revocation lost, watch stalled)",
     dict(max_faults=8, **QUIET), 577,
     "revoke-lost@48.924+18.838 hb-cut@61.361+15.478:n2 watch-stall@62.102+7.174:n2 "
     "fence-fail@62.113+0.564", "self-fence"),
    ("6: the accept's answer after a stall starts work without a lease (by hand)",
     QUIET, 1, "store-slow@0+30:n2=0.3 loop-stall@4.4+3:n2 fence-fail@4+20", "rule-6"),
    ("7: a fence confirmed after the node came back wipes its new incarnation",
     QUIET, 152, "fence-slow-fail@34.761+19.548=4.9 crash@40.735+10.076:n1",
     "healthy-evicted"),
    ("8: inbound UDP blocked on n2: it deposes the controller and evicts everyone",
     QUIET, 1, "hb-cut-in@30+10:n2", "healthy-evicted"),
    ("8: a rejoined node suspects peers with silences from its last membership",
     QUIET, 84, "fence-slow-fail@43.916+17.955=19.3 store-slow@56.516+11.126:n3=0.858",
     "healthy-evicted"),
    ("new: a campaign retried at once after LeaseNotFound, for ever",
     {}, 1395, "store-slow@33.742+8.207:n1=1.94 hb-cut@38.633+7.539:n3",
     "stalled"),
    ("new: a stalled controller watch: a request for a node's old incarnation runs in the new",
     dict(max_faults=8, **QUIET), 556,
     "hb-cut@66.727+1.563:n2 watch-stall@68.273+14.569:n1 hb-cut@71.27+1.107:n3", "order"),
    ("new: a full disk kills every recurring monitor, silently",
     QUIET, 1, "disk-full@30+20:n1", "daemon-error"),
    ("new: watchdog fencing of a paused VM (device failing): it resumes running everything",
     {}, 3817, "vm-pause@37.334+13.685:n2 fence-fail@37.528+9.127", "fence-confirmed"),
]


@pytest.mark.parametrize("finding, config, seed, schedule, invariant", CASES,
                         ids=[c[0].split(":")[0] + f"-seed{c[2]}" for c in CASES])
def test_issue_13_finding(finding: str, config: dict, seed: int, schedule: str,
                          invariant: str) -> None:
    result = run(SimConfig(**config), seed, [parse_fault(f) for f in schedule.split()])
    assert result.ok, (finding, f"on 0e2c3b3: {invariant}", result.violations)
