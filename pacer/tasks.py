"""Ending asyncio tasks without losing the caller's own cancellation.

`t.cancel()` then `with suppress(CancelledError): await t` is the usual way to
wait for a cancelled task, and it is wrong: if the *caller* is cancelled while
it waits, that cancellation is swallowed too and the caller runs on (found by
the fault simulator: a node daemon whose executor was closing ignored the
cancellation of its own process, and its tasks had to be cancelled again every
second). `stop_tasks` waits with `asyncio.wait`, which raises only the
caller's cancellation, and retrieves what each task ended with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def stop_tasks(tasks: Iterable[asyncio.Future]) -> None:
    """Cancel `tasks` and wait until they have ended; a cancellation of the
    caller propagates (the tasks are already cancelled by then)."""
    pending = [t for t in tasks]
    for t in pending:
        t.cancel()
    if not pending:
        return
    await asyncio.wait(pending)
    for t in pending:
        if not t.cancelled():
            t.exception()  # (retrieved: it ended on its own, with or without an error)
