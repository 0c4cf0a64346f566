#!/usr/bin/env python3
"""Failover of a VIP and its service on real hosts: pacer versus keepalived
(measured in the same run) and Pacemaker + Corosync.

    bench/failover.py [--runs 20] [--rows host-lost,freeze,...] [--json FILE]
                      [--with-pacemaker] [--workdir DIR] [--keep-lab] [--take-over]

Needs root. Everything runs in the lab network of `pacer.lab.net` (hosts
pacer-n1..n3, client pacer-c, 10.250.0.0/24 on the bridge pacerbr0): the
keepalived rows on the network alone, then `pacer lab up` once for the pacer
rows. A lab network that is already up (`pacer lab up`, or another bench) is
left alone: the bench refuses, unless `--take-over` (then it is taken down
first). `--keep-lab` leaves the bench's pacer lab up at the end.

The method of ../shared/bench/ANCHORS.md, shared by every row: the probe
(`pacer.lab.probe`) sends an HTTP GET to VIP:8080 every 10 ms from the client
namespace (timeout 0.3 s, a fresh connection each, started on schedule even
while earlier ones hang); the reply names the host. **gap** = from the last
good reply before the fault to the first good reply after it (the longest
interval between good replies after the fault: for a crashed daemon the old
holder answers until it is fenced). Before each fault the holder answers
steadily for 1 s, then a random phase of up to 1 s (the advert interval for
keepalived) passes.

Rows (20+ runs each for the record: `--runs 20`):

  host-lost      pacer: `pacer lab fault kill-host` on the VIP holder (link down,
                 every process SIGKILLed); powered on again after the trial
  host-lost-ctl  pacer: the same, with the VIP first moved to the controller's
                 host (a peer deposes the controller, then fences the host)
  freeze         pacer: `freeze-host` (SIGSTOP every process of the holder);
                 thawed once another host answers; 3 s more are watched
  partition      pacer: the holder cut off from the other hosts (blackhole routes
                 both ways; the client still reaches everyone), healed once
                 another host answers; 3 s more are watched
  daemon-crash   pacer: SIGKILL of the holder's `pacer agent` only
  service-crash  pacer: SIGKILL of the HTTP server (the `web` clone instance)
                 on the holder; whatever pacer does (restart in place or move)
  ka-1, ka-0.1   keepalived, advert_int 1 s and 0.1 s, host lost (configs of
                 ../shared/bench/keepalived)
  pm             with --with-pacemaker: Pacemaker 2.1.5 + Corosync 3.1.7,
                 token 1000, fencing on, host lost (../shared/bench/pacemaker-lab)

Per row: n, gap min / median / p99 (nearest rank) / max, split-brain (trials in
which, after the takeover, the VIP was live on two hosts at one 20 ms sample of
`ip addr` in every host, or the probe's replies changed host), fencing
confirmed (trials whose victim has a successful fence in `pacer history` after
the fault). The anchors' table gives the ratio pacer/anchor of the medians;
Pacemaker's figures come from ANCHORS.md unless --with-pacemaker.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.compare import keepalived  # noqa: E402
from pacer.lab import gaps, hosts, net  # noqa: E402
from pacer.lab.probe import TrialResult, back_after_outage, moved_from, run_trial  # noqa: E402

PACER_ROWS = ("host-lost", "host-lost-ctl", "freeze", "partition", "daemon-crash",
              "service-crash")
KA_ROWS = ("ka-1", "ka-0.1")
PM_ROWS = ("pm",)
ALL_ROWS = PACER_ROWS + KA_ROWS + PM_ROWS
TITLES = {
    "host-lost": "pacer: host lost",
    "host-lost-ctl": "pacer: host lost, it was the controller too",
    "freeze": "pacer: host frozen, thawed after takeover",
    "partition": "pacer: holder partitioned, healed after takeover",
    "daemon-crash": "pacer: node daemon crash",
    "service-crash": "pacer: service crash",
    "ka-1": "keepalived advert 1 s: host lost",
    "ka-0.1": "keepalived advert 0.1 s: host lost",
    "pm": "Pacemaker token 1000 + fencing: host lost",
}
# ANCHORS.md (measured on this machine kind, not in this run): (label, n, min, median, max)
PM_ANCHORS = {
    "host": ("Pacemaker+Corosync token 1000, fencing: host lost", 5, 3.72, 3.89, 4.94),
    "host-default": ("Pacemaker+Corosync defaults (token 3000): host lost", 5, 7.88, 8.82, 9.16),
    "service": ("Pacemaker service killed, monitor 1 s", 5, 1.55, 2.32, 2.46),
}
# Which anchors each pacer row is compared with.
COMPARE = {
    "host-lost": ["ka-1", "ka-0.1", "pm:host", "pm:host-default"],
    "host-lost-ctl": ["ka-1", "ka-0.1", "pm:host"],
    "freeze": ["pm:host"],  # the closest anchor: no frozen-host figure exists
    "partition": ["pm:host"],  # likewise
    "daemon-crash": ["pm:host"],  # likewise
    "service-crash": ["pm:service"],
}
GOALS = {"host-lost": (1.0, 2.0), "host-lost-ctl": (1.0, 2.0), "service-crash": (0.5, None)}
SETTLE = 3.0  # s of steady state before each pacer trial


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ rows

@dataclasses.dataclass
class Row:
    key: str
    trials: list[TrialResult] = dataclasses.field(default_factory=list)
    skipped: str = ""
    errors: list[str] = dataclasses.field(default_factory=list)  # trials that could not run

    @property
    def stats(self) -> gaps.Stats:
        return gaps.stats(t.trial.gap for t in self.trials)

    def split_brain(self) -> int:
        return sum(1 for t in self.trials if is_split_brain(t))

    def fenced(self) -> int | None:
        vals = [t.fenced for t in self.trials if t.fenced is not None]
        return sum(vals) if vals else None


def is_split_brain(t: TrialResult) -> bool:
    """After the takeover: the VIP live on two hosts at once, or replies from two hosts."""
    return t.vip.samples > 0 or t.trial.flaps > 0


def keepalived_row(key: str, runs: int, workdir: Path) -> Row:
    advert = float(key.split("-", 1)[1])
    row = Row(key)
    say(f"{key}: keepalived advert_int {advert:g}: network up, keepalived on n1..n3")
    try:
        with keepalived.KeepalivedLab(advert, workdir=workdir / key, take_over=True) as ka:
            for i in range(runs):
                r = ka.trial(workdir=workdir / key)
                row.trials.append(r)
                say(f"{key} {i + 1}/{runs}: {describe(r)}")
    except keepalived.AnchorUnavailable as exc:
        row.skipped = str(exc)
        say(f"{key}: skipped: {exc}")
    return row


def describe(r: TrialResult) -> str:
    t = r.trial
    gap = f"gap {t.gap:.3f} s" if t.gap is not None else "NOT RECOVERED"
    extra = []
    if t.flaps:
        extra.append(f"{t.flaps} flaps")
    if r.vip.samples:
        extra.append(f"VIP on {'+'.join(r.vip.hosts)} in {r.vip.samples} samples")
    if r.fenced is not None:
        extra.append("fenced" if r.fenced else "NOT fenced")
    if r.note:
        extra.append(r.note)
    return (f"{r.victim} -> {t.new_holder}: {gap}, {t.errors} failed requests"
            + (f" ({', '.join(extra)})" if extra else ""))


# ------------------------------------------------------------------ pacer rows

class PacerRows:
    """The pacer lab, up once for every pacer row."""

    def __init__(self, workdir: Path, keep: bool, lab_dir: Path,
                 etcd_heartbeat_ms: int = hosts.ETCD_HEARTBEAT_MS,
                 etcd_election_ms: int = hosts.ETCD_ELECTION_MS,
                 fence_confirm: str = "device") -> None:
        from pacer.lab.lab import Lab

        self.fence_confirm = fence_confirm
        self.lab = Lab(lab_dir, say=lambda s: say(f"lab: {s}"),
                       etcd_heartbeat_ms=etcd_heartbeat_ms, etcd_election_ms=etcd_election_ms)
        self.workdir = workdir
        self.keep = keep

    def __enter__(self) -> PacerRows:
        say("pacer lab up (3 hosts: etcd + pacer agent each, VIP + web clone)")
        self.lab.up(timeout=180)
        info = self.lab.info
        if self.fence_confirm != "device":
            from pacer.lab.definition import lab_definition

            text = lab_definition(len(self.lab.hosts), info.python).replace(
                "  stonith-enabled: true\n",
                f"  stonith-enabled: true\n  fence-confirm: {self.fence_confirm}\n", 1)
            path = self.workdir / "definition.yaml"
            path.write_text(text)
            self.lab.pacer("config", "push", str(path))
            say(f"fence-confirm: {self.fence_confirm}")
        say(f"pacer lab up: lease TTL {info.lease_ttl} s, peer heartbeats "
            f"{'on' if info.heartbeat else 'off (this pacer agent has no --heartbeat)'}, "
            f"etcd heartbeat {info.etcd_heartbeat_ms} ms, election {info.etcd_election_ms} ms")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.keep:
            say("pacer lab left up (--keep-lab): `pacer lab down` to remove it")
            return
        with contextlib.suppress(Exception):
            self.lab.down()

    def steady(self, timeout: float) -> str:
        """The steady state before a trial: every etcd member healthy (a host
        booted again has rejoined: losing another one must not cost quorum),
        every host online, nothing planned, the VIP answering; then SETTLE s
        more (the anchors' run1.py settles too). Returns the VIP's holder."""
        from pacer.lab.lab import etcd_healthy

        deadline = time.monotonic() + timeout
        while not all(etcd_healthy(h) for h in self.lab.hosts):
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd not healthy on every host within {timeout:g} s")
            time.sleep(0.3)
        self.lab.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
        time.sleep(SETTLE)
        st = self.lab.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
        where = self.lab.where("vip", st)
        live = self.lab.vip_holders()
        if len(where) != 1 or live != where:
            raise RuntimeError(f"not steady: vip on {where} by status, on {live} by ip addr")
        return where[0]

    def holder(self, row: Row) -> str:
        """`steady`, repairing the lab when it does not get there: every host
        that is off powered on; failing that, the lab made again (counted)."""
        from pacer.lab.lab import LabError

        try:
            return self.steady(90)
        except (RuntimeError, LabError) as exc:
            row.errors.append(f"not steady before a trial: {exc}")
            say(f"not steady ({str(exc).splitlines()[0]}): powering every host on")
        self.restore_all()
        try:
            return self.steady(90)
        except (RuntimeError, LabError) as exc:
            row.errors.append(f"still not steady, lab made again: {exc}")
            say(f"still not steady ({str(exc).splitlines()[0]}): the lab is made again")
        self.lab.down(force=True)
        self.lab.up(timeout=180)
        return self.steady(120)

    def controller_holder(self, row: Row) -> str:
        """`holder`, with the VIP first moved to the controller's host (a
        move constraint, then cleared: stickiness keeps it there), so that
        losing the VIP's host also loses the controller."""
        holder = self.holder(row)
        ctl = self.lab.status().get("controller")
        if not ctl or ctl == holder:
            return holder
        self.lab.pacer("resource", "move", "vip", "--node", ctl)
        deadline = time.monotonic() + 60
        while self.lab.where("vip") != [ctl] or self.lab.vip_holders() != [ctl]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the VIP did not move to the controller's host {ctl}")
            time.sleep(0.2)
        self.lab.pacer("resource", "clear", "vip")
        return self.steady(60)

    def fenced_since(self, host: str, wall: float) -> int | None:
        """1 when the journal has a successful fence of `host` completed after
        `wall`, 0 when not, None when the journal cannot be read (20 s of tries)."""
        from pacer.lab.lab import LabError

        deadline = time.monotonic() + 20
        while True:
            try:
                journal = self.lab.journal()
                break
            except LabError as exc:
                if time.monotonic() > deadline:
                    say(f"journal unreadable: {str(exc).splitlines()[0]}")
                    return None
                time.sleep(1)
        return int(any(e.get("source") == "fencing" and e.get("node") == host
                       and e.get("kind") == "success" and float(e.get("time") or 0) >= int(wall)
                       for e in journal))

    def restore(self, host: str) -> None:
        """Boot the victim again (or restart its pacer agent), and any other
        host that went off meanwhile (a watchdog reset)."""
        from pacer.lab import hosts

        net.heal()  # (a partition trial that failed midway leaves its routes)
        if hosts.power_state(host) == "off" or not hosts.pid_alive(
                hosts.read_pid(hosts.pid_file(self.lab.dir, host, "pacer"))):
            self.lab.power_on(host)
        self.restore_all()

    def restore_all(self) -> None:
        from pacer.lab import hosts

        for h in self.lab.hosts:
            if hosts.power_state(h) == "off":
                say(f"{h} is off (fenced or reset by its watchdog): powering it on")
                self.lab.power_on(h)

    def row(self, key: str, runs: int) -> Row:
        from pacer.lab.lab import LabError

        row = Row(key)
        for i in range(runs):
            holder = self.controller_holder(row) if key == "host-lost-ctl" else \
                self.holder(row)
            wall = time.time()
            try:
                r = self.trial(key, holder, i + 1)
            except (RuntimeError, LabError) as exc:  # the trial is lost, not the row
                row.errors.append(f"{key}-{i + 1}: {exc}")
                say(f"{key} {i + 1}/{runs}: trial failed: {exc}")
                self.restore(holder)
                continue
            r = dataclasses.replace(r, fenced=self.fenced_since(holder, wall))
            row.trials.append(r)
            say(f"{key} {i + 1}/{runs}: {describe(r)}")
            if key == "service-crash":
                # Each trial is one failure: forget it, as an operator would after
                # looking, or migration-threshold bans web from the hosts in turn.
                self.lab.pacer("resource", "cleanup", "web-clone", check=False)
            self.restore(holder)
        return row

    def trial(self, key: str, holder: str, n: int) -> TrialResult:
        lab, hosts_ = self.lab, self.lab.hosts
        label = f"{key}-{n}"
        common: dict[str, Any] = {"phase": 1.0, "timeout": 30.0}
        fault: Callable[[], object]
        if key in ("host-lost", "host-lost-ctl"):
            fault = lambda: lab.fault("kill-host", holder)  # noqa: E731
            return run_trial(self.workdir, label, hosts_, holder, fault, moved_from, **common)
        if key == "freeze":
            fault = lambda: lab.fault("freeze-host", holder)  # noqa: E731
            return run_trial(self.workdir, label, hosts_, holder, fault, moved_from,
                             after_done=lambda: lab.fault("thaw-host", holder), after_tail=3.0,
                             **common)
        if key == "partition":
            others = [h for h in hosts_ if h != holder]
            fault = lambda: lab.fault("partition", holder, "/", *others)  # noqa: E731
            return run_trial(self.workdir, label, hosts_, holder, fault, moved_from,
                             after_done=lambda: lab.fault("heal"), after_tail=3.0, **common)
        if key == "daemon-crash":
            fault = lambda: lab.fault("kill-daemon", holder)  # noqa: E731
            return run_trial(self.workdir, label, hosts_, holder, fault, moved_from, **common)
        if key == "service-crash":
            fault = lambda: lab.fault("kill-resource", holder, "web")  # noqa: E731
            return run_trial(self.workdir, label, hosts_, holder, fault, back_after_outage,
                             **common)
        raise ValueError(key)


# ------------------------------------------------------------------ the table

def fmt(x: float | None) -> str:
    """Seconds; "none" for the gap of a trial that never recovered."""
    if x is None:
        return "-"
    return "none" if math.isinf(x) else f"{x:.3f}"


def anchor_ref(ref: str, rows: dict[str, Row]) -> tuple[str, float | None, str] | None:
    """(label, median s, where it comes from) of an anchor reference."""
    if ref.startswith("pm:"):
        if ref == "pm:host" and "pm" in rows and rows["pm"].trials:
            return TITLES["pm"], rows["pm"].stats.median, "this run"
        label, _n, _lo, med, _hi = PM_ANCHORS[ref[3:]]
        return label, med, "ANCHORS.md, not measured in this run"
    r = rows.get(ref)
    if r is None or not r.trials:
        why = r.skipped if r is not None and r.skipped else "not run"
        return TITLES[ref], None, why
    return TITLES[ref], r.stats.median, "this run"


def table(rows: dict[str, Row]) -> str:
    lines = [f"{'row':52} {'n':>3} {'min':>7} {'median':>7} {'p99':>7} {'max':>7} "
             f"{'split-brain':>11} {'fenced':>7}  note"]
    for key in ALL_ROWS:
        r = rows.get(key)
        if r is None:
            continue
        if r.skipped:
            lines.append(f"{TITLES[key]:52} skipped: {r.skipped}")
            continue
        st = r.stats
        fenced = r.fenced()
        note = [f"{st.failed} not recovered"] if st.failed else []
        if r.errors:
            note.append(f"{len(r.errors)} trials failed to run")
        same = sum(1 for t in r.trials if t.trial.new_holder == t.victim)
        if same:
            note.append(f"{same} answered again by the same host")
        lines.append(f"{TITLES[key]:52} {st.n:>3} {fmt(st.min):>7} {fmt(st.median):>7} "
                     f"{fmt(st.p99):>7} {fmt(st.max):>7} {r.split_brain():>11} "
                     f"{'-' if fenced is None else f'{fenced}/{len(r.trials)}':>7}  "
                     + "; ".join(note))
    if "pm" not in rows or not rows["pm"].trials:
        for label, n, lo, med, hi in PM_ANCHORS.values():
            lines.append(f"{label:52} {n:>3} {lo:>7.3f} {med:>7.3f} {'-':>7} {hi:>7.3f} "
                         f"{'-':>11} {'-':>7}  ANCHORS.md, not measured in this run")
    lines.append("")
    lines.append(f"{'pacer row':44} {'anchor':52} {'median':>7} {'ratio':>7}  source")
    lines.append(f"{'':44} {'(pacer median / anchor median)':52}")
    for key, refs in COMPARE.items():
        r = rows.get(key)
        if r is None or not r.trials:
            continue
        med = r.stats.median
        for ref in refs:
            a = anchor_ref(ref, rows)
            if a is None:
                continue
            label, amed, src = a
            ratio = (f"{med / amed:.2f}x" if med is not None and amed and not math.isinf(med)
                     else "-")
            closest = " (closest anchor)" if key in ("freeze", "partition", "daemon-crash") \
                else ""
            lines.append(f"{TITLES[key]:44} {label[:52]:52} {fmt(amed):>7} {ratio:>7}  "
                         f"{src}{closest}")
    lines.append("")
    for key, (goal_med, goal_p99) in GOALS.items():
        r = rows.get(key)
        if r is None or not r.trials:
            continue
        st = r.stats
        parts = [f"median {fmt(st.median)} s (goal <= {goal_med} s: "
                 f"{'met' if st.median is not None and st.median <= goal_med else 'MISSED'})"]
        if goal_p99 is not None:
            p99 = "none (a trial did not recover)" if st.failed else f"{fmt(st.p99)} s"
            parts.append(f"p99 {p99} (goal <= {goal_p99} s: "
                         f"{'met' if st.p99 is not None and st.p99 <= goal_p99 else 'MISSED'})")
        lines.append(f"goal {TITLES[key]}: " + ", ".join(parts))
    sb = sum(rows[k].split_brain() for k in PACER_ROWS if k in rows)
    if any(k in rows for k in PACER_ROWS):
        lines.append(f"goal zero split-brain in pacer rows: {sb} "
                     f"({'met' if sb == 0 else 'MISSED'})")
    return "\n".join(lines)


def finite(x: float | None) -> float | None:
    """JSON has no infinity: a statistic that a never-recovered trial made infinite is null."""
    return None if x is None or math.isinf(x) else x


def to_json(rows: dict[str, Row], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "kernel": platform.release()},
                           "runs": args.runs, "rows": {},
                           "etcd_heartbeat_ms": args.etcd_heartbeat_ms,
                           "etcd_election_ms": args.etcd_election_ms}
    for key, r in rows.items():
        st = r.stats
        out["rows"][key] = {
            "title": TITLES[key], "skipped": r.skipped or None, "errors": r.errors,
            "gaps_s": [t.trial.gap for t in r.trials],
            "n": st.n, "min_s": st.min, "median_s": finite(st.median), "p99_s": finite(st.p99),
            "max_s": finite(st.max),
            "not_recovered": st.failed, "split_brain": r.split_brain(), "fenced": r.fenced(),
            "trials": [{"label": t.label, "victim": t.victim, "t_fault": t.t_fault,
                        "new_holder": t.trial.new_holder,
                        "gap_s": t.trial.gap, "fault_to_ok_s": t.trial.fault_to_ok,
                        "failed_requests": t.trial.errors, "flaps": t.trial.flaps,
                        "hosts_after": list(t.trial.hosts_after),
                        "vip_overlap_samples_after": t.vip.samples,
                        "vip_overlap_samples_all": t.vip_all.samples,
                        "vip_overlap_longest_s": t.vip_all.longest,
                        "fenced": t.fenced, "note": t.note,
                        "probe_file": t.probe_file, "vip_file": t.vip_file}
                       for t in r.trials],
        }
    return out


# ------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="trials per row (default 20)")
    ap.add_argument("--rows", default=",".join(PACER_ROWS + KA_ROWS),
                    help=f"comma-separated, of: {', '.join(ALL_ROWS)} (default: all but pm)")
    ap.add_argument("--with-pacemaker", action="store_true",
                    help="also measure Pacemaker + Corosync (../shared/bench/pacemaker-lab)")
    ap.add_argument("--json", type=Path, help="write every trial's raw figures here")
    ap.add_argument("--workdir", type=Path,
                    help="keep the probe and VIP sample files here (default: a temporary dir)")
    ap.add_argument("--keep-lab", action="store_true", help="leave the pacer lab up at the end")
    ap.add_argument("--fence-confirm", choices=("device", "device-and-lease"), default="device",
                    help="the pacer lab's fence-confirm property (default device; "
                         "device-and-lease measures what waiting for the lease too costs)")
    ap.add_argument("--etcd-heartbeat-ms", type=int, metavar="MS",
                    default=hosts.ETCD_HEARTBEAT_MS,
                    help="etcd's heartbeat interval in the pacer lab (default: the lab's, "
                         "%(default)s)")
    ap.add_argument("--etcd-election-ms", type=int, metavar="MS",
                    default=hosts.ETCD_ELECTION_MS,
                    help="etcd's election timeout in the pacer lab (default: the lab's, "
                         "%(default)s; etcd's own default is 1000)")
    ap.add_argument("--take-over", action="store_true",
                    help="take down a lab network that is already up (default: refuse)")
    ap.add_argument("--lab-dir", type=Path, default=Path("/run/pacer-lab-bench"),
                    help="the bench's pacer lab directory (default /run/pacer-lab-bench: "
                         "`PACER_LAB_DIR=/run/pacer-lab-bench pacer lab status` shows it)")
    args = ap.parse_args()
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    if args.with_pacemaker and "pm" not in wanted:
        wanted.append("pm")
    unknown = [r for r in wanted if r not in ALL_ROWS]
    if unknown:
        ap.error(f"unknown rows: {', '.join(unknown)} (rows: {', '.join(ALL_ROWS)})")
    if os.geteuid() != 0:
        print("bench/failover.py: needs root (network namespaces)", file=sys.stderr)
        return 2
    # What the anchors need (keepalived is in the default list; Pacemaker's lab
    # wants its own packages): installed here, as the guide asks of benches.
    extra = ["pacemaker", "corosync", "crmsh"] if "pm" in wanted else []
    subprocess.run(["bash", str(Path(__file__).resolve().parent.parent / "scripts" /
                                "install-debs.sh"), *extra], check=False)
    owner = net.network_owner()
    if (owner or net.namespaces() or net.lab_links()) and not args.take_over:
        who = f" by {owner.get('owner')} (pid {owner.get('pid')})" if owner else ""
        print(f"bench/failover.py: the lab network is up{who}: `pacer lab down` first, "
              "or --take-over", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pacer-failover-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"probe and VIP samples in {workdir}")
    rows: dict[str, Row] = {}

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # Clean up on SIGTERM/SIGHUP too, and on SIGINT even when started in the
    # background (a shell without job control starts it with SIGINT ignored).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
            continue  # under nohup: keep running when the terminal goes
        signal.signal(sig, interrupt)

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(to_json(rows, args), indent=1))

    try:
        if net.namespaces() or net.lab_links():
            say("a lab network is up: taking it down (--take-over)")
            from pacer.lab.lab import Lab

            Lab().down(force=True)
            net.down_network(force=True)
        for key in KA_ROWS:
            if key in wanted:
                rows[key] = keepalived_row(key, args.runs, workdir)
                save()
        pacer_keys = [k for k in PACER_ROWS if k in wanted]
        if pacer_keys:
            with PacerRows(workdir, args.keep_lab, args.lab_dir, args.etcd_heartbeat_ms,
                           args.etcd_election_ms, args.fence_confirm) as pr:
                for key in pacer_keys:
                    say(f"{key}: {args.runs} trials")
                    rows[key] = pr.row(key, args.runs)
                    save()
    except KeyboardInterrupt:
        say("interrupted: cleaned up; partial table follows")
        wanted = []
    except Exception as exc:  # noqa: BLE001 - report what was measured anyway
        say(f"the pacer rows stopped: {type(exc).__name__}: {exc}")
    try:
        if "pm" in wanted:
            rows["pm"] = pacemaker_row(args.runs, workdir)
            save()
    except KeyboardInterrupt:
        say("interrupted: cleaned up; partial table follows")
    except Exception as exc:  # noqa: BLE001
        say(f"the Pacemaker row stopped: {type(exc).__name__}: {exc}")
    print(f"\nfailover: 3 hosts in network namespaces on one bridge, {os.cpu_count()} cores; "
          f"HTTP probe of the VIP every 10 ms (timeout 0.3 s) from the client namespace; "
          f"pacer lab's etcd: heartbeat {args.etcd_heartbeat_ms} ms, election "
          f"{args.etcd_election_ms} ms; gaps in s\n")
    print(table(rows))
    if args.json:
        save()
        say(f"raw figures written to {args.json}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def pacemaker_row(runs: int, workdir: Path) -> Row:
    try:
        from bench.compare import pacemaker
    except ImportError:
        return Row("pm", skipped="bench/compare/pacemaker.py is not there")
    try:
        return Row("pm", pacemaker.run(runs, workdir / "pm", progress=say))
    except pacemaker.AnchorUnavailable as exc:
        return Row("pm", skipped=str(exc))


if __name__ == "__main__":
    sys.exit(main())
