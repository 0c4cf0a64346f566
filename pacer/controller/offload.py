"""Where the controller runs `schedule()`: injected, so there is one code path.

`schedule()` is pure CPU. On a real host it runs in a worker thread: on the
event loop it would hold up everything else the process does, this node's
heartbeats included, for as long as it runs (500 resources on 16 nodes:
0.1-0.25 s, against the 0.25 s of silence after which peers depose a
controller); the thread holds the GIL for a switch interval (5 ms) at a time,
so the loop's heartbeats and watches go on meanwhile. The fault simulator
runs it inline: its virtual time has no threads, and a schedule takes no
virtual time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

# offload(fn, *args) → fn(*args), computed somewhere that suits the process.
Offload = Callable[..., Awaitable[Any]]


async def in_worker_thread(fn: Callable[..., T], /, *args: Any) -> T:
    """`pacer agent`: off the event loop."""
    return await asyncio.to_thread(fn, *args)


async def inline(fn: Callable[..., T], /, *args: Any) -> T:
    """The fault simulator: on the event loop, taking no (virtual) time."""
    return fn(*args)
