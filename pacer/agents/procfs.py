"""What /proc says about processes: liveness that survives pid reuse, group members."""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat fields after the command name (state first); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is parenthesised and may itself contain ") ".
    return stat[stat.rfind(")") + 2:].split()


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if gone or a zombie.

    Stored next to the pid so a recycled pid is not mistaken for our process.
    """
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        rest = _stat_fields(entry.name)  # state ppid pgrp ...
        if rest is not None and len(rest) >= 3 and rest[0] != "Z" and int(rest[2]) == pgid:
            found.append(int(entry.name))
    return found
