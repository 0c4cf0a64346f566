"""Many seeds, in parallel: throughput, failures saved (and shrunk) for replay.

Each seed is one `run.run` in a worker process. A failure is written to
`<out>/seed-<S>.json` with everything needed to replay it bit-for-bit: the
seed, the configuration, the schedule, the violations and the trace's digest,
plus the shrunk schedule (ddmin over the faults) and its own digest.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pacer.faultsim.config import SimConfig
from pacer.faultsim.faults import Fault
from pacer.faultsim.invariants import Violation, first_violation
from pacer.faultsim.run import RunResult, run
from pacer.faultsim.shrink import ddmin

FAILURE_FORMAT = "pacer-faultsim-failure/1"


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    violations: tuple[Violation, ...]
    sim_seconds: float
    wall_seconds: float
    steps: int
    faults: tuple[Fault, ...]
    digest: str
    converge_s: float | None  # seconds from the last heal to convergence
    # Statistics: the fault kinds (and profile draws: slow-ops, watchdog-*,
    # mixed-ttl) this seed drew, those that reached the timing they target
    # (README, "Statistics"), and the longest time each action took.
    drawn: tuple[str, ...] = ()
    reached: tuple[str, ...] = ()
    longest: tuple[tuple[str, float], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def first(self) -> Violation:
        """The violation this seed is judged (and shrunk) by."""
        v = first_violation(self.violations)
        assert v is not None
        return v

    @property
    def slow(self) -> bool:
        return "slow-ops" in self.drawn


@dataclass
class ExploreReport:
    outcomes: list[SeedOutcome] = field(default_factory=list)
    wall_seconds: float = 0.0
    saved: list[Path] = field(default_factory=list)

    @property
    def failures(self) -> list[SeedOutcome]:
        return sorted((o for o in self.outcomes if not o.ok), key=lambda o: o.seed)

    @property
    def sim_seconds(self) -> float:
        return sum(o.sim_seconds for o in self.outcomes)

    def kind_stats(self) -> dict[str, dict[str, int]]:
        """Per fault kind (and profile draw): seeds that drew it, that reached
        its timing, that failed (any invariant)."""
        stats: dict[str, dict[str, int]] = {}
        for o in self.outcomes:
            for k in o.drawn:
                st = stats.setdefault(k, {"drawn": 0, "reached": 0, "failed": 0})
                st["drawn"] += 1
                st["reached"] += k in o.reached
                st["failed"] += not o.ok
        return dict(sorted(stats.items()))

    def violation_counts(self) -> dict[str, int]:
        """First violations by invariant."""
        out: dict[str, int] = {}
        for o in self.failures:
            k = o.first.invariant
            out[k] = out.get(k, 0) + 1
        return dict(sorted(out.items()))

    def stat_lines(self) -> list[str]:
        n = max(len(self.outcomes), 1)
        slow = [o for o in self.outcomes if o.slow]
        long_stop = [o for o in slow if "slow-ops" in o.reached]
        lines = [f"slow operations: {len(slow)} of {len(self.outcomes)} seeds "
                 f"({100 * len(slow) / n:.1f} %); a stop or demote over 20 s in "
                 f"{len(long_stop)}, {sum(not o.ok for o in slow)} failed",
                 f"{'fault kind / draw':<20} {'seeds':>6} {'reached':>8} {'failed':>7}"]
        for k, st in self.kind_stats().items():
            lines.append(f"{k:<20} {st['drawn']:>6} {st['reached']:>8} {st['failed']:>7}")
        return lines

    def to_json(self, nodes: int) -> dict[str, Any]:
        n = len(self.outcomes)
        wall = max(self.wall_seconds, 1e-9)
        slow = [o for o in self.outcomes if o.slow]
        return {
            "seeds": n, "failed": len(self.failures), "wall_seconds": round(self.wall_seconds, 3),
            "seeds_per_minute": round(n / wall * 60, 1),
            "sim_seconds": round(self.sim_seconds, 3),
            "cluster_seconds_per_wall_second": round(self.sim_seconds / wall, 1),
            "node_seconds_per_wall_second": round(self.sim_seconds * nodes / wall, 1),
            "cpu_seconds": round(sum(o.wall_seconds for o in self.outcomes), 3),
            "slow_seeds": len(slow), "slow_share": round(len(slow) / max(n, 1), 4),
            "slow_seeds_with_a_long_stop": sum("slow-ops" in o.reached for o in slow),
            "kinds": self.kind_stats(),
            "violations": self.violation_counts(),
            "failures": [{"seed": o.seed, "violation": str(o.first),
                          "invariant": o.first.invariant,
                          "others": sorted({v.invariant for v in o.violations}
                                           - {o.first.invariant}),
                          "faults": [f.to_json() for f in o.faults]} for o in self.failures],
            "saved": [str(p) for p in self.saved],
        }

    def summary_lines(self, nodes: int) -> list[str]:
        n = len(self.outcomes)
        wall = max(self.wall_seconds, 1e-9)
        cpu = sum(o.wall_seconds for o in self.outcomes)
        conv = [o.converge_s for o in self.outcomes if o.converge_s is not None]
        lines = [
            f"seeds: {n}, failed: {len(self.failures)}, wall {wall:.1f} s",
            f"throughput: {self.sim_seconds / wall:,.0f} simulated cluster-seconds per wall "
            f"second ({self.sim_seconds * nodes / wall:,.0f} node-seconds), "
            f"{n / wall * 60:,.0f} seeds per minute",
            f"per seed: {cpu / max(n, 1):.3f} s of CPU for {self.sim_seconds / max(n, 1):.0f} "
            f"simulated s; {sum(o.steps for o in self.outcomes) / max(cpu, 1e-9):,.0f} "
            "loop callbacks per CPU second",
        ]
        if conv:
            conv.sort()
            lines.append(f"convergence after the last heal: median {conv[len(conv) // 2]:.1f} s, "
                         f"max {conv[-1]:.1f} s")
        return lines


def outcome(result: RunResult) -> SeedOutcome:
    conv = (result.converged_at - result.heal_at) if result.converged_at is not None else None
    profile = result.extra.get("profile")
    drawn = {f.kind for f in result.faults} | set(profile.kinds() if profile else ())
    return SeedOutcome(seed=result.seed, violations=tuple(result.violations),
                       sim_seconds=result.sim_seconds, wall_seconds=result.wall_seconds,
                       steps=result.steps, faults=tuple(result.faults),
                       digest=result.trace.digest(), converge_s=conv,
                       drawn=tuple(sorted(drawn)),
                       reached=tuple(k for k in result.extra.get("reached", ()) if k in drawn),
                       longest=tuple(result.extra.get("longest", {}).items()))


def _worker(args: tuple[dict[str, Any], int]) -> SeedOutcome:
    config_json, seed = args
    return outcome(run(SimConfig.from_json(config_json), seed))


def _init_worker() -> None:
    logging.disable(logging.CRITICAL)
    # Everything imported so far lives as long as the worker: move it out of
    # the collector's way (each run ends with a full collection, see
    # VirtualTimeLoop.teardown, and would otherwise walk all of it again).
    from pacer.faultsim import daemons  # noqa: F401  (what a run imports late)

    gc.collect()
    gc.freeze()
    # A run allocates (and frees, mostly by reference counting) millions of
    # small objects: collecting every 700 allocations spent ~4 % of a seed's
    # time finding little. Each run ends with a full collection anyway.
    gc.set_threshold(5000, 10, 100)


def explore(config: SimConfig, seeds: Iterable[int], jobs: int = 1,
            out_dir: Path | None = None, shrink: bool = True,
            progress: Callable[[SeedOutcome, int], None] | None = None) -> ExploreReport:
    report = ExploreReport()
    t0 = time.perf_counter()
    work = [(config.to_json(), s) for s in seeds]
    threshold = gc.get_threshold()
    if jobs <= 1:
        _init_worker()
        results: Iterable[SeedOutcome] = (_worker(w) for w in work)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker)
        # One seed at a time: no worker idles at the end while another still
        # has a chunk to go (a seed takes ~0.1 s; a task costs ~0.1 ms).
        results = pool.imap_unordered(_worker, work, chunksize=1)
    try:
        for o in results:
            report.outcomes.append(o)
            if progress is not None:
                progress(o, len(report.outcomes))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        else:
            # (this process goes on: give it its collector back)
            gc.unfreeze()
            gc.set_threshold(*threshold)
    report.wall_seconds = time.perf_counter() - t0
    if out_dir is not None:
        for o in report.failures:
            report.saved.append(save_failure(out_dir, config, o, shrink))
    return report


def shrink_failure(config: SimConfig, o: SeedOutcome) -> SeedOutcome:
    """The smallest schedule (ddmin over faults) failing the same invariant."""
    invariant = o.first.invariant

    def fails(faults: list[Fault]) -> bool:
        first = run(config, o.seed, faults).first
        return first is not None and first.invariant == invariant

    smallest = ddmin(list(o.faults), fails)
    return outcome(run(config, o.seed, smallest))


def failure_record(config: SimConfig, o: SeedOutcome,
                   shrunk: SeedOutcome | None = None) -> dict[str, Any]:
    def part(x: SeedOutcome) -> dict[str, Any]:
        return {"faults": [f.to_json() for f in x.faults],
                "violations": [v.to_json() for v in x.violations], "digest": x.digest}

    data: dict[str, Any] = {"format": FAILURE_FORMAT, "seed": o.seed,
                            "hash_seed": os.environ.get("PYTHONHASHSEED"),
                            "config": config.to_json(), **part(o)}
    if shrunk is not None:
        data["shrunk"] = part(shrunk)
    return data


def save_failure(out_dir: Path, config: SimConfig, o: SeedOutcome, shrink: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    shrunk = shrink_failure(config, o) if shrink and o.faults else None
    path = out_dir / f"seed-{o.seed}.json"
    path.write_text(json.dumps(failure_record(config, o, shrunk), indent=1) + "\n")
    return path


@dataclass(frozen=True)
class SavedFailure:
    seed: int
    config: SimConfig
    faults: list[Fault]
    digest: str
    violations: list[Violation]
    shrunk_faults: list[Fault] | None
    shrunk_digest: str | None
    hash_seed: str | None


def load_failure(path: Path) -> SavedFailure:
    data = json.loads(path.read_text())
    if data.get("format") != FAILURE_FORMAT:
        raise ValueError(f"{path}: not a saved faultsim failure ({FAILURE_FORMAT})")
    shrunk = data.get("shrunk")
    return SavedFailure(
        seed=int(data["seed"]), config=SimConfig.from_json(data["config"]),
        faults=[Fault.from_json(f) for f in data["faults"]], digest=data["digest"],
        violations=[Violation.from_json(v) for v in data.get("violations", [])],
        shrunk_faults=[Fault.from_json(f) for f in shrunk["faults"]] if shrunk else None,
        shrunk_digest=shrunk["digest"] if shrunk else None, hash_seed=data.get("hash_seed"))
