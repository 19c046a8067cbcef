"""Real pipelines: 2 or 3 local processes joined by the ring backend, each holding only its own
weight files, generate the same greedy tokens as the unsharded model in one process."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def assert_same_as_unsharded(outputs, built):
    want = built.reference()
    for out in outputs:
        assert out.result["tokens"] == want["tokens"], f"rank {out.rank} generated other tokens"
        assert out.result["logprobs"] == outputs[0].result["logprobs"], f"rank {out.rank}'s logits differ from rank 0's"
    for got, expected in zip(outputs[0].result["logprobs"], want["logprobs"]):
        np.testing.assert_allclose(np.array(got), np.array(expected), atol=1e-4)


def assert_each_rank_read_only_its_files(outputs, built, plan):
    for out in outputs:
        start, end = plan.ranks[out.rank]["layers"]
        assert out.runs == [start, end]
        assert out.local_layers == end - start
        assert out.files == built.files_of(start, end)


def test_deepseek_v3_over_two_ranks_generates_what_the_unsharded_model_does(tiny, pipeline):
    built = tiny("deepseek_v3")
    plan = built.plan(2)
    assert plan.summary == "pipeline: node1 layers 0-1, node0 layers 2-3"
    outputs = pipeline.run(built, plan)
    assert_each_rank_read_only_its_files(outputs, built, plan)
    assert_same_as_unsharded(outputs, built)


def test_deepseek_v3_over_three_ranks_generates_what_the_unsharded_model_does(tiny, pipeline):
    built = tiny("deepseek_v3")
    plan = built.plan(3)
    assert [r["layers"] for r in plan.ranks] == [[2, 4], [1, 2], [0, 1]]
    outputs = pipeline.run(built, plan)
    assert_each_rank_read_only_its_files(outputs, built, plan)
    assert outputs[1].files == sorted([built.files[0], built.files[2], built.files[-1]])
    assert_same_as_unsharded(outputs, built)


def test_a_llama_with_3_kv_heads_over_two_ranks_generates_what_the_unsharded_model_does(tiny, pipeline):
    built = tiny("llama_3kv")
    assert built.model.config["num_key_value_heads"] == 3
    plan = built.plan(2)
    outputs = pipeline.run(built, plan)
    assert_each_rank_read_only_its_files(outputs, built, plan)
    assert_same_as_unsharded(outputs, built)
    assert [tuple(p) for p in outputs[0].progress] == [(1, 3, "layer 1 (1/2 on this rank)"),
                                                      (2, 3, "layer 2 (2/2 on this rank)"),
                                                      (3, 3, "embeddings, norm and head")]


def test_a_qwen3_with_3_kv_heads_over_two_ranks_generates_what_the_unsharded_model_does(tiny, pipeline):
    built = tiny("qwen3_3kv")
    plan = built.plan(2)
    outputs = pipeline.run(built, plan)
    assert_each_rank_read_only_its_files(outputs, built, plan)
    assert_same_as_unsharded(outputs, built)


def test_a_tied_llama_with_sliding_window_layers_over_three_ranks_generates_what_the_unsharded_model_does(tiny, pipeline):
    built = tiny("llama_sliding")
    plan = built.plan(3)
    assert [r["layers"] for r in plan.ranks] == [[2, 4], [1, 2], [0, 1]]  # sliding only / full only / sliding only
    outputs = pipeline.run(built, plan)
    assert_each_rank_read_only_its_files(outputs, built, plan)
    assert_same_as_unsharded(outputs, built)


def test_a_single_file_checkpoint_without_index_like_smollm2_is_read_whole_by_every_rank(tiny, pipeline):
    built = tiny("smollm2_like")
    plan = built.plan(2)
    outputs = pipeline.run(built, plan)
    assert [out.files for out in outputs] == [list(built.files)] * 2
    assert [out.local_layers for out in outputs] == [2, 1]
    assert_same_as_unsharded(outputs, built)
