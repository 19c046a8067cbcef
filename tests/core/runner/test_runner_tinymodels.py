"""The tiny test models: deterministic, split over files with an index, loadable by mlx-lm."""

import json

import pytest

from support.tinymodels import build_deepseek_v3, build_llama, build_odd_kv_llama, build_qwen3


def test_the_same_seed_writes_the_same_bytes(tmp_path):
    a = build_llama(tmp_path / "a", seed=3)
    b = build_llama(tmp_path / "b", seed=3)
    for name in (*a.files, "config.json", "tokenizer.json", "model.safetensors.index.json"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes(), name


def test_weights_are_split_over_files_named_in_the_index(tmp_path):
    m = build_llama(tmp_path, layers=4, files=3)
    index = json.loads((m.path / "model.safetensors.index.json").read_text())["weight_map"]
    assert sorted(set(index.values())) == list(m.files) and len(m.files) == 3
    assert index["model.embed_tokens.weight"] == m.files[0] and index["lm_head.weight"] == m.files[-1]


@pytest.mark.parametrize("build, kv", [(build_llama, 4), (build_qwen3, 4), (build_odd_kv_llama, 3),
                                       (build_deepseek_v3, 4)])
def test_every_builder_gives_a_model_mlx_lm_loads_and_runs(tmp_path, build, kv):
    import mlx.core as mx
    from mlx_lm.utils import load_model, load_tokenizer

    m = build(tmp_path)
    assert m.config["num_key_value_heads"] == kv
    model, _ = load_model(m.path)
    tok = load_tokenizer(m.path)
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    logits = model(mx.array([ids]))
    assert logits.shape == (1, len(ids), m.config["vocab_size"])
    assert tok.eos_token_id == m.eos_token_id
