"""Configuration problems: where they are, what is wrong, and what would be valid."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration.

    `file` and `line` locate it (either may be None), `path` names the field
    (`resources[2].meta.migration-threshold`), `message` says what is wrong and `hint`
    what would be valid. `level` is "error" (the configuration is rejected) or
    "warning" (accepted, but probably not what was meant).
    """

    file: str | None
    line: int | None
    path: str
    message: str
    hint: str | None = None
    level: str = "error"

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def location(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        if self.file:
            return self.file
        if self.line:
            return f"line {self.line}"
        return ""

    def __str__(self) -> str:
        parts = []
        loc = self.location()
        if loc:
            parts.append(f"{loc}: ")
        if self.level != "error":
            parts.append(f"{self.level}: ")
        if self.path:
            parts.append(f"at {self.path}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f"; {self.hint}")
        return "".join(parts)


class ConfigError(Exception):
    """A configuration that cannot be used; carries every problem found."""

    def __init__(self, problems: Iterable[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(None, None, "", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def raise_if_errors(problems: Iterable[Problem]) -> list[Problem]:
    """Raise ConfigError if any problem is an error; otherwise return the warnings."""
    problems = list(problems)
    if any(p.is_error for p in problems):
        raise ConfigError(problems)
    return problems


def close_matches(word: str, choices: list[str]) -> list[str]:
    """Up to three of `choices` the user may have meant by `word`, for "did you
    mean" hints: close spellings (any case), then names containing it."""
    lower = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lower), n=3, cutoff=0.6)
    out = [lower[f] for f in found]
    # A prefix or substring is also a good guess ("glance" for "glance-api").
    for c in choices:
        if len(out) >= 3:
            break
        if c not in out and word and (word.lower() in c.lower()):
            out.append(c)
    return out
