"""`pacer:process`: keep one command line running.

start spawns the command detached in its own session (so the action's
process group, which is killed at a timeout, never includes it) with its pid
and start time in a pid file under HA_RSCTMP; monitor checks that very
process is alive; stop sends SIGTERM to the command's whole process group and
SIGKILL after `stop_timeout`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from pacer.agents.builtin.base import (
    BuiltinAgent,
    OcfExit,
    pidfile_alive,
    standard_actions,
    write_pidfile,
)
from pacer.agents.metadata import AgentMetadata, ParameterSpec
from pacer.agents.procfs import group_members, proc_start_time
from pacer.status.types import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
)

METADATA = AgentMetadata(
    name="process", version="1.0", ocf_version="1.1",
    shortdesc="Keeps a command running",
    longdesc=("Starts a command line as a daemon in its own session, watches that "
              "process, and stops it with SIGTERM to its process group, then SIGKILL."),
    parameters=(
        ParameterSpec("command", required=True, unique=True,
                      shortdesc="Command line (split like a shell would, no shell features)"),
        ParameterSpec("cwd", default="/", shortdesc="Working directory"),
        ParameterSpec("env", default="",
                      shortdesc="Extra environment, as NAME=VALUE words"),
        ParameterSpec("logfile", default="/dev/null",
                      shortdesc="File the command's stdout and stderr are appended to"),
        ParameterSpec("stop_timeout", type="integer", default="",
                      shortdesc="Seconds between SIGTERM and SIGKILL at stop "
                                "(default: most of the stop timeout)"),
        ParameterSpec("startup_check", type="integer", default="200",
                      shortdesc="Milliseconds start watches for a command that exits at once"),
    ),
    actions=standard_actions(validate_timeout_ms=5_000),
)

_POLL_S = 0.02


class ProcessAgent(BuiltinAgent):
    METADATA = METADATA

    @property
    def pidfile(self) -> Path:
        return self.state_path("pid")

    def argv(self) -> list[str]:
        try:
            argv = shlex.split(self.require("command"))
        except ValueError as exc:
            raise OcfExit(OCF_ERR_CONFIGURED, f"command: {exc}") from None
        if not argv:
            raise OcfExit(OCF_ERR_CONFIGURED, "command is empty")
        return argv

    def child_env(self) -> dict[str, str]:
        # The service sees a plain environment, not the agent's OCF variables.
        env = {k: v for k, v in self.environ.items()
               if not k.startswith(("OCF_", "HA_", "PYTHON"))}
        for word in shlex.split(self.param("env")):
            name, sep, value = word.partition("=")
            if not sep or not name:
                raise OcfExit(OCF_ERR_CONFIGURED, f"env: {word!r} is not NAME=VALUE")
            env[name] = value
        return env

    def validate(self) -> int:
        self.argv()
        self.child_env()
        return OCF_SUCCESS

    def monitor(self) -> int:
        self.validate()
        return OCF_SUCCESS if pidfile_alive(self.pidfile) else OCF_NOT_RUNNING

    def start(self) -> int:
        argv = self.argv()
        env = self.child_env()
        if pidfile_alive(self.pidfile):
            return OCF_SUCCESS
        self.rsctmp.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.param("logfile") or os.devnull, "ab") as log:
                child = subprocess.Popen(
                    argv, cwd=self.param("cwd") or "/", env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    close_fds=True,
                )
        except FileNotFoundError as exc:
            raise OcfExit(OCF_ERR_INSTALLED, f"cannot run {argv[0]}: {exc.strerror}: "
                          f"{exc.filename}") from None
        except PermissionError as exc:
            raise OcfExit(OCF_ERR_PERM, f"cannot run {argv[0]}: {exc}") from None
        except OSError as exc:
            raise OcfExit(OCF_ERR_GENERIC, f"cannot run {argv[0]}: {exc}") from None
        write_pidfile(self.pidfile, child.pid)
        deadline = time.monotonic() + int(self.param("startup_check") or 0) / 1000
        while time.monotonic() < deadline:
            status = child.poll()
            if status is not None:
                self.pidfile.unlink(missing_ok=True)
                raise OcfExit(OCF_ERR_GENERIC, f"{argv[0]} exited at once with status "
                              f"{status} (its output went to {self.param('logfile')})")
            time.sleep(_POLL_S)
        # The command outlives this agent; init (or a subreaper) will reap it.
        child.returncode = 0
        return OCF_SUCCESS

    def stop(self) -> int:
        pid = pidfile_alive(self.pidfile)
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return OCF_SUCCESS
        grace = self.stop_grace_s()
        self._signal(pid, signal.SIGTERM)
        if not self._wait_gone(pid, grace):
            self._signal(pid, signal.SIGKILL)
            if not self._wait_gone(pid, 5.0):
                raise OcfExit(OCF_ERR_GENERIC, f"process {pid} survived SIGKILL")
        self.pidfile.unlink(missing_ok=True)
        return OCF_SUCCESS

    def stop_grace_s(self) -> float:
        configured = self.param("stop_timeout")
        if configured:
            return float(configured)
        # Leave room for the KILL inside the action's own timeout.
        return max(1.0, self.meta_int("timeout", 20_000) / 1000 * 0.6)

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        # start made the command a session leader, so its group is its pid: this
        # reaches what it started too, even after the leader itself has exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    @staticmethod
    def _wait_gone(pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if proc_start_time(pid) is None and not group_members(pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
