"""`make demo`: a real failover, told step by step.

    python -m pacer.lab.demo [--nodes 3] [--keep] [--dir DIR]

Brings up a 3-host lab (network namespaces, one etcd member and one pacer
agent per host, a VIP in front of an HTTP service), shows the live status,
starts a client probing the VIP every 10 ms, cuts the power of the host that
holds the VIP, and prints the failover timeline — the fault, the detection,
the fencing, the restart of the VIP, the first answer again — from the
controller's journal (`pacer history`) and the probe, with times relative to
the fault. Then the final status, and the lab is taken down (`--keep` leaves
it up). Needs root.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pacer.lab import gaps, net, splitbrain
from pacer.lab.lab import Lab, LabError
from pacer.lab.probe import Watch, load, moved_from, steady_for

RULE = "─" * 72


def step(n: int, title: str) -> None:
    print(f"\n{RULE}\n Step {n}. {title}\n{RULE}", flush=True)


def say(text: str = "") -> None:
    print(text, flush=True)


def classify(entry: dict[str, Any]) -> str:
    """A journal entry's place in a failover story: detection, fencing, recovery, other."""
    text = f"{entry.get('kind', '')} {entry.get('message', '')}".lower()
    if entry.get("source") == "fencing" or "fenc" in entry.get("kind", ""):
        return "fencing"
    if any(w in text for w in ("suspect", "lost", "evict", "left", "expired", "heartbeat")):
        return "detection"
    if any(w in text for w in ("start", "transition", "promote", "stop")):
        return "recovery"
    if "elected" in text:
        return "election"
    return "other"


def timeline(journal: list[dict[str, Any]], t_fault_wall: float, victim: str,
             trial: gaps.Trial, t_fault: float, end_wall: float) -> list[tuple[float, str, str]]:
    """(seconds after the fault, what, detail) lines, in time order."""
    rows: list[tuple[float, str, str]] = [
        (0.0, "FAULT", f"{victim} loses power: every process SIGKILLed, its link down")]
    if trial.last_ok is not None:
        rows.append((trial.last_ok - t_fault, "client",
                     f"last answer before the fault, from {trial.holder}"))
    for e in journal:
        if e.get("source") == "fencing":
            continue  # its time is in whole seconds; the controller's "fenced" says it
        t = float(e.get("time") or 0)
        if t < t_fault_wall - 0.05 or t > end_wall:
            continue
        what = classify(e)
        if what == "other":
            continue
        msg = e.get("message", "")
        if e.get("source") == "controller" and e.get("kind"):
            msg = f"[{e['kind']}] {msg}"
        rows.append((t - t_fault_wall, what, msg.strip()))
    if trial.first_ok is not None:
        rows.append((trial.first_ok - t_fault, "client",
                     f"the VIP answers again, from {trial.new_holder}"))
    return sorted(rows, key=lambda r: r[0])


def read_journal(lab: Lab, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The journal, read again while etcd elects a new leader (the killed host's
    member may have been the leader); [] with a note when it stays unreadable."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return lab.journal()
        except LabError as exc:
            if time.monotonic() > deadline:
                say(f"   (the journal could not be read: {str(exc).splitlines()[0]})")
                return []
            time.sleep(0.5)


def run(args: argparse.Namespace) -> int:
    lab = Lab(args.dir, nodes=args.nodes, say=lambda text: say(f"   {text}"))
    say("pacer lab demo: a real cluster of network-namespace hosts on this machine, and a")
    say("real failover: the host that holds the service's address loses its power.")

    step(1, f"Bring up a {args.nodes}-host lab")
    say(f"   Each host (n1..n{args.nodes}) is a network namespace on one bridge with its own")
    say("   etcd member and its own pacer agent. The cluster runs an HTTP service on every")
    say(f"   host and one virtual IP, {net.VIP}, on a host where the service runs.")
    say()
    try:
        lab.up(timeout=args.timeout)
    except LabError as exc:
        say(f"\ncannot bring the lab up: {exc}")
        return 1
    try:
        return _story(lab, args)
    finally:
        if args.keep:
            say(f"\nThe lab stays up (--keep). Look around: pacer lab status; pacer lab logs;"
                f" take it down with: pacer lab down{' --dir ' + args.dir if args.dir else ''}")
        else:
            step(8, "Tear down")
            for line in lab.down():
                say(f"   {line}")


def _story(lab: Lab, args: argparse.Namespace) -> int:
    step(2, "The live cluster")
    say(lab.pacer("status").rstrip())
    holder = lab.where("vip")[0]

    step(3, "A client starts using the service")
    url = f"http://{net.VIP}:8080/"
    say(f"   From the client namespace (pacer-c, {net.CLIENT_IP}) a probe sends GET {url}")
    say("   every 10 ms; each answer names the host that served it. A second sampler reads")
    say("   every 20 ms which hosts have the VIP on their eth0 (split-brain check).")
    work = Path(tempfile.mkdtemp(prefix="pacer-demo-"))
    with Watch(work, "demo", lab.hosts) as watch:
        if not watch.wait_until(steady_for(1.0, holder), timeout=15):
            say(f"   the probe does not see {holder} answer steadily; files in {work}")
            return 1
        n = len(watch.follow())
        say(f"   {n} requests so far, every one answered by {holder}.")

        step(4, f"Cut the power of {holder}, the host holding the VIP")
        say(f"   `pacer lab fault kill-host {holder}`: its link goes down and every process in")
        say("   its namespace (etcd, pacer agent, the HTTP server) is SIGKILLed at once.")
        t_fault_wall = time.time()
        t_fault = time.monotonic()
        lab.fault("kill-host", holder)
        moved = watch.wait_until(moved_from(holder, t_fault), timeout=args.timeout)
        time.sleep(1.5)  # what follows the takeover, for the record
    end_wall = time.time()
    trial = gaps.analyse(load(watch.probe_out), t_fault)
    vip_samples = splitbrain.load(watch.vip_out)
    after = splitbrain.overlaps(vip_samples, since=trial.first_ok or t_fault)
    if not moved:
        say(f"   the VIP did not answer from another host within {args.timeout:g} s")
    journal = read_journal(lab)

    step(5, "The failover, as it happened (seconds after the power cut)")
    say("   Sources: the controller's journal (`pacer history`) and the client's probe.")
    say()
    for rel, what, text in timeline(journal, t_fault_wall, holder, trial, t_fault, end_wall):
        say(f"   {rel:+7.3f} s  {what:<10} {text}")
    say()
    fenced = [e for e in journal if e.get("source") == "controller" and e.get("node") == holder
              and e.get("kind") == "fenced" and e["time"] >= t_fault_wall]
    if trial.gap is not None:
        say(f"   The client saw no answer for {trial.gap:.2f} s: from the last answer of "
            f"{trial.holder} to the first of {trial.new_holder}.")
    else:
        say("   The client got no answer after the fault.")
    if fenced:
        t = fenced[0]["time"] - t_fault_wall
        say(f"   {holder} was fenced (its power switch confirmed off) {t:.2f} s after the cut,"
            " before the VIP started elsewhere.")
    say(f"   The VIP was on two hosts after the takeover in {after.samples} of "
        f"{len(vip_samples)} samples" + (" (never)." if after.samples == 0 else " (!)."))

    step(6, "The cluster now")
    try:
        say(lab.pacer("status").rstrip())
    except LabError as exc:
        say(f"   (no status: {str(exc).splitlines()[0]})")

    step(7, "What next")
    say(f"   `pacer lab power-on {holder}` would boot {holder} again; it joins as a fresh node and")
    say("   the VIP stays where it is (stickiness). bench/failover.py measures many such")
    say("   failovers (and frozen hosts, daemon and service crashes) against keepalived.")
    return 0 if moved else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pacer.lab.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=3, help="hosts in the lab (default 3)")
    p.add_argument("--dir", default=None, help="the lab's state directory "
                   "(default $PACER_LAB_DIR or /run/pacer-lab)")
    p.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for the lab, and for the failover (default 120)")
    args = p.parse_args(argv)
    try:
        return run(args)
    except LabError as exc:
        print(f"pacer lab demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\npacer lab demo: interrupted (the lab was taken down)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
