"""The fault model and the seeded fault scheduler.

A schedule is a list of `Fault`s, each a begin time, a kind, its targets and
a duration (its end heals it). Schedules are plain data: generated from a seed
by `generate()` (every choice from one `random.Random(seed)`), saved as JSON
with a failure, replayed as they are, and shrunk by dropping faults.

Kinds (targets in brackets):

- crash [node] — the host loses power: its processes die without running
  any cleanup, its resources die; it boots again after `duration`.
- freeze [node] — every process of the host stops (SIGSTOP, a hung VM):
  no progress, no keepalives, resources keep running; thawed after `duration`.
- partition [nodes] — the nodes are cut off from the others; the store is
  reachable only from the side holding a majority of its members; healed after
  `duration`.
- rsc-die [node, rsc] — the resource dies on the host (a monitor finds it gone).
- agent-fail [node, rsc, action] — the resource's next `action` there fails (rc 1).
- agent-hang [node, rsc, action] — its next `action` there hangs until its timeout.
- agent-fail-always [node, rsc, action] — every `action` of the resource there
  fails (rc 1) for `duration` (a stop that fails every time; 0: for ever).
- drift [node, value] — the host's monotonic clock runs `value` (a rate error,
  bounded by `SimConfig.max_drift`) fast or slow, for `duration`.
- store-leader-loss [] — the store has no leader for `duration`: every request
  from every client is refused.
- store-flaky [node, value] — for `duration`, each of the node's store requests
  is, with probability `value`, refused, lost, or applied with its answer lost.
- fence-fail [] — the fence device fails every request for `duration` (after 1 s).
- fence-hang [] — every request hangs until its timeout (stonith-timeout), then fails.
- fence-slow-fail [value] — every request fails after `value` seconds.
- fence-lie [] — every request reports success (after `fence_delay`) without
  acting. Opt-in: it defeats any manager that trusts its fence device.
- oneway-out [node] — nothing the host sends arrives: its datagrams are lost,
  its store requests never reach the store (the store's answers and watch
  events would still reach it).
- oneway-in [node] — nothing reaches the host: peers' datagrams are lost, its
  store requests are applied but their answers lost, its watches deliver
  nothing.
- hb-cut [nodes] — datagrams (heartbeats) between these nodes and the rest are
  lost both ways; the store is reachable from everywhere.
- hb-cut-in [node] — datagrams to the host are lost (inbound UDP blocked); it
  sends, and reaches the store.
- watch-stall [node] — the host's watch streams deliver nothing; unary calls
  work; what they missed comes when the fault ends.
- revoke-lost [value] — every lease revocation (of any host) is lost: dropped
  before it is applied (value 0) or applied with its answer lost (value 1).
- store-slow [node, value] — each store request of the host takes `value`
  seconds (0.1-3 s): applied at the store half-way, answered at the end.
- loop-stall [node] — the host's pacer process runs nothing (a callback
  blocked its loop); then, as asyncio does, it first runs what arrived
  meanwhile, then the timers that came due.
- vm-pause [node] — the host's VM stops: its process, its monotonic clock and
  its watchdog; its resources stay. On resume its clock has not counted the
  pause (every timer of the process is that much later).
- disk-full [node] — every write under the host's state_dir fails (ENOSPC).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pacer.faultsim.config import SimConfig

# Actions an agent fault can hit (the ones whose failure the cluster must
# handle): SimConfig.fault_actions, these by default.
FAULT_ACTIONS = ("start", "stop", "monitor", "promote", "demote")


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    nodes: tuple[str, ...] = ()
    duration: float = 0.0
    rsc: str = ""
    action: str = ""
    value: float = 0.0

    @property
    def end(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        who = ",".join(self.nodes)
        d = f" for {self.duration:.1f}s" if self.duration else ""
        if self.kind == "partition":
            return f"partition {who} from the rest{d}"
        if self.kind == "rsc-die":
            return f"rsc-die {self.rsc} on {who}"
        if self.kind in ("agent-fail", "agent-hang"):
            return f"{self.kind} {self.rsc} {self.action} on {who}"
        if self.kind == "agent-fail-always":
            return f"{self.kind} {self.rsc} {self.action} on {who}{d}"
        if self.kind == "drift":
            return f"drift {who} clock rate {self.value:+.2%}{d}"
        if self.kind == "store-flaky":
            return f"store-flaky {who} p={self.value:.2f}{d}"
        if self.kind == "fence-slow-fail":
            return f"fence-slow-fail after {self.value:g}s{d}"
        if self.kind == "hb-cut":
            return f"hb-cut {who} from the rest{d}"
        if self.kind == "revoke-lost":
            how = "dropped" if self.value == 0 else "applied, answer lost"
            return f"revoke-lost ({how}){d}"
        if self.kind == "store-slow":
            return f"store-slow {who} {self.value:g}s per request{d}"
        return f"{self.kind} {who}{d}".replace("  ", " ").strip()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"at": self.at, "kind": self.kind}
        if self.nodes:
            data["nodes"] = list(self.nodes)
        for name in ("duration", "value"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        for name in ("rsc", "action"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        return cls(at=float(data["at"]), kind=str(data["kind"]),
                   nodes=tuple(data.get("nodes", ())), duration=float(data.get("duration", 0)),
                   rsc=str(data.get("rsc", "")), action=str(data.get("action", "")),
                   value=float(data.get("value", 0)))


def parse_fault(text: str) -> Fault:
    """`KIND@AT[+DURATION][:NODE[,NODE...]][/RSC[/ACTION]][=VALUE]`, e.g.
    `crash@30+10:n1`, `partition@25+8:n2,n3`, `agent-hang@30:n1/vip/stop`,
    `drift@20+30:n2=0.01`, `store-leader-loss@40+3`."""
    rest = text.strip()
    value = 0.0
    if "=" in rest:
        rest, v = rest.rsplit("=", 1)
        value = float(v)
    rsc = action = ""
    head, _, tail = rest.partition("/")
    if tail:
        rsc, _, action = tail.partition("/")
    head, _, nodes_text = head.partition(":")
    kind, sep, when = head.partition("@")
    if not sep:
        raise ValueError(f"fault {text!r}: write KIND@AT[+DURATION][:NODES]...")
    at_text, _, dur_text = when.partition("+")
    nodes = tuple(n for n in nodes_text.split(",") if n)
    from pacer.faultsim.config import ALL_FAULT_KINDS

    if kind not in ALL_FAULT_KINDS:
        raise ValueError(f"fault {text!r}: unknown kind {kind!r}; one of "
                         f"{', '.join(ALL_FAULT_KINDS)}")
    return Fault(at=float(at_text), kind=kind, nodes=nodes,
                 duration=float(dur_text) if dur_text else 0.0, rsc=rsc, action=action,
                 value=value)


def _primitives(config: SimConfig) -> list[str]:
    from pacer.model.definition import iter_primitives
    from pacer.store.cluster import parse_stored_definition

    defn = parse_stored_definition(config.definition_text())
    return [p.id for p in iter_primitives(defn.resources) if p.agent_class != "stonith"]


def generate(seed: int, config: SimConfig) -> list[Fault]:
    """A random schedule for `seed`: every choice comes from one Random(seed)."""
    rng = random.Random(seed)
    names = config.node_names
    rscs = _primitives(config)
    kinds = list(config.fault_kinds)
    if config.fencing == "watchdog" and len(kinds) > 1:
        # Watchdog fencing alone is the operator's word that every node's
        # watchdog works; a paused VM's does not (pacer/node/virt.py), and
        # with no device nothing can fence it: not drawn (opt in with --kinds).
        kinds = [k for k in kinds if k != "vm-pause"] or kinds
    n = rng.randint(1, max(1, config.max_faults))
    faults: list[Fault] = []
    for _ in range(n):
        kind = rng.choice(kinds)
        at = round(config.warmup + rng.random() * config.fault_window, 3)
        dur = round(0.5 + rng.random() * (config.max_fault_duration - 0.5), 3)
        node = rng.choice(names)
        if kind in ("crash", "freeze", "oneway-out", "oneway-in", "hb-cut-in", "watch-stall",
                    "vm-pause", "disk-full"):
            faults.append(Fault(at, kind, (node,), dur))
        elif kind == "loop-stall":
            # A callback that blocks the loop: a fraction of a second to seconds.
            faults.append(Fault(at, kind, (node,), round(0.3 + rng.random() * 4.7, 3)))
        elif kind == "hb-cut":
            k = rng.randint(1, max(1, len(names) // 2))
            faults.append(Fault(at, kind, tuple(sorted(rng.sample(names, k))), dur))
        elif kind == "revoke-lost":
            faults.append(Fault(at, kind, (), dur, value=float(rng.randint(0, 1))))
        elif kind == "store-slow":
            faults.append(Fault(at, kind, (node,), dur, value=round(rng.uniform(0.1, 3.0), 3)))
        elif kind == "partition":
            # A minority most of the time; sometimes up to half (no side may have quorum).
            k = rng.randint(1, max(1, len(names) // 2))
            faults.append(Fault(at, kind, tuple(sorted(rng.sample(names, k))), dur))
        elif kind == "rsc-die":
            faults.append(Fault(at, kind, (node,), rsc=rng.choice(rscs)))
        elif kind in ("agent-fail", "agent-hang"):
            faults.append(Fault(at, kind, (node,), rsc=rng.choice(rscs),
                                action=rng.choice(config.fault_actions)))
        elif kind == "agent-fail-always":
            faults.append(Fault(at, kind, (node,), dur, rsc=rng.choice(rscs),
                                action=rng.choice(config.fault_actions)))
        elif kind == "drift":
            rate = round(rng.uniform(-config.max_drift, config.max_drift), 5)
            faults.append(Fault(at, kind, (node,), dur, value=rate))
        elif kind == "store-leader-loss":
            faults.append(Fault(at, kind, (), round(0.5 + rng.random() * 4.5, 3)))
        elif kind == "store-flaky":
            faults.append(Fault(at, kind, (node,), dur, value=round(rng.uniform(0.05, 0.5), 3)))
        elif kind in ("fence-fail", "fence-hang", "fence-lie"):
            faults.append(Fault(at, kind, (), dur))
        elif kind == "fence-slow-fail":
            faults.append(Fault(at, kind, (), dur, value=round(rng.uniform(3.0, 30.0), 1)))
        else:  # pragma: no cover - FAULT_KINDS is closed
            raise ValueError(kind)
    faults.sort(key=lambda f: (f.at, f.kind, f.nodes))
    return faults


def heal_time(faults: list[Fault], config: SimConfig) -> float:
    """When the last fault is over (a crashed host has booted again)."""
    t = config.warmup
    for f in faults:
        end = f.end + (config.boot_delay if f.kind == "crash" else 0.0)
        t = max(t, end)
    return t
