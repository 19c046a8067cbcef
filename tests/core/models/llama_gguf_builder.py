"""Small synthetic Llama GGUF files, written the way llama.cpp's ``convert_hf_to_gguf.py`` does,
and a plain numpy Llama forward pass over the original (HF-layout, dequantized) weights.

The reference never sees the importer's code: it keeps the weights in Hugging Face's layout and
applies rotate-half RoPE, while the file gets llama.cpp's Q/K row permutation and GGUF names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np
from gguf import quants as gq

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 4, 2, 128
HEAD_DIM = HIDDEN // HEADS
THETA, EPS, CONTEXT = 10000.0, 1e-5, 256
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "hello world, hello there, the world is wide",
    "what is the capital of france? paris is the capital of france.",
    "numbers like 2024 and 1999 appear in text",
] * 20

#: kind -> (type of the linear layers, type of the embedding, separate output tensor type or None)
KINDS = {
    "q4_0": ("Q4_0", "Q8_0", None),
    "q4_1": ("Q4_1", "Q8_0", None),
    "q8_0": ("Q8_0", "Q8_0", "Q8_0"),
    "f16": ("F16", "F16", "F16"),
    "f32": ("F32", "F32", None),
}


#: the tensor types the importer takes, which this builder writes with their true values
WRITABLE = {"F32", "F16", "Q4_0", "Q4_1", "Q8_0"}


def train_tokenizer():
    """A byte-level BPE tokenizer of about 300 tokens, the kind a GGUF's gpt2 tokenizer encodes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def llamacpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute (rows of Q with n_head, of K with n_kv_head)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def _roundtrip(w: np.ndarray, type_name: str) -> tuple[np.ndarray, np.ndarray, gguf.GGMLQuantizationType]:
    """(what the file stores, the float32 values it stands for, its ggml type)."""
    qt = gguf.GGMLQuantizationType[type_name]
    if type_name == "F32":
        return w.astype(np.float32), w.astype(np.float32), qt
    if type_name == "F16":
        return w.astype(np.float16), w.astype(np.float16).astype(np.float32), qt
    q = gq.quantize(w.astype(np.float32), qt)
    return q, gq.dequantize(q, qt).astype(np.float32), qt


@dataclass
class SyntheticLlama:
    """A written GGUF and the HF-layout float weights it stands for."""

    path: Path
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # HF names, dequantized
    tied: bool = True
    vocab_size: int = 0


def write_llama_gguf(path: Path, kind: str = "q4_1", *, seed: int = 0, arch: str = "llama",
                     override_type: dict[str, str] | None = None, tokenizer=None,
                     extra_metadata: dict | None = None, pre: str = "default",
                     extra_tensors: dict[str, tuple[str, tuple[int, int]]] | None = None,
                     extra_arrays: dict[str, np.ndarray] | None = None) -> SyntheticLlama:
    """Write a tiny random Llama as a GGUF of the given ``kind`` (a key of KINDS).

    ``override_type`` sets the type of single tensors (GGUF name -> type); ``extra_tensors`` adds
    tensors of random bytes (name -> (type, (rows, cols))), e.g. a K-quant gguf-py cannot make;
    ``extra_arrays`` adds float tensors as given (e.g. ``rope_freqs.weight``).
    """
    rng = np.random.default_rng(seed)
    tok = tokenizer or train_tokenizer()
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    merges = [" ".join(m) if isinstance(m, (list, tuple)) else m
              for m in json.loads(tok.to_str())["model"]["merges"]]
    V = len(tokens)
    lin, emb, out = KINDS[kind]
    override_type = override_type or {}

    w = gguf.GGUFWriter(str(path), arch)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(THETA)
    w.add_layer_norm_rms_eps(EPS)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_vocab_size(V)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab["<|im_start|>"])
    w.add_eos_token_id(vocab["<|im_end|>"])
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    for k, v in (extra_metadata or {}).items():
        if isinstance(v, str):
            w.add_string(k, v)
        elif isinstance(v, float):
            w.add_float32(k, v)
        else:
            w.add_uint32(k, v)

    model = SyntheticLlama(path, tied=out is None, vocab_size=V)

    def put(gguf_name: str, hf_name: str, value: np.ndarray, type_name: str, heads: int | None = None):
        type_name = override_type.get(gguf_name, type_name)
        stored_from = llamacpp_permute(value, heads) if heads else value
        if type_name in WRITABLE:
            stored, _, qt = _roundtrip(stored_from, type_name)
            model.weights[hf_name] = _roundtrip(value, type_name)[1]  # per-row quantization
        else:  # a type the importer refuses: any bytes of the right size will do
            qt = gguf.GGMLQuantizationType[type_name]
            stored = gq.quantize(stored_from.astype(np.float32), qt)
        if type_name in ("F32", "F16"):
            w.add_tensor(gguf_name, stored)
        else:
            w.add_tensor(gguf_name, stored, raw_dtype=qt)

    def norm() -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)

    def linear(o: int, i: int) -> np.ndarray:
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    put("token_embd.weight", "model.embed_tokens.weight",
        (0.5 * rng.standard_normal((V, HIDDEN))).astype(np.float32), emb)
    for i in range(LAYERS):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        put(p + "attn_norm.weight", h + "input_layernorm.weight", norm(), "F32")
        put(p + "attn_q.weight", h + "self_attn.q_proj.weight", linear(HEADS * HEAD_DIM, HIDDEN), lin, HEADS)
        put(p + "attn_k.weight", h + "self_attn.k_proj.weight", linear(KV_HEADS * HEAD_DIM, HIDDEN), lin, KV_HEADS)
        put(p + "attn_v.weight", h + "self_attn.v_proj.weight", linear(KV_HEADS * HEAD_DIM, HIDDEN), lin)
        put(p + "attn_output.weight", h + "self_attn.o_proj.weight", linear(HIDDEN, HEADS * HEAD_DIM), lin)
        put(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", norm(), "F32")
        put(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", linear(FFN, HIDDEN), lin)
        put(p + "ffn_up.weight", h + "mlp.up_proj.weight", linear(FFN, HIDDEN), lin)
        put(p + "ffn_down.weight", h + "mlp.down_proj.weight", linear(HIDDEN, FFN), lin)
    put("output_norm.weight", "model.norm.weight", norm(), "F32")
    if out is not None:
        put("output.weight", "lm_head.weight", linear(V, HIDDEN), out)

    for name, (type_name, (rows, cols)) in (extra_tensors or {}).items():
        qt = gguf.GGMLQuantizationType[type_name]
        block, size = gguf.GGML_QUANT_SIZES[qt]
        w.add_tensor(name, rng.integers(0, 256, (rows, cols // block * size), dtype=np.uint8), raw_dtype=qt)

    for name, array in (extra_arrays or {}).items():
        w.add_tensor(name, array)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model


def reference_logits(model: SyntheticLlama, ids: list[int]) -> np.ndarray:
    """Logits (len(ids), vocab) of a plain float64 Hugging Face-style Llama forward pass."""
    W = {k: v.astype(np.float64) for k, v in model.weights.items()}

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * w

    L = len(ids)
    inv = 1.0 / THETA ** (np.arange(0, HEAD_DIM, 2) / HEAD_DIM)
    ang = np.arange(L)[:, None] * inv[None]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def rope(x):  # (heads, L, hd), rotate-half
        half = HEAD_DIM // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    x = W["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((L, L), -np.inf), 1)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(L, HEADS, HEAD_DIM).transpose(1, 0, 2)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(L, KV_HEADS, HEAD_DIM).transpose(1, 0, 2)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(L, KV_HEADS, HEAD_DIM).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        rep = HEADS // KV_HEADS
        k, v = np.repeat(k, rep, 0), np.repeat(v, rep, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(HEAD_DIM) + mask
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = (a @ v).transpose(1, 0, 2).reshape(L, HIDDEN)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = h @ W[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if model.tied else W["lm_head.weight"]
    return x @ head.T
