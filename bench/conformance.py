#!/usr/bin/env python3
"""Conformance of pacer's scheduler against Pacemaker 2.1.5's regression corpus.

Runs pacer on every ``xml/NAME.xml`` of the corpus (``pacer.status.load.load_snapshot``,
the one loader, then ``pacer.scheduler.schedule`` at the CIB's execution-date)
(``../shared/pacemaker-corpus`` beside the repository unless ``--corpus`` or
``PACER_CORPUS`` says otherwise) and compares with the stored
``summary/NAME.summary`` that ``crm_simulate -S`` printed.

Level 1 (the pass criterion): the multiset of ``Transition Summary:`` lines, with
runs of whitespace folded, equals the stored one.
Level 2 (reported only): level 1, and the set of ``Resource action:`` /
``Cluster action:`` / ``Pseudo action:`` lines of the ``Executing Cluster
Transition:`` block equals the stored one.

Each test runs in a worker process with a per-test timeout; an exception or a
timeout is a failure with its text recorded. The exit status is 0 (this is a
report) unless ``--min-pass-rate TIERS:PCT`` is given and not met.

The functions here are imported by tests/test_conformance_floor.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "pacemaker-corpus"
API_NAME = "pacer.status.load.load_snapshot / pacer.scheduler.schedule"
ACTION_PREFIXES = ("* Resource action:", "* Cluster action:", "* Pseudo action:")
# features.csv has one input that is not in tests.json; the corpus README says to ignore it.
IGNORED_ROWS = {"bundle-order-partial"}
DEFAULT_TIMEOUT = 20.0
DEFAULT_JOBS = 2
# Named groups of tiers reported on their own line, as in the project's targets.
HEADLINE_TIERS = ("0-3", "5-6")

if str(REPO_ROOT) not in sys.path:  # run with a python that lacks the editable install
    sys.path.insert(0, str(REPO_ROOT))


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class CorpusTest:
    name: str
    tier: int
    xml: str
    summary: str


def default_corpus() -> Path:
    env = os.environ.get("PACER_CORPUS")
    return Path(env) if env else DEFAULT_CORPUS


def parse_tiers(spec: str | None) -> set[int] | None:
    """``"0-3"``, ``"0-3,5"``, ``"5-6"`` -> a set of tiers; ``None``/``"all"`` -> None."""
    if spec is None or spec.strip().lower() in ("", "all"):
        return None
    tiers: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            tiers.update(range(int(lo), int(hi) + 1))
        else:
            tiers.add(int(part))
    return tiers


def load_corpus(
    corpus: Path, tiers: set[int] | None = None, only: list[str] | None = None
) -> list[CorpusTest]:
    """The tests of tests.json with their tier from features.csv, in tests.json order."""
    corpus = Path(corpus)
    names = [t["name"] for t in json.loads((corpus / "tests.json").read_text())]
    tier_of: dict[str, int] = {}
    with open(corpus / "features.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["name"] not in IGNORED_ROWS:
                tier_of[row["name"]] = int(row["tier"])
    missing = [n for n in names if n not in tier_of]
    if missing:
        raise ValueError(f"tests without a tier in features.csv: {missing[:5]}")
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"unknown test name(s): {', '.join(unknown)}")
        wanted = set(only)
        names = [n for n in names if n in wanted]
    tests = [
        CorpusTest(n, tier_of[n], str(corpus / "xml" / f"{n}.xml"),
                   str(corpus / "summary" / f"{n}.summary"))
        for n in names
    ]
    if tiers is not None:
        tests = [t for t in tests if t.tier in tiers]
    return tests


def fold(line: str) -> str:
    """Runs of whitespace folded to one space, ends stripped."""
    return " ".join(line.split())


def _block(lines: list[str], header: str, stops: tuple[str, ...]) -> list[str]:
    try:
        start = lines.index(header)
    except ValueError:
        return []
    out = []
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith(stops):
            break
        out.append(line)
    return out


def parse_summary(text: str) -> tuple[list[str], list[str]]:
    """(Transition Summary lines, Executing Cluster Transition lines), unfolded."""
    lines = text.splitlines()
    summary = _block(lines, "Transition Summary:", ("Executing Cluster Transition:",))
    actions = _block(lines, "Executing Cluster Transition:", ("Revised Cluster Status:",))
    return summary, actions


def summary_multiset(lines: list[str]) -> Counter[str]:
    folded = (fold(x) for x in lines)
    return Counter(x for x in folded if x and x != "Transition Summary:")


def action_set(lines: list[str]) -> set[str]:
    return {f for f in (fold(x) for x in lines) if f.startswith(ACTION_PREFIXES)}


# --------------------------------------------------------------------------- one test


@dataclass
class Result:
    name: str
    tier: int
    pass_l1: bool = False
    pass_l2: bool = False
    expected: list[str] = field(default_factory=list)
    got: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    actions_missing: list[str] = field(default_factory=list)
    actions_unexpected: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def compare(test: CorpusTest, summary_lines, action_lines) -> Result:
    exp_summary, exp_actions = parse_summary(Path(test.summary).read_text())
    exp = summary_multiset(exp_summary)
    got = summary_multiset(list(summary_lines))
    res = Result(test.name, test.tier)
    res.expected = sorted(exp.elements())
    res.got = sorted(got.elements())
    res.missing = sorted((exp - got).elements())
    res.unexpected = sorted((got - exp).elements())
    res.pass_l1 = exp == got
    exp_a, got_a = action_set(exp_actions), action_set(list(action_lines))
    res.actions_missing = sorted(exp_a - got_a)
    res.actions_unexpected = sorted(got_a - exp_a)
    res.pass_l2 = res.pass_l1 and exp_a == got_a
    return res


def failed(test: CorpusTest, error: str, seconds: float = 0.0) -> Result:
    """A level-1 failure with an error: nothing was produced, everything is missing."""
    res = Result(test.name, test.tier, error=error, seconds=seconds)
    try:
        summary = parse_summary(Path(test.summary).read_text())[0]
        res.expected = sorted(summary_multiset(summary).elements())
    except OSError:
        pass
    res.missing = list(res.expected)
    return res


def load_api():
    """A function scheduling a CIB file (the one loader, then the scheduler), or
    raise ImportError with a message saying what is missing."""
    try:
        from pacer.scheduler import schedule
        from pacer.status.load import decision_time, load_snapshot
    except ImportError as exc:
        raise ImportError(f"cannot import {API_NAME}: {type(exc).__name__}: {exc}") from exc

    def simulate(path):
        snap = load_snapshot(path)
        return schedule(snap.definition, snap.status, decision_time(snap.status))

    return simulate


def run_one(test: CorpusTest, simulate=None) -> Result:
    """Run one test in this process; every exception is a recorded failure."""
    t0 = time.perf_counter()
    try:
        if simulate is None:
            simulate = load_api()
        out = simulate(test.xml)
        res = compare(test, out.summary_lines, out.action_lines)
    except BaseException as exc:  # noqa: BLE001 - a failure to record, whatever it is
        if isinstance(exc, KeyboardInterrupt):
            raise
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
        res = failed(test, f"{type(exc).__name__}: {exc}{where}")
    res.seconds = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------- the pool


def _worker(conn) -> None:
    simulate = None
    try:
        simulate = load_api()
    except ImportError:
        pass  # run_one records the ImportError for each test
    while True:
        try:
            test = conn.recv()
        except EOFError:
            return
        if test is None:
            return
        conn.send(run_one(test, simulate))


class _Slot:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.test: CorpusTest | None = None
        self.deadline = 0.0
        self.started = 0.0

    def submit(self, test: CorpusTest, timeout: float) -> None:
        self.test = test
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.conn.send(test)

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(5)
        self.kill()


def run_tests(
    tests: list[CorpusTest],
    jobs: int = DEFAULT_JOBS,
    timeout: float = DEFAULT_TIMEOUT,
    progress=None,
) -> list[Result]:
    """Run ``tests`` in ``jobs`` worker processes, each test at most ``timeout`` s.

    A worker that overruns is killed and replaced; its test fails with a timeout.
    Results come back in the order of ``tests``. ``progress(result, done, total)``
    is called as results arrive.
    """
    if not tests:
        return []
    # fork: workers inherit the already imported scheduler (fast start); Linux only.
    ctx = multiprocessing.get_context("fork")
    pending = list(reversed(tests))
    results: dict[str, Result] = {}
    slots = [_Slot(ctx) for _ in range(max(1, min(jobs, len(tests))))]

    def finish(res: Result) -> None:
        results[res.name] = res
        if progress:
            progress(res, len(results), len(tests))

    try:
        for slot in slots:
            if pending:
                slot.submit(pending.pop(), timeout)
        while any(s.test is not None for s in slots):
            busy = [s for s in slots if s.test is not None]
            wait_for = max(0.0, min(s.deadline for s in busy) - time.monotonic())
            ready = multiprocessing.connection.wait([s.conn for s in busy], timeout=wait_for)
            now = time.monotonic()
            for i, slot in enumerate(slots):
                if slot.test is None:
                    continue
                res, broken = None, False
                if slot.conn in ready:
                    try:
                        res = slot.conn.recv()
                    except (EOFError, OSError):
                        slot.proc.join(1)
                        res = failed(slot.test,
                                     f"worker process died (exit code {slot.proc.exitcode})",
                                     now - slot.started)
                        broken = True
                elif now >= slot.deadline:
                    res = failed(slot.test, f"timeout: no result within {timeout:g} s",
                                 now - slot.started)
                    broken = True
                if res is None:
                    continue
                slot.test = None
                finish(res)
                if broken:
                    slot.kill()
                    slots[i] = slot = _Slot(ctx)
                if pending:
                    slot.submit(pending.pop(), timeout)
    finally:
        for slot in slots:
            slot.stop()
    return [results[t.name] for t in tests]


# --------------------------------------------------------------------------- report


@dataclass
class Tally:
    total: int = 0
    pass_l1: int = 0
    pass_l2: int = 0

    def add(self, r: Result) -> None:
        self.total += 1
        self.pass_l1 += r.pass_l1
        self.pass_l2 += r.pass_l2


def pct(n: int, d: int) -> float:
    return 100.0 * n / d if d else 0.0


def tally(results: list[Result], tiers: set[int] | None = None) -> Tally:
    t = Tally()
    for r in results:
        if tiers is None or r.tier in tiers:
            t.add(r)
    return t


def report_dict(results: list[Result], corpus: Path, elapsed: float, api_error: str | None):
    tiers = sorted({r.tier for r in results})
    per_tier = {str(t): asdict(tally(results, {t})) for t in tiers}
    cumulative = {f"0-{t}": asdict(tally(results, set(range(t + 1)))) for t in tiers}
    headline = {h: asdict(tally(results, parse_tiers(h))) for h in HEADLINE_TIERS}
    fields = ("name", "tier", "expected", "got", "missing", "unexpected", "error")
    failures = [{k: getattr(r, k) for k in fields} for r in results if not r.pass_l1]
    l2_failures = [
        {"name": r.name, "tier": r.tier, "actions_missing": r.actions_missing,
         "actions_unexpected": r.actions_unexpected}
        for r in results if r.pass_l1 and not r.pass_l2
    ]
    return {
        "corpus": str(corpus),
        "api_error": api_error,
        "elapsed_seconds": round(elapsed, 2),
        "total": asdict(tally(results)),
        "per_tier": per_tier,
        "cumulative": cumulative,
        "headline": headline,
        "failures": failures,
        "l2_failures": l2_failures,
        "seconds": {r.name: round(r.seconds, 4) for r in results},
    }


def format_table(results: list[Result]) -> str:
    tiers = sorted({r.tier for r in results})
    head = f"{'tier':>6} | {'tests':>5} | {'pass L1':>7} | {'%':>6} | {'pass L2':>7} | {'%':>6}"
    rule = "-" * len(head)

    def row(label: str, t: Tally) -> str:
        return (f"{label:>6} | {t.total:>5} | {t.pass_l1:>7} | {pct(t.pass_l1, t.total):>5.1f}% | "
                f"{t.pass_l2:>7} | {pct(t.pass_l2, t.total):>5.1f}%")

    out = [head, rule]
    out += [row(str(t), tally(results, {t})) for t in tiers]
    if len(tiers) > 1:
        out.append(rule)
        out += [row(f"0-{t}", tally(results, set(range(t + 1)))) for t in tiers]
    out.append(rule)
    out.append(row("all", tally(results)))
    return "\n".join(out)


def headline_lines(results: list[Result], corpus_tests: list[CorpusTest] | None = None):
    """The "tiers 0-3: X/285 (Y%)" lines; "(partial run)" when not all of them ran."""
    out = []
    for spec in HEADLINE_TIERS:
        tiers = parse_tiers(spec)
        t = tally(results, tiers)
        if not t.total:
            continue
        line = (f"tiers {spec}: {t.pass_l1}/{t.total} ({pct(t.pass_l1, t.total):.1f}%)"
                f"   [level 2: {t.pass_l2}/{t.total} ({pct(t.pass_l2, t.total):.1f}%)]")
        if corpus_tests is not None:
            size = sum(1 for c in corpus_tests if c.tier in tiers)
            if size != t.total:
                line += f"   (partial run: {t.total} of {size})"
        out.append(line)
    return out


def format_failure(r: Result) -> str:
    out = [f"--- FAIL {r.name} (tier {r.tier})"]
    if r.error:
        out.append(f"    error: {r.error}")
    for line in r.missing:
        out.append(f"    - {line}")
    for line in r.unexpected:
        out.append(f"    + {line}")
    if r.pass_l1 and not r.pass_l2:
        out[0] = f"--- L2 {r.name} (tier {r.tier}): actions differ"
        out += [f"    - {x}" for x in r.actions_missing]
        out += [f"    + {x}" for x in r.actions_unexpected]
    return "\n".join(out)


def check_min_pass_rate(results: list[Result], spec: str) -> tuple[bool, str]:
    """``spec`` is ``TIERS:PCT``, e.g. ``0-3:95``: level-1 pass rate over those tiers."""
    tiers_spec, _, pct_s = spec.rpartition(":")
    if not tiers_spec:
        raise ValueError(f"--min-pass-rate wants TIERS:PCT, got {spec!r}")
    t = tally(results, parse_tiers(tiers_spec))
    rate = pct(t.pass_l1, t.total)
    ok = t.total > 0 and rate >= float(pct_s)
    return ok, (f"min pass rate tiers {tiers_spec}: {rate:.1f}% "
                f"({t.pass_l1}/{t.total}) {'>=' if ok else '<'} {float(pct_s):g}%")


def raise_floor(floor_file: Path, results: list[Result]) -> list[str]:
    """Raise the floors of ``floor_file`` (e.g. tests/conformance_floor.json) to the
    level-1 pass counts of ``results``; never lower one. Returns what changed."""
    floors = json.loads(floor_file.read_text())
    changed = []
    for group in HEADLINE_TIERS:
        tiers = parse_tiers(group)
        if not any(r.tier in tiers for r in results):
            continue
        passed = tally(results, tiers).pass_l1
        old = int(floors.get(group, 0))
        if passed > old:
            floors[group] = passed
            changed.append(f"floor {group}: {old} -> {passed}")
    if changed:
        floor_file.write_text(json.dumps(floors, indent=2) + "\n")
    return changed


def run_conformance(
    corpus: Path | None = None,
    tiers: set[int] | None = None,
    only: list[str] | None = None,
    jobs: int = DEFAULT_JOBS,
    timeout: float = DEFAULT_TIMEOUT,
    progress=None,
) -> tuple[list[Result], str | None]:
    """Load the corpus, run it, return (results, API import error or None).

    The scheduler is imported here first so that forked workers inherit it.
    """
    corpus = Path(corpus) if corpus else default_corpus()
    tests = load_corpus(corpus, tiers, only)
    api_error = None
    try:
        load_api()
    except ImportError as exc:
        api_error = str(exc)
    return run_tests(tests, jobs=jobs, timeout=timeout, progress=progress), api_error


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=default_corpus(),
                   help="corpus directory (default: $PACER_CORPUS or %(default)s)")
    p.add_argument("--tiers", help="tiers to run, e.g. 0-3 or 0-3,5-6 (default: all)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these tests")
    p.add_argument("--json", type=Path, metavar="FILE", help="write a JSON report")
    p.add_argument("--jobs", "-j", type=int, default=DEFAULT_JOBS,
                   help="worker processes (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help="seconds per test (default: %(default)s)")
    p.add_argument("--min-pass-rate", metavar="TIERS:PCT", action="append", default=[],
                   help="exit 1 unless level-1 pass rate over TIERS is >= PCT (repeatable)")
    p.add_argument("--raise-floor", nargs="?", type=Path, metavar="FLOOR_JSON",
                   const=REPO_ROOT / "tests" / "conformance_floor.json",
                   help="raise (never lower) the floors in FLOOR_JSON to this run's "
                        "level-1 pass counts (default file: tests/conformance_floor.json)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--verbose", "-v", action="store_true", help="print each failure's diff")
    out.add_argument("--quiet", "-q", action="store_true", help="print only the headline lines")
    args = p.parse_args(argv)

    if not (args.corpus / "tests.json").is_file():
        print(f"conformance: no corpus at {args.corpus} (set --corpus or PACER_CORPUS)",
              file=sys.stderr)
        return 2
    try:
        tiers = parse_tiers(args.tiers)
        for spec in args.min_pass_rate:
            if ":" not in spec:
                raise ValueError(f"--min-pass-rate wants TIERS:PCT, got {spec!r}")
            parse_tiers(spec.rpartition(":")[0])
            float(spec.rpartition(":")[2])
        load_corpus(args.corpus, tiers, args.only)
    except ValueError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2

    def progress(res: Result, done: int, total: int) -> None:
        if args.verbose and not res.pass_l2:
            print(format_failure(res), flush=True)
        elif not args.quiet and sys.stderr.isatty():
            print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results, api_error = run_conformance(args.corpus, tiers, args.only, args.jobs,
                                         args.timeout, progress)
    elapsed = time.perf_counter() - t0
    if not args.quiet and sys.stderr.isatty():
        print("\r", end="", file=sys.stderr)

    if api_error:
        print(f"conformance: {api_error}\n"
              f"conformance: every test fails until {API_NAME} exists")
    if not args.quiet:
        print(format_table(results))
        errors = Counter(r.error.split(":")[0] for r in results if r.error)
        if errors:
            print("errors: " + ", ".join(f"{k} x{v}" for k, v in errors.most_common()))
        slow = max(results, key=lambda r: r.seconds, default=None)
        print(f"{len(results)} tests in {elapsed:.1f} s with {args.jobs} workers"
              + (f"; slowest {slow.name} {slow.seconds:.2f} s" if slow else ""))
    for line in headline_lines(results, load_corpus(args.corpus)):
        print(line)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report_dict(results, args.corpus, elapsed, api_error),
                                        indent=1) + "\n")
    if args.raise_floor:
        if args.only:
            print("conformance: --raise-floor ignored with --only", file=sys.stderr)
        else:
            for line in raise_floor(args.raise_floor, results) or ["floors unchanged"]:
                print(line)
    status = 0
    for spec in args.min_pass_rate:
        ok, msg = check_min_pass_rate(results, spec)
        print(msg)
        status = status if ok else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
