"""What a model says when run unsharded in one process with mlx-lm: the reference to compare with."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=8)
def _load(path: str):
    from mlx_lm import load

    return load(path)


def greedy(model_path: Path | str, *, messages: list[dict[str, Any]] | None = None,
           prompt: str | None = None, max_tokens: int = 16) -> tuple[list[int], str]:
    """Greedy token ids and text for a chat (with the model's template) or a raw prompt."""
    import mlx.core as mx
    from mlx_lm.generate import generate_step

    model, tokenizer = _load(str(model_path))
    if messages is not None:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    else:
        ids = tokenizer.encode(prompt)
    out: list[int] = []
    for token, _ in generate_step(mx.array(ids), model, max_tokens=max_tokens,
                                  sampler=lambda x: mx.argmax(x, axis=-1)):
        token = int(token)
        if token in tokenizer.eos_token_ids:
            break
        out.append(token)
    return out, tokenizer.decode(out)
