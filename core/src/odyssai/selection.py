"""Choosing a sharding strategy for a load: the requested one, else the best that accepts.

Pure over the plugin manager's registry and a ``ModelInfo``; no processes involved.
"""

from __future__ import annotations

from typing import Any

from .errors import OdyssaiError, ShardingRefused
from .sharding import ModelInfo


def check_requested(pm: Any, requested: str | None) -> None:
    """Refuse an unknown ``sharding`` before anything is spawned."""
    if requested is not None and pm.shard_strategies.get(requested) is None:
        have = ", ".join(s.name for s in pm.strategies_by_priority())
        raise OdyssaiError(f"unknown sharding {requested!r}", param="sharding",
                           hint=f"installed strategies: {have or 'none'}")


def choose_strategy(pm: Any, model: ModelInfo, n_ranks: int, requested: str | None) -> Any:
    """The strategy to load ``model`` with over ``n_ranks``; ``ShardingRefused`` lists why not."""
    check_requested(pm, requested)
    if requested:
        strategy = pm.shard_strategies.get(requested)
        reason = strategy.check(model, n_ranks)
        if reason:
            raise ShardingRefused(f"sharding {requested!r} refuses {model.name}: {reason}",
                                  param="sharding")
        return strategy
    chosen = pm.select_shard_strategy(model, n_ranks, requested)
    if chosen:
        strategy = pm.shard_strategies.get(chosen)
        if strategy is not None and strategy.check(model, n_ranks) is None:
            return strategy
    reasons = []
    for strategy in pm.strategies_by_priority():
        reason = strategy.check(model, n_ranks)
        if reason is None:
            return strategy
        reasons.append(f"{strategy.name}: {reason}")
    if not reasons:
        raise ShardingRefused(f"no sharding strategy is installed that can split {model.name} over "
                              f"{n_ranks} ranks", hint="pip install odyssai-shard-tensor odyssai-shard-pipeline")
    raise ShardingRefused(f"no sharding strategy accepts {model.name} on {n_ranks} ranks: " + "; ".join(reasons))
