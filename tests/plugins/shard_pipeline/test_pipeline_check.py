"""Whether the 'pipeline' strategy accepts a model, what a node reports for it, and why not."""

from __future__ import annotations

import pytest
from odyssai.plugins import get_plugin_manager
from odyssai.selection import choose_strategy
from odyssai.sharding import ModelInfo
from odyssai_shard_pipeline.strategy import PipelineParallel

STRATEGY = PipelineParallel()
BASE = {"hidden_size": 32, "num_hidden_layers": 3, "intermediate_size": 64, "num_attention_heads": 6,
        "num_key_value_heads": 3, "head_dim": 8, "rms_norm_eps": 1e-5, "vocab_size": 100,
        "rope_theta": 10000.0, "max_position_embeddings": 256, "tie_word_embeddings": True}


def inspected(model_type: str, **config) -> ModelInfo:
    """A model as the orchestrator sees it after a node ran ``inspect`` on mlx-lm's class."""
    from mlx_lm.utils import _get_classes

    config = {**BASE, "model_type": model_type, **config}
    facts = STRATEGY.inspect(_get_classes(config)[0], config)
    return ModelInfo(f"tiny-{model_type}", config, facts={"pipeline": facts})


def test_a_model_whose_mlx_lm_class_has_pipeline_mixin_is_accepted():
    info = inspected("qwen2")
    assert info.facts["pipeline"]["pipeline_mixin"] is True
    assert STRATEGY.check(info, 3) is None


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen3"])
def test_the_families_the_plugin_pipelines_itself_are_accepted(model_type):
    info = inspected(model_type)
    assert info.facts["pipeline"]["own_pipeline"] is True
    assert STRATEGY.check(info, 2) is None


def test_a_node_reports_the_layers_mlx_lm_builds():
    facts = inspected("llama", num_hidden_layers=5).facts["pipeline"]
    assert facts["num_layers"] == 5 and facts["model_class"] == "mlx_lm.models.llama.Model"


def test_a_family_without_pipeline_mixin_is_refused_with_what_to_do():
    reason = STRATEGY.check(inspected("phi3", architectures=["Phi3ForCausalLM"]), 2)
    assert reason == ("Phi3 cannot be split into a pipeline: mlx-lm's mlx_lm.models.phi3.Model has no "
                      "PipelineMixin, and this plugin pipelines only llama, mistral, qwen3 models itself: "
                      "use sharding=tensor")


def test_fewer_layers_than_nodes_is_refused_with_the_node_count_that_works():
    info = inspected("llama", num_hidden_layers=2, architectures=["LlamaForCausalLM"])
    assert STRATEGY.check(info, 2) is None
    assert STRATEGY.check(info, 3) == ("Llama has 2 layers, fewer than the 3 nodes: a pipeline needs at least "
                                       "one layer per node: use at most 2 nodes, or sharding=tensor")


def test_a_model_mlx_lm_cannot_build_from_its_config_is_refused_with_the_error():
    from mlx_lm.utils import _get_classes

    config = {k: v for k, v in {**BASE, "model_type": "qwen3"}.items() if k != "max_position_embeddings"}
    info = ModelInfo("m", config, facts={"pipeline": STRATEGY.inspect(_get_classes(config)[0], config)})
    assert STRATEGY.check(info, 2) == ("mlx-lm cannot build qwen3 from its config.json: TypeError: "
                                       "ModelArgs.__init__() missing 1 required positional argument: "
                                       "'max_position_embeddings'")


def test_a_strategy_error_on_the_node_is_the_reason():
    info = ModelInfo("m", {"model_type": "llama", "num_hidden_layers": 4},
                     facts={"pipeline": {"error": "RuntimeError: boom"}})
    assert STRATEGY.check(info, 2) == "inspecting llama on the node failed: RuntimeError: boom"


def test_without_node_facts_only_the_plugins_own_families_are_known():
    assert STRATEGY.check(ModelInfo("m", {"model_type": "llama", "num_hidden_layers": 4}), 2) is None
    reason = STRATEGY.check(ModelInfo("m", {"model_type": "deepseek_v3", "num_hidden_layers": 4}), 2)
    assert reason == ("no node said whether mlx-lm's 'deepseek_v3' model has PipelineMixin "
                      "(is odyssai-shard-pipeline installed on the nodes?)")


def test_a_config_without_a_layer_count_is_refused():
    reason = STRATEGY.check(ModelInfo("m", {"model_type": "llama"}), 2)
    assert reason == "llama: config.json has no num_hidden_layers, so it cannot be split by layers"


def test_the_strategy_is_registered_by_its_distribution_below_tensor():
    pm = get_plugin_manager()
    assert pm.shard_strategies.get("pipeline").priority < 100
    assert pm.shard_strategies.owner("pipeline") == "odyssai-shard-pipeline"


def test_by_default_kv_heads_that_do_not_divide_by_the_nodes_fall_back_to_pipeline():
    pm = get_plugin_manager()
    if pm.shard_strategies.get("tensor") is None:
        pytest.skip("odyssai-shard-tensor is not installed")
    odd = inspected("llama", num_attention_heads=6, num_key_value_heads=3)
    assert choose_strategy(pm, odd, 2, None).name == "pipeline"
    even = inspected("llama", num_attention_heads=8, num_key_value_heads=4)
    assert choose_strategy(pm, even, 2, None).name == "tensor"
