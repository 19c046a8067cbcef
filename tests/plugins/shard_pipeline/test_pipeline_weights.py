"""Which weight files a rank reads: a pure function over model.safetensors.index.json."""

from __future__ import annotations

import json

import pytest
from odyssai_shard_pipeline.loading import PipelineLoadError, files_to_read
from odyssai_shard_pipeline.weights import files_for_layers, layer_of, missing_layers

WEIGHT_MAP = {
    "model.embed_tokens.weight": "model-00001-of-00005.safetensors",
    "model.layers.0.self_attn.q_proj.weight": "model-00001-of-00005.safetensors",
    "model.layers.0.mlp.down_proj.weight": "model-00002-of-00005.safetensors",
    "model.layers.1.self_attn.q_proj.weight": "model-00002-of-00005.safetensors",
    "model.layers.2.self_attn.q_proj.weight": "model-00003-of-00005.safetensors",
    "model.layers.3.self_attn.q_proj.weight": "model-00004-of-00005.safetensors",
    "model.layers.3.mlp.experts.7.up_proj.weight": "model-00004-of-00005.safetensors",
    "model.norm.weight": "model-00005-of-00005.safetensors",
    "lm_head.weight": "model-00005-of-00005.safetensors",
}


def test_a_tensor_belongs_to_the_layer_its_name_says():
    assert layer_of("model.layers.12.mlp.gate_proj.weight") == 12
    assert layer_of("layers.3.attention.wq.weight") == 3
    assert layer_of("model.embed_tokens.weight") is None
    assert layer_of("model.norm.weight") is None


def test_a_rank_reads_its_layers_files_and_the_shared_ones_only():
    assert files_for_layers(WEIGHT_MAP, 2, 4) == ["model-00001-of-00005.safetensors",
                                                  "model-00003-of-00005.safetensors",
                                                  "model-00004-of-00005.safetensors",
                                                  "model-00005-of-00005.safetensors"]


def test_a_layer_split_over_two_files_needs_both():
    assert files_for_layers(WEIGHT_MAP, 0, 1) == ["model-00001-of-00005.safetensors",
                                                  "model-00002-of-00005.safetensors",
                                                  "model-00005-of-00005.safetensors"]


def test_the_ranks_of_a_pipeline_read_every_file_between_them_and_share_only_the_shared_ones():
    first, last = set(files_for_layers(WEIGHT_MAP, 0, 2)), set(files_for_layers(WEIGHT_MAP, 2, 4))
    assert first | last == set(WEIGHT_MAP.values())
    assert first & last == {"model-00001-of-00005.safetensors", "model-00005-of-00005.safetensors"}


def test_layers_without_any_tensor_are_reported():
    assert missing_layers(WEIGHT_MAP, 4) == []
    assert missing_layers(WEIGHT_MAP, 6) == [4, 5]


def write_index(path, weight_map):
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    for f in set(weight_map.values()):
        (path / f).write_bytes(b"")


def test_a_rank_whose_file_is_not_on_its_node_is_told_which_file(tmp_path):
    write_index(tmp_path / "m", WEIGHT_MAP)
    (tmp_path / "m" / "model-00004-of-00005.safetensors").unlink()
    assert files_to_read(tmp_path / "m", 0, 2, 4, whole=False)[0] == files_for_layers(WEIGHT_MAP, 0, 2)
    with pytest.raises(PipelineLoadError, match="layers 2-3 need model-00004-of-00005.safetensors, which is not in"):
        files_to_read(tmp_path / "m", 2, 4, 4, whole=False)


def test_a_checkpoint_missing_a_layer_is_refused_before_loading(tmp_path):
    write_index(tmp_path / "m", WEIGHT_MAP)
    with pytest.raises(PipelineLoadError, match=r"no weights for layers \[4\]"):
        files_to_read(tmp_path / "m", 0, 3, 5, whole=False)


def test_several_weight_files_without_an_index_cannot_be_split(tmp_path):
    (tmp_path / "m").mkdir()
    for f in ("model-1.safetensors", "model-2.safetensors"):
        (tmp_path / "m" / f).write_bytes(b"")
    with pytest.raises(PipelineLoadError, match="no model.safetensors.index.json"):
        files_to_read(tmp_path / "m", 0, 1, 2, whole=False)
    assert files_to_read(tmp_path / "m", 0, 2, 2, whole=True)[0] == ["model-1.safetensors", "model-2.safetensors"]
