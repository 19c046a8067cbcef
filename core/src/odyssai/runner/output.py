"""Rank 0's view of one request's output: tokens in, ``Tokens`` and ``Done`` messages out.

Each generated token goes through a streaming detokenizer and the stop strings; text is sent as
soon as it can no longer be part of a stop string. The request ends on an end-of-sequence token
or a stop string (``stop``), at ``max_tokens`` (``length``), or by cancel. Rank 0 alone decides
the first two; the engine's own ``length`` is the same on every rank.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..protocol import Done, SamplingParams, TokenLogprob, Tokens
from .sampling import top_logprobs
from .stopping import StopStrings

Send = Callable[[Any], None]


class IncrementalText:
    """Text of a growing token list, told piece by piece, that always adds up to ``decode(ids)``.

    mlx-lm's streaming detokenizers drop the leading space of the first token (right for a chat
    reply, wrong for a completion that continues a prompt). This one decodes a short window of
    recent tokens and hands out what the window added, holding back an incomplete UTF-8 tail.
    """

    def __init__(self, decode: Callable[[list[int]], str]):
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0      # start of the window already told
        self._read = 0        # end of the window already told
        self._pending = ""

    def add_token(self, token: int) -> None:
        self._ids.append(token)
        told = self._decode(self._ids[self._prefix:self._read])
        text = self._decode(self._ids[self._prefix:])
        if text.endswith("\ufffd"):
            return  # a multi-byte character is not complete yet
        self._pending += text[len(told):]
        self._prefix, self._read = self._read, len(self._ids)

    def finalize(self) -> None:
        told = self._decode(self._ids[self._prefix:self._read])
        self._pending += self._decode(self._ids[self._prefix:])[len(told):]
        self._prefix = self._read = len(self._ids)

    @property
    def last_segment(self) -> str:
        out, self._pending = self._pending, ""
        return out


class RequestOutput:
    def __init__(self, id: str, tokenizer: Any, params: SamplingParams, prompt_tokens: int,
                 send: Send, received: float | None = None):
        self.id = id
        self.params = params
        self.prompt_tokens = prompt_tokens
        self._tokenizer = tokenizer
        self._send = send
        self._detok = IncrementalText(tokenizer.decode)
        self._stops = StopStrings(params.stop)
        self._eos = set(tokenizer.eos_token_ids)
        self._ids: list[int] = []
        self._logprobs: list[TokenLogprob] = []
        self.received = received if received is not None else time.perf_counter()
        self.first_token: float | None = None
        self.completion_tokens = 0
        self.finished = False

    # -- tokens in ----------------------------------------------------------------------
    def add(self, token: int, logprobs: Any, engine_finish: str | None) -> bool:
        """One generated token (and the engine's finish_reason). True when the request ended."""
        if self.finished:
            return True
        now = time.perf_counter()
        if self.first_token is None:
            self.first_token = now
        self.completion_tokens += 1
        if token in self._eos:
            self._detok.finalize()
            text, hit = self._stops.feed(self._detok.last_segment)
            self._emit(text if hit else text + self._stops.flush())
            return self._finish("stop")
        self._ids.append(token)
        if self.params.logprobs:
            self._logprobs.append(self._logprob(token, logprobs))
        self._detok.add_token(token)
        if engine_finish is not None:
            self._detok.finalize()
        text, hit = self._stops.feed(self._detok.last_segment)
        if hit:
            self._emit(text)
            return self._finish("stop")
        if engine_finish is not None:
            self._emit(text + self._stops.flush())
            return self._finish("length")
        if text:
            self._emit(text)
        return False

    def _logprob(self, token: int, logprobs: Any) -> TokenLogprob:
        text = self._tokenizer.decode([token])
        return TokenLogprob(token=text, logprob=float(logprobs[token].item()), bytes=list(text.encode()),
                            top_logprobs=top_logprobs(logprobs, self.params.top_logprobs,
                                                      lambda i: self._tokenizer.decode([i])))

    # -- messages out -------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        if not text and not self._ids:
            return
        lps = self._logprobs if self.params.logprobs else None
        self._send(Tokens(id=self.id, text=text, token_ids=self._ids, logprobs=lps))
        self._ids, self._logprobs = [], []

    def _finish(self, reason: str, error: str | None = None) -> bool:
        self.finished = True
        now = time.perf_counter()
        ttft = (self.first_token - self.received) if self.first_token is not None else 0.0
        self._send(Done(id=self.id, finish_reason=reason, prompt_tokens=self.prompt_tokens,  # type: ignore[arg-type]
                        completion_tokens=self.completion_tokens, ttft=round(ttft, 6),
                        seconds=round(now - self.received, 6), error=error))
        return True

    def cancel(self, reason: str = "cancelled", error: str | None = None) -> None:
        """End the request now (cancel, shutdown, failure); what was held back is dropped."""
        if not self.finished:
            if self._ids:
                self._emit("")
            self._finish(reason, error)
