"""One node's process: the node daemon and, beside it, its controller candidate.

The controller campaigns with the node's lease, so a controller session lives
exactly as long as one membership of the node: it is cancelled when the
membership ends (`membership_lost`) and a new one starts when the node is a
member again. `pacer agent` and the fault simulator both run this, so the
simulator tests the composition that runs on real hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from pacer.controller.controller import Controller

# A cancelled session must end at its next await; seconds allowed for that.
CANCEL_GRACE_S = 5.0


class NodeProcess(Protocol):
    membership_lost: asyncio.Event

    async def run(self) -> None: ...

    async def wait_member(self) -> int: ...


async def controller_sessions(daemon: NodeProcess, make: Callable[[], Controller]) -> None:
    """One Controller per membership of the node daemon, until cancelled."""
    while True:
        await daemon.wait_member()
        run = asyncio.ensure_future(make().run())
        lost = asyncio.ensure_future(daemon.membership_lost.wait())
        try:
            await asyncio.wait([run, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (run, lost):
                t.cancel()
            await asyncio.wait([run, lost], timeout=CANCEL_GRACE_S)
        if not run.done():
            # A session that outlives its membership is a second controller loop
            # in this process: a bug, reported rather than waited for.
            raise RuntimeError(f"a controller session ignored its cancellation "
                               f"({CANCEL_GRACE_S:g} s)")
        if not run.cancelled() and run.exception() is not None:
            raise run.exception()  # type: ignore[misc]


async def run_node(daemon: NodeProcess, make: Callable[[], Controller] | None) -> None:
    """Run the daemon and (unless `make` is None) its controller sessions; an
    error of either ends both."""
    if make is None:
        await daemon.run()
        return
    node = asyncio.ensure_future(daemon.run())
    ctl = asyncio.ensure_future(controller_sessions(daemon, make))
    try:
        await asyncio.wait([node, ctl], return_when=asyncio.FIRST_COMPLETED)
        if ctl.done():
            ctl.result()  # its error is the process's
        await node
    finally:
        ctl.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctl
