"""The SSE stream of the event bus: wire format, hello first, filters, keepalive, unsubscribe."""

from __future__ import annotations

import asyncio

from odyssai.events import EventBus
from odyssai.watch import parse_sse
from odyssai_api_admin.sse import event_stream, sse_comment, sse_message, wanted


def test_an_event_is_one_sse_message_with_its_seq_type_and_json_data():
    text = sse_message({"type": "rank_phase", "seq": 7, "cluster": "lab", "line": "a\nb"})
    assert text == ('id: 7\nevent: rank_phase\n'
                    'data: {"type":"rank_phase","seq":7,"cluster":"lab","line":"a\\nb"}\n\n')


def test_the_cli_reads_back_what_the_server_writes_and_skips_comments():
    events = [{"type": "hello", "clusters": []}, {"type": "log", "seq": 3, "rank": 1, "line": "x: y"}]
    text = "retry: 2000\n" + sse_message(events[0]) + sse_comment("keepalive") + sse_message(events[1])
    assert list(parse_sse(text.splitlines())) == events


def test_filters_pass_the_cluster_and_types_asked_for():
    ev = {"type": "log", "cluster": "a"}
    assert wanted(ev, None, None) and wanted(ev, "a", {"log"})
    assert not wanted(ev, "b", None) and not wanted(ev, None, {"rank_phase"})


async def _collect(bus: EventBus, n: int, **kw):
    counts = {"open": 0, "closed": 0}
    stream = event_stream(bus, lambda: {"clusters": ["snapshot"]}, on_open=lambda: counts.update(open=counts["open"] + 1),
                          on_close=lambda: counts.update(closed=counts["closed"] + 1), **kw)
    got = [await anext(stream)]  # the hello: the subscription is open from here on
    bus.publish("rank_phase", cluster="other", rank=0, phase="loading")
    bus.publish("log", cluster="lab", rank=0, line="hello")
    bus.publish("rank_phase", cluster="lab", rank=0, phase="idle")
    while len(got) < n:
        got.append(await anext(stream))
    assert counts == {"open": 1, "closed": 0}
    await stream.aclose()
    return got, counts


def test_a_stream_starts_with_hello_then_passes_only_the_filtered_events_in_order():
    bus = EventBus()
    got, counts = asyncio.run(_collect(bus, 2, cluster="lab", types={"rank_phase"}))
    assert got[0].startswith("retry: 2000\nevent: hello\n") and '"clusters":["snapshot"]' in got[0]
    assert [e["type"] for e in parse_sse(got[1].splitlines())] == ["rank_phase"]
    assert '"phase":"idle"' in got[1]
    assert counts == {"open": 1, "closed": 1}


def test_a_quiet_stream_sends_keepalive_comments():
    async def run():
        stream = event_stream(EventBus(), dict, keepalive=0.01)
        await anext(stream)
        comment = await anext(stream)
        await stream.aclose()
        return comment

    assert asyncio.run(run()) == ": keepalive\n\n"


def test_a_stream_that_is_cancelled_mid_wait_unsubscribes():
    bus = EventBus()

    async def run():
        closed = []
        stream = event_stream(bus, dict, on_close=lambda: closed.append(True))

        async def consume():
            async for _ in stream:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        assert bus._subscribers  # the stream is subscribed while it waits
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return closed

    assert asyncio.run(run()) == [True]
    assert not bus._subscribers


def test_a_stream_ends_when_the_server_says_it_is_closing():
    async def run():
        closing = asyncio.Event()
        bus = EventBus()
        stream = event_stream(bus, dict, closing=closing, keepalive=30)
        await anext(stream)
        bus.publish("log", cluster="lab", line="before")
        assert '"line":"before"' in await anext(stream)
        closing.set()
        rest = [chunk async for chunk in stream]
        return rest, bus._subscribers

    rest, subscribers = asyncio.run(run())
    assert rest == [] and not subscribers
