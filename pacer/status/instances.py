"""Clone instance ids as history records them: `R:3` is instance 3 of `R`."""

from __future__ import annotations


def split_instance_id(rid: str) -> tuple[str, int | None]:
    """`R:3` → ("R", 3); `R` → ("R", None)."""
    base, sep, num = rid.rpartition(":")
    if sep and num.isdigit():
        return base, int(num)
    return rid, None
