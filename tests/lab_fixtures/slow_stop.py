"""A service whose stop takes long, for the lab's long-stop test
(tests/test_lab_long_stop.py): it runs until SIGTERM, then keeps running for
--stop-seconds more (a service draining its work, a database flushing), then
exits 0. Started by `ocf:heartbeat:anything`, whose stop sends SIGTERM and
waits for the process to be gone (up to 2/3 of the stop timeout), so the
OCF stop takes as long. Standard library only (`su - root` starts it with a
login shell's environment).

    python slow_stop.py --stop-seconds 75 --tag pacer-lab-long-stop

--tag does nothing: it is in the command line so that a test finds the
process, in whichever namespace it runs, by its argv alone.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop-seconds", type=float, required=True)
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    asked: list[float] = []
    signal.signal(signal.SIGTERM, lambda *_: asked.append(time.time()))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    print(f"{time.time():.3f} running", flush=True)
    while not asked:
        signal.pause()
    print(f"{asked[0]:.3f} SIGTERM: stopping in {args.stop_seconds:g} s", flush=True)
    # The drain: a model of work that takes this long, not a wait for a condition.
    time.sleep(args.stop_seconds)
    print(f"{time.time():.3f} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
