"""mlx-lm's BatchGenerator, driven by the shared decisions; the same on every rank.

Sequences are named by request id. ``apply`` runs a ``Decision`` (removals first, then
insertions in order), ``step`` runs one generator step and returns what each sequence produced.
The generator is built without stop tokens: whether a sequence ends on an end-of-sequence token
or a stop string is rank 0's call, shared as a removal. Only ``max_tokens`` ends a sequence
inside the generator, and that depends on counts alone, so it happens on every rank alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .lockstep import Decision
from .sampling import make_seeded_sampler


@dataclass
class Produced:
    """What one sequence produced in one step."""

    id: str
    token: int
    logprobs: Any  # mx.array over the vocabulary (log-softmax of the logits)
    finish_reason: str | None  # "length" when max_tokens was reached, else None


class Engine:
    def __init__(self, model: Any, max_batch: int):
        import mlx.core as mx
        from mlx_lm.generate import BatchGenerator

        # The generator's work and the decision collectives share one stream, so every rank
        # queues its collectives in the same order.
        self.stream = mx.default_stream(mx.default_device())
        self._gen = BatchGenerator(model, completion_batch_size=max(1, max_batch),
                                   prefill_batch_size=max(1, min(max_batch, 8)), stream=self.stream)
        self._uid_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._window: Any = None
        self._stats: Any = None
        self.take_stats()

    @property
    def active(self) -> int:
        return len(self._uid_of)

    def apply(self, decision: Decision) -> None:
        gone = [self._uid_of.pop(i) for i in decision.remove if i in self._uid_of]
        if gone:
            self._gen.remove(gone)
            for uid in gone:
                self._id_of.pop(uid, None)
        for ins in decision.insert:
            sampler = make_seeded_sampler(ins.temperature, ins.top_p, ins.seed)
            (uid,) = self._gen.insert([ins.tokens], max_tokens=[ins.max_tokens], samplers=[sampler])
            self._uid_of[ins.id] = uid
            self._id_of[uid] = ins.id

    def step(self) -> list[Produced]:
        """One generator step: the token each decoding sequence produced."""
        if not self._uid_of:
            return []
        _, responses = self._gen.next()
        out = []
        for r in responses:
            rid = self._id_of.get(r.uid)
            if rid is None:
                continue
            if r.finish_reason is not None:
                self._uid_of.pop(rid, None)
                self._id_of.pop(r.uid, None)
            out.append(Produced(rid, int(r.token), r.logprobs, r.finish_reason))
        return out

    def take_stats(self) -> Any:
        """The generator's ``BatchStats`` since the previous call (prompt and generation tps)."""
        stats = None
        if self._window is not None:
            self._window.__exit__(None, None, None)
            stats = self._stats
        self._window = self._gen.stats()
        self._stats = self._window.__enter__()
        return stats
