"""Finding agent programs on disk, the same way for every class of agent."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pacer.agents.api import ActionResult, AgentSpec, not_installed


def is_program(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_program(dirs: Iterable[Path], name: str) -> Path | None:
    """The first executable DIR/NAME."""
    for d in dirs:
        path = d / name
        if is_program(path):
            return path
    return None


def programs(dirs: Iterable[Path], pattern: str = "*") -> set[str]:
    """Names of the executables matching a glob in any of the directories.

    Hidden files are skipped: OCF providers' directories hold the shell library.
    """
    return {p.name for d in dirs if d.is_dir() for p in d.glob(pattern)
            if not p.name.startswith(".") and is_program(p)}


def missing(spec: AgentSpec, where: list[str]) -> ActionResult:
    return not_installed(f"{spec} is not installed (looked for {', '.join(where)})")
