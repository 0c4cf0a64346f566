"""One loader of a cluster snapshot from a file: a Pacemaker CIB (configuration
and status) or a pacer YAML definition (no status: every node online, nothing
running yet) — the one `pacer simulate`, `pacer explain`, `pacer config` and
the benchmarks use. What-if edits are `pacer.status.whatif`'s; the decision
time, when neither the caller nor the file gives one, is the clock's.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from pacer.model.definition import Definition
from pacer.model.errors import ConfigError, Problem
from pacer.model.validate import validate as check
from pacer.model.yaml_loader import load_yaml
from pacer.status.cib import load_cib
from pacer.status.fresh import all_online_status
from pacer.status.types import Status


@dataclass(frozen=True)
class FileSnapshot:
    definition: Definition
    status: Status
    kind: str  # "cib" or "yaml": a YAML file says nothing of status (see `all_online_status`)


def is_cib(path: Path, text: str) -> bool:
    """CIB XML by extension (.xml) or by content (starts with '<')."""
    return path.suffix.lower() == ".xml" or text.lstrip().startswith("<")


def load_snapshot(path: str | Path, *, validate: bool = False,
                  warnings: list[Problem] | None = None) -> FileSnapshot:
    """Definition and status of a CIB or YAML file.

    A file that cannot be read, malformed XML or YAML, and a YAML definition
    with errors raise ConfigError. A CIB's definition is checked too when
    `validate` is set (`pacer config`; a CIB is otherwise read as Pacemaker
    would read it). Warnings go to `warnings` if given.
    """
    name = str(path)
    p = Path(path)
    if not p.exists():
        raise _problem(name, "no such file")
    if p.is_dir():
        raise _problem(name, "is a directory, expected a CIB (.xml) or YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _problem(name, "not a text file (expected CIB XML or YAML)") from None
    except OSError as exc:
        raise _problem(name, f"cannot read: {exc.strerror or exc}") from None
    text = text.lstrip("\ufeff")
    if is_cib(p, text):
        if not text.lstrip().startswith("<"):
            raise _problem(name, "malformed XML: it does not start with '<' "
                                 "(expected a CIB: <cib> ... </cib>)")
        defn, status = load_cib(text, filename=name)
        if validate:
            problems = [dataclasses.replace(x, file=name) if x.file is None else x
                        for x in check(defn)]
            if any(x.is_error for x in problems):
                raise ConfigError(problems)
            if warnings is not None:
                warnings.extend(problems)
        return FileSnapshot(defn, status, "cib")
    defn = load_yaml(text, filename=name, warnings=warnings)
    return FileSnapshot(defn, all_online_status(defn), "yaml")


def decision_time(status: Status, now: int | None = None) -> int:
    """When the decision is made: `now` if given, else the CIB's
    execution-date, else the current time (epoch seconds)."""
    if now is not None:
        return now
    if status.now is not None:
        return status.now
    return int(time.time())


def _problem(name: str, message: str) -> ConfigError:
    return ConfigError(Problem(name, None, "", message))
