"""Tiny random-weight models, built on disk in well under a second, for runner and API tests.

Each builder writes a directory that ``mlx_lm`` loads like a real checkpoint::

    config.json                         the model (Llama / Qwen3 / DeepSeek-V3 style)
    model-0000i-of-0000n.safetensors    weights split over several files
    model.safetensors.index.json        {"weight_map": {tensor: file}}
    tokenizer.json                      a byte-level BPE trained here on a built-in text
    tokenizer_config.json               eos token and a ChatML-style chat template

Everything is seeded: the same arguments give the same bytes. The weights are scaled so the
logits are far apart (greedy decoding does not hinge on float rounding), and the special
tokens' output rows are zero, so a model never stops on its own before ``max_tokens``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

BOS = "<|endoftext|>"
EOS = "<|im_end|>"
SPECIAL_TOKENS = [BOS, "<|im_start|>", EOS, "<|pad|>"]
VOCAB_SIZE = 400
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_TRAINING_TEXT = """
The cluster spreads one model across several machines. Each node runs a runner; the runners
stay in lockstep while the orchestrator routes requests to them. A ring of sockets carries the
tensors between the nodes, and every rank computes its part of each layer before the partial
results are summed. When a cable is pulled the collective fails, and the orchestrator tears the
cluster down and tells the user what to do next. Hello world! How are you today? I am fine,
thank you. The quick brown fox jumps over the lazy dog. Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100.
Once upon a time there was a small model that wanted to be large. It learned to count, to
spell, and to say hello in many languages: bonjour, hola, hallo, ciao, ola, namaste, konnichiwa.
Questions and answers, users and assistants, systems and messages: the chat goes on and on.
"""


@dataclass(frozen=True)
class TinyModel:
    """A model written by a builder: where it is and what it claims."""

    name: str
    path: Path
    config: dict[str, Any]
    files: tuple[str, ...]

    @property
    def eos_token_id(self) -> int:
        return int(self.config["eos_token_id"])


# --------------------------------------------------------------------------------------------
# tokenizer
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def tokenizer_json() -> str:
    """The tiny tokenizer as ``tokenizer.json`` text (trained once per process)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([_TRAINING_TEXT] * 4, trainer=trainer)
    return tok.to_str()


def write_tokenizer(path: Path) -> int:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` into ``path``; return the vocab size."""
    text = tokenizer_json()
    (path / "tokenizer.json").write_text(text)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": EOS,
        "pad_token": "<|pad|>",
        "unk_token": None,
        "add_bos_token": False,
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": 2048,
        "clean_up_tokenization_spaces": False,
    }
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    from tokenizers import Tokenizer

    return Tokenizer.from_str(text).get_vocab_size(with_added_tokens=True)


def special_token_id(token: str) -> int:
    for t in json.loads(tokenizer_json())["added_tokens"]:
        if t["content"] == token:
            return int(t["id"])
    raise KeyError(token)


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------

def _random_value(name: str, shape: tuple[int, ...], rng: np.random.Generator,
                  special: list[int]) -> np.ndarray:
    if len(shape) == 1:
        fill = 1.0 if "norm" in name else 0.0
        return np.full(shape, fill, dtype=np.float32)
    if name.endswith("embed_tokens.weight"):
        return rng.normal(0.0, 1.0, shape).astype(np.float32)
    if name.endswith("lm_head.weight"):
        w = rng.normal(0.0, 0.6, shape).astype(np.float32)
        w[special] = 0.0  # special-token logits are 0 while others spread to ±10: never chosen
        return w
    return rng.normal(0.0, 1.0 / np.sqrt(shape[-1]), shape).astype(np.float32)


def _parameter_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of every parameter, as mlx-lm's own class for this config has them."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import _get_classes

    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    return {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}


def _layer_of(name: str) -> int | None:
    parts = name.split(".")
    if "layers" in parts:
        i = parts.index("layers")
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


def write_weights(path: Path, config: dict[str, Any], *, files: int, seed: int) -> tuple[str, ...]:
    """Random weights for ``config`` split by layer over ``files`` safetensors files + index."""
    import mlx.core as mx

    shapes = _parameter_shapes(config)
    rng = np.random.default_rng(seed)
    special = [special_token_id(t) for t in SPECIAL_TOKENS]
    n_layers = int(config["num_hidden_layers"])
    files = max(1, min(files, n_layers + 1))
    names = [f"model-{i + 1:05d}-of-{files:05d}.safetensors" for i in range(files)]

    def file_of(name: str) -> int:
        layer = _layer_of(name)
        if layer is None:  # embeddings first, final norm and head last
            return 0 if "embed" in name else files - 1
        return min(files - 1, layer * files // n_layers)

    shards: list[dict[str, Any]] = [{} for _ in names]
    weight_map = {}
    total = 0
    for name in sorted(shapes):
        value = _random_value(name, shapes[name], rng, special)
        shards[file_of(name)][name] = mx.array(value)
        weight_map[name] = names[file_of(name)]
        total += value.nbytes
    for fname, tensors in zip(names, shards):
        mx.save_safetensors(str(path / fname), tensors, metadata={"format": "mlx"})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    return tuple(names)


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------

def build_model(models_dir: Path, name: str, config: dict[str, Any], *, files: int = 3,
                seed: int = 0) -> TinyModel:
    """Write a model called ``name`` under ``models_dir`` from a full ``config``."""
    path = Path(models_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    vocab = write_tokenizer(path)
    config = {"vocab_size": vocab, "eos_token_id": special_token_id(EOS),
              "bos_token_id": special_token_id(BOS), **config}
    (path / "config.json").write_text(json.dumps(config, indent=1))
    written = write_weights(path, config, files=files, seed=seed)
    return TinyModel(name, path, config, written)


def build_llama(models_dir: Path, name: str = "tiny-llama", *, layers: int = 2, hidden: int = 64,
                heads: int = 8, kv_heads: int = 4, intermediate: int = 128, files: int = 3,
                seed: int = 0, **overrides: Any) -> TinyModel:
    """A Llama-style model (default: 8 attention heads, 4 KV heads, hidden 64, 2 layers)."""
    config = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": intermediate,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 512,
        "tie_word_embeddings": False, "torch_dtype": "float32",
    }
    return build_model(models_dir, name, {**config, **overrides}, files=files, seed=seed)


def build_qwen3(models_dir: Path, name: str = "tiny-qwen3", *, layers: int = 2, hidden: int = 64,
                heads: int = 8, kv_heads: int = 4, head_dim: int = 16, intermediate: int = 128,
                files: int = 3, seed: int = 0, **overrides: Any) -> TinyModel:
    """A Qwen3-style model (q/k norms, explicit head_dim)."""
    config = {
        "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"],
        "hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": intermediate,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 512,
        "tie_word_embeddings": False, "torch_dtype": "float32",
    }
    return build_model(models_dir, name, {**config, **overrides}, files=files, seed=seed)


def build_odd_kv_llama(models_dir: Path, name: str = "tiny-llama-3kv", **kw: Any) -> TinyModel:
    """6 attention heads over 3 KV heads: cannot be tensor-split over 2 ranks (pipeline can)."""
    kw = {"heads": 6, "kv_heads": 3, "hidden": 96, "layers": 3, **kw}
    return build_llama(models_dir, name, **kw)


def build_deepseek_v3(models_dir: Path, name: str = "tiny-deepseek-v3", *, layers: int = 3,
                      files: int = 3, seed: int = 0, **overrides: Any) -> TinyModel:
    """A DeepSeek-V3-style MoE with MLA attention (first layer dense, the rest MoE)."""
    config = {
        "model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"],
        "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
        "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 4,
        "n_shared_experts": 1, "n_routed_experts": 4, "num_experts_per_tok": 2,
        "routed_scaling_factor": 1.0, "kv_lora_rank": 16, "q_lora_rank": 32,
        "qk_rope_head_dim": 8, "v_head_dim": 16, "qk_nope_head_dim": 16,
        "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": True,
        "n_group": 1, "topk_group": 1, "moe_layer_freq": 1, "first_k_dense_replace": 1,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "torch_dtype": "float32",
    }
    return build_model(models_dir, name, {**config, **overrides}, files=files, seed=seed)


def rewrite_config(model: TinyModel | Path, **changes: Any) -> dict[str, Any]:
    """Change keys of a built model's ``config.json`` (e.g. to make it disagree with the weights)."""
    path = model.path if isinstance(model, TinyModel) else Path(model)
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return config
