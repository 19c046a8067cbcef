"""The layer split and the plan: pure functions, no MLX, no processes."""

from __future__ import annotations

import pytest
from odyssai.sharding import ModelInfo, NodeResources
from odyssai_shard_pipeline.planning import plan_layers
from odyssai_shard_pipeline.split import (SplitError, counts_of, even_counts, proportional_counts,
                                          ranges_of)
from odyssai_shard_pipeline.strategy import PipelineParallel

GiB = 2**30


def nodes(*memories: int, free: tuple[int, ...] | None = None) -> list[NodeResources]:
    free = free or (0,) * len(memories)
    return [NodeResources(f"m{i + 1}", mem, f) for i, (mem, f) in enumerate(zip(memories, free))]


def test_an_even_split_gives_the_extra_layers_to_the_low_ranks_as_mlx_lm_does():
    assert even_counts(24, 2) == [12, 12]
    assert even_counts(10, 3) == [4, 3, 3]
    assert even_counts(3, 3) == [1, 1, 1]


def test_rank_0_runs_the_last_layers_and_the_last_rank_the_first():
    assert ranges_of([4, 3, 3]) == [(6, 10), (3, 6), (0, 3)]


def test_nodes_with_unknown_or_equal_memory_get_an_even_split():
    plan = plan_layers(24, nodes(0, 0))
    assert [r["layers"] for r in plan.ranks] == [[12, 24], [0, 12]]
    assert plan_layers(10, nodes(64 * GiB, 64 * GiB, 64 * GiB)).ranks == plan_layers(10, nodes(0, 0, 0)).ranks


def test_the_node_with_more_memory_gets_more_layers():
    plan = plan_layers(24, nodes(128 * GiB, 64 * GiB))
    assert [r["num_layers"] for r in plan.ranks] == [16, 8]
    assert [r["layers"] for r in plan.ranks] == [[8, 24], [0, 8]]
    assert plan.ranks[0]["memory_bytes"] == 128 * GiB


def test_layers_follow_memory_in_proportion_over_three_nodes():
    assert proportional_counts(30, [192, 96, 96]) == [15, 8, 7]
    assert proportional_counts(61, [512, 256, 256, 128]) == [27, 14, 13, 7]


def test_equal_weights_split_exactly_like_the_even_split():
    for layers in range(3, 40):
        for n in range(1, 6):
            if layers >= n:
                assert proportional_counts(layers, [7] * n) == even_counts(layers, n)


def test_every_rank_gets_at_least_one_layer_however_small_its_memory():
    assert proportional_counts(3, [1000, 1, 1]) == [1, 1, 1]
    assert proportional_counts(4, [1000, 1, 1]) == [2, 1, 1]
    assert proportional_counts(5, [1, 1000, 1]) == [1, 3, 1]


def test_the_nodes_free_memory_is_what_the_split_follows():
    plan = plan_layers(12, nodes(64 * GiB, 64 * GiB, free=(30 * GiB, 10 * GiB)))
    assert [r["num_layers"] for r in plan.ranks] == [9, 3]
    assert [r["memory_bytes"] for r in plan.ranks] == [30 * GiB, 10 * GiB]
    assert plan.summary.endswith("(split by free memory: m1 30 GiB, m2 10 GiB)")


def test_equal_free_memory_splits_evenly_even_when_the_totals_differ():
    assert [r["num_layers"] for r in plan_layers(12, nodes(128 * GiB, 64 * GiB, free=(20 * GiB, 20 * GiB))).ranks] == [6, 6]


def test_memory_bytes_of_topology_yaml_overrides_what_the_node_read():
    read = [NodeResources("m1", 64 * GiB, 50 * GiB, 32 * GiB), NodeResources("m2", 64 * GiB, 10 * GiB, 96 * GiB)]
    plan = plan_layers(4, read)
    assert [r["num_layers"] for r in plan.ranks] == [1, 3]
    assert plan.summary.endswith("(split by memory: m1 32 GiB, m2 96 GiB)")


def test_total_memory_is_used_when_a_nodes_free_memory_is_unknown():
    assert [r["num_layers"] for r in plan_layers(12, nodes(96 * GiB, 32 * GiB, free=(0, 10 * GiB))).ranks] == [9, 3]


def test_readings_within_ten_percent_of_each_other_split_evenly():
    """Free memory jitters from one reading to the next: alike nodes must not flip the split."""
    for free in [(40 * GiB, 41 * GiB), (41 * GiB, 40 * GiB), (40 * GiB, 44 * GiB)]:
        assert [r["num_layers"] for r in plan_layers(3, nodes(64 * GiB, 64 * GiB, free=free)).ranks] == [2, 1]
    assert [r["num_layers"] for r in plan_layers(3, nodes(64 * GiB, 64 * GiB, free=(40 * GiB, 60 * GiB))).ranks] == [1, 2]


def test_the_split_is_refused_when_there_are_fewer_layers_than_ranks():
    with pytest.raises(SplitError, match="2 layers cannot be split over 3 ranks"):
        even_counts(2, 3)
    with pytest.raises(SplitError, match="at least one layer"):
        proportional_counts(2, [1, 1, 1])
    with pytest.raises(SplitError):
        plan_layers(1, nodes(0, 0))


def test_the_summary_lists_nodes_in_the_order_the_layers_run():
    assert plan_layers(24, nodes(0, 0)).summary == "pipeline: m2 layers 0-11, m1 layers 12-23"
    assert plan_layers(3, nodes(0, 0, 0)).summary == "pipeline: m3 layer 0, m2 layer 1, m1 layer 2"
    by_memory = plan_layers(24, nodes(128 * GiB, 64 * GiB)).summary
    assert by_memory == "pipeline: m2 layers 0-7, m1 layers 8-23 (split by memory: m1 128 GiB, m2 64 GiB)"


def test_the_plan_names_each_ranks_node_and_strategy():
    plan = plan_layers(4, nodes(0, 0))
    assert plan.strategy == "pipeline" and plan.n_ranks == 2
    assert [r["node"] for r in plan.ranks] == ["m1", "m2"]


def test_ranges_turn_back_into_the_split_mlx_lm_pipeline_takes():
    assert counts_of([(6, 10), (3, 6), (0, 3)], 10) == [4, 3, 3]


@pytest.mark.parametrize("ranges", [[(0, 5), (5, 10)], [(5, 10), (0, 4)], [(5, 10), (0, 6)], [(4, 9), (0, 4)]])
def test_ranges_that_do_not_tile_the_layers_in_pipeline_order_are_refused(ranges):
    with pytest.raises(SplitError, match="do not split 10 layers"):
        counts_of(ranges, 10)


def test_the_strategy_plans_with_the_layer_count_a_node_reported():
    info = ModelInfo("m", {"model_type": "llama", "num_hidden_layers": 99},
                     facts={"pipeline": {"num_layers": 6, "own_pipeline": True}})
    plan = PipelineParallel().plan(info, nodes(0, 0))
    assert [r["layers"] for r in plan.ranks] == [[3, 6], [0, 3]]
