"""Which models this plugin can pipeline, and what a node reports about them.

Two kinds are accepted:

- models whose mlx-lm inner module (``Model.model``) has mlx-lm's ``PipelineMixin`` (a
  ``pipeline`` method): DeepSeek V2/V3, GLM MoE, Qwen2, Qwen3-MoE, … — mlx-lm runs the pipeline;
- the families this plugin pipelines itself (``stage.PipelineStage``): mlx-lm modules whose
  inner module is ``embed_tokens`` → ``layers`` → ``norm`` with ``layer(h, mask, cache)``
  calls. Only families that are tested are listed in ``OWN_FAMILIES``.

``inspect_class`` runs on a node (imports mlx-lm); the rest is pure.
"""

from __future__ import annotations

import sys
from typing import Any

#: mlx-lm model modules (``mlx_lm.models.<name>``) that ``PipelineStage`` pipelines
OWN_FAMILIES = ("llama", "qwen3")
#: ``model_type`` values mlx-lm builds with those modules (mistral is remapped to llama)
OWN_MODEL_TYPES = ("llama", "mistral", "qwen3")


def module_name(model_class: type) -> str:
    """``llama`` for ``mlx_lm.models.llama.Model``."""
    return model_class.__module__.rsplit(".", 1)[-1]


def config_num_layers(config: dict[str, Any]) -> int:
    """``num_hidden_layers`` (or its aliases), looking into ``text_config`` too."""
    for c in (config, config.get("text_config") or {}):
        if isinstance(c, dict):
            n = c.get("num_hidden_layers") or c.get("n_layer") or c.get("num_layers")
            if n:
                return int(n)
    return 0


def inspect_class(model_class: type, config: dict[str, Any]) -> dict[str, Any]:
    """What a node knows about ``model_class`` for pipelining, as plain JSON facts.

    The model is built from ``config`` without weights (MLX arrays stay lazy, nothing is
    allocated) to see whether its inner module ``model.model`` has ``pipeline`` — the test
    mlx-lm's own ``sharded_load`` uses; multimodal models expose their text model there — and
    how many layers it really has.
    """
    facts: dict[str, Any] = {
        "model_class": f"{model_class.__module__}.{model_class.__qualname__}",
        "family": module_name(model_class),
    }
    inner = None
    try:
        args_class = getattr(sys.modules[model_class.__module__], "ModelArgs")
        inner = getattr(model_class(args_class.from_dict(config)), "model", None)
    except Exception as e:  # load_model would fail the same way; check() says so
        facts["build_error"] = f"{type(e).__name__}: {e}"
    layers = getattr(inner, "layers", None)
    facts["pipeline_mixin"] = callable(getattr(inner, "pipeline", None))
    facts["num_layers"] = len(layers) if layers is not None else config_num_layers(config)
    own = inner is not None and all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm"))
    facts["own_pipeline"] = bool(own and not facts["pipeline_mixin"] and facts["family"] in OWN_FAMILIES)
    return facts


def how_pipelined(facts: dict[str, Any] | None, config: dict[str, Any]) -> str | None:
    """'mixin', 'own', or None when this plugin cannot pipeline the model.

    Without a node's facts, only the families this plugin pipelines itself are known by
    ``model_type``; whether mlx-lm's class has ``PipelineMixin`` needs a node.
    """
    if facts is None:
        return "own" if str(config.get("model_type")) in OWN_MODEL_TYPES else None
    if facts.get("pipeline_mixin"):
        return "mixin"
    if facts.get("own_pipeline"):
        return "own"
    return None
