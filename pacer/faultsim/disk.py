"""A full disk under a host's state directory (the `disk-full` fault).

The node daemon writes its state_dir with ordinary file calls (`Path.write_text`,
`mkdir`: the agents' directories and the crm_* shims at boot, `active.json`
after every change of what it runs). The simulator gives each host a real
directory (`World`, only in seeds whose schedule has a disk-full fault) and,
while the fault lasts, makes every open-for-writing and every mkdir under it
fail with ENOSPC, as a full filesystem does — reading, renaming and deleting
still work. It does so with an audit hook (`sys.addaudithook`): Python asks
it before every `open()`/`os.open()`/`os.mkdir()`, and an exception it raises
is what the call raises. Nothing of the product is patched or wrapped.

The hook is installed once per process, the first time a disk fills, and
then costs one dictionary test per audited event while no disk is full.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

_FULL: dict[str, int] = {}  # directory (with a trailing separator) -> fills in force
# Paths whose writes failed, and how many, since the last take_failures().
_FAILED: dict[str, int] = {}
_installed = False

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not _FULL:
        return
    if event == "open":
        path, mode, flags = args
        if isinstance(mode, str):
            if not any(c in mode for c in "wax+"):
                return
        elif not isinstance(flags, int) or not flags & _WRITE_FLAGS:
            return
    elif event == "os.mkdir":
        path = args[0]
    else:
        return
    if path is None or isinstance(path, int):
        return
    p = os.fsdecode(os.fspath(path))  # type: ignore[arg-type]
    for d in _FULL:
        if p.startswith(d):
            _FAILED[d] = _FAILED.get(d, 0) + 1
            # (no file name: the message reaches the trace, which must be the
            # same wherever the run happens)
            raise OSError(errno.ENOSPC, "No space left on device (faultsim disk-full)")


def _key(directory: Path) -> str:
    return os.path.join(os.fspath(directory), "")


def fill(directory: Path) -> None:
    """Writes under `directory` fail from now on (until `free`)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    k = _key(directory)
    _FULL[k] = _FULL.get(k, 0) + 1


def free(directory: Path, everything: bool = False) -> None:
    k = _key(directory)
    n = _FULL.get(k, 0) - 1
    if n <= 0 or everything:
        _FULL.pop(k, None)
    else:
        _FULL[k] = n


def failures(directory: Path) -> int:
    """How many writes under `directory` failed so far."""
    return _FAILED.get(_key(directory), 0)


def forget(directory: Path) -> None:
    free(directory, everything=True)
    _FAILED.pop(_key(directory), None)
