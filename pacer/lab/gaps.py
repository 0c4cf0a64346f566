"""What a failover trial looked like from the client: pure analysis of probe samples.

A trial is the probe's samples (`pacer.lab.probe`: one HTTP GET every 10 ms
from the client namespace, each with its start time on CLOCK_MONOTONIC and the
name of the host that answered) and the moment of the fault on the same clock.

**gap** — the definition of ../shared/bench/ANCHORS.md, the one the keepalived
and Pacemaker anchors were measured with: from the start of the last good
reply before the fault to the start of the first good reply after it. Counted
between consecutive *good* replies, and the longest such interval from the
fault to the end of the trial is taken, so that it also covers faults after
which the old holder keeps answering for a while (a crashed node daemon: the
service runs on until the node is fenced, then the VIP moves): the gap is
then the real outage, not the 10 ms until the next reply. For a host lost the
two readings are the same number. A trial that ends in an outage longer
than that is not recovered (gap None).

**takeover** — the first good reply that ends that gap; its host is the new
holder (the same host when the service was restarted in place).

**flaps** — after the takeover, how often the replying host changes. Answers
alternating between two hosts are split-brain evidence (two hosts answer for
one VIP, each to the ARP entry it won last); a healthy cluster has 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One probe request: `t` its start (monotonic s), `ok` a 200 reply came
    within the timeout, `host` the name the reply carried (None unless ok),
    `err` why not, `lat` how long it took (s), `wall` its start (epoch s)."""

    t: float
    ok: bool
    host: str | None = None
    err: str = ""
    lat: float = 0.0
    wall: float = 0.0


@dataclass(frozen=True)
class Trial:
    """One fault, as the client saw it."""

    t_fault: float
    holder: str | None  # who answered last before the fault
    gap: float | None  # None: no good reply after the fault (not recovered)
    last_ok: float | None  # start of the good reply the gap begins with
    first_ok: float | None  # start of the good reply that ends it (the takeover)
    new_holder: str | None  # who answered at the takeover
    fault_to_ok: float | None  # fault -> takeover
    errors: int  # failed requests started after the fault
    flaps: int  # changes of the answering host after the takeover
    hosts_after: tuple[str, ...] = ()  # every host that answered after the takeover
    samples: int = 0

    @property
    def recovered(self) -> bool:
        return self.gap is not None


def analyse(samples: Iterable[Sample], t_fault: float) -> Trial:
    """The gap, takeover and flaps of one trial (see the module text)."""
    ss = sorted(samples, key=lambda s: s.t)
    good = [s for s in ss if s.ok]
    before = [s for s in good if s.t < t_fault]
    holder = before[-1].host if before else None
    errors = sum(1 for s in ss if not s.ok and s.t >= t_fault)
    best: tuple[float, Sample | None, Sample] | None = None
    prev = before[-1] if before else None
    for s in good:
        if s.t < t_fault:
            continue
        start = prev.t if prev is not None else t_fault
        if best is None or s.t - start > best[0]:
            best = (s.t - start, prev, s)
        prev = s
    if best is None:
        return Trial(t_fault, holder, None, before[-1].t if before else None, None, None,
                     None, errors, 0, (), len(ss))
    gap, last, first = best
    tail_start = good[-1].t if good else t_fault
    if ss[-1].t - tail_start > gap and not ss[-1].ok:
        # The trial ends in an outage longer than any gap: it did not recover.
        return Trial(t_fault, holder, None, tail_start, None, None, None, errors, 0, (), len(ss))
    after = [s.host for s in good if s.t >= first.t]
    return Trial(
        t_fault=t_fault,
        holder=holder,
        gap=gap if last is not None else None,
        last_ok=last.t if last is not None else None,
        first_ok=first.t,
        new_holder=first.host,
        fault_to_ok=first.t - t_fault,
        errors=errors,
        flaps=switches(after),
        hosts_after=tuple(sorted({h for h in after if h})),
        samples=len(ss),
    )


def switches(hosts: Sequence[str | None]) -> int:
    """How often the value changes along the sequence (None entries skipped)."""
    seq = [h for h in hosts if h]
    return sum(1 for a, b in zip(seq, seq[1:], strict=False) if a != b)


def percentile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence: with 20
    values p99 is the largest, as it must be (no interpolation beyond data)."""
    ys = sorted(xs)
    k = max(1, math.ceil(q / 100.0 * len(ys)))
    return ys[k - 1]


@dataclass(frozen=True)
class Stats:
    n: int
    min: float | None = None
    median: float | None = None
    p99: float | None = None
    max: float | None = None
    failed: int = 0  # trials without recovery
    values: tuple[float, ...] = field(default=())


def stats(gaps: Iterable[float | None]) -> Stats:
    """min / median / p99 / max over every trial, a trial that did not recover
    counting as an infinite gap (so one failure in 20 makes p99 and max inf:
    it is not hidden); `n` is the number of recovered trials."""
    all_ = list(gaps)
    xs = [g for g in all_ if g is not None]
    failed = len(all_) - len(xs)
    if not xs:
        return Stats(0, failed=failed)
    ys = xs + [math.inf] * failed
    return Stats(len(xs), min(xs), statistics.median(ys), percentile(ys, 99), max(ys),
                 failed, tuple(xs))
