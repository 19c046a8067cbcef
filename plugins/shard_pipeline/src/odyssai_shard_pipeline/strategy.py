"""The 'pipeline' strategy: each rank runs a contiguous block of layers, activations flow from
rank to rank, and every rank gets the final hidden state.

No constraint on heads (a model whose KV heads do not divide by the node count splits fine);
the layers must be at least as many as the ranks. Accepted for models whose mlx-lm class has
``PipelineMixin`` and for the families this plugin pipelines itself (``families``).
"""

from __future__ import annotations

from typing import Any

from odyssai.sharding import LoadReport, ModelInfo, NodeResources, Progress, ShardPlan, ShardStrategy

from .families import OWN_MODEL_TYPES, config_num_layers, how_pipelined, inspect_class
from .planning import STRATEGY, plan_layers


def display_name(model: ModelInfo) -> str:
    """How the user knows the model family: 'DeepseekV3', 'Llama', else the model_type."""
    arch = model.config.get("architectures") or []
    name = str(arch[0] if isinstance(arch, list) and arch else arch or model.model_type)
    for suffix in ("ForCausalLM", "ForConditionalGeneration", "LMHeadModel"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def num_layers(model: ModelInfo) -> int:
    """The layer count a node built (its facts), else config.json's."""
    facts = model.facts.get(STRATEGY) or {}
    return int(facts.get("num_layers") or config_num_layers(model.config))


class PipelineParallel(ShardStrategy):
    name = STRATEGY
    priority = 50  # below tensor (100): tensor when it accepts, else pipeline
    description = ("contiguous blocks of layers per rank (PipelineMixin, or Llama/Qwen3 by this "
                   "plugin); no head-count constraint, at least one layer per rank")

    # -- runner side --------------------------------------------------------------------
    def inspect(self, model_class: type, config: dict[str, Any]) -> dict[str, Any]:
        return inspect_class(model_class, config)

    def load(self, model_path: Any, group: Any, plan: ShardPlan, rank: int,
             progress: Progress) -> tuple[Any, LoadReport]:
        from .loading import load_pipeline

        return load_pipeline(model_path, group, plan, rank, progress)

    # -- orchestrator side --------------------------------------------------------------
    def check(self, model: ModelInfo, n_ranks: int) -> str | None:
        name = display_name(model)
        if n_ranks < 1:
            return f"a cluster needs at least 1 node, not {n_ranks}"
        facts = model.facts.get(self.name)
        if facts is not None and facts.get("error"):
            return f"inspecting {name} on the node failed: {facts['error']}"
        if facts is not None and facts.get("build_error"):
            return f"mlx-lm cannot build {name} from its config.json: {facts['build_error']}"
        if how_pipelined(facts, model.config) is None:
            if facts is None:
                return (f"no node said whether mlx-lm's {model.model_type!r} model has PipelineMixin "
                        "(is odyssai-shard-pipeline installed on the nodes?)")
            return (f"{name} cannot be split into a pipeline: mlx-lm's {facts.get('model_class', 'model')} "
                    f"has no PipelineMixin, and this plugin pipelines only {', '.join(OWN_MODEL_TYPES)} "
                    "models itself: use sharding=tensor")
        layers = num_layers(model)
        if not layers:
            return f"{name}: config.json has no num_hidden_layers, so it cannot be split by layers"
        if layers < n_ranks:
            return (f"{name} has {layers} layer{'s' if layers != 1 else ''}, fewer than the {n_ranks} "
                    f"nodes: a pipeline needs at least one layer per node: use at most {layers} "
                    f"node{'s' if layers != 1 else ''}, or sharding=tensor")
        return None

    def plan(self, model: ModelInfo, nodes: list[NodeResources]) -> ShardPlan:
        return plan_layers(num_layers(model), nodes)
