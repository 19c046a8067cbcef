"""How a llama.cpp "llama" GGUF maps onto mlx-lm's ``llama`` model: pure functions over plain data.

- ``mlx_name``: GGUF tensor names -> mlx-lm parameter names.
- ``unpermute_rows``: llama.cpp's converter reorders the rows of ``attn_q`` / ``attn_k`` so its
  interleaved ("traditional") RoPE sees the pairs HF's rotate-half RoPE uses; this undoes it.
- ``llama_config``: GGUF metadata -> the ``config.json`` mlx-lm reads.
- ``quantization_config``: the bits and group size of each quantized layer -> the
  ``"quantization"`` entry, with per-layer overrides where a layer differs from the default.
- ``llama3_rope_scaling``: the ``rope_freqs`` tensor Llama 3.1+ files carry -> HF's
  ``rope_scaling`` dict.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np

from .errors import UnsupportedGGUF

_GLOBAL = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLOCK = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
#: tensors that configure the model rather than being weights of it
CONFIG_TENSORS = {"rope_freqs.weight"}
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$")
_GLOBAL_RE = re.compile(r"^([a-z_]+)\.(weight|bias)$")


def mlx_name(gguf_name: str) -> str:
    """The mlx-lm parameter a GGUF tensor becomes (``blk.3.attn_q.weight`` ->
    ``model.layers.3.self_attn.q_proj.weight``); UnsupportedGGUF for one a Llama has no place for."""
    if m := _BLOCK_RE.match(gguf_name):
        layer, part, kind = m.groups()
        if part in _BLOCK:
            return f"model.layers.{layer}.{_BLOCK[part]}.{kind}"
    elif (m := _GLOBAL_RE.match(gguf_name)) and m.group(1) in _GLOBAL:
        return f"{_GLOBAL[m.group(1)]}.{m.group(2)}"
    raise UnsupportedGGUF(f"tensor {gguf_name!r} has no place in a Llama model",
                          hint="only dense Llama-family GGUFs can be imported")


def rope_heads(gguf_name: str, n_head: int, n_head_kv: int) -> int | None:
    """How many heads llama.cpp permuted this tensor's rows over: ``n_head`` for ``attn_q``,
    ``n_head_kv`` for ``attn_k``, None for every other tensor."""
    m = _BLOCK_RE.match(gguf_name)
    if m and m.group(2) == "attn_q":
        return n_head
    if m and m.group(2) == "attn_k":
        return n_head_kv
    return None


def unpermute_rows(n_rows: int, n_head: int) -> np.ndarray:
    """Row order that undoes llama.cpp's Q/K permutation: ``gguf_rows[idx]`` is HF's order.

    The converter does ``w.reshape(n_head, 2, n_rows // n_head // 2, ...).swapaxes(1, 2)`` (row
    ``h, i, j`` of HF lands at ``h, j, i``); the inverse reshapes to ``(n_head, half, 2)`` and swaps
    back. It moves whole rows, so it applies to quantized weights, their scales and biases alike.
    """
    if n_rows % (2 * n_head):
        raise UnsupportedGGUF(f"{n_rows} attention rows do not split into {n_head} heads of pairs")
    half = n_rows // n_head // 2
    return np.arange(n_rows).reshape(n_head, half, 2).swapaxes(1, 2).reshape(n_rows)


def _get(md: dict[str, Any], key: str, default: Any = None, *, required: bool = False) -> Any:
    if key in md:
        return md[key]
    if required:
        raise UnsupportedGGUF(f"the GGUF has no {key!r}, which a Llama model needs")
    return default


def _short(v: float) -> float:
    """A float32 metadata value as the shortest decimal that is that float32 (1e-05, not
    9.99999974e-06): the value the model was configured with."""
    return float(str(np.float32(v)))


def llama_config(md: dict[str, Any], tensor_names: set[str], rope_factors: np.ndarray | None,
                 dtype: str) -> dict[str, Any]:
    """``config.json`` for mlx-lm's ``llama`` model from a GGUF's metadata.

    :param md: the GGUF metadata
    :param tensor_names: the GGUF's tensor names (decides ``tie_word_embeddings``, biases)
    :param rope_factors: the ``rope_freqs.weight`` values, if the file has them
    :param dtype: the dtype the weights are written in (``float16``, ``bfloat16``, ``float32``)
    """
    arch = md.get("general.architecture")
    if arch != "llama":
        raise UnsupportedGGUF(f"architecture {arch!r} is not supported",
                              hint="only general.architecture 'llama' GGUFs can be imported")
    p = "llama."
    if _get(md, p + "expert_count", 0):
        raise UnsupportedGGUF(f"Llama mixture-of-experts ({md[p + 'expert_count']} experts) is not "
                              "supported", hint="only dense Llama-family GGUFs can be imported")
    hidden = int(_get(md, p + "embedding_length", required=True))
    n_head = int(_get(md, p + "attention.head_count", required=True))
    n_kv = _get(md, p + "attention.head_count_kv", n_head)
    if isinstance(n_kv, list) or isinstance(n_head, list):
        raise UnsupportedGGUF("per-layer head counts are not supported")
    head_dim = int(_get(md, p + "attention.key_length", hidden // n_head))
    if int(_get(md, p + "attention.value_length", head_dim)) != head_dim:
        raise UnsupportedGGUF("different key and value head sizes are not supported")
    rot = int(_get(md, p + "rope.dimension_count", head_dim))
    if rot != head_dim:
        raise UnsupportedGGUF(f"partial rotary embeddings ({rot} of {head_dim} dims) are not supported")
    tokens = md.get("tokenizer.ggml.tokens") or []
    vocab = int(_get(md, p + "vocab_size", len(tokens)) or 0)
    if not vocab:
        raise UnsupportedGGUF("the GGUF states no vocabulary size and carries no tokens")
    config: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": int(_get(md, p + "block_count", required=True)),
        "intermediate_size": int(_get(md, p + "feed_forward_length", required=True)),
        "num_attention_heads": n_head,
        "num_key_value_heads": int(n_kv),
        "head_dim": head_dim,
        "rms_norm_eps": _short(_get(md, p + "attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": _short(_get(md, p + "rope.freq_base", 10000.0)),
        "vocab_size": vocab,
        "max_position_embeddings": int(_get(md, p + "context_length", 2048)),
        "tie_word_embeddings": "output.weight" not in tensor_names,
        "attention_bias": "blk.0.attn_q.bias" in tensor_names,
        "mlp_bias": "blk.0.ffn_up.bias" in tensor_names,
        "torch_dtype": dtype,
    }
    scaling = rope_scaling(md, rope_factors, head_dim, config["rope_theta"])
    if scaling:
        config["rope_scaling"] = scaling
    for key, name in (("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")):
        if (v := md.get(f"tokenizer.ggml.{name}_token_id")) is not None:
            config[key] = int(v)
    return config


def eos_token_ids(md: dict[str, Any]) -> list[int]:
    """The tokens that end a turn: ``eos``, plus ``eot`` / ``eom`` where a file names them."""
    ids = [md.get(f"tokenizer.ggml.{k}_token_id") for k in ("eos", "eot", "eom")]
    return list(dict.fromkeys(int(i) for i in ids if i is not None))


def rope_scaling(md: dict[str, Any], rope_factors: np.ndarray | None, head_dim: int,
                 theta: float) -> dict[str, Any] | None:
    """HF's ``rope_scaling`` for the file, or None; UnsupportedGGUF for a kind mlx-lm cannot run."""
    kind = md.get("llama.rope.scaling.type")
    factor = md.get("llama.rope.scaling.factor", md.get("llama.rope.scale_linear"))
    if rope_factors is not None:
        return llama3_rope_scaling(rope_factors, head_dim, theta)
    if kind == "none":
        return None
    if kind in (None, "linear"):
        if factor is None or float(factor) == 1.0:
            return None
        return {"type": "linear", "factor": float(factor)}
    raise UnsupportedGGUF(f"rope scaling {kind!r} is not supported", hint="supported: linear, llama3")


def llama3_factors(head_dim: int, theta: float, factor: float, low: float = 1.0,
                   high: float = 4.0, original: int = 8192) -> np.ndarray:
    """The per-frequency divisors llama.cpp's converter writes as ``rope_freqs`` for Llama 3."""
    freqs = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < original / high:
            out.append(1.0)
        elif wavelen > original / low:
            out.append(factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out)


def llama3_rope_scaling(rope_factors: np.ndarray, head_dim: int, theta: float) -> dict[str, Any] | None:
    """Recover Llama 3's ``rope_scaling`` from the ``rope_freqs`` tensor. The file keeps only the
    divisors, so the known parameter sets are tried (factor 8 for 3.1, 32 for 3.2, with low 1,
    high 4, original context 8192) plus the largest divisor the tensor holds."""
    rope_factors = np.asarray(rope_factors, dtype=np.float64).reshape(-1)
    if rope_factors.shape != (head_dim // 2,):
        raise UnsupportedGGUF(f"rope_freqs.weight has {rope_factors.size} values, not {head_dim // 2}")
    if np.allclose(rope_factors, 1.0):
        return None
    for factor in dict.fromkeys([8.0, 16.0, 32.0, float(round(rope_factors.max(), 4))]):
        for original in (8192, 4096, 16384):
            want = llama3_factors(head_dim, theta, factor, original=original)
            if np.allclose(rope_factors, want, rtol=1e-4, atol=1e-5):
                return {"rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0, "original_max_position_embeddings": original}
    raise UnsupportedGGUF("rope_freqs.weight matches no Llama 3 rope scaling this importer knows")


def quantization_config(layers: dict[str, tuple[int, int] | None]) -> dict[str, Any] | None:
    """The ``"quantization"`` entry of config.json.

    :param layers: mlx-lm module path (``model.layers.0.self_attn.q_proj``) -> ``(bits,
        group_size)``, or None for a layer kept in floating point
    :returns: None when nothing is quantized; else the most common ``(bits, group_size)`` as the
        default, and ``{"bits": .., "group_size": ..}`` for each layer that differs (``False`` for
        an unquantized one), the per-layer form mlx-lm's ``load_model`` reads.
    """
    counts = Counter(v for v in layers.values() if v is not None)
    if not counts:
        return None
    (bits, group), _ = counts.most_common(1)[0]
    q: dict[str, Any] = {"group_size": group, "bits": bits, "mode": "affine"}
    for path, v in sorted(layers.items()):
        if v is None:
            q[path] = False
        elif v != (bits, group):
            q[path] = {"group_size": v[1], "bits": v[0]}
    return q
