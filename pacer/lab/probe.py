"""The client probe of the failover benchmark: an HTTP GET to the VIP every 10 ms.

    ip netns exec pacer-c python -m pacer.lab.probe \\
        --url http://10.250.0.100:8080/ --interval 0.01 --timeout 0.3 --out FILE

The method is the anchors' (../shared/bench/pacemaker-lab/probe.py, with which
the keepalived and Pacemaker figures of ANCHORS.md were measured), so that the
figures compare:

- a new request is *started on schedule* every `--interval` seconds (absolute
  schedule, start + n × interval; a late loop catches up), even while earlier
  ones hang: a request to a host that vanished waits out its `--timeout`
  without delaying the next one;
- each request is a fresh TCP connection, `GET / HTTP/1.0`, read to EOF; good
  when the status is 200 within the timeout; the body (stripped) names the
  host that answered;
- its start time (CLOCK_MONOTONIC, system-wide, so the same base as the fault
  injector's `time.monotonic()` in the root namespace) is what the gap is
  measured on.

Output: one JSON line per request as it completes (so a bench can follow the
file while the probe runs): `{"t": start monotonic s, "wall": start epoch s,
"lat": s, "ok": bool, "host": name|null, "err": text}`. It stops after
`--duration` seconds or on SIGTERM/SIGINT; requests in flight then finish (at
most `--timeout` later) and are written too.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from pacer.lab import gaps, splitbrain
from pacer.lab.gaps import Sample
from pacer.lab.splitbrain import output


async def _get(host: str, port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()


def parse_reply(data: bytes) -> tuple[bool, str | None, str]:
    """(ok, host, err) of a raw HTTP/1.x reply: ok on status 200 with a body,
    host = body. A 200 without one is a server killed while it answered (the
    Pacemaker row: taken for an answer from a new holder, it ended a trial
    before the takeover)."""
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) >= 2 and status[0].startswith(b"HTTP/1.") and status[1] == b"200":
        host = body.strip().decode(errors="replace")
        if not host:
            return False, None, "200 without a body (cut short)"
        return True, host, ""
    return False, None, (head[:40].decode(errors="replace") or "empty reply")


class Probe:
    def __init__(self, url: str, interval: float, timeout: float, out: IO[str]) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url}: an http:// URL is needed")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.interval = interval
        self.timeout = timeout
        self.out = out
        self.count = 0

    async def one(self, t0: float, wall: float) -> None:
        try:
            data = await asyncio.wait_for(_get(self.host, self.port, self.path), self.timeout)
            ok, host, err = parse_reply(data)
        except TimeoutError:
            ok, host, err = False, None, "timeout"
        except OSError as exc:
            ok, host, err = False, None, type(exc).__name__
        lat = time.monotonic() - t0
        self.out.write(json.dumps({"t": round(t0, 6), "wall": round(wall, 6), "lat": round(lat, 6),
                                   "ok": ok, "host": host, "err": err}) + "\n")
        self.out.flush()
        self.count += 1

    async def run(self, duration: float | None, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            t = start + n * self.interval
            if duration is not None and t - start > duration:
                break
            now = time.monotonic()
            if t > now:
                await asyncio.sleep(t - now)
                if stop.is_set():
                    break
            task = asyncio.create_task(self.one(time.monotonic(), time.time()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:
            await asyncio.gather(*tasks)


def load(path: str | Path) -> list[Sample]:
    """The samples of a probe output file, by start time (a torn last line is skipped)."""
    return sorted(iter_samples(Path(path).read_text()), key=lambda s: s.t)


def iter_samples(text: str) -> Iterator[Sample]:
    for line in text.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        yield Sample(t=float(d["t"]), ok=bool(d["ok"]), host=d.get("host"),
                     err=d.get("err", ""), lat=float(d.get("lat", 0.0)),
                     wall=float(d.get("wall", 0.0)))


# ------------------------------------------------------------------ running it in the lab

class Watch:
    """The probe in the client namespace and the split-brain sampler in the
    root one, for one trial: `start()`, then `follow()` to read what the probe
    wrote so far, `stop()` (SIGTERM both, wait) and `result(t_fault)`.

    Both write JSON lines under `workdir`; killed on exit even after an error.
    """

    def __init__(self, workdir: Path, label: str, hosts: list[str], *,
                 url: str = "http://10.250.0.100:8080/", vip: str = "10.250.0.100",
                 client_ns: str = "pacer-c", ns_prefix: str = "pacer-",
                 interval: float = 0.01, timeout: float = 0.3,
                 vip_interval: float = 0.02) -> None:
        self.probe_out = workdir / f"{label}.probe.jsonl"
        self.vip_out = workdir / f"{label}.vip.jsonl"
        self._argv_probe = ["ip", "netns", "exec", client_ns, sys.executable, "-m",
                            "pacer.lab.probe", "--url", url, "--interval", str(interval),
                            "--timeout", str(timeout), "--out", str(self.probe_out)]
        self._argv_vip = [sys.executable, "-m", "pacer.lab.splitbrain", "--hosts",
                          ",".join(hosts), "--vip", vip, "--interval", str(vip_interval),
                          "--ns-prefix", ns_prefix, "--out", str(self.vip_out)]
        self.timeout = timeout
        self.procs: list[subprocess.Popen[bytes]] = []
        self._pos = 0
        self._seen: list[Sample] = []

    def __enter__(self) -> Watch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for p in (self.probe_out, self.vip_out):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("")
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for argv in (self._argv_probe, self._argv_vip):
            self.procs.append(subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL))

    def follow(self) -> list[Sample]:
        """Every sample written so far (reads only what is new since the last call)."""
        with open(self.probe_out) as f:
            f.seek(self._pos)
            chunk = f.read()
        end = chunk.rfind("\n") + 1
        self._pos += len(chunk[:end].encode())
        self._seen.extend(iter_samples(chunk[:end]))
        return self._seen

    def wait_until(self, cond: Callable[[list[Sample]], bool], timeout: float,
                   step: float = 0.02) -> bool:
        """Poll the probe's samples until `cond(samples)` or `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond(self.follow()):
                return True
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"probe or sampler exited early: {self.probe_out.parent}")
            time.sleep(step)
        return cond(self.follow())

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(self.timeout + 5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


@dataclass(frozen=True)
class TrialResult:
    label: str
    victim: str
    t_fault: float
    trial: gaps.Trial
    vip: splitbrain.Overlap  # two live holders after the takeover
    vip_all: splitbrain.Overlap  # ... at any time of the trial
    probe_file: str
    vip_file: str
    fenced: int | None = None  # fencing confirmed (None: no fencing in this system)
    note: str = ""


def analyse_files(label: str, victim: str, t_fault: float, probe_file: Path, vip_file: Path,
                  fenced: int | None = None, note: str = "") -> TrialResult:
    """The gap, flaps and VIP overlaps of one trial from the files a Watch wrote."""
    trial = gaps.analyse(load(probe_file), t_fault)
    vs = splitbrain.load(vip_file)
    after = trial.first_ok if trial.first_ok is not None else t_fault
    return TrialResult(label, victim, t_fault, trial, splitbrain.overlaps(vs, since=after),
                       splitbrain.overlaps(vs), str(probe_file), str(vip_file), fenced, note)


def moved_from(holder: str, t_fault: float) -> Callable[[list[Sample]], bool]:
    """Probe condition: a good reply from another host than `holder` after the fault."""
    return lambda ss: any(s.ok and s.t > t_fault and s.host != holder for s in ss)


def back_after_outage(holder: str, t_fault: float, steady: float = 0.5
                      ) -> Callable[[list[Sample]], bool]:
    """Probe condition: a request failed after the fault, and the last `steady`
    seconds of requests were all good (from whichever host)."""
    tail = steady_for(steady)

    def cond(ss: list[Sample]) -> bool:
        fails = [s.t for s in ss if not s.ok and s.t > t_fault]
        return bool(fails) and ss[-1].t - fails[-1] >= steady and tail(ss)
    return cond


def steady_for(seconds: float, host: str | None = None) -> Callable[[list[Sample]], bool]:
    """Probe condition: the last `seconds` of requests all good (from `host`, if given)."""
    def cond(ss: list[Sample]) -> bool:
        if not ss or ss[-1].t - ss[0].t < seconds:
            return False
        tail = [s for s in ss if s.t >= ss[-1].t - seconds]
        return all(s.ok and (host is None or s.host == host) for s in tail)
    return cond


def run_trial(workdir: Path, label: str, hosts: list[str], holder: str,
              inject: Callable[[], object],
              done: Callable[[str, float], Callable[[list[Sample]], bool]], *,
              warmup: float = 1.0, phase: float = 0.0, tail: float = 1.5,
              timeout: float = 30.0, after_done: Callable[[], object] | None = None,
              after_tail: float | None = None, **watch: Any) -> TrialResult:
    """One fault, watched: the probe and the VIP sampler start; once `holder`
    has answered steadily for `warmup` s and a random `phase` (0..phase s) has
    passed, `inject()` is the fault (its time taken just before); then wait
    until `done(holder, t_fault)` holds for the probe's samples (or `timeout`),
    run `after_done()` (a thaw, say) and watch `tail` s more (`after_tail`
    after `after_done`). `watch` keywords go to `Watch` (another lab's URL...)."""
    note = ""
    with Watch(workdir, label, hosts, **watch) as w:
        if not w.wait_until(steady_for(warmup, holder), timeout=10 + warmup):
            raise RuntimeError(f"{label}: the probe does not see {holder} answer steadily "
                               f"(files in {workdir})")
        time.sleep(random.uniform(0, phase))
        t_fault = time.monotonic()
        inject()
        if not w.wait_until(done(holder, t_fault), timeout=timeout):
            note = f"not done within {timeout:g} s"
        if after_done is not None:
            after_done()
        time.sleep(tail if after_done is None or after_tail is None else after_tail)
    res = analyse_files(label, holder, t_fault, w.probe_out, w.vip_out)
    return dataclasses.replace(res, note=note) if note else res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pacer.lab.probe", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://10.250.0.100:8080/")
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--timeout", type=float, default=0.3)
    ap.add_argument("--duration", type=float, default=None, help="seconds (default: until SIGTERM)")
    ap.add_argument("--out", default="-", help="JSON lines file (default stdout)")
    args = ap.parse_args(argv)

    async def go(out: IO[str]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Probe(args.url, args.interval, args.timeout, out).run(args.duration, stop)

    with output(args.out) as out:
        asyncio.run(go(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
