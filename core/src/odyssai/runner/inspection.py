"""Answering ``Inspect``: is the model on this node, its config, and what each strategy needs
to know about mlx-lm's class for it. Needs no MLX group; imports mlx-lm only for the class."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..protocol import Inspected
from .loading import ModelPathError, resolve_model, weight_files

log = logging.getLogger("odyssai.runner")


def model_class_for(config: dict[str, Any]) -> type:
    """The mlx-lm model class that would be built for this ``config.json``."""
    from mlx_lm.utils import _get_classes

    model_class, _ = _get_classes(config)
    return model_class


def strategy_facts(strategies: list[Any], model_class: type, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``strategy.inspect`` of every strategy; one that raises reports its error instead."""
    facts: dict[str, dict[str, Any]] = {}
    for strategy in strategies:
        try:
            facts[strategy.name] = dict(strategy.inspect(model_class, config) or {})
        except Exception as e:  # one broken strategy must not hide the others
            log.warning("strategy %s failed to inspect: %s", strategy.name, e)
            facts[strategy.name] = {"error": f"{type(e).__name__}: {e}"}
    return facts


def inspect_model(models_dir: str | Path, model: str, strategies: list[Any]) -> Inspected:
    try:
        path = resolve_model(models_dir, model)
    except ModelPathError as e:
        return Inspected(model=model, exists=False, error=str(e))
    if not path.is_dir():
        return Inspected(model=model, exists=False, path=str(path),
                         error=f"model {model!r} is not in {Path(models_dir).expanduser()}")
    config_file = path / "config.json"
    if not config_file.is_file():
        return Inspected(model=model, exists=True, path=str(path), error=f"{model}: no config.json")
    try:
        config = json.loads(config_file.read_text())
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        return Inspected(model=model, exists=True, path=str(path), error=f"{model}: bad config.json: {e}")
    error = None if weight_files(path) else f"{model}: no weights (model*.safetensors)"
    try:
        model_class = model_class_for(config)
    except Exception as e:
        from .node import _version

        return Inspected(model=model, exists=True, path=str(path), config=config,
                         error=f"mlx-lm {_version('mlx-lm')} cannot build {config.get('model_type')!r}: {e}")
    return Inspected(model=model, exists=True, path=str(path), config=config,
                     facts=strategy_facts(strategies, model_class, config), error=error)
