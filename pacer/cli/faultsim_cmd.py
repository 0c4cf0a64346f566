"""`pacer faultsim`: the deterministic fault simulator.

    pacer faultsim run --seed 7 --nodes 3                 one seed, its event trace
    pacer faultsim run --seed 7 --faults crash@30+10:n1   a schedule of your own
    pacer faultsim run --replay failures/seed-7.json      a saved failure, bit-for-bit
    pacer faultsim explore --seeds 5000 --jobs 4          many seeds: throughput, failures

See pacer/faultsim/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from pacer.cli.main import UserError

EXAMPLES = """\
examples:
  pacer faultsim run --seed 7
      seed 7's random fault schedule on 3 nodes, as a readable trace
  pacer faultsim run --seed 1 --faults freeze@30+12:n1 fence-fail@29+20 --no-watchdog
      a schedule of your own (KIND@AT[+DURATION][:NODE,...][/RSC[/ACTION]][=VALUE])
  pacer faultsim explore --seeds 5000 --jobs 4 --out faultsim-failures
      many seeds; failures saved (with a shrunk schedule) for --replay
  pacer faultsim run --replay faultsim-failures/seed-19.json
      replay a saved failure (its shrunk schedule; --full for the original)

fault kinds (pacer/faultsim/README.md, "Fault model"): crash freeze partition
  rsc-die agent-fail agent-hang agent-fail-always drift store-leader-loss
  store-flaky fence-fail fence-hang fence-slow-fail; on request only (--kinds):
  fence-lie
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("faultsim", help="deterministic fault simulation of the real daemons "
                       "on virtual time", description=__doc__.split("\n\n")[0],
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    fs = p.add_subparsers(dest="faultsim_command", metavar="{run,explore}")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
        q.add_argument("--fencing", choices=("device", "watchdog"), default="device",
                       help="a power-switch fence device, or watchdog fencing only "
                       "(default device)")
        q.add_argument("--no-watchdog", action="store_true",
                       help="hosts have no hardware watchdog (device fencing only)")
        q.add_argument("--definition", metavar="YAML",
                       help="the cluster definition (default: faultsim's own, see README)")
        q.add_argument("--kinds", metavar="KIND,...",
                       help="only these fault kinds in random schedules")
        q.add_argument("--max-faults", type=int, help="faults per random schedule (default 6)")
        q.add_argument("--actions", metavar="ACTION,...",
                       help="the actions agent faults hit (default start,stop,monitor,promote,"
                       "demote)")
        q.add_argument("--slow-share", type=float, metavar="P",
                       help="share of seeds with slow operations (default 0.2; 0: none, "
                       "1: every seed)")
        q.add_argument("--watchdog-share", type=float, metavar="P",
                       help="share of seeds in which one host's watchdog draws a mode "
                       "(default 0.2)")
        q.add_argument("--ttl-share", type=float, metavar="P",
                       help="share of seeds in which each node draws its lease TTL (default 0.2)")
        q.add_argument("--ttls", metavar="T,...",
                       help="each node's lease TTL in seconds (default: 2, or drawn per seed)")
        q.add_argument("--watchdog-modes", metavar="MODE,...",
                       help="each host's watchdog: ok, none, late:SECONDS, dead (default: ok, "
                       "or one host drawn per seed)")

    r = fs.add_parser("run", help="one seed (or schedule, or saved failure) as an event trace",
                      epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--seed", type=int, default=0)
    common(r)
    r.add_argument("--faults", nargs="+", metavar="FAULT",
                   help="this schedule instead of the seed's random one")
    r.add_argument("--replay", metavar="FILE", help="replay a failure saved by explore")
    r.add_argument("--full", action="store_true",
                   help="with --replay: the original schedule, not the shrunk one")
    r.add_argument("--verbose", "-v", action="store_true",
                   help="every action request and recurring monitor in the trace")
    r.add_argument("--quiet", "-q", action="store_true", help="only the verdict")
    r.add_argument("--log", action="store_true", help="the daemons' own log on stderr")
    r.set_defaults(func=cmd_run)

    e = fs.add_parser("explore", help="many seeds in parallel: throughput and failures",
                      epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    e.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    e.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: one per CPU)")
    common(e)
    e.add_argument("--out", metavar="DIR", default="faultsim-failures",
                   help="where failures are saved (default ./faultsim-failures)")
    e.add_argument("--no-shrink", action="store_true", help="save failures unshrunk")
    e.add_argument("--json", action="store_true",
                   help="the report as JSON on stdout (progress on stderr)")
    e.set_defaults(func=cmd_explore)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _hash_seed() -> None:
    """Pin Python's string hashing: daemon code iterating sets of names would
    otherwise differ between processes, and a saved failure must replay
    bit-for-bit anywhere. Re-executes the command once if needed."""
    if os.environ.get("PYTHONHASHSEED") == "0":
        return
    prog = Path(sys.argv[0]).name
    if prog not in ("pacer", "__main__.py") or "faultsim" not in sys.argv[1:3]:
        return  # called in-process (tests): the caller owns the interpreter
    env = dict(os.environ, PYTHONHASHSEED="0")
    os.execve(sys.executable, [sys.executable, "-m", "pacer", *sys.argv[1:]], env)


def _config(args: argparse.Namespace):  # -> SimConfig
    from pacer.faultsim.config import ALL_FAULT_KINDS, SimConfig

    if args.nodes < 1:
        raise UserError("--nodes must be at least 1")
    kw: dict = {"nodes": args.nodes, "fencing": args.fencing,
                "watchdog": not args.no_watchdog}
    if args.definition:
        try:
            kw["definition"] = Path(args.definition).read_text()
        except OSError as exc:
            raise UserError(f"cannot read {args.definition}: {exc.strerror}") from exc
    if args.kinds:
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        bad = [k for k in kinds if k not in ALL_FAULT_KINDS]
        if bad:
            raise UserError(f"unknown fault kind {bad[0]!r}; one of "
                            f"{', '.join(ALL_FAULT_KINDS)}")
        kw["fault_kinds"] = kinds
    if args.max_faults is not None:
        kw["max_faults"] = args.max_faults
    if args.actions:
        kw["fault_actions"] = tuple(a.strip() for a in args.actions.split(",") if a.strip())
    if args.slow_share is not None:
        kw["slow_share"] = args.slow_share
    if args.watchdog_share is not None:
        kw["watchdog_mode_share"] = args.watchdog_share
    if args.ttl_share is not None:
        kw["ttl_share"] = args.ttl_share
    try:
        if args.ttls:
            kw["lease_ttls"] = tuple(int(t) for t in args.ttls.split(","))
        if args.watchdog_modes:
            kw["watchdog_modes"] = tuple(m.strip() for m in args.watchdog_modes.split(","))
        config = SimConfig(**kw)
        config.profile(0)  # (checks the per-node lists)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return config


def cmd_run(args: argparse.Namespace) -> int:
    _hash_seed()
    from pacer.faultsim.explore import load_failure
    from pacer.faultsim.faults import parse_fault
    from pacer.faultsim.run import run

    if not args.log:
        logging.disable(logging.CRITICAL)
    else:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    expect: str | None = None
    if args.replay:
        try:
            saved = load_failure(Path(args.replay))
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"cannot replay {args.replay}: {exc}") from exc
        config, seed = saved.config, saved.seed
        if saved.shrunk_faults is not None and not args.full:
            faults, expect = saved.shrunk_faults, saved.shrunk_digest
            label = f"shrunk schedule ({len(faults)} of {len(saved.faults)} faults)"
        else:
            faults, expect = saved.faults, saved.digest
            label = f"original schedule ({len(faults)} faults)"
        print(f"replaying seed {seed}, {label}")
        if saved.hash_seed != os.environ.get("PYTHONHASHSEED"):
            print(f"note: saved with PYTHONHASHSEED={saved.hash_seed}, running with "
                  f"{os.environ.get('PYTHONHASHSEED')}", file=sys.stderr)
    else:
        config, seed = _config(args), args.seed
        try:
            faults = [parse_fault(f) for f in args.faults] if args.faults else None
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    echo = None if args.quiet else print
    result = run(config, seed, faults, echo=echo, verbose=args.verbose)
    print(f"\nseed {seed}: {len(result.faults)} faults, {result.sim_seconds:.1f} simulated s "
          f"in {result.wall_seconds:.2f} wall s ({result.steps} callbacks)")
    for f in result.faults:
        print(f"  fault at {f.at:8.3f}: {f.describe()}")
    if result.converged_at is not None:
        print(f"converged {result.converged_at - result.heal_at:.1f} s after the last fault "
              "healed")
    for v in result.violations:
        print(f"VIOLATION {v}")
    print(f"trace digest {result.trace.digest()}")
    if expect is not None:
        same = result.trace.digest() == expect
        print("replayed bit-for-bit: the trace digest matches" if same
              else f"REPLAY DIFFERS: saved digest {expect}")
        if not same:
            return 2
    return 0 if result.ok else 1


def cmd_explore(args: argparse.Namespace) -> int:
    _hash_seed()
    from pacer.faultsim.explore import SeedOutcome, explore

    logging.disable(logging.CRITICAL)  # shrinking runs here, in this process
    config = _config(args)
    if args.seeds < 1 or args.jobs < 1:
        raise UserError("--seeds and --jobs must be at least 1")
    step = max(1, args.seeds // 20)
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if args.json else \
        (lambda text: print(text, flush=True))

    def progress(o: SeedOutcome, done: int) -> None:
        if not o.ok:
            say(f"seed {o.seed}: {o.first}")
        elif done % step == 0:
            say(f"... {done}/{args.seeds} seeds")

    say(f"exploring seeds {args.start}..{args.start + args.seeds - 1} on {args.jobs} "
        f"worker(s): {config.nodes} nodes, fencing {config.fencing}"
        f"{'' if config.has_watchdog else ', no watchdog'}; fault kinds "
        f"{','.join(config.fault_kinds)}")
    out = Path(args.out)
    report = explore(config, range(args.start, args.start + args.seeds), jobs=args.jobs,
                     out_dir=out, shrink=not args.no_shrink, progress=progress)
    if args.json:
        print(json.dumps(report.to_json(config.nodes), indent=1))
        return 0 if not report.failures else 1
    for line in report.summary_lines(config.nodes) + report.stat_lines():
        print(line)
    by_kind = report.violation_counts()
    if by_kind:
        print("violations: " + ", ".join(f"{k} {n}" for k, n in by_kind.items()))
    for path in report.saved:
        print(f"saved {path}  (replay: pacer faultsim run --replay {path})")
    return 0 if not report.failures else 1



