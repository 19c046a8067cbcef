"""A small in-process event bus: clusters publish typed events, the dashboard and CLI follow.

Events are plain dicts with a ``type`` (``rank_phase``, ``load_progress``, ``cluster_phase``,
``token_rate``, ``error``, ``log``) and a monotonically increasing ``seq``. Slow subscribers
lose their oldest events rather than slowing the cluster down.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, AsyncIterator


class EventBus:
    def __init__(self, queue_size: int = 1000):
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._seq = itertools.count(1)
        self._queue_size = queue_size

    def publish(self, type_: str, **data: Any) -> dict[str, Any]:
        event = {"type": type_, "seq": next(self._seq), "time": time.time(), **data}
        for q in list(self._subscribers):
            if q.full():
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(event)
        return event

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.discard(q)

    def open(self) -> "asyncio.Queue[dict[str, Any]]":
        """A queue that receives every event from now on; ``close(q)`` when done."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(q)
        return q

    def close(self, q: "asyncio.Queue[dict[str, Any]]") -> None:
        self._subscribers.discard(q)
