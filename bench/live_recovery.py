#!/usr/bin/env python3
"""Recovery times of a live pacer cluster on this machine (real etcd, one
`pacer agent` per node, ocf:heartbeat:Dummy resources, a power-switch fence
device for test nodes).

    bench/live_recovery.py [--runs 10] [--nodes 3] [--lease-ttl 2] [--json FILE]

Three measurements, each repeated --runs times (median, min, p90, max in s):

- resource crash → running again: the resource's state file is removed (the
  agent's monitor, every 1 s, then reports it stopped); time until the agent
  has started it again.
- controller crash → new controller: SIGKILL of the controller's daemon (no
  resource runs on its node); time until another node holds the controller
  key. Also checks that no resource was restarted.
- daemon crash → resource elsewhere: SIGKILL of the daemon of the node running
  the resource (the resource keeps running there until fenced); time until it
  runs on another node, fenced first.

The Pacemaker anchors for the same questions (ANCHORS.md: service killed with
a 1 s monitor 2.32 s median; host lost 3.9–8.9 s) are measured in their own
lab by bench/failover.py; this bench runs without network namespaces.
"""

# ruff: noqa: B023  (every lambda here is polled within its own loop iteration)
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from live_cluster import LiveCluster  # noqa: E402


def _defn(lc: LiveCluster, ban: str | None) -> str:
    ban_lines = f"  - location: {{rsc: svc, node: {ban}, score: -INFINITY}}\n" if ban else ""
    nodes = ", ".join(f"{{name: {n}}}" for n in lc.names)
    return f"""
cluster: {{stonith-enabled: true}}
defaults:
  resource: {{resource-stickiness: 100}}
nodes: [{nodes}]
resources:
  - id: fence
    agent: stonith:fence_pacer_node
    params: {{cluster: {lc.id}, state_root: "{lc.base / 'nodes'}"}}
  - id: svc
    agent: ocf:heartbeat:Dummy
    operations: [{{name: monitor, interval: 1s, timeout: 10s}}]
constraints:
{ban_lines or "  []"}
"""


def _one(lc: LiveCluster) -> str | None:
    nodes = lc.running("svc")
    return nodes[0] if len(nodes) == 1 else None


def _poll(cond, timeout: float = 60.0, step: float = 0.005):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError("no recovery within 60 s")


def _monitored(lc: LiveCluster, node: str) -> bool:
    ns = lc.snapshot().status.node_states.get(node)
    return bool(ns) and any(op.id == "svc_monitor_1000" and op.rc == 0
                            for h in ns.history if h.rsc == "svc" for op in h.ops)


def resource_crash(lc: LiveCluster, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        node = lc.wait(lambda c: _one(c), "svc running")
        lc.wait(lambda c: _monitored(c, node), "svc monitored")
        state = lc.state_dir(node) / "rsctmp" / "Dummy-svc.state"
        t0 = time.monotonic()
        state.unlink()
        _poll(lambda: len(lc.running("svc")) == 1)
        out.append(time.monotonic() - t0)
        time.sleep(0.5)
    return out


def _controller(lc: LiveCluster) -> str | None:
    snap = lc.snapshot()
    return snap.controller.node if snap.controller else None


def _fences(lc: LiveCluster, node: str) -> int:
    return sum(ev.target == node for ev in lc.snapshot().status.fencing_history)


def controller_crash(lc: LiveCluster, runs: int) -> tuple[list[float], int]:
    out = []
    restarts = 0
    for _ in range(runs):
        ctl = lc.wait(lambda c: _controller(c), "a controller")
        lc.push(_defn(lc, ban=ctl))
        node = lc.wait(lambda c: (n := _one(c)) not in (None, ctl) and n, "svc off the controller")
        lc.wait(lambda c: _monitored(c, node), "svc monitored")
        before = lc.running("svc")
        fenced = _fences(lc, ctl)
        t0 = time.monotonic()
        lc.kill_daemon(ctl)
        _poll(lambda: (c := _controller(lc)) is not None and c != ctl)
        out.append(time.monotonic() - t0)
        # Restart it only once this round's fence is done (the fence kills every
        # process of the node, a daemon started before it included).
        lc.wait(lambda c: _fences(c, ctl) > fenced, "the old controller fenced")
        if lc.running("svc") != before:
            restarts += 1
        lc.start_daemon(ctl)
        lc.wait(lambda c: ctl in c.snapshot().status.node_states
                and c.snapshot().status.node_states[ctl].in_ccm == "true", "node back")
    return out, restarts


def daemon_crash(lc: LiveCluster, runs: int) -> list[float]:
    out = []
    lc.push(_defn(lc, ban=None))
    for _ in range(runs):
        node = lc.wait(lambda c: _one(c), "svc running")
        lc.wait(lambda c: _monitored(c, node), "svc monitored")
        fenced = _fences(lc, node)
        t0 = time.monotonic()
        lc.kill_daemon(node)
        _poll(lambda n=node: (m := _one(lc)) is not None and m != n)
        out.append(time.monotonic() - t0)
        lc.wait(lambda c: _fences(c, node) > fenced, "the lost node fenced")
        lc.start_daemon(node)
        lc.wait(lambda c: c.snapshot().status.node_states.get(node) is not None
                and c.snapshot().status.node_states[node].in_ccm == "true", "node back")
    return out


def _row(name: str, xs: list[float]) -> dict:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return {"measure": name, "runs": len(xs), "median_s": round(statistics.median(xs), 3),
            "min_s": round(xs[0], 3), "p90_s": round(p90, 3), "max_s": round(xs[-1], 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--lease-ttl", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pacer-bench-") as d, \
            LiveCluster(Path(d), nodes=args.nodes, lease_ttl=args.lease_ttl) as lc:
        lc.push(_defn(lc, ban=None))
        print(f"resource crash x{args.runs} ...", file=sys.stderr)
        rows.append(_row("resource crash -> running again (monitor 1 s)",
                         resource_crash(lc, args.runs)))
        print(f"controller crash x{args.runs} ...", file=sys.stderr)
        times, restarts = controller_crash(lc, args.runs)
        rows.append({**_row("controller crash -> new controller", times),
                     "resources_restarted": restarts})
        print(f"daemon crash x{args.runs} ...", file=sys.stderr)
        rows.append(_row("daemon crash -> resource elsewhere (fenced first)",
                         daemon_crash(lc, args.runs)))
    print(f"\nlive cluster: {args.nodes} nodes, lease TTL {args.lease_ttl} s, "
          "3 etcd members, all on this machine\n")
    print(f"{'measure':52} {'runs':>4} {'median':>8} {'min':>7} {'p90':>7} {'max':>7}")
    for r in rows:
        print(f"{r['measure']:52} {r['runs']:>4} {r['median_s']:>7.3f}s {r['min_s']:>6.3f}s "
              f"{r['p90_s']:>6.3f}s {r['max_s']:>6.3f}s")
    if any("resources_restarted" in r for r in rows):
        print(f"\nresources restarted by a controller crash: {rows[1]['resources_restarted']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
