"""Shrinking a failing schedule: delta debugging (ddmin) over its faults.

A schedule fails when its run violates the same invariant as the original
failure. Removing a fault removes its heal with it (a fault is begin + end),
and agent durations do not depend on the schedule (`agents.jitter`), so a
smaller schedule replays the same story minus the dropped faults.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool], max_tests: int = 200) -> list[T]:
    """A 1-minimal failing subsequence of `items` (each single removal passes),
    or the smallest found within `max_tests` runs. `fails(items)` must be true."""
    tests = 0

    def test(candidate: list[T]) -> bool:
        nonlocal tests
        tests += 1
        return fails(candidate)

    cur = list(items)
    if cur and test([]):
        return []
    n = 2
    while len(cur) >= 2 and tests < max_tests:
        size = math.ceil(len(cur) / n)
        chunks = [cur[i:i + size] for i in range(0, len(cur), size)]
        for chunk in chunks:
            if tests >= max_tests:
                break
            if len(chunk) < len(cur) and test(chunk):
                cur, n = chunk, 2
                break
        else:
            for i in range(len(chunks)):
                if tests >= max_tests:
                    break
                rest = [x for j, c in enumerate(chunks) if j != i for x in c]
                if test(rest):
                    cur, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(cur):
                    break
                n = min(len(cur), 2 * n)
    return cur
