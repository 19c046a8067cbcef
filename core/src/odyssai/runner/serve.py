"""The lockstep loop every rank runs once the model is loaded.

Per step: rank 0 decides (``Scheduler.decide``), the decision is shared with every rank
(``lockstep.share``), every rank applies it to its generator and, unless told to stop, runs the
same generator step. Rank 0 then turns the step's tokens into ``Tokens``/``Done``. Phase is
``generating`` while any sequence runs, ``idle`` otherwise.

While idle, rank 0 waits up to ``IDLE_POLL`` for a message and the other ranks sleep as long
before joining the collective: a rank blocked in a ring collective busy-waits, so idle ranks
meet at it every ~30 ms instead of spinning in it.
"""

from __future__ import annotations

import queue
import time
from typing import Any, Callable

from ..protocol import PhaseChanged
from .engine import Engine
from .lockstep import share
from .scheduler import IDLE_POLL, Scheduler


def serve(model: Any, tokenizer: Any, group: Any, rank: int, max_batch: int,
          send: Callable[[Any], None], inbox: "queue.Queue[Any]", context: int | None,
          on_scheduler: Callable[[Scheduler], None] | None = None) -> None:
    """Run until rank 0 shares ``stop``. Raises when generation fails."""
    import mlx.core as mx

    engine = Engine(model, max_batch)
    sched = Scheduler(tokenizer, send, inbox, max_batch, context) if rank == 0 else None
    if sched is not None and on_scheduler is not None:
        on_scheduler(sched)
    phase = "idle"
    with mx.stream(engine.stream):
        while True:
            busy = engine.active > 0  # the same on every rank: they all ran the same decisions
            if sched is not None:
                mine = sched.decide(busy=busy)  # idle: waits up to IDLE_POLL for a message
            else:
                mine = None
                if not busy:  # idle: meet rank 0 at the collective instead of spinning in it
                    time.sleep(IDLE_POLL)
            decision = share(mine, group, rank)
            engine.apply(decision)
            if decision.stop:
                return
            produced = engine.step()
            if sched is not None:
                sched.on_produced(produced)
                sched.maybe_stats(engine)
            busy = engine.active > 0 or bool(sched and (sched.waiting or sched.active))
            now = "generating" if busy else "idle"
            if now != phase:
                phase = now
                send(PhaseChanged(phase=now))
