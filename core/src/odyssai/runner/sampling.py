"""Per-sequence samplers that give the same tokens for the same seed on every rank, and
top-logprobs for ``Tokens``.

A sampler owns its own PRNG key (``mx.random.key(seed)``, split once per token), so a request's
draws do not depend on which other requests share the batch, and every rank, starting from the
seed rank 0 shared, draws the same token. Filtering uses mlx-lm's own ``apply_top_p``.
"""

from __future__ import annotations

from typing import Any, Callable


def make_seeded_sampler(temperature: float, top_p: float, seed: int) -> Callable[[Any], Any] | None:
    """None for temperature 0 (BatchGenerator's greedy argmax); else a keyed categorical sampler."""
    if temperature <= 0:
        return None
    import mlx.core as mx
    from mlx_lm.sample_utils import apply_top_p

    state = {"key": mx.random.key(seed)}
    inv_temp = 1.0 / temperature

    def sampler(logprobs: Any) -> Any:
        keys = mx.random.split(state["key"])
        state["key"] = keys[0]
        if 0.0 < top_p < 1.0:
            logprobs = apply_top_p(logprobs, top_p)
        return mx.random.categorical(logprobs * inv_temp, key=keys[1])

    return sampler


def top_logprobs(logprobs: Any, n: int, decode: Callable[[int], str]) -> list[dict[str, Any]]:
    """The ``n`` most likely tokens at this step, most likely first."""
    if n <= 0:
        return []
    import mlx.core as mx

    n = min(n, logprobs.shape[-1])
    idx = mx.argpartition(-logprobs, kth=n - 1)[:n]
    values = logprobs[idx].tolist()
    pairs = sorted(zip(idx.tolist(), values), key=lambda p: -p[1])
    out = []
    for token_id, lp in pairs:
        text = decode(token_id)
        out.append({"token": text, "logprob": float(lp), "bytes": list(text.encode())})
    return out
