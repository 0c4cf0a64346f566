"""Run one agent process: own process group, bounded output, hard deadline.

Lessons from real agents (`shared/ocf-agents.md` §1.5) shape this:
- Agents leave background children holding stdout/stderr (IPaddr2's send_arp,
  a broker started by rabbitmq-cluster), so completion is the agent PID
  exiting, never pipe EOF. asyncio's subprocess `wait()` waits for the pipes
  too, so this module spawns and watches the PID itself (pidfd).
- Leftover children keep their pipes: after the agent exits, its pipes are
  drained and discarded in the background until EOF rather than closed, so a
  child is neither blocked on a full pipe nor killed by SIGPIPE, and nothing
  piles up on disk.
- Agents ignore SIGTERM on purpose (pacemaker:Dummy) and do not enforce their
  own timeout: at the deadline the whole process group gets SIGTERM, then
  SIGKILL after a grace. A successful agent's group is never killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pacer.agents.procfs import group_members

# A line longer than this cannot be an exit reason worth keeping.
_MAX_LINE = 4096
_READ_CHUNK = 65536


@dataclass(frozen=True)
class ProcessOutcome:
    exit_status: int | None  # None when killed by a signal or never started
    signal: int | None
    timed_out: bool
    stdout: bytes  # the tail, at most the capture limit
    stderr: bytes
    stdout_total: int  # bytes seen, including what the tail dropped
    stderr_total: int
    marked_line: str | None  # the last stderr line starting with the watched prefix
    duration_ms: int

    def text(self, which: str) -> str:
        data = self.stdout if which == "stdout" else self.stderr
        total = self.stdout_total if which == "stdout" else self.stderr_total
        text = data.decode("utf-8", "replace")
        if total > len(data):
            text = f"[... {total - len(data)} bytes dropped ...]\n" + text
        return text


class _Tail:
    """Keeps the last `limit` bytes of a stream and the last line with a prefix."""

    def __init__(self, limit: int, prefix: bytes | None) -> None:
        self.limit = limit
        self.prefix = prefix
        self.buf = bytearray()
        self.total = 0
        self.line = bytearray()
        self.line_overflow = False
        self.marked: bytes | None = None
        self.discard = False

    def feed(self, data: bytes) -> None:
        if self.discard:
            return
        self.total += len(data)
        self.buf += data
        if len(self.buf) > self.limit:
            del self.buf[: len(self.buf) - self.limit]
        if self.prefix is not None:
            self._scan(data)

    def _scan(self, data: bytes) -> None:
        pieces = data.split(b"\n")
        for i, piece in enumerate(pieces):
            if not self.line_overflow:
                self.line += piece
                if len(self.line) > _MAX_LINE:
                    self.line_overflow = True
                    self.line.clear()
            if i < len(pieces) - 1:  # the piece ended a line
                self._end_line()

    def _end_line(self) -> None:
        assert self.prefix is not None
        if not self.line_overflow and self.line.startswith(self.prefix):
            self.marked = bytes(self.line)
        self.line.clear()
        self.line_overflow = False

    def finish(self) -> None:
        if self.prefix is not None and self.line:
            self._end_line()


class _Reader:
    """Reads one pipe from the event loop until EOF, feeding a _Tail."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, tail: _Tail) -> None:
        self.loop = loop
        self.fd = fd
        self.tail = tail
        self.closed = False
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        self.drain(max_chunks=16)

    def drain(self, max_chunks: int) -> None:
        """Read what is available now; a chatty leftover child cannot keep us here."""
        for _ in range(max_chunks):
            if self.closed:
                return
            try:
                data = os.read(self.fd, _READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.close()
                return
            self.tail.feed(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.fd)
            os.close(self.fd)


async def _wait_exit(loop: asyncio.AbstractEventLoop, pid: int) -> asyncio.Future[None]:
    """A future set when `pid` has exited (it stays a zombie until reaped)."""
    fut: asyncio.Future[None] = loop.create_future()
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        # No pidfd (old kernel): a thread blocks in waitid(WNOWAIT) instead.
        def waiter() -> None:
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)

        task = loop.run_in_executor(None, waiter)
        task.add_done_callback(lambda _t: fut.done() or fut.set_result(None))
        return fut

    def ready() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(pidfd, ready)
    return fut


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: str | Path | None = None,
    stdin: bytes | None = None,
    kill_grace_s: float = 2.0,
    capture_limit: int = 64 * 1024,
    watch_prefix: bytes | None = None,
) -> ProcessOutcome:
    """Run argv in a new session; raises OSError only if it cannot be started."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r = in_w = None
    if stdin is not None:
        in_r, in_w = os.pipe()
    try:
        popen = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, start_new_session=True, close_fds=True,
            stdin=in_r if in_r is not None else subprocess.DEVNULL,
            stdout=out_w, stderr=err_w,
        )
    except OSError:
        for fd in (out_r, err_r, in_w):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, in_r):
            if fd is not None:
                os.close(fd)
    pid = popen.pid
    out_tail = _Tail(capture_limit, None)
    err_tail = _Tail(capture_limit, watch_prefix)
    readers = [_Reader(loop, out_r, out_tail), _Reader(loop, err_r, err_tail)]
    if in_w is not None:
        assert stdin is not None
        loop.run_in_executor(None, _feed_stdin, in_w, stdin)
    exited = await _wait_exit(loop, pid)
    timed_out = False
    try:
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow
            # a cancellation that races with the exit, and the caller's
            # cancellation must reach the SIGKILL below.
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(exited)
        except TimeoutError:
            timed_out = True
            signal_group(pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(kill_grace_s):
                    await asyncio.shield(exited)
            # The leader is not reaped yet, so the group id cannot have been
            # reused: this reaches every member still there, TERM-proof or not.
            signal_group(pid, signal.SIGKILL)
            await exited
            await _group_gone(pid)
    except asyncio.CancelledError:
        signal_group(pid, signal.SIGKILL)
        await asyncio.to_thread(popen.wait)
        for r in readers:
            r.close()
        raise
    for r in readers:
        r.drain(max_chunks=64)
    returncode = popen.wait()  # reaps the zombie; it has exited already
    duration_ms = int((time.monotonic() - started) * 1000)
    for r in readers:
        # Leftover children may still hold the pipes: keep draining, keep nothing.
        r.tail.finish()
        r.tail.discard = True
    marked = err_tail.marked.decode("utf-8", "replace") if err_tail.marked else None
    return ProcessOutcome(
        exit_status=returncode if returncode >= 0 else None,
        signal=-returncode if returncode < 0 else None,
        timed_out=timed_out,
        stdout=bytes(out_tail.buf), stderr=bytes(err_tail.buf),
        stdout_total=out_tail.total, stderr_total=err_tail.total,
        marked_line=marked, duration_ms=duration_ms,
    )


# After SIGKILL a member can still show in /proc as running for a moment, on a
# loaded machine: the signal is pending until the scheduler gets to it. A
# timed-out operation is reported only once nothing of it can run any more.
GROUP_GONE_WAIT_S = 2.0
GROUP_GONE_POLL_S = 0.005


async def _group_gone(pgid: int) -> None:
    deadline = time.monotonic() + GROUP_GONE_WAIT_S
    while group_members(pgid) and time.monotonic() < deadline:
        signal_group(pgid, signal.SIGKILL)
        await asyncio.sleep(GROUP_GONE_POLL_S)


def _feed_stdin(fd: int, data: bytes) -> None:
    # In a thread: an agent that never reads stdin must not block the loop.
    try:
        view = memoryview(data)
        with contextlib.suppress(BrokenPipeError):
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)
