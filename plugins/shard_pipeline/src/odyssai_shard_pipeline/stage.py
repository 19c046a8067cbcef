"""A pipeline stage for the families mlx-lm has no ``PipelineMixin`` for (Llama, Qwen3).

``PipelineStage`` replaces the model's inner module (``model.model``). It holds the embeddings,
the final norm and only this rank's layers, and runs them the way mlx-lm's own pipelined models
do (``deepseek_v3.DeepseekV3Model``):

1. embed the tokens (every rank: it gives the shape and dtype to receive);
2. unless this rank runs the first layers (rank N-1), receive the hidden state from rank r+1;
3. run this rank's layers with their caches;
4. unless this is rank 0 (the last layers), send the hidden state to rank r-1, and make the
   last cache depend on that send, so evaluating the caches alone (as ``BatchGenerator`` does
   during prefill) performs it;
5. ``all_gather`` the hidden states and keep rank 0's part: every rank gets the final hidden
   state, so every rank computes the same logits and samples the same token.

The mlx-lm ``Model`` around the stage is unchanged: its ``__call__`` and head (also a tied
``embed_tokens.as_linear``), and its ``layers``/``make_cache``, which now see the local layers
only — so ``make_prompt_cache`` and ``BatchGenerator`` build caches for this rank's layers and
nothing else (no ``None`` placeholders, which ``BatchGenerator``'s cache merging rejects).

Every forward call is a collective: every rank must make the same calls with the same shapes,
in the same order. The runner's lockstep gives that.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.base import create_attention_mask


class PipelineStage(nn.Module):
    def __init__(self, inner: nn.Module, start: int, end: int, group: Any):
        super().__init__()
        self.embed_tokens = inner.embed_tokens
        self.layers = list(inner.layers[start:end])
        self.norm = inner.norm
        self.start_idx, self.end_idx = start, end
        self.num_hidden_layers = len(inner.layers)
        self.pipeline_rank, self.pipeline_size = group.rank(), group.size()
        self.group = group
        for name in ("args", "vocab_size", "sliding_window"):  # what the Model around may read
            if hasattr(inner, name):
                setattr(self, name, getattr(inner, name))
        sliding = self._sliding()
        self.full_idx = sliding.index(False) if False in sliding else None
        self.sliding_idx = sliding.index(True) if True in sliding else None

    def _sliding(self) -> list[bool]:
        return [bool(getattr(layer, "use_sliding", False)) for layer in self.layers]

    def masks(self, h: mx.array, cache: list[Any]) -> list[Any]:
        """One attention mask per local layer, made from the local caches (llama's rule:
        full-attention layers share one mask, sliding-window layers another)."""
        full = create_attention_mask(h, cache[self.full_idx]) if self.full_idx is not None else None
        window = None
        if self.sliding_idx is not None:
            window = create_attention_mask(h, cache[self.sliding_idx],
                                           window_size=getattr(self, "sliding_window", None))
        return [window if s else full for s in self._sliding()]

    def __call__(self, inputs: mx.array, cache: Any = None,
                 input_embeddings: mx.array | None = None) -> mx.array:
        h = input_embeddings if input_embeddings is not None else self.embed_tokens(inputs)
        dtype = h.dtype
        rank, size, group = self.pipeline_rank, self.pipeline_size, self.group
        if cache is None:
            cache = [None] * len(self.layers)
        masks = self.masks(h, cache)

        if rank < size - 1:
            h = mx.distributed.recv_like(h, rank + 1, group=group)
        for layer, mask, c in zip(self.layers, masks, cache):
            h = layer(h, mask, c)
        if h.dtype != dtype:  # what is sent and gathered must have the shape/dtype others expect
            h = h.astype(dtype)
        if rank != 0:
            h = mx.distributed.send(h, rank - 1, group=group)
            if cache[-1] is not None:
                cache[-1].keys = mx.depends(cache[-1].keys, h)
        if size > 1:
            h = mx.distributed.all_gather(h, group=group)[: h.shape[0]]
        return self.norm(h)
