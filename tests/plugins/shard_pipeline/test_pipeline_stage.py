"""The pieces of a rank's load, in one process: the plan it reads, the stage it builds, the
checks it makes. (Real multi-rank runs are in test_pipeline_ranks.py.)"""

from __future__ import annotations

import pytest
from odyssai.sharding import ShardPlan
from odyssai_shard_pipeline.loading import (PipelineLoadError, check_local_weights, load_pipeline,
                                            rank_ranges)
from odyssai_shard_pipeline.weights import read_weight_map

from support.pipemodels import generate_batch


def test_a_plan_without_layer_ranges_runs_mlx_lms_even_split():
    assert rank_ranges(ShardPlan("pipeline", 2, []), 5, 2) == [(2, 5), (0, 2)]


def test_a_plan_for_another_number_of_ranks_is_refused():
    plan = ShardPlan("pipeline", 3, [{"layers": [2, 3]}, {"layers": [1, 2]}, {"layers": [0, 1]}])
    with pytest.raises(PipelineLoadError, match="the plan has 3 ranks, the group 2"):
        rank_ranges(plan, 3, 2)


def test_a_plan_whose_ranges_are_not_in_pipeline_order_is_refused():
    plan = ShardPlan("pipeline", 2, [{"layers": [0, 2]}, {"layers": [2, 4]}])
    with pytest.raises(PipelineLoadError, match="rank 1 first, rank 0 last"):
        rank_ranges(plan, 4, 2)


def test_a_stage_keeps_only_its_layers_and_makes_caches_for_them_alone(tiny):
    import mlx.core as mx
    from mlx_lm.models.cache import KVCache, RotatingKVCache, make_prompt_cache
    from mlx_lm.utils import load_model
    from odyssai_shard_pipeline.stage import PipelineStage

    built = tiny("llama_sliding")  # layers: sliding, full, sliding, sliding
    model, _ = load_model(built.model.path, lazy=True)
    inner = model.model
    model.model = PipelineStage(inner, 1, 3, mx.distributed.init())
    assert model.layers == inner.layers[1:3]
    caches = make_prompt_cache(model)
    assert [type(c) for c in caches] == [KVCache, RotatingKVCache]
    assert model.model.embed_tokens is inner.embed_tokens and model.model.norm is inner.norm


def test_one_rank_loads_the_whole_model_from_every_file(tiny):
    from mlx_lm.utils import load_model

    built = tiny("llama_3kv")
    seen = []
    model, report = load_pipeline(built.model.path, None, ShardPlan("pipeline", 1, []), 0,
                                  lambda done, total, what="": seen.append(done))
    assert report.files == sorted(built.files)
    assert seen == [1, 2, 3, 4]
    reference, _ = load_model(built.model.path)
    assert generate_batch(model)["tokens"] == generate_batch(reference)["tokens"]


def test_a_llama_checkpoint_without_a_tensor_of_this_ranks_layers_is_refused(tiny):
    from mlx_lm.utils import load_model

    built = tiny("llama_3kv")
    model, _ = load_model(built.model.path, lazy=True)
    weight_map = read_weight_map(built.model.path)
    check_local_weights(model, weight_map, 1, 3)
    del weight_map["model.layers.2.mlp.up_proj.weight"]
    check_local_weights(model, weight_map, 0, 2)  # not this rank's layer: fine
    with pytest.raises(PipelineLoadError, match=r"no tensor model.layers.2.mlp.up_proj.weight \(layers 1-2 need"):
        check_local_weights(model, weight_map, 1, 3)
