"""Server-Sent Events of the event bus: the wire format and the stream of one subscriber.

Each event becomes ``id: <seq>`` / ``event: <type>`` / ``data: <json>``. A stream starts with a
``hello`` event holding every (or the one filtered) cluster's status, so a client never has to
race a snapshot against the events; then come the bus's events, filtered by cluster and type,
with a ``: keepalive`` comment after each quiet ``keepalive`` seconds. The subscription opens
when the stream starts and closes when it ends — also when the client goes away (the server
cancels the stream).
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
                       on_open: Callable[[], None] | None = None,
                       on_close: Callable[[], None] | None = None) -> AsyncIterator[str]:
    """The SSE text of one subscriber of ``bus``, forever (until the consumer stops it)."""
    q = bus.open()
    if on_open:
        on_open()
    try:
        yield f"retry: {RETRY_MS}\n" + sse_message({"type": "hello", **hello()})
        while True:
            try:
                event = await asyncio.wait_for(q.get(), keepalive)
            except asyncio.TimeoutError:
                yield sse_comment("keepalive")
                continue
            if wanted(event, cluster, types):
                yield sse_message(event)
    finally:
        bus.close(q)
        if on_close:
            on_close()
