"""The node's state_dir at boot: emptied like /run, with the crm_* shims installed.

Agents keep their "I am running" files under the state_dir (HA_RSCTMP,
HA_VARRUN); a booting node knows nothing of what runs (join clears its
history, and the controller probes everything), so those files must go too,
or a probe would report an instance a crash left behind as running on the
strength of a stale file.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterable
from pathlib import Path

import pacer
from pacer.agents.api import NodeEnvironment


def empty_dir(path: Path) -> None:
    """Remove everything inside `path` (created if missing), keeping `path` itself."""
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def shim_script(python: str, name: str) -> str:
    """A wrapper that runs `python -m pacer.shims NAME ARGS...`. The package's own
    location goes on PYTHONPATH: agents run with a clean environment, and the
    daemon may run from a checkout rather than an installed package."""
    root = Path(pacer.__file__).resolve().parent.parent
    return ("#!/bin/sh\n"
            "# Installed by the pacer node daemon at boot: Pacemaker's tool, answered by pacer.\n"
            f"PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
            "export PYTHONPATH\n"
            f"exec {shlex.quote(python)} -m pacer.shims {shlex.quote(name)} \"$@\"\n")


def install_shims(sbin: Path, python: str, names: Iterable[str]) -> list[Path]:
    sbin.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = sbin / name
        tmp = sbin / f".{name}.tmp"
        tmp.write_text(shim_script(python, name))
        tmp.chmod(0o755)
        tmp.replace(path)
        paths.append(path)
    return paths


def prepare(env: NodeEnvironment, python: str, shim_names: Iterable[str],
            empty: bool = True) -> None:
    """Empty the state_dir (unless `empty` is false: something a predecessor left
    may still run, and its state files are what lets a probe see it), recreate
    the agents' directories, install the shims."""
    if empty:
        empty_dir(env.state_dir)
    env.ensure_dirs()
    install_shims(env.sbin, python, shim_names)
