"""The explanation record: every score contribution with its source, as it is
made, the final scores just before each choice, and notes — filled by the
scoring, colocation, assignment and role steps; the view hands it out frozen
(`view.Explanation`), and `pacer explain` / `pacer simulate --show-scores`
render it. Recording while deciding, rather than scoring again afterwards,
means the explanation can never disagree with the decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Contribution(NamedTuple):
    node: str
    score: int
    source: str  # human words: "location constraint loc-1", "stickiness", ...


@dataclass
class Explain:
    """Why each resource scored what it did on each node (the working record)."""

    contributions: dict[str, list[Contribution]] = field(default_factory=dict)
    final_scores: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, rsc: str, node: str, score: int, source: str) -> None:
        self.contributions.setdefault(rsc, []).append(Contribution(node, score, source))

    def note(self, rsc: str, text: str) -> None:
        self.notes.setdefault(rsc, []).append(text)
