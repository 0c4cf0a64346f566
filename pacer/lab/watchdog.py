"""The lab's watchdog: the hardware watchdog of every lab host, played from
the root network namespace (`python -m pacer.lab.watchdog DIR`, started by
`pacer lab up`). It never touches /dev/watchdog.

Each host's `pacer agent` runs with `--watchdog-file <dir>/nX/watchdog.json`, a
`FileWatchdog` (pacer/node/watchdog.py): `{"state": "armed", "timeout": 4,
"fed": <epoch>, "feeds": N}`, rewritten at every feed. Every 50 ms this
process reads every host's file; when one is armed and was not fed for
`timeout` seconds, it cuts that host's power exactly as the fence agent does
(`hosts.power_off`: link down, every process SIGKILLed), which also stops the
countdown. Arming, disarming and every reset go to `<dir>/watchdog.log`.
Because it lives outside the hosts' namespaces, freezing a host (SIGSTOP of
every process in it) does not freeze its watchdog.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from pacer.lab import hosts, net

POLL_S = 0.05


def read_watchdog(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check(d: Path, host: str, seen: dict[str, str], now: float) -> str | None:
    """One look at one host's watchdog; returns what happened, if anything."""
    wd = read_watchdog(hosts.watchdog_file(d, host))
    state = str(wd.get("state")) if wd else "absent"
    log = d / "watchdog.log"
    if seen.get(host) != state:
        if state in ("armed", "disarmed"):
            timeout = wd.get("timeout") if wd else "?"
            hosts.log_line(log, f"{host}: watchdog {state}" +
                           (f" (timeout {timeout} s)" if state == "armed" else ""))
        seen[host] = state
    if not wd or state != "armed":
        return None
    try:
        fed, timeout = float(wd["fed"]), float(wd["timeout"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None
    if timeout <= 0 or now - fed <= timeout:
        return None
    why = f"watchdog: not fed for {now - fed:.2f} s (timeout {timeout:g} s)"
    hosts.log_line(log, f"{host}: {why}: resetting (power cut)")
    try:
        hosts.power_off(d, host, why, d / "fence.log")
    except (net.NetError, OSError) as exc:
        hosts.log_line(log, f"{host}: power cut FAILED: {exc}")
        return None
    seen[host] = "off"
    return why


def run(d: Path) -> int:
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    hosts.log_line(d / "watchdog.log", "lab watchdog started")
    seen: dict[str, str] = {}
    while not stop:
        info = hosts.LabInfo.load(d)
        if info is None:
            break  # the lab is gone
        for host in info.hosts:
            check(d, host, seen, time.time())
        time.sleep(POLL_S)
    hosts.log_line(d / "watchdog.log", "lab watchdog stopped")
    return 0


if __name__ == "__main__":
    sys.exit(run(hosts.lab_dir(sys.argv[1] if len(sys.argv) > 1 else None)))
