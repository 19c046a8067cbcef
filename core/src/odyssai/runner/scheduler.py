"""Rank 0: turns control messages into the step's ``Decision`` and routes tokens to requests.

Requests are tokenized here (chat template or raw prompt) and checked; a bad one is answered
with ``Done(finish_reason="error")`` and never reaches the other ranks. At most ``max_batch``
sequences run at once; the rest wait in arrival order and join the running batch as slots free
up. While nothing runs, ``decide`` waits briefly for a message, so the idle loop costs little.
"""

from __future__ import annotations

import logging
import queue
import random
import time
from collections import deque
from typing import Any, Callable

from ..protocol import Cancel, Done, Generate, Shutdown, Stats
from .engine import Engine, Produced
from .lockstep import Decision, Insert
from .output import RequestOutput

log = logging.getLogger("odyssai.runner")

IDLE_POLL = 0.03  #: seconds rank 0 waits for a message while no sequence runs
STATS_EVERY = 1.0  #: seconds between ``Stats`` while generating


class BadRequest(ValueError):
    """A request this model cannot run; the message goes to the client."""


def prompt_tokens(tokenizer: Any, req: Generate, context: int | None) -> list[int]:
    """The token ids to run for ``req``, or ``BadRequest`` saying why not."""
    if (req.messages is None) == (req.prompt is None):
        raise BadRequest("send exactly one of 'messages' or 'prompt'")
    if req.messages is not None:
        if not req.messages:
            raise BadRequest("'messages' is empty")
        if not getattr(tokenizer, "has_chat_template", False):
            raise BadRequest("this model has no chat template: send a 'prompt' instead")
        try:
            ids = tokenizer.apply_chat_template(req.messages, add_generation_prompt=True)
        except Exception as e:
            raise BadRequest(f"the chat template failed on these messages: {e}") from None
    else:
        ids = tokenizer.encode(req.prompt)
    ids = [int(i) for i in ids]
    if not ids:
        raise BadRequest("the prompt is empty")
    if context and len(ids) >= context:
        raise BadRequest(f"the prompt has {len(ids)} tokens; the model's context is {context} tokens")
    return ids


class Scheduler:
    def __init__(self, tokenizer: Any, send: Callable[[Any], None], inbox: "queue.Queue[Any]",
                 max_batch: int, context: int | None = None):
        self.tokenizer = tokenizer
        self.send = send
        self.inbox = inbox
        self.max_batch = max(1, max_batch)
        self.context = context
        self.waiting: deque[tuple[Insert, RequestOutput]] = deque()
        self.active: dict[str, RequestOutput] = {}
        self._removals: list[str] = []
        self.stopping = False
        self._rng = random.SystemRandom()
        self._last_stats = time.perf_counter()

    # -- messages in --------------------------------------------------------------------
    def _drain(self, block: bool) -> None:
        try:
            msg = self.inbox.get(timeout=IDLE_POLL) if block else self.inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self.handle(msg)
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return

    def handle(self, msg: Any) -> None:
        if isinstance(msg, Generate):
            self._generate(msg)
        elif isinstance(msg, Cancel):
            self._cancel(msg.id)
        elif isinstance(msg, Shutdown):
            self.stopping = True
        else:
            log.warning("ignoring %s while serving", msg.type)

    def _generate(self, req: Generate) -> None:
        received = time.perf_counter()
        if req.id in self.active or any(o.id == req.id for _, o in self.waiting):
            self.send(Done(id=req.id, finish_reason="error", prompt_tokens=0, completion_tokens=0,
                           error=f"request id {req.id!r} is already running"))
            return
        try:
            ids = prompt_tokens(self.tokenizer, req, self.context)
        except BadRequest as e:
            self.send(Done(id=req.id, finish_reason="error", prompt_tokens=0, completion_tokens=0, error=str(e)))
            return
        p = req.params
        max_tokens = p.max_tokens if not self.context else max(1, min(p.max_tokens, self.context - len(ids)))
        seed = (p.seed if p.seed is not None else self._rng.getrandbits(63)) & (2**63 - 1)
        insert = Insert(req.id, ids, max_tokens, p.temperature, p.top_p, seed)
        self.waiting.append((insert, RequestOutput(req.id, self.tokenizer, p, len(ids), self.send, received)))

    def _cancel(self, id: str) -> None:
        for item in list(self.waiting):
            if item[1].id == id:
                self.waiting.remove(item)
                item[1].cancel()
                return
        out = self.active.pop(id, None)
        if out is not None:
            out.cancel()
            self._removals.append(id)

    # -- the step's decision ------------------------------------------------------------
    def decide(self, busy: bool) -> Decision:
        self._drain(block=not busy and not self.waiting and not self._removals)
        if self.stopping:
            self.fail_all("cancelled")
            return Decision(stop=True)
        decision = Decision(remove=self._removals)
        self._removals = []
        while self.waiting and len(self.active) < self.max_batch:
            insert, out = self.waiting.popleft()
            self.active[insert.id] = out
            decision.insert.append(insert)
        return decision

    # -- tokens out ---------------------------------------------------------------------
    def on_produced(self, produced: list[Produced]) -> None:
        for p in produced:
            out = self.active.get(p.id)
            if out is None:
                continue
            if out.add(p.token, p.logprobs, p.finish_reason):
                del self.active[p.id]
                if p.finish_reason is None:  # rank 0 ended it (eos / stop string): share that
                    self._removals.append(p.id)

    def maybe_stats(self, engine: Engine) -> None:
        now = time.perf_counter()
        if now - self._last_stats < STATS_EVERY or not (self.active or self.waiting):
            return
        self._last_stats = now
        st = engine.take_stats()
        self.send(Stats(active=len(self.active), waiting=len(self.waiting),
                        generation_tps=round(getattr(st, "generation_tps", 0.0), 3),
                        prompt_tps=round(getattr(st, "prompt_tps", 0.0), 3)))

    def fail_all(self, reason: str, error: str | None = None) -> None:
        """End every request (shutdown or failure)."""
        for out in list(self.active.values()) + [o for _, o in self.waiting]:
            out.cancel(reason, error)
        self.active.clear()
        self.waiting.clear()
