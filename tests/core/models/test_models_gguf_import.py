"""import_gguf end to end on synthetic Llama GGUFs: the imported model loads with mlx_lm and
computes what the original weights compute.

Tolerances (logits are up to ~15 in size here):
- ``EXACT_TOL = 1e-4``: the import itself is lossless, so with the model cast to float32 its
  logits match a float64 numpy forward over the original (HF-layout, dequantized) weights to
  float32 rounding (measured: ~1e-5).
- ``AS_LOADED_TOL = 5e-2``: as ``mlx_lm.load`` gives it, MLX evaluates quantized layers with the
  file's float16 scales, so the embedding rows come out in float16 (measured: ~2e-2).
"""

from __future__ import annotations

import json

import mlx.core as mx
import mlx.nn as nn
import mlx_lm
import numpy as np
import pytest
from mlx_lm.utils import load_model

from llama_gguf_builder import HEAD_DIM, KINDS, THETA, reference_logits
from odyssai.models.llama_layout import llama3_factors
from odyssai.models.errors import ModelExists, UnsupportedGGUF
from odyssai.models.gguf import import_gguf

EXACT_TOL = 1e-4
AS_LOADED_TOL = 5e-2
PROMPTS = [[5], [10, 50, 100, 200, 7], list(range(3, 40, 3))]


def _logits(model, ids):
    return np.array(model(mx.array([ids]))[0].astype(mx.float32))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_imported_model_computes_the_original_weights_logits(make_gguf, models_dir, kind):
    src = make_gguf(kind)
    model, _ = load_model(import_gguf(src.path, models_dir, kind))
    model.set_dtype(mx.float32)
    for ids in PROMPTS:
        assert np.abs(_logits(model, ids) - reference_logits(src, ids)).max() <= EXACT_TOL


@pytest.mark.parametrize("kind", ["q4_0", "q4_1", "q8_0"])
def test_imported_model_as_loaded_matches_the_reference_within_float16_rounding(make_gguf, models_dir, kind):
    src = make_gguf(kind)
    model, _ = mlx_lm.load(str(import_gguf(src.path, models_dir, kind)))
    for ids in PROMPTS:
        assert np.abs(_logits(model, ids) - reference_logits(src, ids)).max() <= AS_LOADED_TOL


def test_quantized_layers_stay_quantized_with_the_gguf_bits(make_gguf, models_dir):
    model, _ = load_model(import_gguf(make_gguf("q4_1").path, models_dir, "m"))
    q = model.model.layers[0].self_attn.q_proj
    e = model.model.embed_tokens
    assert (type(q), q.bits, q.group_size) == (nn.QuantizedLinear, 4, 32)
    assert (type(e), e.bits, e.group_size) == (nn.QuantizedEmbedding, 8, 32)


def test_config_names_the_embedding_bits_as_a_per_layer_override(make_gguf, models_dir):
    config = json.loads((import_gguf(make_gguf("q4_1").path, models_dir, "m") / "config.json").read_text())
    assert config["quantization"] == {"group_size": 32, "bits": 4, "mode": "affine",
                                      "model.embed_tokens": {"group_size": 32, "bits": 8}}


def test_an_unquantized_import_has_no_quantization_entry(make_gguf, models_dir):
    config = json.loads((import_gguf(make_gguf("f16").path, models_dir, "m") / "config.json").read_text())
    assert "quantization" not in config and config["tie_word_embeddings"] is False


def test_index_maps_every_weight_to_the_file_that_holds_it(make_gguf, models_dir):
    out = import_gguf(make_gguf("q4_1").path, models_dir, "m")
    weight_map = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    held = {k: "model.safetensors" for k in mx.load(str(out / "model.safetensors"))}
    assert weight_map == held


def test_a_small_shard_limit_writes_several_files_that_load_the_same_model(make_gguf, models_dir):
    src = make_gguf("q4_0")
    out = import_gguf(src.path, models_dir, "m", max_shard_bytes=20_000)
    files = sorted(p.name for p in out.glob("model*.safetensors"))
    weight_map = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    model, _ = load_model(out)
    model.set_dtype(mx.float32)
    assert len(files) > 1 and sorted(set(weight_map.values())) == files
    assert np.abs(_logits(model, PROMPTS[1]) - reference_logits(src, PROMPTS[1])).max() <= EXACT_TOL


def test_the_chat_template_reaches_the_mlx_lm_tokenizer(make_gguf, models_dir):
    _, tok = mlx_lm.load(str(import_gguf(make_gguf("q8_0").path, models_dir, "m")))
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                   tokenize=False)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_eos_and_bos_come_from_the_gguf(make_gguf, models_dir, bpe_tokenizer):
    _, tok = mlx_lm.load(str(import_gguf(make_gguf("q8_0").path, models_dir, "m")))
    assert tok.eos_token_ids == {bpe_tokenizer.token_to_id("<|im_end|>")}
    assert tok.bos_token == "<|im_start|>"


def test_llama3_rope_freqs_become_llama3_rope_scaling(make_gguf, models_dir):
    factors = llama3_factors(HEAD_DIM, THETA, 8.0).astype(np.float32)
    src = make_gguf("q8_0", extra_arrays={"rope_freqs.weight": factors})
    out = import_gguf(src.path, models_dir, "m")
    config = json.loads((out / "config.json").read_text())
    assert config["rope_scaling"]["rope_type"] == "llama3" and config["rope_scaling"]["factor"] == 8.0
    assert "rope_freqs.weight" not in json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]


def test_another_architecture_is_refused_naming_it(make_gguf, models_dir):
    with pytest.raises(UnsupportedGGUF, match="architecture 'qwen2' is not supported"):
        import_gguf(make_gguf("q4_0", arch="qwen2").path, models_dir, "m")


def test_an_unsupported_tensor_type_is_refused_naming_the_type_and_a_tensor(make_gguf, models_dir):
    src = make_gguf("q4_0", override_type={"blk.1.ffn_down.weight": "Q5_0"})
    with pytest.raises(UnsupportedGGUF, match=r"tensor type Q5_0 \(1 tensor, e.g. blk.1.ffn_down.weight\) is not supported"):
        import_gguf(src.path, models_dir, "m")


def test_a_k_quant_mx_load_would_silently_dequantize_is_refused(make_gguf, models_dir):
    src = make_gguf("q4_0", extra_tensors={"output.weight": ("Q6_K", (300, 256))})
    with pytest.raises(UnsupportedGGUF, match="Q6_K"):
        import_gguf(src.path, models_dir, "m")


def test_the_error_is_one_line(make_gguf, models_dir):
    src = make_gguf("q4_0", override_type={"blk.0.attn_q.weight": "Q5_1", "blk.0.attn_k.weight": "Q5_0"})
    with pytest.raises(UnsupportedGGUF) as e:
        import_gguf(src.path, models_dir, "m")
    assert "\n" not in str(e.value) and "Q5_0" in str(e.value) and "Q5_1" in str(e.value)


def test_a_refused_import_leaves_nothing_behind(make_gguf, models_dir):
    with pytest.raises(UnsupportedGGUF):
        import_gguf(make_gguf("q4_0", arch="qwen2").path, models_dir, "m")
    assert not models_dir.exists() or list(models_dir.iterdir()) == []


def test_importing_over_an_existing_model_is_refused(make_gguf, models_dir):
    src = make_gguf("q8_0")
    import_gguf(src.path, models_dir, "m")
    with pytest.raises(ModelExists, match="already exists"):
        import_gguf(src.path, models_dir, "m")


def test_overwrite_replaces_an_existing_model(make_gguf, models_dir):
    import_gguf(make_gguf("q8_0").path, models_dir, "m")
    out = import_gguf(make_gguf("q4_0").path, models_dir, "m", overwrite=True)
    assert json.loads((out / "config.json").read_text())["quantization"]["bits"] == 4
    assert sorted(p.name for p in models_dir.iterdir()) == ["m"]


def test_the_default_name_is_the_file_name_without_gguf(make_gguf, models_dir):
    src = make_gguf("q8_0")
    assert import_gguf(src.path, models_dir).name == src.path.name[:-len(".gguf")]


def test_progress_climbs_to_the_total_bytes(make_gguf, models_dir):
    calls = []
    import_gguf(make_gguf("q4_1").path, models_dir, "m", progress=lambda d, t, w: calls.append((d, t, w)))
    sized = [(d, t) for d, t, _ in calls if t]
    assert [d for d, _ in sized] == sorted(d for d, _ in sized)
    assert sized[-1][0] == sized[-1][1] > 0 and calls[-1][2] == "imported m"
