"""The pure mapping from a llama GGUF to mlx-lm's llama model: names, Q/K rows, config, quantization."""

from __future__ import annotations

import numpy as np
import pytest

from llama_gguf_builder import llamacpp_permute
from odyssai.models import llama_layout as layout
from odyssai.models.errors import UnsupportedGGUF


def _metadata(**over):
    md = {
        "general.architecture": "llama",
        "llama.embedding_length": 576,
        "llama.block_count": 30,
        "llama.feed_forward_length": 1536,
        "llama.attention.head_count": 9,
        "llama.attention.head_count_kv": 3,
        "llama.rope.freq_base": 100000.0,
        "llama.attention.layer_norm_rms_epsilon": 9.999999747378752e-06,
        "llama.context_length": 8192,
        "llama.vocab_size": 49152,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
    }
    md.update(over)
    return md


def test_unpermute_rows_undoes_llamacpp_q_permutation():
    w = np.random.default_rng(0).standard_normal((4 * 16, 8))
    gguf_rows = llamacpp_permute(w, 4)
    np.testing.assert_array_equal(gguf_rows[layout.unpermute_rows(64, 4)], w)


def test_unpermute_rows_of_one_head_of_eight_reads_evens_then_odds():
    # llama.cpp stores HF rows 0..7 as 0,4,1,5,2,6,3,7; reading them back picks every other row
    assert layout.unpermute_rows(8, 1).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_unpermute_rows_moves_whole_rows_of_quantized_triples():
    rows = np.arange(32)[:, None] * np.ones((1, 3), dtype=int)  # like scales: one row per output
    order = layout.unpermute_rows(32, 2)
    assert (llamacpp_permute(rows, 2)[order] == rows).all()


def test_unpermute_rows_refuses_rows_that_do_not_split_into_heads():
    with pytest.raises(UnsupportedGGUF, match="do not split into 3 heads"):
        layout.unpermute_rows(64, 3)


def test_rope_heads_are_head_count_for_q_and_kv_head_count_for_k():
    assert layout.rope_heads("blk.0.attn_q.weight", 9, 3) == 9
    assert layout.rope_heads("blk.7.attn_k.bias", 9, 3) == 3
    assert layout.rope_heads("blk.0.attn_v.weight", 9, 3) is None


@pytest.mark.parametrize("gguf_name, mlx", [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
    ("blk.12.attn_q.weight", "model.layers.12.self_attn.q_proj.weight"),
    ("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight"),
    ("blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight"),
    ("blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"),
])
def test_mlx_name_maps_gguf_names_to_mlx_lm_parameters(gguf_name, mlx):
    assert layout.mlx_name(gguf_name) == mlx


def test_mlx_name_refuses_a_tensor_a_llama_has_no_place_for():
    with pytest.raises(UnsupportedGGUF, match="blk.0.ffn_gate_exps.weight"):
        layout.mlx_name("blk.0.ffn_gate_exps.weight")


def test_llama_config_carries_the_metadata_mlx_lm_reads():
    c = layout.llama_config(_metadata(), {"token_embd.weight"}, None, "float16")
    assert {k: c[k] for k in ("model_type", "hidden_size", "num_hidden_layers", "intermediate_size",
                              "num_attention_heads", "num_key_value_heads", "head_dim", "rope_theta",
                              "rms_norm_eps", "vocab_size", "max_position_embeddings",
                              "bos_token_id", "eos_token_id")} == {
        "model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
        "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
        "head_dim": 64, "rope_theta": 100000.0, "rms_norm_eps": 1e-05, "vocab_size": 49152,
        "max_position_embeddings": 8192, "bos_token_id": 1, "eos_token_id": 2}


def test_llama_config_ties_embeddings_when_the_file_has_no_output_tensor():
    assert layout.llama_config(_metadata(), {"token_embd.weight"}, None, "float16")["tie_word_embeddings"]
    assert not layout.llama_config(_metadata(), {"output.weight"}, None, "float16")["tie_word_embeddings"]


def test_llama_config_refuses_another_architecture_naming_it():
    with pytest.raises(UnsupportedGGUF, match="architecture 'qwen2' is not supported"):
        layout.llama_config(_metadata(**{"general.architecture": "qwen2"}), set(), None, "float16")


def test_llama_config_refuses_a_llama_mixture_of_experts():
    with pytest.raises(UnsupportedGGUF, match="mixture-of-experts"):
        layout.llama_config(_metadata(**{"llama.expert_count": 8}), set(), None, "float16")


def test_llama_config_refuses_partial_rotary_embeddings():
    with pytest.raises(UnsupportedGGUF, match="partial rotary"):
        layout.llama_config(_metadata(**{"llama.rope.dimension_count": 32}), set(), None, "float16")


def test_linear_rope_scaling_becomes_mlx_lm_linear_scaling():
    md = _metadata(**{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": 4.0})
    assert layout.llama_config(md, set(), None, "float16")["rope_scaling"] == {"type": "linear", "factor": 4.0}


def test_yarn_rope_scaling_is_refused_naming_it():
    md = _metadata(**{"llama.rope.scaling.type": "yarn", "llama.rope.scaling.factor": 4.0})
    with pytest.raises(UnsupportedGGUF, match="'yarn'"):
        layout.llama_config(md, set(), None, "float16")


def test_llama3_rope_scaling_is_recovered_from_rope_freqs():
    factors = layout.llama3_factors(64, 500000.0, 32.0)  # what convert_hf_to_gguf writes for Llama 3.2
    assert layout.llama3_rope_scaling(factors.astype(np.float32), 64, 500000.0) == {
        "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192}


def test_rope_freqs_matching_no_llama3_scaling_are_refused():
    with pytest.raises(UnsupportedGGUF, match="rope_freqs"):
        layout.llama3_rope_scaling(np.linspace(1, 3, 32), 64, 500000.0)


def test_eos_token_ids_add_the_end_of_turn_token():
    md = {"tokenizer.ggml.eos_token_id": 128001, "tokenizer.ggml.eot_token_id": 128009}
    assert layout.eos_token_ids(md) == [128001, 128009]


def test_quantization_config_defaults_to_the_commonest_and_overrides_the_rest():
    q = layout.quantization_config({
        "model.embed_tokens": (8, 32),
        "model.layers.0.self_attn.q_proj": (4, 32),
        "model.layers.0.mlp.up_proj": (4, 32),
        "lm_head": None,
    })
    assert q == {"group_size": 32, "bits": 4, "mode": "affine",
                 "model.embed_tokens": {"group_size": 32, "bits": 8}, "lm_head": False}


def test_quantization_config_is_none_when_nothing_is_quantized():
    assert layout.quantization_config({"model.embed_tokens": None, "lm_head": None}) is None
