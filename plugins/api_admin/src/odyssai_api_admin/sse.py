"""Server-Sent Events of the event bus: the wire format and the stream of one subscriber.

Each event becomes ``id: <seq>`` / ``event: <type>`` / ``data: <json>``. A stream starts with a
``hello`` event holding every (or the one filtered) cluster's status, so a client never has to
race a snapshot against the events; then come the bus's events, filtered by cluster and type,
with a ``: keepalive`` comment after each quiet ``keepalive`` seconds. The subscription opens
when the stream starts and closes when it ends — when the client goes away (the server cancels
the stream) or when ``closing`` (an ``asyncio.Event``, set as the server shuts down) is set.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Callable, Collection

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 2000


def sse_message(event: dict[str, Any]) -> str:
    """One event as an SSE message (``data`` is one line of JSON)."""
    head = f"id: {event['seq']}\n" if event.get("seq") is not None else ""
    return f"{head}event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'), default=str)}\n\n"


def sse_comment(text: str) -> str:
    return "".join(f": {line}\n" for line in text.splitlines() or [""]) + "\n"


def wanted(event: dict[str, Any], cluster: str | None, types: Collection[str] | None) -> bool:
    """True when ``event`` passes the stream's filters (no filter passes everything)."""
    if cluster is not None and event.get("cluster") != cluster:
        return False
    return not types or event.get("type") in types


async def event_stream(bus: Any, hello: Callable[[], dict[str, Any]], *, cluster: str | None = None,
                       types: Collection[str] | None = None, keepalive: float = KEEPALIVE_SECONDS,
                       closing: asyncio.Event | None = None, on_open: Callable[[], None] | None = None,
                       on_close: Callable[[], None] | None = None) -> AsyncIterator[str]:
    """The SSE text of one subscriber of ``bus``, until the consumer stops it or ``closing`` is set."""
    q = bus.open()
    if on_open:
        on_open()
    ending = asyncio.ensure_future(closing.wait()) if closing is not None else None
    try:
        yield f"retry: {RETRY_MS}\n" + sse_message({"type": "hello", **hello()})
        while True:
            get = asyncio.ensure_future(q.get())
            await asyncio.wait({get, ending} - {None}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()  # an event that arrives meanwhile stays queued for the next round
                if ending is not None and ending.done():
                    return
                yield sse_comment("keepalive")
                continue
            event = get.result()
            if wanted(event, cluster, types):
                yield sse_message(event)
    finally:
        if ending is not None:
            ending.cancel()
        bus.close(q)
        if on_close:
            on_close()
