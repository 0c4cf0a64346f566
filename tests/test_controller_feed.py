"""The controller's watch feed stops when closed, even when a cancellation is
lost under it (Python 3.11's asyncio.wait_for returns a result that races with
a cancellation: a controller closing its feed then waited forever, lab)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from pacer.controller.controller import _Feed
from pacer.store.base import Event, EventType, KeyValue


def _event(rev: int) -> Event:
    return Event(EventType.PUT, KeyValue(key=f"/k{rev}", value=b"", create_revision=rev,
                                         mod_revision=rev, version=1, lease=0))


class SwallowingCluster:
    """A watch whose first cancellation is lost, as wait_for loses it."""

    def __init__(self, then_events: bool) -> None:
        self.then_events = then_events
        self.swallowed = 0
        self.closed = False

    async def watch(self, start: int) -> AsyncIterator[Event]:
        try:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.swallowed += 1  # lost, as on Python 3.11
            rev = start
            while True:
                if self.then_events:
                    await asyncio.sleep(0.01)
                    rev += 1
                    yield _event(rev)
                else:
                    await asyncio.sleep(3600)
        finally:
            self.closed = True


def _close(cluster: SwallowingCluster) -> None:
    async def body() -> None:
        feed = _Feed(cluster, 1)  # type: ignore[arg-type]
        await asyncio.sleep(0.01)  # the pump is inside the watch
        closing = asyncio.ensure_future(feed.close())
        # No cancellation from here: a close that hangs must be seen hanging.
        done, _ = await asyncio.wait([closing], timeout=10.0)
        assert done, "the feed did not stop"
    asyncio.run(body())


def test_a_lost_cancellation_is_noticed_at_the_next_event() -> None:
    cluster = SwallowingCluster(then_events=True)
    _close(cluster)
    assert cluster.swallowed == 1 and cluster.closed


def test_a_lost_cancellation_of_an_idle_watch_is_repeated() -> None:
    cluster = SwallowingCluster(then_events=False)
    _close(cluster)
    assert cluster.swallowed == 1 and cluster.closed
