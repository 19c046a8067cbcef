"""Core's own defaults, registered as a plugin like any other: the one-rank strategy, doctor checks."""

from __future__ import annotations

from typing import Any

from . import hookimpl
from .sharding import ModelInfo, ShardPlan, ShardStrategy


class SingleRank(ShardStrategy):
    """No split at all: the whole model on the only rank."""

    name = "single"
    priority = 1000
    description = "the whole model on one rank (clusters of one node)"

    def check(self, model: ModelInfo, n_ranks: int) -> str | None:
        return None if n_ranks == 1 else f"'single' runs on one rank, the cluster has {n_ranks}"

    def load(self, model_path: Any, group: Any, plan: ShardPlan, rank: int, progress: Any):
        from .runner.loading import load_whole_model

        return load_whole_model(model_path, progress)


@hookimpl
def odyssai_register_shard_strategies(register):
    register(SingleRank())


@hookimpl
def odyssai_register_doctor_checks(register):
    from .doctor import builtin_checks

    for check in builtin_checks():
        register(check)
