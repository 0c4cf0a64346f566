#!/usr/bin/env python3
"""Scheduler speed and decisions: pacer versus Pacemaker 2.1.5's crm_simulate.

Follows ../shared/bench/ANCHORS.md: for each size N (resources, 16 nodes)

  big<N>.xml       gen_big_cib.py N 16                   everything stopped
  steady<N>.xml    gen_steady.py big<N>.xml graph.xml    running where placed
  failover<N>.xml  gen_failover.py steady<N>.xml         last node cleanly offline

and three cases on them: ``from-stopped`` (big), ``steady`` and ``node-lost``
(failover). pacer is timed in-process (wall time of loading the file with
``pacer.status.load.load_snapshot`` and one ``pacer.scheduler.schedule`` call, in
a forked child so that a runaway can be stopped); crm_simulate as a whole process with ``LC_ALL=C`` and a fresh
``CIB_shadow_dir``: ``-x FILE -s -Q -G graph.xml`` from stopped and node lost,
``-x FILE -S -Q -G graph.xml`` in steady state (never ``-S`` from stopped: see
ANCHORS.md). Above ``--skip-pacemaker-above`` resources crm_simulate is not run
and the ANCHORS.md figure is shown instead.

Decision agreement compares the (resource, operation, node) triples of the
start/stop/migrate_to/promote/demote operations in Pacemaker's transition graph
with pacer's ``Resource action:`` lines (monitors ignored).

The steady-state CIB needs a placement: Pacemaker's from-stopped graph when
crm_simulate ran for that size (or one is cached); otherwise pacer's own
placement, and the case is marked so.

Generated CIBs and graphs are cached in bench/.cache/ (keyed by a hash of the
generator scripts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED_BENCH = REPO_ROOT.parent / "shared" / "bench"
CACHE_ROOT = Path(__file__).resolve().parent / ".cache"
NODES = 16
DECISION_OPS = ("start", "stop", "migrate_to", "promote", "demote")
CASES = ("from-stopped", "steady", "node-lost")
GENERATORS = ("gen_big_cib.py", "gen_steady.py", "gen_failover.py")
RESOURCE_ACTION = re.compile(r"Resource action:\s+(\S+)\s+(\S+)\s+on\s+(\S+)")

if str(REPO_ROOT) not in sys.path:  # run with a python that lacks the editable install
    sys.path.insert(0, str(REPO_ROOT))


# --------------------------------------------------------------------------- anchors


def read_anchors(anchors_md: Path) -> dict[int, dict[str, float]]:
    """The crm_simulate table of ANCHORS.md: {resources: {case: seconds}}."""
    out: dict[int, dict[str, float]] = {}
    if not anchors_md.is_file():
        return out
    row = re.compile(r"^\|\s*([\d,]+) resources[^|]*\|\s*([\d.]+) s\s*\|\s*([\d.]+) s\s*\|"
                     r"\s*([\d.]+) s\s*\|")
    for line in anchors_md.read_text().splitlines():
        m = row.match(line)
        if m:
            n = int(m.group(1).replace(",", ""))
            out[n] = dict(zip(CASES, (float(m.group(i)) for i in (2, 3, 4)), strict=True))
    return out


# --------------------------------------------------------------------------- CIBs


class Inputs:
    """Generates (and caches) the CIBs of one size."""

    def __init__(self, shared_bench: Path, cache_root: Path = CACHE_ROOT):
        self.gen = {g: shared_bench / g for g in GENERATORS}
        for path in self.gen.values():
            if not path.is_file():
                raise FileNotFoundError(f"generator missing: {path}")
        digest = hashlib.sha256()
        for g in GENERATORS:
            digest.update(self.gen[g].read_bytes())
        self.dir = cache_root / digest.hexdigest()[:12]
        self.dir.mkdir(parents=True, exist_ok=True)

    def _gen(self, out: Path, script: str, *args: str) -> Path:
        if not out.is_file():
            tmp = out.with_suffix(".tmp")
            with open(tmp, "w") as fh:
                subprocess.run([sys.executable, str(self.gen[script]), *args], stdout=fh,
                               check=True)
            tmp.replace(out)
        return out

    def big(self, n: int) -> Path:
        return self._gen(self.dir / f"big{n}.xml", "gen_big_cib.py", str(n), str(NODES))

    def pacemaker_graph(self, n: int) -> Path:
        """Where Pacemaker's from-stopped graph for size n is (or will be) cached."""
        return self.dir / f"graph{n}.xml"

    def steady(self, n: int, graph: Path, source: str) -> Path:
        return self._gen(self.dir / f"steady{n}-{source}.xml", "gen_steady.py",
                         str(self.big(n)), str(graph))

    def failover(self, steady: Path) -> Path:
        name = steady.name.replace("steady", "failover")
        return self._gen(self.dir / name, "gen_failover.py", str(steady))

    def pacer_graph(self, n: int, actions: set[tuple[str, str, str]]) -> Path:
        """A minimal transition graph with pacer's starts, for gen_steady.py."""
        path = self.dir / f"graph{n}-pacer.xml"
        root = ET.Element("transition_graph")
        for i, (rsc, op, node) in enumerate(sorted(actions)):
            if op != "start":
                continue
            synapse = ET.SubElement(root, "synapse", id=str(i))
            aset = ET.SubElement(synapse, "action_set")
            rsc_op = ET.SubElement(aset, "rsc_op", id=str(i), operation="start",
                                   operation_key=f"{rsc}_start_0", on_node=node)
            ET.SubElement(rsc_op, "primitive", id=rsc)
        ET.ElementTree(root).write(path)
        return path


# --------------------------------------------------------------------------- runners


def graph_decisions(graph: Path) -> set[tuple[str, str, str]]:
    """(resource, operation, node) of the decision operations of a transition graph."""
    out = set()
    for op in ET.parse(graph).getroot().findall("synapse/action_set/rsc_op"):
        if op.get("operation") in DECISION_OPS:
            prim = op.find("primitive")
            out.add((prim.get("id"), op.get("operation"), op.get("on_node")))
    return out


def pacer_decisions(action_lines: list[str]) -> set[tuple[str, str, str]]:
    out = set()
    for line in action_lines:
        m = RESOURCE_ACTION.search(line)
        if m and m.group(2) in DECISION_OPS:
            out.add((m.group(1), m.group(2), m.group(3)))
    return out


def crm_simulate_available() -> bool:
    return shutil.which("crm_simulate") is not None


def run_crm_simulate(cib: Path, case: str, graph_out: Path, timeout: float) -> float:
    """Whole-process wall seconds of crm_simulate on ``cib``; writes its graph."""
    mode = "-S" if case == "steady" else "-s"
    with tempfile.TemporaryDirectory(prefix="pacer-bench-shadow-") as shadow:
        env = dict(os.environ, LC_ALL="C", CIB_shadow_dir=shadow)
        cmd = ["crm_simulate", "-x", str(cib), mode, "-Q", "-G", str(graph_out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout)
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0 or not graph_out.is_file():
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def _pacer_child(conn, cib: str, repeat: int) -> None:
    try:
        from pacer.scheduler import schedule
        from pacer.status.load import decision_time, load_snapshot

        best, lines = None, []
        for _ in range(repeat):
            t0 = time.perf_counter()
            snap = load_snapshot(cib)
            res = schedule(snap.definition, snap.status, decision_time(snap.status))
            elapsed = time.perf_counter() - t0
            best = elapsed if best is None else min(best, elapsed)
            lines = list(res.action_lines)
        conn.send(("ok", best, lines))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
        conn.send(("error", f"{type(exc).__name__}: {exc}{where}", []))


def run_pacer(cib: Path, timeout: float, repeat: int = 1) -> tuple[float, list[str]]:
    """Seconds of loading and scheduling ``cib`` (best of ``repeat``) and its action lines,
    measured in a forked child that is killed after ``timeout`` seconds."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_pacer_child, args=(child, str(cib), repeat), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise TimeoutError(f"pacer gave no result within {timeout:g} s")
        status, value, lines = parent.recv()
    except EOFError:
        proc.join(5)
        raise RuntimeError(f"pacer's process died (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
    if status != "ok":
        raise RuntimeError(value)
    return value, lines


# --------------------------------------------------------------------------- the bench


@dataclass
class Row:
    case: str
    resources: int
    cib: str
    pacer_s: float | None = None
    crm_s: float | None = None
    crm_note: str | None = None  # why crm_simulate was not run
    anchor_s: float | None = None
    ratio: float | None = None  # crm_simulate / pacer, both measured in this run
    agree: bool | None = None
    differing: int | None = None
    pacer_only: list | None = None  # a sample of the differing decisions
    pacemaker_only: list | None = None
    pacer_decisions: int | None = None
    pacemaker_decisions: int | None = None
    placement: str = "pacemaker"  # whose from-stopped placement the steady CIB uses
    error: str | None = None


def bench_size(n: int, inputs: Inputs, args, anchors, log) -> list[Row]:
    have_crm = crm_simulate_available()
    run_crm = have_crm and n <= args.skip_pacemaker_above
    anchor = anchors.get(n, {})

    def skip_note(case: str) -> str:
        if not have_crm:
            return "skipped (crm_simulate not installed: make deps)"
        if case in anchor:
            return f"skipped (anchor {anchor[case]!r} s from ANCHORS.md)"
        return "skipped (no anchor for this size in ANCHORS.md)"

    rows: list[Row] = []
    files = {"from-stopped": inputs.big(n)}
    placement = "-"
    stopped_decisions: set | None = None
    work = Path(tempfile.mkdtemp(prefix=f"pacer-bench-{n}-"))
    try:
        for case in CASES:
            if case == "steady":
                graph = inputs.pacemaker_graph(n)
                placement = "pacemaker"
                if not graph.is_file():
                    if stopped_decisions is None:
                        for c in ("steady", "node-lost"):
                            rows.append(Row(c, n, "", error="no placement to build the steady "
                                            "CIB from (neither crm_simulate nor pacer ran)"))
                        break
                    # pacer's placement changes as pacer does: never reuse a cached one
                    placement = "pacer"
                    graph = inputs.pacer_graph(n, stopped_decisions)
                    for stale in (f"steady{n}-pacer.xml", f"failover{n}-pacer.xml"):
                        (inputs.dir / stale).unlink(missing_ok=True)
                files["steady"] = inputs.steady(n, graph, placement)
                files["node-lost"] = inputs.failover(files["steady"])
            cib = files[case]
            row = Row(case, n, str(cib), placement=placement, anchor_s=anchor.get(case))
            log(f"[{n} {case}] pacer ...")
            mine = None
            try:
                row.pacer_s, pacer_lines = run_pacer(cib, args.pacer_timeout, args.repeat)
                mine = pacer_decisions(pacer_lines)
                row.pacer_decisions = len(mine)
                log(f"[{n} {case}] pacer {row.pacer_s:.3f} s, {len(mine)} decisions")
            except Exception as exc:  # noqa: BLE001 - reported in the table
                row.error = f"pacer: {exc}"
                log(f"[{n} {case}] pacer failed: {exc}")
            if case == "from-stopped":
                stopped_decisions = mine
            if not run_crm:
                row.crm_note = skip_note(case)
            else:
                # the from-stopped graph is kept: it places the steady-state CIB
                graph_out = (inputs.pacemaker_graph(n) if case == "from-stopped"
                             else work / f"graph-{case}.xml")
                log(f"[{n} {case}] crm_simulate ...")
                try:
                    tmp_graph = work / f"graph-{case}.tmp.xml"
                    row.crm_s = run_crm_simulate(cib, case, tmp_graph, args.crm_timeout)
                    shutil.move(str(tmp_graph), graph_out)
                    theirs = graph_decisions(graph_out)
                    row.pacemaker_decisions = len(theirs)
                    log(f"[{n} {case}] crm_simulate {row.crm_s:.3f} s, {len(theirs)} decisions")
                    if mine is not None:
                        row.agree = mine == theirs
                        row.differing = len(mine ^ theirs)
                        row.pacer_only = sorted(map(list, mine - theirs))[:20]
                        row.pacemaker_only = sorted(map(list, theirs - mine))[:20]
                except Exception as exc:  # noqa: BLE001 - reported in the table
                    row.error = (row.error + "; " if row.error else "") + f"crm_simulate: {exc}"
                    log(f"[{n} {case}] crm_simulate failed: {exc}")
            if row.pacer_s and row.crm_s:
                row.ratio = row.crm_s / row.pacer_s
            rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def format_table(rows: list[Row]) -> str:
    def s(x):
        return "-" if x is None else f"{x:.3f}" if x < 10 else f"{x:.1f}"

    table = [("case", "resources", "pacer s", "crm_simulate s", "ratio (crm/pacer)", "agree")]
    for r in rows:
        case = r.case + ("*" if r.placement == "pacer" else "")
        crm = s(r.crm_s) if r.crm_s is not None else (r.crm_note or "-")
        if r.ratio is not None:
            ratio = f"{r.ratio:.1f}x"
        elif r.pacer_s and r.anchor_s and r.crm_s is None:
            ratio = f"~{r.anchor_s / r.pacer_s:.1f}x (anchor)"
        else:
            ratio = "-"
        if r.agree is None:
            agree = "n/a"
        elif r.agree:
            agree = "yes"
        else:
            agree = f"no ({r.differing} differ)"
        pacer = s(r.pacer_s) if r.pacer_s is not None else "error"
        table.append((case, str(r.resources), pacer, crm, ratio, agree))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for k, row in enumerate(table):
        lines.append(" | ".join(c.ljust(w) if i in (0, 3, 5) else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if k == 0:
            lines.append("-+-".join("-" * w for w in widths))
    notes = []
    if any(r.placement == "pacer" for r in rows):
        notes.append("* steady/node-lost CIB built from pacer's placement "
                     "(no Pacemaker graph for that size)")
    for r in rows:
        if r.error:
            notes.append(f"error [{r.resources} {r.case}]: {r.error}")
        if r.agree is False:
            notes.append(f"differ [{r.resources} {r.case}]: pacer only {r.pacer_only[:5]}, "
                         f"pacemaker only {r.pacemaker_only[:5]}")
    return "\n".join(lines + notes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="500,2000,5000",
                   help="resource counts, comma separated (default: %(default)s)")
    p.add_argument("--skip-pacemaker-above", type=int, default=2000, metavar="N",
                   help="do not run crm_simulate above N resources (default: %(default)s)")
    p.add_argument("--shared-bench", type=Path, default=DEFAULT_SHARED_BENCH,
                   help="directory with the generators and ANCHORS.md (default: %(default)s)")
    p.add_argument("--cache", type=Path, default=CACHE_ROOT,
                   help="cache of generated CIBs (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1,
                   help="pacer runs per case, best taken (default: %(default)s)")
    p.add_argument("--pacer-timeout", type=float, default=600.0,
                   help="seconds per pacer run (default: %(default)s)")
    p.add_argument("--crm-timeout", type=float, default=1800.0,
                   help="seconds per crm_simulate run (default: %(default)s)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    args = p.parse_args(argv)

    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    try:
        from pacer.scheduler import schedule  # noqa: F401 - imported before forking
        from pacer.status.load import load_snapshot  # noqa: F401
    except ImportError as exc:
        print(f"bench: cannot import pacer's scheduler or loader: {exc}", file=sys.stderr)
    if not crm_simulate_available():
        print("bench: crm_simulate not found (make deps): Pacemaker is not timed",
              file=sys.stderr)
    try:
        inputs = Inputs(args.shared_bench, args.cache)
    except FileNotFoundError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    anchors = read_anchors(args.shared_bench / "ANCHORS.md")

    rows: list[Row] = []
    for n in sizes:
        rows += bench_size(n, inputs, args, anchors, log)
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "nodes": NODES,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "rows": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
