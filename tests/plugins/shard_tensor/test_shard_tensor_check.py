"""The 'tensor' strategy decides from config.json and the inspected facts whether, and how, a
model splits over N nodes; every refusal says why and what to do instead."""

import pytest

from odyssai.plugins import get_plugin_manager
from odyssai.sharding import ModelInfo, NodeResources
from odyssai_shard_tensor.strategy import TensorParallel, valid_node_counts

tensor = TensorParallel()


def model(heads, kv, arch="Qwen3ForCausalLM", has_shard=True, **extra):
    config = {"model_type": "qwen3", "architectures": [arch], "num_attention_heads": heads,
              "num_key_value_heads": kv, **extra}
    return ModelInfo("m", config, {"tensor": {"has_shard": has_shard}})


def test_qwen3_with_2_kv_heads_over_3_nodes_is_refused_with_the_node_counts_that_work():
    assert tensor.check(model(16, 2), 3) == (
        "Qwen3 with 2 KV heads cannot be split over 3 nodes: use 1 or 2 nodes, or sharding=pipeline")


@pytest.mark.parametrize("n", [1, 2, 4])
def test_heads_that_divide_by_the_node_count_are_accepted(n):
    assert tensor.check(model(8, 4), n) is None


def test_every_working_node_count_is_listed_up_to_the_topology_limit():
    assert tensor.check(model(8, 8, arch="LlamaForCausalLM"), 5) == (
        "Llama with 8 KV heads cannot be split over 5 nodes: use 1, 2, 4 or 8 nodes, or sharding=pipeline")


def test_a_model_with_odd_kv_heads_can_only_use_one_node_or_its_divisors():
    msg = tensor.check(model(6, 3), 2)
    assert msg == "Qwen3 with 3 KV heads cannot be split over 2 nodes: use 1 or 3 nodes, or sharding=pipeline"


def test_a_model_class_without_shard_is_refused_towards_pipeline():
    msg = tensor.check(model(8, 4, arch="DeepseekForCausalLM", has_shard=False), 2)
    assert msg.startswith("Deepseek has no tensor-parallel support in mlx-lm") and "sharding=pipeline" in msg


def test_a_config_without_heads_is_refused():
    info = ModelInfo("m", {"model_type": "mystery"}, {"tensor": {"has_shard": True}})
    assert tensor.check(info, 2) == "mystery: config.json has no num_attention_heads, so it cannot be split by heads"


def test_heads_are_read_from_text_config_of_multimodal_configs():
    info = ModelInfo("m", {"model_type": "qwen3_vl", "architectures": ["Qwen3VLForConditionalGeneration"],
                           "text_config": {"num_attention_heads": 32, "num_key_value_heads": 4}},
                     {"tensor": {"has_shard": True}})
    assert tensor.check(info, 4) is None
    assert "Qwen3VL with 4 KV heads cannot be split over 3 nodes" in tensor.check(info, 3)


def test_missing_kv_heads_means_as_many_as_attention_heads():
    info = ModelInfo("m", {"model_type": "llama", "num_attention_heads": 8}, {})
    assert tensor.check(info, 2) is None and tensor.check(info, 3).startswith("llama with 8 KV heads")


def test_valid_node_counts_are_the_common_divisors_up_to_the_topology_limit():
    assert valid_node_counts(64, 8) == [1, 2, 4, 8]
    assert valid_node_counts(40, 8, limit=5) == [1, 2, 4]


def test_the_plan_gives_every_rank_an_empty_part_and_says_how_heads_split():
    plan = tensor.plan(model(8, 4), [NodeResources("a"), NodeResources("b")])
    assert plan.strategy == "tensor" and plan.n_ranks == 2 and plan.ranks == [{}, {}]
    assert "4 of 8 attention heads and 2 of 4 KV heads per rank" in plan.summary


def test_inspect_tells_whether_the_mlx_lm_class_has_shard():
    from mlx_lm.models import gpt2, llama

    assert tensor.inspect(llama.Model, {})["has_shard"] is True
    assert tensor.inspect(gpt2.Model, {})["has_shard"] is False


def test_the_plugin_registers_tensor_with_priority_100():
    pm = get_plugin_manager()
    strategy = pm.shard_strategies.get("tensor")
    assert isinstance(strategy, TensorParallel) and strategy.priority == 100
    assert pm.shard_strategies.owner("tensor") == "odyssai-shard-tensor"
