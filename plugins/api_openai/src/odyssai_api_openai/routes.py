"""``/v1/models``, ``/v1/chat/completions`` and ``/v1/completions``, streaming or not.

A request is admitted before any byte is sent, so a model that is not loaded (404), a cluster
still loading (503 + Retry-After) or a full queue (429) are proper HTTP errors. A streaming
client that disconnects closes its stream, which cancels its request on the cluster.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any, AsyncIterator

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.response import Stream

from odyssai import protocol
from odyssai.errors import LoadFailed

from .schemas import ChatCompletionRequest, CompletionRequest


def _usage(done: protocol.Done) -> dict[str, int]:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}


def _finish(done: protocol.Done) -> str:
    if done.finish_reason == "error":
        raise LoadFailed(f"generation failed: {done.error or 'unknown error'}")
    return "length" if done.finish_reason == "length" else "stop"


def _chat_logprobs(items: list[protocol.TokenLogprob]) -> dict[str, Any]:
    return {"content": [{"token": i.token, "logprob": i.logprob, "bytes": i.bytes or list(i.token.encode()),
                         "top_logprobs": [{"token": t["token"], "logprob": t["logprob"],
                                           "bytes": t.get("bytes") or list(t["token"].encode())}
                                          for t in i.top_logprobs]} for i in items]}


def _by_text(alternatives: list[dict[str, Any]]) -> dict[str, float]:
    """The legacy format keys alternatives by their text; two tokens can show the same text (byte
    tokens as '\ufffd'): the more likely one keeps the key."""
    out: dict[str, float] = {}
    for t in alternatives:  # most likely first
        out.setdefault(t["token"], t["logprob"])
    return out


def _text_logprobs(items: list[protocol.TokenLogprob], offset: int) -> dict[str, Any]:
    offsets, pos = [], offset
    for i in items:
        offsets.append(pos)
        pos += len(i.token)
    return {"tokens": [i.token for i in items], "token_logprobs": [i.logprob for i in items],
            "top_logprobs": [_by_text(i.top_logprobs) for i in items],
            "text_offset": offsets}


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class OpenAIController(Controller):
    path = "/v1"
    tags = ["openai"]

    @get("/models")
    async def models(self, request: Request) -> dict[str, Any]:
        """The models that idle clusters serve, with the cluster and how it is sharded."""
        manager = request.app.state.manager
        data = [{"id": c.model, "object": "model", "created": int(c.loaded_at or 0), "owned_by": "odyssai",
                 "cluster": c.name, "sharding": c.plan.strategy if c.plan else None,
                 "ranks": len(c.ranks)} for c in manager.loaded()]
        return {"object": "list", "data": data}

    @post("/chat/completions", status_code=200)
    async def chat(self, request: Request, data: JSONBody[ChatCompletionRequest]) -> Any:
        cluster = request.app.state.manager.serving(data.model)
        rid = "chatcmpl-" + uuid.uuid4().hex[:24]
        gen = protocol.Generate(id=rid, messages=[m.to_template() for m in data.messages],
                                params=data.to_params())
        stream = cluster.generate(gen)
        created = int(time.time())
        if data.stream:
            return Stream(self._chat_chunks(stream, rid, created, data), media_type="text/event-stream",
                          headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        text, logprobs, done = await _collect(stream)
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "logprobs": _chat_logprobs(logprobs) if data.logprobs else None,
                                  "finish_reason": _finish(done)}
        return {"id": rid, "object": "chat.completion", "created": created, "model": data.model,
                "choices": [choice], "usage": _usage(done), "system_fingerprint": None}

    async def _chat_chunks(self, stream: AsyncIterator[Any], rid: str, created: int,
                           data: ChatCompletionRequest) -> AsyncIterator[bytes]:
        base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": data.model,
                "system_fingerprint": None}
        async with contextlib.aclosing(stream):
            yield _sse(base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                            "logprobs": None, "finish_reason": None}]})
            async for msg in stream:
                if isinstance(msg, protocol.Tokens):
                    if not msg.text and not msg.logprobs:
                        continue
                    lp = _chat_logprobs(msg.logprobs) if data.logprobs and msg.logprobs else None
                    yield _sse(base | {"choices": [{"index": 0, "delta": {"content": msg.text},
                                                    "logprobs": lp, "finish_reason": None}]})
                elif isinstance(msg, protocol.Done):
                    if msg.finish_reason == "error":
                        yield _sse({"error": {"message": f"generation failed: {msg.error}",
                                              "type": "server_error", "param": None, "code": None}})
                        break
                    yield _sse(base | {"choices": [{"index": 0, "delta": {}, "logprobs": None,
                                                    "finish_reason": _finish(msg)}]})
                    if data.include_usage():
                        yield _sse(base | {"choices": [], "usage": _usage(msg)})
        yield b"data: [DONE]\n\n"

    @post("/completions", status_code=200)
    async def completions(self, request: Request, data: JSONBody[CompletionRequest]) -> Any:
        cluster = request.app.state.manager.serving(data.model)
        rid = "cmpl-" + uuid.uuid4().hex[:24]
        gen = protocol.Generate(id=rid, prompt=data.prompt, params=data.to_params())
        stream = cluster.generate(gen)
        created = int(time.time())
        if data.stream:
            return Stream(self._text_chunks(stream, rid, created, data), media_type="text/event-stream",
                          headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        text, logprobs, done = await _collect(stream)
        choice = {"index": 0, "text": text, "finish_reason": _finish(done),
                  "logprobs": _text_logprobs(logprobs, 0) if data.logprobs is not None else None}
        return {"id": rid, "object": "text_completion", "created": created, "model": data.model,
                "choices": [choice], "usage": _usage(done)}

    async def _text_chunks(self, stream: AsyncIterator[Any], rid: str, created: int,
                           data: CompletionRequest) -> AsyncIterator[bytes]:
        base = {"id": rid, "object": "text_completion", "created": created, "model": data.model}
        offset = 0
        async with contextlib.aclosing(stream):
            async for msg in stream:
                if isinstance(msg, protocol.Tokens):
                    if not msg.text and not msg.logprobs:
                        continue
                    lp = (_text_logprobs(msg.logprobs, offset)
                          if data.logprobs is not None and msg.logprobs else None)
                    offset += len(msg.text)
                    yield _sse(base | {"choices": [{"index": 0, "text": msg.text, "logprobs": lp,
                                                    "finish_reason": None}]})
                elif isinstance(msg, protocol.Done):
                    if msg.finish_reason == "error":
                        yield _sse({"error": {"message": f"generation failed: {msg.error}",
                                              "type": "server_error", "param": None, "code": None}})
                        break
                    yield _sse(base | {"choices": [{"index": 0, "text": "", "logprobs": None,
                                                    "finish_reason": _finish(msg)}]})
                    if data.include_usage():
                        yield _sse(base | {"choices": [], "usage": _usage(msg)})
        yield b"data: [DONE]\n\n"


async def _collect(stream: AsyncIterator[Any]) -> tuple[str, list[protocol.TokenLogprob], protocol.Done]:
    parts: list[str] = []
    logprobs: list[protocol.TokenLogprob] = []
    async with contextlib.aclosing(stream):
        async for msg in stream:
            if isinstance(msg, protocol.Tokens):
                parts.append(msg.text)
                logprobs.extend(msg.logprobs or [])
            elif isinstance(msg, protocol.Done):
                return "".join(parts), logprobs, msg
    raise LoadFailed("the cluster closed the request without finishing it")
