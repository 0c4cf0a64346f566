"""Peer heartbeats in the fault simulator: a frozen controller is deposed and a
partitioned member evicted well before their leases could expire, and either
is fenced before anything of theirs starts elsewhere (the invariants run at
every step)."""

from __future__ import annotations

from pacer.faultsim.config import SimConfig
from pacer.faultsim.faults import Fault
from pacer.faultsim.run import run

CFG = SimConfig()


def _events(text: str) -> list[tuple[float, str, str]]:
    out = []
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            try:
                out.append((float(parts[0]), parts[1], parts[2]))
            except ValueError:
                continue
    return out


def _first(events: list[tuple[float, str, str]], after: float, who: str, text: str) -> float:
    return next(t for t, w, what in events if t >= after and w == who and text in what)


def _controller_at(events: list[tuple[float, str, str]], t: float) -> str:
    elected = [what for at, w, what in events if at < t and w == "store"
               and what.startswith("controller elected: ")]
    return elected[-1].split()[2]


def test_a_frozen_controller_is_deposed_then_fenced_before_its_lease_could_expire() -> None:
    quiet = run(CFG, 1, [])
    ctl = _controller_at(_events(quiet.trace.text()), 30.0)
    result = run(CFG, 1, [Fault(30.0, "freeze", (ctl,), 8.0)])
    assert result.ok, result.violations
    ev = _events(result.trace.text())
    gone = _first(ev, 30.0, "store", "controller key gone")
    lost = _first(ev, 30.0, "store", f"{ctl} is no longer a member")
    fenced = _first(ev, 30.0, "store", f"fencing of {ctl} recorded")
    new = _controller_at(ev, fenced)
    assert new != ctl
    # suspicion (timeout + one interval), not the lease TTL, ended its term
    assert gone - 30.0 <= CFG.heartbeat_timeout + 2 * CFG.heartbeat_interval < CFG.lease_ttl
    assert lost == gone
    assert fenced >= gone


def test_a_partitioned_member_is_evicted_and_fenced() -> None:
    quiet = run(CFG, 2, [])
    ev0 = _events(quiet.trace.text())
    ctl = _controller_at(ev0, 30.0)
    other = next(n for n in CFG.node_names if n != ctl)
    result = run(CFG, 2, [Fault(30.0, "partition", (other,), 6.0)])
    assert result.ok, result.violations
    ev = _events(result.trace.text())
    lost = _first(ev, 30.0, "store", f"{other} is no longer a member")
    fenced = _first(ev, 30.0, "store", f"fencing of {other} recorded")
    assert lost - 30.0 < CFG.lease_ttl
    assert fenced >= lost
    assert _controller_at(ev, fenced) == ctl  # the majority kept its controller


def test_without_heartbeats_the_lease_decides() -> None:
    cfg = SimConfig(heartbeats=False)
    quiet = run(cfg, 1, [])
    ctl = _controller_at(_events(quiet.trace.text()), 30.0)
    result = run(cfg, 1, [Fault(30.0, "freeze", (ctl,), 8.0)])
    assert result.ok, result.violations
    gone = _first(_events(result.trace.text()), 30.0, "store", "controller key gone")
    assert gone - 30.0 >= cfg.lease_ttl - cfg.lease_ttl / 4
