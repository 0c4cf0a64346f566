"""The failover benchmark's client probe, gap and split-brain analysis.

Pure tests of pacer.lab.gaps / pacer.lab.splitbrain / pacer.lab.probe's
parsing, a loopback test of the probe process, and (root only) one keepalived
anchor trial in the lab network.
"""

from __future__ import annotations

import http.server
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pacer.lab import gaps
from pacer.lab.gaps import Sample
from pacer.lab.probe import load, parse_reply
from pacer.lab.splitbrain import VipSample, holders_at, overlaps

REPO = Path(__file__).resolve().parent.parent


def series(spec: str, t0: float = 100.0, step: float = 0.01) -> list[Sample]:
    """One sample per character, `step` s apart: a letter is a good reply from
    the host of that name, '.' a failed request."""
    return [Sample(t0 + i * step, c != ".", None if c == "." else c, "" if c != "." else "timeout")
            for i, c in enumerate(spec)]


def test_host_lost_gap_is_last_good_before_to_first_good_after() -> None:
    ss = series("aaaaa" + "." * 50 + "bbbbb")
    t_fault = 100.0 + 5 * 0.01 - 0.003  # just after the last good reply started
    tr = gaps.analyse(ss, t_fault)
    assert tr.holder == "a" and tr.new_holder == "b"
    assert tr.gap == pytest.approx(0.51)
    assert tr.fault_to_ok == pytest.approx(0.51 - 0.007)
    assert tr.errors == 50 and tr.flaps == 0 and tr.hosts_after == ("b",)
    assert tr.recovered


def test_old_holder_answering_after_the_fault_counts_the_real_outage() -> None:
    # A crashed node daemon: the service keeps answering until the node is fenced.
    ss = series("aaaaaaaaaa" + "." * 30 + "cccc")
    tr = gaps.analyse(ss, t_fault=100.02)
    assert tr.gap == pytest.approx(0.31)
    assert tr.holder == "a" and tr.new_holder == "c"
    assert tr.last_ok == pytest.approx(100.09)


def test_restart_in_place_and_no_outage() -> None:
    tr = gaps.analyse(series("aaa....aaa"), t_fault=100.025)
    assert tr.new_holder == "a" and tr.gap == pytest.approx(0.05) and tr.flaps == 0
    smooth = gaps.analyse(series("aaaaaaaa"), t_fault=100.035)
    assert smooth.gap == pytest.approx(0.01)


def test_alternating_answers_after_takeover_are_flaps() -> None:
    tr = gaps.analyse(series("aaa" + "." * 20 + "bbabab.b"), t_fault=100.025)
    assert tr.new_holder == "b"
    assert tr.flaps == 4 and tr.hosts_after == ("a", "b")


def test_outage_at_the_end_is_not_recovered() -> None:
    # The old holder answers on after the fault, then everything fails to the end.
    tr = gaps.analyse(series("aaaaaaaaaa" + "." * 30), t_fault=100.02)
    assert not tr.recovered and tr.gap is None and tr.errors == 30
    # ... but a short failure at the very end after a recovery is not an outage.
    ok = gaps.analyse(series("aa" + "." * 30 + "bbbbbbb."), t_fault=100.015)
    assert ok.recovered and ok.gap == pytest.approx(0.31)


def test_not_recovered_and_no_reply_before() -> None:
    tr = gaps.analyse(series("aaa....."), t_fault=100.025)
    assert not tr.recovered and tr.gap is None and tr.holder == "a" and tr.errors == 5
    blind = gaps.analyse(series("....bb"), t_fault=100.0)
    assert blind.holder is None and blind.gap is None and blind.new_holder == "b"


def test_stats_nearest_rank() -> None:
    xs = [float(i) for i in range(1, 21)]
    st = gaps.stats(xs)
    assert (st.n, st.min, st.median, st.p99, st.max, st.failed) == (20, 1.0, 10.5, 20.0, 20.0, 0)
    st = gaps.stats([*xs[:19], None])  # a trial that never recovered is not hidden
    assert (st.n, st.median, st.p99, st.max, st.failed) == (19, 10.5, math.inf, math.inf, 1)
    assert gaps.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert gaps.stats([None]).n == 0


def test_switches() -> None:
    assert gaps.switches(["a", None, "a", "b", "b", "a"]) == 2
    assert gaps.switches([]) == 0


def test_vip_overlap_counts_live_holders_only() -> None:
    ss = [VipSample(0.00, ("n1",), ("n1",)),
          VipSample(0.02, ("n1", "n2"), ("n2",)),  # n1's cable pulled: not an overlap
          VipSample(0.04, ("n1", "n2"), ("n1", "n2")),
          VipSample(0.06, ("n1", "n2"), ("n1", "n2")),
          VipSample(0.08, ("n2",), ("n2",)),
          VipSample(0.10, ("n2", "n3"), ("n2", "n3"))]
    ov = overlaps(ss)
    assert ov.samples == 3 and ov.hosts == ("n1", "n2", "n3") and ov.first == 0.04
    assert ov.longest == pytest.approx(0.04)
    assert overlaps(ss, since=0.07).samples == 1
    assert overlaps(ss, until=0.03).samples == 0
    assert holders_at(ss, 0.05) == ("n1", "n2") and holders_at(ss, -1) == ()


def test_parse_reply() -> None:
    assert parse_reply(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nn2\n") == (True, "n2", "")
    ok, host, err = parse_reply(b"HTTP/1.1 503 Unavailable\r\n\r\n")
    assert not ok and host is None and "503" in err
    assert parse_reply(b"") == (False, None, "empty reply")
    # the server was killed between its headers and its body
    assert parse_reply(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n") == (
        False, None, "200 without a body (cut short)")
    assert parse_reply(b"HTTP/1.0 200 OK\r\n") == (False, None, "200 without a body (cut short)")


class _Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"n7")

    def log_message(self, *a: object) -> None:
        pass


def test_probe_process_on_loopback(tmp_path: Path) -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Named)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    out = tmp_path / "probe.jsonl"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "pacer.lab.probe", "--url",
                                 f"http://127.0.0.1:{srv.server_address[1]}/", "--interval",
                                 "0.01", "--timeout", "0.3", "--out", str(out)], cwd=REPO)
        # 0.3 s of good replies after the probe started (its start-up on a busy
        # machine is not what is tested, so it is waited for, not timed)
        deadline = time.monotonic() + 30
        while sum(1 for s in (load(out) if out.exists() else []) if s.ok) < 30:
            assert proc.poll() is None, "the probe exited"
            assert time.monotonic() < deadline, "no 30 good replies within 30 s"
            time.sleep(0.05)
        srv.shutdown()
        srv.server_close()
        time.sleep(0.2)
        proc.terminate()
        assert proc.wait(5) == 0
    finally:
        srv.server_close()
    ss = load(out)
    good = [s for s in ss if s.ok]
    assert len(good) >= 10 and {s.host for s in good} == {"n7"}
    assert any(not s.ok for s in ss)  # after the server went away: refused
    steps = [b.t - a.t for a, b in zip(ss, ss[1:], strict=False)]
    # On schedule: 10 ms apart (a loop made late by a busy machine catches up).
    assert 0.005 < sorted(steps)[len(steps) // 2] < 0.02


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab network needs root")
def test_keepalived_anchor_one_trial() -> None:
    if not shutil.which("keepalived"):
        pytest.skip("keepalived not installed (scripts/install-debs.sh keepalived)")
    if str(REPO) not in sys.path:  # the anchor is benchmark code: bench/compare/
        sys.path.insert(0, str(REPO))
    from bench.compare import keepalived

    if keepalived.shared_configs() is None:
        pytest.skip("../shared/bench/keepalived is absent")
    from pacer.lab.net import namespaces

    if namespaces():
        pytest.skip("a lab network is up (pacer lab?): not taking it down")
    try:
        with keepalived.KeepalivedLab(advert_int=0.1) as ka:
            result = ka.trial()
    except keepalived.AnchorUnavailable as exc:  # the network was taken meanwhile
        pytest.skip(str(exc))
    assert result.trial.recovered, result
    assert result.trial.gap is not None and result.trial.gap < 3.0
    assert result.trial.new_holder != result.trial.holder
    assert result.trial.flaps == 0 and result.vip.samples == 0
