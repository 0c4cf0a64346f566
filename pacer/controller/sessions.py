"""How one node's process runs: the node daemon and, beside it, its controller
candidate (and the peer heartbeats).

The controller campaigns with the node's lease, so a controller session lives
exactly as long as one membership of the node: it is cancelled when the
membership ends (`membership_lost`) and a new one starts when the node is a
member again. `assemble.build_node` puts the parts together (for `pacer
agent` and the fault simulator alike) and runs them with `run_node`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from pacer.controller.controller import Controller
from pacer.tasks import stop_tasks

# A cancelled session must end at its next await; seconds allowed for that.
CANCEL_GRACE_S = 5.0


class MemberDaemon(Protocol):
    """What the sessions need of the node daemon."""

    membership_lost: asyncio.Event

    async def run(self) -> None: ...

    async def wait_member(self) -> int: ...


async def controller_sessions(daemon: MemberDaemon, make: Callable[[], Controller]) -> None:
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


class Background(Protocol):
    """A service that runs beside the daemon for the life of the process
    (the peer heartbeats)."""

    async def run(self) -> None: ...


async def run_node(daemon: MemberDaemon, make: Callable[[], Controller] | None,
                   beside: Background | None = None) -> None:
    """Run the daemon, `beside` (if any) and (unless `make` is None) its
    controller sessions; an error of any ends them all."""
    node = asyncio.ensure_future(daemon.run())
    others = []
    if make is not None:
        others.append(asyncio.ensure_future(controller_sessions(daemon, make)))
    if beside is not None:
        others.append(asyncio.ensure_future(beside.run()))
    if not others:
        await node
        return
    try:
        await asyncio.wait([node, *others], return_when=asyncio.FIRST_COMPLETED)
        for t in others:
            if t.done():
                t.result()  # its error is the process's
        await node
    finally:
        await stop_tasks(others)
