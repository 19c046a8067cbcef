"""The 'tensor' strategy: every layer split across all ranks with mlx-lm's ``model.shard()``.

Each rank holds 1/N of every attention and MLP projection; the partial results are summed over
the group inside every layer. mlx-lm splits attention by whole heads, so both the attention
heads and the KV heads must divide by the number of ranks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from odyssai.sharding import LoadReport, ModelInfo, NodeResources, Progress, ShardPlan, ShardStrategy

MAX_NODES = 8  #: the most nodes a cluster can have (topology.yaml); valid counts are listed up to here


def display_name(model: ModelInfo) -> str:
    """How the user knows the model family: 'Qwen3', 'Llama', else the model_type."""
    arch = model.config.get("architectures") or []
    if isinstance(arch, str):
        arch = [arch]
    if arch:
        name = str(arch[0])
        for suffix in ("ForCausalLM", "ForConditionalGeneration", "LMHeadModel", "Model"):
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)]
        return name
    return model.model_type


def _heads(model: ModelInfo) -> tuple[int, int]:
    """(attention heads, KV heads), looking into ``text_config`` for multimodal configs."""
    heads, kv = model.num_heads, model.num_kv_heads
    text = model.config.get("text_config")
    if not heads and isinstance(text, dict):
        sub = ModelInfo(model.name, text)
        heads, kv = sub.num_heads, sub.num_kv_heads
    return heads, kv


def _counts(values: list[int]) -> str:
    words = [str(v) for v in values]
    body = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return f"{body} node" + ("" if words == ["1"] else "s")


def valid_node_counts(heads: int, kv_heads: int, limit: int = MAX_NODES) -> list[int]:
    return [n for n in range(1, limit + 1) if heads % n == 0 and kv_heads % n == 0]


class TensorParallel(ShardStrategy):
    name = "tensor"
    priority = 100
    description = "every layer split across the ranks (model.shard()); heads must divide by the node count"

    # -- runner side --------------------------------------------------------------------
    def inspect(self, model_class: type, config: dict[str, Any]) -> dict[str, Any]:
        return {"has_shard": callable(getattr(model_class, "shard", None)),
                "model_class": f"{model_class.__module__}.{model_class.__qualname__}"}

    def load(self, model_path: Any, group: Any, plan: ShardPlan, rank: int,
             progress: Progress) -> tuple[Any, LoadReport]:
        from mlx_lm.utils import load_model
        from odyssai.runner.loading import eval_parameters, weight_files

        model, config = load_model(Path(model_path), lazy=True, strict=True)
        if group is not None and group.size() > 1:
            facts = {self.name: self.inspect(type(model), config)}
            if reason := self.check(ModelInfo(Path(model_path).name, config, facts), group.size()):
                raise ValueError(reason)  # the orchestrator checks first; never split what cannot be
            model.shard(group)
        eval_parameters(model, progress)
        return model, LoadReport(files=weight_files(model_path))

    # -- orchestrator side --------------------------------------------------------------
    def check(self, model: ModelInfo, n_ranks: int) -> str | None:
        name = display_name(model)
        facts = model.facts.get(self.name)
        if facts is not None and not facts.get("has_shard", False):
            return (f"{name} has no tensor-parallel support in mlx-lm (its model class has no shard()): "
                    "use sharding=pipeline, or 1 node with sharding=single")
        if n_ranks < 1:
            return f"a cluster needs at least 1 node, not {n_ranks}"
        heads, kv = _heads(model)
        if not heads:
            return f"{name}: config.json has no num_attention_heads, so it cannot be split by heads"
        if heads % n_ranks == 0 and kv % n_ranks == 0:
            return None
        counts = valid_node_counts(heads, kv, max(MAX_NODES, n_ranks))
        what = f"{kv} KV heads" if kv % n_ranks else f"{heads} attention heads"
        return (f"{name} with {what} cannot be split over {n_ranks} nodes: "
                f"use {_counts(counts)}, or sharding=pipeline")

    def plan(self, model: ModelInfo, nodes: list[NodeResources]) -> ShardPlan:
        n = len(nodes)
        heads, kv = _heads(model)
        summary = f"tensor parallel over {n} rank{'s' if n != 1 else ''}: every layer split {n} ways"
        if heads:
            summary += f" ({heads // n} of {heads} attention heads and {kv // n} of {kv} KV heads per rank)"
        return ShardPlan(self.name, n, [{} for _ in nodes], summary)
