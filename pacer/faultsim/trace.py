"""The readable event trace of one simulation, and its digest.

Every line is `time  who  what`: time in virtual seconds (global, not any
host's drifting clock), who is a host, `fault`, `store`, `check` or `sim`.
Two runs of the same seed and schedule produce the same lines, so the
digest of the text is how a replay proves it is bit-for-bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TraceLine:
    t: float
    who: str
    text: str

    def __str__(self) -> str:
        return f"{self.t:10.3f}  {self.who:<6} {self.text}"


class Trace:
    def __init__(self, echo: Callable[[str], None] | None = None, verbose: bool = False) -> None:
        self.lines: list[TraceLine] = []
        self.echo = echo
        # Verbose traces also show every action request and store membership detail.
        self.verbose = verbose

    def emit(self, t: float, who: str, text: str) -> None:
        line = TraceLine(t, who, text)
        self.lines.append(line)
        if self.echo is not None:
            self.echo(str(line))

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)

    def digest(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()
