"""A lab host's init: runs the pacer agent and reaps orphans at once.

On a real host, PID 1 (systemd) reaps an orphaned process as soon as it
exits. On these machines PID 1 reaps them one to two seconds late, and an
agent whose monitor asks `kill -0 PID` (ocf:heartbeat:anything) calls a
zombie "running": a killed service would look alive that long
(../shared/bench/ANCHORS.md). So each lab host's agent runs under this
process, a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`): what the
agents start and leave behind is re-parented here when its parent exits, and
reaped the moment it dies. The agent gets SIGKILL if this process dies
(`PR_SET_PDEATHSIG`), so `kill-daemon` (SIGKILL of the pid file's process)
still kills the agent alone, leaving its resources running.

    python -m pacer.lab.hostinit -- COMMAND [ARG...]
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m pacer.lab.hostinit -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    child = subprocess.Popen(argv, preexec_fn=lambda: _prctl(PR_SET_PDEATHSIG,
                                                              signal.SIGKILL))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == child.pid:
            # The agent is gone: orphans still running are left to PID 1.
            return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
